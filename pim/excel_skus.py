"""The SKU column after Excel: a numeric SKU comes back without its leading zeros (00123 → 123), with a
trailing .0, or, for a long one, in scientific notation (4006381333931 → 4.00638E+12: six digits kept, the
rest lost). The row then names an unknown product (or a wrong one: 123 may exist too), and the import would
create a product called 4.00638E+12 or reject the row as unknown.

The row's `_sheet` version proves which product it was exported for: its digests include the SKU
(pim.content_sheet.cell_digest), so a candidate SKU under which the row's untouched cells verify is the one
the sheet said. Candidates are the zero-padded forms (and the .0-stripped one) of a plain number, and for
scientific notation the known products whose digits fall in the range Excel's six digits stand for. Exactly
one candidate verifying is the row's SKU; anything else is not guessed: a scientific-notation SKU is
rejected with what Excel did and how to avoid it (never created), and so is an unknown number whose padded
forms are known products (the row names them) or that ends in .0.

A GTIN a workbook held as a number lost its zeros the same way; there the check digit proves them
(`number_gtin`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import and_, or_, select

from pim import content_sheet
from pim.quality import gtin_ok
from pim.store import Store
from pim.store.store import PRODUCT, batched

#: The most known products one scientific-notation SKU's range may hold for each to be tried against the
#: row's digests (Excel keeps six digits: an EAN's range is ten million numbers wide, and one maker's EANs
#: share their first digits). Past it the row is rejected as unprovable.
SKU_RANGE_MAX = 200
_DIGITS = re.compile(r"[0-9]+")
_POINT_ZERO = re.compile(r"([0-9]+)[.,]0+")
_SCIENTIFIC = re.compile(r"([0-9])(?:[.,]([0-9]+))?[eE]\+?([0-9]{1,2})")
_RANGES_PER_QUERY = 50
_GTIN_LENGTHS = (8, 12, 13, 14)


@dataclass
class SkuRow:
    """One sheet row whose SKU may be Excel's rendering of another: where the row is in its chunk, its SKU
    cell, its value cells (column → text, None when empty), its version and whether the SKU is a product."""

    at: int
    sku: str
    cells: Mapping[str, Any]
    version: frozenset[bytes] | None
    known: bool


@dataclass(frozen=True)
class SkuFix:
    """What a row's SKU becomes: the proven SKU, or (sku None) the reason the row is rejected."""

    sku: str | None = None
    reason: str | None = None


def suspect(sku: str) -> bool:
    """Whether a SKU cell may be a number Excel retyped: plain digits, digits and .0, scientific notation."""
    return (sku[:1].isdigit() and (_DIGITS.fullmatch(sku) or _POINT_ZERO.fullmatch(sku)
                                   or _SCIENTIFIC.fullmatch(sku)) is not None)


def worth_checking(row: SkuRow) -> bool:
    """Whether a suspect row needs the checks: its SKU is no product, or (with a version) none of its cells
    verifies under it while its SKU could have lost zeros — the sheet's row was then another product's."""
    if not row.known:
        return True
    return row.version is not None and not _SCIENTIFIC.fullmatch(row.sku) and not verifies(row, row.sku)


def verifies(row: SkuRow, sku: str) -> bool:
    """Whether one of the row's cells is untouched under `sku`: the sheet was exported with that SKU."""
    return any(content_sheet.untouched(row.version, sku, column, cell) for column, cell in row.cells.items())


def scientific_range(sku: str) -> tuple[int, int] | None:
    """The whole numbers Excel shows as `sku` (4.00638E+12: 4006375000000 to 4006385000000), None for a cell
    that is not scientific notation."""
    m = _SCIENTIFIC.fullmatch(sku)
    if not m:
        return None
    digit, decimals, exponent = m.group(1), m.group(2) or "", int(m.group(3))
    shown = Decimal(f"{digit}.{decimals or '0'}E{exponent}")
    half = Decimal(1).scaleb(exponent - len(decimals)) / 2
    low, high = (shown - half).to_integral_value(ROUND_CEILING), (shown + half).to_integral_value(ROUND_FLOOR)
    return max(int(low), 0), int(high)


def number_gtin(text: str) -> str | None:
    """The GTIN a number cell stands for once Excel dropped its leading zeros (012345678905 kept as 12345678905,
    or shown in float notation that keeps every digit, 1.2345678905E10): its digits padded to the shortest
    GTIN length they fit, when the check digit is right there, else None. Zeros in front never change a GTIN's
    check digit, so no other padding could be another GTIN. For cells that were numbers: text says what the
    supplier typed."""
    if gtin_ok(text):  # most are whole: the check the import makes on every GTIN
        return str(text)  # plain text, whatever str subclass came in
    if _SCIENTIFIC.fullmatch(text):
        bounds = scientific_range(text)
        if bounds is None or bounds[0] != bounds[1]:  # Excel's six digits: the number is lost
            return None
        text = str(bounds[0])
    elif not (text.isascii() and text.isdigit()):
        return None
    core = text.lstrip("0")
    width = next((w for w in _GTIN_LENGTHS if w >= len(core)), None)
    if not core or width is None:
        return None
    gtin = text if len(text) in _GTIN_LENGTHS else core.zfill(width)
    return gtin if gtin_ok(gtin) else None


def resolve(store: Store, rows: Sequence[SkuRow], *, column: str = content_sheet.SKU_COLUMN) -> dict[int, SkuFix]:
    """row.at → what its SKU becomes, for the rows that need a change: a SKU the version proves, or the
    reason to reject a row whose SKU is Excel's rendering of one it cannot prove. Rows not listed stay as
    they are. Reads the known products among the candidates (Store.existing_identifiers) and the products in each
    scientific-notation SKU's range (one query per 50 rows)."""
    rows = [r for r in rows if worth_checking(r)]
    fixes: dict[int, SkuFix] = {}
    in_range = _in_ranges(store, {r.sku for r in rows if r.version is not None and _SCIENTIFIC.fullmatch(r.sku)})
    unproven: list[SkuRow] = []
    for row in rows:
        scientific = _SCIENTIFIC.fullmatch(row.sku) is not None
        tried = in_range.get(row.sku, []) if scientific else content_sheet.zero_padded(row.sku)
        proven = [sku for sku in tried if row.version is not None and sku != row.sku and verifies(row, sku)]
        if len(proven) == 1:
            fixes[row.at] = SkuFix(sku=proven[0])
        elif scientific or len(proven) > 1:
            fixes[row.at] = SkuFix(reason=excel_reason(row.sku, column))
        elif not row.known:
            unproven.append(row)
    known = store.existing_identifiers(sorted({sku for row in unproven for sku in content_sheet.zero_padded(row.sku)}))
    for row in unproven:
        meant = [sku for sku in content_sheet.zero_padded(row.sku) if sku in known]
        if meant:
            fixes[row.at] = SkuFix(reason=zeros_reason(row.sku, meant, column))
        elif _POINT_ZERO.fullmatch(row.sku):
            fixes[row.at] = SkuFix(reason=excel_reason(row.sku, column))
    return fixes


def excel_reason(sku: str, column: str) -> str:
    """The rejection's reason for a SKU Excel turned into a number no version proves."""
    return (f"Excel turned the {column} into {sku}, and which product it was cannot be told — format the {column} "
            "column as Text before saving, or use the .xlsx download")


def zeros_reason(sku: str, meant: Sequence[str], column: str) -> str:
    """The rejection's reason for an unknown number whose zero-padded form is a product: which it may be."""
    names = " or ".join(f"'{s}'" for s in meant[:5]) + (" …" if len(meant) > 5 else "")
    return (f"no product '{sku}'; Excel may have dropped the leading zeros of {names} — type the {column} with its "
            f"zeros and format the {column} column as Text before saving, or use the .xlsx download")


def _in_ranges(store: Store, skus: Iterable[str]) -> dict[str, list[str]]:
    """scientific-notation SKU → the products whose identifier is a digit string in its range (with or
    without leading zeros, up to 15 digits); none when more than SKU_RANGE_MAX are (the row is then unprovable).
    Compared as text per length: equal-length digit strings sort as their numbers in any collation, so the
    identifier index serves each range; what else sorts in between is filtered out here."""
    limit = SKU_RANGE_MAX  # read at call time: tests lower it
    out: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for sku in skus:
            bounds = scientific_range(sku)
            if bounds is None:
                continue
            low, high = bounds
            conditions = [and_(PRODUCT.c.identifier >= lo, PRODUCT.c.identifier <= hi) for lo, hi in _text_ranges(low, high)]
            found: list[str] = []
            for part in batched(conditions, _RANGES_PER_QUERY):
                query = select(PRODUCT.c.identifier).where(or_(*part)).order_by(PRODUCT.c.identifier).limit(limit + 1)
                found += [i for i in conn.execute(query).scalars() if _DIGITS.fullmatch(i) and low <= int(i) <= high]
            out[sku] = found if len(found) <= limit else []
    return out


def _text_ranges(low: int, high: int) -> list[tuple[str, str]]:
    """(first, last) identifier text per digit count from the range's shortest number to 15 digits: the
    numbers from `low` to `high` written with that many digits (leading zeros as needed)."""
    out = []
    for width in range(len(str(low)), max(len(str(high)), content_sheet.EXCEL_DIGITS) + 1):
        top = min(high, 10 ** width - 1)
        if top >= low:
            out.append((str(low).zfill(width), str(top).zfill(width)))
    return out
