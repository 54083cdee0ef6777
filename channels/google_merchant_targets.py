"""Google Merchant feed targets: Google wants one feed per target country, in that country's currency and a
language it accepts, with the shipping (and, for the US, tax) that applies there. A catalog lists them under
`options.targets`; without them the feed is one file per locale in the catalog's first currency, as before.
Each item gets its own shipping price per service (flat, by weight, by price, free from a threshold:
channels.google_merchant_shipping), and a target with a threshold gives its items Google's
g:free_shipping_threshold (channels.google_merchant_free_shipping).

    options:
      targets:
        - {country: DE, locale: de_DE, currency: EUR, shipping: [{service: Standard, price: "4.90"}]}
        - {country: CH, locale: de_DE, currency: CHF, handling_days: {min: 0, max: 1},
           shipping: [{service: Post, by_weight: {unit: kg, tiers: [{up_to: 2, price: "9"}, {price: "15"}]}}]}
        - {country: US, locale: en_US, currency: USD, tax: [{region: CA, rate: 7.25, tax_ship: true}]}
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from channels import google_merchant_free_shipping as free_shipping
from channels.google_merchant_shipping import Days, Shipping, speed
from pim.catalog import Structure
from pim.errors import ConfigError
from pim.measures import Measures, UnitError

__all__ = ["COUNTRIES", "Shipping", "Target", "Tax", "feed_targets", "shipping_weight_family"]

# ISO 3166-1 alpha-2, the 249 officially assigned codes (as listed by Debian's iso-codes 4.15 and tzdata's
# iso3166.tab, which agree). Google asks for an ISO 3166-1 code wherever a country goes
# (https://support.google.com/merchants/answer/6324484); which of them Google serves is not checked here.
COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC
CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD
GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH
KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW
MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC
SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY
UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())
# Codes people write that ISO 3166-1 does not assign to the country meant (the EU's EL for Greece, UK).
_INSTEAD = {"UK": "GB", "EL": "GR"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tax(_Strict):
    """One `g:tax` entry (Google asks for it in the US only)."""

    rate: Decimal = Field(ge=0, le=100, description="Percent.")
    region: str | None = Field(default=None, max_length=100)
    tax_ship: bool = False


class Target(_Strict):
    """One feed: a country, the language and currency it is published in, its shipping services and tax."""

    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country the feed is for.")
    locale: str = Field(description="A locale of the scope channel: the feed's language.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="A currency of the scope channel: the feed's prices.")
    shipping: list[Shipping] = []
    tax: list[Tax] = []
    handling_days: Days | None = Field(default=None, description="Order to hand-over for every service, as the "
                                       "item's g:min_handling_time/g:max_handling_time.")

    @field_validator("country", mode="before")
    @classmethod
    def _iso_country(cls, value: Any) -> Any:
        if not isinstance(value, str) or value in COUNTRIES:
            return value
        if value.upper() in COUNTRIES:
            raise ValueError(f"'{value}': write country codes in capitals ({value.upper()})")
        instead = _INSTEAD.get(value.upper())
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code"
                         + (f"; use {instead}" if instead else " (two capital letters, such as DE, GB or US)"))

    @model_validator(mode="after")
    def _services(self) -> Target:
        seen: set[tuple[str, str | None]] = set()
        for s in self.shipping:
            if (s.service, s.region) in seen:
                where = f" for region {s.region}" if s.region else ""
                raise ValueError(f"service '{s.service}' is declared twice{where}; merge them or rename one")
            seen.add((s.service, s.region))
            if self.handling_days is not None and s.handling_days is not None:
                raise ValueError(f"handling_days is declared on the target and on service '{s.service}': Google uses "
                                 f"the service's and ignores the item's, so declare it in one place")
            if s.transit_days is not None and s.handling_days is None and self.handling_days is None:
                raise ValueError(f"service '{s.service}' has transit_days but no handling_days (on it or on the "
                                 f"target): Google needs both to show a delivery time")
        return self

    @model_validator(mode="after")
    def _shelf_prices(self) -> Target:
        """Rates and thresholds in the target's currency as Google shows them, like item prices: rounded once here,
        not per item (channels.google_merchant_shipping)."""
        self.shipping = [s.shelf_priced(self.currency) for s in self.shipping]
        return self

    @property
    def label(self) -> str:
        """Names the target in file names and blocked reasons: `DE-de_DE`."""
        return f"{self.country}-{self.locale}"

    def item_fields(self, weight: dict[str, Any] | None, price: Decimal | None, measures: Measures,
                    family: str | None) -> tuple[list[tuple[str, Any]], list[str]]:
        """One item's g:shipping groups (priced for it), its g:free_shipping_threshold, g:tax groups and handling
        times, or the reasons it cannot have them. `weight`: the catalog's mapped shipping_weight ({amount,
        unit}); `price`: what the item sells for in this target's currency. A service whose table ends below the
        item is left out (it does not carry it); a weight that a service needs but the item lacks blocks the item,
        as does no service left at all."""
        groups: list[tuple[str, Any]] = []
        left_out: list[str] = []
        reasons: list[str] = []
        for s in self.shipping:
            amount = None
            if s.by_weight is not None and s.needs_weight(price):
                if weight is None:
                    reasons.append("missing:shipping_weight")
                    break
                try:  # exact, not rounded like a field's unit: an item right at a bound stays in its tier
                    amount = measures.convert(weight["amount"], weight["unit"], s.by_weight.unit, family)
                except UnitError:
                    reasons.append(f"unit:shipping_weight:{weight.get('unit')}")
                    break
            rate = s.rate(amount, price)
            if rate is None:
                if price is not None or s.by_price is None:  # no price blocks as missing:price already
                    left_out.append(s.service)
                continue
            groups.append(("shipping", s.group(self.country, self.currency, rate)))
        if not reasons and left_out and not groups:
            reasons.append(f"no_shipping_rate:{','.join(left_out)}")
        if reasons:
            return [], reasons
        groups += free_shipping.item_fields(self)
        for t in self.tax:
            groups.append(("tax", [("country", self.country), *([("region", t.region)] if t.region else []),
                                   ("rate", f"{t.rate}"), ("tax_ship", "yes" if t.tax_ship else "no")]))
        return groups + speed("handling_time", self.handling_days), []


def shipping_weight_family(shipping_weight: Any, structure: Structure) -> str | None:
    """The measurement family of the metric attribute the catalog's shipping_weight field reads (a FieldMap or
    None); None when there is none, so no service can price by weight."""
    code = getattr(shipping_weight, "attribute", None)
    attr = structure.attributes.get(code) if code else None
    return attr.metric_family if attr is not None and attr.metric_family else None


def feed_targets(options: dict[str, Any], scope: str, locales: list[str], currencies: list[str],
                 structure: Structure, weight_family: str | None = None, source: Any = None) -> list[Target] | None:
    """The catalog's targets, checked against the scope channel and the structure's measures; None when it
    declares none. `weight_family`: shipping_weight_family(); by_weight tables need it. `source`: the catalog
    file, named with the line in a mistake (channels.declaration_files.line_in)."""
    raw = options.get("targets")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ConfigError("google_merchant options.targets must be a list of targets",
                          hint="each target needs country (DE), locale (de_DE) and currency (EUR)")
    targets = [_validated(n, t, source) for n, t in enumerate(raw)]
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"google_merchant options.targets: a country and locale appear twice ({', '.join(labels)})")
    for n, t in enumerate(targets):
        if t.locale not in locales:
            raise ConfigError(f"{_at(source, ('options', 'targets', n, 'locale'))}google_merchant target {t.country}: "
                              f"locale '{t.locale}' is not one of channel '{scope}'",
                              hint=_locale_gone(t, scope, locales, source))
        if t.currency not in currencies:
            raise ConfigError(f"google_merchant target {t.country}: currency '{t.currency}' is not one of channel "
                              f"'{scope}'", hint=f"add it to the channel's currencies or use one of: {', '.join(currencies)}")
        t.shipping = [_weight_unit(t, s, structure.measures, weight_family) for s in t.shipping]
    free_shipping.check(targets)
    return targets


def _at(source: Any, loc: tuple[Any, ...]) -> str:
    """"catalog.yaml, line 31: " for a catalog read from a file; nothing for a built-in or given one."""
    if not isinstance(source, (str, Path)) or not source:
        return ""
    from channels.declaration_files import line_in

    line = line_in(source, loc)
    return f"{source}, line {line}: " if line else f"{source}: "


def _locale_gone(t: Target, scope: str, locales: list[str], source: Any) -> str:
    """What to do about a target whose locale left the channel: its feed file from the last publish is still
    where Google fetches it (a failed publish removes nothing)."""
    where = str(source) if isinstance(source, (str, Path)) and source else "the catalog"
    return (f"remove target {t.country} from options.targets in {where} (or give it one of: {', '.join(locales)}; "
            f"or add {t.locale} back to channel {scope}'s locales) and publish again. Until a publish succeeds, the "
            f"feed published before, google_merchant/feed.{scope}.{t.label}.xml, stays where Merchant Center "
            f"fetches it with its old prices; the next successful publish removes it from the output folder "
            f"(delete it by hand at a remote target, or in Merchant Center remove the feed)")


def _validated(n: int, raw: Any, source: Any = None) -> Target:
    try:
        return Target.model_validate(raw)
    except ValidationError as exc:
        name = f" ({raw['country']})" if isinstance(raw, dict) and isinstance(raw.get("country"), str) else ""
        errors = exc.errors()
        problems = "; ".join(_problem(e) for e in errors)
        where = _at(source, ("options", "targets", n, *errors[0]["loc"])) if errors else _at(source, ())
        raise ConfigError(f"{where}google_merchant options.targets[{n}]{name}: {problems}",
                          hint="each target needs country (DE), locale (de_DE) and currency (EUR); each service "
                               "a price, by_weight or by_price") from None


def _problem(error: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if error.get("type") == "decimal_parsing" and isinstance(given, str) and "," in given:  # "6,90": a comma
        message += f" (got {given!r}: write {given.replace('.', '').replace(',', '.')!r}, with a point for decimals)"
    return f"{where}: {message}" if where else message


def _weight_unit(t: Target, s: Shipping, measures: Measures, family: str | None) -> Shipping:
    """The service with its by_weight unit resolved to a unit code of the weight attribute's family."""
    if s.by_weight is None:
        return s
    where = f"google_merchant target {t.label} service '{s.service}'"
    if family is None:
        raise ConfigError(f"{where} prices by_weight, but the catalog maps no shipping_weight field from a metric "
                          f"attribute", hint="add a field such as {output: shipping_weight, attribute: weight, unit: KILOGRAM}")
    code = measures.resolve(family, s.by_weight.unit)
    if code is None:
        known = measures.family(family)
        raise ConfigError(f"{where}: by_weight unit '{s.by_weight.unit}' is not a unit of {family}",
                          hint=f"use one of {known.examples()}" if known is not None else None)
    return s.model_copy(update={"by_weight": s.by_weight.model_copy(update={"unit": code})})
