"""Waking idle workers at once on PostgreSQL: `notify` (called by pim.job_queue's enqueue and retry inside their
transaction) sends `pg_notify`, which PostgreSQL delivers only when that transaction commits — never for a job
rolled back — and `Listener` holds a dedicated connection that LISTENs, so `wait` returns as soon as a job is
queued instead of after the worker's poll. The poll stays as the fallback (a lost connection, a notification
sent while the listener reconnected). SQLite has no such thing: there `wait` is the plain poll, as before."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Connection, func, select

log = logging.getLogger(__name__)
#: The PostgreSQL notification channel queued jobs are announced on (payload: the job's kind).
CHANNEL = "pim_jobs"
#: The longest a listener blocks at once, so a stop request (SIGTERM) is seen soon even with a long poll.
SLICE = 0.5


def notify(conn: Connection, kind: str) -> None:
    """Announce a queued job of `kind` to listening workers when `conn`'s transaction commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(CHANNEL, kind)))


class Listener:
    """A worker's wake-up line: on PostgreSQL a dedicated autocommit connection LISTENing on CHANNEL (`listen`
    before the first look at the queue, so no job committed after that look goes unannounced; reopened after a
    failure); elsewhere nothing. Close it when the worker stops."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.enabled = store.dialect == "postgresql"
        self._conn: Any = None
        self._warned = False

    def listen(self) -> bool:
        """Open the line if it is not (PostgreSQL); whether it is open now."""
        return self.enabled and self._connection() is not None

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` (the poll) for a queued job's notification or `stop`; True when notified."""
        if not self.enabled:
            stop.wait(seconds)
            return False
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._conn is None:  # (re)opened now: what was queued while it was closed was not announced
                if self.listen():
                    return True
                stop.wait(left)  # no line: the plain poll, and another try next time
                return False
            conn = self._conn
            try:
                if any(True for _ in conn.notifies(timeout=min(left, SLICE), stop_after=1)):
                    self._drain(conn)
                    return True
            except Exception as exc:  # the server went away: poll, and reconnect on the next wait
                log.warning("job wake-ups lost (polling every %s s meanwhile): %s", seconds, exc)
                self.close()
        return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken: nothing to release
                pass

    def _connection(self) -> Any:
        if self._conn is None:
            conn = None
            try:
                raw = self.store.engine.raw_connection()
                conn = raw.driver_connection
                raw.detach()  # ours alone: LISTEN must not leak into the pool, and close() really closes it
                conn.rollback()  # the pool's ping may have opened a transaction: autocommit needs none
                conn.autocommit = True
                conn.execute(f"LISTEN {CHANNEL}")
                self._conn, self._warned = conn, False
            except Exception as exc:
                self._conn = conn
                self.close()
                if not self._warned:  # once, not every poll while the server is away
                    log.warning("cannot listen for queued jobs (polling instead): %s", exc)
                    self._warned = True
                return None
        return self._conn

    @staticmethod
    def _drain(conn: Any) -> None:
        """Drop notifications already delivered (a burst of enqueues wakes the worker once)."""
        for _ in conn.notifies(timeout=0):
            pass
