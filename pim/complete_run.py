"""An import of complete lists (pim.price_lists.CompletePriceLists, pim.commerce.CompleteStock): what it
writes is noted per run, and what it named but did not hold is removed when it finishes cleanly."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Table, delete

from pim.importing import file_warning
from pim.store.store import Store, now


class CompleteRun:
    """An import of complete lists (CompletePriceLists, CompleteStock): what it writes is also noted under this
    run in `notes` (a table keyed by `run`; CompletePriceLists holds a list of ordinary length in memory), and
    `finish` removes, in one transaction under the write lock, the stored rows of what the run named that it did
    not hold (`_remove`). Used as a context manager, a run left without `finish` (the import failed) removes
    nothing and forgets its notes."""

    def __init__(self, store: Store, notes: Table, conn: Connection | None = None) -> None:
        """`conn`: started inside the caller's transaction (an import's first batch)."""
        self.store, self.notes = store, notes
        self.run = uuid.uuid4().hex
        self.finished = False
        stale = delete(notes).where(notes.c.noted_at < now() - timedelta(days=1))  # notes a crashed run left behind
        if conn is not None:
            conn.execute(stale)
        else:
            with store.begin() as own:
                own.execute(stale)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.finished:
            self.finish(remove=False)

    def _remove(self, conn: Connection) -> int:
        raise NotImplementedError

    def finish(self, *, remove: bool) -> int:
        """Remove what the run did not hold (when `remove`) and forget the notes; returns the rows removed."""
        removed = 0
        with self.store.begin() as conn:
            if remove:
                self.store.lock_writes(conn)  # as every writer: before the rows it deletes
                removed = self._remove(conn)
            conn.execute(delete(self.notes).where(self.notes.c.run == self.run))
        self.finished = True
        return removed

    def _closed(self, job_id: int | None, rejected: int, *, key: str, file: Path, source: str, said: str) -> int:
        """`finish` at the end of an import: remove the rest only when the import rejected nothing (a rejected row
        may be one that still holds); else the quarantine gets the warning `said`, which the next clean run of the
        file closes. Returns the rows removed."""
        file_warning(self.store, job_id, source, key, said if rejected else None, file=file.name)
        return self.finish(remove=not rejected)
