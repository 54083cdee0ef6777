"""Per-item shipping of a Google Merchant target's services: what a feed manager offers beyond one flat price.
A service costs a flat `price` (the default), or a price looked up in a table by the item's shipping weight
(`by_weight`) or by its price in the target's currency (`by_price`); from a `free_shipping_threshold` the item
ships free, and carries it as Google's g:free_shipping_threshold (channels.google_merchant_free_shipping: the
country's only service then). Tiers read "up to X → price": listed from the lowest bound up, inclusive, the last
one may leave `up_to` out to take everything above. Handling and transit days are Google's shipping speed, in
business days. Rates and thresholds are what a shopper sees, like item prices: rounded half up to the target
currency's minor units once, when the target is read (`Shipping.shelf_priced`), so an item is priced and found
free against the amounts the feed prints ("4.899" is 4.90 EUR; a threshold "49.995" is 50.00 EUR).

    shipping:                       # DE: one service, free from 50
      - {service: Standard, price: "4.90", free_shipping_threshold: "50"}
    shipping:                       # CH: several services, no threshold
      - service: Parcel
        by_weight: {unit: kg, tiers: [{up_to: 2, price: "4.90"}, {up_to: 31.5, price: "9.90"}]}
        handling_days: {max: 1}
        transit_days: {min: 1, max: 3}
      - service: Express
        by_price: [{up_to: "20", price: "9.90"}, {price: "5.90"}]
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pim.currencies import minor_units, price_text, rounded, shelf_price


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tier(_Strict):
    """One row of a rate table: items up to `up_to` (inclusive) cost `price`."""

    up_to: Decimal | None = Field(default=None, gt=0, description="Inclusive upper bound, in the table's weight unit "
                                  "or the target's currency; the last tier may leave it out: everything above.")
    price: Decimal = Field(ge=0, description="Shipping price in the target's currency.")


def check_tiers(tiers: list[Tier]) -> None:
    """Ascending and non-overlapping: every bound above the one before, only the last one open-ended."""
    for n, tier in enumerate(tiers[:-1], start=1):
        if tier.up_to is None:
            raise ValueError(f"tier {n} has no up_to, but only the last tier may leave it out (it takes everything "
                             f"above the tier before it); give tier {n} an up_to or move it to the end")
    for n in range(1, len(tiers)):
        below, bound = tiers[n - 1].up_to, tiers[n].up_to
        if bound is not None and below is not None and bound <= below:
            raise ValueError(f"tiers must ascend without overlapping: tier {n + 1} (up_to {bound}) is not above "
                             f"tier {n} (up_to {below}); list the tiers from the lowest bound up, each bound once")


def lookup(tiers: list[Tier], value: Decimal) -> Decimal | None:
    """The price of the first tier whose bound holds `value`; None when the table ends below it."""
    for tier in tiers:
        if tier.up_to is None or value <= tier.up_to:
            return tier.price
    return None


class WeightTable(_Strict):
    """Prices by the item's shipping weight, converted to `unit` before the lookup."""

    unit: str = Field(min_length=1, description="Unit of the bounds: a code, symbol or alias of the shipping weight "
                      "attribute's measurement family (KILOGRAM, kg, g, lb).")
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> WeightTable:
        check_tiers(self.tiers)
        return self


class Days(_Strict):
    """Business days, as Google counts shipping speed: `max` is required, `min` is optional and not above it."""

    min: int | None = Field(default=None, ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Days:
        if self.min is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}); swap them")
        return self


class Shipping(_Strict):
    """One service of a target, and one `g:shipping` group per item that it carries."""

    # editors flag a service without a way to price it (the validator also refuses two ways)
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [{"required": ["price"]}, {"required": ["by_weight"]}, {"required": ["by_price"]}]})

    service: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100, description="e.g. a US state code; the whole country when unset.")
    price: Decimal | None = Field(default=None, ge=0, description="Flat price in the target's currency (the default "
                                  "way; give this, by_weight or by_price).")
    by_weight: WeightTable | None = Field(default=None, description="Price by the item's shipping weight.")
    by_price: list[Tier] | None = Field(default=None, min_length=1, description="Price by the item's price (its sale "
                                        "price when it has one) in the target's currency.")
    free_shipping_threshold: Decimal | None = Field(default=None, gt=0, description="An item whose price (its sale "
                                                    "price when it has one) reaches this ships free; items also carry "
                                                    "it as g:free_shipping_threshold, so it must be the country's only "
                                                    "service (one threshold for all its regions).")
    handling_days: Days | None = Field(default=None, description="Order to hand-over, inside g:shipping; needs "
                                       "transit_days. Or declare it once on the target.")
    transit_days: Days | None = Field(default=None, description="Hand-over to delivery, inside g:shipping.")

    @model_validator(mode="after")
    def _one_way_to_price(self) -> Shipping:
        given = [name for name in ("price", "by_weight", "by_price") if getattr(self, name) is not None]
        if len(given) != 1:
            found = f", not {' and '.join(given)}" if given else ""
            raise ValueError(f"service '{self.service}' needs exactly one of price (flat), by_weight or by_price"
                             f"{found}; declare another service for another table")
        if self.by_price is not None:
            check_tiers(self.by_price)
            self._fits_threshold(self.by_price)
        if self.handling_days is not None and self.transit_days is None:
            raise ValueError(f"service '{self.service}' has handling_days but no transit_days: Google needs both "
                             f"to show a delivery time")
        return self

    def _fits_threshold(self, tiers: list[Tier], currency: str | None = None) -> None:
        """With a free threshold, price tiers must reach it and none may start at or above it (never used). Given
        the `currency` the threshold was rounded in, the last bound is compared rounded up to its minor units:
        an inclusive `up_to` 49.995 holds every item price up to 49.99, so the table meets a threshold of 50.00."""
        free = self.free_shipping_threshold
        if free is None:
            return
        for n in range(1, len(tiers)):
            below = tiers[n - 1].up_to
            if below is not None and below >= free:
                raise ValueError(f"by_price tier {n + 1} starts above {below}, at or above free_shipping_threshold "
                                 f"{free} where items ship free, so it never applies; end the table at the threshold")
        last = tiers[-1].up_to
        if last is not None and (last if currency is None else rounded(last, currency, rounding=ROUND_CEILING)) < free:
            raise ValueError(f"by_price ends at {last}, below free_shipping_threshold {free}: items priced between "
                             f"have no rate; raise the last up_to to {free} or leave it out")

    def shelf_priced(self, currency: str) -> Shipping:
        """This service with its rates and threshold as Google shows them in `currency` (pim.currencies.shelf_price);
        tier bounds stay as given (never shown, and items are priced in minor units already). A threshold that
        rounds to 0 would make every item ship free: refused."""
        def tiers(rows: list[Tier]) -> list[Tier]:
            return [t.model_copy(update={"price": shelf_price(t.price, currency)}) for t in rows]

        update: dict[str, Any] = {}
        if self.price is not None:
            update["price"] = shelf_price(self.price, currency)
        if self.by_weight is not None:
            update["by_weight"] = self.by_weight.model_copy(update={"tiers": tiers(self.by_weight.tiers)})
        if self.by_price is not None:
            update["by_price"] = tiers(self.by_price)
        if self.free_shipping_threshold is not None:
            free = update["free_shipping_threshold"] = shelf_price(self.free_shipping_threshold, currency)
            if not free:
                least = price_text(Decimal(1).scaleb(-minor_units(currency)), currency)
                raise ValueError(f"service '{self.service}': free_shipping_threshold {self.free_shipping_threshold} "
                                 f"is 0 {currency} once rounded to the currency's minor units, as Google shows it, "
                                 f"so every item would ship free; give at least {least} or remove it")
        shown = self.model_copy(update=update)
        if shown.by_price is not None:  # the rounded threshold still fits the table
            shown._fits_threshold(shown.by_price, currency)
        return shown

    def is_free(self, price: Decimal | None) -> bool:
        return self.free_shipping_threshold is not None and price is not None and price >= self.free_shipping_threshold

    def needs_weight(self, price: Decimal | None) -> bool:
        """Whether this item's rate depends on its weight (not when the threshold already makes it free)."""
        return self.by_weight is not None and not self.is_free(price)

    def rate(self, weight: Decimal | None, price: Decimal | None) -> Decimal | None:
        """The item's price for this service; None when the service's table ends below the item (or the value
        it is priced by is missing). `weight` is in the table's unit."""
        if self.is_free(price):
            return Decimal(0)
        if self.price is not None:
            return self.price
        if self.by_weight is not None:
            return None if weight is None else lookup(self.by_weight.tiers, weight)
        return None if price is None or self.by_price is None else lookup(self.by_price, price)

    def group(self, country: str, currency: str, rate: Decimal) -> list[tuple[str, Any]]:
        """The g:shipping children in Google's order (a target's own handling_days go on the item instead)."""
        out: list[tuple[str, Any]] = [("country", country), *([("region", self.region)] if self.region else []),
                                      ("service", self.service), ("price", f"{price_text(rate, currency)} {currency}")]
        out += speed("handling_time", self.handling_days) + speed("transit_time", self.transit_days)
        return out


def speed(name: str, days: Days | None) -> list[tuple[str, str]]:
    """`min_<name>`/`max_<name>` elements (whole business days), min only when given."""
    if days is None:
        return []
    return [*([(f"min_{name}", str(days.min))] if days.min is not None else []), (f"max_{name}", str(days.max))]
