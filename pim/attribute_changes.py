"""Changing an existing attribute's group, type-specific settings or type without `pim structure load`, and
only in ways that leave every stored value valid as it is stored. Values are never rewritten here, so:

- what keys the values (localizable, scopable, available locales), the identifier attribute and `unique` stay
  as they are, each refusal saying why and that `pim structure load` is the way;
- a type changes only to a compatible one (COMPATIBLE), and then only when every stored value is already in
  the new type's canonical form (a simple select's "red" would have to become ["red"]: refused);
- a setting that narrows what is valid (tightened) is saved only when no value stored in a product or product
  model — valid under the old settings — is refused by the new ones; the refusal gives the count and a few
  examples with their values. One streamed pass per table (pim.attribute_usage.held_values_of) decodes just
  the attribute's values, which pim.values.normalize checks against both attributes (the extensions too); a
  structure load checks all its changed attributes in that same one pass. A loosened setting just saves.

The web page (pim.web.attributes) saves through Store.put_structure, so completeness, the grid index and the
structure cache follow as after a structure load."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pim.attribute_usage import (
    EXAMPLES,
    HOLDERS,
    catalog_mappings,
    counted,
    held_values_of,
)
from pim.catalog import Structure
from pim.store import Store
from pim.structure import Attribute, AttributeType
from pim.values import ValueProblem, normalize

T = AttributeType
#: Type changes that keep every stored value's shape: the values are then checked one by one (stored_problems).
COMPATIBLE: dict[AttributeType, frozenset[AttributeType]] = {
    T.text: frozenset({T.textarea}),
    T.textarea: frozenset({T.text}),
    T.simple_select: frozenset({T.multi_select}),  # only while no value is stored: "red" is not ["red"]
}
LOAD = "use `pim structure load`"
#: What the page never changes, and why.
FIXED = {
    "localizable": "it decides how values are keyed (name:en_US): every stored value's key would change",
    "scopable": "it decides how values are keyed (description@ecommerce): every stored value's key would change",
    "available_locales": "it decides which locale keys a value may have",
    "unique": ("the duplicate check keeps its own copy of unique values, filled as products are written "
               "(after `pim structure load`, run `pim gate rescore`)"),
}
_SHOWN = 40  # characters of a value shown in a refusal


# ---------------------------------------------------------------------------------------------- the change
def fixed_problems(old: Attribute, new: Attribute) -> list[str]:
    """The changes of `new` this page does not make (the identifier: none at all)."""
    if old.type == T.identifier:
        return [f"{old.code} is the identifier: its value is every product's key, so its settings stay as they "
                + f"are here; {LOAD}"]
    return [f"{name} stays {getattr(old, name)}: {why}; {LOAD}"
            for name, why in FIXED.items() if getattr(new, name) != getattr(old, name)]


def type_problem(s: Structure, old: Attribute, new: Attribute) -> str | None:
    """Why `old` cannot become `new`'s type in place (None: it can, if its stored values allow)."""
    if new.type == old.type:
        return None
    if new.type not in COMPATIBLE.get(old.type, frozenset()):
        allowed = ", ".join(sorted(COMPATIBLE.get(old.type, ()))) or "no other type"
        return (f"type {old.type.value} cannot become {new.type.value} here: stored values would need rewriting "
                f"({old.type.value} can become {allowed}); {LOAD}")
    axes = sorted(fv.code for fv in s.family_variants.values() if any(old.code in lv.axes for lv in fv.levels))
    if axes:
        return f"type stays {old.type.value}: {old.code} is a variant axis of {', '.join(axes)}"
    return None


def tightened(old: Attribute, new: Attribute) -> list[str]:
    """The changes that may refuse a value the old settings accepted (the type included)."""
    def below(limit: float | None, was: float | None) -> bool:  # a new or a lower upper limit
        return limit is not None and (was is None or limit < was)

    def above(limit: float | None, was: float | None) -> bool:  # a new or a higher lower limit
        return limit is not None and (was is None or limit > was)

    narrower = {
        "type": new.type != old.type,
        "max_characters": below(new.max_characters, old.max_characters),
        "validation_regexp": bool(new.validation_regexp) and new.validation_regexp != old.validation_regexp,
        "number_min": above(new.number_min, old.number_min),
        "number_max": below(new.number_max, old.number_max),
        "decimals_allowed": old.decimals_allowed and not new.decimals_allowed,
        "negative_allowed": old.negative_allowed and not new.negative_allowed,
        "metric_family": new.metric_family != old.metric_family,
        "allowed_extensions": bool(new.allowed_extensions) and not (
            old.allowed_extensions and set(new.allowed_extensions) >= set(old.allowed_extensions)),
    }
    return [name for name, narrows in narrower.items() if narrows]


def changes(old: Attribute, new: Attribute) -> list[str]:
    """"max_characters 50 → 20" for each field that differs, in the model's order."""
    def shown(v: Any) -> str:
        if v in (None, "", []):
            return "none"
        return ", ".join(map(str, v)) if isinstance(v, list) else str(v)

    return [f"{name} {shown(getattr(old, name))} → {shown(getattr(new, name))}"
            for name in Attribute.model_fields if name != "sort_order" and getattr(old, name) != getattr(new, name)]


def catalog_problems(old: Attribute, new: Attribute, s: Structure) -> list[str]:
    """A new measurement family must still hold the units the channel catalogs convert the attribute to."""
    if new.type != T.metric or new.metric_family == old.metric_family:
        return []
    family = s.measures.family(new.metric_family)
    return [f"the built-in {catalog.code} catalog converts it to {f.unit} (field {f.output}), "
            f"not a unit of {new.metric_family}"
            for catalog, fields in catalog_mappings(new.code) for f in fields
            if f.unit and (family is None or family.resolve(f.unit) is None)]


# ---------------------------------------------------------------------------------------------- stored values
def refusal(attr: Attribute, data: Any, s: Structure) -> str | None:
    """Why `attr` refuses the stored `data` as it is stored (None: it keeps it unchanged)."""
    try:
        canonical = normalize(attr, data, s.option_codes(attr.code), s.measures)
    except ValueProblem as exc:
        return str(exc)
    if canonical != data:
        return f"a {attr.type.value} value would be stored as {shown_value(canonical)}: it would need rewriting"
    return None


def shown_value(data: Any) -> str:
    """A stored value as a refusal quotes it: JSON, cut at a readable length."""
    text = json.dumps(data, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


#: Why a stored `key` = value cannot stay as it is (None: it can).
Why = Callable[[str, Any], str | None]


def stored_problems(store: Store, s: Structure, old: Attribute, new: Attribute, why: Why | None = None) -> list[str]:
    """The products and product models holding a value the old attribute keeps and the new one refuses: per
    table a count of rows and the first few (row key, value key, value, why). `why(key, value)` replaces that
    test (pim.structure_value_checks also checks the stored keys)."""
    def refused(key: str, data: Any) -> str | None:
        return None if refusal(old, data, s) is not None else refusal(new, data, s)

    return stored_problems_of(store, [(old.code, why or refused)])[0]


def stored_problems_of(store: Store, checks: list[tuple[str, Why]]) -> list[list[str]]:
    """stored_problems for many (attribute code, why) checks at once, in one streamed pass over each holding
    table for all their attributes (pim.attribute_usage.held_values_of): each check's lines, in order. A check
    sees its attribute's values in the same order and keeps its own count and examples, so its lines are those
    a pass of its own would give."""
    found: list[list[str]] = [[] for _ in checks]
    if not checks:
        return found
    by_code: dict[str, list[int]] = {}  # a code two files change has two checks
    for i, (code, _) in enumerate(checks):
        by_code.setdefault(code, []).append(i)
    with store.engine.connect() as conn:
        for table in HOLDERS:
            tallies = [_Tally() for _ in checks]
            for row, attribute, key, data in held_values_of(conn, table, list(by_code)):
                for i in by_code.get(attribute, ()):
                    tallies[i].see(row, key, data, checks[i][1])
            for lines, tally in zip(found, tallies, strict=True):
                if tally.count:
                    lines.append(tally.said(table))
    return found


@dataclass
class _Tally:
    """One check's refused rows in one table: how many, and the first EXAMPLES (one value per row)."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    last: str | None = None

    def see(self, row: str, key: str, data: Any, why: Why) -> None:
        if row == self.last or (reason := why(key, data)) is None:
            return
        self.count, self.last = self.count + 1, row
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{row}: {key} = {shown_value(data)}, {reason}")

    def said(self, table: str) -> str:
        more = "; …" if self.count > len(self.examples) else ""
        return (f"{counted(table, self.count)} {'holds' if self.count == 1 else 'hold'} a value it would refuse "
                f"({'; '.join(self.examples)}{more})")


def rule_problems(s: Structure, old: Attribute, new: Attribute) -> list[str]:
    """What this page never changes in place, whatever is stored: fixed settings and incompatible types."""
    problems = fixed_problems(old, new)
    if (why := type_problem(s, old, new)) is not None:
        problems.append(why)
    return problems
