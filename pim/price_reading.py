"""Customer price lists read (pim.commerce): a customer's tiers on a day, and which SKUs' contract prices
changed since a delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, false, or_, select

from pim.commerce_tables import PRICE, REMOVED
from pim.store.store import Store


@dataclass(frozen=True)
class Tier:
    min_qty: Decimal
    price: Decimal


def contract_tiers(
    store: Store, customer: str, skus: list[str], currency: str, on: date | None = None
) -> dict[str, list[Tier]]:
    """The customer's tiers valid on `on` (today by default), lowest quantity first, per SKU. SKUs without a
    contract price are absent: the caller applies its fallback rule (e.g. list price)."""
    day = on or datetime.now(UTC).date()
    q = select(PRICE).where(
        PRICE.c.customer == customer,
        PRICE.c.currency == currency,
        PRICE.c.sku.in_(skus),
        PRICE.c.valid_from <= day,
        or_(PRICE.c.valid_to.is_(None), PRICE.c.valid_to >= day),
    ).order_by(PRICE.c.sku, PRICE.c.min_qty, PRICE.c.valid_from.desc())
    result: dict[str, dict[Decimal, Tier]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            m = row._mapping
            tiers = result.setdefault(m["sku"], {})
            # With overlapping validity, the most recently started entry wins for a quantity.
            tiers.setdefault(Decimal(m["min_qty"]), Tier(Decimal(m["min_qty"]), Decimal(m["price"])))
    return {sku: list(t.values()) for sku, t in result.items()}


def price_list_changed_since(store: Store, customer: str, since: datetime,
                             days: tuple[date, date] | None = None) -> list[str]:
    """SKUs whose contract prices for `customer` changed or were removed after `since`; with `days` (the day the
    last delivery priced on, the day priced now), also those whose price moved with the date alone, an entry's
    validity having begun or ended in between (`price_window_crossed`). One query, whatever the list's size."""
    moved = PRICE.c.updated_at > since
    if days is not None:
        moved = or_(moved, price_window_crossed(*days))
    with store.engine.connect() as conn:
        changed = select(PRICE.c.sku).where(PRICE.c.customer == customer, moved)
        removed = select(REMOVED.c.sku).where(REMOVED.c.customer == customer, REMOVED.c.removed_at > since)
        return sorted(set(conn.execute(changed.union(removed)).scalars()))


def customers_priced_since(store: Store, since: datetime) -> list[str]:
    """The customers whose price-list entries were written at or after `since` (a load's start): the price
    lists a load changed (an unchanged entry is not rewritten). One query on the `updated_at` index."""
    q = select(PRICE.c.customer).where(PRICE.c.updated_at >= since).distinct()
    with store.engine.connect() as conn:
        return sorted(conn.execute(q).scalars())


def price_window_crossed(one: date, other: date) -> Any:
    """SQL: the price-list entry was valid on one of two pricing days and not on the other, as `contract_tiers`
    reads validity (`valid_from <= day <= valid_to`, both inclusive): it began in (low, high] or ended in
    [low, high). Either order of the days: a build dated before the last one re-sends the same SKUs."""
    low, high = min(one, other), max(one, other)
    if low == high:
        return false()
    return or_(and_(PRICE.c.valid_from > low, PRICE.c.valid_from <= high),
               and_(PRICE.c.valid_to >= low, PRICE.c.valid_to < high))


def price_list_tiers(store: Store, customer: str, currency: str, on: date | None = None) -> dict[str, list[Tier]]:
    """Like `contract_tiers`, for every SKU of the customer's price list in one query (no SKU list to bind):
    for a run that prices many SKUs of the same customer."""
    day = on or datetime.now(UTC).date()
    q = select(PRICE.c.sku, PRICE.c.min_qty, PRICE.c.price).where(
        PRICE.c.customer == customer,
        PRICE.c.currency == currency,
        PRICE.c.valid_from <= day,
        or_(PRICE.c.valid_to.is_(None), PRICE.c.valid_to >= day),
    ).order_by(PRICE.c.sku, PRICE.c.min_qty, PRICE.c.valid_from.desc())
    result: dict[str, dict[Decimal, Tier]] = {}
    with store.engine.connect() as conn:
        for sku, min_qty, price in conn.execute(q):
            tiers = result.setdefault(sku, {})
            # With overlapping validity, the most recently started entry wins for a quantity.
            qty = Decimal(min_qty)
            if qty not in tiers:
                tiers[qty] = Tier(qty, Decimal(price))
    return {sku: list(t.values()) for sku, t in result.items()}
