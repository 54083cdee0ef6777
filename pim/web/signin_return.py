"""Where the staff sign-in sends a person back to, and the edit their ended session did not save.

A request that finds no session is sent to /login with `next`: a page with its query string (the grid's filters
stay), or, for a form post (a POST-only route a browser cannot open), the page the form was on. A value edit posted
from one of our own pages (its Origin is this server: a cross-site form cannot plant a value this way, and its
CSRF token went with the old session) is kept as a DRAFT, so that after signing in again the product page shows it
back in its field, unsaved, to save with one press — never applied without a valid CSRF token. That holds too when
the cookie itself expired (12 h idle), so the post carries no session and no CSRF token at all (pim.web.deps
.check_csrf sends such a save here instead of answering 403). The draft's text is kept on the server
(pim.web.drafts), for the person whose session it was only (the ended session's cookie, or the sign-in's owner
cookie once that cookie is gone, while its account is active and its password unchanged: drafts.person); the
session holds its id. A draft with a field over drafts.MAX_CHARS characters (counted as typed, whatever their
script: the one limit of every staff form's field, pim.web.form_limits), or whose person is unknown, is not kept, and the product page says that the change was lost; so does a body too
big to read (over READ_AT_MOST bytes), whose field is found in its first HEAD bytes (our form sends it before
the value)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.routing import Match

from pim.web import drafts, form_limits

DRAFT = "draft"  # session key: the unsaved value edit ({"product", "key", "uid", "id"|"lost"}; pim.web.drafts)
DRAFT_ROUTE = "edit_value"  # the route whose posts are kept (pim.web.product_edits.edit_value)
#: bytes: a longer anonymous body is not read for its draft: a field's own cap (form_limits.FIELD_MAX_BYTES, where
#: drafts.MAX_CHARS of any text fits), with room for the other fields; a bound all the same.
READ_AT_MOST = form_limits.FIELD_MAX_BYTES
HEAD = 8 * 1024  # bytes of a too-big body read for its field (key, channel, locale), to say its draft was lost
HOME = "/products"
#: why a draft was not kept, as the product page says it ("…, and <why>: type it again")
LOST = {"long": f"it was too long to keep across the sign-in (over {drafts.MAX_CHARS:,} characters)",
        "whose": "this browser could not tell whose it was, so it was not kept",
        "gone": "it was no longer kept (a draft is kept for 12 hours)"}


async def login_redirect(request: Request) -> Response:
    """The answer to a request without a valid session: to /login, with where to come back to (a kept draft's
    field as the fragment)."""
    target = return_to(request)
    kept = await keep_draft(request)
    if kept:  # the draft's field, in the channel and locale it was typed in when the page came without them
        scope, fragment = kept
        page = target.partition("#")[0]
        target = (page if "?" in page or not scope else f"{page}?{scope}") + fragment
    url = f"/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        return RedirectResponse(url, status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def return_to(request: Request) -> str:
    """The page to open after signing in: this one (with its query string) for a GET, else the page the request
    came from (htmx's current URL, the Referer) when it is ours, else the nearest page above the route's path."""
    if request.method in ("GET", "HEAD") and not request.headers.get("hx-request"):
        return page_of(request, _local(str(request.url)))
    came_from = request.headers.get("hx-current-url") or request.headers.get("referer") or ""
    if came_from and same_host(request, came_from):
        return page_of(request, _local(came_from))
    return page_of(request, request.url.path)


def safe_next(request: Request, nxt: str) -> str:
    """`next` as the sign-in form gives it, when it is a path on this server that a browser can open (a POST-only
    path becomes its page); anything else (another site, `//host`, `/\\host`) is the product grid."""
    if not nxt.startswith("/") or nxt.startswith(("//", "/\\")):
        return HOME
    return page_of(request, nxt)


def page_of(request: Request, target: str) -> str:
    """`target` (path, query, fragment) when a GET route serves its path; else the nearest path above it that one
    serves (a form's POST-only route → its page, e.g. /products/P1/values → /products/P1), without the query."""
    path, sep, rest = target.partition("?")
    path, hash_sep, fragment = path.partition("#")
    tail = (sep + rest) if sep else (hash_sep + fragment)
    while path not in ("", "/"):
        if _opens(request, path):
            return path + tail
        path, tail = path.rsplit("/", 1)[0], ""
    return HOME


def _opens(request: Request, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


def _local(url: str) -> str:
    """The path, query and fragment of a URL."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "") + \
        (f"#{parts.fragment}" if parts.fragment else "")


def same_host(request: Request, url: str) -> bool:
    """Whether `url` (an Origin, a Referer) names this server, as the browser reached it (its Host)."""
    return bool(url) and urlsplit(url).netloc == request.headers.get("host", "")


def from_our_page(request: Request) -> bool:
    """A browser says where a form post comes from (Origin; Sec-Fetch-Site when it sends no Origin): only a post
    from our own pages may leave a draft."""
    origin = request.headers.get("origin")
    if origin is not None:
        return same_host(request, origin)
    return request.headers.get("sec-fetch-site") == "same-origin"


async def keep_draft(request: Request) -> tuple[str, str] | None:
    """Keep a value edit the ended session refused (see the module's docstring) and return its channel and locale
    (a query string) and its field's fragment (`#attr-<code>`), or None when the request is no such edit."""
    route = request.scope.get("route")
    content_type = request.headers.get("content-type", "")
    length = request.headers.get("content-length", "")
    if (request.method != "POST" or getattr(route, "name", None) != DRAFT_ROUTE or not from_our_page(request)
            or not content_type.startswith("application/x-www-form-urlencoded") or not length.isdigit()):
        return None
    too_big = int(length) > READ_AT_MOST
    if too_big:  # not read whole: its field from the head, so the page can say the change was lost
        pairs = await _head_pairs(request)
    else:
        form = await form_limits.parse(request)  # Starlette's default refuses a field over 1 MiB
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    pairs = [(k, v) for k, v in pairs if k != "csrf_token"]
    fields = dict(pairs)  # the last of each name, as form.get
    key, product = fields.get("key", ""), request.path_params.get("identifier", "")
    if not key or not product:
        return None
    store = request.app.state.store
    owner = await run_in_threadpool(drafts.person, store, *_claimed(request))
    earlier = request.session.get(DRAFT)
    replaces = earlier.get("id") if isinstance(earlier, dict) else None  # this browser's earlier draft: replaced
    draft: dict[str, Any] = {"product": product, "key": key, "uid": owner}
    if owner is None or too_big or form_limits.too_long(FormData(pairs)) is not None:  # a field a form would not save either
        # nobody to keep it for (a browser that never signed in here, long ago, or whose account or password
        # changed since), or too long
        draft["lost"] = "whose" if owner is None else "long"
        await run_in_threadpool(drafts.drop, store, replaces)
    else:
        draft["id"] = await run_in_threadpool(drafts.keep, store, owner, product, key,
                                              [[k, v] for k, v in pairs], replaces)
    request.session[DRAFT] = draft
    scope = urlencode({k: fields[k] for k in ("channel", "locale") if fields.get(k)})
    return scope, f"#attr-{key.split(':')[0].split('@')[0]}"


def _claimed(request: Request) -> tuple[Any, Any]:
    """Whom the edit says it is by, and their password stamp: the ended session's cookie, else (that cookie has
    expired) the sign-in's owner cookie."""
    ended = getattr(request.state, "ended_uid", None)
    if ended is not None:
        return ended, getattr(request.state, "ended_stamp", None)
    return drafts.owner_of(request) or (None, None)


async def _head_pairs(request: Request) -> list[tuple[str, str]]:
    """The fields wholly inside the body's first HEAD bytes; the rest is not read."""
    head = b""
    async for chunk in request.stream():
        head += chunk
        if len(head) > HEAD:
            break
    complete = head[:HEAD].rpartition(b"&")[0] if len(head) > HEAD else head
    return parse_qsl(complete.decode("utf-8", "replace"), keep_blank_values=True, encoding="utf-8", errors="replace")


def draft_for(request: Request, product: str, user_id: int) -> dict[str, Any] | None:
    """The session's draft for this product, when it is `user_id`'s: {"key", "form": [[name, value], ...]} or
    {"key", "lost": <why, as the page says it (LOST)>}; None when there is none. Any product page takes it out of the session and off the
    server: one opened instead of the draft's was a choice to leave it."""
    draft = request.session.pop(DRAFT, None)
    if not isinstance(draft, dict):
        return None
    store = request.app.state.store
    if draft.get("product") != product or draft.get("uid") not in (None, user_id):
        drafts.drop(store, draft.get("id"))
        return None
    key = str(draft.get("key", ""))
    form = drafts.take(store, draft.get("id"), user_id, product) if draft.get("uid") == user_id else None
    if form is not None:
        return {"key": key, "form": form}
    return {"key": key, "lost": LOST.get(str(draft.get("lost")), LOST["gone"])}
