"""WAL checkpoints of SQLite files, run on a thread of their own instead of inside the writer's commit.

SQLite's default copies the WAL back into the database file in the commit that takes the WAL past 1,000 pages,
fsyncs included: on a batch import that is most commits, and 10–12 % of a merge import's time was spent there.
The sqlite3 module releases the GIL while SQLite works, so a checkpoint on another thread runs on the
other core while the import prepares its next batch. Each connection's own automatic checkpoint is kept as
a safety net at `SAFETY_PAGES` (the WAL cannot grow without bound if this thread falls behind), and a
checkpoint here is PASSIVE: it never waits for, or blocks, a reader or writer. A WAL that a long reader let
grow (an export holding its snapshot through a large import) is cut back to `WAL_SIZE_LIMIT` when the next
writer starts it over; without the limit SQLite keeps the file at its high-water size until the last
connection closes, which for a web server is never.

One thread per process serves every engine: a connection that committed pokes it when it goes back to the
pool, and it checkpoints that file (its own short-lived connection, so an idle process holds nothing open
and the last connection to close still folds the WAL into the file, as SQLite does by default)."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

from pim.store.fork_guard import inside_sqlite

#: Pages (4 KiB) a connection lets the WAL reach before it checkpoints in its own commit, as a fallback.
SAFETY_PAGES = 25_000
#: Bytes the WAL file is truncated to when a writer starts it over after a complete checkpoint.
WAL_SIZE_LIMIT = 16 * 1024 * 1024
_COMMITTED = "pim_wal_committed"

log = logging.getLogger(__name__)


class _Checkpointer:
    """The process's checkpoint thread and the files waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.dirty: set[str] = set()
        self.busy: str | None = None
        self.pid = -1

    def poke(self, path: str) -> None:
        with self.lock:
            self.dirty.add(path)
            if self.pid != os.getpid():  # first use in this process (a forked child has no thread)
                self.pid = os.getpid()
                threading.Thread(target=self._run, name="pim-wal-checkpoint", daemon=True).start()
            self.lock.notify_all()

    def settle(self, path: str) -> None:
        """Wait until no checkpoint of `path` is running (an engine's dispose: its file is left as the
        last connection to close leaves it)."""
        with self.lock:
            self.dirty.discard(path)
            while self.busy == path:
                self.lock.wait()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.dirty:
                    self.lock.wait()
                self.busy = path = self.dirty.pop()
            try:
                checkpoint(path)
            except sqlite3.Error as exc:  # a file removed or locked meanwhile: the next commit pokes again
                log.debug("WAL checkpoint of %s skipped: %s", path, exc)
            finally:
                with self.lock:
                    self.busy = None
                    self.lock.notify_all()


_CHECKPOINTER = _Checkpointer()


def checkpoint(path: str) -> None:
    """One PASSIVE checkpoint of a WAL-mode SQLite file (what it could not copy yet, the next one does)."""
    with inside_sqlite():  # a fork meanwhile would leave its child an SQLite mutex taken (pim.store.fork_guard)
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()


def attach(engine: Engine, path: str) -> None:
    """Move `engine`'s WAL checkpoints (a SQLite file at `path`) to the process's checkpoint thread."""

    @event.listens_for(engine, "connect")
    def _fallback(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        dbapi_conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")

    @event.listens_for(engine, "commit")
    def _committed(conn: Any) -> None:
        conn.connection.info[_COMMITTED] = True

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            _CHECKPOINTER.poke(path)

    @event.listens_for(engine, "engine_disposed")
    def _disposed(_engine: Any) -> None:
        _CHECKPOINTER.settle(path)
