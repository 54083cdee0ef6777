"""Self-service password reset for staff: "Forgot your password?" on the sign-in page mails a one-time link (the
same links as the portal's, pim.reset_links) to the address on the account (`pim users email`, the admins'
users page). The new password follows the staff rule and ends every open session of the user. Every request
gets the same answer whether or not the address has an account and counts against the address's throttle, so
it can neither probe for accounts nor mail-bomb. Without PIM_SMTP_HOST the sign-in page offers no reset; without
PIM_PUBLIC_URL neither (a link never follows the request's Host header), but on a developer's own machine
(pim.reset_links.reset_base)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import pass_context

from pim.errors import ConfigError, InputError
from pim.mail import mail_configured, send_mail
from pim.reset_links import ResetLinks, Send, link_to, mail_link, reset_base, warn_at_start, warn_without_public_url
from pim.settings import Settings, get_settings
from pim.store.store import Store
from pim.web import accounts, sessions
from pim.web.deps import check_csrf, store_of
from pim.web.tables import USER, WEB_RESET
from pim.web.throttle import sign_in_attempt
from pim.web.ui import render, templates

LINKS = ResetLinks(WEB_RESET, "user_id", "srs_", USER, "username")
RESET_PATH = "/login/reset"

router = APIRouter(prefix="/login", include_in_schema=False, lifespan=warn_at_start)


def request_reset(store: Store, settings: Settings, email: str, base_url: str, *, send: Send = send_mail) -> bool:
    """Mail a reset link when `email` is the address of an active user (True), else do nothing (False); the
    caller answers the same either way. Raises ConfigError when the mail cannot be sent."""
    found = accounts.active_by_email(store, email)
    if found is None:
        return False
    user_id, username, address = found
    with store.begin() as conn:
        token = LINKS.issue(conn, user_id)
    mail_link(send, settings, address, "Set a new password for the PIM", f"the PIM user {username} at "
              f"{base_url.rstrip('/')}", link_to(base_url, RESET_PATH, token))
    return True


def check_token(store: Store, token: str) -> str | None:
    """The user name of the active user an unused, unexpired link belongs to, else None."""
    with store.engine.connect() as conn:
        return LINKS.active_name(conn, token)


def redeem(store: Store, token: str, password: str) -> str | None:
    """Set the new password of the link's user, use the link up and end the user's open sessions, in one
    transaction (a link used or expired meanwhile changes nothing). Returns the user name, or None.
    InputError when the password breaks the staff rule."""
    digest = accounts.hash_password(password)  # refuses a short one before anything is written
    with store.begin() as conn:
        done = LINKS.set_password(conn, token, digest)
        if done:
            sessions.end_all(conn, done[0])
    return done[1] if done else None


# --------------------------------------------------------------------------------------------------- pages
@pass_context
def _offered(context: Any) -> bool:
    settings = get_settings()
    return mail_configured(settings) and reset_base(settings, context["request"]) is not None


templates.env.globals["staff_reset_offered"] = _offered  # login.html shows "Forgot your password?" only then

_SENT = ("If that address belongs to an account, a mail with a link to set a new password is on its way. "
         "The link works once, for an hour.")
_DEAD_LINK = "This link is not valid any more (it was used, it is over an hour old, or a newer one was sent)."
_NO_BASE = ("Reset mails are off here: PIM_PUBLIC_URL, the address people reach this PIM at, is not set. Ask an "
            "administrator to set a new password (pim users password NAME) or to set PIM_PUBLIC_URL.")


def _forgot_page(request: Request, *, sent: str | None = None, error: str | None = None) -> HTMLResponse:
    return render(request, "staff_forgot.html", None, sent=sent, error=error)


def _reset_page(request: Request, token: str, username: str | None, error: str | None) -> HTMLResponse:
    return render(request, "staff_reset.html", None, token=token, username=username, error=error,
                  min_password=accounts.MIN_PASSWORD)


@router.get("/forgot", response_class=HTMLResponse)
def forgot_form(request: Request) -> HTMLResponse:
    return _forgot_page(request)


@router.post("/forgot", dependencies=[Depends(check_csrf)])
async def forgot(request: Request) -> Any:
    """Mails a reset link to an active user's address; the same answer whether or not it has an account."""
    settings, store = get_settings(), store_of(request)
    form = await request.form()
    attempt = sign_in_attempt(request, "staff-reset")
    if attempt.wait:
        return attempt.refused_page(_forgot_page(request, error=attempt.message))
    attempt.failed()  # counted like a failed sign-in: a few per address and window
    if not mail_configured(settings):
        return _forgot_page(request, error="This PIM sends no mail; ask an administrator to set a new password.")
    base = reset_base(settings, request)
    if base is None:
        warn_without_public_url(settings)
        return _forgot_page(request, error=_NO_BASE)
    try:
        request_reset(store, settings, str(form.get("email", "")), base)
    except ConfigError:
        return _forgot_page(request, error="The mail could not be sent just now; try again later or ask an "
                                           "administrator.")
    return _forgot_page(request, sent=_SENT)


@router.get("/reset", response_class=HTMLResponse)
def reset_form(request: Request, token: str = "") -> HTMLResponse:
    username = check_token(store_of(request), token) if token else None
    return _reset_page(request, token, username, None if username else _DEAD_LINK)


@router.post("/reset", dependencies=[Depends(check_csrf)])
async def reset(request: Request) -> Any:
    store = store_of(request)
    form = await request.form()
    token, password = str(form.get("token", "")), str(form.get("password", ""))
    username = check_token(store, token)
    if username is None:
        return _reset_page(request, token, None, _DEAD_LINK)
    if password != str(form.get("again", "")):
        return _reset_page(request, token, username, "The two passwords differ.")
    try:
        done = redeem(store, token, password)
    except InputError as exc:
        return _reset_page(request, token, username, exc.describe())
    if done is None:
        return _reset_page(request, token, None, _DEAD_LINK)
    return render(request, "login.html", None, next="/products", error=None, username=done,
                  notice="Your new password is set, and your other sessions have ended; sign in with it.")
