"""The content import's CSV and XLSX files: columns and cells turned into the records ContentMapper reads
(importers.content)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from importers.content_checks import ASSOC_PREFIX, BOM_NOTE, check_columns, misread, unnamed_text
from importers.content_mapper import ContentMapper, _one, _record_key, _split
from importers.content_profile import ContentProfile
from importers.csv_records import check_records, csv_records
from importers.erp_csv import has_utf8_bom
from importers.workbook import header_places, other_sheets_refused, text_rows
from pim import content_sheet
from pim.errors import InputError
from pim.importing import Parsed, Rejected
from pim.sources import decode_guard, open_text
from pim.spreadsheet import unescape_formula


def _cells_by_name(header: list[str], cells: list[str]) -> dict[str, str]:
    """A ragged row's cells under the header's names, as far as both go."""
    return {name: cell.strip() for name, cell in zip(header, cells)}


def _named(header: list[str], cells: list[str]) -> dict[str, str]:
    return {column: cell for column, cell in zip(header, cells) if column}


def read_csv(path: Path, mapper: ContentMapper, source: str) -> Iterator[Parsed | Rejected]:
    """Columns: sku, value keys, bullets[:locale], images, associations:<type>. Lists use `list_separator`."""
    p, name, stamp = mapper.p, path.name, datetime.now(UTC)
    with open_text(path, p.encoding) as handle:
        rows = decode_guard(csv_records(handle, name, delimiter=p.delimiter), str(path), p.encoding)
        header = [h.strip() for h in next(rows, (0, []))[1]]
        bom = not codecs.lookup(p.encoding).name.startswith("utf") and has_utf8_bom(path)
        if p.sku_field not in header and p.model_field not in header:
            raise InputError(f"no '{p.sku_field}' column{misread(header, p, bom)}", file=name, line=1,
                             field=p.sku_field, hint="set encoding: utf-8 in the content profile" if bom else
                             f"name the products in a '{p.sku_field}' column (or models in '{p.model_field}')")
        if bom:  # the SKU column is not the first: every text would read garbled, the first column's name too
            raise InputError(f"the file starts with a UTF-8 byte order mark{BOM_NOTE}", file=name, line=1,
                             hint="set encoding: utf-8 in the content profile")
        check_columns(header, mapper, name, 1, xlsx=False)
        check_records(path, name, p.encoding, p.delimiter)  # a file refused part-way writes nothing
        unnamed = "" in header
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield Rejected(f"the row has {len(cells)} cells, the header has {len(header)}", name, line,
                               None, {"cells": cells}, _record_key(mapper, _cells_by_name(header, cells)))
                continue
            if unnamed and (reason := unnamed_text(header, cells, xlsx=False, line=line)):
                yield Rejected(reason, name, line, None, {"cells": cells}, _record_key(mapper, _named(header, cells)))
                continue
            yield _one(mapper, _csv_record(_named(header, cells) if unnamed else dict(zip(header, cells)), p), name,
                       line, source, stamp)


def _csv_record(row: dict[str, str], p: ContentProfile) -> dict[str, Any]:
    sep = p.list_separator
    if p.formula_escaped:
        row = {column: unescape_formula(cell) for column, cell in row.items()}
    out: dict[str, Any] = {"values": {}}
    for key_field in (p.sku_field, p.model_field, content_sheet.VERSION_COLUMN):
        if key_field in row:
            out[key_field] = row.pop(key_field)
    row.pop(content_sheet.NOTE_COLUMN, None)  # the to-do CSV's note for the person filling it in, not a value
    for column, cell in row.items():
        text = cell.strip()
        if column.startswith(ASSOC_PREFIX):
            out.setdefault("associations", {})[column[len(ASSOC_PREFIX):]] = _split(text, sep)
        elif column == "images":
            out["images"] = _split(text, sep)
        elif column.split(":")[0] == "bullets":
            locale = column.partition(":")[2] or None
            bullets = out.setdefault("bullets", {}) if locale else None
            if locale:
                bullets[locale] = _split(text, sep)  # type: ignore[index]
            else:
                out["bullets"] = _split(text, sep)
        else:
            out["values"][column] = text or None
    return out


_XLSX_HINT = "save it as .xlsx (Excel 2007 or later), or as CSV (UTF-8)"


def read_xlsx(path: Path, mapper: ContentMapper, source: str) -> Iterator[Parsed | Rejected]:
    """One sheet of a workbook (the profile's `sheet`, else the first) from the profile's `header_row`, with the
    CSV's columns and cells (importers.workbook streams it); line numbers are sheet rows. Formula cells give
    the value the spreadsheet last computed; a row with a formula cell the workbook holds no value for is
    rejected, never read as clearing that cell's value. A workbook without `sheet` whose other sheets have
    the SKU column too is refused: only one would be read, the others silently not."""
    p, name, stamp = mapper.p, path.name, datetime.now(UTC)
    wanted = {p.sku_field, p.model_field}
    headed = False

    def check_header(header: list[str], number: int) -> list[str]:
        nonlocal headed
        while header and not header[-1]:
            header.pop()
        if not wanted & set(header):
            _no_header(path, p, wanted)
        check_columns(header, mapper, name, number, xlsx=True)
        if p.sheet is None:
            other_sheets_refused(path, wanted, max(p.header_row, 10), p.sku_field, "content profile")
        headed = True
        return header

    for item in text_rows(path, _xlsx_text, check_header, reject_unsaved=True, hint=_XLSX_HINT, sheet=p.sheet,
                          header_row=p.header_row):
        if isinstance(item, Rejected):  # a formula cell the workbook holds no value for
            yield replace(item, record_key=_record_key(mapper, {k: v.strip() for k, v in (item.raw or {}).items()}))
            continue
        header, number, cells = item
        width = len(header)
        if any(c.strip() for c in cells[width:]):
            yield Rejected(f"the row has cells beyond the header's {width} columns", name, number, None,
                           {"cells": cells}, _record_key(mapper, _cells_by_name(header, cells)))
            continue
        cells = (cells + [""] * width)[:width]
        if "" in header and (reason := unnamed_text(header, cells, xlsx=True, line=number)):
            yield Rejected(reason, name, number, None, {"cells": cells}, _record_key(mapper, _named(header, cells)))
            continue
        yield _one(mapper, _csv_record(_named(header, cells), p), name, number, source, stamp)
    if not headed:  # the sheet ends before its header row
        _no_header(path, p, wanted)


def _no_header(path: Path, p: ContentProfile, wanted: set[str]) -> None:
    """Refuse a sheet whose header row lacks the SKU (and model) column, saying where the workbook has one."""
    where = f"sheet '{p.sheet}'" if p.sheet else "the first sheet"
    found = header_places(path, wanted, max(p.header_row, 10))
    raise InputError(f"no '{p.sku_field}' column in row {p.header_row} of {where}{found}", file=path.name, line=p.header_row,
                     field=p.sku_field, hint=("set those in the content profile" if found else
                                              f"name the products in a '{p.sku_field}' column (or models in "
                                              f"'{p.model_field}')"))


def _xlsx_text(value: Any) -> str:
    """A cell as the text a CSV would hold: numbers without exponents, dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return content_sheet.plain_number(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)
