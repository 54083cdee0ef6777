"""A supplier's tier periods follow one another: a (currency, valid_from) period of a SKU's tiers ends, at the
latest, the day before the next one of the same currency, price list and source starts. Prices are read per
quantity from the latest-started valid period (pim.commerce.contract_tiers), so two open periods would mix
two lists: today's 11.00 from 500 would still price 500 pieces after a July list that no longer has that tier.
Ending the earlier period instead means a day's tiers all come from one list the supplier sent."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from pim.commerce import EARLIEST, PRICE
from pim.store import Store
from pim.store.store import batched


def start(tier: dict[str, Any]) -> date:
    """The tier's period start as stored (an empty valid_from is EARLIEST)."""
    return tier["valid_from"] or EARLIEST


def chain_periods(store: Store, conn: Connection, price_list: str, source: str,
                  rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The batch's tier `rows` (PriceListEntry fields with customer and source set), each ending the day before
    the next period of its SKU and currency starts (stored or in the batch), and the stored tiers of `source`
    to end the same way: an earlier period left open, or overlapping a period the batch states. Only SKUs and
    currencies the batch states are looked at; read in the batch's transaction, after its stale tiers went,
    so a period the batch clears no longer ends another one."""
    starts: dict[tuple[str, str], set[date]] = {}
    for t in rows:
        starts.setdefault((t["sku"], t["currency"]), set()).add(start(t))
    if not starts:
        return rows, []
    written = {(t["sku"], t["currency"], t["min_qty"], start(t)) for t in rows}
    stored = [t for t in _stored(store, conn, price_list, source, sorted({sku for sku, _ in starts}))
              if (t["sku"], t["currency"]) in starts]
    for t in stored:
        starts[t["sku"], t["currency"]].add(start(t))
    capped = [_ended(t, starts[t["sku"], t["currency"]]) for t in rows]
    ended = []
    for t in stored:
        if (t["sku"], t["currency"], t["min_qty"], start(t)) in written:
            continue  # the batch writes this tier (with its own end)
        now_ending = _ended(t, starts[t["sku"], t["currency"]])
        if now_ending["valid_to"] != t["valid_to"]:
            ended.append(now_ending)
    return capped, ended


def _ended(tier: dict[str, Any], starts: Iterable[date]) -> dict[str, Any]:
    """The tier ending at the latest the day before the next period start after its own (itself if none)."""
    begin = start(tier)
    later = [s for s in starts if s > begin]
    if not later:
        return tier
    last = min(later) - timedelta(days=1)
    if tier["valid_to"] is not None and tier["valid_to"] <= last:
        return tier
    return {**tier, "valid_to": last}


def _stored(store: Store, conn: Connection, price_list: str, source: str, skus: list[str]) -> list[dict[str, Any]]:
    """The stored tiers of `source` in `price_list` for `skus`, as PriceListEntry fields (put_price_rows_in's)."""
    store.lock_writes(conn)
    columns = (PRICE.c.sku, PRICE.c.currency, PRICE.c.min_qty, PRICE.c.valid_from, PRICE.c.valid_to, PRICE.c.price)
    found = []
    for part in batched(skus, 1000):
        for sku, currency, qty, since, until, price in conn.execute(select(*columns).where(
                PRICE.c.customer == price_list, PRICE.c.source == source, PRICE.c.sku.in_(part))):
            found.append({"customer": price_list, "sku": sku, "currency": currency, "min_qty": qty,
                          "valid_from": since, "valid_to": until, "price": price, "source": source})
    return found
