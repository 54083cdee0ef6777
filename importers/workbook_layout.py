"""What a sheet's rows alone do not say, found before they are read: its merged ranges (listed after the
cells), its formula cells with no saved value and its cells holding an error value (#N/A). A byte scan first;
one streaming parse only where it finds any. Split from importers.workbook, which applies them as rows stream
(importers.workbook_rows)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any
from zipfile import ZipFile

from importers.workbook_parts import CHUNK as _CHUNK
from importers.workbook_parts import MAIN as _MAIN
from importers.workbook_parts import sheet_part as _sheet_part
from pim.errors import InputError

_ROW, _CELL, _FORMULA, _VALUE, _INLINE = (f"{_MAIN}{tag}" for tag in ("row", "c", "f", "v", "is"))
_MERGE, _LINK = f"{_MAIN}mergeCell", f"{_MAIN}hyperlink"


def broken_after(name: str, number: int, exc: Exception) -> InputError:
    """The refusal of a sheet whose XML breaks after row `number` (the scan's, or openpyxl's as rows stream)."""
    return InputError(f"the sheet's XML is broken after row {number}: {exc}", file=name, line=number + 1,
                      hint="save the workbook again from Excel (or export CSV) and re-run")


@dataclass
class SheetLayout:
    """What a sheet's rows alone do not say, in memory as large as the merged ranges and unsaved formulas."""

    #: (min_col, min_row, max_col, max_row) of each merged range
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: sheet row → (column (1-based), error value or "") of its formula cells with no saved value and its
    #: cells holding an error value (#N/A)
    unread: dict[int, list[tuple[int, str]]] = field(default_factory=dict)


def sheet_layout(path: Path, title: str, hint: str) -> SheetLayout:
    """The merged ranges, unsaved formula cells and error cells of the sheet named `title` (its XML part
    located through the package's relationships, as Excel does): a byte scan first, then, only where it finds
    a formula, a merged range or an error, one streaming parse."""
    from zipfile import BadZipFile

    try:
        with ZipFile(path) as archive:
            part = _sheet_part(archive, title, path.name)
            with archive.open(part) as handle:
                plain, errors = _plain(handle)
                if plain:
                    return SheetLayout()
            with archive.open(part) as handle:
                return _scan(handle, path.name, part, errors)
    except (BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None


#: The start of an element named f or mergeCell, with or without a prefix (text holds no bare "<").
_MARKUP = re.compile(rb"[<:](?:f|mergeCell)[\s/>]")
#: A cell holding an error value (t="e"): #N/A, #REF!, #VALUE!, #DIV/0!…
_ERROR_TYPE = re.compile(rb"""\st=["']e["']""")
#: The worksheet's end tag closing the part: a part cut off before it may have lost its merged ranges.
_CLOSED = re.compile(rb"</(?:[\w.-]+:)?worksheet>\s*\Z")


def _plain(handle: IO[bytes]) -> tuple[bool, bool]:
    """(True when the part is whole and has no formula, merged range or error cell, as most supplier sheets:
    the parse is skipped, a fifth of its cost; whether it may hold an error cell: only then are its rows'
    cells looked at). A match in text or another element only costs that parse."""
    tail, markup, errors = b"", False, False
    while chunk := handle.read(_CHUNK):
        text = tail + chunk
        markup = markup or _MARKUP.search(text) is not None
        errors = errors or _ERROR_TYPE.search(text) is not None
        if markup and errors:
            return False, True
        tail = text[-64:]
    return not markup and not errors and _CLOSED.search(tail) is not None, errors


def _scan(handle: IO[bytes], name: str, part: str, errors: bool = False) -> SheetLayout:
    """One pass with events only for rows, formulas, merged ranges and hyperlinks (the tag filter runs in C),
    each row freed once read, so memory follows what is kept, not the sheet's size. Rows without `r` are
    counted as openpyxl counts them. `errors`: the part may hold error cells, so each row is searched for them
    (an XPath, in C)."""
    from importers.xml_safety import safe_iterparse

    layout, number, formulas = SheetLayout(), 0, []
    error_cells = _error_cells() if errors else None
    try:
        for _, element in safe_iterparse(handle, f"{name}:{part}", events=("end",),
                                         tag=(_ROW, _FORMULA, _MERGE, _LINK)):
            if element.tag == _FORMULA:  # its cell's <v> is still to come: judged at the row's end
                if (cell := element.getparent()) is not None and cell.tag == _CELL:
                    formulas.append(cell)
                continue
            if element.tag == _ROW:
                number = _row_number(element.get("r"), number)
                found = _unsaved_columns(element, formulas) if formulas else []
                if error_cells is not None:
                    found += _errors(element, error_cells(element), {column for column, _ in found})
                if found:
                    layout.unread[number] = found
                formulas = []
            elif element.tag == _MERGE:
                layout.merged.append(_merged_range(element.get("ref", "")))
            element.clear()
            while element.getprevious() is not None:  # only elements already read: events queue ahead
                del element.getparent()[0]
    except InputError as exc:
        if exc.field:  # a DOCTYPE refused, not XML broken
            raise
        raise broken_after(name, number, exc) from None
    except (ValueError, TypeError) as exc:  # a row number or merged range that is no cell reference
        raise broken_after(name, number, exc) from None
    return layout


def _merged_range(ref: str) -> tuple[int, int, int, int]:
    from openpyxl.utils.cell import range_boundaries

    bounds = range_boundaries(ref)
    if None in bounds:  # a whole row or column: Excel merges cells, not those
        raise ValueError(f"merged range {ref} is no block of cells")
    return bounds  # type: ignore[return-value]


def _row_number(r: str | None, previous: int) -> int:
    if r is None:
        return previous + 1
    try:
        return int(r)
    except ValueError:
        number = float(r)
        if not number.is_integer():
            raise
        return int(number)


def _unsaved_columns(row: Any, formulas: list[Any]) -> list[tuple[int, str]]:
    return [(_column(row, cell), "") for cell in formulas if not _saved(cell)]


@cache
def _error_cells() -> Any:
    """The compiled search for a row's cells holding an error value."""
    from lxml import etree

    return etree.XPath("m:c[@t='e']", namespaces={"m": _MAIN[1:-1]})


def _errors(row: Any, cells: list[Any], unsaved: set[int]) -> list[tuple[int, str]]:
    """(column, error value) of a row's error cells (`cells`) that are not unsaved formulas already."""
    found = []
    for cell in cells:
        column = _column(row, cell)
        if column not in unsaved:
            found.append((column, (cell.findtext(_VALUE) or "").strip() or "(unknown)"))
    return found


def _saved(cell: Any) -> bool:
    """A formula cell holds what it last computed: a <v> (or inline text), empty only for a text result
    (t="str"); openpyxl writes <v></v> for a formula it never calculated, other writers leave <v> out."""
    value = cell.find(_VALUE)
    if value is None:
        return cell.find(_INLINE) is not None
    return bool(value.text) or cell.get("t") == "str"


def _column(row: Any, cell: Any) -> int:
    """The cell's column; one without `r` counted on from the cell before it, as openpyxl does."""
    from openpyxl.utils.cell import coordinate_to_tuple

    if ref := cell.get("r"):
        return coordinate_to_tuple(ref)[1]
    column = 0
    for other in row.iterchildren(_CELL):
        ref = other.get("r")
        column = coordinate_to_tuple(ref)[1] if ref else column + 1
        if other is cell:
            break
    return column
