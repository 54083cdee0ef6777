"""A product model's page (`/models/<code>`): what its variants inherit from it, its sub-models and variants, each
linked. Read-only: a model's value is edited from any of its variants' pages, whose field saves on the model that
holds its level (pim.web.model_edits), so the page links there."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import or_, select

from pim.store.store import MODEL, PRODUCT
from pim.web.accounts import User
from pim.web.deps import session_user, store_of, structure_of
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)
#: variants the page lists; the others are counted
LISTED = 200


@router.get("/models/{code}")
def model_page(code: str, request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    from pim.web.ui import render

    store, s = store_of(request), structure_of(request)
    model = store.get_model(code)
    if model is None:
        raise HTTPException(404, f"no product model '{code}'")
    with store.engine.connect() as conn:
        subs = [r.code for r in conn.execute(select(MODEL.c.code).where(MODEL.c.parent == code).order_by(MODEL.c.code))]
        below = or_(PRODUCT.c.parent == code, PRODUCT.c.parent.in_(subs)) if subs else PRODUCT.c.parent == code
        variants = [r.identifier for r in conn.execute(select(PRODUCT.c.identifier).where(below)
                                                       .order_by(PRODUCT.c.identifier).limit(LISTED + 1))]
    channel = request.query_params.get("channel") or ""
    locale = request.query_params.get("locale") or ""
    return render(request, "model.html", user, m=model, s=s, subs=subs, variants=variants[:LISTED],
                  more=len(variants) > LISTED, values=sorted(model.values.items()), scope=_scope(channel, locale))


def _scope(channel: str, locale: str) -> str:
    """The query string a variant's link keeps (the channel and locale the page was opened in)."""
    from urllib.parse import urlencode

    given = {k: v for k, v in (("channel", channel), ("locale", locale)) if v}
    return "?" + urlencode(given) if given else ""
