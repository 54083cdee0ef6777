"""A supplier's tier periods follow one another: on any day a SKU's tiers of one currency, price list and source
come from one period, the latest-started one the supplier stated as valid that day. Prices are read per quantity
from the latest-started valid row (pim.commerce.contract_tiers), so two open periods would mix two lists: today's
11.00 from 500 would still price 500 pieces after a July list that no longer has that tier.

So the stored rows are worked out from the periods the supplier stated (`chain_periods`): a list ends the day before
a later period starts, and resumes the day after a period with its own end (a July-only offer) when it was stated
to run on; the resumed part is stored as rows valid from that day. Each row keeps the period it comes from
(`stated_from`, `stated_to`: pim.commerce_tables.PriceListRow), so the next import works the days out again from
what the supplier said, never from a copy we made: a restated list replaces its resumed part too. Rows stored before
those columns (round 36) count as stated as they are. Days between stated periods that no period covers are a gap,
reported (`gaps`): the supplier stated none for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from pim.commerce import EARLIEST, PRICE
from pim.price_lists import _note_removed
from pim.store import Store
from pim.store.store import batched


def start(tier: dict[str, Any]) -> date:
    """The tier's period start as stored (an empty valid_from is EARLIEST)."""
    return tier["valid_from"] or EARLIEST


#: (SKU, currency, the first day of a gap between the periods the supplier stated; None: no gap) (`gaps`)
Gap = tuple[str, str, date | None]

#: A stated tier: (SKU, currency, min_qty, period start) → the row (PriceListEntry fields, valid_to as stated)
Stated = dict[tuple[Any, ...], dict[str, Any]]


@dataclass
class Chained:
    """What `chain_periods` works out for a batch: `rows`, the days of the periods the batch states (their own
    first days and any resumed part); `ended`, stored periods' rows whose days changed; `resumed`, the rows of
    stored periods resuming after a later one ends; `gone`, stored rows no period holds any more (a resumed part
    a new period took over), removed by `remove_gone`."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    ended: list[dict[str, Any]] = field(default_factory=list)
    resumed: list[dict[str, Any]] = field(default_factory=list)
    gone: list[dict[str, Any]] = field(default_factory=list)


def chain_periods(store: Store, conn: Connection, price_list: str, source: str, rows: list[dict[str, Any]],
                  gaps: list[Gap] | None = None, *, with_stored: bool = True,
                  also: set[str] | frozenset[str] = frozenset()) -> Chained:
    """The stored rows for the batch's tier `rows` (PriceListEntry fields with customer and source set, their
    dates as the supplier stated them) and the stored periods of `source` of the same SKUs and currencies: one
    period a day, the latest-started one covering it (`_days`). Read in the batch's transaction, after its stale
    tiers went, so a period the batch clears no longer ends another one. `with_stored=False`: the rows are the
    SKUs' whole lists (a BMEcat T_NEW_CATALOG, whose stored periods it lacks go once the file is in): only they
    are worked out. `also`: SKUs whose stored periods to work out again although the batch states none of them (a
    cleared offer: the list it ended runs on). `gaps` gets each SKU and currency looked at, with the first day of
    a gap (`_gap`)."""
    said: Stated = {}
    for t in rows:  # one key twice: the last row wins, as it would being written
        said[t["sku"], t["currency"], t["min_qty"], start(t)] = {**t, "valid_from": start(t)}
    touched = {(sku, currency) for sku, currency, _, _ in said}
    out = Chained()
    also = set(also) if with_stored else set()
    if not touched and not also:
        return out
    stored = [t for t in _stored(store, conn, price_list, source, sorted({sku for sku, _ in touched} | also))
              if (t["sku"], t["currency"]) in touched or t["sku"] in also] if with_stored else []
    stated: Stated = {}
    for t in stored:
        if t["stated_from"] is None:  # stored before periods were kept: its dates count as stated
            stated[t["sku"], t["currency"], t["min_qty"], t["valid_from"]] = {**t, "stated_from": t["valid_from"],
                                                                             "stated_to": t["valid_to"]}
        elif t["valid_from"] == t["stated_from"]:  # a period's first day; a resumed part is worked out again
            stated[t["sku"], t["currency"], t["min_qty"], t["valid_from"]] = t
    batch_periods = set()
    for key, t in said.items():
        stated[key] = {**t, "stated_from": key[3], "stated_to": t["valid_to"]}
        batch_periods.add((key[0], key[1], key[3]))
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (sku, currency, _, _), t in stated.items():
        by_pair.setdefault((sku, currency), []).append(t)
    before = {(t["sku"], t["currency"], t["min_qty"], t["valid_from"]): t for t in stored}
    for pair, tiers in sorted(by_pair.items()):
        for row in _days(tiers):
            key = (row["sku"], row["currency"], row["min_qty"], row["valid_from"])
            was = before.pop(key, None)
            if (row["sku"], row["currency"], row["stated_from"]) in batch_periods:
                out.rows.append(_plain(row))
            elif row["valid_from"] != row["stated_from"] or (was is not None and _later(row, was)):
                out.resumed.append(_plain(row))  # a part after a later period, or running on once that went
            else:
                out.ended.append(_plain(row))
        if gaps is not None:
            gaps.append((*pair, _gap(tiers)))
    out.gone = list(before.values())
    return out


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """The row as stored: its stated period kept only where its days are not the ones stated (stated_from None:
    as stated), so a period nothing ends or resumes is stored as any price-list entry is."""
    if row["valid_from"] == row["stated_from"] and row["valid_to"] == row["stated_to"]:
        return {**row, "stated_from": None, "stated_to": None}
    return row


def _later(row: dict[str, Any], was: dict[str, Any]) -> bool:
    """Whether the row now ends later than it did (None: open-ended)."""
    return was["valid_to"] is not None and (row["valid_to"] is None or row["valid_to"] > was["valid_to"])


def _days(tiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of one SKU and currency's stated `tiers` (each with `stated_from`/`stated_to`), valid on the days
    their period is the latest-started one covering: a period covers its start to the latest stated end of its
    tiers (open if one is open), and each tier row its own stated days within that."""
    periods = _periods(tiers)
    bounds = sorted({*periods, *(end + timedelta(days=1) for end in periods.values() if end is not None)})
    spans: list[tuple[date, date | None, date]] = []  # (first day, last day or open, the period's start)
    for n, first in enumerate(bounds):
        last = bounds[n + 1] - timedelta(days=1) if n + 1 < len(bounds) else None
        covering = [b for b, e in periods.items() if b <= first and (e is None or e >= first)]
        if not covering:
            continue
        begin = max(covering)
        if spans and spans[-1][2] == begin and spans[-1][1] is not None and spans[-1][1] + timedelta(days=1) == first:
            spans[-1] = (spans[-1][0], last, begin)  # the same period on: one span
        else:
            spans.append((first, last, begin))
    out = []
    for first, last, begin in spans:
        for t in tiers:
            if t["stated_from"] != begin or (t["stated_to"] is not None and t["stated_to"] < first):
                continue
            ends = [d for d in (last, t["stated_to"]) if d is not None]
            out.append({**t, "valid_from": first, "valid_to": min(ends) if ends else None})
    return out


def _periods(tiers: list[dict[str, Any]]) -> dict[date, date | None]:
    """Each stated period's start → its last day: the latest stated end of its tiers (None: one is open)."""
    periods: dict[date, date | None] = {}
    for t in tiers:
        begin, end = t["stated_from"], t["stated_to"]
        known = periods.get(begin, end)
        periods[begin] = None if end is None or known is None else max(end, known)
    return periods


def _gap(tiers: list[dict[str, Any]]) -> date | None:
    """The first day no stated period covers between two that do (a list ending on its own date before the next
    starts), else None. Days after every period are no gap: the supplier's prices simply expire."""
    covered: date | None = None  # the last day covered so far
    for begin, end in sorted(_periods(tiers).items()):
        if covered is not None and begin > covered + timedelta(days=1):
            return covered + timedelta(days=1)
        if end is None:
            return None
        covered = end if covered is None else max(covered, end)
    return None


def remove_gone(store: Store, conn: Connection, gone: list[dict[str, Any]]) -> int:
    """Remove the stored rows no stated period holds any more (`Chained.gone`), noted for the delta feeds as a
    removed entry is (pim.price_lists.remove_price_list_entries_in)."""
    if not gone:
        return 0
    conn.execute(delete(PRICE).where(
        PRICE.c.customer == bindparam("k"), PRICE.c.source == bindparam("o"), PRICE.c.sku == bindparam("s"),
        PRICE.c.currency == bindparam("c"), PRICE.c.min_qty == bindparam("q"), PRICE.c.valid_from == bindparam("f")),
        [{"k": t["customer"], "o": t["source"], "s": t["sku"], "c": t["currency"], "q": t["min_qty"],
          "f": t["valid_from"]} for t in gone])
    _note_removed(store, conn, [(t["customer"], t["sku"]) for t in gone])
    return len(gone)


def _stored(store: Store, conn: Connection, price_list: str, source: str, skus: list[str]) -> list[dict[str, Any]]:
    """The stored tiers of `source` in `price_list` for `skus`, as PriceListEntry fields (put_price_rows_in's)
    with their stated period."""
    store.lock_writes(conn)
    columns = (PRICE.c.sku, PRICE.c.currency, PRICE.c.min_qty, PRICE.c.valid_from, PRICE.c.valid_to, PRICE.c.price,
               PRICE.c.stated_from, PRICE.c.stated_to)
    found = []
    for part in batched(skus, 1000):
        for sku, currency, qty, since, until, price, stated_from, stated_to in conn.execute(select(*columns).where(
                PRICE.c.customer == price_list, PRICE.c.source == source, PRICE.c.sku.in_(part))):
            found.append({"customer": price_list, "sku": sku, "currency": currency, "min_qty": qty,
                          "valid_from": since, "valid_to": until, "price": price, "source": source,
                          "stated_from": stated_from, "stated_to": stated_to})
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
            reason = (f"{len(self.found)} product(s) have no tier price in '{price_list}' on days between the "
                      f"periods the supplier stated ({listed}{more}): a period ends on its own date before the next "
                      "one starts, and no period covers the days between. Ask the supplier for the prices that apply "
                      "from that day (a row or price block valid from it, or the earlier period again with a later "
                      "end date), and import them")
        file_warning(store, counts.job_id, source, f"tier-gaps:{file}", reason, file=file, field=field)
