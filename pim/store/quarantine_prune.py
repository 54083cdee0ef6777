"""Retention for the quarantine: deleting entries closed long ago (`pim import prune --closed-older-than DAYS`).

Entries are closed, never deleted, by the runs that fix or supersede them (pim.store.supersede), and each run
writes a new entry for every row still wrong, raw row and all: a daily feed with persistent errors grows the
table by that many rows a day, for ever. Closed entries are history only, so those closed before a cut-off may
go. Open entries are the to-do list and always stay, whatever their age; a job's counts are on its job row
and stay too. Deletes go `PRUNE_BATCH` entries per transaction, oldest closed first along the `resolved_at`
index (migration 0037), so neither a lock nor the transaction grows with the table."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, select

from pim.store.tables import QuarantineRow

if TYPE_CHECKING:
    from pim.store.store import Store

QUARANTINE: Table = QuarantineRow.__table__  # type: ignore[assignment]
#: Entries deleted per statement and transaction: short write locks on a busy catalog, bounded memory. Each is
#: a bound parameter of the delete: SQLite takes at most 32,766.
PRUNE_BATCH = 5000


def _closed_before(before: datetime) -> list[Any]:
    """Closed, and closed before `before`: an open entry (resolved_at NULL) never matches."""
    return [QUARANTINE.c.resolved_at.is_not(None), QUARANTINE.c.resolved_at < before]


def prune_closed(store: Store, before: datetime, *, dry_run: bool = False, batch: int | None = None) -> dict[str, int]:
    """Delete the entries closed before `before`, `batch` (PRUNE_BATCH) a transaction; returns how many went
    per source, sources in order. A dry run only counts them, in one read."""
    size = batch if batch is not None else PRUNE_BATCH
    if size < 1:
        raise ValueError("batch must be at least 1")
    old = _closed_before(before)
    if dry_run:
        with store.engine.connect() as conn:
            rows = conn.execute(select(QUARANTINE.c.source, func.count()).where(*old)
                                .group_by(QUARANTINE.c.source)).all()
        return {source: count for source, count in sorted(rows)}
    # Oldest closed first, in the resolved_at index's own order: a batch is found there, never sorted. The ids
    # are read first and deleted by primary key: with the select as a subquery PostgreSQL hashes it against a
    # scan of the whole table, every batch. RETURNING counts what this statement deleted, not what another
    # prune running at the same time took first.
    oldest = select(QUARANTINE.c.id).where(*old).order_by(QUARANTINE.c.resolved_at).limit(size)
    gone: Counter[str] = Counter()
    while True:
        with store.begin() as conn:
            ids = conn.execute(oldest).scalars().all()
            if ids:
                gone.update(conn.execute(delete(QUARANTINE).where(QUARANTINE.c.id.in_(ids))
                                         .returning(QUARANTINE.c.source)).scalars())
        if len(ids) < size:
            return dict(sorted(gone.items()))
