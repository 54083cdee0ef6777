"""A supplier table's repeated ids (round 36): several rows of one supplier id are one product stated once, with
one row per tier period. A later row of an id must repeat every cell the profile reads but the tier-only columns
(a tier's price and quantity columns that no value rule also reads, the tiers' currency and validity columns):
those may differ when the row states another (currency, valid_from) than the id's earlier rows, so one file holds
a product's EUR and CHF tiers, or today's list and July's. A row that says something else than an earlier one
(another value, or other tiers for a period an earlier row states) is refused, naming the earlier line and the
column; an identical repeat is read again, which changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pim.commerce_tables import EARLIEST

if TYPE_CHECKING:
    from importers.supplier_table import SupplierTableMap


@dataclass(frozen=True)
class Contradiction:
    """Why a later row of an id is refused: the earlier row's line, the field (the pid column for another value,
    as before round 36, the reason naming the column; the tier column for other tiers of a period), the reason."""

    line: int
    field: str
    reason: str


class TierOnly:
    """Which of a header's read columns are tier-only, worked out once per header."""

    def __init__(self, header: list[str], read_at: list[int], m: SupplierTableMap) -> None:
        t = m.tiers
        ruled = set(m.rules())
        tier_columns = set() if t is None else {*(c.price for c in t.columns), *(c.min_qty_column for c in t.columns
                                                                                   if c.min_qty_column), *t.row_columns()}
        only = tier_columns - ruled - {m.pid_column, m.gtin_column, m.price_unit_column}
        self.names, self.pid_column = header, m.pid_column
        self.base_at = [n for n in read_at if header[n] not in only]
        self.tier_at = [n for n in read_at if header[n] in only]


class Repeats:
    """The supplier ids read so far: each with its first line, a digest per base cell (so a refusal names the
    column) and, per tier period its rows stated, that row's line and tier cells as written (a few short strings).
    About 0.2 KB an id."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, tuple[int, ...], dict[object, tuple[int, tuple[str, ...]]]]] = {}

    def earlier(self, pid: str, line: int, cells: list[str], at: TierOnly,
                scope: tuple[str, date] | None) -> Contradiction | None:
        """Why this row of `pid` contradicts an earlier one, else None (it is remembered: the first row of an id,
        or one stating a period no earlier row stated). `scope`: the (currency, valid_from) its tiers restate."""
        base = tuple(hash(cells[n]) for n in at.base_at)
        tiers = tuple(cells[n] for n in at.tier_at)
        first = self._seen.get(pid)
        if first is None:
            self._seen[pid] = (line, base, {scope: (line, tiers)})
            return None
        first_line, first_base, periods = first
        if base != first_base:
            column = next((at.names[n] for n, a, b in zip(at.base_at, base, first_base, strict=True) if a != b), "")
            only = f" (only {', '.join(at.names[n] for n in at.tier_at)} may differ, for another tier period)" if at.tier_at else ""
            return Contradiction(first_line, at.pid_column, f"supplier product id '{pid}' is on line {first_line} too, with other "
                                 f"values (column '{column}'){only}: this later row was not imported; delete or correct "
                                 "one of the two rows, then import again")
        stated = periods.get(scope)
        if stated is None:
            periods[scope] = (line, tiers)
            return None
        if stated[1] == tiers:
            return None
        column = next((at.names[n] for n, a, b in zip(at.tier_at, tiers, stated[1], strict=True) if a != b), "")
        period = "no currency" if scope is None else (
            f"{scope[0]} from {'the start' if scope[1] == EARLIEST else scope[1].isoformat()}")
        return Contradiction(stated[0], column, f"supplier product id '{pid}' states its tiers for {period} on line "
                             f"{stated[0]} too, with other cells (column '{column}'): a product's rows must each state "
                             "another currency or start date; this later row was not imported. Delete or correct one "
                             "of the two rows, then import again")

    def line(self, pid: str) -> int | None:
        """The line of the first row of `pid` read so far, else None."""
        first = self._seen.get(pid)
        return first[0] if first is not None else None
