"""What a BMEcat problem is about, and what a partial PRODUCT restates: a T_UPDATE_PRICES (or, under `updates:
delta`, a T_UPDATE_PRODUCTS) is taken in clean without stating the features or references its catalog had
problems with, and must not close those problems (pim.store.supersede.Carried.holds_problem). A problem's topic
is stored as its quarantine `kind` (`ABOUT` + topic); the record's topics travel in its raw (`RESTATES`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from importers.bmecat_map import BmecatMap
from pim.product import Product, split_key
from pim.store.supersede import ABOUT, RESTATES

PRICES, ASSOCIATIONS = "prices", "associations"
#: Problem fields (BMEcat elements) about the PRODUCT's prices (importers.bmecat_mapper.BmecatMapper._prices).
PRICE_FIELDS = frozenset({"PRODUCT_PRICE", "PRICE_QUANTITY", "PRICE_CURRENCY"})
#: A quarantine kind's longest length (QuarantineRow.kind): a longer topic is left without one (closed as before).
_KIND_LENGTH = 40


def topic(m: BmecatMap, field: str | None) -> str | None:
    """The topic of a problem noted on `field`: `prices`, `associations`, the attribute a mapped feature (its
    code) or a mapped element goes to; None for what no partial record leaves out (a GTIN, the PID)."""
    if not field:
        return None
    if field in PRICE_FIELDS:
        return PRICES
    if field == "PROD_ID_TO" or field.startswith("PRODUCT_REFERENCE"):
        return ASSOCIATIONS
    target = m.features.get(field)
    return target.attribute if target is not None else None


def kind(m: BmecatMap, field: str | None) -> str | None:
    """The quarantine kind of a problem on `field` (`topic`), None when it has none or it is too long to store."""
    about = topic(m, field)
    return None if about is None or len(ABOUT + about) > _KIND_LENGTH else ABOUT + about


def restated(m: BmecatMap, rec: Product, problems: Iterable[tuple[Any, ...]], held: Iterable[str],
             tiers: Iterable[Any], prices_only: bool, references: bool) -> list[str]:
    """The topics a partial PRODUCT restates: the attributes of its values and of those it gave but had skipped
    (`held`), its own problems' topics, `prices` when it has tiers or is a T_UPDATE_PRICES (`prices_only`: a price
    update restates its product's prices whatever it holds), `associations` when it states references."""
    topics = {split_key(k)[0] for k in rec.values} | {split_key(k)[0] for k in held}
    topics |= {t for field, *_ in problems if (t := topic(m, field)) is not None}
    if prices_only or m.price_attribute in topics or any(isinstance(t, dict) for t in tiers):
        topics.add(PRICES)
    if references or "associations" in rec.model_fields_set:
        topics.add(ASSOCIATIONS)
    return sorted(topics)


def mark_partial(raw: dict[str, Any], topics: list[str]) -> None:
    """Note in a partial record's raw what it restates (pim.importing reads it for `Carried.restates`)."""
    raw[RESTATES] = topics
