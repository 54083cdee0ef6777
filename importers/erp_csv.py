"""ERP CSV through a declarative column map (schemas/erp_csv_map.schema.json): product master data merged
by precedence, customer price lists (one row per quantity tier) and stock per warehouse. Price lists given as
JSON Lines (`pim feeds prices`) go through the same price-list checks (import_price_list_jsonl; the checks
themselves: importers.erp_price_checks).

A mapped column missing from the header changes nothing (a warning names it when the header has columns the
map does not read); an empty cell clears that value (for this source). Rows that do not fit go to the
quarantine with file, line, column and the raw row. A GTIN that is none (length, check digit) is left out and
the rest of the row taken in, with a `problem` entry naming it."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator

from importers.csv_records import check_records, csv_records
from importers.erp_price_checks import Contracted, PriceChecks, contracted_customers
from importers.erp_price_checks import EarlierTiers, FirstRows  # noqa: F401  (callers of round 31-32 take them here)
from importers.erp_repeats import first_rows_only, repeated_sku
from importers.erp_values import (GtinFields, NumberFormat, Setter, ValueBuilder, ValueRule, bad_gtins, gtin_fields,
                                  Zone, moment_parser, number_parser, partial_product, problem_notes,
                                  refusal, remembered, report_unread)
from pim.catalog import Structure
from pim.commerce import (CompletePriceLists, CompleteRun, CompleteStock, PriceListEntry, StockLevel,
                          atp_above_quantity, put_price_list, put_stock)
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, nul_rejected, run_import
from pim.jsonl import json_objects
from pim.product import split_key, trusted_provenance
from pim.sources import (Encoding, RowItem, SourceProfile, decode_guard, job_label, load_profile, merger_for, open_text,
                         run_rows_import)
from pim.spelling import nearest
from pim.store import Store
from pim.structure import AttributeType
from pim.values import ValueProblem

PRICE_FIELDS = {"customer", "sku", "currency", "price", "min_qty", "valid_from", "valid_to"}
#: A price-list row's quarantine key: these fields as the file writes them, joined by `|`.
PRICE_KEY = ("customer", "sku", "currency", "min_qty", "valid_from")
STOCK_FIELDS = {"sku", "warehouse", "quantity", "atp", "updated_at"}


class ErpCsvMap(SourceProfile, NumberFormat):
    """One ERP CSV export: its dialect and where each column goes."""

    source: str = "erp"
    kind: Literal["products", "price_list", "stock"] = "products"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: Encoding = Field(default="utf-8", description="Python codec name: utf-8, cp1252, latin-1, utf-16…")
    sku_column: str = Field(default="sku", description="The column holding our SKU.")
    family: str | None = Field(default=None, description="Family given to every product record (products only).")
    columns: dict[str, str | ValueRule] = Field(
        default={},
        description="Header → target. products: a value key or family/categories/enabled, or a rule. "
        "price_list: customer, currency, price, min_qty, valid_from, valid_to. "
        "stock: warehouse, quantity, atp, updated_at.",
    )
    defaults: dict[str, str] = Field(default={}, description="Constant fields for price_list/stock rows, e.g. currency: EUR.")
    timezone: Zone = Field(default="UTC", description=(
        "stock only: the time zone of `updated_at` times written without an offset, e.g. Europe/Berlin (an "
        "offset in the cell, +01:00 or Z, is read whatever the format says)."))
    complete: bool = Field(default=False, description=(
        "price_list: the file holds the complete price list of every customer it names. Once every row is "
        "in, their stored entries the file does not hold are removed (one transaction); customers the file "
        "does not name keep theirs. stock: the file holds every warehouse of each SKU it names. Once every row is "
        "in, that SKU's stored readings in warehouses the file does not hold are removed (one transaction), "
        "except one newer than the SKU's newest row (taken after the file was written); SKUs the file does not "
        "name keep theirs. Either way nothing is removed while any row of the file is rejected."))

    def rules(self) -> dict[str, ValueRule]:
        return {col: rule if isinstance(rule, ValueRule) else ValueRule(to=rule) for col, rule in self.columns.items()}

    @field_validator("sku_column")
    @classmethod
    def _sku_name(cls, name: str) -> str:  # matched to the header as the header is read (header_name)
        return header_name(name)

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: dict[str, str | ValueRule]) -> dict[str, str | ValueRule]:
        return map_columns(columns)


class CsvRows:
    """Header + rows of a CSV file, with line numbers; encoding, BOM, empty and ragged rows handled. A file refused
    for its structure (importers.csv_records.check_records) is refused before its first row."""

    def __init__(self, path: Path, m: ErpCsvMap) -> None:
        self.path, self.name, self.m = path, path.name, m
        self.header: list[str] = []
        self.header_line = 1

    def __iter__(self) -> Iterator[tuple[int, list[str]] | Rejected]:
        encoding = bom_encoding(self.path, self.m.encoding)
        with open_text(self.path, encoding) as handle:
            records = csv_records(handle, self.name, delimiter=self.m.delimiter, quotechar=self.m.quotechar)
            rows = decode_guard(records, str(self.path), encoding)
            try:
                self.header_line, cells = _after_sep_line(rows, self.m.delimiter, self.name)
            except StopIteration:
                raise InputError("the file is empty", file=self.name) from None
            self.header = [header_name(h) for h in cells]
            if self.m.sku_column not in self.header:
                named = "pid_column" if hasattr(self.m, "pid_column") else "sku_column"  # a supplier profile's name
                raise InputError(
                    f"no '{self.m.sku_column}' column (header: {', '.join(self.header[:12])})", file=self.name,
                    line=self.header_line, field=self.m.sku_column,
                    hint=f"check `delimiter: '{self.m.delimiter}'` and `{named}` in the map",
                )
            refuse_repeated(self.header, {self.m.sku_column, *self.m.columns}, self.name, self.header_line)
            check_records(self.path, self.name, encoding, self.m.delimiter, self.m.quotechar)
            width = len(self.header)
            for line, cells in rows:
                if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
                    continue  # a blank line, or one of the `;;;;` rows exports end with
                if len(cells) > width and not "".join(cells[width:]).strip():
                    cells = cells[:width]  # trailing delimiters (`a;b;;`): empty cells past the last column
                elif len(cells) != width:
                    yield Rejected(_ragged(len(cells), width), self.name, line, None, {"cells": cells},
                                   _key(cells, self))
                    continue
                if "\x00" in "".join(cells):
                    yield _nul_row(self.name, line, self.header, cells, _key(cells, self))
                    continue
                yield line, cells


def header_name(text: str) -> str:
    """A column name as it is matched to a map's or profile's: runs of whitespace (the line break of a header
    cell wrapped over two lines, a no-break space) read as one space, none at the ends, so `Listenpreis EUR`
    finds the header Excel shows as `Listenpreis` over `EUR`."""
    return " ".join(text.split())


def map_columns(columns: dict[str, str | ValueRule]) -> dict[str, str | ValueRule]:
    """A map's `columns` (and a rule's `unit_from`) under their header_name, as the header is read. Two names
    that become one are refused: which rule would the column follow?"""
    named: dict[str, str | ValueRule] = {}
    said: dict[str, str] = {}
    for column, rule in columns.items():
        name = header_name(column)
        if name in said:
            raise ValueError(f"columns {said[name]!r} and {column!r} name one column (spaces and line breaks in a "
                             "column name read as one space): keep one of them")
        if isinstance(rule, ValueRule) and rule.unit_from and (unit := header_name(rule.unit_from)) != rule.unit_from:
            rule = rule.model_copy(update={"unit_from": unit})
        named[name], said[name] = rule, column
    return named


def _ragged(cells: int, width: int) -> str:
    if cells < width:
        return f"the row has {cells} cells, the header has {width} (truncated row or wrong delimiter)"
    return (f"the row has {cells} cells, more cells than the header ({width}), and those past the last column "
            "are not empty: quote the values holding the delimiter, or name the extra columns in the header")


def _after_sep_line(rows: Iterator[tuple[int, list[str]]], delimiter: str, name: str) -> tuple[int, list[str]]:
    """The header record (line, cells), past the `sep=;` line Excel writes and reads to know the delimiter (it
    was taken for the header: "no 'sku' column (header: sep=, )"). One naming another delimiter is refused."""
    line, cells = next(rows)
    said = re.fullmatch(r"sep=(.)", delimiter.join(cells).strip(), re.IGNORECASE)
    if said is None:
        return line, cells
    if said.group(1) != delimiter:
        raise InputError(f"the file's first line says its delimiter is '{said.group(1)}' (sep=), the map says "
                         f"'{delimiter}'", file=name, line=line, field="delimiter",
                         hint=f"set `delimiter: '{said.group(1)}'` in the map")
    return next(rows)


def bom_encoding(path: Path, encoding: str) -> str:
    """The encoding to read `path` in: UTF-8 when it starts with a UTF-8 byte order mark, whatever the map says.
    Excel saves "CSV UTF-8" with one, and read as cp1252 every umlaut came in as mojibake (`SÃ¤ge`) and columns
    named with one (`Größe`) were silently not found."""
    if codecs.lookup(encoding).name.startswith(("utf-8", "utf-16", "utf-32")):
        return encoding
    return "utf-8" if has_utf8_bom(path) else encoding


def has_utf8_bom(path: Path) -> bool:
    """Whether the file starts with a UTF-8 byte order mark (False when it cannot be read: its reader names that)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    except OSError:
        return False


def refuse_repeated(header: list[str], used: set[str], file: str, line: int,
                    hint: str = "rename or remove one of them, then re-run") -> None:
    """A column the map reads, named twice in the header: refused (the last one silently won)."""
    twice = sorted({h for h in header if h in used and header.count(h) > 1})
    if twice:
        raise InputError(f"column '{twice[0]}' appears twice in the header: which one holds the value?",
                         file=file, line=line, field=twice[0], hint=hint)


def _nul_row(name: str, line: int, header: list[str], cells: list[str], key: str | None) -> Rejected:
    """A row holding U+0000, rejected as read: no database stores the character, and PostgreSQL refuses even
    a lookup with it (a SKU, a supplier id, a customer code)."""
    column = next(h for h, c in zip(header, cells) if "\x00" in c)
    return nul_rejected(f"column '{column}'", name, line, column, dict(zip(header, cells)), key)


def _key(cells: list[str], rows: CsvRows) -> str | None:
    try:
        return cells[rows.header.index(rows.m.sku_column)].strip() or None
    except (ValueError, IndexError):
        return None


def product_items(path: Path, m: ErpCsvMap, structure: Structure, rows: CsvRows | None = None) -> Iterator[Parsed | Rejected]:
    """Partial product records, one per row. Mapped columns absent from the header are skipped (`unread_columns`
    names them), a price currency's too: its records state only the others (`stated_currencies`). A GTIN that
    is none is left out of its record, which carries a `problem` entry for it instead (`bad_gtins`). A row naming
    a SKU an earlier row named is rejected (importers.erp_repeats): the file's first row of a SKU stands. `rows`:
    the file's reader, to ask for its header afterwards."""
    builder = ValueBuilder(structure, m)
    ident_attr = structure.identifier_attribute
    stamp = datetime.now(UTC)
    rows = rows or CsvRows(path, m)
    name, source, family = rows.name, m.source, m.family
    plan: list[tuple[int, str, Setter, int | None]] | None = None
    gtins: GtinFields = {}
    stated: dict[str, frozenset[str]] | None = None  # price currencies the file has columns for, when not all
    for item in first_rows_only(rows, lambda: rows.header.index(m.sku_column), lambda row, first: _repeat(row, first, rows)):
        if isinstance(item, Rejected):
            yield item
            continue
        if plan is None:
            plan = column_plan(rows.header, m, builder, rows.name, rows.header_line)
            gtins = gtin_fields((column, rule) for column, rule in m.rules().items() if column in rows.header)
            sku_at = rows.header.index(m.sku_column)
            stated = stated_currencies(rows.header, m, structure)
        line, cells = item
        sku = cells[sku_at].strip()
        if not sku:
            yield Rejected("empty SKU", name, line, m.sku_column, dict(zip(rows.header, cells)))
            continue
        values: dict[str, Any] = {ident_attr: sku}
        fields: dict[str, Any] = {"family": family} if family else {}
        current = None
        try:
            for at, current, put, unit_at in plan:
                put(cells[at], values, fields, None if unit_at is None else cells[unit_at])
        except ValueProblem as exc:
            yield Rejected(str(exc), name, line, current, dict(zip(rows.header, cells)), sku)
            continue
        bad = bad_gtins(values, gtins) if gtins else None
        prov = trusted_provenance(source, f"{name}:{line}", stamp)
        try:
            yield Parsed(partial_product(sku, values, prov, fields), name, line, problems=problem_notes(
                bad, name, line, dict(zip(rows.header, cells)), sku, source) if bad else [], partial=stated)
        except ValidationError as exc:  # an identifier over 255 characters, a family that is no code
            field, reason = refusal(exc, m.sku_column)
            yield Rejected(reason, name, line, field, dict(zip(rows.header, cells)), sku)


def _repeat(row: tuple[int, list[str]], first: int, rows: CsvRows) -> Rejected:
    """A later row of a SKU (importers.erp_repeats), refused in the SKU column naming the first row's line."""
    line, cells = row
    sku = cells[rows.header.index(rows.m.sku_column)].strip()
    return Rejected(repeated_sku(sku, first, rows.m.sku_column), rows.name, line, rows.m.sku_column,
                    dict(zip(rows.header, cells)), sku)


def column_plan(header: list[str], m: ErpCsvMap, builder: ValueBuilder, name: str,
                line: int) -> list[tuple[int, str, Setter, int | None]]:
    """(cell index, column, compiled rule, unit cell index) for each mapped column present in the header. A
    column sent to no attribute, a rule whose own unit its attribute's family lacks, or two columns filling one
    value, refuse the file: every row would be rejected, or the second column's cell (even an empty one) would
    silently replace the first's."""
    plan = []
    filled: dict[tuple[str, str | None], str] = {}
    for column, rule in m.rules().items():
        if column in header:
            wrong = builder.unknown_target(rule.to)
            if wrong:
                raise InputError(wrong, file=name, line=line, field=column, hint="a column goes to an attribute code "
                                 "of the catalog's structure (or family/categories/enabled); nothing was imported")
            if (unit := builder.unknown_unit(rule)) is not None:
                raise InputError(f"the rule of column '{column}': {unit[1]}", file=name, line=line, field=column,
                                 hint=f"fix the rule's `{unit[0]}` in the map (a unit code, symbol or UN/ECE code of "
                                 "the attribute's measurement family); nothing was imported")
            price = builder.types.get(split_key(rule.to)[0]) == AttributeType.price_collection
            target = (rule.to, (rule.currency or "EUR") if price else None)
            if target in filled:
                raise InputError(f"columns '{filled[target]}' and '{column}' both fill '{rule.to}'"
                                 f"{f' in {target[1]}' if price else ''}: the last one would win, an empty cell "
                                 "clearing what the first one gave", file=name, line=line, field=column,
                                 hint="map only one of them (or give each price column its own `currency`)")
            filled[target] = column
            unit_at = header.index(rule.unit_from) if rule.unit_from and rule.unit_from in header else None
            plan.append((header.index(column), column, builder.setter(rule), unit_at))
    return plan


def stated_currencies(header: list[str], m: ErpCsvMap, structure: Structure) -> dict[str, frozenset[str]] | None:
    """Price collection key → the currencies the header has a column for, for each key the map reads in more
    currencies than that (pim.importing.Parsed.partial: the others keep this source's amounts, as any absent
    column leaves its value alone); None when the header has every price column the map reads. Once per file."""
    mapped: dict[str, set[str]] = {}
    present: dict[str, set[str]] = {}
    for column, rule in m.rules().items():
        attribute = structure.attributes.get(split_key(rule.to)[0])
        if attribute is not None and attribute.type == AttributeType.price_collection:
            currency = rule.currency or "EUR"  # as column_plan and ValueBuilder.setter read it
            mapped.setdefault(rule.to, set()).add(currency)
            if column in header:
                present.setdefault(rule.to, set()).add(currency)
    return {key: frozenset(given) for key, given in present.items() if given != mapped[key]} or None


def unread_columns(header: list[str], m: ErpCsvMap, also: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(column, note) for each column the map reads that the header lacks, with the header's nearest name, when
    the header has columns the map does not read: a renamed or misspelled column. A file that simply has fewer
    columns (a delta of some fields) is no mistake and gets no warning. `also`: columns the map reads besides
    its value columns (a supplier profile's price unit and tiers)."""
    wanted = [*m.columns, *(r.unit_from for r in m.rules().values() if r.unit_from), *also]
    spare = [h for h in header if h and h not in wanted and h != m.sku_column]
    if not spare:
        return []
    out = []
    for column in dict.fromkeys(wanted):
        if column not in header:
            near = nearest(column, spare)
            out.append((column, f"column '{column}'" + (f" (the header has '{near}')" if near else "")))
    return out


def commerce_items(path: Path, m: ErpCsvMap, rows: CsvRows | None = None,
                   prices: PriceChecks | None = None) -> Iterator[RowItem | Rejected]:
    """PriceListEntry or StockLevel rows; the quarantine key is customer|sku|… as written in the file. A cell
    that does not read is rejected naming its column. Price-list rows also go through `prices` (PriceChecks: a
    key given twice, tiers, customers and currencies no contract prices from)."""
    allowed = PRICE_FIELDS if m.kind == "price_list" else STOCK_FIELDS
    targets = {col: (r.to if isinstance(r, ValueRule) else r) for col, r in m.columns.items()}
    bad = sorted(set(targets.values()) - allowed)
    if bad:
        raise InputError(f"{m.kind} maps cannot target {bad}", field="columns", hint=f"allowed: {sorted(allowed)}")
    key_fields = PRICE_KEY if m.kind == "price_list" else ("sku", "warehouse")
    parse = _CommerceParsers(m)
    rows = rows or CsvRows(path, m)
    column_of = {target: column for column, target in targets.items()}
    if m.kind == "price_list" and prices is None:
        prices = csv_price_checks(rows, m)
    plan: list[tuple[int, str]] | None = None
    for item in rows:
        if isinstance(item, Rejected):
            yield item
            continue
        if plan is None:
            at = {column: n for n, column in enumerate(rows.header)}  # a repeated column: the last one, as a dict of the row
            plan = [(at[column], target) for column, target in targets.items() if column in at]
            sku_at = at[m.sku_column]
        line, cells = item
        data: dict[str, Any] = {**m.defaults, "sku": cells[sku_at].strip(), "source": m.source}
        for n, target in plan:
            text = cells[n].strip()
            if text:
                data[target] = text
        key = "|".join([str(data.get(f, "")) for f in key_fields])
        try:
            row = _commerce_row(m, data, parse)
        except ValueProblem as exc:
            column = column_of.get(exc.target, exc.target) if isinstance(exc, _CellProblem) else None
            yield Rejected(str(exc), rows.name, line, column, dict(zip(rows.header, cells)), key)
            continue
        except ValidationError as exc:
            first = exc.errors()[0]
            yield Rejected(f"{first['loc'][0] if first['loc'] else ''}: {first['msg']}", rows.name, line,
                           str(first["loc"][0]) if first["loc"] else None, dict(zip(rows.header, cells)), key)
            continue
        if prices is not None and isinstance(row, PriceListEntry):
            yield from prices.take(row, key, line, cells)
            continue
        over = atp_above_quantity(row) if isinstance(row, StockLevel) else None
        yield RowItem(row, key, problem_notes([(column_of.get("atp", "atp"), over)], rows.name, line,
                                              dict(zip(rows.header, cells)), key, m.source) if over else [])
    if prices is not None:
        yield from prices.flush()


class _CommerceParsers:
    """The map's number, date and timestamp readers; dates and timestamps repeat, so each text is read once."""

    def __init__(self, m: ErpCsvMap) -> None:
        self.number = number_parser(m.decimal, m.thousands)
        self.day = remembered(m.day)
        self.moment = remembered(moment_parser(m.datetime_format, ZoneInfo(m.timezone)))


class _CellProblem(ValueProblem):
    """A price or stock cell that does not read, with the field it was for (the quarantine names its column)."""

    def __init__(self, target: str, problem: ValueProblem) -> None:
        super().__init__(str(problem))
        self.target = target


def _read(data: dict[str, Any], fields: tuple[str, ...], parse: Callable[[str], Any]) -> None:
    for field in fields:
        if field in data:
            try:
                data[field] = parse(data[field])
            except ValueProblem as exc:
                raise _CellProblem(field, exc) from None


def _commerce_row(m: ErpCsvMap, data: dict[str, Any], parse: _CommerceParsers) -> PriceListEntry | StockLevel:
    _read(data, ("price", "min_qty", "quantity", "atp"), lambda text: Decimal(parse.number(text)))
    if m.kind == "price_list":
        _read(data, ("valid_from", "valid_to"), parse.day)
        return PriceListEntry(**data)
    if "quantity" not in data:  # an empty cell: the warehouse's stock is unknown, not gone
        raise _CellProblem("quantity", ValueProblem(
            "no quantity: a stock row needs one (0 for none). To retire a warehouse, leave its rows out of a file "
            "whose map has `complete: true`"))
    if "updated_at" in data:
        _read(data, ("updated_at",), parse.moment)
    else:
        data["updated_at"] = datetime.now(UTC)
    return StockLevel(**data)


def csv_price_checks(rows: CsvRows, m: ErpCsvMap, contracted: Contracted | None = None) -> PriceChecks:
    """PriceChecks for a CSV price list: entries name the map's columns, and a row's raw is its cells by header."""
    column_of = {(r.to if isinstance(r, ValueRule) else r): column for column, r in m.columns.items()}
    return PriceChecks(rows.name, m.source, lambda cells: dict(zip(rows.header, cells)), contracted=contracted,
                       price_column=column_of.get("price", "price"), customer_column=column_of.get("customer", "customer"))


def import_erp_csv(path: Path, store: Store, m: ErpCsvMap, *, map_dir: Path | None = None,
                   precedence: Path | None = None) -> ImportCounts:
    label = job_label("erp_csv", path)
    rows = CsvRows(path, m)

    prices = csv_price_checks(rows, m, contracted_customers(store)) if m.kind == "price_list" else None

    def warn(counts: ImportCounts) -> None:
        report_unread(store, counts, m.source, rows.name, unread_columns(rows.header, m))
        if prices is not None:
            prices.report(store, counts, m.source)

    if m.kind in ("price_list", "stock"):
        items = commerce_items(path, m, rows, prices)
        if not m.complete:
            put = put_price_list if m.kind == "price_list" else put_stock
            return run_rows_import(store, m.source, label, items, put, after=warn, files=[path.name])
        complete = CompletePriceLists(store) if m.kind == "price_list" else CompleteStock(store)
        return _import_complete(path, store, m, label, items, complete, warn)
    structure = store.structure()
    return run_import(store, m.source, product_items(path, m, structure, rows), structure=structure, label=label,
                      merge=merger_for(m, map_dir, precedence), before_finish=warn)


def _import_complete(path: Path, store: Store, m: ErpCsvMap, label: str, items: Iterator[RowItem | Rejected],
                     complete: CompleteRun, warn: Callable[[ImportCounts], None]) -> ImportCounts:
    """A complete price list or stock file: once every row is in, what the file did not hold is removed
    (pim.commerce.CompleteRun), unless a row was rejected."""
    with complete:
        def remove_the_rest(counts: ImportCounts) -> None:
            counts.extra["removed"] = complete.close(counts.job_id, counts.rejected, file=path, source=m.source)
            warn(counts)

        return run_rows_import(store, m.source, label, items, complete.put, after=remove_the_rest,
                               files=[path.name])


def import_price_list_jsonl(path: Path, store: Store, *, source: str = "jsonl") -> ImportCounts:
    """A price list as JSON Lines (`pim feeds prices`: one PriceListEntry object a line) through the checks a
    CSV price list gets (PriceChecks), into the job's quarantine: a line that does not read is rejected, not the
    file. Entries keep the `source` their line gives (`erp` when it gives none); `source` is the run's."""
    prices = PriceChecks(path.name, source, dict, contracted=contracted_customers(store))  # raw: the line's object
    return run_rows_import(store, source, f"jsonl:price_list:{path}", jsonl_price_items(path, prices), put_price_list,
                           after=lambda counts: prices.report(store, counts, source), files=[path.name])


def jsonl_price_items(path: Path, prices: PriceChecks) -> Iterator[RowItem | Rejected]:
    """PriceListEntry rows of a JSON Lines file, keyed as a CSV price list's rows (PRICE_KEY as the line writes
    them), through `prices`; a line that is no entry is rejected with the model's first reason."""
    for item in json_objects(path, _price_key):
        if isinstance(item, Rejected):
            yield item
            continue
        line, data = item
        key = _price_key(data)
        try:
            entry = PriceListEntry.model_validate(data)
        except ValidationError as exc:
            field, reason = refusal(exc)
            yield Rejected(reason, path.name, line, field, data, key)
            continue
        yield from prices.take(entry, key, line, data)
    yield from prices.flush()


def _price_key(data: dict[str, Any]) -> str:
    return "|".join([str(data.get(f, "")) for f in PRICE_KEY])


class ErpCsvImporter:
    name = "erp_csv"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        map_path = Path(options["map"])
        return import_erp_csv(path, store, load_profile(ErpCsvMap, map_path), map_dir=map_path.parent).as_dict()
