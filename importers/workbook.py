"""An XLSX sheet read as rows of text, streamed (openpyxl's read-only mode, formula cells as last computed):
shared by the supplier table and content importers, which differ only in how a typed cell reads as text and
which header they need."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from xml.etree.ElementTree import ParseError
from pathlib import Path
from typing import Any

from pim.errors import InputError


def text_rows(path: Path, cell_text: Callable[[Any], str], check_header: Callable[[list[str], int], list[str]], *,
              hint: str, sheet: str | None = None, header_row: int = 1) -> Iterator[tuple[list[str], int, list[str]]]:
    """(header, sheet row, cells) for each row below the header with more than whitespace; cells are as many as
    the sheet gives (not padded). The header row's stripped texts go through `check_header`, which raises or
    returns the header to use. `sheet`: by name (default the first)."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        guard_workbook(path)
        wb = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, OSError, KeyError, ValueError, ParseError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None
    try:
        if sheet and sheet not in wb.sheetnames:
            raise InputError(f"no sheet '{sheet}' (sheets: {', '.join(wb.sheetnames)})", file=path.name, field="sheet")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        header: list[str] | None = None
        for number, row in _rows(ws, path.name):
            if number < header_row:
                continue
            cells = [v if v.__class__ is str else cell_text(v) for v in row]  # most cells are text already
            if header is None:
                header = check_header([c.strip() for c in cells], number)
                continue
            if not "".join(cells).strip():  # no cell with more than whitespace
                continue
            yield header, number, cells
    finally:
        wb.close()


def _rows(ws: Any, name: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """The sheet's rows, numbered; a sheet whose XML breaks mid-way (cut off, or an entity the parser refuses)
    ends the import with an InputError naming the row it reached, rows before it kept as imported."""
    number = 0
    try:
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            yield number, row
    except ParseError as exc:
        raise InputError(f"the sheet's XML is broken after row {number}: {exc}", file=name, line=number + 1,
                         hint="save the workbook again from Excel (or export CSV) and re-run") from None


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
