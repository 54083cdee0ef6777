"""How the portal hands out a feed file, and when that counts as a download for the log (pim.portal_downloads).

A download is logged when the response delivers the file's last byte: a full GET body (200), or a ranged GET
(206) whose range reaches the end of the file, such as a resumed download (`Range: bytes=N-`) or a download
manager's final chunk. So a download fetched in pieces is one row, not one per piece. Nothing is logged for a HEAD,
a 304 (`If-None-Match` with the ETag the file was served with, or `If-Modified-Since`), a refused range (416, 400),
a range that stops short of the end, or a transfer the client broke off before its end: the row is written just
before the body's last part goes out, so a failed write ends the transfer short rather than leaving it unlogged."""

from __future__ import annotations

import os
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.responses import FileResponse, Response
from starlette.types import Message, Receive, Scope, Send


class LoggedFileResponse(FileResponse):
    """A FileResponse that calls `on_download` (blocking; run in a worker thread) once it is about to send the
    last part of a body that ends with the file's last byte. Ranges, If-Range and HEAD stay Starlette's."""

    def __init__(self, path: Path, *, on_download: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(path, stat_result=os.stat(path), **kwargs)
        self.on_download = on_download

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method", "GET").upper() != "GET":
            await super().__call__(scope, receive, send)
            return
        size = self.stat_result.st_size if self.stat_result is not None else 0
        whole = False  # whether the body that is going out ends with the file's last byte

        async def logging_send(message: Message) -> None:
            nonlocal whole
            kind = message["type"]
            if kind == "http.response.start":
                whole = _reaches_end(message["status"], dict(message.get("headers") or []), scope, size)
            elif whole and (kind == "http.response.pathsend" or
                            (kind == "http.response.body" and not message.get("more_body", False))):
                whole = False  # once, whatever follows
                await anyio.to_thread.run_sync(self.on_download)
            await send(message)

        await super().__call__(scope, receive, logging_send)


def _reaches_end(status: int, headers: dict[bytes, bytes], scope: Scope, size: int) -> bool:
    """Whether a response with `status` and `headers` carries the file's last byte."""
    if status == 200:
        return True
    if status != 206:
        return False
    content_range = headers.get(b"content-range")
    if content_range is not None:  # one range: "bytes START-END/SIZE"
        span = content_range.decode("latin-1").partition(" ")[2].partition("/")[0]
        end = span.partition("-")[2]
        return end.isdigit() and int(end) == size - 1
    asked = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"range"), None)
    if asked is None:
        return False
    try:  # several ranges (multipart/byteranges): as Starlette read them, sorted and merged
        ranges = FileResponse._parse_range_header(asked, size)
    except Exception:  # noqa: BLE001 - a Starlette without it, or a header it refused: log nothing
        return False
    return bool(ranges) and max(end for _, end in ranges) == size


def not_modified(request: Request, response: FileResponse, headers: dict[str, str]) -> Response | None:
    """A 304 (with `headers` and the response's ETag and Last-Modified) when the client's copy is current:
    `If-None-Match` naming the ETag the file is served with (or `*`), or, without If-None-Match,
    `If-Modified-Since` not older than the file. None when the file is to be sent."""
    etag, modified = response.headers["etag"], response.headers["last-modified"]
    keep = {**headers, "ETag": etag, "Last-Modified": modified}
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}  # weak comparison, as RFC 9110 13.1.2 says
        return Response(status_code=304, headers=keep) if "*" in tags or etag.removeprefix("W/") in tags else None
    since = request.headers.get("if-modified-since")
    if since is None:
        return None
    try:
        client, ours = parsedate_to_datetime(since), parsedate_to_datetime(modified)
    except (TypeError, ValueError):
        return None  # a date that does not read is ignored, as the RFC says
    if client.tzinfo is None or ours > client:
        return None
    return Response(status_code=304, headers=keep)
