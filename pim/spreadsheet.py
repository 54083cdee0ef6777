"""Cells that go into files people open in a spreadsheet (feeds, the to-do export, the content sheet): a cell
a spreadsheet would run as a formula gets a leading quote (OWASP CSV injection). Core, so every area escapes
the same way, and unescape_formula gives back exactly what escape_formula was given."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(cell: str) -> bool:
    """Whether escape_formula quotes `cell`: it starts (after any quotes of its own) with a formula character
    and is no plain number. A text that already starts with a quote before one (`'=x`) gets one more, so the
    importer's unescaping cannot mistake the text's own quote for ours."""
    bare = cell.lstrip("'")
    return bool(bare) and bare.startswith(_FORMULA_START) and not _NUMBER.match(bare)


def escape_formula(cell: str) -> str:
    """Plain numbers (e.g. -5) are not formulas and stay as they are."""
    return "'" + cell if cell and _escaped(cell) else cell


def unescape_formula(cell: str) -> str:
    """The cell escape_formula was given: a file we wrote (the to-do export, the content sheet), filled in and
    uploaded again, names its products and says its texts as they are. Spreadsheets do not save a typed
    leading quote, so one before a formula character (or before a quoted one) is ours."""
    return cell[1:] if cell.startswith("'") and _escaped(cell[1:]) else cell
