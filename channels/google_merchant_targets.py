"""Google Merchant feed targets: Google wants one feed per target country, in that country's currency and a
language it accepts, with the shipping (and, for the US, tax) that applies there. A catalog lists them under
`options.targets`; without them the feed is one file per locale in the catalog's first currency, as before.

    options:
      targets:
        - {country: DE, locale: de_DE, currency: EUR, shipping: [{service: Standard, price: "4.90"}]}
        - {country: CH, locale: de_DE, currency: CHF, shipping: [{service: Post, price: "9.00"}]}
        - {country: US, locale: en_US, currency: USD, tax: [{region: CA, rate: 7.25, tax_ship: true}]}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pim.errors import ConfigError
from pim.catalog import Structure


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Shipping(_Strict):
    """One `g:shipping` entry: a service's flat price to the target country (or a region of it)."""

    service: str = Field(min_length=1, max_length=100)
    price: Decimal = Field(ge=0, description="In the target's currency.")
    region: str | None = Field(default=None, max_length=100, description="e.g. a US state code; the whole country when unset.")


class Tax(_Strict):
    """One `g:tax` entry (Google asks for it in the US only)."""

    rate: Decimal = Field(ge=0, le=100, description="Percent.")
    region: str | None = Field(default=None, max_length=100)
    tax_ship: bool = False


class Target(_Strict):
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country the feed is for.")
    locale: str = Field(description="A locale of the scope channel: the feed's language.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="A currency of the scope channel: the feed's prices.")
    shipping: list[Shipping] = []
    tax: list[Tax] = []

    @property
    def label(self) -> str:
        """Names the target in file names and blocked reasons: `DE-de_DE`."""
        return f"{self.country}-{self.locale}"

    def extra_fields(self) -> list[tuple[str, Any]]:
        """The g:shipping and g:tax elements of every item of this target (nested children)."""
        out: list[tuple[str, Any]] = []
        for s in self.shipping:
            out.append(("shipping", [("country", self.country), *([("region", s.region)] if s.region else []),
                                     ("service", s.service), ("price", f"{s.price:.2f} {self.currency}")]))
        for t in self.tax:
            out.append(("tax", [("country", self.country), *([("region", t.region)] if t.region else []),
                                ("rate", f"{t.rate}"), ("tax_ship", "yes" if t.tax_ship else "no")]))
        return out


def feed_targets(options: dict[str, Any], scope: str, locales: list[str], currencies: list[str],
                 structure: Structure) -> list[Target] | None:
    """The catalog's targets, checked against the scope channel; None when it declares none."""
    raw = options.get("targets")
    if raw is None:
        return None
    try:
        targets = [Target.model_validate(t) for t in raw]
    except (ValidationError, TypeError) as exc:
        raise ConfigError(f"google_merchant options.targets: {exc}",
                          hint="each target needs country (DE), locale (de_DE) and currency (EUR)") from None
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"google_merchant options.targets: a country and locale appear twice ({', '.join(labels)})")
    for t in targets:
        if t.locale not in locales:
            raise ConfigError(f"google_merchant target {t.country}: locale '{t.locale}' is not one of channel "
                              f"'{scope}'", hint=f"use one of: {', '.join(locales)}")
        if t.currency not in currencies:
            raise ConfigError(f"google_merchant target {t.country}: currency '{t.currency}' is not one of channel "
                              f"'{scope}'", hint=f"add it to the channel's currencies or use one of: {', '.join(currencies)}")
    return targets
