"""A content record for a variant product giving a value its product model holds (importers.content). The
import loop's level check (pim.variant_levels.LevelGuard) would let a clear of it through, where it clears
nothing (the variant holds no such value: the model's keeps showing, and the import said `unchanged`), and
would refuse a new text with advice for whoever edits the family variants. A translator needs to hear which
model holds the value and how to change it from a content file: this step says so, for both. A sheet's edits
of such cells that every row of the model agrees on went to the model already (importers.content_sheet_edits),
so what reaches this step is a row alone (a JSON record, a CSV without the export's version)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from importers.gtin_check import problem_notes
from pim import content_sheet
from pim.attribute_changes import shown_value
from pim.catalog import Structure
from pim.content_sheet_held import HeldCells
from pim.importing import Parsed, Rejected
from pim.product import EMPTY, Product
from pim.store import Store
from pim.store.store import batched
from pim.variant_levels import below, blank, model_placement


def model_values_noted(items: Iterator[Parsed | Rejected], store: Store, structure: Structure, model_field: str,
                       batch: int = 500) -> Iterator[Parsed | Rejected]:
    """Take a variant record's clears and differing texts of values its model holds out of the record, each noted
    as a problem of the record naming the model and what to write instead (a clear of a value the model does not
    have either is dropped quietly: nothing to clear). One read of the records' shown values per `batch`."""
    held = HeldCells(structure)
    if not held.levels:
        yield from items
        return
    for chunk in batched(items, batch):
        found = [(n, item.record) for n, item in enumerate(chunk)
                 if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.values]
        shown = content_sheet.shown_values(store, [r.identifier for _, r in found]) if found else {}
        for n, record in found:
            values = shown.get(record.identifier)
            origins = _held_by_models(held, values, record.values) if values else {}
            notes = [(key, why) for key in list(record.values) if key in origins
                     if (why := _taken_out(held, record, key, values, origins)) is not None]  # type: ignore[arg-type]
            if notes:
                item = chunk[n]
                source = record.source.source if record.source else ""
                item.problems = [*item.problems, *problem_notes(  # type: ignore[union-attr]
                    [(key, why.replace("{model_field}", model_field)) for key, why in notes], item.file, item.line,
                    item.raw, record.identifier, source)]
        yield from chunk


def _held_by_models(held: HeldCells, shown: dict[str, Any], keys: Any) -> dict[str, str]:
    """Each of `keys` a model level holds for this variant (by the family variant, not by where a value happens
    to be stored: a variant-level value a model holds by mistake is the variant's to give) → that model."""
    lineage = getattr(shown, "lineage", None)
    if not lineage:
        return {}
    return held.origins(lineage, keys, shown.keys() - content_sheet.inherited_from(shown).keys())


def _taken_out(held: HeldCells, record: Product, key: str, shown: dict[str, Any], origins: dict[str, str]) -> str | None:
    """Why `key` is taken out of `record` (its model `origins[key]` holds it), or None when it stays for the
    level check (the model's own text repeated: dropped there quietly). A clear of nothing is taken out silently."""
    cell, now, model = record.values[key], shown.get(key), origins[key]
    if cell not in EMPTY and cell == now:
        return None
    del record.values[key]
    record.provenance.pop(key, None)
    if cell in EMPTY:
        return None if blank(now) else _not_cleared(key, now, model)
    return _held_reason(held, shown, key, model)


def _not_cleared(key: str, now: Any, model: str) -> str:
    return (f"not cleared: '{key}' shows {shown_value(now)} from product model '{model}', which holds it "
            f"for all its variants; a variant's row cannot clear it — clear it on the model: a row with '{model}' in "
            "the '{model_field}' column (JSON: field '{model_field}') and this cell empty, or the same empty cell in "
            "the rows of all its variants of a sheet `pim export sheet` wrote, or on the model's page")


def _held_reason(held: HeldCells, shown: dict[str, Any], key: str, model: str) -> str:
    """The level check's words for where the value belongs, with advice for a content file."""
    lineage = getattr(shown, "lineage", [])
    code, family_variant, parent = lineage[0]
    at = below(model_placement(family_variant, parent))
    where = held.levels.reason(at, key, code, lineage=[c for c, _, _ in lineage]).split(": set it on the model")[0]
    return (f"{where}: set it on model '{model}' — a row with '{model}' in the '{{model_field}}' column (JSON: field "
            "'{model_field}'), or the same new text in the rows of all its variants of a sheet `pim export sheet` "
            "wrote; the value was not stored")
