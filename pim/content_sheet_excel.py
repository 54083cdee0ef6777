"""Excel's numbers on the way back into a content sheet (pim.content_sheet): a cell Excel retyped (4.00638E+12,
lost leading zeros, a trailing .0) recognised as the text the sheet said when it still stands for it, and
otherwise refused, so Excel's rendering is never stored as the team's edit. Split from pim.content_sheet, which
still offers every name here (importers.content_edits calls them through it)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pim.content_sheet_cells import untouched
from pim.structure import Attribute, AttributeType

#: A cell Excel may have read as a number and saved as it shows it: digits, a decimal part, an exponent.
_NUMERIC = re.compile(r"-?[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?")
#: How Excel saves a number it shows in scientific notation: one digit, its decimals, a signed exponent
#: (4.00638E+12; 4,00638E+12 where the decimal mark is a comma).
_SCIENTIFIC = re.compile(r"(-?)([0-9])(?:[.,]([0-9]+))?[eE]([+-][0-9]{1,3})")
_PLAIN = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?")
_EXPORTED_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DIGITS = re.compile(r"[0-9]+")
_POINT_ZERO = re.compile(r"([0-9]+)[.,]0+")
#: The significant digits Excel keeps of a number: a longer digit string comes back with zeros after them.
EXCEL_DIGITS = 15
#: Attribute types whose cells are checked for Excel's number conversion (a boolean's 1/0, a date, a list of
#: options are not digit strings Excel could have shortened).
_EXCEL_TYPES = frozenset({AttributeType.text, AttributeType.textarea, AttributeType.identifier,
                          AttributeType.simple_select, AttributeType.number})


def excel_suspect(attr: Attribute, cell: Any) -> bool:
    """Whether an imported cell may be Excel's rendering of a number: the cheap test that keeps every other
    cell off the checks below."""
    return (isinstance(cell, str) and attr.type in _EXCEL_TYPES and cell[:1] in "-0123456789"
            and _NUMERIC.fullmatch(cell) is not None)


def excel_rendering(cell: str, wrote: str) -> bool:
    """Whether `cell` is what Excel saves for the exported text `wrote` (plain digits, maybe with decimals)
    after reading it as a number: scientific notation whose value is `wrote`'s to the digits it shows; the
    same value without the leading zeros, or with a trailing .0 (or ,0); the first 15 significant digits of a
    longer one followed by zeros."""
    if cell == wrote or not _EXPORTED_NUMBER.fullmatch(wrote):
        return False
    exported = Decimal(wrote)
    sci = _SCIENTIFIC.fullmatch(cell)
    if sci:
        sign, digit, decimals, exponent = sci.groups()
        decimals = decimals or ""
        shown = Decimal(f"{sign}{digit}.{decimals or '0'}E{exponent}")
        last_digit = Decimal(1).scaleb(int(exponent) - len(decimals))
        return abs(shown - exported) * 2 <= last_digit
    if not _PLAIN.fullmatch(cell):
        return False
    try:
        value = Decimal(cell.replace(",", "."))
    except InvalidOperation:
        return False
    if value == exported:
        return True
    if len(exported.as_tuple().digits) <= EXCEL_DIGITS or exported != exported.to_integral_value():
        return False
    return abs(value - exported) < Decimal(1).scaleb(exported.adjusted() + 1 - EXCEL_DIGITS)


def zero_padded(cell: str) -> list[str]:
    """The texts a plain number Excel saved may have been: the number with a trailing .0 taken off and with
    leading zeros put back, up to Excel's 15 digits (the cell itself left out); none for a cell that is not
    digits, or digits and .0."""
    point_zero = _POINT_ZERO.fullmatch(cell)
    bare = point_zero.group(1) if point_zero else cell if _DIGITS.fullmatch(cell) else None
    if bare is None:
        return []
    return ([bare] if point_zero else []) + ["0" * zeros + bare for zeros in range(1, max(2, EXCEL_DIGITS - len(bare)))]


def excel_meant(attr: Attribute, cell: str, shown_text: str, version: frozenset[bytes] | None, sku: str,
                column: str) -> str | None:
    """The text a cell Excel retyped stands for: the exported text the row's version names (the cell with its
    leading zeros back, without a trailing .0), else what the product shows now when the cell is Excel's
    rendering of it (a sheet without version: what it showed at the export). None: no text we know."""
    if version is not None and attr.type != AttributeType.number:
        for candidate in zero_padded(cell):
            if untouched(version, sku, column, candidate):
                return candidate
    if shown_text and excel_rendering(cell, shown_text):
        return shown_text
    return None


def excel_mangled(attr: Attribute, cell: str, shown_text: str) -> bool:
    """Whether a cell excel_meant found no text for still reads as Excel's doing rather than the team's edit:
    scientific notation (Excel shows six digits: the number is lost), or, where the product shows a digit
    string, a trailing .0, or fewer digits with the leading zeros gone."""
    if _SCIENTIFIC.fullmatch(cell):
        return True
    if attr.type == AttributeType.number or not _DIGITS.fullmatch(shown_text):
        return False
    if _POINT_ZERO.fullmatch(cell):
        return True
    return (shown_text.startswith("0") and _DIGITS.fullmatch(cell) is not None and not cell.startswith("0")
            and len(cell) < len(shown_text))


def excel_reason(cell: str) -> str:
    """The quarantine's reason for a cell Excel mangled: what it shows, and how to keep Excel from it."""
    return (f"Excel turned this number into {cell} — format the column as Text before saving, or use the .xlsx "
            "download")
