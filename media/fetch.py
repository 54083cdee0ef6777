"""Read the bytes behind a ref: a local path (importers, uploads) or an HTTP(S) URL (supplier and ERP data).
URLs are fetched with a timeout, a size cap and a redirect limit; any failure is a `FetchFailed`."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from media.errors import FetchFailed
from media.settings import FetchLimits


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def read_ref(ref: str, *, base_dir: Path | None = None, limits: FetchLimits = FetchLimits()) -> bytes:
    if is_url(ref):
        return fetch_url(ref, limits)
    return read_path(ref, base_dir=base_dir, max_bytes=limits.max_bytes)


def read_path(ref: str, *, base_dir: Path | None = None, max_bytes: int) -> bytes:
    return read_file(ref, base_dir=base_dir, max_bytes=max_bytes)[0]


#: A file modified this recently may change again within the filesystem's timestamp granularity (2 s on FAT)
#: without its validator changing: it gets none, so the next refresh reads it again (git's "racy clean" rule).
SETTLE_NS = 2_000_000_000


def read_file(ref: str, *, base_dir: Path | None = None, max_bytes: int) -> tuple[bytes, str | None]:
    """The file's bytes and its validator (see `file_validator`), None when the file changed while it was read
    or was modified too recently to be trusted."""
    path = local_path(ref, base_dir)
    try:
        with open(path, "rb") as handle:
            before = os.fstat(handle.fileno())
            if before.st_size > max_bytes:
                raise FetchFailed(f"{before.st_size} bytes, more than the {max_bytes}-byte cap", file=ref)
            data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise FetchFailed(f"more than the {max_bytes}-byte cap (the file grew while read)", file=ref)
            after = os.fstat(handle.fileno())
    except FileNotFoundError as exc:
        raise FetchFailed("file not found", file=ref,
                          hint="relative paths are read from --base (the folder the import came from)") from exc
    except IsADirectoryError as exc:
        raise FetchFailed("is a folder, not an image file", file=ref) from exc
    except PermissionError as exc:
        raise FetchFailed("permission denied", file=ref) from exc
    validator = _validator(before)
    settled = time.time_ns() - before.st_mtime_ns >= SETTLE_NS
    return data, validator if settled and validator == _validator(after) else None


def file_validator(ref: str, *, base_dir: Path | None = None) -> str | None:
    """What identifies a local file's bytes without reading them: size, modification time (ns), inode (a
    file replaced by another, or a relative path read from another --base, is another inode) and change time
    (ns: no program can set it, so an edit that puts the old modification time back, `touch -r`, still
    shows). Kept in `asset_origin.etag` like an HTTP ETag; None when the path is not a readable regular file."""
    try:
        info = os.stat(local_path(ref, base_dir))
    except (OSError, ValueError):
        return None
    return _validator(info) if stat.S_ISREG(info.st_mode) else None


def _validator(info: os.stat_result) -> str:
    return f"file:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}:{info.st_ctime_ns}"


def local_path(ref: str, base_dir: Path | None = None) -> Path:
    path = Path(ref.removeprefix("file://"))
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


@dataclass(frozen=True)
class Validators:
    """What an HTTP server said identifies the bytes it sent (ETag, Last-Modified), kept per origin so a
    refresh can ask "changed since?" instead of downloading every image again."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


def fetch_url(url: str, limits: FetchLimits) -> bytes:
    data, _ = fetch_url_if_changed(url, limits)
    assert data is not None  # without validators a server has nothing to answer 304 to
    return data


def fetch_url_if_changed(url: str, limits: FetchLimits, since: Validators = Validators()) -> tuple[bytes | None, Validators]:
    """The body and the server's validators; (None, since) when the server says the bytes behind `since` did
    not change (304 Not Modified)."""
    import httpx

    timeout = httpx.Timeout(limits.timeout_seconds)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=limits.max_redirects) as client:
            with client.stream("GET", url, headers={"Accept": "image/*", **since.headers()}) as response:
                if response.status_code == 304 and since:
                    return None, since
                if response.status_code >= 400 or response.status_code == 304:
                    raise FetchFailed(f"HTTP {response.status_code}", file=url)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                    raise FetchFailed(f"Content-Length {declared} is over the {limits.max_bytes}-byte cap", file=url)
                body = _read_capped(response, url, limits.max_bytes)
                return body, Validators(_header(response, "etag"), _header(response, "last-modified"))
    except httpx.TooManyRedirects as exc:
        raise FetchFailed(f"more than {limits.max_redirects} redirects", file=url) from exc
    except httpx.TimeoutException as exc:
        raise FetchFailed(f"timed out after {limits.timeout_seconds}s ({type(exc).__name__})", file=url) from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"cannot fetch: {exc}", file=url) from exc


def _read_capped(response: object, url: str, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes(64 * 1024):  # type: ignore[attr-defined]
        total += len(chunk)
        if total > max_bytes:
            raise FetchFailed(f"body is over the {max_bytes}-byte cap", file=url)
        chunks.append(chunk)
    return b"".join(chunks)


def _header(response: object, name: str) -> str | None:
    value = response.headers.get(name)  # type: ignore[attr-defined]
    return value[:400] if value else None
