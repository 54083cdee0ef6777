"""Quality findings that block only where a channel names them (pim.quality.NAMED_ONLY: `rounded_price`, a price
with more decimals than its currency's minor units), listed per channel whether or not its gate blocks on them.

The gate reports a finding only where it blocks, so a content team whose channels do not name `rounded_price`
never learned that the shop shows USD 14.00 for a typed 13.999. These notes are for the product page and
`GET /api/v1/products/{identifier}/quality`; they decide nothing (the gate, pim.gate, is unchanged)."""

from __future__ import annotations

from typing import Any

from pim.catalog import Structure
from pim.product import Product
from pim.quality import NAMED_ONLY, assess, inherited


def quality_notes(store: Any, structure: Structure, product: Product) -> list[dict[str, Any]]:
    """One entry per channel and finding: channel, code, kind, dimension, reason and `blocking` (whether that
    channel's gate holds the product back for it: its block_on names the kind). Sorted by channel, then code.
    The values are read once (a variant's with its models'); no other query is made."""
    from pim.completeness import Requirements
    from pim.gate import blocking_kinds

    values, requirements = inherited(store, [product]), Requirements(structure)
    out: list[dict[str, Any]] = []
    for channel in sorted(structure.channels):
        found = assess(store, structure, channel, [product], values=values, kinds=NAMED_ONLY,
                       requirements=requirements)
        blocking = blocking_kinds(structure, channel)
        out += [{"channel": channel, "code": f.code, "kind": f.kind, "dimension": f.dimension, "reason": f.reason,
                 "blocking": f.kind in blocking}
                for f in sorted(found.get(product.identifier, ()), key=lambda f: f.code)]
    return out
