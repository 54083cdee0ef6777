"""The product page's "Status and categories" form: enable or disable a product, and set its own categories
(pim.web.product_fields). Editors only, with the CSRF check; the form names what the page showed, so a change
made since (by someone, or an import) is refused with 409 and said on the page, as a value's edit is."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from pim.web.accounts import User
from pim.web.deps import check_csrf, session_user, store_of, structure_of
from pim.web.product_fields import CATEGORIES, ENABLED, apply_fields
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)
#: the form's fields holding what the page showed (JSON): the stale check's `expected`
SHOWN_ENABLED, SHOWN_CATEGORIES = "shown_enabled", "shown_categories"


@router.post("/products/{identifier}/fields", dependencies=[Depends(check_csrf)])
async def edit_fields(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    from pim.web import ui

    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not edit products")
    store, s = store_of(request), structure_of(request)
    form = await request.form()
    channel, locale = str(form.get("channel") or ""), str(form.get("locale") or "")
    result = apply_fields(store, identifier, user.username, s=s, enabled=form.get(ENABLED) == "true",
                          categories=[str(c) for c in form.getlist(CATEGORIES) if c], expected=_expected(form))
    if result.product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    if result.stale or result.errors:  # changed since the page showed it (409), or refused (422): the page says why
        page = ui._product_page(request, user, result.product, s, channel or None, locale or None,
                                errors=result.errors, stale=result.stale)
        page.status_code = 409 if result.stale else 422
        return page
    return RedirectResponse(ui._page_url(identifier, channel, locale) + "#status", status_code=303)


def _expected(form: Any) -> dict[str, Any] | None:
    """What the form's page showed, from its SHOWN_* fields (None: a form without them, no stale check)."""
    out: dict[str, Any] = {}
    try:
        if (raw := form.get(SHOWN_ENABLED)) is not None:
            out[ENABLED] = bool(json.loads(str(raw)))
        if (raw := form.get(SHOWN_CATEGORIES)) is not None:
            out[CATEGORIES] = list(json.loads(str(raw)))
    except (ValueError, TypeError):
        raise HTTPException(422, "the form's shown fields are not the JSON the page writes: reload the product "
                                 "page and save again") from None
    return out or None
