"""A supplier table's rows as text, whatever the file is: `file_kind` tells a workbook from a CSV by its bytes,
`xlsx_rows` streams the profile's sheet (importers.workbook) and checks its header, `csv_rows` reads the CSV
(importers.erp_csv.CsvRows) and says where column names below the first line are. Split from
importers.supplier_table, which maps the rows to products; its names are importable from there too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from importers.csv_records import csv_records
from importers.erp_csv import CsvRows, bom_encoding, header_name, refuse_repeated
from importers.workbook import (
    header_places,
    other_sheets_refused,
    text_rows,
    workbook_kind,
)
from pim.content_sheet import plain_number
from pim.errors import InputError
from pim.importing import Rejected
from pim.sources import open_text

if TYPE_CHECKING:
    from importers.supplier_table import SupplierTableMap


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
    if isinstance(value, float):  # as Excel shows it: 15 digits (0.1+0.2 is 0.3), no exponent or .0 (Java, pandas)
        text = plain_number(float(f"{value:.15g}"))
        return text.replace(".", m.decimal) if m.decimal == "," else text
    return str(value)


#: (header, the header's line or sheet row, the row's line or sheet row, its cells: as many as the header names)
Row = tuple[list[str], int, int, list[str]]
_XLSX_HINT = "save it as .xlsx (Excel 2007+), or export CSV and set format: csv"


def file_kind(path: Path, m: SupplierTableMap) -> Literal["csv", "xlsx"]:
    """How the file is read: the profile's `format`, or under `auto` what its bytes are (a workbook named .csv
    gave "the file is not utf-8: set `encoding:`"), else its extension. An .xls, or a workbook saved with a
    password (both OLE2 files), is refused saying which."""
    found = workbook_kind(path)
    if found == "ole2":
        what = ("encrypted (saved with a password) or an Excel 97-2003 workbook under an .xlsx name"
                if path.suffix.lower() in (".xlsx", ".xlsm") else "an Excel 97-2003 workbook (.xls)")
        raise InputError(f"the file is {what}, which is not read", file=path.name,
                         hint="save it as .xlsx (Excel Workbook) without a password, or export CSV, and import that")
    if m.format == "csv" and found == "xlsx":
        raise InputError("the file is an XLSX workbook, but the profile says `format: csv`", file=path.name,
                         field="format", hint="set `format: auto` (or xlsx) in the profile, or export the sheet as CSV")
    if m.format != "auto":
        return m.format
    return "xlsx" if found == "xlsx" or path.suffix.lower() in (".xlsx", ".xlsm") else "csv"


def xlsx_rows(path: Path, m: SupplierTableMap) -> Iterator[Row | Rejected]:
    """Each data row of the profile's sheet, streamed (importers.workbook); a row with a formula cell the
    workbook holds no value for, in a column the profile reads, is rejected. Without `sheet`, a workbook whose
    other sheets have the pid column too is refused (only the first would be read)."""
    header_line = 0
    read = {m.pid_column, *m.columns, *(r.unit_from for r in m.rules().values() if r.unit_from), *m.price_columns()}
    if m.gtin_column:  # matched on, even when not mapped to a value
        read.add(m.gtin_column)
    first_rows = max(m.header_row, 10)

    def check_header(header: list[str], number: int) -> list[str]:
        nonlocal header_line
        header_line = number
        header = [header_name(h) for h in header]  # a cell wrapped as `Listenpreis` over `EUR`: `Listenpreis EUR`
        if m.pid_column not in header:
            found = ", ".join(h for h in header if h)[:200]
            raise InputError(f"no '{m.pid_column}' column in row {m.header_row} of "
                             f"{f'sheet {m.sheet!r}' if m.sheet else 'the first sheet'} (found: {found})"
                             f"{header_places(path, {m.pid_column}, first_rows)}", file=path.name, line=number,
                             field=m.pid_column, hint="set `sheet:`, `header_row:` and `pid_column:` in the profile")
        refuse_repeated(header, {m.pid_column, *m.columns}, path.name, number)
        if m.sheet is None:
            other_sheets_refused(path, {m.pid_column}, first_rows, m.pid_column, "supplier profile")
        return header

    for item in text_rows(path, lambda v: _cell_text(v, m), check_header, sheet=m.sheet, header_row=m.header_row,
                          columns=read, reject_unsaved=True, hint=_XLSX_HINT, numbers={m.pid_column, *m.gtin_columns()}):
        if isinstance(item, Rejected):
            yield replace(item, record_key=(item.raw or {}).get(m.pid_column, "").strip() or None)
            continue
        header, number, cells = item
        yield header, header_line, number, cells + [""] * (len(header) - len(cells))
    if not header_line:
        raise InputError(f"the sheet has no row {m.header_row}, where the profile's `header_row` puts the column names",
                         file=path.name, field="header_row", hint="set header_row to the row holding the column names")


def csv_rows(path: Path, m: SupplierTableMap) -> Iterator[Row | Rejected]:
    """Each data row of the CSV (importers.erp_csv.CsvRows). A first line without the pid column whose column
    names come on a later line (a title exported above the header) is refused saying so: the refusal sent the
    user to check the delimiter, and the profile's `header_row` (XLSX only) changed nothing."""
    rows = CsvRows(path, m)  # type: ignore[arg-type]
    try:
        for item in rows:
            yield item if isinstance(item, Rejected) else (rows.header, rows.header_line, item[0], item[1])
    except InputError:
        if rows.header and m.pid_column not in rows.header and (below := _names_line(path, m)):
            raise InputError(f"no '{m.pid_column}' column on line {rows.header_line}, where a CSV's column names "
                             f"are read: they are on line {below}" + (" (the profile's `header_row` is for XLSX)"
                                                                      if m.header_row > 1 else ""),
                             file=path.name, line=rows.header_line, field=m.pid_column,
                             hint="delete the lines above the column names (a title, a date) and import again") from None
        raise


def _names_line(path: Path, m: SupplierTableMap) -> int | None:
    """The line among the CSV's first ten records holding the pid column's name, else None."""
    try:
        with open_text(path, bom_encoding(path, m.encoding)) as handle:
            for line, cells in islice(csv_records(handle, path.name, delimiter=m.delimiter, quotechar=m.quotechar), 10):
                if m.pid_column in (header_name(cell) for cell in cells):
                    return line
    except (InputError, UnicodeError):
        return None
    return None
