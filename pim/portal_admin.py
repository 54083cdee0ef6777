"""The admins' page for the customer portal: the people at each customer who sign in with their own e-mail and
password (pim.portal_people) — add them, disable or enable them, set a new password — and who downloaded which
feed file lately (pim.portal_downloads). The same actions as `pim feeds person …`, for admins who do not use
the CLI. Mounted through pim.registry.WEB_ROUTERS, so the staff app runs without it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from pim import portal_people
from pim.contracts import get_contracts
from pim.errors import InputError
from pim.portal_downloads import downloads, last_downloads
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.deps import check_csrf, store_of
from pim.web.ui import render

router = APIRouter(prefix="/admin/portal", include_in_schema=False)


def _page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
          status: int = 200) -> HTMLResponse:
    store = store_of(request)
    page = render(request, "admin_portal.html", user, people=portal_people.people(store),
                  customers=sorted({c.customer for c in get_contracts(store)}), last=last_downloads(store),
                  downloads=downloads(store, limit=50), error=error, notice=notice,
                  min_password=portal_people.MIN_PASSWORD)
    page.status_code = status
    return page


@router.get("")
def portal_page(request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _page(request, user)


@router.post("", dependencies=[Depends(check_csrf)])
async def add(request: Request, user: User = Depends(admin_user)) -> Any:
    form = await request.form()
    try:
        made = portal_people.add_person(store_of(request), str(form.get("customer", "")), str(form.get("email", "")),
                                        str(form.get("password", "")), force=bool(form.get("force")))
    except InputError as exc:
        return _page(request, user, error=exc.describe(), status=422)
    return _page(request, user, notice=f"{made.email} can sign in to the portal for {made.customer}.")


@router.post("/people", dependencies=[Depends(check_csrf)])
async def change(request: Request, user: User = Depends(admin_user)) -> Any:
    """One change per post: `action` is disable, enable or password, for the person `email`."""
    form = await request.form()
    store, action, email = store_of(request), str(form.get("action", "")), str(form.get("email", ""))
    try:
        if action in ("disable", "enable"):
            found = portal_people.set_active(store, email, action == "enable")
            notice = f"{email} is {action}d" + (": their portal sessions end now; the customer's tokens still work."
                                                 if action == "disable" else ".")
        elif action == "password":
            found = portal_people.set_password(store, email, str(form.get("password", "")))
            notice = f"New password set for {email}; their open portal sessions have ended."
        else:
            raise HTTPException(400, f"unknown action '{action}'")
    except InputError as exc:
        return _page(request, user, error=exc.describe(), status=422)
    if not found:
        return _page(request, user, error=f"no portal account for '{email}'", status=404)
    return _page(request, user, notice=notice)
