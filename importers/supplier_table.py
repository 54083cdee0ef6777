"""Supplier CSV and XLSX files through a per-supplier mapping profile (schemas/supplier_table_map.schema.json).
Rows are keyed by the supplier's product id and GTIN; SKUs come from the cross-reference, then the GTIN,
then the profile's `unmatched` rule. Values merge by precedence like every other source. A GTIN that is none
(importers.gtin_check) is left out of the values and not matched on; the row is taken in with a `problem`, or,
when the cross-reference does not know it either, refused (never created apart from ours).

A file is read as what its bytes are (an XLSX named .csv is a workbook: importers.supplier_rows). A row of a
supplier id read before, with other values, is refused (the last row won), unless it differs only in the
tier-only columns and states another tier period (currency, start date: importers.supplier_repeats); a row with nothing in the columns the
profile reads (a formula filled down past the data) is skipped, and so is one with only its supplier id column
filled (a section heading, `Kabelbinder;;;;`: it became an empty product), with one warning per file naming
them. The header is checked as the ERP map's is (column names compared with their spaces and line breaks read as
one space, importers.erp_csv.header_name): a column sent to no attribute, or two columns to one value, refuse
the file; profile columns the file lacks are one warning.

A workbook keeps a GTIN or supplier id typed as a number without its leading zeros (00123 → 123): a GTIN gets
back the zeros its check digit proves, a supplier id is read as its number format shows it (00000), else
matched to the one cross-referenced id it is with its zeros (importers.supplier_zeros). A CSV is text,
read as it stands.

Prices may be given per `price_unit_column` pieces (BMEcat's PRICE_QUANTITY) and a row may carry quantity
tiers (`tiers`: BMEcat's LOWER_BOUND), stored as a price list as a BMEcat catalog's tiers are, in the batch's
transaction (importers.supplier_tiers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from importers.bmecat_matching import supplier_origin
from importers.erp_csv import (
    column_plan,
    header_name,
    map_columns,
    stated_currencies,
    unread_columns,
)
from importers.erp_values import (
    FIELDS,
    NumberFormat,
    Setter,
    ValueBuilder,
    ValueRule,
    partial_product,
    refusal,
    report_unread,
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
from importers.supplier_repeats import Repeats, TierOnly
from importers.supplier_rows import Row, csv_rows, file_kind, xlsx_rows
from importers.supplier_tiers import (CellProblem, PriceCells, StatedTiers, SupplierTiers, TierColumn, TierWriter,
                                     report_missing_price_unit)
from importers.supplier_zeros import LostZeros
from importers.workbook import NumberText
from pim.catalog import Structure
from pim.excel_skus import number_gtin
from pim.importing import ImportCounts, Parsed, Rejected, file_warning, run_import
from pim.merge import Precedence
from pim.product import trusted_provenance
from pim.sources import (
    Encoding,
    NoSku,
    SourceItem,
    SourceProfile,
    job_label,
    load_profile,
    match_skus,
    merger_for,
)
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
    price_unit_column: str | None = Field(default=None, description=(
        "Column giving how many pieces the row's prices are for (a price per 100 pieces: 100), as BMEcat's "
        "PRICE_QUANTITY: the row's price columns and tiers are divided by it; an empty cell is 1."))
    tiers: SupplierTiers | None = Field(default=None, description=(
        "Quantity tiers: a row's tier columns are all its tiers in the price list (an empty price cell: no "
        "such tier; a file without some of the tier columns only adds and changes tiers, and one without any "
        "leaves them alone)."))

    @property
    def sku_column(self) -> str:  # CsvRows checks this column is in the header
        return self.pid_column

    @field_validator("pid_column", "gtin_column", "price_unit_column")
    @classmethod
    def _header_name(cls, name: str | None) -> str | None:  # matched as the header is read
        return header_name(name) if name is not None else None

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: dict[str, str | ValueRule]) -> dict[str, str | ValueRule]:
        return map_columns(columns)

    def rules(self) -> dict[str, ValueRule]:
        return {col: r if isinstance(r, ValueRule) else ValueRule(to=r) for col, r in self.columns.items()}

    def price_columns(self) -> set[str]:
        """The columns the price unit and tiers are read from (`price_unit_column`, `tiers`)."""
        tiers = self.tiers.columns if self.tiers else []
        terms = self.tiers.row_columns() if self.tiers else []  # the tiers' currency and validity columns
        return {c for c in (self.price_unit_column, *(t.price for t in tiers), *(t.min_qty_column for t in tiers),
                            *terms) if c}

    def gtin_columns(self) -> set[str]:
        """The columns holding GTINs: the one matched on and those sent to a GTIN attribute."""
        sent = gtin_keys((column, rule.to) for column, rule in self.rules().items() if rule.to not in FIELDS)
        return {*sent.values(), *([self.gtin_column] if self.gtin_column else [])}




class GtinNote:
    """A row's bad GTINs between reading and matching: (field, reason) for its problem entries, and what is
    wrong with the GTIN it was not matched on (said again if matching then refuses the row)."""

    __slots__ = ("found", "unmatched")

    def __init__(self, found: list[tuple[str, str]], unmatched: str | None) -> None:
        self.found, self.unmatched = found, unmatched


class _Columns:
    """What one header means under the profile, worked out once per file: the compiled rules by cell index
    (erp_csv's plan: a column sent to no attribute, or two columns to one value, refuse the file), the pid
    column, every column the profile reads (a row with none of them filled is no product row) and the GTIN
    value keys."""

    def __init__(self, header: list[str], line: int, m: SupplierTableMap, builder: ValueBuilder, name: str) -> None:
        rules = m.rules()
        plan = column_plan(header, m, builder, name, line)  # type: ignore[arg-type]  # reads only m.rules()
        self.plan: list[tuple[int, str, Setter, int | None]] = plan
        self.pid_at = header.index(m.pid_column)
        wanted = {m.pid_column, m.gtin_column, *rules, *(r.unit_from for r in rules.values() if r.unit_from),
                  *m.price_columns()}
        self.read_at = [n for n, column in enumerate(header) if column in wanted]
        self.besides_pid = [n for n in self.read_at if n != self.pid_at]  # all empty: a section heading
        present = set(header)
        self.gtins: GtinFields = gtin_keys((column, rule.to) for column, rule in rules.items()
                                           if column in present and rule.to not in FIELDS)
        gtin_columns = m.gtin_columns()
        self.gtin_at = [n for n, column in enumerate(header) if column in gtin_columns]
        self.prices = PriceCells.of(header, m, builder.types)  # None: the file has no price unit or tier column
        self.tier_only = TierOnly(header, self.read_at, m)  # the cells a later row of an id may change

    def numbers_read(self, cells: list[str], line: int, numbered: set[int] | None) -> None:
        """An XLSX row's number cells (importers.workbook.NumberText) as text: a GTIN gets back the leading
        zeros its check digit proves (pim.excel_skus.number_gtin; Excel's float notation counts when it keeps
        every digit), and the line of a supplier id that may have lost some goes into `numbered`."""
        for at in self.gtin_at:
            cell = cells[at]
            if cell.__class__ is NumberText or "E" in cell or "e" in cell:
                cells[at] = number_gtin(cell) or str(cell)
        pid = cells[self.pid_at]
        if pid.__class__ is NumberText:
            cells[self.pid_at] = str(pid)
            if numbered is not None and pid.isdigit() and pid[0] != "0":  # zeros shown: its format padded it
                numbered.add(line)


class Headings:
    """Rows with only the supplier id filled among the columns the profile reads: a section heading
    (`Kabelbinder;;;;`, a title merged across the row), which became an empty product under `unmatched:
    create`. Skipped, and named in one warning per file, which its next run replaces (or closes)."""

    SHOWN = 8

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def note(self, line: int, pid: str) -> None:
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append(f"{line} ({pid[:40]})")

    def report(self, store: Store, counts: ImportCounts, m: SupplierTableMap, file: str) -> None:
        reason = None
        if self.count:
            counts.extra["heading_rows"] = self.count
            more = ", …" if self.count > len(self.first) else ""
            lines = f"{'line' if self.count == 1 else 'lines'} {', '.join(self.first)}{more}"
            reason = (f"{self.count} row(s) have only '{m.pid_column}' filled, read as section headings and skipped "
                      f"({lines}); if one is a product, fill in its columns and import again")
        file_warning(store, counts.job_id, m.source, f"heading-rows:{file}", reason, file=file, field=m.pid_column)


def source_items(path: Path, m: SupplierTableMap, structure: Structure, notes: dict[int, GtinNote] | None = None,
                 header: list[str] | None = None, numbered: set[int] | None = None, repeats: Repeats | None = None,
                 headings: Headings | None = None) -> Iterator[SourceItem | Rejected]:
    """The rows as SourceItems keyed by supplier id and GTIN (the SKU is found later), unreadable ones Rejected.
    A row with a bad GTIN is taken in without it: its note goes into `notes` under the row's line
    (`_gtin_notes` turns it into problem entries once the SKU is known). `header` is filled with the file's
    header once it is read. Rows whose columns the profile reads are all empty (a formula filled down past the
    last product, a total line) are skipped, and so are those with only the supplier id filled (section
    headings, noted in `headings`). In a workbook, a GTIN held as a number gets back its leading zeros, and the
    lines of supplier ids held as numbers go into `numbered` (`_Columns.numbers_read`). `repeats`: the ids read
    so far, with their lines."""
    xlsx = file_kind(path, m) == "xlsx"
    rows = xlsx_rows(path, m) if xlsx else csv_rows(path, m)
    builder = ValueBuilder(structure, m)
    stamp = datetime.now(UTC)
    name, source = path.name, m.source
    columns: _Columns | None = None
    planned_for: list[str] | None = None
    repeats = repeats if repeats is not None else Repeats()
    headings = headings if headings is not None else Headings()
    matched_hint = supplier_hint(stored=True, matched=True)
    stored_hint = supplier_hint(stored=True, matched=False)
    match_hint = supplier_hint(stored=False, matched=True)
    for item in rows:
        if isinstance(item, Rejected):
            yield item
            continue
        names, header_line, line, cells = item
        if columns is None or names is not planned_for:  # one header per file: the rules are compiled once
            columns, planned_for = _Columns(names, header_line, m, builder, name), names
            if header is not None:
                header[:] = names
        if xlsx:
            columns.numbers_read(cells, line, numbered)
        raw = dict(zip(names, cells))
        pid = cells[columns.pid_at].strip()
        if not pid:
            if any(cells[n].strip() for n in columns.read_at):
                yield Rejected(f"empty supplier product id: fill in '{m.pid_column}', or delete the row", name, line,
                               m.pid_column, raw)
            continue
        if columns.besides_pid and not any(cells[n].strip() for n in columns.besides_pid):
            headings.note(line, pid)
            continue
        values: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        current = None
        try:
            for at, current, put, unit_at in columns.plan:
                put(cells[at], values, fields, None if unit_at is None else cells[unit_at])
        except ValueProblem as exc:
            yield Rejected(str(exc), name, line, current, raw, pid)
            continue
        tiers: list[StatedTiers] = []
        if columns.prices is not None:
            try:
                stated = columns.prices.read(cells, values, builder.number)
            except CellProblem as exc:
                yield Rejected(str(exc), name, line, exc.column, raw, pid)
                continue
            tiers = [stated] if stated is not None else []
        try:
            record = partial_product(pid, values, trusted_provenance(source, f"{name}:{line}", stamp), fields)
        except ValidationError as exc:  # a supplier id over 255 characters, a family that is no code
            field, reason = refusal(exc, m.pid_column)
            yield Rejected(reason, name, line, field, raw, pid)
            continue
        if (said := repeats.earlier(pid, line, cells, columns.tier_only, tiers[0].scope if tiers else None)) is not None:
            yield Rejected(said.reason, name, line, said.field, raw, pid)  # another value, or other tiers of a period
            continue
        record.identifier = ""  # unknown until match_skus looks the pid and GTIN up
        gtin, wrong = match_gtin(raw.get(m.gtin_column or "", "").strip() or None)
        left_out = take_bad(values, columns.gtins, gtin) if columns.gtins else None
        if (wrong or left_out) and notes is not None:
            found = [(f, gtin_reason(problem, matched_hint if f == m.gtin_column and wrong else stored_hint))
                     for f, problem in left_out or ()]
            if wrong and not any(f == m.gtin_column for f, _ in found):
                found.append((m.gtin_column or "", gtin_reason(wrong, match_hint)))
            notes[line] = GtinNote(found, wrong)
        yield SourceItem(record, name, line, raw, pid=pid, gtin=gtin, extras=tiers)


def import_supplier_table(path: Path, store: Store, m: SupplierTableMap, *, map_dir: Path | None = None,
                          precedence: Path | None = None) -> ImportCounts:
    structure = store.structure()
    gtin_attr = next((r.to for c, r in m.rules().items() if c == m.gtin_column), "ean")
    notes: dict[int, GtinNote] = {}
    header: list[str] = []
    numbered: set[int] = set()
    zeros = LostZeros(store, m, numbered)
    repeats, headings = Repeats(), Headings()
    rows: Iterator[SourceItem | Rejected] = zeros.matched(source_items(path, m, structure, notes, header, numbered,
                                                                       repeats, headings))
    if m.unmatched == "create" and m.gtin_column:
        rows = refuse_unlinked(store, m.source, rows, lambda i: _bad_link(i, notes, m.gtin_column or ""))
    column = m.gtin_column
    matched = match_skus(store, m.source, rows, gtin_attribute=gtin_attr, unmatched=m.unmatched,  # GTIN refusals
                         gtin_at=(lambda item, gtin: (column, item.line or 0)) if column else None,  # name its column
                         line_of=repeats.line, defer=True)  # pairs: written by `tiers.put`, for rows taken in
    items = _stating(_with_family(_gtin_notes(matched, notes, m), store, m), header, m, structure)
    tiers = TierWriter(store, m)

    def warn(counts: ImportCounts) -> None:  # a profile column the file lacks (renamed, typo) read nothing
        unread = unread_columns(header, m, m.price_columns())  # type: ignore[arg-type]
        report_unread(store, counts, m.source, path.name, [u for u in unread if u[0] != m.price_unit_column])
        report_missing_price_unit(store, counts, m, header, path.name)  # said apart: it changes every price
        zeros.report(counts, path.name)
        headings.report(store, counts, m, path.name)
        tiers.report(counts, path.name)

    return run_import(store, m.source, tiers.placed(items), structure=structure, label=job_label("supplier", path),
                      merge=merger_for(m, map_dir, precedence), before_finish=warn,
                      extras=tiers.put, on_batch=tiers.committed if m.tiers else None)


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
            elif note.unmatched and isinstance(item, NoSku):  # match_skus found no SKU
                pid = item.record_key or ""
                item = Rejected(unmatched_reason(note.unmatched, m.source, pid, m.unmatched), item.file, item.line,
                                m.gtin_column, item.raw, item.record_key)
        yield item


def _stating(items: Iterator[Any], header: list[str], m: SupplierTableMap, structure: Structure) -> Iterator[Any]:
    """The records, each with the price currencies the file has columns for when it lacks some the profile
    reads (importers.erp_csv.stated_currencies): the others keep this supplier's amounts. `header` is the
    file's, filled by source_items before its first record."""
    stated: dict[str, frozenset[str]] | None = None
    checked = False
    for item in items:
        if isinstance(item, Parsed):
            if not checked:
                stated = stated_currencies(header, m, structure)  # type: ignore[arg-type]  # reads m.rules()
                checked = True
            if stated:
                item.partial = stated
        yield item


def _with_family(items: Iterator[Any], store: Store, m: SupplierTableMap) -> Iterator[Any]:
    """New products get the profile's family (existing ones keep theirs), and each record the origin of a new SKU:
    the supplier's id in the pid column (`supplier_origin`: what refusing a product under it says)."""
    from pim.store.store import batched

    origin = supplier_origin(m.pid_column)
    for chunk in batched(items, store.batch_size):
        ids = [i.record.identifier for i in chunk if not isinstance(i, Rejected)]
        known = store.existing_identifiers(ids) if ids and m.family else set()
        for item in chunk:
            if not isinstance(item, Rejected):
                item.origin = origin
                if m.family and item.record.identifier not in known and "family" not in item.record.model_fields_set:
                    item.record.family = m.family
            yield item


def load_supplier_map(path: Path) -> SupplierTableMap:
    return load_profile(SupplierTableMap, path)


class SupplierTableImporter:
    name = "supplier"

    def run(self, path: Path, store: Store, *, map_path: Path, **_: Any) -> dict[str, Any]:
        return import_supplier_table(path, store, load_supplier_map(map_path), map_dir=map_path.parent).as_dict()


#: What callers and tests import from here, whichever module of the split holds it.
__all__ = ["GtinNote", "Headings", "Precedence", "Row", "SupplierTableImporter", "SupplierTableMap", "SupplierTiers",
           "TierColumn", "csv_rows", "file_kind", "import_supplier_table", "load_supplier_map", "source_items",
           "xlsx_rows"]
