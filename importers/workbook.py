"""An XLSX sheet read as rows of text, streamed (openpyxl's read-only mode, formula cells as last computed):
shared by the supplier table and content importers, which differ only in how a typed cell reads as text and
which header they need.

Two kinds of cell read as empty in that mode, and an empty cell clears a value: a formula the writing program
never calculated (openpyxl and many export libraries store none), and the cells of a merged range but its
top-left one. A pre-scan of the sheet's XML (`sheet_layout`) finds both first, since merged ranges are listed
after the cells: a row with such a formula in a column the caller reads is rejected, and every cell of a
merged range reads the top-left cell's value, as Excel shows it."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError
from zipfile import ZipFile

from pim.errors import InputError
from pim.importing import Rejected

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_ROW, _CELL, _FORMULA, _VALUE, _INLINE = (f"{_MAIN}{tag}" for tag in ("row", "c", "f", "v", "is"))
_MERGE, _LINK = f"{_MAIN}mergeCell", f"{_MAIN}hyperlink"
_UNSAVED_HINT = ("open and save the workbook in Excel or LibreOffice so its values are calculated, "
                 "or export CSV")


@dataclass(frozen=True, slots=True)
class _Unsaved:
    """A formula cell with no saved value: read as nothing, never as an empty cell. `ref`: where it is (C5)."""

    ref: str


class NumberText(str):
    """The text of a cell the workbook holds as a number, under the columns a caller names (text_rows'
    `numbers`): typed 00123 into a cell that is no text, Excel keeps 123, so the zeros may be gone. Under a
    number format that pads with zeros (custom format 00000) it is what Excel shows: 00123."""

    __slots__ = ()


Cell = str | _Unsaved
Row = tuple[list[str], int, list[str]]


def text_rows(path: Path, cell_text: Callable[[Any], str], check_header: Callable[[list[str], int], list[str]], *,
              hint: str, sheet: str | None = None, header_row: int = 1, columns: Collection[str] | None = None,
              reject_unsaved: bool = False, numbers: Collection[str] = ()) -> Iterator[Row | Rejected]:
    """(header, sheet row, cells) for each row below the header with more than whitespace; cells are as many as
    the sheet gives (not padded). The header row's stripped texts go through `check_header`, which raises or
    returns the header to use. `sheet`: by name (default the first).

    A formula cell with no saved value, under a column named in `columns` (default: every named column), is
    never read as empty: its row comes as a Rejected naming the column (`reject_unsaved`; the caller adds the
    record key), or the file is refused with an InputError. Elsewhere such a cell reads as empty.

    Under the `numbers` columns a number cell comes as a NumberText, so the caller can tell the digits a
    person typed from a number Excel stored. Cell styles are read only for a workbook that has a zero-padding
    number format (the rows are then read as cells, not values: slower)."""
    with _opened(path, hint) as wb:
        if sheet and sheet not in wb.sheetnames:
            raise InputError(f"no sheet '{sheet}' (sheets: {', '.join(wb.sheetnames)})", file=path.name, field="sheet")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        reading = _Reading(path.name, cell_text, check_header, header_row, columns, reject_unsaved, frozenset(numbers),
                           bool(numbers) and _pads_zeros(wb))
        yield from reading.rows(ws, sheet_layout(path, ws.title, hint))


def sheet_headers(path: Path, wanted: Collection[str], rows: int, *, every: bool = False
                  ) -> list[tuple[str, int | None]]:
    """(title, the first of its first `rows` rows holding a cell that says one of `wanted`, or None) for each
    sheet, in the workbook's order: where a workbook has the columns a reader looks for. A workbook of one
    sheet is not opened again unless `every` (there is no other sheet to point at)."""
    titles = _sheet_titles(path)
    if len(titles) < 2 and not every:
        return [(title, None) for title in titles]
    with _opened(path, "save it as .xlsx") as wb:
        found: list[tuple[str, int | None]] = []
        for ws in wb.worksheets:
            cells = (n for n, row in enumerate(ws.iter_rows(max_row=rows, values_only=True), start=1)
                     if any(isinstance(v, str) and v.strip() in wanted for v in row))
            found.append((ws.title, next(cells, None)))
        return found


def other_sheets_refused(path: Path, wanted: Collection[str], rows: int, column: str, profile: str) -> None:
    """Refuse a workbook read without a `sheet` whose later sheets have one of the `wanted` columns in their
    first `rows` rows too: only the first sheet is read, and the others' rows were silently not imported.
    `column`: the column's name in the message; `profile`: what holds the `sheet` setting."""
    sheets = sheet_headers(path, wanted, rows)
    others = [repr(title) for title, row in sheets[1:] if row]
    if others:
        raise InputError(f"{'sheets' if len(others) > 1 else 'sheet'} {', '.join(others)} "
                         f"{'have' if len(others) > 1 else 'has'} a '{column}' column too, but only one sheet is "
                         f"read (the first, {sheets[0][0]!r})", file=path.name, field="sheet",
                         hint=f"set `sheet:` in the {profile} and import the file once per sheet, or move the rows "
                              "onto one sheet")


def header_places(path: Path, wanted: Collection[str], rows: int) -> str:
    """`; the workbook has it at sheet: 'Artikel', header_row: 2` (up to three places) for a refusal of a
    header that lacks the `wanted` column, or "" when no sheet has it in its first `rows` rows."""
    found = [(title, row) for title, row in sheet_headers(path, wanted, rows, every=True) if row]
    return ("; the workbook has it at " + "; ".join(f"sheet: {t!r}, header_row: {row}" for t, row in found[:3])
            if found else "")


#: The first bytes of a ZIP archive (an XLSX) and of an OLE2 compound file (an .xls, or an encrypted workbook).
_ZIP, _OLE2 = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def workbook_kind(path: Path) -> str | None:
    """What the file's first bytes say it is, whatever its name (`head_kind`); None when it cannot be read (its
    reader says why)."""
    try:
        with path.open("rb") as handle:
            return head_kind(handle.read(len(_OLE2)))
    except OSError:
        return None


def head_kind(head: bytes) -> str | None:
    """What a file's first bytes say it is: "xlsx" (a ZIP archive), "ole2" (an Excel 97-2003 workbook, or one
    Excel saved with a password), or None (text)."""
    return "xlsx" if head.startswith(_ZIP) else "ole2" if head.startswith(_OLE2) else None


def _sheet_titles(path: Path) -> list[str]:
    """The sheets' names from the workbook part alone (no cell is read); [] when that part cannot be read."""
    from zipfile import BadZipFile

    try:
        with ZipFile(path) as archive:
            book = _target(archive, "", "_rels/.rels", lambda rel: rel.get("Type", "").endswith("/officeDocument"),
                           path.name)
            return [sheet.get("name", "") for sheet in _elements(archive, book, f"{_MAIN}sheet", path.name)]
    except (BadZipFile, KeyError, OSError, ValueError, ParseError, InputError):
        return []


@contextmanager
def _opened(path: Path, hint: str) -> Iterator[Any]:
    """The workbook in openpyxl's read-only mode, closed on leaving. Opened from a handle, not its name:
    openpyxl refuses a name other than .xlsx/.xlsm, and a workbook a mail program saved as .csv is one."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        guard_workbook(path)
        handle = path.open("rb")
    except (BadZipFile, OSError, ValueError, ParseError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None
    with handle:
        try:
            wb = load_workbook(handle, read_only=True, data_only=True)
        except (BadZipFile, InvalidFileException, OSError, KeyError, ValueError, ParseError) as exc:
            raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None
        try:
            yield wb
        finally:
            wb.close()


@dataclass(frozen=True)
class _Reading:
    """How one caller reads a sheet (text_rows' arguments)."""

    name: str
    cell_text: Callable[[Any], str]
    check_header: Callable[[list[str], int], list[str]]
    header_row: int
    columns: Collection[str] | None
    reject_unsaved: bool
    numbers: frozenset[str]
    styled: bool  # read the cells' number formats (NumberText under a zero-padding format)

    def rows(self, ws: Any, layout: SheetLayout) -> Iterator[Row | Rejected]:
        merged = _MergedRanges(layout.merged)
        header: list[str] | None = None
        numbers_at: list[int] = []
        for number, row, styles in _rows(ws, self.name, self.styled):
            unsaved_at = layout.unsaved.get(number)
            cells: list[Cell] = [v if v.__class__ is str else self.cell_text(v) for v in row]  # mostly text already
            if numbers_at:
                _mark_numbers(cells, row, styles, numbers_at)
            if unsaved_at:
                _mark_unsaved(cells, number, unsaved_at)
            own = [c for c in cells if c.__class__ is not _Unsaved] if unsaved_at else cells
            blank = not "".join(own).strip()  # type: ignore[arg-type]  # merged copies are not the row's own
            suspect = merged.fill(number, cells) or bool(unsaved_at)
            if number < self.header_row:
                continue
            if header is None:
                header = self.check_header(_header_texts(cells, number, self.name), number)
                numbers_at = [n for n, column in enumerate(header) if column in self.numbers]
                continue
            texts = [c if c.__class__ is not _Unsaved else "" for c in cells] if suspect else cells
            if suspect and (unread := self._unread(header, cells)):
                yield self._unsaved(unread, header, texts, number)  # type: ignore[arg-type]
            elif not blank:
                yield header, number, texts  # type: ignore[misc]

    def _unread(self, header: list[str], cells: list[Cell]) -> list[tuple[str, _Unsaved]]:
        """(column, cell) of the unsaved formula cells under the columns the caller reads."""
        return [(column, cell) for column, cell in zip(header, cells) if isinstance(cell, _Unsaved)
                and column and (self.columns is None or column in self.columns)]

    def _unsaved(self, unread: list[tuple[str, _Unsaved]], header: list[str], texts: list[str],
                 number: int) -> Rejected:
        refs = list(dict.fromkeys(cell.ref for _, cell in unread))  # a merged range's cells name its top-left once
        what = f"cell {refs[0]} holds a formula" if len(refs) == 1 else f"cells {', '.join(refs)} hold formulas"
        if not self.reject_unsaved:
            raise InputError(f"{what} with no saved value", file=self.name, line=number, field=unread[0][0],
                             hint=_UNSAVED_HINT)
        return Rejected(f"{what} with no saved value: {_UNSAVED_HINT}", self.name, number, unread[0][0],
                        dict(zip(header, texts)))


#: A number format that shows a whole number with leading zeros: 00000 (a section for negatives may follow).
_ZERO_PAD = re.compile(r"(00+)(?:;.*)?", re.DOTALL)


def _pads_zeros(wb: Any) -> bool:
    """Whether the workbook has a zero-padding number format (openpyxl keeps the workbook's own formats in
    `_number_formats`, where its read-only cells look theirs up; none of the built-in ones pads)."""
    formats = getattr(wb, "_number_formats", None)
    return formats is None or any(_ZERO_PAD.fullmatch(code) for code in formats if isinstance(code, str))


def _mark_numbers(cells: list[Cell], values: tuple[Any, ...], styles: tuple[Any, ...] | None, at: list[int]) -> None:
    """The number cells at `at` as NumberText: as Excel shows them when their format pads them with zeros."""
    for n in at:
        value = values[n] if n < len(values) else None
        if value.__class__ is int or value.__class__ is float:  # not a bool, a date or text
            shown = _zero_padded(value, styles[n].number_format) if styles is not None else None
            cells[n] = NumberText(shown or cells[n])


def _zero_padded(value: float, code: str | None) -> str | None:
    """A whole number as a zero-padding format `code` shows it (123 under 00000: 00123), else None."""
    found = _ZERO_PAD.fullmatch(code) if isinstance(code, str) else None
    if found is None or value < 0 or (isinstance(value, float) and not value.is_integer()):
        return None
    return str(int(value)).zfill(len(found.group(1)))


def _mark_unsaved(cells: list[Cell], number: int, columns: list[int]) -> None:
    from openpyxl.utils.cell import get_column_letter

    for column in columns:
        cells.extend([""] * (column - len(cells)))
        cells[column - 1] = _Unsaved(f"{get_column_letter(column)}{number}")


def _header_texts(cells: list[Cell], number: int, name: str) -> list[str]:
    """The header's names; a header formula with no saved value would hide a column the profile names."""
    if unsaved := [c.ref for c in cells if isinstance(c, _Unsaved)]:
        raise InputError(f"header cell {', '.join(unsaved)} holds a formula with no saved value", file=name,
                         line=number, hint=_UNSAVED_HINT)
    return [c.strip() for c in cells]  # type: ignore[union-attr]


class _MergedRanges:
    """Merged ranges applied as the rows stream: each cell of a range takes its top-left cell's value."""

    def __init__(self, ranges: list[tuple[int, int, int, int]]) -> None:
        self._waiting = sorted(ranges, key=lambda r: r[1], reverse=True)  # (min_col, min_row, max_col, max_row)
        self._open: list[tuple[int, int, int, Cell]] = []  # (min_col, max_col, max_row, top-left value)

    def fill(self, number: int, cells: list[Cell]) -> bool:
        """Fill row `number`'s merged cells; True when one took a formula cell with no saved value."""
        if not self._open and not (self._waiting and self._waiting[-1][1] <= number):
            return False
        while self._waiting and self._waiting[-1][1] <= number:
            min_col, min_row, max_col, max_row = self._waiting.pop()
            value = cells[min_col - 1] if min_row == number and min_col <= len(cells) else ""
            self._open.append((min_col, max_col, max_row, value))
        self._open = [r for r in self._open if r[2] >= number]
        took = False
        for min_col, max_col, _, value in self._open:
            cells.extend([""] * (max_col - len(cells)))
            cells[min_col - 1:max_col] = [value] * (max_col - min_col + 1)
            took = took or value.__class__ is _Unsaved
        return took


def _rows(ws: Any, name: str, styled: bool = False) -> Iterator[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]]:
    """The sheet's rows, numbered: (number, values, the cells when `styled`, else None). A sheet whose XML breaks
    mid-way ends the import with an InputError naming the row it reached. `sheet_layout` refuses it before any
    row is read when it is cut off or holds formulas or merged ranges; otherwise the rows before the break, read
    in full, stay imported."""
    number = 0
    try:
        for number, row in enumerate(ws.iter_rows(values_only=not styled), start=1):
            yield (number, tuple(c.value for c in row), row) if styled else (number, row, None)
    except ParseError as exc:
        raise _broken(name, number, exc) from None


def _broken(name: str, number: int, exc: Exception) -> InputError:
    return InputError(f"the sheet's XML is broken after row {number}: {exc}", file=name, line=number + 1,
                      hint="save the workbook again from Excel (or export CSV) and re-run")


@dataclass
class SheetLayout:
    """What a sheet's rows alone do not say, in memory as large as the merged ranges and unsaved formulas."""

    #: (min_col, min_row, max_col, max_row) of each merged range
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: sheet row → columns (1-based) of its formula cells with no saved value
    unsaved: dict[int, list[int]] = field(default_factory=dict)


def sheet_layout(path: Path, title: str, hint: str) -> SheetLayout:
    """The merged ranges and unsaved formula cells of the sheet named `title` (its XML part located through the
    package's relationships, as Excel does): a byte scan first, then, only where it finds a formula or a
    merged range, one streaming parse."""
    from zipfile import BadZipFile

    try:
        with ZipFile(path) as archive:
            part = _sheet_part(archive, title, path.name)
            with archive.open(part) as handle:
                if _plain(handle):
                    return SheetLayout()
            with archive.open(part) as handle:
                return _scan(handle, path.name, part)
    except (BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None


#: The start of an element named f or mergeCell, with or without a prefix (text holds no bare "<").
_MARKUP = re.compile(rb"[<:](?:f|mergeCell)[\s/>]")
#: The worksheet's end tag closing the part: a part cut off before it may have lost its merged ranges.
_CLOSED = re.compile(rb"</(?:[\w.-]+:)?worksheet>\s*\Z")
_CHUNK = 1024 * 1024


def _plain(handle: IO[bytes]) -> bool:
    """True when the part is whole and has no formula and no merged range, as most supplier sheets: the parse
    is skipped (a fifth of its cost). A match in text or another element only costs that parse."""
    tail = b""
    while chunk := handle.read(_CHUNK):
        if _MARKUP.search(tail + chunk):
            return False
        tail = (tail + chunk)[-64:]
    return _CLOSED.search(tail) is not None


def _sheet_part(archive: ZipFile, title: str, name: str) -> str:
    """The zip member of sheet `title`: _rels/.rels names the workbook, whose <sheet r:id> its rels resolve."""
    book = _target(archive, "", "_rels/.rels", lambda rel: rel.get("Type", "").endswith("/officeDocument"), name)
    rid = next((_rel_id(s) for s in _elements(archive, book, f"{_MAIN}sheet", name) if s.get("name") == title), None)
    folder, file = posixpath.split(book)
    rels = posixpath.join(folder, "_rels", f"{file}.rels")
    return _target(archive, book, rels, lambda rel: rel.get("Id") == rid, name)


def _rel_id(sheet: Any) -> str | None:
    return next((value for key, value in sheet.attrib.items() if key.endswith("}id")), None)


def _target(archive: ZipFile, source: str, rels: str, wanted: Callable[[Any], bool], name: str) -> str:
    """The part the first relationship in `rels` that is `wanted` points at, resolved against `source`."""
    for rel in _elements(archive, rels, _RELATIONSHIP, name):
        if wanted(rel) and (target := rel.get("Target")):
            if target.startswith("/"):
                return target[1:]
            return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    raise KeyError(f"{rels} names no part for the sheet")


def _elements(archive: ZipFile, part: str, tag: str, name: str) -> Iterator[Any]:
    from importers.xml_safety import safe_iterparse

    with archive.open(part) as handle:
        for _, element in safe_iterparse(handle, f"{name}:{part}", events=("end",), tag=tag):
            yield element


def _scan(handle: IO[bytes], name: str, part: str) -> SheetLayout:
    """One pass with events only for rows, formulas, merged ranges and hyperlinks (the tag filter runs in C),
    each row freed once read, so memory follows what is kept, not the sheet's size. Rows without `r` are
    counted as openpyxl counts them."""
    from importers.xml_safety import safe_iterparse

    layout, number, formulas = SheetLayout(), 0, []
    try:
        for _, element in safe_iterparse(handle, f"{name}:{part}", events=("end",),
                                         tag=(_ROW, _FORMULA, _MERGE, _LINK)):
            if element.tag == _FORMULA:  # its cell's <v> is still to come: judged at the row's end
                if (cell := element.getparent()) is not None and cell.tag == _CELL:
                    formulas.append(cell)
                continue
            if element.tag == _ROW:
                number = _row_number(element.get("r"), number)
                if formulas and (columns := _unsaved_columns(element, formulas)):
                    layout.unsaved[number] = columns
                formulas = []
            elif element.tag == _MERGE:
                layout.merged.append(_merged_range(element.get("ref", "")))
            element.clear()
            while element.getprevious() is not None:  # only elements already read: events queue ahead
                del element.getparent()[0]
    except InputError as exc:
        if exc.field:  # a DOCTYPE refused, not XML broken
            raise
        raise _broken(name, number, exc) from None
    except (ValueError, TypeError) as exc:  # a row number or merged range that is no cell reference
        raise _broken(name, number, exc) from None
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


def _unsaved_columns(row: Any, formulas: list[Any]) -> list[int]:
    return [_column(row, cell) for cell in formulas if not _saved(cell)]


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


#: A workbook part larger than this, unpacked, that packs more than `_MAX_RATIO` times smaller is a zip bomb.
_BOMB_BYTES = 100 * 1024 * 1024
_MAX_RATIO = 500
#: openpyxl holds a workbook's shared strings in memory (its sheets stream): beyond this, unpacked, refused.
_MAX_SHARED_STRINGS = 256 * 1024 * 1024


def guard_workbook(path: Path) -> None:
    """Refuse, before openpyxl reads it, a workbook that is a zip bomb, whose shared strings would not fit in
    memory, or whose XML parts declare a DOCTYPE or entities (Excel never writes one; external entities and
    entity bombs are refused as in every XML importer, importers/xml_safety.py). Reads only each part's head."""
    from io import BytesIO
    from zipfile import ZipFile

    from importers.xml_safety import PROLOGUE_BYTES, guard_prologue

    with ZipFile(path) as archive:
        for info in archive.infolist():
            where = f"{path.name}:{info.filename}"
            if info.file_size > _BOMB_BYTES and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
                raise InputError(f"{info.filename} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                                 "(a zip bomb); refused", file=where, hint="export the sheet again, or as CSV")
            if info.filename.endswith("sharedStrings.xml") and info.file_size > _MAX_SHARED_STRINGS:
                raise InputError(f"the workbook's shared strings unpack to {info.file_size:,} bytes, more than "
                                 f"{_MAX_SHARED_STRINGS:,} held in memory; refused", file=where,
                                 hint="split the workbook, or export it as CSV (which streams)")
            if info.filename.endswith((".xml", ".rels")) and info.file_size:
                with archive.open(info) as part:
                    guard_prologue(BytesIO(part.read(PROLOGUE_BYTES)), where)
