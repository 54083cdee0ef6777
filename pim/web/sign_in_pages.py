"""The staff sign-in and sign-out pages: a sign-in returns to where the person was, with an edit their ended
session did not save (pim.web.signin_return, pim.web.drafts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim import portal_sessions
from pim.web import sessions
from pim.web.accounts import authenticate
from pim.web.deps import check_csrf, store_of
from pim.web.pages import render
from pim.web.segment_route import SegmentRoute
from pim.web.throttle import sign_in_attempt

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'


@router.get("/login")
def login_form(request: Request, next: str = "/products") -> HTMLResponse:
    from pim.web.signin_return import DRAFT

    draft = request.session.get(DRAFT)  # a value edit the ended session did not save (pim.web.signin_return)
    notice = f"Your session ended, so your change to {draft.get('key')} on {draft.get('product')} was not saved. " \
        "Sign in again to go back to it." if isinstance(draft, dict) else None
    return render(request, "login.html", None, next=next, error=None, notice=notice)


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request) -> Any:
    from pim.web import drafts
    from pim.web.signin_return import DRAFT, safe_next

    form = await request.form()
    nxt, username = str(form.get("next") or "/products"), str(form.get("username", ""))
    attempt = sign_in_attempt(request, "staff", account=username)  # user names are matched as typed
    if attempt.wait:
        return attempt.refused_page(render(request, "login.html", None, next=nxt, error=attempt.message))
    user = authenticate(store_of(request), username, str(form.get("password", "")))
    if user is None:
        attempt.failed()
        return render(request, "login.html", None, next=nxt, error="Wrong user name or password.")
    attempt.succeeded()
    store = store_of(request)
    sessions.end_held(store, request.session.get("sid"))  # a new sign-in in this browser replaces its session
    portal_sessions.end_named_in(store, request.session)  # the combined app's portal sign-in goes with the cookie
    draft = request.session.get(DRAFT)  # the same person's unsaved edit, for the page `next` opens
    request.session.clear()
    if isinstance(draft, dict) and draft.get("uid") in (None, user.id):
        request.session[DRAFT] = draft
    elif isinstance(draft, dict):  # another person's: its text goes (pim.web.drafts)
        drafts.drop(store, draft.get("id"))
    request.session["uid"] = user.id
    request.session["stamp"] = user.stamp
    request.session["sid"] = sessions.start(store, user.id, request.headers.get("user-agent", ""),
                                            request.client.host if request.client else "")
    answer = RedirectResponse(safe_next(request, nxt), status_code=303)  # a POST-only `next` opens its page
    drafts.set_owner(request, answer, user.id)  # whose a save is once this browser's cookie has expired
    return answer


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Any:
    sessions.end_held(store_of(request), request.session.get("sid"))
    portal_sessions.end_named_in(store_of(request), request.session)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
