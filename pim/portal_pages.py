"""The customer portal's pages: a person at the customer signs in with their own e-mail and password
(`pim feeds person add`, pim.portal_people) or with the customer's portal token (as issued by `pim feeds
token`) and sees their delivered feeds and contracts, with download links.

The session keeps only the token's hash, or the person's id and password stamp, and is checked on every
request, so a revoked token (`pim feeds revoke`), a disabled person or a changed password signs the browser
out at once. It also holds the id of a registered portal session (pim.portal_sessions): signing out ends that
on the server, so a copy of the cookie is refused after. The session never grants staff rights, and a staff session never grants portal access: the two
use different keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from pim import delivery_log as log
from pim import portal_sessions
from pim.contracts import get_contracts
from pim.mail import email_key
from pim.portal import PRIVATE, StoreDep, moved_since, served_page
from pim.portal_people import authenticate_person, person_for_session
from pim.reset_links import reset_base, warn_at_start, warn_without_public_url
from pim.store import Store
from pim.web.deps import check_csrf, csrf_token
from pim.web.throttle import sign_in_attempt

router = APIRouter(prefix="/portal", include_in_schema=False, lifespan=warn_at_start)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "web" / "templates"))
SESSION_KEY = "portal_token"  # the signed session cookie holds the token's SHA-256, never the token
PERSON_KEY = "portal_person"  # or [person id, password stamp]
SID_KEY = portal_sessions.SID_KEY  # and the id of its registered session (pim.portal_sessions)
CHAIN = 50  # files shown per contract on the home page; its "older files" link pages on from there
PAGE = 50  # files per page of /portal/files


def session_customer(request: Request, store: Store) -> str | None:
    """The customer of this browser's still-valid portal sign-in (a person's or a token's), else None."""
    who = session_signer(request, store)
    return who[0] if who else None


def session_signer(request: Request, store: Store) -> tuple[str, str | None] | None:
    """(customer, the person's e-mail or None for a token) of this browser's portal sign-in, else None."""
    if "session" not in request.scope:
        return None
    session = portal_sessions.held(store, request.session.get(SID_KEY))
    who = _credential(request, store) if session is not None else None
    if session is None or who is None or who[0] != session.customer:  # signed out, revoked, disabled, new password
        _forget(request)
        return None
    return who


def _credential(request: Request, store: Store) -> tuple[str, str | None] | None:
    """(customer, e-mail or None) of the person or the token the session holds, while still good."""
    held = request.session.get(PERSON_KEY)
    if isinstance(held, list) and len(held) == 2 and isinstance(held[0], int) and isinstance(held[1], str):
        person = person_for_session(store, held[0], held[1])
        return (person.customer, person.email) if person else None
    digest = request.session.get(SESSION_KEY)
    customer = log.customer_for_token_hash(store, digest) if isinstance(digest, str) else None
    return (customer, None) if customer else None


def _forget(request: Request) -> None:
    for key in (SESSION_KEY, PERSON_KEY, SID_KEY):
        request.session.pop(key, None)


def _sign_out(request: Request, store: Store) -> None:
    """End this browser's portal session on the server too: a copy of its cookie is refused from now on."""
    portal_sessions.end_named_in(store, request.session)
    _forget(request)


def _page(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    """A portal page: a customer's lists and forms, kept by no cache (as the JSON routes and downloads)."""
    return templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **ctx}, headers=PRIVATE)


def _login_page(request: Request, **ctx: Any) -> HTMLResponse:
    from pim.mail import mail_configured
    from pim.settings import get_settings

    settings = get_settings()
    can_reset = mail_configured(settings) and reset_base(settings, request) is not None
    return _page(request, "portal_login.html", can_reset=can_reset, **ctx)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, store: StoreDep) -> HTMLResponse:
    """Per contract, the files a customer rebuilds its current state from: the newest full feed and the deltas
    after it (at most CHAIN of them; "older files" pages on). A contract that no longer delivers to the customer
    (moved to another customer, or deleted) is listed apart: its files are still theirs, but nothing starts from
    them any more."""
    who = session_signer(request, store)
    if who is None:
        return _login_page(request, error=None)
    customer, email = who
    contracts = get_contracts(store, customer=customer)
    current = {c.code for c in contracts}
    served = log.portal_contracts(store, customer)
    chains = {code: _chain(store, customer, code) for code in served if code in current}
    former = {code: (*served_page(store, customer, contract=code, limit=CHAIN), moved_since(store, customer, code))
              for code in served if code not in current}
    return _page(request, "portal_home.html", customer=customer, email=email, contracts=contracts, chains=chains,
                 former=former)


def _chain(store: Store, customer: str, contract: str) -> tuple[list[dict[str, Any]], int | None]:
    """The contract's files from its newest full feed on, newest first (at most CHAIN), and the `before` cursor
    of its older files, or None when there are none."""
    rows = log.feed_files(store, customer=customer, portal_only=True, contract=contract, limit=CHAIN + 1)
    full = next((i for i, r in enumerate(rows[:CHAIN]) if r["kind"] == "full"), None)
    shown = rows[:full + 1] if full is not None else rows[:CHAIN]
    return shown, (shown[-1]["id"] if len(rows) > len(shown) else None)


@router.get("/files", response_class=HTMLResponse)
def files(request: Request, store: StoreDep, contract: str | None = None, before: int | None = None) -> Any:
    """Every delivered file of the customer (or of one contract), newest first, PAGE at a time."""
    who = session_signer(request, store)
    if who is None:
        return RedirectResponse("/portal/", status_code=303)
    customer, email = who
    rows, older = served_page(store, customer, contract=contract, before=before, limit=PAGE)
    return _page(request, "portal_home.html", customer=customer, email=email, contract=contract, feeds=rows,
                 older=older)


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, store: StoreDep) -> Any:
    form = await request.form()
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    token = str(form.get("token", "")).strip()
    # counted per address; a good sign-in clears only its own e-mail's failures (a token's: none)
    attempt = sign_in_attempt(request, "portal", store, account=email_key(email) if email else None)
    if attempt.wait:
        return attempt.refused_page(_login_page(request, error=attempt.message, email=email))
    _sign_out(request, store)  # a new sign-in in this browser replaces its session
    if email:
        person = authenticate_person(store, email, password)
        if person is None:
            attempt.failed()
            return _login_page(request, email=email, error="Wrong e-mail or password, or the account is disabled.")
        attempt.succeeded()
        request.session[PERSON_KEY] = [person.id, person.stamp]
        request.session[SID_KEY] = portal_sessions.start(store, person.customer, person.id)
        return RedirectResponse("/portal/", status_code=303)
    customer = log.customer_for_token(store, token) if token else None
    if customer is None:
        attempt.failed()
        return _login_page(request, error="That token is not valid (or was revoked). Ask your supplier for a new one.")
    attempt.succeeded()
    request.session[SESSION_KEY] = log.hash_token(token)
    request.session[SID_KEY] = portal_sessions.start(store, customer, None)
    return RedirectResponse("/portal/", status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, store: StoreDep) -> Any:
    _sign_out(request, store)
    return RedirectResponse("/portal/", status_code=303)


# ---------------------------------------------------------------------------------------------- password reset
_SENT = ("If that address has a portal account, a mail with a link to set a new password is on its way. "
         "The link works once, for an hour.")


@router.get("/forgot", response_class=HTMLResponse)
def forgot_form(request: Request) -> HTMLResponse:
    return _page(request, "portal_forgot.html", sent=None, error=None)


@router.post("/forgot", dependencies=[Depends(check_csrf)])
async def forgot(request: Request, store: StoreDep) -> Any:
    """Mails a reset link to an active person; answers the same whether or not the address has an account.
    Every request counts against the address's sign-in throttle, so this cannot be used to mail-bomb."""
    from pim.errors import ConfigError
    from pim.mail import mail_configured
    from pim.portal_reset import request_reset
    from pim.settings import get_settings

    settings = get_settings()
    form = await request.form()
    email = str(form.get("email", "")).strip()
    attempt = sign_in_attempt(request, "portal-reset", store)
    if attempt.wait:
        return attempt.refused_page(_page(request, "portal_forgot.html", sent=None, error=attempt.message))
    attempt.failed()  # counted like a failed sign-in: a few per address and window
    if not mail_configured(settings):
        return _page(request, "portal_forgot.html", sent=None,
                     error="This portal sends no mail; ask your supplier to set a new password.")
    base = reset_base(settings, request)
    if base is None:  # never a link to wherever the request's Host header says
        warn_without_public_url(settings)
        return _page(request, "portal_forgot.html", sent=None,
                     error="This portal cannot mail reset links yet (its public address is not set up); ask your "
                           "supplier to set a new password.")
    try:
        request_reset(store, settings, email, base)
    except ConfigError:
        return _page(request, "portal_forgot.html", sent=None,
                     error="The mail could not be sent just now; try again later or ask your supplier.")
    return _page(request, "portal_forgot.html", sent=_SENT, error=None)


@router.get("/reset", response_class=HTMLResponse)
def reset_form(request: Request, store: StoreDep, token: str = "") -> HTMLResponse:
    from pim.portal_reset import check_token

    email = check_token(store, token) if token else None
    return _page(request, "portal_reset.html", token=token, email=email, error=None if email else _DEAD_LINK)


_DEAD_LINK = "This link is not valid any more (it was used, it is over an hour old, or a newer one was sent)."


@router.post("/reset", dependencies=[Depends(check_csrf)])
async def reset(request: Request, store: StoreDep) -> Any:
    from pim.errors import InputError
    from pim.portal_reset import check_token, redeem

    form = await request.form()
    token, password = str(form.get("token", "")), str(form.get("password", ""))
    email = check_token(store, token)
    if email is None:
        return _page(request, "portal_reset.html", token=token, email=None, error=_DEAD_LINK)
    if password != str(form.get("again", "")):
        return _page(request, "portal_reset.html", token=token, email=email, error="The two passwords differ.")
    try:
        done = redeem(store, token, password)
    except InputError as exc:
        return _page(request, "portal_reset.html", token=token, email=email, error=exc.describe())
    if done is None:
        return _page(request, "portal_reset.html", token=token, email=None, error=_DEAD_LINK)
    _sign_out(request, store)
    return _login_page(request, email=done, error=None, notice="Your new password is set; sign in with it.")
