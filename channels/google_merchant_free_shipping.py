"""Google's `g:free_shipping_threshold`: the order value from which an item ships free in a country, which Google
shows next to the item. A target declares it as a service's `free_shipping_threshold` (which also prices the
item's shipping at 0 from there: channels.google_merchant_shipping); every item of the target's feed then
carries it once, for the target's country, in the target's currency:

    <g:free_shipping_threshold><g:country>DE</g:country><g:price_threshold>50.00 EUR</g:price_threshold></g:free_shipping_threshold>

Google's rules, checked when the catalog's targets are read (`check`): where a country uses the attribute, the
item's shipping there describes a single service level (not "Standard" and "Express" together), and the country
has one threshold. Google takes the attribute up to 25 times per product; an item here carries only its own
feed's country, so one, however many countries declare a threshold."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pim.currencies import price_text
from pim.errors import ConfigError

if TYPE_CHECKING:
    from channels.google_merchant_targets import Target

#: How often Google takes g:free_shipping_threshold on one product.
PER_PRODUCT_MAX = 25


def threshold(target: Target) -> Decimal | None:
    """The target's threshold: the one its services declare (`check` makes sure they agree), or None."""
    return next((s.free_shipping_threshold for s in target.shipping if s.free_shipping_threshold is not None), None)


def item_fields(target: Target) -> list[tuple[str, Any]]:
    """The item's g:free_shipping_threshold group for the target's country, priced like the feed's other
    prices ("50.00 EUR", "5000 JPY": rounded when the target was read, Shipping.shelf_priced); nothing when the
    target declares no threshold."""
    amount = threshold(target)
    if amount is None:
        return []
    return [("free_shipping_threshold", [("country", target.country),
                                         ("price_threshold", f"{price_text(amount, target.currency)} {target.currency}")])]


def check(targets: list[Target]) -> None:
    """Refuse thresholds Google would reject or read differently than the feed prices them: one on a country
    whose targets declare more than one service, or a target whose services (one per region) disagree on it."""
    by_country: dict[str, list[Target]] = defaultdict(list)
    for t in targets:
        by_country[t.country].append(t)
    for country, group in by_country.items():
        free = [t for t in group if threshold(t) is not None]
        if not free:
            continue
        services = sorted({s.service for t in group for s in t.shipping})
        if len(services) > 1:
            raise ConfigError(
                f"google_merchant target {free[0].label}: free_shipping_threshold needs {country}'s shipping to be a "
                f"single service level (Google's g:free_shipping_threshold), but the targets of {country} declare "
                f"{len(services)} services ({', '.join(services)})",
                hint=f"keep one service for {country} (it may still have a rate per region), or remove "
                     f"free_shipping_threshold from {country}'s services")
        for t in free:
            _one_threshold(t)


def _one_threshold(target: Target) -> None:
    """Every region of the target's service declares the same threshold: Google's has no region."""
    amounts = {(s.region or "the whole country"): s.free_shipping_threshold for s in target.shipping}
    if len(set(amounts.values())) > 1:
        said = ", ".join(f"{a if a is not None else 'none'} for {where}" for where, a in amounts.items())
        raise ConfigError(
            f"google_merchant target {target.label}: service '{target.shipping[0].service}' declares "
            f"free_shipping_threshold {said}, but Google takes one threshold per country",
            hint="give every region of the service the same free_shipping_threshold, or remove it from all")
