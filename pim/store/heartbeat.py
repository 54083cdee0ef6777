"""Job heartbeats: a running job's process stamps `job.heartbeat_at` every few seconds from a daemon thread, so a
reader on any host can tell a job whose process is gone (killed, crashed, its machine lost) from one still
working. The pid check (pim.store.store._job_view) only works on the host that ran the job; the heartbeat
works everywhere, whatever loop the job runs, since no job code has to call it."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine, Table, update

from pim.store.fork_guard import inside_sqlite

log = logging.getLogger(__name__)

#: A running job is judged gone once its heartbeat is this many intervals old (a busy database may delay a beat).
STALE_BEATS = 4


class Heartbeats:
    """One daemon thread per running job of this process; `stop` when the job finishes."""

    def __init__(self) -> None:
        self._stops: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, engine: Engine, table: Table, job_id: int, seconds: float) -> None:
        if seconds <= 0:
            return
        stop = threading.Event()
        with self._lock:
            self._stops[job_id] = stop
        threading.Thread(target=_beat, args=(engine, table, job_id, seconds, stop), daemon=True,
                         name=f"pim-job-{job_id}-heartbeat").start()

    def stop(self, job_id: int) -> None:
        with self._lock:
            stop = self._stops.pop(job_id, None)
        if stop is not None:
            stop.set()


def _beat(engine: Engine, table: Table, job_id: int, seconds: float, stop: threading.Event) -> None:
    from pim.store.store import now

    while not stop.wait(seconds):
        try:
            with inside_sqlite(), engine.begin() as conn:  # no fork while in SQLite (pim.store.fork_guard)
                res = conn.execute(update(table).where(table.c.id == job_id, table.c.status == "running")
                                   .values(heartbeat_at=now()))
            if not res.rowcount:
                return  # finished (or removed) by someone else: nothing left to vouch for
        except Exception as exc:  # a locked or unreachable database: try again next beat, never fail the job
            log.debug("heartbeat of job %s not written: %s", job_id, exc)


def is_stale(heartbeat_at: datetime | None, seconds: float, at: datetime) -> bool:
    """Whether a running job's last heartbeat is too old for its process to be alive."""
    from pim.store.store import as_utc

    if heartbeat_at is None or seconds <= 0:
        return False
    return at - as_utc(heartbeat_at) > timedelta(seconds=seconds * STALE_BEATS)
