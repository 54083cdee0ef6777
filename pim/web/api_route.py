"""The route class of every /api/v1 router: the token (and role) is checked before the request's body is read.

FastAPI reads and parses a route's body (JSON, or a multipart upload) before it solves any dependency, so
without this a caller with no token would hear 422 about malformed JSON — learning the body's shape — and
could make the server parse an upload before being told to sign in. ApiRoute runs the route's token check (a
dependency marked with pim.web.deps.token_check) first; the dependency then runs again inside FastAPI and
finds the user remembered on the request."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from starlette.concurrency import run_in_threadpool

from pim.web.segment_route import SegmentRoute


def token_checks(dependant: Dependant) -> Iterator[Callable[[Request], Any]]:
    """The token-check dependencies a route depends on, directly or through another dependency."""
    for sub in dependant.dependencies:
        if getattr(sub.call, "token_check", False):
            yield sub.call  # type: ignore[misc]
        else:
            yield from token_checks(sub)


class ApiRoute(SegmentRoute):
    """Checks the token before the body is read (401 / 403 whatever the body is); matches a path parameter sent
    with %2F (a SKU stored with '/' before round 34's rule) as one parameter, not as sub-routes (SegmentRoute)."""

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
