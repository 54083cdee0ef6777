"""The catalog admin's page for staff accounts: add people, change their role and e-mail address (where a
password-reset link goes), disable them, set a new password, withdraw their API tokens, see how many browser sessions each has open and end them all. Only
admins reach it; every change is a CSRF-checked form post, and a change that would leave no active admin is
refused with the reason on the page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim.errors import InputError
from pim.web import accounts, sessions
from pim.web.accounts import ROLES, User
from pim.web.deps import check_csrf, session_user, store_of
from pim.web.ui import render

router = APIRouter(prefix="/admin", include_in_schema=False)


def admin_user(request: Request, user: User = Depends(session_user)) -> User:
    """Admins only; the refusal names what the page under /admin/ manages (its first path segment)."""
    if not user.can("admin"):
        area = request.url.path.removeprefix("/admin/").split("/")[0] or "users"
        raise HTTPException(403, f"role '{user.role}' may not manage {ADMIN_AREAS.get(area, area)}: only admins "
                            "do; ask one to make the change")
    return user


ADMIN_AREAS = {"portal": "portal people"}  # an admin page's first path segment → what it manages, where they differ


def _page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
          status: int = 200) -> HTMLResponse:
    store = store_of(request)
    counts = sessions.open_counts(store)
    users = [{**u, "sessions": counts.get(str(u["username"]), 0)} for u in accounts.list_users(store)]
    page = render(request, "admin_users.html", user, users=users, roles=ROLES, error=error, notice=notice)
    page.status_code = status
    return page


@router.get("/users")
def users_page(request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _page(request, user)


@router.post("/users", dependencies=[Depends(check_csrf)])
async def add(request: Request, user: User = Depends(admin_user)) -> Any:
    form = await request.form()
    try:
        made = accounts.add_user(store_of(request), str(form.get("username", "")).strip(), str(form.get("password", "")),
                                 str(form.get("role", "editor")), email=str(form.get("email", "")))
    except InputError as exc:
        return _page(request, user, error=exc.describe(), status=422)
    return _page(request, user, notice=f"{made.username} can sign in as {accounts.ROLE_LABELS[made.role]}.")


@router.post("/users/{username}", dependencies=[Depends(check_csrf)])
async def change(request: Request, username: str, user: User = Depends(admin_user)) -> Any:
    """One change per post: `action` is role, email, disable, enable, password, revoke_tokens or end_sessions."""
    form = await request.form()
    store, action = store_of(request), str(form.get("action", ""))
    try:
        if action == "role":
            accounts.set_role(store, username, str(form.get("role", "")))
            notice = f"{username} is now {accounts.ROLE_LABELS.get(str(form.get('role')), form.get('role'))}."
        elif action == "email":
            address = accounts.set_email(store, username, str(form.get("email", "")))
            notice = f"{username}'s e-mail is now {address}." if address else f"{username} has no e-mail now."
        elif action in ("disable", "enable"):
            accounts.set_active(store, username, action == "enable")
            notice = f"{username} is {action}d" + (": their sessions and API tokens stop working now." if action == "disable" else ".")
        elif action == "password":
            accounts.set_password(store, username, str(form.get("password", "")))
            notice = f"New password set for {username}; their open sessions have ended."
        elif action == "revoke_tokens":
            count = accounts.revoke_tokens(store, username)
            notice = f"{count} API token{'s' if count != 1 else ''} of {username} withdrawn."
        elif action == "end_sessions":
            count = accounts.end_sessions(store, username)
            notice = f"{count} session{'s' if count != 1 else ''} of {username} ended; they sign in again."
        else:
            raise HTTPException(400, f"unknown action '{action}'")
    except InputError as exc:
        return _page(request, user, error=exc.describe(), status=422)
    if username == user.username and action in ("password", "disable", "role", "end_sessions"):
        return RedirectResponse("/login", status_code=303)  # their own session may have just ended
    return _page(request, user, notice=notice)


