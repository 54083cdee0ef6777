"""The publishing gate: whether a product may be published on a channel, and why not.

CONTRACT (other areas code against this; the completeness/quality area fills in the rules):
- `evaluate(store, structure, channel, products)` yields (product, reasons) for every product; an empty
  reasons list means it passes. Reasons are short machine-readable strings such as
  "completeness:en_US:80<100", "missing:description:en_US", "duplicate_gtin", "invalid:ean", "stale_price".
- `gate_stage` is the publish stage (registered in pim.registry.STAGES): it passes products that satisfy
  the channel's GateRules and records the others' reasons in ctx.blocked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pim.catalog import Structure
from pim.product import Product
from pim.protocols import PublishContext


def evaluate(store: Any, structure: Structure, channel: str, products: Iterable[Product]) -> Iterator[tuple[Product, list[str]]]:
    for product in products:
        yield product, []


def gate_stage(products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]:
    store = ctx.options.get("store")
    for product, reasons in evaluate(store, ctx.structure, ctx.channel, products):
        if reasons:
            ctx.blocked.setdefault(product.identifier, []).extend(reasons)
        else:
            yield product
