"""An ERP CSV product file that names a SKU on two rows: the later rows are refused, naming the first one's line.
The last row used to win silently; Akeneo refuses a file repeating an identifier, and so do we, row by row: the
first row of a SKU is imported, whatever its fate, and each later one goes to the quarantine. Split out of
importers.erp_csv (product_items runs its rows through `first_rows_only`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pim.importing import Rejected

#: A file row as importers.erp_csv.CsvRows yields it: (line, cells).
Row = tuple[int, list[str]]


class FirstLines:
    """The line each SKU was first read on. Held in memory up to IN_MEMORY SKUs (~120 bytes each), as
    pim.commerce.CompletePriceLists holds its keys; past that in a private SQLite file of its own (deleted when
    closed; never the catalog's database, so no statement there), looked up a block of rows at a time: memory
    stays flat whatever the file's length."""

    IN_MEMORY = 100_000
    PARAMS = 500  # keys per lookup: under SQLite's oldest limit of 999 bound values

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._spill: sqlite3.Connection | None = None

    def earlier(self, rows: list[tuple[str, int]]) -> list[int | None]:
        """For each (SKU, line) of a block of rows in file order: the line of an earlier row of the SKU (in this
        block or before), else None. The SKUs the block names first are noted."""
        held = self._held
        if self._spill is None and len(held) + len(rows) <= self.IN_MEMORY:
            out: list[int | None] = []
            for sku, line in rows:
                first = held.setdefault(sku, line)
                out.append(first if first != line else None)
            return out
        spill = self._spilled()
        keys = list(dict.fromkeys(sku for sku, _ in rows))
        found: dict[str, int] = {}
        for at in range(0, len(keys), self.PARAMS):
            part = keys[at:at + self.PARAMS]
            found.update(spill.execute(f"SELECT sku, line FROM first_line WHERE sku IN ({','.join('?' * len(part))})",
                                       part).fetchall())
        new: dict[str, int] = {}
        out = []
        for sku, line in rows:
            first = found.get(sku) or new.setdefault(sku, line)
            out.append(first if first != line else None)
        spill.executemany("INSERT INTO first_line VALUES (?, ?)", new.items())
        return out

    def _spilled(self) -> sqlite3.Connection:
        """The spill file, holding what memory held until now."""
        if self._spill is None:
            self._spill = sqlite3.connect("")  # "": a temporary file of this connection's own
            self._spill.execute("CREATE TABLE first_line (sku TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")
            self._spill.executemany("INSERT INTO first_line VALUES (?, ?)", self._held.items())
            self._held = {}
        return self._spill

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self._held = {}


def first_rows_only(rows: Iterator[Row | Rejected], sku_at: Callable[[], int], refused: Callable[[Row, int], Rejected],
                    block: int = 512) -> Iterator[Row | Rejected]:
    """`rows` in order, each row naming a SKU an earlier row named given as `refused(row, first line)`. Checked a
    block of rows at a time (FirstLines). `sku_at`: the SKU's cell index, asked once the header is read (before
    the first row comes). Rows with an empty SKU, and rows `rows` rejects already, pass as they are."""
    firsts = FirstLines()
    at: int | None = None
    held: list[Row | Rejected] = []
    try:
        for item in rows:
            held.append(item)
            if len(held) >= block:
                at = sku_at() if at is None else at
                yield from _checked(held, at, firsts, refused)
                held = []
        if held:
            yield from _checked(held, sku_at() if at is None else at, firsts, refused)
    finally:
        firsts.close()


def _checked(held: list[Row | Rejected], at: int, firsts: FirstLines,
             refused: Callable[[Row, int], Rejected]) -> Iterator[Row | Rejected]:
    named = [(n, item[1][at].strip(), item[0]) for n, item in enumerate(held)
             if not isinstance(item, Rejected) and item[1][at].strip()]
    repeats = {n: first for (n, _, _), first in zip(named, firsts.earlier([(sku, line) for _, sku, line in named]))
               if first is not None}
    for n, item in enumerate(held):
        first = repeats.get(n)
        yield item if first is None else refused(item, first)  # type: ignore[arg-type]


def repeated_sku(sku: str, first: int, column: str) -> str:
    """Why a later row of a SKU was refused: what stands, and what to do."""
    return (f"SKU '{sku}' is on line {first} too (column '{column}'): a file gives each product once, so this "
            f"later row was not imported and line {first} stands; merge the two rows into one (or correct the "
            "SKU), then import the file again")
