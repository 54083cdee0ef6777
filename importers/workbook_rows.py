"""A sheet's rows read as text for text_rows (importers.workbook): typed cells through the caller's
`cell_text`, number cells kept as NumberText where the caller asks, merged ranges and unread cells (unsaved
formulas, error values: importers.workbook_layout) applied as the rows stream, and the header checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

from importers.workbook_layout import SheetLayout
from importers.workbook_layout import broken_after as _broken
from pim.errors import InputError
from pim.importing import Rejected

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


@dataclass(frozen=True)
class SheetReading:
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


def pads_zeros(wb: Any) -> bool:
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
