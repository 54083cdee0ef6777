"""Checking canonical records against the structure. Importers only parse and map; this is where a record
is accepted or rejected, so every source is held to the same rules."""

from __future__ import annotations

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

    def check_values(self, values: dict[str, Any], allowed: set[str] | None) -> list[Problem]:
        problems: list[Problem] = []
        for key in list(values):
            problem = self.check_key(key)
            if problem:
                problems.append(problem)
                continue
            attr_code = key.split(":", 1)[0].split("@", 1)[0]
            attr = self.s.attributes[attr_code]
            if allowed is not None and attr_code not in allowed and attr.type != AttributeType.identifier:
                problems.append(Problem(key, f"'{attr_code}' is not an attribute of this family"))
                continue
            data = values[key]
            if attr.type in _TEXTUAL and type(data) is str and not attr.max_characters and not attr.validation_regexp:
                if attr.type != AttributeType.identifier or ("\n" not in data and data.strip()):
                    continue  # fast path: already canonical
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
