"""`GET /api/v1/products/{identifier}/quality` (included by pim.web.api's router): the quality findings that block
only where a channel names them (`rounded_price`), per channel, each with `blocking` (pim.quality_notes). The gate
lists a finding only where it blocks; this answers for every channel, so a client sees a sub-cent price that a
consumer channel rounds even while no channel holds the product back for it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from pim.web import panels
from pim.web.accounts import User
from pim.web.api_errors import documented
from pim.web.api_route import ApiRoute
from pim.web.deps import api_user, store_of, structure_of

router = APIRouter(route_class=ApiRoute)


@router.get("/products/{identifier}/quality", responses=documented({404: "no such product"}))
def product_quality(identifier: str, request: Request, user: User = Depends(api_user)) -> list[dict[str, Any]]:
    """Per channel and finding: channel, code (`rounded_price:price:USD`), kind, dimension, reason (what the shop
    shows instead) and blocking (whether that channel's gate holds the product back for it)."""
    store = store_of(request)
    product = store.get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    return panels.quality_notes(store, structure_of(request), product)
