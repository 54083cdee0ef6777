"""A cap on how much of a request body an upload route reads, counted as the route reads it.

A Content-Length over the cap is refused by that header before anything is read
(pim.web.imports.refuse_declared_over), but the header alone is never trusted: a request that also says
`Transfer-Encoding: chunked` is framed by the transfer encoding (h11 and the HTTP/1.1 rules let it beat the
Content-Length), so a small declared length could carry any body. So BodyCapMiddleware wraps `receive` for every
HTTP request and an upload route arms the cap (`cap_body`) from its dependency, before it reads the form: past the
cap, the read raises 413 inside the route, answered like any HTTPException, and the form parser closes (deletes)
the file it was spooling. Starlette's Request offers no public way to swap its `receive`, hence the middleware.
Requests whose route arms no cap are only counted (one addition per received message).
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the middleware leaves the request's BodyCap in the ASGI scope (the scope is shared with the Request).
SCOPE_KEY = "pim.body_cap"


class BodyCap:
    """The cap a route armed on its request's body (None: not capped), what is said past it, and the bytes read."""

    __slots__ = ("limit", "refusal", "read")

    def __init__(self) -> None:
        self.limit: int | None = None
        self.refusal = ""
        self.read = 0

    def count(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.limit is not None and self.read > self.limit:
                raise HTTPException(413, self.refusal)


class BodyCapMiddleware:
    """Wraps `receive` of every HTTP request, so an armed cap is enforced as read whatever the headers declare
    (a Content-Length can sit next to a Transfer-Encoding that overrides it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = scope[SCOPE_KEY] = BodyCap()

        async def counted() -> Message:
            message = await receive()
            cap.count(message)
            return message

        await self.app(scope, counted, send)


def cap_body(request: Request, limit: int, refusal: str) -> None:
    """Refuse (413, `refusal`) this request's body once more than `limit` bytes of it are read, whatever its
    headers declare; the app must run BodyCapMiddleware."""
    cap = request.scope.get(SCOPE_KEY)
    if cap is None:
        raise RuntimeError("an upload cannot be capped: add pim.web.body_cap.BodyCapMiddleware to the app "
                           "(pim.web.app.create_app does)")
    cap.limit, cap.refusal = limit, refusal
    cap.count({"type": "http.request", "body": b""})  # already past the cap (read before the route armed it)
