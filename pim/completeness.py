"""Completeness with Akeneo's semantics, per product × channel × locale, and the content team's report.

The rules (Akeneo's): the required attributes are the family's requirements for the channel plus the
identifier; a localizable attribute is required on each of the channel's locales, a locale-specific one only on
its locales; a scopable value is read for the channel only; a value is filled unless null, "" or []
(false and 0 are filled); a metric needs amount and unit; a price collection needs every channel currency;
an image counts only when its asset is valid; variants count what they inherit from their product models.
ratio = 100 when nothing is required, else floor(100 × (required − missing) / required).

Scoring here is pure (records in, scores out); pim.rescore keeps the stored scores current and
`report` reads the counters it maintains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from pim.catalog import Structure
from pim.product import value_key
from pim.structure import AttributeType
from pim.values import is_filled

_ASSET_TYPES = (AttributeType.image, AttributeType.file)


def ratio(required: int, missing: int) -> int:
    return 100 if required == 0 else (100 * (required - missing)) // required


@dataclass(frozen=True)
class Slot:
    """One required value: attribute `attribute`, read at `key`, checked as `type`."""

    attribute: str
    key: str
    type: AttributeType


@dataclass(frozen=True)
class Score:
    channel: str
    locale: str
    family: str
    required: int
    missing: tuple[str, ...]

    @property
    def ratio(self) -> int:
        return ratio(self.required, len(self.missing))


class Requirements:
    """The structure compiled into required slots per family × channel × locale (cached: the structure is
    small, products are many)."""

    def __init__(self, structure: Structure) -> None:
        self.structure = structure
        self.identifier = structure.identifier_attribute
        self._slots: dict[tuple[str, str, str], list[Slot]] = {}

    def required_codes(self, family: str, channel: str) -> list[str]:
        fam = self.structure.families[family]
        codes = [self.identifier] + [c for c in fam.requirements.get(channel, []) if c != self.identifier]
        return [c for c in codes if c in self.structure.attributes or c == self.identifier]

    def slots(self, family: str, channel: str, locale: str) -> list[Slot]:
        cache_key = (family, channel, locale)
        if cache_key not in self._slots:
            out: list[Slot] = []
            for code in self.required_codes(family, channel):
                attr = self.structure.attributes.get(code)
                if attr is None:  # an identifier attribute the structure does not declare
                    out.append(Slot(code, code, AttributeType.identifier))
                    continue
                if attr.available_locales and locale not in attr.available_locales:
                    continue  # locale-specific: required only on its locales
                key = value_key(code, locale if attr.localizable else None, channel if attr.scopable else None)
                out.append(Slot(code, key, attr.type))
            self._slots[cache_key] = out
        return self._slots[cache_key]

    def score(
        self,
        family: str | None,
        values: Mapping[str, Any],
        identifier: str | None = None,
        *,
        channels: Iterable[str] | None = None,
        invalid_assets: frozenset[str] | set[str] = frozenset(),
    ) -> list[Score]:
        """Scores on every locale of every channel (or of `channels`). No family → no completeness."""
        if not family or family not in self.structure.families:
            return []
        scores = []
        for ch_code in channels if channels is not None else self.structure.channels:
            channel = self.structure.channels.get(ch_code)
            if channel is None:
                continue
            for locale in channel.locales:
                missing = []
                slots = self.slots(family, ch_code, locale)
                for slot in slots:
                    data = values.get(slot.key)
                    if slot.attribute == self.identifier and data in (None, "") and identifier:
                        data = identifier
                    if not _filled(slot, data, channel.currencies, invalid_assets):
                        missing.append(slot.attribute)
                scores.append(Score(ch_code, locale, family, len(slots), tuple(missing)))
        return scores


def _filled(slot: Slot, data: Any, currencies: list[str], invalid_assets: Any) -> bool:
    if not is_filled(slot.type, data, currencies):
        return False
    if slot.type in _ASSET_TYPES and isinstance(data, str) and data in invalid_assets:
        return False
    return True


def asset_refs(values: Mapping[str, Any], structure: Structure) -> set[str]:
    """Image and file references among a record's values (what the asset-validity hook is asked about)."""
    refs = set()
    for key, data in values.items():
        attr = structure.attributes.get(key.split(":", 1)[0].split("@", 1)[0])
        if attr is not None and attr.type in _ASSET_TYPES and isinstance(data, str) and data:
            refs.add(data)
    return refs


# ---------------------------------------------------------------------------------------------- report
class LocaleCounts(BaseModel):
    locale: str
    products: int
    complete: int
    incomplete: int


class TodoItem(BaseModel):
    """`products` products in `family` miss `attribute` on `locale` for `channel`."""

    channel: str
    locale: str
    family: str
    attribute: str
    products: int

    def sentence(self) -> str:
        return f"{self.products} products in family {self.family} miss {self.attribute} ({self.locale}) for {self.channel}"


class GateReport(BaseModel):
    channel: str
    locales: list[LocaleCounts]
    blocked: int
    blocked_by_reason: dict[str, int]
    todo: list[TodoItem]


def report(store: Any, channel: str, locale: str | None = None, *, todo_limit: int | None = None) -> GateReport:
    """Counts per locale, blocked products by reason (from the last gate decisions) and the to-do list,
    read from counters kept current on every write: no catalog scan."""
    from pim.scoring_tables import COMPLETENESS_COUNT as CC
    from pim.scoring_tables import GATE_COUNT as GC
    from pim.scoring_tables import MISSING_COUNT as MC

    with store.engine.connect() as conn:
        q = (select(CC.c.locale, func.sum(CC.c.products), func.sum(CC.c.complete))
             .where(CC.c.channel == channel).group_by(CC.c.locale).order_by(CC.c.locale))
        if locale:
            q = q.where(CC.c.locale == locale)
        locales = [LocaleCounts(locale=loc, products=int(n or 0), complete=int(c or 0), incomplete=int((n or 0) - (c or 0)))
                   for loc, n, c in conn.execute(q)]
        reasons = {k: int(n) for k, n in conn.execute(select(GC.c.kind, GC.c.products)
                                                      .where(GC.c.channel == channel, GC.c.products > 0))}
        tq = (select(MC.c.locale, MC.c.family, MC.c.attribute, MC.c.products)
              .where(MC.c.channel == channel, MC.c.products > 0)
              .order_by(MC.c.products.desc(), MC.c.family, MC.c.attribute, MC.c.locale))
        if locale:
            tq = tq.where(MC.c.locale == locale)
        if todo_limit:
            tq = tq.limit(todo_limit)
        todo = [TodoItem(channel=channel, locale=loc, family=fam, attribute=attr, products=int(n))
                for loc, fam, attr, n in conn.execute(tq)]
    blocked = reasons.pop("*", 0)
    if locale:
        reasons = {k: n for k, n in reasons.items() if not k.startswith("completeness:") or k == f"completeness:{locale}"}
    return GateReport(channel=channel, locales=locales, blocked=blocked, blocked_by_reason=reasons, todo=todo)


def stored_completeness(store: Any, identifier: str) -> list[dict[str, Any]]:
    """The stored rows of one product (channel, locale, ratio, required, missing), for the UI and tests."""
    from pim.scoring_tables import COMPLETENESS as C

    with store.engine.connect() as conn:
        rows = conn.execute(select(C).where(C.c.product == identifier).order_by(C.c.channel, C.c.locale))
        return [dict(r._mapping) for r in rows]
