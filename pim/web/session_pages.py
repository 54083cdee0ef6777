"""The signed-in person's own sessions (`/account/sessions`): where they are signed in, and ending one of those
sessions, or every other one, from here (a browser left signed in on a shared PC). Every change is a
CSRF-checked form post; a session id that is not one of the user's own open sessions is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim import portal_sessions
from pim.web import sessions
from pim.web.accounts import User
from pim.web.deps import check_csrf, session_user, store_of
from pim.web.ui import render

router = APIRouter(prefix="/account", include_in_schema=False)


@router.get("/sessions")
def sessions_page(request: Request, ended: int | None = None, user: User = Depends(session_user)) -> HTMLResponse:
    current = request.state.session_id
    notice = f"{ended} session{'s' if ended != 1 else ''} ended." if ended is not None else None
    return render(request, "account_sessions.html", user, notice=notice,
                  sessions=sessions.open_sessions(store_of(request), user.id, current))


@router.post("/sessions/end-others", dependencies=[Depends(check_csrf)])
def end_others(request: Request, user: User = Depends(session_user)) -> Any:
    with store_of(request).begin() as conn:
        count = sessions.end_all(conn, user.id, keep=request.state.session_id)
    return RedirectResponse(f"/account/sessions?ended={count}", status_code=303)


@router.post("/sessions/{session_id}/end", dependencies=[Depends(check_csrf)])
def end_one(request: Request, session_id: int, user: User = Depends(session_user)) -> Any:
    """Only the user's own sessions: another person's id is answered like one that does not exist."""
    if not sessions.end(store_of(request), user.id, session_id):
        raise HTTPException(404, f"no open session {session_id} of yours")
    if session_id == request.state.session_id:  # this browser: the same as signing out
        portal_sessions.end_named_in(store_of(request), request.session)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/account/sessions?ended=1", status_code=303)
