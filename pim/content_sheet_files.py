"""A content sheet written as a file (pim.content_sheet): CSV in pieces for a streamed download, XLSX through
openpyxl's write-only mode, both in the profile's format, refusing a cell the profile would not read back.
Split from pim.content_sheet, which still offers every name here."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pim.content_sheet_cells import sheet_cell
from pim.content_sheet_format import DEFAULT_FORMAT, SUFFIXES, VERSION_COLUMN, XLSX_CELL_MAX, SheetFormat
from pim.errors import InputError
from pim.spreadsheet import escape_formula


def can_fail(fmt: SheetFormat) -> bool:
    """Whether writing a sheet in `fmt` may refuse a cell (an encoding that does not carry every text, or no
    formula escaping), so a download is written whole before it is sent."""
    return not fmt.any_text or not fmt.formula_escaped


def _check_cells(header: Sequence[str], row: Sequence[str], cells: Sequence[str], fmt: SheetFormat, *,
                 csv_text: bool) -> None:
    """Refuse what the profile would not read back as the exported text: a cell its encoding cannot carry
    (CSV), a formula-looking cell when the profile does not drop our escape quote. The fast path (the default
    profile) checks nothing."""
    if not fmt.formula_escaped:
        for column, text in zip(header, row):
            if escape_formula(text) != text:
                raise InputError(f"product '{row[0]}': column '{column}' starts like a formula ({text[:20]!r}) and "
                                 "the profile reads cells without formula escapes (formula_escaped: false)",
                                 field=column, hint="set formula_escaped: true in the content profile (the default), "
                                 "or leave that column out")
    if csv_text and not fmt.any_text:
        try:
            "".join(cells).encode(fmt.encoding)
        except UnicodeEncodeError:
            for column, cell in zip(header, cells):
                try:
                    cell.encode(fmt.encoding)
                except UnicodeEncodeError as exc:
                    char = cell[exc.start]
                    raise InputError(f"product '{row[0]}': column '{column}' holds {char!r} (U+{ord(char):04X}), "
                                     f"which {fmt.encoding} cannot carry", field=column,
                                     hint="set encoding: utf-8-sig in the content profile (Excel reads it), or "
                                          "change that text") from None


def _check_header(header: Sequence[str], fmt: SheetFormat) -> None:
    if not fmt.any_text:
        for column in header:
            try:
                column.encode(fmt.encoding)
            except UnicodeEncodeError:
                raise InputError(f"the column name '{column}' cannot be written in {fmt.encoding}", field=column,
                                 hint="set encoding: utf-8-sig in the content profile, or leave that column out") from None


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[str]], every: int = 500,
               fmt: SheetFormat = DEFAULT_FORMAT) -> Iterator[str]:
    """CSV text in pieces, for a streamed download, with the profile's delimiter: for UTF-8 a byte order mark
    first (so spreadsheets read the accents right; the importer skips it; utf-8-sig and utf-16 encoders write
    their own), escaped cells. InputError for a cell the profile would not read back (_check_cells)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=fmt.delimiter)
    if fmt.codec == "utf-8":
        out.write("\ufeff")
    _check_header(header, fmt)
    writer.writerow(header)
    check = can_fail(fmt)
    for n, row in enumerate(rows, start=1):
        cells = [sheet_cell(c) for c in row]
        if check:
            _check_cells(header, row, cells, fmt, csv_text=True)
        writer.writerow(cells)
        if n % every == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def encoded(chunks: Iterable[str], fmt: SheetFormat = DEFAULT_FORMAT) -> Iterator[bytes]:
    """csv_chunks as bytes in the profile's encoding (one encoder: a BOM it writes comes once)."""
    encoder = codecs.getincrementalencoder(fmt.encoding)(errors="strict")
    for chunk in chunks:
        yield encoder.encode(chunk)
    yield encoder.encode("", final=True)


def write_xlsx(target: Path | IO[bytes], header: Sequence[str], rows: Iterable[Sequence[str]],
               fmt: SheetFormat = DEFAULT_FORMAT) -> int:
    """An XLSX workbook of one sheet (named, and its header on the row, as the profile reads it), written with
    openpyxl's write-only mode (rows go to a temporary file as
    they come); every cell is text, the version column hidden. Returns the rows written. InputError for a
    cell longer than Excel holds: Excel would cut it (and the import would then claim the cut text), so the
    caller drops the half-written file; also for a formula-looking cell when the profile reads no escapes."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    from pim.xlsx_save import save_workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=fmt.sheet or "products")
    if VERSION_COLUMN in header:
        ws.column_dimensions[get_column_letter(list(header).index(VERSION_COLUMN) + 1)].hidden = True
    n, places = 0, {column: at for at, column in enumerate(header)}
    try:
        for _ in range(fmt.header_row - 1):  # where the profile reads the column names
            ws.append([])
        ws.append(list(header))
        for row in rows:
            cells = [sheet_cell(c, xlsx=True) for c in row]
            if not fmt.formula_escaped:
                _check_cells(header, row, cells, fmt, csv_text=False)
            for column, cell in zip(header, cells):
                _check_length(cell, row[0], column)
            inherited = getattr(row, "inherited", None)
            ws.append(_marked(ws, places, cells, inherited) if inherited else cells)
            n += 1
        save_workbook(wb, target)  # closes its zip on failure (pim.xlsx_save)
    except BaseException:
        _discard(ws)
        raise
    return n


#: The fill of a cell a variant shows from its model (a light grey, as the product page greys inherited values).
INHERITED_FILL = "FFD9D9D9"


def inherited_note(model: str, *, empty: bool = False) -> str:
    """The note on an inherited cell: where the value lives, and how an edit of it is taken. `empty`: the model
    has no value there yet (a locale not translated yet): the cell is still the model's."""
    said = ("Held by product model '{}', which has no value here yet: all its variants show it empty"
            if empty else "Inherited from product model '{}': every variant of it shows this value").format(model)
    return (f"{said}. To change it, give the same new text in the "
            "rows of all its variants here (the import sets it on the model), or one row with the model's code in "
            "a 'model' column, or edit it on the product page.")


def _marked(ws: Any, places: dict[str, int], cells: list[Any], inherited: dict[str, str]) -> list[Any]:
    """The row's cells with those a variant shows from its model grey, with a note naming the model."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    fill = PatternFill("solid", fgColor=INHERITED_FILL)
    for column, model in inherited.items():
        at = places.get(column)
        if at is not None:
            cell = WriteOnlyCell(ws, value=cells[at])
            note = inherited_note(model, empty=cells[at] in ("", None))
            cell.fill, cell.comment = fill, Comment(note, "PIM", width=300, height=90)
            cells[at] = cell
    return cells


def _discard(ws: Any) -> None:
    """Close a write-only sheet given up on and remove its temporary file (openpyxl would keep it until the
    process ends: a long-running server would collect one per refused download)."""
    writer = getattr(ws, "_writer", None)
    if writer is None:
        return
    try:
        if not ws.closed:  # a save refused midway may have closed it already
            ws.close()
    except Exception:  # noqa: BLE001  (best effort: the error being raised is the one to report)
        pass
    try:
        writer.cleanup()
    except Exception:  # noqa: BLE001
        pass


def _check_length(cell: str, sku: str, column: str) -> None:
    if len(cell) * 2 <= XLSX_CELL_MAX:  # no text this short can exceed it in UTF-16
        return
    units = len(cell.encode("utf-16-le")) // 2
    if units > XLSX_CELL_MAX:
        raise InputError(f"product '{sku}': column '{column}' holds {units} characters, more than the {XLSX_CELL_MAX} "
                         "an Excel cell can hold", field=column,
                         hint="write the sheet as .csv (no cell limit), or leave that column out (--columns, or "
                              "columns= in the download link)")


def check_out(out: Path) -> str:
    """The file's kind (.csv or .xlsx) from its name; InputError for another name (checked before any reading)."""
    kind = out.suffix.lower()
    if kind not in SUFFIXES:
        raise InputError(f"'{out.name}' is neither .csv nor .xlsx", field="out",
                         hint="name the file products.xlsx (Excel) or products.csv")
    return kind


def write_sheet(out: Path, header: Sequence[str], rows: Iterable[Sequence[str]],
                fmt: SheetFormat = DEFAULT_FORMAT) -> int:
    """The sheet to `out` (.csv or .xlsx) in the profile's format, through `out.part` so a stopped or refused
    export leaves no half file. Returns the rows written."""
    kind = check_out(out)
    tmp = out.with_name(out.name + ".part")
    written = [0]

    def counted() -> Iterator[Sequence[str]]:
        for row in rows:
            written[0] += 1
            yield row

    try:
        if kind == ".xlsx":
            write_xlsx(tmp, header, counted(), fmt)
        else:
            with tmp.open("wb") as fh:
                fh.writelines(encoded(csv_chunks(header, counted(), fmt=fmt), fmt))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return written[0]
