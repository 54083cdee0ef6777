"""Request-scoped access to the store, the (cached) structure and the signed-in user, for both the HTML UI
(session cookie) and the API (bearer token)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from pim.catalog import Structure
from pim.store.store import Store
from pim.structure_cache import cached_structure
from pim.web import sessions
from pim.web.accounts import User, password_stamp, user_for_token
from pim.web.throttle import sign_in_attempt


def store_of(request: Request) -> Store:
    return request.app.state.store


def structure_of(request: Request) -> Structure:
    """The structure, reloaded only when a structure write happened since: the process-wide cache the product
    listeners use too (pim.structure_cache)."""
    with store_of(request).engine.connect() as conn:
        return cached_structure(conn)


Check = TypeVar("Check", bound=Callable[[Request], User])


def token_check(check: Check) -> Check:
    """Marks a dependency that checks the bearer token (and maybe the role) from the request alone:
    pim.web.api_route runs it before the body is read, so a caller without a valid token (or role) hears 401
    (or 403) before anything about the body."""
    check.token_check = True  # type: ignore[attr-defined]
    return check


@token_check
def api_user(request: Request) -> User:
    """The token's user; remembered on the request, since the route runs the check before its body is read
    and the dependency runs it again (one lookup, one throttle count)."""
    known = getattr(request.state, "api_user", None)
    if isinstance(known, User):
        return known
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token: send `Authorization: Bearer <token>` (an admin creates one "
                            "with `pim users token <username>`)", headers={"WWW-Authenticate": "Bearer"})
    attempt = sign_in_attempt(request, "api")
    if attempt.wait:  # before the token is looked at: a right token does not get past the throttle either
        raise HTTPException(429, f"this address is throttled after too many failed token checks (unknown or revoked "
                            f"bearer tokens): every request from it is refused, whatever its token, for "
                            f"{attempt.wait} more second{'s' if attempt.wait != 1 else ''}; send it again after "
                            f"the Retry-After seconds, with a token an admin gave you (`pim users token "
                            f"<username>`)", headers={"Retry-After": str(attempt.wait)})
    user = user_for_token(store_of(request), token.strip())
    if user is None:
        attempt.failed()
        raise HTTPException(401, "invalid token: it is unknown or was revoked; ask an admin for a new one "
                            "(`pim users token <username>`)", headers={"WWW-Authenticate": "Bearer"})
    request.state.api_user = user
    return user


@token_check
def api_editor(request: Request) -> User:
    user = api_user(request)
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not edit values")
    return user


class LoginRequired(Exception):
    """Raised by session_user; the app turns it into a redirect to /login."""


def session_user(request: Request) -> User:
    """The signed-in, still active user whose session is registered and not ended (pim.web.sessions) and whose
    password is the one the session began with. One indexed lookup; `last_seen_at` is written at most once a
    minute. The session's row id goes to `request.state.session_id` ("this browser" on the sessions page). The
    user is remembered on the request: check_csrf may have asked already."""
    known = getattr(request.state, "session_user", None)
    if isinstance(known, User):
        return known
    store = store_of(request)
    found = sessions.held(store, request.session.get("sid"))
    if found is None or found.user_id != request.session.get("uid") or \
            request.session.get("stamp") != password_stamp(found.password_hash):
        request.state.ended_uid = request.session.get("uid")  # whose edit a kept draft is (pim.web.signin_return)
        request.state.ended_stamp = request.session.get("stamp")  # and whether it still holds (drafts.person)
        for key in ("uid", "stamp", "sid"):
            request.session.pop(key, None)
        raise LoginRequired()
    sessions.touch(store, found)
    request.state.session_id = found.id
    request.state.session_user = User(found.user_id, found.username, found.role, password_stamp(found.password_hash))
    return request.state.session_user


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


_CSRF_REFUSED = "CSRF token missing or wrong; reload the page and try again"


async def check_csrf(request: Request) -> None:
    """The form's (or htmx's header) CSRF token must be the session's. The session is checked before the body is
    read, since parsing a form spools its files: a browser whose session holds no token (no page of ours was
    opened in it, or its cookie is gone) is refused, and on a route for signed-in staff one not signed in is
    sent to /login (session_user), unread."""
    expected = request.session.get("csrf")
    if not expected:
        if _expired_save(request):  # sign-in first, the typed value kept for it (never applied: it has no token)
            await run_in_threadpool(session_user, request)
        raise HTTPException(403, _CSRF_REFUSED)
    if _signed_in_route(request) and session_user not in getattr(request.app, "dependency_overrides", {}):
        await run_in_threadpool(session_user, request)  # a lookup: off the event loop; not signed in → /login
    given = request.headers.get("x-csrf-token")
    if given is None or _urlencoded(request):  # htmx's posts too: every staff form is read under one field limit
        form = await read_form(request)
        given = form.get("csrf_token") if given is None else given  # type: ignore[assignment]
    if not isinstance(given, str) or not secrets.compare_digest(expected, given):
        raise HTTPException(403, _CSRF_REFUSED)


async def read_form(request: Request) -> FormData:
    """The request's form, read once, under the one field limit of every staff form (pim.web.form_limits:
    FIELD_MAX_CHARS characters, the longest a draft keeps): a field over it is refused with 413 naming it and
    the limit, where Starlette refused any field over 1 MiB with a bare 400. The product page's value save (the
    draft route) says a value over it under its field instead, the text kept there (pim.web.product_edits)."""
    from pim.web import form_limits
    from pim.web.signin_return import DRAFT_ROUTE

    form = await form_limits.parse(request)
    over = form_limits.too_long(form)
    if over is not None and getattr(request.scope.get("route"), "name", None) != DRAFT_ROUTE:
        raise form_limits.FieldTooLong(form_limits.named(over[0], form), over[1])
    return form


def _urlencoded(request: Request) -> bool:
    from pim.web.form_limits import URLENCODED

    return request.headers.get("content-type", "").split(";")[0].strip().lower() == URLENCODED


def _expired_save(request: Request) -> bool:
    """A value save from one of our own pages whose cookie has expired (12 h idle: the browser sent no session,
    so no CSRF token either): sent to sign in, its text kept as a draft (pim.web.signin_return), not refused
    with 403 and lost. A cross-site post is still refused."""
    from pim.web.signin_return import DRAFT_ROUTE, from_our_page

    route = request.scope.get("route")
    return (request.method == "POST" and getattr(route, "name", None) == DRAFT_ROUTE and from_our_page(request)
            and session_user not in getattr(request.app, "dependency_overrides", {}))


def _signed_in_route(request: Request) -> bool:
    """Whether the request's route needs a staff sign-in (session_user, directly or through another dependency,
    e.g. an editor check): FastAPI solves a route's own `dependencies` (check_csrf) before its parameters'."""
    route = request.scope.get("route")
    pending = [route.dependant] if isinstance(route, APIRoute) else []
    while pending:
        dependant = pending.pop()
        if dependant.call is session_user:
            return True
        pending.extend(dependant.dependencies)
    return False
