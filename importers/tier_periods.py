"""A supplier's tier periods follow one another: a (currency, valid_from) period of a SKU's tiers ends, at the
latest, the day before the next one of the same currency, price list and source starts. Prices are read per
quantity from the latest-started valid period (pim.commerce.contract_tiers), so two open periods would mix
two lists: today's 11.00 from 500 would still price 500 pieces after a July list that no longer has that tier.
Ending the earlier period instead means a day's tiers all come from one list the supplier sent.

A period with its own end (a July-only offer) ends the list before it too, and that list does not come back after
the offer: the stored rows cannot tell a list the supplier sent from a copy we made of it, so a resumed copy would
keep old prices once the supplier restates its list (round 36 decision). The gap is reported instead (`gaps`): the
import's warning names each product and currency with no tiers from the day after such a period, so the buyer can
ask the supplier for the list that applies then."""

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


#: (SKU, currency, the first day without tiers of a gap a period with its own end leaves; None: no gap) (`gaps`)
Gap = tuple[str, str, date | None]


def chain_periods(store: Store, conn: Connection, price_list: str, source: str, rows: list[dict[str, Any]],
                  gaps: list[Gap] | None = None, *, with_stored: bool = True,
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The batch's tier `rows` (PriceListEntry fields with customer and source set), each ending the day before
    the next period of its SKU and currency starts (stored or in the batch), and the stored tiers of `source`
    to end the same way: an earlier period left open, or overlapping a period the batch states. Only SKUs and
    currencies the batch states are looked at; read in the batch's transaction, after its stale tiers went,
    so a period the batch clears no longer ends another one. `with_stored=False`: the rows are the SKUs' whole
    lists (a BMEcat T_NEW_CATALOG, whose stored periods it lacks go once the file is in): only they are chained.
    `gaps` gets each SKU and currency looked at, with the first day of a gap it is left with (`_gaps`)."""
    starts: dict[tuple[str, str], set[date]] = {}
    for t in rows:
        starts.setdefault((t["sku"], t["currency"]), set()).add(start(t))
    if not starts:
        return rows, []
    written = {(t["sku"], t["currency"], t["min_qty"], start(t)) for t in rows}
    stored = [t for t in _stored(store, conn, price_list, source, sorted({sku for sku, _ in starts}))
              if (t["sku"], t["currency"]) in starts] if with_stored else []
    for t in stored:
        starts[t["sku"], t["currency"]].add(start(t))
    capped = [_ended(t, starts[t["sku"], t["currency"]]) for t in rows]
    ended, kept = [], []
    for t in stored:
        if (t["sku"], t["currency"], t["min_qty"], start(t)) in written:
            continue  # the batch writes this tier (with its own end)
        now_ending = _ended(t, starts[t["sku"], t["currency"]])
        kept.append(now_ending)
        if now_ending["valid_to"] != t["valid_to"]:
            ended.append(now_ending)
    if gaps is not None:
        gaps.extend(_gaps([*capped, *kept]))
    return capped, ended


def _gaps(tiers: list[dict[str, Any]]) -> list[Gap]:
    """Each (SKU, currency) of `tiers`, with the first day of a gap: its tiers, as they will be stored, have a
    period with its own end after an earlier period, and none on the day after it (None when none is): a July-only offer after an open list leaves the product without tiers
    from August (that list was ended the day before July and does not resume). A product whose only period ends
    on its own date is no gap: the supplier's prices simply expire."""
    periods: dict[tuple[str, str], dict[date, date | None]] = {}
    for t in tiers:
        spans = periods.setdefault((t["sku"], t["currency"]), {})
        begin, end = start(t), t["valid_to"]
        spans[begin] = None if end is None or (begin in spans and spans[begin] is None) else max(end, spans.get(begin) or end)
    found: list[Gap] = []
    for (sku, currency), spans in periods.items():
        first = None
        for begin, end in spans.items():
            if end is None or not any(s < begin for s in spans):
                continue
            after = end + timedelta(days=1)
            if not any(s <= after and (e is None or e >= after) for s, e in spans.items()):
                first = after if first is None else min(first, after)
        found.append((sku, currency, first))
    return found


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


class GapNotes:
    """The gaps an import's batches left (`chain_periods`' `gaps`), counted once their batch commits, and said in
    one `warning` per file (its next run replaces it, or closes it when no gap is left)."""

    SHOWN = 10

    def __init__(self) -> None:
        self.pending: list[Gap] = []  # the batch being written's
        self.found: dict[tuple[str, str], date] = {}

    def committed(self) -> None:
        for sku, currency, day in self.pending:  # a later batch may fill (or open) a gap an earlier one left
            if day is None:
                self.found.pop((sku, currency), None)
            else:
                self.found[sku, currency] = day
        self.pending = []

    def report(self, store: Store, counts: Any, source: str, file: str, price_list: str, field: str | None) -> None:
        from pim.importing import file_warning

        reason = None
        if self.found:
            counts.extra["tier_gaps"] = len(self.found)
            shown = sorted(self.found.items())[:self.SHOWN]
            listed = "; ".join(f"{sku} {currency} from {day.isoformat()}" for (sku, currency), day in shown)
            more = f"; and {len(self.found) - len(shown)} more" if len(self.found) > len(shown) else ""
            reason = (f"{len(self.found)} product(s) have no tier price in '{price_list}' after a period with its own "
                      f"end date ({listed}{more}): the list before that period was ended the day before it starts and "
                      "does not resume after it. Ask the supplier for the prices that apply from that day (a row or "
                      "price block valid from it, or the earlier list again with that start date), and import them")
        file_warning(store, counts.job_id, source, f"tier-gaps:{file}", reason, file=file, field=field)
