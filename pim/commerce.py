"""Commercial data that is not a product attribute: customer price lists (contract prices with quantity
tiers and validity) and stock per warehouse. The ERP importer writes it; feeds, search and channels read it.

This module holds stock; price lists live in pim.price_lists (writing) and pim.price_reading, the shapes and
tables in pim.commerce_tables, complete runs in pim.complete_run. Their names stay importable from here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select

from pim.commerce_tables import (  # noqa: F401  # their old import path
    _QUANTUM,
    _READING,
    EARLIEST,
    NUMERIC_LIMIT,
    NUMERIC_PLACES,
    PRICE,
    REMOVED,
    SEEN,
    STOCK,
    STOCK_SEEN,
    Amount,
    PriceListEntry,
    PriceListRemovedRow,
    PriceListRow,
    PriceListSeenRow,
    StockLevel,
    StockRow,
    StockSeenRow,
    within_places,
)
from pim.complete_run import CompleteRun
from pim.price_lists import (  # noqa: F401  # their old import path
    _PRICE_KEY,
    PAIRS_SEQ,
    CompletePriceLists,
    KeyNote,
    _note_removed,
    free_price,
    inverted_tiers,
    put_price_list,
    put_price_list_in,
    put_price_rows_in,
    read_price_list_jsonl,
    remove_price_list_entries_in,
)
from pim.price_reading import (  # noqa: F401  # their old import path
    Tier,
    contract_tiers,
    customers_priced_since,
    price_list_changed_since,
    price_list_tiers,
    price_window_crossed,
)
from pim.stock_sums import Availability, sum_stock  # noqa: F401  # Availability: its old import path
from pim.store.store import Store, as_utc, batched, now


def put_stock(store: Store, levels: Iterable[StockLevel]) -> int:
    """Upsert stock readings; returns how many were written. A reading older than the one stored for its SKU and
    warehouse, or the stored reading restated, is skipped (files and IDocs arrive out of order; the newest reading wins, and of equal times the
    later one, except that one without ATP keeps the ATP of the same time: _keep_atp). Products whose quantity or ATP actually changed get a new write sequence, so the search index
    and customer deltas send their new availability without a full rebuild."""
    with store.begin() as conn:
        return put_stock_in(store, conn, levels)


def put_stock_in(store: Store, conn: Connection, levels: Iterable[StockLevel]) -> int:
    """put_stock inside the caller's transaction (an import writes a record's stock with the record)."""
    store.lock_writes(conn)  # before any stock row lock: touch_products takes it after them (deadlock)
    count = 0
    for chunk in batched(levels, store.batch_size):
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for level in chunk:
            row = level.model_dump()
            row["updated_at"] = in_utc(row["updated_at"])
            key = (row["sku"], row["warehouse"])
            if key not in newest or as_utc(row["updated_at"]) >= as_utc(newest[key]["updated_at"]):
                if key in newest:
                    _keep_atp(row, newest[key]["atp"], as_utc(newest[key]["updated_at"]))
                newest[key] = row
        # the chunk's warehouses too: a SKU in 100k warehouses read all its readings for each chunk (quadratic)
        before = {(r.sku, r.warehouse): (Decimal(r.quantity), None if r.atp is None else Decimal(r.atp),
                                         as_utc(r.updated_at))
                  for r in conn.execute(select(STOCK.c.sku, STOCK.c.warehouse, STOCK.c.quantity, STOCK.c.atp,
                                               STOCK.c.updated_at)
                                        .where(STOCK.c.sku.in_({sku for sku, _ in newest}),
                                               STOCK.c.warehouse.in_({warehouse for _, warehouse in newest})))}
        for key, r in newest.items():
            if key in before:
                _keep_atp(r, before[key][1], before[key][2])
        rows = [r for key, r in newest.items() if key not in before or as_utc(r["updated_at"]) >= before[key][2]
                and before[key] != (r["quantity"], r["atp"], as_utc(r["updated_at"]))]  # a reading restated: unchanged
        changed = {r["sku"] for r in rows if before.get((r["sku"], r["warehouse"]), ())[:2] != (r["quantity"], r["atp"])}
        if rows:
            store.upsert_rows(conn, STOCK, rows, ["sku", "warehouse"])
        if changed:
            store.touch_products(conn, sorted(changed))
        count += len(rows)
    return count


def _keep_atp(row: dict[str, Any], atp: Decimal | None, at: datetime) -> None:
    """A reading without ATP takes the ATP of the reading it replaces when both have the same time: it is the same
    reading from a source that does not state ATP (SAP E1MARDM beside a stock CSV), not news that ATP is gone. A
    newer reading replaces the whole one, ATP included: an older ATP says nothing of the newer quantity."""
    if row["atp"] is None and atp is not None and as_utc(row["updated_at"]) == at:
        row["atp"] = atp


def in_utc(stamp: datetime) -> datetime:
    """A reading's time in UTC (one without a zone is UTC): SQLite keeps a time's clock without its zone, so one
    written in another zone would read back hours off."""
    return stamp if stamp.tzinfo is UTC else as_utc(stamp).astimezone(UTC)


def atp_above_quantity(level: StockLevel) -> str | None:
    """Why a reading promises more than its warehouse holds (an ATP above its quantity and above 0), else None.
    The reading is kept as sent; the import notes this as a `problem` of its row or record."""
    if level.atp is None or level.atp <= level.quantity or level.atp <= 0:
        return None
    return (f"ATP {level.atp} in warehouse {level.warehouse} is more than its quantity {level.quantity}: kept as "
            "sent, and feeds and search offer the ATP. Check the reading in the ERP (does its ATP count planned "
            "receipts?) and that the map's `atp` and `quantity` are not swapped, then import the file again")


class CompleteStock(CompleteRun):
    """Complete stock files (an ERP stock map's `complete: true`): a file holds every warehouse of each SKU it
    names. `finish` removes the stored readings of the SKUs the run named in warehouses it did not hold (a
    warehouse retired), except one newer than the SKU's newest reading in the run (taken after the file was
    written). SKUs the run never named keep theirs."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, STOCK_SEEN)

    def put(self, store: Store, levels: list[StockLevel]) -> int:
        """put_stock, noting each reading's SKU, warehouse and time under the run in the same transaction (a
        reading older than the stored one is not written, but its warehouse is held all the same)."""
        with store.begin() as conn:
            count = put_stock_in(store, conn, levels)
            noted: dict[tuple[str, str], datetime] = {}
            for level in levels:
                key, at = (level.sku, level.warehouse), in_utc(level.updated_at)
                if noted.get(key, at) <= at:
                    noted[key] = at
            stamp = now()
            store.upsert_rows(conn, STOCK_SEEN, [{"run": self.run, "sku": sku, "warehouse": warehouse, "read_at": at,
                                                  "noted_at": stamp} for (sku, warehouse), at in noted.items()],
                              ["run", "sku", "warehouse"])
            return count

    def _remove(self, conn: Connection) -> int:
        """Their products get a new write sequence, as a changed reading gives them (put_stock_in)."""
        seen = STOCK_SEEN
        named = select(seen.c.sku).where(seen.c.run == self.run)
        held = select(seen.c.run).where(seen.c.run == self.run, seen.c.sku == STOCK.c.sku,
                                        seen.c.warehouse == STOCK.c.warehouse).exists()
        newest = select(func.max(seen.c.read_at)).where(seen.c.run == self.run,
                                                        seen.c.sku == STOCK.c.sku).scalar_subquery()
        gone = conn.execute(delete(STOCK).where(STOCK.c.sku.in_(named), ~held, STOCK.c.updated_at <= newest)
                            .returning(STOCK.c.sku)).scalars().all()
        if gone:
            self.store.touch_products(conn, sorted(set(gone)))
        return len(gone)

    def close(self, job_id: int | None, rejected: int, *, file: Path, source: str) -> int:
        """CompleteRun._closed: a rejected row may be a warehouse that still holds stock."""
        return self._closed(job_id, rejected, key=f"complete-stock:{file.name}", file=file, source=source,
                            said=f"complete stock file: no warehouse was removed because {rejected} row(s) were "
                                 "rejected; fix them and import the file again")


@dataclass(frozen=True)
class WarehouseList:
    """Every warehouse of a SKU as of `at`, as one record states it (an IDoc's E1MARDM segments, under the map's
    `stock.complete`): `retire_warehouses` removes the SKU's stored readings in the others."""

    sku: str
    warehouses: frozenset[str]
    at: datetime


def retire_warehouses(store: Store, conn: Connection, lists: list[WarehouseList]) -> int:
    """Remove, in the caller's transaction (after the lists' readings are written), each list's SKU's stored
    readings in warehouses it does not hold, but not one newer than the list (taken after it: files arrive out
    of order); lists apply in order. One read and at most one delete per call; returns the readings removed.
    Their products get a new write sequence, as a changed reading gives them (put_stock_in)."""
    if not lists:
        return 0
    store.lock_writes(conn)  # as put_stock_in: before the rows it deletes
    stored: dict[str, dict[str, datetime]] = {}
    for chunk in batched(sorted({held.sku for held in lists}), 5000):
        q = select(STOCK.c.sku, STOCK.c.warehouse, STOCK.c.updated_at).where(STOCK.c.sku.in_(chunk))
        for sku, warehouse, at in conn.execute(q):
            stored.setdefault(sku, {})[warehouse] = at
    gone: list[dict[str, str]] = []
    for held in lists:
        readings = stored.get(held.sku)
        if readings is None or readings.keys() <= held.warehouses:
            continue
        for warehouse in [w for w, at in readings.items() if w not in held.warehouses and as_utc(at) <= held.at]:
            del readings[warehouse]
            gone.append({"s": held.sku, "w": warehouse})
    if gone:
        conn.execute(delete(STOCK).where(STOCK.c.sku == bindparam("s"), STOCK.c.warehouse == bindparam("w")), gone)
        store.touch_products(conn, sorted({g["s"] for g in gone}))
    return len(gone)


def stock_for(store: Store, skus: list[str]) -> dict[str, Availability]:
    """Summed over warehouses (pim.stock_sums.sum_stock: one reading of a doubled location when
    PIM_FEED_STOCK_KEYS picks one); `updated_at` is the oldest reading, so staleness is never hidden."""
    with store.engine.connect() as conn:
        return sum_stock(row for chunk in batched(skus, 5000)
                         for row in conn.execute(select(*_READING).where(STOCK.c.sku.in_(chunk))))


def stock_read_between(store: Store, low: datetime, high: datetime) -> list[str]:
    """SKUs with a stock reading (any warehouse) taken in [low, high]: whose age crossed a limit then."""
    with store.engine.connect() as conn:
        return list(conn.execute(select(STOCK.c.sku).where(STOCK.c.updated_at >= low, STOCK.c.updated_at <= high)
                                 .distinct()).scalars())


def stock_changed_since(store: Store, since: datetime) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(STOCK.c.sku).where(STOCK.c.updated_at > since).distinct()).scalars())


def stock_all(store: Store) -> dict[str, Availability]:
    """`stock_for` over every SKU with a stock reading, in one scan."""
    with store.engine.connect() as conn:
        return sum_stock(conn.execute(select(*_READING)))
