"""The customer portal's pages: a person at the customer signs in with the customer's portal token (as
issued by `pim feeds token`) and sees their delivered feeds and contracts, with download links.

The session keeps only the token's hash and is checked against the token table on every request, so a
revoked token (`pim feeds revoke`) signs the browser out at once. The session never grants staff rights,
and a staff session never grants portal access: the two use different keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from pim import delivery_log as log
from pim.contracts import get_contracts
from pim.portal import StoreDep
from pim.store import Store
from pim.web.deps import check_csrf, csrf_token
from pim.web.throttle import sign_in_attempt

router = APIRouter(prefix="/portal", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "web" / "templates"))
SESSION_KEY = "portal_token"  # the signed session cookie holds the token's SHA-256, never the token


def session_customer(request: Request, store: Store) -> str | None:
    """The customer whose still-active token this browser signed in with, else None."""
    digest = request.session.get(SESSION_KEY) if "session" in request.scope else None
    if not isinstance(digest, str):
        return None
    customer = log.customer_for_token_hash(store, digest)
    if customer is None:
        request.session.pop(SESSION_KEY, None)  # revoked since: signed out
    return customer


def _page(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **ctx})


@router.get("/", response_class=HTMLResponse)
def home(request: Request, store: StoreDep) -> HTMLResponse:
    customer = session_customer(request, store)
    if customer is None:
        return _page(request, "portal_login.html", error=None)
    feeds = log.feed_files(store, customer=customer, portal_only=True)
    return _page(request, "portal_home.html", customer=customer, contracts=get_contracts(store, customer=customer),
                 feeds=[f for f in feeds if f["status"] == "delivered"])


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, store: StoreDep) -> Any:
    form = await request.form()
    token = str(form.get("token", "")).strip()
    attempt = sign_in_attempt(request, "portal", store)
    if attempt.wait:
        return attempt.refused_page(_page(request, "portal_login.html", error=attempt.message))
    customer = log.customer_for_token(store, token) if token else None
    if customer is None:
        attempt.failed()
        return _page(request, "portal_login.html", error="That token is not valid (or was revoked). "
                     "Ask your supplier for a new one.")
    attempt.succeeded()
    request.session[SESSION_KEY] = log.hash_token(token)
    return RedirectResponse("/portal/", status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Any:
    request.session.pop(SESSION_KEY, None)
    return RedirectResponse("/portal/", status_code=303)
