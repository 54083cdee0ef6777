"""The measurement catalogue: Akeneo's measurement families (Weight, Length, …) with their unit codes, exact
conversions and the other spellings sources use (UN/ECE Rec 20 codes such as KGM in BMEcat FUNIT and SAP unit
fields, symbols such as kg), so that a metric value is checked against real units and converted exactly.

The built-in families live in measures.yaml. A structure's `measurement_families` extend them
(`Measures.extended`): a declared family with a built-in code keeps the built-in units and adds its own; a
declared unit with a built-in code replaces that unit's factor, offset and symbol and adds its aliases to the
built-in ones (so KGM still resolves); the standard unit cannot change. Other declared families are new.

Resolving a text to a unit code, within one family: exact text first (code, alias or symbol); then the unit code
in any case (kilogram); then, for all-upper-case text (ERP style: KG, MM, ML), any code, alias or symbol folded
to upper case; for lower-case or capitalised text (kg, kw, Kg), folded to lower case, except symbols led by the
mega prefix M, which such text never reaches (mpa is not MPa; a lower-case m is milli: mw is MILLIWATT; Mw is
refused). A folded spelling that fits two units resolves to neither (MBAR: MILLIBAR or MEGABAR). Mixed case
(mPa, KWh) only matches exactly. Every table is a dict built once per catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import cache
from pathlib import Path

from pim.structure import MeasurementFamily, rational

BUILTIN_FILE = Path(__file__).with_name("measures.yaml")
_MEGA = re.compile(r"M.")  # a symbol led by the mega prefix (MW, MPa, MΩ): lower-case text never folds onto it
_EXAMPLES = 6


class UnitError(ValueError):
    """A unit the family does not have, or a conversion across families."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit: its amount in the family's standard unit is (amount + offset) × factor."""

    code: str
    family: str
    factor: Fraction
    offset: Fraction
    symbol: str
    aliases: tuple[str, ...]

    def to_standard(self, amount: Fraction) -> Fraction:
        return (amount + self.offset) * self.factor

    def from_standard(self, amount: Fraction) -> Fraction:
        return amount / self.factor - self.offset

    def spelled(self) -> str:
        return f"{self.code} ({self.symbol})" if self.symbol else self.code


class Family:
    """A measurement family's units and the lookup tables that resolve a text to one of them."""

    def __init__(self, code: str, standard: str, labels: dict[str, str], units: dict[str, Unit]) -> None:
        self.code, self.standard, self.labels, self.units = code, standard, labels, units
        self.codes = frozenset(units)
        self.conflicts: list[str] = []
        self._exact: dict[str, str] = {}
        for unit in units.values():  # codes first: an alias or symbol never shadows another unit's code
            self._exact[unit.code] = unit.code
        for unit in units.values():
            for key in (unit.symbol, *unit.aliases):
                if not key or key == unit.code:
                    continue
                if self._exact.setdefault(key, unit.code) != unit.code:
                    self.conflicts.append(f"'{key}' names both {self._exact[key]} and {unit.code}")
        self._any_case = {code.upper(): code for code in units}
        self._upper = _folded(((k.upper(), c) for k, c in self._exact.items()))
        lower = ((k.lower(), c) for k, c in self._exact.items() if k in units or not _MEGA.match(k))
        self._lower = _folded(lower)

    def resolve(self, text: str) -> str | None:
        """The unit code `text` names in this family, or None (unknown, or ambiguous once case is ignored)."""
        hit = self._exact.get(text)
        if hit is not None:
            return hit
        text = text.strip()
        hit = self._exact.get(text) or self._any_case.get(text.upper())
        if hit is not None or not text:
            return hit
        if text.isupper():
            return self._upper.get(text)
        if text.islower() or (text[0] != "M" and text[0].isupper() and text[1:].islower()):  # Kg, not Mw
            return self._lower.get(text.lower())
        return None

    def examples(self) -> str:
        shown = [u.spelled() for u in list(self.units.values())[:_EXAMPLES]]
        more = len(self.units) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _folded(pairs: Iterable[tuple[str, str]]) -> dict[str, str | None]:
    """Folded spelling → unit code; None where two units fold together (ambiguous)."""
    table: dict[str, str | None] = {}
    for key, code in pairs:
        table[key] = code if table.get(key, code) == code else None
    return table


class Measures:
    """A catalogue of measurement families: the built-in one, or it extended by a structure's declarations."""

    def __init__(self, families: dict[str, Family]) -> None:
        self.families = families
        self._by_code = {code.upper(): family for code, family in families.items()}
        holders: dict[str, list[Family]] = {}
        for family in families.values():
            for code in family.units:
                holders.setdefault(code, []).append(family)
        self._holders = {code: tuple(found) for code, found in holders.items()}

    @property
    def conflicts(self) -> list[tuple[str, str]]:
        """(family, problem) for spellings that name two units of one family (the later declaration wins)."""
        return [(code, problem) for code, family in self.families.items() for problem in family.conflicts]

    def family(self, code: str | None) -> Family | None:
        """The family by its code (in any case: Akeneo treats weight and Weight as one)."""
        if not code:
            return None
        return self.families.get(code) or self._by_code.get(code.upper())

    def resolve(self, family: str, text: str) -> str | None:
        found = self.family(family)
        return found.resolve(text) if found is not None else None

    def units(self, family: str) -> list[str]:
        found = self.family(family)
        return list(found.units) if found is not None else []

    def unit_problem(self, family: Family, text: object, what: str = "unit") -> str:
        """Why `text` is not a unit of `family`, with units that are: the message an importer's quarantine shows."""
        return (f"{what} '{text}' is not a unit of {family.code}; use a unit code, symbol or UN/ECE code such as "
                f"{family.examples()}")

    def convert(self, amount: str | int | Decimal, unit: str, to: str, family: str | None = None) -> Decimal:
        """`amount` in `unit` expressed in `to`, exactly (a result that does not end is cut at 34 digits).
        Without `family`, the one family holding both units; UnitError when there is none."""
        source, target = self._units(unit, to, family)
        value = Decimal(str(amount).strip())
        if source is target:
            return value
        return _decimal(target.from_standard(source.to_standard(Fraction(value))))

    def _units(self, unit: str, to: str, family: str | None) -> tuple[Unit, Unit]:
        if family is not None:
            found = self.family(family)
            if found is None:
                raise UnitError(f"cannot convert {unit} to {to}: no measurement family '{family}'")
            candidates: tuple[Family, ...] = (found,)
        else:  # the families holding both codes; for a spelling that is no code, any family that resolves it
            one, two = self._holders.get(unit.upper(), ()), self._holders.get(to.upper(), ())
            candidates = tuple(f for f in one if f in two) or one or two or tuple(self.families.values())
        for found in candidates:
            a, b = found.resolve(unit), found.resolve(to)
            if a is not None and b is not None:
                return found.units[a], found.units[b]
        raise UnitError(f"cannot convert {unit} to {to}: {self._homes(unit)}, {self._homes(to)}")

    def _homes(self, unit: str) -> str:
        homes = [f.code for f in self.families.values() if f.resolve(unit) is not None]
        return f"{unit} is a unit of {' or '.join(homes)}" if homes else f"{unit} is no known unit"

    def extended(self, declared: Iterable[MeasurementFamily]) -> Measures:
        """This catalogue with declared families added, or merged into the built-in family of the same code."""
        families = dict(self.families)
        for model in declared:
            base = self.family(model.code)
            family = _family(model, base)
            families.pop(base.code if base is not None else model.code, None)
            families[family.code] = family
        return Measures(families)


def _family(model: MeasurementFamily, base: Family | None) -> Family:
    units: dict[str, Unit] = dict(base.units) if base is not None else {}
    code = base.code if base is not None else model.code
    for u in model.units:
        old = units.get(u.code)
        aliases = tuple(dict.fromkeys([*(old.aliases if old else ()), *u.aliases]))
        units[u.code] = Unit(u.code, code, rational(str(u.factor)), rational(str(u.offset)),
                             u.symbol or (old.symbol if old else ""), aliases)
    labels = {**(base.labels if base is not None else {}), **model.labels}
    family = Family(code, base.standard if base is not None else model.standard_unit, labels, units)
    if base is not None and model.standard_unit != base.standard:
        family.conflicts.insert(0, f"the built-in family {code} has the standard unit {base.standard}; "
                                   f"a declaration extends it and cannot change it to {model.standard_unit}")
    elif model.standard_unit not in units:
        family.conflicts.insert(0, f"the standard unit {model.standard_unit} is not one of its units")
    return family


def _decimal(value: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 34
        return Decimal(value.numerator) / Decimal(value.denominator)


@cache
def builtin() -> Measures:
    """The built-in catalogue (measures.yaml), read once per process."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(BUILTIN_FILE.read_text(encoding="utf-8"), Loader=loader)
    models = [MeasurementFamily.model_validate(item) for item in data["measurement_families"]]
    return Measures({}).extended(models)


def resolve(family: str, text: str) -> str | None:
    """The built-in catalogue's unit code for `text` in `family`."""
    return builtin().resolve(family, text)


def convert(amount: str | int | Decimal, unit: str, to: str, family: str | None = None) -> Decimal:
    """Convert with the built-in catalogue (see Measures.convert)."""
    return builtin().convert(amount, unit, to, family)


def units(family: str) -> list[str]:
    """The built-in catalogue's unit codes of `family`, in declaration order."""
    return builtin().units(family)
