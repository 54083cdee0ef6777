"""Cells that go into files people open in a spreadsheet (feeds, the to-do export): a cell a spreadsheet would
run as a formula gets a leading quote (OWASP CSV injection). Core, so every area escapes the same way."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(cell: str) -> str:
    """Plain numbers (e.g. -5) are not formulas and stay as they are."""
    if cell and cell.startswith(_FORMULA_START) and not _NUMBER.match(cell):
        return "'" + cell
    return cell


_ESCAPED = tuple("'" + s for s in _FORMULA_START)


def unescape_formula(cell: str) -> str:
    """The cell escape_formula was given: a file we wrote (the to-do export), filled in and uploaded again,
    names its products as they are. Spreadsheets do not save a typed leading quote, so one before a formula
    character is ours."""
    return cell[1:] if cell.startswith(_ESCAPED) else cell
