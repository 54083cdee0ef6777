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
