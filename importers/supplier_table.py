"""Supplier CSV and XLSX files through a per-supplier mapping profile (schemas/supplier_table_map.schema.json).
Rows are keyed by the supplier's product id and GTIN; SKUs come from the cross-reference, then the GTIN,
then the profile's `unmatched` rule. Values merge by precedence like every other source. A GTIN that is none
(importers.gtin_check) is left out of the values and not matched on; the row is taken in with a `problem`, or,
when the cross-reference does not know it either, refused (never created apart from ours)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from importers.erp_csv import CsvRows, refuse_repeated
from importers.erp_values import (
    FIELDS,
    NumberFormat,
    Setter,
    ValueBuilder,
    ValueRule,
    partial_product,
    refusal,
)
from importers.gtin_check import (
    GtinFields,
    gtin_keys,
    gtin_reason,
    match_gtin,
    problem_notes,
    refuse_unlinked,
    supplier_hint,
    take_bad,
    unmatched_reason,
)
from importers.workbook import text_rows
from pim.catalog import Structure
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, run_import
from pim.merge import Precedence
from pim.product import trusted_provenance
from pim.sources import Encoding, SourceItem, SourceProfile, load_profile, match_skus, merger_for
from pim.store import Store
from pim.values import ValueProblem


class SupplierTableMap(SourceProfile, NumberFormat):
    """One supplier's spreadsheet or CSV: where the product id, GTIN and each value are."""

    source: str = Field(pattern=r"^supplier:[A-Za-z0-9_.-]+$", description="supplier:<name>")
    format: Literal["csv", "xlsx", "auto"] = Field(default="auto", description="auto: by file extension.")
    delimiter: str = Field(default=";", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: Encoding = "utf-8"
    sheet: str | None = Field(default=None, description="XLSX sheet name; the first sheet when unset.")
    header_row: int = Field(default=1, ge=1, description="XLSX row holding the column names.")
    pid_column: str = Field(description="The supplier's own product id.")
    gtin_column: str | None = Field(default=None, description="GTIN/EAN column, the fallback for matching.")
    family: str | None = Field(default=None, description="Family of products this file creates.")
    columns: dict[str, str | ValueRule] = Field(default={}, description="Header → value key, or a rule.")

    @property
    def sku_column(self) -> str:  # CsvRows checks this column is in the header
        return self.pid_column

    def rules(self) -> dict[str, ValueRule]:
        return {col: r if isinstance(r, ValueRule) else ValueRule(to=r) for col, r in self.columns.items()}


def _cell_text(value: Any, m: SupplierTableMap) -> str:
    """XLSX cells arrive typed; give the value builder the text a CSV export would have had."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime(m.date_format)
    if isinstance(value, date):
        return value.strftime(m.date_format)
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text.replace(".", m.decimal) if m.decimal == "," else text
    return str(value)


def xlsx_rows(path: Path, m: SupplierTableMap) -> Iterator[tuple[list[str], int, list[str]] | Rejected]:
    """(header, line, cells) for each data row, streaming the profile's sheet (importers.workbook); a row with a
    formula cell the workbook holds no value for, in a column the profile reads, is rejected."""
    seen = False
    read = {m.pid_column, *m.columns, *(r.unit_from for r in m.rules().values() if r.unit_from)}
    if m.gtin_column:  # matched on, even when not mapped to a value
        read.add(m.gtin_column)

    def check_header(header: list[str], number: int) -> list[str]:
        nonlocal seen
        seen = True
        if m.pid_column not in header:
            raise InputError(f"no '{m.pid_column}' column in row {m.header_row} (found: {', '.join(h for h in header if h)[:200]})",
                             file=path.name, line=number, field=m.pid_column, hint="check header_row and pid_column in the profile")
        refuse_repeated(header, {m.pid_column, *m.columns}, path.name, number)
        return header

    for item in text_rows(path, lambda v: _cell_text(v, m), check_header, sheet=m.sheet, header_row=m.header_row,
                          columns=read, reject_unsaved=True,
                          hint="save it as .xlsx (Excel 2007+), or export CSV and set format: csv"):
        if isinstance(item, Rejected):
            yield replace(item, record_key=(item.raw or {}).get(m.pid_column, "").strip() or None)
            continue
        header, number, cells = item
        yield header, number, cells + [""] * (len(header) - len(cells))
    if not seen:
        raise InputError(f"the sheet has no row {m.header_row}, where the profile's `header_row` puts the column names",
                         file=path.name, field="header_row", hint="set header_row to the row holding the column names")


def csv_rows(path: Path, m: SupplierTableMap) -> Iterator[tuple[list[str], int, list[str]] | Rejected]:
    rows = CsvRows(path, m)  # type: ignore[arg-type]
    for item in rows:
        yield item if isinstance(item, Rejected) else (rows.header, item[0], item[1])


class GtinNote:
    """A row's bad GTINs between reading and matching: (field, reason) for its problem entries, and what is
    wrong with the GTIN it was not matched on (said again if matching then refuses the row)."""

    __slots__ = ("found", "unmatched")

    def __init__(self, found: list[tuple[str, str]], unmatched: str | None) -> None:
        self.found, self.unmatched = found, unmatched


def source_items(path: Path, m: SupplierTableMap, structure: Structure,
                 notes: dict[int, GtinNote] | None = None) -> Iterator[SourceItem | Rejected]:
    """The rows as SourceItems keyed by supplier id and GTIN (the SKU is found later), unreadable ones Rejected.
    A row with a bad GTIN is taken in without it: its note goes into `notes` under the row's line
    (`_gtin_notes` turns it into problem entries once the SKU is known)."""
    kind = m.format if m.format != "auto" else ("xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv")
    rows = xlsx_rows(path, m) if kind == "xlsx" else csv_rows(path, m)
    builder = ValueBuilder(structure, m)
    rules = m.rules()
    stamp = datetime.now(UTC)
    name, source = path.name, m.source
    plan: list[tuple[str, Setter, str]] = []
    planned_for: list[str] | None = None
    gtins: GtinFields = {}
    matched_hint = supplier_hint(stored=True, matched=True)
    stored_hint = supplier_hint(stored=True, matched=False)
    match_hint = supplier_hint(stored=False, matched=True)
    for item in rows:
        if isinstance(item, Rejected):
            yield item
            continue
        header, line, cells = item
        if header is not planned_for:  # one header per file: the rules are compiled against it once
            plan, planned_for = _plan(header, rules, builder), header
            present = set(header)
            gtins = gtin_keys((column, rule.to) for column, rule in rules.items() if column in present and rule.to not in FIELDS)
        raw = dict(zip(header, cells))
        pid = raw.get(m.pid_column, "").strip()
        if not pid:
            yield Rejected("empty supplier product id", name, line, m.pid_column, raw)
            continue
        values: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        current = None
        try:
            for current, put, unit_from in plan:
                put(raw[current], values, fields, raw.get(unit_from) or None)
        except ValueProblem as exc:
            yield Rejected(str(exc), name, line, current, raw, pid)
            continue
        try:
            record = partial_product(pid, values, trusted_provenance(source, f"{name}:{line}", stamp), fields)
        except ValidationError as exc:  # a supplier id over 255 characters, a family that is no code
            field, reason = refusal(exc, m.pid_column)
            yield Rejected(reason, name, line, field, raw, pid)
            continue
        record.identifier = ""  # unknown until match_skus looks the pid and GTIN up
        gtin, wrong = match_gtin(raw.get(m.gtin_column or "", "").strip() or None)
        left_out = take_bad(values, gtins, gtin) if gtins else None
        if (wrong or left_out) and notes is not None:
            found = [(f, gtin_reason(problem, matched_hint if f == m.gtin_column and wrong else stored_hint))
                     for f, problem in left_out or ()]
            if wrong and not any(f == m.gtin_column for f, _ in found):
                found.append((m.gtin_column or "", gtin_reason(wrong, match_hint)))
            notes[line] = GtinNote(found, wrong)
        yield SourceItem(record, name, line, raw, pid=pid, gtin=gtin)


def _plan(header: list[str], rules: dict[str, ValueRule], builder: ValueBuilder) -> list[tuple[str, Setter, str]]:
    """(column, compiled rule, unit column) for each rule whose column is in the header, in the profile's order;
    a column absent from the file changes nothing."""
    present = set(header)
    return [(column, builder.setter(rule), rule.unit_from or "") for column, rule in rules.items() if column in present]


def import_supplier_table(path: Path, store: Store, m: SupplierTableMap, *, map_dir: Path | None = None,
                          precedence: Path | None = None) -> ImportCounts:
    structure = store.structure()
    gtin_attr = next((r.to for c, r in m.rules().items() if c == m.gtin_column), "ean")
    notes: dict[int, GtinNote] = {}
    rows: Iterator[SourceItem | Rejected] = source_items(path, m, structure, notes)
    if m.unmatched == "create" and m.gtin_column:
        rows = refuse_unlinked(store, m.source, rows, lambda i: _bad_link(i, notes, m.gtin_column or ""))
    matched = match_skus(store, m.source, rows, gtin_attribute=gtin_attr, unmatched=m.unmatched)
    items = _with_family(_gtin_notes(matched, notes, m), store, m)
    return run_import(store, m.source, items, structure=structure, label=str(path),
                      merge=merger_for(m, map_dir, precedence))


def _bad_link(item: SourceItem, notes: dict[int, GtinNote], column: str) -> tuple[str, str] | None:
    """(GTIN column, what is wrong) of a row whose GTIN was given but bad (`refuse_unlinked`), else None."""
    note = notes.get(item.line) if item.line is not None else None
    return (column, note.unmatched) if note is not None and note.unmatched else None


def _gtin_notes(items: Iterator[Parsed | Rejected], notes: dict[int, GtinNote],
                m: SupplierTableMap) -> Iterator[Parsed | Rejected]:
    """After matching: a row taken in gets its bad GTINs as problem entries under its SKU; a row refused for
    want of a match whose GTIN was bad (not matched on, `unmatched: quarantine`) says so, under the GTIN column
    (under `create` such a row was refused before matching: `refuse_unlinked`). Each note is the row's whose
    line it names (one file: lines are unique) and is dropped once used."""
    for item in items:
        note = notes.pop(item.line, None) if notes and item.line is not None else None
        if note is not None:
            if isinstance(item, Parsed):
                item.problems = [*item.problems, *problem_notes(note.found, item.file, item.line, item.raw,
                                                                item.record.identifier, m.source)]
            elif note.unmatched and item.field == "pid":  # no SKU found: match_skus' field
                pid = item.record_key or ""
                item = Rejected(unmatched_reason(note.unmatched, m.source, pid, m.unmatched), item.file, item.line,
                                m.gtin_column, item.raw, item.record_key)
        yield item


def _with_family(items: Iterator[Any], store: Store, m: SupplierTableMap) -> Iterator[Any]:
    """New products get the profile's family; existing ones keep theirs."""
    from pim.store.store import batched

    for chunk in batched(items, store.batch_size):
        ids = [i.record.identifier for i in chunk if not isinstance(i, Rejected)]
        known = store.existing_identifiers(ids) if ids and m.family else set()
        for item in chunk:
            if not isinstance(item, Rejected) and m.family and item.record.identifier not in known \
                    and "family" not in item.record.model_fields_set:
                item.record.family = m.family
            yield item


def load_supplier_map(path: Path) -> SupplierTableMap:
    return load_profile(SupplierTableMap, path)


class SupplierTableImporter:
    name = "supplier"

    def run(self, path: Path, store: Store, *, map_path: Path, **_: Any) -> dict[str, Any]:
        return import_supplier_table(path, store, load_supplier_map(map_path), map_dir=map_path.parent).as_dict()


__all__ = ["Precedence", "SupplierTableMap", "import_supplier_table", "load_supplier_map"]
