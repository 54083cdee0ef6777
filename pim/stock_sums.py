"""Stock summed per SKU over its warehouses: the one sum every output counts (feeds, search documents, Google
Merchant, the gate's stock age), read through pim.commerce (`stock_for`, `stock_all`).

A storage location may be stored twice for a SKU across the round-34 upgrade: under its plant (`1000/0001`, SAP
MATMAS) and alone (`0001`, an older ERP stock CSV). PIM_FEED_STOCK_KEYS says which reading of such a location
counts: `both` (summed; feed builds warn, naming them: pim.feed_stock_keys), `plant` or `location`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pim.store.store import as_utc

_NONE = Decimal(0)


@dataclass(frozen=True)
class Availability:
    quantity: Decimal
    atp: Decimal
    updated_at: datetime | None

    @property
    def in_stock(self) -> bool:
        return self.atp > 0


def stock_keys() -> str:
    """Which reading of a location stored alone and under its plant counts: both, plant or location."""
    from pim.settings import get_settings

    return get_settings().feed_stock_keys


def sum_stock(readings: Iterable[Any], keys: str | None = None) -> dict[str, Availability]:
    """(sku, warehouse, quantity, atp, updated_at) readings summed per SKU, counting one reading of a doubled
    location when `keys` (default: the setting) picks one. A warehouse's negative quantity or ATP (a backorder, a
    booking error: stored as sent) counts as 0, or it would cancel the others' stock (-12 and 5 made -7). The
    oldest time is kept, and comes back in UTC (SQLite keeps none)."""
    keep = keys or stock_keys()
    rows = readings if keep == "both" else one_reading_each(readings, keep)
    sums: dict[str, list[Any]] = {}
    for sku, _, quantity, atp, stamp in rows:
        qty = Decimal(quantity)
        free = qty if atp is None else Decimal(atp)
        if qty < _NONE:
            qty = _NONE
        if free < _NONE:
            free = _NONE
        got = sums.get(sku)
        if got is None:
            sums[sku] = [qty, free, stamp]
        else:
            got[0] += qty
            got[1] += free
            if stamp is not None and (got[2] is None or stamp < got[2]):
                got[2] = stamp
    return {sku: Availability(qty, free, None if stamp is None else as_utc(stamp))
            for sku, (qty, free, stamp) in sums.items()}


def location_of(warehouse: str) -> str | None:
    """The storage location a plant/location code keys (`1000/0001` → `0001`: what follows the first `/`); None
    for a code without a plant. The one pairing rule: a reading under `location_of(w)` stored alone (a code
    without `/`) is the same location as `w`'s. pim.feed_stock_keys.doubled_stock finds the pairs in SQL by it."""
    plant, slash, location = warehouse.partition("/")
    return location if slash else None


def pairs_with(alone: str, keyed: str) -> bool:
    """Whether the reading under `alone` and the one under `keyed` are one storage location stored twice."""
    return "/" not in alone and location_of(keyed) == alone


def one_reading_each(readings: Iterable[Any], keep: str) -> Iterator[Any]:
    """`readings` without the other reading of each doubled location (`pairs_with`): `plant` drops `0001` beside
    `1000/0001` (and `2000/0001`), `location` drops those plant/location ones. `0001` never pairs with
    `1000/00012`."""
    by_sku: dict[str, list[Any]] = {}
    for r in readings:
        by_sku.setdefault(r[0], []).append(r)
    for rows in by_sku.values():
        alone = {r[1] for r in rows if "/" not in r[1]} if len(rows) > 1 else set()
        keyed = {r[1] for r in rows if location_of(r[1]) in alone}
        if not keyed:
            yield from rows
            continue
        drop = keyed if keep == "location" else {location_of(w) for w in keyed}
        yield from (r for r in rows if r[1] not in drop)
