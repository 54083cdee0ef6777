"""What a build notices about prices that is worth a look but no reason to hold the feed, said in the build's
report with a few SKUs: a one-piece fallback price below the contract's first tier (tiers from 10 pieces at
700.00, a list price less 10 % at 679.56 for one piece: buying one costs less per piece than buying ten), and a
tier ladder that climbs (tiers merged across validity windows, `1:90` newer and `100:100` older: 100 pieces cost
more each than one). A price list's load (`pim feeds prices`) says the same of the contracts it prices
(`price_list_warnings`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from itertools import groupby
from operator import attrgetter
from typing import Any

from pim.catalog import Structure
from pim.commerce import price_list_tiers
from pim.contracts import (AssortmentMatcher, Contract, ResolvedPrice, below_tiers_fallback, get_contracts,
                           undercuts_tiers)
from pim.feed_reading import _Reader
from pim.store import Store

EXAMPLES = 5  # SKUs named per warning


class _Found:
    """Products found, with the first few named."""

    def __init__(self) -> None:
        self.count = 0
        self.skus: list[str] = []

    def add(self, sku: str) -> None:
        self.count += 1
        if len(self.skus) < EXAMPLES:
            self.skus.append(sku)

    def named(self) -> str:
        more = f" and {self.count - len(self.skus)} more" if self.count > len(self.skus) else ""
        return ", ".join(self.skus) + more


class Undercuts:
    """Collects, over one build, the products whose one-piece fallback costs less than their first contract tier
    and those whose contract tiers cost more per piece for a larger quantity."""

    def __init__(self, contract: Contract, structure: Structure) -> None:
        self.contract, self.structure = contract, structure
        self.cheap_one, self.climbing = _Found(), _Found()

    def check(self, item: Any) -> None:
        """Note `item` when its prices say one of the two; call it only for items whose tiers start above 1 piece
        or have more than one tier (the others cannot)."""
        if item.price is not None and item.action == "upsert":
            self.note(item.product.identifier, item.price, item.values)

    def note(self, sku: str, price: ResolvedPrice, values: dict[str, Any]) -> None:
        """`check` for a product's price and (inherited) values, whatever reads them."""
        if price.source != "contract":
            return
        if undercuts_tiers(price, below_tiers_fallback(price, values, self.contract, self.structure)):
            self.cheap_one.add(sku)
        tiers = price.tiers
        if any(later.price > earlier.price for earlier, later in zip(tiers, tiers[1:])):
            self.climbing.add(sku)

    def warnings(self) -> list[str]:
        c, out = self.contract, []
        if self.cheap_one.count:
            out.append(f"{self.cheap_one.count} products of contract {c.code} cost less for one piece (pricing "
                       f"fallback {c.pricing.fallback}) than per piece at their first contract tier: "
                       f"{self.cheap_one.named()}; add a contract tier from 1 piece to {c.price_customer}'s price "
                       f"list (pim feeds prices), or check the contract's discount_percent")
        if self.climbing.count:
            out.append(f"{self.climbing.count} products of contract {c.code} cost more per piece at a larger "
                       f"quantity in {c.price_customer}'s price list: {self.climbing.named()}; entries of different "
                       f"validity windows may have been merged per quantity: load a complete ladder for each SKU "
                       f"(pim feeds prices)")
        return out


def price_list_warnings(store: Store, customers: Iterable[str], on: date | None = None) -> list[str]:
    """The build's warnings for every contract priced from the price list of one of `customers`, as their tiers
    valid on `on` (today) stand: over the products of the contract's assortment that the catalog holds, that its
    channel's gate lets through (as the build asks it: a product the feed never sends is never named) and whose
    tiers start above 1 piece or are several. One query per price list and currency, one read of those products
    for the contracts sharing it, and one gate verdict per channel and product."""
    from pim.feeds import FeedRun  # the build's own gate verdicts; pim.feeds imports this module

    named = set(customers)
    contracts = [c for c in get_contracts(store) if c.price_customer in named] if named else []
    if not contracts:
        return []
    run = FeedRun(store, snapshot=False)
    structure, reader, out = run.structure, _Reader(store), []
    by_list = attrgetter("price_customer", "currency")
    for key, sharing in groupby(sorted(contracts, key=by_list), key=by_list):
        ladders = {sku: ResolvedPrice(tuple(t), "contract") for sku, t in price_list_tiers(store, *key, on).items()
                   if len(t) > 1 or t[0].min_qty > 1}
        rows = list(reader.rows(sorted(ladders)))
        for c in sharing:
            matcher, undercut = AssortmentMatcher(c.assortment, structure), Undercuts(c, structure)
            members = [row for row in rows if matcher.matches(row, row.values)]  # type: ignore[arg-type]  # a light row reads as a Product
            passed = run.passing(store, c.channel, members, c.locale) if members else set()
            for row in members:
                if row.identifier in passed:
                    undercut.note(row.identifier, ladders[row.identifier], row.values)
            out += undercut.warnings()
    return out
