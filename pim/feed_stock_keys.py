"""Stock a feed would count twice across the round-34 upgrade: the shipped SAP MATMAS map keys a storage location
by its plant (`1000/0001`), while an older source (an ERP stock CSV) may still write the location alone (`0001`).
Both readings are stored and summed, so the product's stock doubles. A build says so in its warnings, naming the
SKUs and the two codes, until the older source moves to the plant keys (or the map drops `plant:`), or the
setting PIM_FEED_STOCK_KEYS picks which of the two readings counts, in feeds and every other output alike
(pim.stock_sums)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, select

from pim.commerce import STOCK
from pim.stock_sums import pairs_with
from pim.store import Store

EXAMPLES = 5  # SKUs named per warning


def doubled_stock(store: Store) -> dict[str, list[tuple[str, str]]]:
    """SKU → its (location code, plant/location code) pairs, for each SKU with a reading under both, in one
    self-join. `0001` pairs with `1000/0001` (and `2000/0001`), never with `1000/00012`. The pairing rule is
    pim.stock_sums.pairs_with, the one PIM_FEED_STOCK_KEYS drops readings by: the SQL only narrows to candidates
    (plant/location codes ending in `/` followed by the location code), each checked by that rule."""
    plant, alone = STOCK.alias("plant"), STOCK.alias("alone")
    # LIKE narrows, with the location code's `\`, `%` and `_` escaped (PostgreSQL took a `\` as its escape:
    # `a\b` matched no pair, and a code ending in `\` failed the build); SQLite's LIKE ignores ASCII case, so
    # the rule decides
    literal = func.replace(func.replace(func.replace(alone.c.warehouse, "\\", "\\\\"), "%", "\\%"), "_", "\\_")
    q = (select(plant.c.sku, alone.c.warehouse, plant.c.warehouse)
         .join(alone, and_(alone.c.sku == plant.c.sku, alone.c.warehouse.not_like("%/%")))
         .where(plant.c.warehouse.like("%/" + literal, escape="\\"))
         .order_by(plant.c.sku, plant.c.warehouse, alone.c.warehouse))
    found: dict[str, list[tuple[str, str]]] = {}
    with store.engine.connect() as conn:
        for sku, location, keyed in conn.execute(q):
            if pairs_with(location, keyed):
                found.setdefault(sku, []).append((location, keyed))
    return found


def doubled_warning(contract: Any, doubled: dict[str, list[tuple[str, str]]], skus: Iterable[str]) -> str | None:
    """The build's warning for those of `skus` (the products it sent with stock) whose stock is counted twice."""
    hits = sorted(s for s in set(skus) if s in doubled)
    if not hits:
        return None
    named = ", ".join(f"{s} ({doubled[s][0][0]} and {doubled[s][0][1]})" for s in hits[:EXAMPLES])
    more = f" and {len(hits) - EXAMPLES} more" if len(hits) > EXAMPLES else ""
    return (f"{len(hits)} products of contract {contract.code} have stock under a storage location alone and under "
            f"its plant and location, so their stock is counted twice: {named}{more}; an older source (an ERP stock "
            f"CSV) still writes the location alone beside SAP MATMAS's plant/location keys: move it to the "
            f"plant/location codes (its complete imports then retire the old readings), remove `plant:` from "
            f"your copy of the MATMAS map to keep the old keys, or set PIM_FEED_STOCK_KEYS=plant (or location) "
            f"to have feeds count one of the two")
