"""An in-memory view of the catalog structure (small even for large catalogs: thousands of items, not
millions), with the lookups importers, completeness and channels need."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pim.measures import Measures, builtin
from pim.structure import (
    AssociationType,
    Attribute,
    AttributeGroup,
    AttributeOption,
    AttributeType,
    Category,
    Channel,
    Currency,
    Family,
    FamilyVariant,
    Locale,
    MeasurementFamily,
)


@dataclass
class Structure:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    options: dict[str, dict[str, AttributeOption]] = field(default_factory=dict)
    attribute_groups: dict[str, AttributeGroup] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)
    family_variants: dict[str, FamilyVariant] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    locales: dict[str, Locale] = field(default_factory=dict)
    currencies: dict[str, Currency] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    association_types: dict[str, AssociationType] = field(default_factory=dict)
    measurement_families: dict[str, MeasurementFamily] = field(default_factory=dict)

    @classmethod
    def from_items(cls, items: dict[str, list[Any]]) -> "Structure":
        s = cls()
        for kind, values in items.items():
            if kind == "attribute_option":
                for opt in values:
                    s.options.setdefault(opt.attribute, {})[opt.code] = opt
                continue
            target = getattr(s, _PLURAL[kind])
            for item in values:
                target[item.code] = item
        return s

    # ---------------------------------------------------------------- lookups
    @cached_property
    def measures(self) -> Measures:
        """The measurement catalogue metric values are checked against: the built-in families, extended by the
        declared ones. Built on first use and kept (structures are read-only once loaded)."""
        declared = list(self.measurement_families.values())
        return builtin().extended(declared) if declared else builtin()

    @property
    def identifier_attribute(self) -> str:
        for code, attr in self.attributes.items():
            if attr.type == AttributeType.identifier:
                return code
        return "sku"

    def option_codes(self, attribute: str) -> set[str]:
        return set(self.options.get(attribute, {}))

    def enabled_locales(self) -> list[str]:
        used = {loc for ch in self.channels.values() for loc in ch.locales}
        return sorted(used | {c for c, loc in self.locales.items() if loc.enabled and c in used})

    def children(self) -> dict[str | None, list[str]]:
        tree: dict[str | None, list[str]] = defaultdict(list)
        for code, cat in self.categories.items():
            tree[cat.parent].append(code)
        return tree

    def subtree(self, code: str) -> set[str]:
        """`code` and every category below it (a cycle ends the walk rather than looping)."""
        children = self.children()
        out: set[str] = set()
        todo = [code]
        while todo:
            current = todo.pop()
            if current not in out:
                out.add(current)
                todo.extend(children.get(current, []))
        return out

    def category_path(self, code: str) -> list[str]:
        """Root first. Stops on a cycle rather than looping."""
        path: list[str] = []
        seen: set[str] = set()
        current: str | None = code
        while current and current in self.categories and current not in seen:
            seen.add(current)
            path.append(current)
            current = self.categories[current].parent
        return list(reversed(path))

    def tree_of(self, code: str) -> str | None:
        path = self.category_path(code)
        return path[0] if path else None

    def family_of_variant(self, family_variant: str) -> str | None:
        fv = self.family_variants.get(family_variant)
        return fv.family if fv else None


_PLURAL = {
    "attribute": "attributes",
    "attribute_group": "attribute_groups",
    "family": "families",
    "family_variant": "family_variants",
    "channel": "channels",
    "locale": "locales",
    "currency": "currencies",
    "category": "categories",
    "association_type": "association_types",
    "measurement_family": "measurement_families",
}
