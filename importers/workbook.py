"""An XLSX sheet read as rows of text, streamed (openpyxl's read-only mode, formula cells as last computed):
shared by the supplier table and content importers, which differ only in how a typed cell reads as text and
which header they need.

Two kinds of cell read as empty in that mode, and an empty cell clears a value: a formula the writing program
never calculated (openpyxl and many export libraries store none), and the cells of a merged range but its
top-left one; an error value (#N/A of a VLOOKUP that found nothing, #REF!) reads as its text, which was stored
as a product's name. A pre-scan of the sheet's XML (`sheet_layout`) finds them first, since merged ranges are
listed after the cells: a row with such a formula or an error in a column the caller reads is rejected, and
the cells below a merged range's top-left one read its value, as Excel shows it. In a data row a range merged
across columns (a long text over two columns) gives the columns right of it nothing: its text is not theirs."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
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
_ERROR_HINT = ("correct the formula (a lookup that found nothing, a broken reference) or clear the cell, save "
               "the workbook and import again")


@dataclass(frozen=True, slots=True)
class _Unread:
    """A cell read as nothing, never as an empty cell or text: a formula with no saved value, or an error value
    (`error`: #N/A, #REF!…, t="e"). `ref`: where it is (C5)."""

    ref: str
    error: str = ""


class NumberText(str):
    """The text of a cell the workbook holds as a number, under the columns a caller names (text_rows'
    `numbers`): typed 00123 into a cell that is no text, Excel keeps 123, so the zeros may be gone. Under a
    number format that pads with zeros (custom format 00000) it is what Excel shows: 00123."""

    __slots__ = ()


Cell = str | _Unread
Row = tuple[list[str], int, list[str]]


def text_rows(path: Path, cell_text: Callable[[Any], str], check_header: Callable[[list[str], int], list[str]], *,
              hint: str, sheet: str | None = None, header_row: int = 1, columns: Collection[str] | None = None,
              reject_unsaved: bool = False, numbers: Collection[str] = ()) -> Iterator[Row | Rejected]:
    """(header, sheet row, cells) for each row below the header with more than whitespace; cells are as many as
    the sheet gives (not padded). The header row's stripped texts go through `check_header`, which raises or
    returns the header to use. `sheet`: by name (default the first).

    A formula cell with no saved value, or a cell holding an error value (#N/A), under a column named in
    `columns` (default: every named column), is never read as empty or as text: its row comes as a Rejected
    naming the cell and column (`reject_unsaved`; the caller adds the record key), or the file is refused with
    an InputError. Elsewhere such a cell reads as empty.

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
    openpyxl refuses a name other than .xlsx/.xlsm, and a workbook a mail program saved as .csv is one.
    A DOCTYPE or entity declaration is refused alike wherever it is found: by guard_workbook's scan, by our
    reads of the sheet's XML, or by openpyxl's parser while it opens the workbook or streams a sheet
    (defusedxml refuses entities there). External links are not read: a cell holds what they gave."""
    from zipfile import BadZipFile

    from defusedxml import DefusedXmlException
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        guard_workbook(path)
        handle = path.open("rb")
    except (BadZipFile, OSError, ValueError, ParseError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None
    except InputError as exc:
        raise _in_workbook(exc) from None
    with handle:
        try:
            wb = load_workbook(handle, read_only=True, data_only=True, keep_links=False)
        except (BadZipFile, InvalidFileException, OSError, KeyError, ValueError, ParseError) as exc:
            if _defused(exc):  # openpyxl wraps its parser's error in a ValueError
                raise _declares_entities(path) from None
            raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None
        try:
            yield wb
        except DefusedXmlException:  # a sheet openpyxl streams
            raise _declares_entities(path) from None
        except InputError as exc:
            raise _in_workbook(exc) from None
        finally:
            wb.close()


#: What to do about a DOCTYPE or entity declaration in a workbook: Excel never writes one.
_DECLARATIONS_HINT = ("Excel never writes a DOCTYPE: the workbook was written by another program or altered. "
                      "Open it in Excel or LibreOffice, save it again as .xlsx (or export CSV) and import that")


def _in_workbook(exc: InputError) -> InputError:
    """`exc` with the hint for a workbook when it refuses a DOCTYPE (importers/xml_safety.py's speaks of XML
    files, whose declarations a supplier can remove)."""
    if exc.field == "DOCTYPE":
        exc.hint = _DECLARATIONS_HINT
    return exc


def _defused(exc: BaseException | None) -> bool:
    """Whether defusedxml refused an entity declaration (or DTD) somewhere in `exc`'s chain of causes."""
    from defusedxml import DefusedXmlException

    while exc is not None:
        if isinstance(exc, DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


#: A DOCTYPE or an entity declaration, in bytes.
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)")


def _declares_entities(path: Path) -> InputError:
    """The refusal of an entity declaration openpyxl's parser found past guard_workbook's scan (after a long
    comment), as guard_workbook refuses one, naming the part."""
    from importers.xml_safety import doctype_refused

    part = _declaring_part(path)
    return doctype_refused(f"{path.name}:{part}" if part else path.name, None,
                           "declares entities (external entities or an entity bomb)", hint=_DECLARATIONS_HINT)


def _declaring_part(path: Path) -> str | None:
    """The first XML part holding a DOCTYPE or an entity declaration, each read through (only on refusal)."""
    with ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.endswith((".xml", ".rels")):
                with archive.open(info) as part:
                    tail = b""
                    while chunk := part.read(_CHUNK):
                        if _DECLARATION.search(tail + chunk):
                            return info.filename
                        tail = chunk[-16:]
    return None


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
            unread_at = layout.unread.get(number)
            cells: list[Cell] = [v if v.__class__ is str else self.cell_text(v) for v in row]  # mostly text already
            if numbers_at:
                _mark_numbers(cells, row, styles, numbers_at)
            if unread_at:
                _mark_unread(cells, number, unread_at)
            own = [c for c in cells if c.__class__ is not _Unread] if unread_at else cells
            blank = not "".join(own).strip()  # type: ignore[arg-type]  # merged copies are not the row's own
            suspect = merged.fill(number, cells, across=header is None) or bool(unread_at)
            if number < self.header_row:
                continue
            if header is None:
                header = self.check_header(_header_texts(cells, number, self.name), number)
                numbers_at = [n for n, column in enumerate(header) if column in self.numbers]
                continue
            texts = [c if c.__class__ is not _Unread else "" for c in cells] if suspect else cells
            if suspect and (unread := self._unread(header, cells)):
                yield self._unsaved(unread, header, texts, number)  # type: ignore[arg-type]
            elif not blank:
                yield header, number, texts  # type: ignore[misc]

    def _unread(self, header: list[str], cells: list[Cell]) -> list[tuple[str, _Unread]]:
        """(column, cell) of the unsaved formula and error cells under the columns the caller reads."""
        return [(column, cell) for column, cell in zip(header, cells) if isinstance(cell, _Unread)
                and column and (self.columns is None or column in self.columns)]

    def _unsaved(self, unread: list[tuple[str, _Unread]], header: list[str], texts: list[str],
                 number: int) -> Rejected:
        what, hint = _unread_reason(list(dict.fromkeys(cell for _, cell in unread)))  # a merged range's: once
        if not self.reject_unsaved:
            raise InputError(what, file=self.name, line=number, field=unread[0][0], hint=hint)
        return Rejected(f"{what}: {hint}", self.name, number, unread[0][0], dict(zip(header, texts)))


def _unread_reason(cells: list[_Unread]) -> tuple[str, str]:
    """(what the cells hold, what to do): `cell C3 holds the error #N/A`, `cells D3, E3 hold formulas with no
    saved value`, both joined when a row has both."""
    errors = [cell for cell in cells if cell.error]
    unsaved = [cell.ref for cell in cells if not cell.error]
    said, hints = [], []
    if errors:
        said.append(f"cell {errors[0].ref} holds the error {errors[0].error}" if len(errors) == 1 else
                    f"cells {', '.join(c.ref for c in errors)} hold errors ({', '.join(c.error for c in errors)})")
        hints.append(_ERROR_HINT)
    if unsaved:
        said.append(f"cell {unsaved[0]} holds a formula with no saved value" if len(unsaved) == 1 else
                    f"cells {', '.join(unsaved)} hold formulas with no saved value")
        hints.append(_UNSAVED_HINT)
    return "; ".join(said), "; ".join(hints)


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


def _mark_unread(cells: list[Cell], number: int, found: list[tuple[int, str]]) -> None:
    from openpyxl.utils.cell import get_column_letter

    for column, error in found:
        cells.extend([""] * (column - len(cells)))
        cells[column - 1] = _Unread(f"{get_column_letter(column)}{number}", error)


def _header_texts(cells: list[Cell], number: int, name: str) -> list[str]:
    """The header's names; a header formula with no saved value, or an error, would hide a column the profile
    names."""
    if unread := [c for c in cells if isinstance(c, _Unread)]:
        what, hint = _unread_reason(unread)
        raise InputError(f"header {what}", file=name, line=number, hint=hint)
    return [c.strip() for c in cells]  # type: ignore[union-attr]


class _MergedRanges:
    """Merged ranges applied as the rows stream: the cells below a range's top-left one take its value (a
    merge down a column says the rows share it). In a data row the columns right of it get nothing: a text
    merged across columns for room (a long text over Langtext and ETIM-Klasse) is not the other columns'
    value. A header cell merged across columns names each of them (refused as a column named twice)."""

    def __init__(self, ranges: list[tuple[int, int, int, int]]) -> None:
        self._waiting = sorted(ranges, key=lambda r: r[1], reverse=True)  # (min_col, min_row, max_col, max_row)
        self._open: list[tuple[int, int, int, Cell]] = []  # (min_col, max_col, max_row, top-left value)

    def fill(self, number: int, cells: list[Cell], across: bool = False) -> bool:
        """Fill row `number`'s merged cells (`across`: the columns right of the top-left one too); True when one
        took an unsaved formula or error cell."""
        if not self._open and not (self._waiting and self._waiting[-1][1] <= number):
            return False
        while self._waiting and self._waiting[-1][1] <= number:
            min_col, min_row, max_col, max_row = self._waiting.pop()
            value = cells[min_col - 1] if min_row == number and min_col <= len(cells) else ""
            self._open.append((min_col, max_col, max_row, value))
        self._open = [r for r in self._open if r[2] >= number]
        took = False
        for min_col, max_col, _, value in self._open:
            end = max_col if across else min_col
            cells.extend([""] * (end - len(cells)))
            cells[min_col - 1:end] = [value] * (end - min_col + 1)
            took = took or value.__class__ is _Unread
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
_CHUNK = 1024 * 1024


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


#: A workbook part larger than this, unpacked, that packs more than `_MAX_RATIO` times smaller is a zip bomb.
#: Real workbooks' parts pack 2 to 15 times smaller (the generated large supplier sheet 7, a 37 MB sheet 14);
#: a sheet of formatted empty rows, the most repetitive Excel writes, about 30.
_BOMB_BYTES = 4 * 1024 * 1024
_MAX_RATIO = 100
#: openpyxl builds each part it reads whole (the styles, the workbook part, content types, properties, theme,
#: relationships) into objects up to ~50 times its size (styles: 16 MiB of cell formats ~800 MB): beyond
#: this, unpacked, refused. Real ones are KBs (the generated supplier workbooks' styles: 2.5 KB); Excel's own
#: limit of 64,000 cell formats keeps a bloated styles part near it.
_MAX_WHOLE_PART = 16 * 1024 * 1024
#: Content types of the parts openpyxl reads whole, besides those it reads by name (_whole_parts).
_WHOLE_TYPES = ("main+xml", "styles+xml", "theme+xml", "properties+xml", "relationships+xml")
#: openpyxl holds a workbook's shared strings in memory (its sheets stream), each ~150 bytes beyond its text
#: (4 million: ~600 MB): beyond either limit, refused.
_MAX_SHARED_STRINGS = 256 * 1024 * 1024
_MAX_STRINGS = 4_000_000


def guard_workbook(path: Path) -> None:
    """Refuse, before openpyxl reads it, a workbook that is a zip bomb, a part of which would not fit in memory
    (the shared strings, a part openpyxl reads whole), or whose XML parts declare a DOCTYPE or entities (Excel
    never writes one; external entities and entity bombs are refused as in every XML importer,
    importers/xml_safety.py). Reads each part's head, and large shared strings through."""
    from io import BytesIO
    from zipfile import ZipFile

    from importers.xml_safety import PROLOGUE_BYTES, guard_prologue

    with ZipFile(path) as archive:
        shared, whole = _whole_parts(archive, path.name)
        for info in archive.infolist():
            where = f"{path.name}:{info.filename}"
            _guard_size(info, where, info.filename in whole or info.filename.endswith(".rels"))
            if info.filename in shared:
                _guard_shared_strings(archive, info, where)
            if info.filename.endswith((".xml", ".rels")) and info.file_size:
                with archive.open(info) as part:
                    guard_prologue(BytesIO(part.read(PROLOGUE_BYTES)), where)


def _guard_size(info: Any, where: str, whole: bool) -> None:
    """Refuse a part that is a zip bomb, or, read whole (`whole`), larger than _MAX_WHOLE_PART unpacked."""
    if info.file_size > _BOMB_BYTES and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
        raise InputError(f"{info.filename} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                         "(a zip bomb); refused", file=where, hint="export the sheet again, or as CSV")
    if whole and info.file_size > _MAX_WHOLE_PART:
        raise InputError(f"{info.filename} unpacks to {info.file_size:,} bytes, more than the {_MAX_WHOLE_PART:,} "
                         "a workbook part read whole into memory may have; refused", file=where,
                         hint="open the workbook in Excel or LibreOffice, remove unused cell styles, save it "
                              "again and import that, or export the sheet as CSV")


def _whole_parts(archive: ZipFile, name: str) -> tuple[set[str], set[str]]:
    """(the shared strings parts, the other parts openpyxl reads whole but relationships), found as openpyxl
    finds them: by their names, and by the content types [Content_Types].xml gives them (a part may be named
    anything). [Content_Types].xml's own size is checked before it is read."""
    from openpyxl.xml.constants import (ARC_CONTENT_TYPES, ARC_CORE, ARC_CUSTOM, ARC_SHARED_STRINGS, ARC_STYLE,
                                        ARC_THEME, ARC_WORKBOOK, CONTYPES_NS)

    shared = {ARC_SHARED_STRINGS}
    whole = {ARC_CONTENT_TYPES, ARC_CORE, ARC_CUSTOM, ARC_STYLE, ARC_THEME, ARC_WORKBOOK}
    try:
        info = archive.getinfo(ARC_CONTENT_TYPES)
    except KeyError:  # not a workbook: openpyxl says so
        return shared, whole
    _guard_size(info, f"{name}:{ARC_CONTENT_TYPES}", True)
    for override in _elements(archive, ARC_CONTENT_TYPES, f"{{{CONTYPES_NS}}}Override", name):
        part, kind = override.get("PartName", "").lstrip("/"), override.get("ContentType", "")
        if kind.endswith("sharedStrings+xml"):
            shared.add(part)
        elif kind.endswith(_WHOLE_TYPES):
            whole.add(part)
    return shared, whole


def _guard_shared_strings(archive: ZipFile, info: Any, where: str) -> None:
    """Refuse shared strings larger than _MAX_SHARED_STRINGS unpacked, or (read through only when they could)
    holding more than _MAX_STRINGS strings: tiny ones cost memory far beyond their bytes."""
    if info.file_size > _MAX_SHARED_STRINGS:
        raise InputError(f"the workbook's shared strings unpack to {info.file_size:,} bytes, more than "
                         f"{_MAX_SHARED_STRINGS:,} held in memory; refused", file=where,
                         hint="split the workbook, or export it as CSV (which streams)")
    if info.file_size <= _MAX_STRINGS * len(b"<si/>"):
        return
    count, tail = 0, b""
    with archive.open(info) as part:
        while chunk := part.read(_CHUNK):
            text = tail + chunk
            count += text.count(b"<si") + text.count(b":si")  # <si>, or <x:si> (and </x:si>): never fewer
            tail = text[-2:]  # shorter than the searched bytes: nothing is counted twice
    if count > _MAX_STRINGS:
        raise InputError(f"the workbook holds about {count:,} shared strings, more than {_MAX_STRINGS:,} held in "
                         "memory; refused", file=where, hint="split the workbook, or export it as CSV (which streams)")
