"""Dates after Excel: a content sheet's date column holds ISO text (2024-03-01, pim.content_sheet.cell_text),
and Excel, opening the CSV, reads it as a date and saves it the way its locale shows dates: 01.03.2024
(German), 3/1/2024 (US), 01/03/2024 (UK), 2024/03/01, or 2024-03-01 00:00:00. A text column fares the same
when its text looks like a date to Excel (1-2, 3/4, 2024-03-01 in a text attribute).

The import reads such a cell back (importers.content.keep_edits): in a date column, Excel's rendering of the
exported text (by the row's `_sheet` digest, else of what the product shows) is that text, so it is no edit;
any other unambiguous rendering is the date it shows; a slash date that reads as two different dates (day or
month first) rejects its row naming both, never guessing. In a text column, a date rendering is put back to
the exported text only when a digest (or the shown text) proves which text Excel read; otherwise it stays
what the team's file says.

A short-date locale writes two-digit years (01.03.24, 3/1/24): Excel's window reads 00–29 as 2000–2029 and
30–99 as 1930–1999. Some formats leave part of the date out (Mar-24, March 2024: no day; 4-Mar, 04. Mrz: no
year). Such a cell is no edit when the row's version (or the shown date) proves it is Excel's rendering of
that date; otherwise its row is rejected saying what Excel dropped, since no date can be read from it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from pim import content_sheet
from pim.structure import Attribute, AttributeType

#: yyyy-mm-dd with a zero time (Excel's rendering of a date it holds with a time part, pandas' too).
_ISO_MIDNIGHT = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[ T]0?0:00(?::00(?:\.0+)?)?")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")  # what the sheet writes (pim.values reads)
_YEAR_DASHED = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")  # also Excel's yyyy-m-d
_YEAR_FIRST = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})")  # Japanese, Chinese, Swedish locales
_DOTTED = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4}|[0-9]{2})")  # German, Swiss, Russian… day first
#: Day or month first (3/1/2024 in the US, 01/03/2024 in the UK, 01-03-2024 in the Netherlands).
_SLASHED = re.compile(r"([0-9]{1,2})([/-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})")
#: A month and year without the day (Excel's mmm-yy, mmmm yyyy: Mar-24, March 2024, Mrz. 24).
_MONTH_YEAR = re.compile(r"([A-Za-zä]{3,9})\.?[- ]([0-9]{4}|[0-9]{2})")
#: The day and month Excel shows for a text it read as a date of this year (4-Mar, 04. Mrz, 4 Mar).
_DAY_MONTH = re.compile(r"([0-9]{1,2})(?:-|\.? ?)([A-Za-zä]{3})\.?")
_MONTHS = {name: n for names in ("jan feb mar apr may jun jul aug sep oct nov dec",  # English
                                 "jan feb mrz apr mai jun jul aug sep okt nov dez",  # German
                                 "jan feb mär apr mai jun jul aug sep okt nov dez",
                                 "january february march april may june july august september october november "
                                 "december",
                                 "januar februar märz april mai juni juli august september oktober november dezember")
           for n, name in enumerate(names.split(), start=1)}
#: Years tried for a rendering without one (4-Mar) against the row's version: Excel's two-digit window.
_YEARS = range(1930, 2030)
_DATE_TYPES = frozenset({AttributeType.date})
#: Columns whose text Excel may have read as a date: free text and option codes.
_TEXT_TYPES = frozenset({AttributeType.text, AttributeType.textarea, AttributeType.simple_select})


# ---------------------------------------------------------------- date columns
def date_suspect(attr: Attribute, cell: Any) -> bool:
    """Whether a date column's cell may be Excel's rendering of a date rather than our ISO text: the cheap
    test that keeps every ISO cell (and every other column) off the checks below."""
    return (attr.type in _DATE_TYPES and isinstance(cell, str) and cell[:1].isalnum()
            and not _ISO.fullmatch(cell) and bool(readings(cell) or _partial(cell)))


def readings(cell: str) -> tuple[str, ...]:
    """The ISO dates an Excel rendering of a date stands for: one, or two for a slash date whose day and
    month can be read either way (month first, then day first); () for a cell that is no such rendering (or
    no real date, such as 31.02.2024). An ISO date reads as itself."""
    for pattern, order in ((_YEAR_DASHED, "ymd"), (_ISO_MIDNIGHT, "ymd"), (_YEAR_FIRST, "ymd"), (_DOTTED, "dmy")):
        m = pattern.fullmatch(cell)
        if m:
            parts = dict(zip(order, m.groups()))
            return tuple(_iso(_century(parts["y"]), int(parts["m"]), int(parts["d"])))
    m = _SLASHED.fullmatch(cell)
    if not m:
        return ()
    first, second, year = int(m.group(1)), int(m.group(3)), _century(m.group(4))
    return tuple(dict.fromkeys([*_iso(year, first, second), *_iso(year, second, first)]))


def _century(text: str) -> int:
    """A year as Excel reads it: two digits are 2000–2029 or 1930–1999."""
    year = int(text)
    if len(text) != 2:
        return year
    return 2000 + year if year < 30 else 1900 + year


def _partial(cell: str) -> tuple[str, tuple[str, ...]] | None:
    """A rendering that leaves part of the date out: (what it leaves out, the ISO dates it may stand for);
    None for any other cell. Month and year (Mar-24): every day of that month. Day and month (4-Mar): that day
    in each year of Excel's window (tried against the row's version only)."""
    m = _MONTH_YEAR.fullmatch(cell)
    if m:
        month = _MONTHS.get(m.group(1).lower())
        if month is None:
            return None
        year = _century(m.group(2))
        return "day", tuple(d for day in range(1, 32) for d in _iso(year, month, day))
    day_month = _day_month(cell)
    if day_month is None:
        return None
    month, day = day_month
    return "year", tuple(d for year in _YEARS for d in _iso(year, month, day))


def _iso(year: int, month: int, day: int) -> Iterator[str]:
    try:
        yield date(year, month, day).isoformat()
    except ValueError:
        return


def date_meant(cell: str, shown_text: str, version: frozenset[bytes] | None, sku: str, column: str
               ) -> tuple[str | None, str | None]:
    """(the ISO text a date column's cell stands for, None), or (None, the rejection's reason) for a slash
    date that could be either of two dates and is neither the exported nor the shown one. The exported
    text (by the row's version) or the shown one when the cell is Excel's rendering of it: no edit once read
    back; else the one date an unambiguous rendering shows: the team's edit."""
    found = readings(cell)
    if not found:
        return _partial_meant(cell, shown_text, version, sku, column)
    for text in found:
        if content_sheet.untouched(version, sku, column, text):
            return text, None
    if shown_text in found:
        return shown_text, None
    if len(found) == 1:
        return found[0], None
    return None, ambiguous_reason(cell, found[0], found[1])


def _partial_meant(cell: str, shown_text: str, version: frozenset[bytes] | None, sku: str, column: str
                   ) -> tuple[str | None, str | None]:
    """date_meant for a rendering without its day or year: the exported (or shown) date it stands for, no
    edit; otherwise a rejection, since the date the team meant cannot be read from it."""
    partial = _partial(cell)
    if partial is None:
        return None, None
    missing, dates = partial
    proven = [text for text in dates if content_sheet.untouched(version, sku, column, text)]
    if len(proven) == 1:
        return proven[0], None
    if shown_text in dates:
        return shown_text, None
    return None, (f"Excel wrote this date as {cell}, which leaves out the {missing} — format the column as Text and "
                  "type the date as YYYY-MM-DD before saving, or use the .xlsx download")


def ambiguous_reason(cell: str, month_first: str, day_first: str) -> str:
    """The rejection's reason for a slash date that reads two ways: both dates, and how to keep Excel from it."""
    return (f"Excel wrote this date as {cell}, which could be {month_first} (month first) or {day_first} (day "
            "first) — format the column as Text and type the date as YYYY-MM-DD before saving, or use the .xlsx "
            "download")


# ---------------------------------------------------------------- text columns
def text_suspect(attr: Attribute, cell: Any) -> bool:
    """Whether a text column's cell may be Excel's rendering of a text it read as a date."""
    if attr.type not in _TEXT_TYPES or not isinstance(cell, str) or not cell[:1].isdigit() or len(cell) > 19:
        return False
    return bool(readings(cell) or _day_month(cell))


def text_meant(cell: str, shown_text: str, version: frozenset[bytes] | None, sku: str, column: str) -> str | None:
    """The text a text column's cell stood for before Excel read it as a date: the one of the texts Excel
    reads as that date (1-2, 3/4, 04.03.2024, 2024-03-04 …) the row's version names, else the shown text when
    it is one of them. None when nothing proves a text (the cell then stays as the file has it)."""
    originals = set(_originals(cell))
    originals.discard(cell)
    if version is not None:
        proven = [text for text in originals if content_sheet.untouched(version, sku, column, text)]
        if len(proven) == 1:
            return proven[0]
    return shown_text if shown_text in originals else None


def _day_month(cell: str) -> tuple[int, int] | None:
    m = _DAY_MONTH.fullmatch(cell)
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if not m or not month or not 1 <= int(m.group(1)) <= 31:
        return None
    return month, int(m.group(1))


def _originals(cell: str) -> Iterator[str]:
    """Texts Excel may have read as the date `cell` shows: day and month (either order, - / or . between,
    with or without leading zeros), and full dates in the usual orders (year as four or two digits)."""
    day_month = _day_month(cell)
    if day_month:
        yield from _short_forms(*day_month)
        return
    for iso in readings(cell):
        year, month, day = (int(x) for x in iso.split("-"))
        yield from _short_forms(month, day)
        for y in (str(year), f"{year % 100:02d}"):
            for m, d in _padded(month, day):
                yield from (f"{m}/{d}/{y}", f"{d}/{m}/{y}", f"{d}.{m}.{y}", f"{d}-{m}-{y}", f"{m}-{d}-{y}")
        yield iso
        yield f"{year}/{month:02d}/{day:02d}"
        yield f"{year}-{month}-{day}"


def _short_forms(month: int, day: int) -> Iterator[str]:
    for m, d in _padded(month, day):
        yield from (f"{m}/{d}", f"{m}-{d}", f"{d}/{m}", f"{d}-{m}", f"{d}.{m}", f"{d}.{m}.")


def _padded(month: int, day: int) -> Iterator[tuple[str, str]]:
    for m in dict.fromkeys((str(month), f"{month:02d}")):
        for d in dict.fromkeys((str(day), f"{day:02d}")):
            yield m, d
