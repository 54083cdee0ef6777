"""The product grid (filters, keyset pages, mass edit) and the "what blocks publishing" dashboard, with the
notices both show while a rescore or a grid re-index job has not caught up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim.web import panels
from pim.web.accounts import User
from pim.web.deps import check_csrf, session_user, store_of, structure_of
from pim.web.editing import BULK_MAX
from pim.web.grid import filter_from, page
from pim.web.pages import render
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'


@router.get("/")
def home() -> Any:
    return RedirectResponse("/products", status_code=303)


@router.get("/products")
def grid(request: Request, after: int = 0, user: User = Depends(session_user)) -> HTMLResponse:
    s = structure_of(request)
    f = filter_from(request.query_params)
    try:
        rows, nxt = page(store_of(request), f, s, after=after, limit=50)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    # htmx's "Next page" swaps in rows; the URL it pushes (Back, htmx restoring its history) opens a whole page
    swapped = bool(request.headers.get("hx-request") and after
                   and not request.headers.get("hx-history-restore-request"))
    name = "_grid_rows.html" if swapped else "grid.html"
    full = name == "grid.html"
    from pim.grid_query import quality_problem, scope_problem

    wrong = scope_problem(f, s) if full else None  # a hand-made URL: say the scope filters filter nothing
    warning = f"{wrong[1]}: the completeness, missing and quality filters have no scores there" if wrong else \
        quality_problem(f, s) if full else None  # a reason the gate never stores: the page is empty for that
    answer = render(request, name, user, rows=rows, next_cursor=nxt, f=f, s=s, scope_warning=warning,
                    has_completeness=panels.tables() is not None, bulk_max=BULK_MAX, after=after, swapped=swapped,
                    bulk_notice=request.session.pop(BULK_NOTICE, None) if full else None,
                    stale_scores=_stale_scores(request) if full else {},
                    grid_reindex=_grid_reindex(request) if full else [])
    answer.headers["Vary"] = "HX-Request"  # Back must not get the rows' fragment the browser cached for htmx
    return answer


def _stale_scores(request: Request) -> dict[str, list[str]]:
    """family → channels whose stored scores wait for a rescore job (pim.rescore_jobs.unsettled): the grid's
    and dashboard's completeness figures are the earlier ones there until it succeeds, so the pages say so."""
    from pim.rescore_jobs import unsettled

    with store_of(request).engine.connect() as conn:
        return {family: sorted(channels) for family, channels in sorted(unsettled(conn).items())}


def _grid_reindex(request: Request) -> list[dict[str, Any]]:
    """Category moves whose grid re-index is a queued job not yet succeeded (pim.grid_jobs.unsettled): the
    category filter may file those products under their old parents until it does, so the grid says so."""
    from pim.grid_jobs import unsettled

    return unsettled(store_of(request))


BULK_NOTICE = "bulk"  # session flash: the last mass edit's outcome, for the grid


@router.post("/products/bulk", dependencies=[Depends(check_csrf)])
async def bulk_edit(request: Request, user: User = Depends(session_user)) -> Any:
    """One value on the ticked products, or on every product the grid's filter finds (up to BULK_MAX); a clear
    of many asks first (pim.web.mass_edit)."""
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not edit values")
    from pim.web import mass_edit

    return await mass_edit.bulk_edit(request, user, render, BULK_NOTICE)


@router.get("/dashboard")
def dashboard(request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    s = structure_of(request)
    channel, locale = request.query_params.get("channel"), request.query_params.get("locale") or None
    channels = [channel] if channel else sorted(s.channels)
    # a channel that does not publish the locale has no report in it (pim.completeness.report refuses one)
    channels = [c for c in channels if not locale or c not in s.channels or locale in s.channels[c].locales]
    shown = request.query_params.get("todo")  # the to-do's length: a number or "all" (panels.dashboard_report)
    reports = [r for c in channels if (r := panels.dashboard_report(store_of(request), c, locale, shown)) is not None]
    return render(request, "dashboard.html", user, reports=reports, s=s, available=panels.tables() is not None,
                  channel=channel, locale=locale, stale_scores=_stale_scores(request))
