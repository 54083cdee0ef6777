"""Which cells of a sheet brought back are edits (importers.content): untouched or unchanged cells claim
nothing, and what Excel retyped is put back or its row rejected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from importers.content_checks import attribute_of
from importers.content_sheet_edits import SheetEdits, SheetRow
from pim import content_sheet, excel_dates, excel_skus
from pim.catalog import Structure
from pim.content_sheet_held import HeldCells
from pim.importing import Parsed, Rejected
from pim.product import Product
from pim.store import Store
from pim.store.store import batched
from pim.structure import Attribute


def keep_edits(items: Iterator[Parsed | Rejected], store: Store, structure: Structure, batch: int = 500, *,
               claim_unchanged: bool = False, sku_field: str = content_sheet.SKU_COLUMN) -> Iterator[Parsed | Rejected]:
    """Drop the cells of product records that are no edit: untouched since the export by the row's version
    (pim.content_sheet.untouched), or, without one, still saying what the product shows
    (pim.content_sheet.unchanged). A sheet exported, edited and imported claims its edited cells only, and
    an untouched cell never claims its export-time text over a value another source has changed since.
    `claim_unchanged` keeps the cells that say what the product shows now (untouched or not) as claims; it
    still drops untouched ones that no longer do. A cell Excel turned into another number or into a date is
    read as the text it stands for, or its record rejected when it stands for none (_excel, _excel_date); a
    SKU Excel retyped is put back when the version proves it, else its record rejected rather than creating
    or updating the wrong product (_fix_skus). An edit of a value that changed since the export, or of one a
    variant inherits, is settled by SheetEdits. One read of the shown values per `batch` records."""
    options = {code: set(opts) for code, opts in structure.options.items()}
    edits = SheetEdits(store, structure)
    held = HeldCells(structure)
    for chunk in batched(items, batch):
        records = [(n, item.record, content_sheet.read_version((item.raw or {}).get(content_sheet.VERSION_COLUMN)))
                   for n, item in enumerate(chunk) if isinstance(item, Parsed) and isinstance(item.record, Product)]
        if claim_unchanged:  # a record without version keeps every cell: read it only for Excel's doing
            records = [(n, record, version) for n, record, version in records
                       if version or _any_excel_suspect(record, structure) or excel_skus.suspect(record.identifier)]
        shown = content_sheet.shown_values(store, [r.identifier for _, r, _ in records]) if records else {}
        records = _fix_skus(store, chunk, records, shown, sku_field)
        rows: list[SheetRow] = []
        for n, record, version in records:
            values = shown.get(record.identifier)
            known = values is not None  # an unknown SKU (created, or quarantined later) is still checked for Excel
            if not known and not _any_excel_suspect(record, structure):
                continue
            values = values or {}
            row = (SheetRow(n, record, version, content_sheet.inherited_from(values, record.values, held))
                   if known and version else None)
            problems: list[tuple[str, str]] = []
            for key, cell in list(record.values.items()):
                attr = attribute_of(structure, key)
                if attr is None:
                    continue
                measures, opts = structure.measures, options.get(attr.code)
                shown_value = values.get(key)
                same = known and content_sheet.untouched(version, record.identifier, key, cell)
                drop = known and _no_claim(attr, cell, shown_value, same, opts, measures, claim_unchanged)
                if not drop:
                    meant, problem = _excel(attr, record.identifier, key, cell, shown_value, version)
                    if problem:
                        problems.append((key, problem))
                        continue
                    if meant is not None:
                        record.values[key] = cell = meant
                        same = known and content_sheet.untouched(version, record.identifier, key, cell)
                        drop = known and _no_claim(attr, cell, shown_value, same, opts, measures, claim_unchanged)
                if drop:
                    del record.values[key]
                    record.provenance.pop(key, None)
                if row is not None:
                    edit = not drop and not (claim_unchanged and content_sheet.unchanged(attr, cell, shown_value, opts,
                                                                                         measures))
                    row.cell(attr, key, cell, shown_value, same=same, edit=edit)
            if problems:
                item = chunk[n]
                chunk[n] = Rejected("; ".join(f"{key}: {reason}" for key, reason in problems), item.file, item.line,
                                    problems[0][0], item.raw, record.identifier)
            elif row is not None:
                rows.append(row)
        edits.settle(rows, chunk)
        yield from chunk
    yield from edits.models.records()


_Checked = list[tuple[int, Product, "frozenset[bytes] | None"]]


def _fix_skus(store: Store, chunk: list[Parsed | Rejected], records: _Checked, shown: dict[str, dict[str, Any]],
              column: str) -> _Checked:
    """Put back the SKUs Excel retyped that the rows' versions prove (pim.excel_skus), reading what those
    products show into `shown`; reject the rows whose SKU is Excel's rendering of one nothing proves. Returns
    the records left to check."""
    rows = [excel_skus.SkuRow(n, record.identifier, record.values, version, record.identifier in shown)
            for n, record, version in records if excel_skus.suspect(record.identifier)]
    fixes = excel_skus.resolve(store, rows, column=column) if rows else {}
    if not fixes:
        return records
    kept: _Checked = []
    for n, record, version in records:
        fix = fixes.get(n)
        if fix is not None and fix.sku is None:
            item = chunk[n]
            chunk[n] = Rejected(fix.reason or "", item.file, item.line, column, item.raw, record.identifier)
            continue
        if fix is not None and fix.sku:
            record.identifier = fix.sku
        kept.append((n, record, version))
    proven = [fix.sku for fix in fixes.values() if fix.sku and fix.sku not in shown]
    if proven:
        shown.update(content_sheet.shown_values(store, proven))
    return kept


def _no_claim(attr: Attribute, cell: Any, shown: Any, same: bool, options: set[str] | None, measures: Any,
              claim_unchanged: bool) -> bool:
    """Whether a cell is no claim: untouched since the export (`same`; and, with claim_unchanged, no longer
    what the product shows), or, without claim_unchanged, still what the product shows."""
    if same:
        return not claim_unchanged or not content_sheet.unchanged(attr, cell, shown, options, measures)
    return not claim_unchanged and content_sheet.unchanged(attr, cell, shown, options, measures)


def _excel(attr: Attribute, sku: str, key: str, cell: Any, shown: Any, version: frozenset[bytes] | None
           ) -> tuple[str | None, str | None]:
    """(the text a cell Excel retyped stands for, None) or (None, the quarantine's reason when it stands for no
    text we know and reads as Excel's doing); (None, None) for a cell the team typed (or no suspect at all)."""
    if content_sheet.excel_suspect(attr, cell):
        shown_text = content_sheet.cell_text(attr, shown).strip()
        meant = content_sheet.excel_meant(attr, cell, shown_text, version, sku, key)
        if meant is not None:
            return meant, None
        if content_sheet.excel_mangled(attr, cell, shown_text):
            return None, content_sheet.excel_reason(cell)
    return _excel_date(attr, sku, key, cell, shown, version)


def _excel_date(attr: Attribute, sku: str, key: str, cell: Any, shown: Any, version: frozenset[bytes] | None
                ) -> tuple[str | None, str | None]:
    """A date column's cell Excel rewrote as its locale shows dates (pim.excel_dates.date_meant), or a text
    column's text Excel read as a date, put back when the version (or the shown text) proves which."""
    if excel_dates.date_suspect(attr, cell):
        return excel_dates.date_meant(cell, content_sheet.cell_text(attr, shown).strip(), version, sku, key)
    if excel_dates.text_suspect(attr, cell):
        return excel_dates.text_meant(cell, content_sheet.cell_text(attr, shown).strip(), version, sku, key), None
    return None, None


def _any_excel_suspect(record: Product, structure: Structure) -> bool:
    return any((attr := attribute_of(structure, key)) is not None
               and (content_sheet.excel_suspect(attr, cell) or excel_dates.date_suspect(attr, cell)
                    or excel_dates.text_suspect(attr, cell))
               for key, cell in record.values.items())
