"""An XLSX sheet read as rows of text, streamed (openpyxl's read-only mode, formula cells as last computed):
shared by the supplier table and content importers, which differ only in how a typed cell reads as text and
which header they need."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
        wb = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", file=path.name, hint=hint) from None
    try:
        if sheet and sheet not in wb.sheetnames:
            raise InputError(f"no sheet '{sheet}' (sheets: {', '.join(wb.sheetnames)})", file=path.name, field="sheet")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        header: list[str] | None = None
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
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
