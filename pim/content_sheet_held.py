"""Which cells of a variant's sheet row its product model holds, by the family variant's levels: the model's
value shows there, and an edit of it belongs on the model (importers.content_sheet_edits). Split from
pim.content_sheet, whose `Shown` only knows the values a model has: a model without a value yet in a locale
(a new locale being translated) still holds that cell, so the sheet marks it and takes the translation to the
model like any other inherited cell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pim.catalog import Structure
from pim.product import split_key
from pim.variant_levels import VariantLevels, below, model_placement


class HeldCells:
    """Value key → the model that holds it, for variants under models whose family variants `structure` knows.
    Built once per export or import; a key's attribute is split once."""

    def __init__(self, structure: Structure) -> None:
        self.levels = VariantLevels(structure)
        self._attrs: dict[str, str] = {}

    def origins(self, lineage: list[tuple[str, str, str | None]], keys: Iterable[str],
                own: Any = ()) -> dict[str, str]:
        """For a variant whose models are `lineage` (code, family variant, parent; nearest first): each of `keys`
        a model level holds → that model's code; keys in `own` (the variant's own values) are left out."""
        if not lineage or not self.levels:
            return {}
        parent, family_variant, grandparent = lineage[0]
        at = below(model_placement(family_variant, grandparent))
        codes = [code for code, _, _ in lineage]
        out: dict[str, str] = {}
        for key in keys:
            if key in own:
                continue
            attr = self._attrs.get(key)
            if attr is None:
                attr = self._attrs[key] = split_key(key)[0]
            holder = self.levels.holder(at, attr, codes)
            if holder is not None:
                out[key] = holder
        return out
