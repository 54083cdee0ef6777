"""Which of a PRODUCT's price blocks sets the map's `price_attribute`: the one valid on the day of the import. A
price file announces its prices ahead (a block from 2027-06-01 before one from 2026-01-01, or only next year's),
and the attribute is what feeds and channels sell at today; the tier list keeps every block with its dates
(importers.tier_periods). A product whose blocks all start later (or all ended) keeps its stored value, and the
file says so in one warning (`report_later`). Nothing sets the attribute on the day a later block starts: the
supplier's next file, or this one imported again from then on, does."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from pim.importing import file_warning

if TYPE_CHECKING:
    from importers.bmecat_map import BmecatMap
    from pim.importing import ImportCounts
    from pim.store import Store

#: How many products the warning names.
NAMED = 20


class Later(NamedTuple):
    """A product whose price blocks of the map's type none is valid on the import's day: the earliest start of a
    later one (None when all ended) and its amount at the lowest bound, per currency."""

    starts: date | None
    amounts: tuple[tuple[str, str], ...]  # (currency, amount)


class PriceTypes(set[str]):
    """Every PRODUCT_PRICE@price_type of the file (`unread_price_types`), and the products left at their stored
    list price because no block of theirs is valid today (`later`: supplier PID → Later), which the file's
    warnings name (importers.bmecat_map_checks.report_file reads both from BmecatMapper.price_types)."""

    def __init__(self, today: date) -> None:
        super().__init__()
        self.today = today  # the import's day (UTC), as pim.price_reading reads tiers
        self.later: dict[str, Later] = {}


def valid_on(today: date, start: date | None, end: date | None) -> bool:
    """Whether a block from `start` to `end` (either open) holds on `today`."""
    return (start is None or start <= today) and (end is None or today <= end)


def later_of(today: date, blocks: list[tuple[date | None, date | None, Decimal, str, Decimal]]) -> Later:
    """What a product with no block valid `today` has instead (`blocks`: start, end, lower bound, currency,
    amount): the earliest later start and its lowest-bound amounts, else (all ended) no start."""
    starts = [s for s, _, _, _, _ in blocks if s is not None and s > today]
    if not starts:
        return Later(None, ())
    first = min(starts)
    lowest: dict[str, tuple[Decimal, Decimal]] = {}
    for s, _, bound, currency, amount in blocks:
        if s == first and (currency not in lowest or bound < lowest[currency][0]):
            lowest[currency] = (bound, amount)
    return Later(first, tuple((c, str(a)) for c, (_, a) in sorted(lowest.items())))


def report_later(store: Store, counts: ImportCounts, source: str, file: str, m: BmecatMap,
                 seen: PriceTypes) -> None:
    """One `warning` naming the products whose `price_attribute` this file left as it was, since none of their
    price blocks is valid today, and when the earliest one starts; the file's next run replaces it, or closes it
    when every product has a price valid then."""
    key, later, today = f"price-later:{file}", seen.later, seen.today
    if not later or not m.price_attribute:
        file_warning(store, counts.job_id, source, key, None, file=file)
        return
    named = sorted(later)[:NAMED]
    more = f"; and {len(later) - len(named)} more" if len(later) > len(named) else ""

    def said(pid: str) -> str:
        w = later[pid]
        if w.starts is None:
            return f"{pid}: every block has ended"
        return f"{pid}: from {w.starts.isoformat()} at {', '.join(f'{a} {c}' for c, a in w.amounts)}"

    starts = [w.starts for w in later.values() if w.starts is not None]
    when = f" (the earliest from {min(starts).isoformat()})" if starts else ""
    file_warning(store, counts.job_id, source, key, (
        f"{len(later)} product(s) have no {m.price_type} price valid today ({today.isoformat()}){when}, so "
        f"`{m.price_attribute}` keeps its stored value; the tier list '{m.tier_price_list}' holds the new prices "
        "with their dates. Nothing updates the attribute when a price's day comes: import the supplier's file "
        f"again on or after that day (or its next one). Products (supplier PID): "
        f"{'; '.join(said(p) for p in named)}{more}" if m.tier_price_list else
        f"{len(later)} product(s) have no {m.price_type} price valid today ({today.isoformat()}){when}, so "
        f"`{m.price_attribute}` keeps its stored value. Nothing updates it when a price's day comes: import the "
        "supplier's file again on or after that day (or its next one). Products (supplier PID): "
        f"{'; '.join(said(p) for p in named)}{more}"), file=file, field="PRODUCT_PRICE_DETAILS")
