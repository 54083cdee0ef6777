"""Checking canonical records against the structure. Importers only parse and map; this is where a record
is accepted or rejected, so every source is held to the same rules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pim.catalog import Structure
from pim.product import Product, ProductModel, split_key
from pim.structure import AttributeType
from pim.values import ValueProblem, normalize


@dataclass
class Problem:
    field: str
    reason: str


_TEXTUAL = (AttributeType.text, AttributeType.textarea, AttributeType.identifier)


class RecordValidator:
    """Validates and normalises records in place. Built once per import: it caches the structure lookups."""

    def __init__(self, structure: Structure) -> None:
        self.s = structure
        self.channels = set(structure.channels)
        self.locales = set(structure.enabled_locales()) or set(structure.locales)
        self.option_sets = {code: set(opts) for code, opts in structure.options.items()}
        self.family_attrs = {code: set(f.attributes) for code, f in structure.families.items()}
        self._resolved: dict[str, tuple[Any, str, Problem | None]] = {}

    def check_key(self, key: str) -> Problem | None:
        attr_code, locale, channel = split_key(key)
        attr = self.s.attributes.get(attr_code)
        if attr is None:
            return Problem(key, f"unknown attribute '{attr_code}'; declare it in the structure first")
        if attr.localizable and not locale:
            return Problem(key, f"'{attr_code}' is localizable: give a locale ({attr_code}:en_US)")
        if not attr.localizable and locale:
            return Problem(key, f"'{attr_code}' is not localizable: drop the locale")
        if attr.scopable and not channel:
            return Problem(key, f"'{attr_code}' is scopable: give a channel ({attr_code}@ecommerce)")
        if not attr.scopable and channel:
            return Problem(key, f"'{attr_code}' is not scopable: drop the channel")
        if locale and self.locales and locale not in self.locales:
            return Problem(key, f"locale '{locale}' is not activated on any channel")
        if locale and attr.available_locales and locale not in attr.available_locales:
            return Problem(key, f"'{attr_code}' only applies to {attr.available_locales}")
        if channel and channel not in self.channels:
            return Problem(key, f"unknown channel '{channel}'")
        return None

    def _resolve(self, key: str) -> tuple[Any, str, Problem | None]:
        """(attribute, attribute code, problem) for a value key; cached, since a catalog reuses few keys."""
        hit = self._resolved.get(key)
        if hit is None:
            attr_code = key.split(":", 1)[0].split("@", 1)[0]
            hit = (self.s.attributes.get(attr_code), attr_code, self.check_key(key))
            if len(self._resolved) < 100_000:  # bounded: a file full of bogus keys must not grow it forever
                self._resolved[key] = hit
        return hit

    def _canonical(self, attr: Any, code: str, data: Any) -> bool:
        """True when normalize() would return `data` unchanged: the common case, skipped cheaply."""
        kind, t = attr.type, type(data)
        if kind in _TEXTUAL:
            if t is not str or attr.validation_regexp or (attr.max_characters and len(data) > attr.max_characters):
                return False
            return kind != AttributeType.identifier or ("\n" not in data and bool(data.strip()))
        if kind == AttributeType.simple_select:
            return t is str and data in self.option_sets.get(code, ())
        if kind == AttributeType.multi_select:
            opts = self.option_sets.get(code, ())
            return (t is list and all(type(o) is str and o in opts for o in data)
                    and all(a < b for a, b in zip(data, data[1:])))
        if kind == AttributeType.boolean:
            return t is bool
        if kind == AttributeType.number:
            if attr.number_min is not None or attr.number_max is not None or not attr.negative_allowed:
                return False
            return t is int or (t is float and attr.decimals_allowed and math.isfinite(data) and not data.is_integer())
        if kind in (AttributeType.image, AttributeType.file):
            return t is str and data != "" and data == data.strip()
        return False

    def check_values(self, values: dict[str, Any], allowed: set[str] | None) -> list[Problem]:
        problems: list[Problem] = []
        for key in list(values):
            attr, attr_code, problem = self._resolve(key)
            if problem:
                problems.append(problem)
                continue
            if allowed is not None and attr_code not in allowed and attr.type != AttributeType.identifier:
                problems.append(Problem(key, f"'{attr_code}' is not an attribute of this family"))
                continue
            data = values[key]
            if self._canonical(attr, attr_code, data):
                continue
            try:
                values[key] = normalize(attr, data, self.option_sets.get(attr_code))
            except ValueProblem as exc:
                problems.append(Problem(key, str(exc)))
        return problems

    def check_product(self, p: Product) -> list[Problem]:
        problems: list[Problem] = []
        allowed = None
        if p.family is not None:
            allowed = self.family_attrs.get(p.family)
            if allowed is None:
                return [Problem("family", f"unknown family '{p.family}'")]
        problems += self._categories(p.categories)
        problems += self._associations(p)
        problems += self.check_values(p.values, allowed)
        return problems

    def check_model(self, m: ProductModel) -> list[Problem]:
        fv = self.s.family_variants.get(m.family_variant)
        if fv is None:
            return [Problem("family_variant", f"unknown family variant '{m.family_variant}'")]
        m.family = fv.family
        return self._categories(m.categories) + self.check_values(m.values, self.family_attrs.get(fv.family))

    def _categories(self, codes: list[str]) -> list[Problem]:
        unknown = [c for c in codes if c not in self.s.categories]
        return [Problem("categories", f"unknown categories {unknown}")] if unknown else []

    def _associations(self, p: Product) -> list[Problem]:
        unknown = [t for t in p.associations if t not in self.s.association_types]
        return [Problem("associations", f"unknown association types {unknown}")] if unknown else []
