"""An XLSX sheet read as rows of text, streamed (openpyxl's read-only mode, formula cells as last computed):
shared by the supplier table and content importers, which differ only in how a typed cell reads as text and
which header they need.

Two kinds of cell read as empty in that mode, and an empty cell clears a value: a formula the writing program
never calculated (openpyxl and many export libraries store none), and the cells of a merged range but its
top-left one; an error value (#N/A of a VLOOKUP that found nothing, #REF!) reads as its text, which was stored
as a product's name. A pre-scan of the sheet's XML (`sheet_layout`) finds them first, since merged ranges are
listed after the cells: a row with such a formula or an error in a column the caller reads is rejected, and
the cells below a merged range's top-left one read its value, as Excel shows it. In a data row a range merged
across columns (a long text over two columns) gives the columns right of it nothing: its text is not theirs.

This module opens and guards the workbook; the rows are read in importers.workbook_rows, the pre-scan is
importers.workbook_layout and the package's parts are found by importers.workbook_parts (their public names are
importable from here too)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from zipfile import ZipFile

from importers.workbook_layout import SheetLayout, sheet_layout
from importers.workbook_parts import CHUNK as _CHUNK
from importers.workbook_parts import MAIN as _MAIN
from importers.workbook_parts import part_elements as _elements
from importers.workbook_parts import part_target as _target
from importers.workbook_rows import Cell, NumberText, Row, SheetReading, pads_zeros
from pim.errors import InputError
from pim.importing import Rejected

#: What callers and tests import from here, whichever module of the split holds it. The guard's limits
#: (_BOMB_BYTES, _MAX_SHARED_STRINGS, _MAX_STRINGS) stay here, read at each call, so a test can lower them.
__all__ = ["Cell", "NumberText", "Row", "SheetLayout", "guard_workbook", "head_kind", "header_places",
           "other_sheets_refused", "sheet_headers", "sheet_layout", "text_rows", "workbook_kind"]


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
        reading = SheetReading(path.name, cell_text, check_header, header_row, columns, reject_unsaved,
                               frozenset(numbers), bool(numbers) and pads_zeros(wb))
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
