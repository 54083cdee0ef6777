"""What a contract's customer pays (pim.contracts): contract tiers valid on a day, else the contract's fallback
(the list price, or that less a discount). Split from pim.contracts, which still offers every name here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pim.catalog import Structure
from pim.commerce import Tier, contract_tiers
from pim.contracts_model import Contract, Pricing
from pim.currencies import rounded
from pim.product import Product, value_key
from pim.store.store import Store


@dataclass(frozen=True)
class ResolvedPrice:
    """What the customer pays: tiers (lowest quantity first) and where they came from."""

    tiers: tuple[Tier, ...]
    source: Literal["contract", "list", "list_discount"]

    @property
    def unit_price(self) -> Decimal:
        return self.tiers[0].price


def list_price(values: dict[str, Any], pricing: Pricing, currency: str, channel: str, s: Structure) -> Decimal | None:
    attr = s.attributes.get(pricing.list_price_attribute)
    key = value_key(pricing.list_price_attribute, None, channel if attr is not None and attr.scopable else None)
    raw = (values.get(key) or values.get(pricing.list_price_attribute) or {})
    amount = raw.get(currency) if isinstance(raw, dict) else None
    try:
        return Decimal(str(amount)) if amount not in (None, "") else None
    except InvalidOperation:
        return None


def discounted(base: Decimal, percent: Decimal, currency: str) -> Decimal:
    """A list price less `percent`, rounded (pim.currencies.ROUNDING, half to even) to the decimals of `base`, at
    least the currency's minor units: KWD 12.345 less 3 % is 11.975, JPY 1234 less 3 % is 1197, EUR 0.0123 less
    3 % is 0.0119."""
    return rounded(base * (100 - percent) / 100, currency, like=base)


def resolve_prices(
    store: Store, contract: Contract, structure: Structure, products: list[tuple[Product, dict[str, Any]]],
    on: date | None = None,
) -> dict[str, ResolvedPrice]:
    """Contract tiers valid on `on`, else the declared fallback. SKUs with no price at all are absent."""
    tiers = contract_tiers(store, contract.price_customer, [p.identifier for p, _ in products], contract.currency, on)
    out: dict[str, ResolvedPrice] = {}
    for p, values in products:
        if p.identifier in tiers and tiers[p.identifier]:
            out[p.identifier] = ResolvedPrice(tuple(tiers[p.identifier]), "contract")
        elif (fallback := fallback_price(values, contract, structure)) is not None:
            out[p.identifier] = fallback
    return out


def fallback_price(values: dict[str, Any], contract: Contract, structure: Structure) -> ResolvedPrice | None:
    """The contract's `fallback` for a product without contract tiers, from 1 piece: its list price, or that less
    `discount_percent`; None under `exclude` or without a list price in the contract's currency."""
    rule = contract.pricing
    if rule.fallback == "exclude":
        return None
    base = list_price(values, rule, contract.currency, contract.channel, structure)
    if base is None:
        return None
    if rule.fallback == "list_price_discount":
        return ResolvedPrice((Tier(Decimal(1), discounted(base, rule.discount_percent, contract.currency)),), "list_discount")
    return ResolvedPrice((Tier(Decimal(1), base),), "list")


def below_tiers_fallback(price: ResolvedPrice | None, values: dict[str, Any], contract: Contract,
                         structure: Structure) -> ResolvedPrice | None:
    """What one piece pays under contract tiers that start above 1 (`100:60.00` does not price a smaller order):
    the contract's fallback, whose source says which (`list` or `list_discount`, never `contract`). None for
    every other price, and without a fallback (`exclude`, no list price): the first tier's price stands then, the
    customer buying at least its quantity. The one rule of a feed's `price` and price source, and of a BMEcat
    feed's extra tier at 1 (channels.feed_bmecat)."""
    if price is None or price.source != "contract" or price.tiers[0].min_qty <= 1:
        return None
    return fallback_price(values, contract, structure)


def undercuts_tiers(price: ResolvedPrice, one: ResolvedPrice | None) -> bool:
    """Whether the one-piece fallback `one` costs less per piece than the first contract tier of `price`: a
    customer buying 1 would pay less than one buying the tier's quantity, which is worth a warning (a discount
    fallback on a list price near the contract's)."""
    return one is not None and one.unit_price < price.tiers[0].price
