"""The route class of every /api/v1 router: the token (and role) is checked before the request's body is read.

FastAPI reads and parses a route's body (JSON, or a multipart upload) before it solves any dependency, so
without this a caller with no token would hear 422 about malformed JSON — learning the body's shape — and
could make the server parse an upload before being told to sign in. ApiRoute runs the route's token check (a
dependency marked with pim.web.deps.token_check) first; the dependency then runs again inside FastAPI and
finds the user remembered on the request."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any
from urllib.parse import unquote

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

# Stands for a '/' sent as %2F inside one path segment while a route is matched (a noncharacter: never in a SKU).
_SLASH = "\uffff"


def segment_path(scope: dict[str, Any]) -> str | None:
    """The request's path with each %2F-encoded slash kept inside its segment (as _SLASH), or None when it has
    none. The server decodes %2F in `path` (ASGI), so `/products/a%2Fb/history` would read as three segments:
    the raw path says which slashes were sent encoded, i.e. belong to a stored identifier ('a/b')."""
    raw = scope.get("raw_path")
    if not raw or b"%2f" not in raw.lower():
        return None
    kept = "/".join(unquote(part.decode("latin-1")).replace("/", _SLASH) for part in raw.split(b"/"))
    return kept if kept.replace(_SLASH, "/") == scope.get("path") else None  # a proxy's rewrite: match as sent


def token_checks(dependant: Dependant) -> Iterator[Callable[[Request], Any]]:
    """The token-check dependencies a route depends on, directly or through another dependency."""
    for sub in dependant.dependencies:
        if getattr(sub.call, "token_check", False):
            yield sub.call  # type: ignore[misc]
        else:
            yield from token_checks(sub)


class ApiRoute(APIRoute):
    """Checks the token before the body is read (401 / 403 whatever the body is), and matches a path parameter
    sent with %2F (a SKU stored with '/' before round 34's rule) as one parameter, not as sub-routes."""

    def matches(self, scope: Any) -> tuple[Match, Any]:
        if scope.get("type") != "http" or (kept := segment_path(scope)) is None:
            return super().matches(scope)
        match, child = super().matches({**scope, "path": kept})
        if match is not Match.NONE and "path_params" in child:
            child["path_params"] = {k: v.replace(_SLASH, "/") if isinstance(v, str) else v
                                    for k, v in child["path_params"].items()}
        return match, child

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        checks = list(dict.fromkeys(token_checks(self.dependant)))

        async def route(request: Request) -> Response:
            overridden = getattr(request.app, "dependency_overrides", {})  # a test's stand-in: FastAPI calls it
            for check in checks:
                if check not in overridden:
                    await run_in_threadpool(check, request)  # a database lookup: off the event loop
            return await handle(request)

        return route
