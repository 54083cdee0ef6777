"""The route class of the web UI's pages: a path parameter sent with %2F (a SKU stored with '/' before round
34's rule) is matched as one parameter, as the REST API's routes do (pim.web.api_route.ApiRoute is one), so
`/products/a%2Fb/values` is product 'a/b''s values, not a route that does not exist. Links to products encode
the identifier whole (the `segment` template filter) for the same reason."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from fastapi.routing import APIRoute
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


def segment(value: Any) -> str:
    """One path segment of a URL: '/' encoded too (Jinja's `urlencode` keeps it, which would split a SKU)."""
    return quote(str(value), safe="")


class SegmentRoute(APIRoute):
    """Matches the path with each %2F-encoded slash kept inside its segment, then gives the parameters their
    '/' back; a path without %2F is matched as usual."""

    def matches(self, scope: Any) -> tuple[Match, Any]:
        if scope.get("type") != "http" or (kept := segment_path(scope)) is None:
            return super().matches(scope)
        match, child = super().matches({**scope, "path": kept})
        if match is not Match.NONE and "path_params" in child:
            child["path_params"] = {k: v.replace(_SLASH, "/") if isinstance(v, str) else v
                                    for k, v in child["path_params"].items()}
        return match, child
