"""The queue workers' own rows (`job_worker`): each `pim worker` records itself while it runs (host, pid and a
heartbeat, like a running job), so any web process can tell whether queued work will be picked up, and say
plainly when nobody is there to do it. A worker that was killed is judged gone the way a killed job is
(pim.store.store.process_alive: its pid on this host, its heartbeat elsewhere); the rows of stopped and dead
workers are dropped when the next worker starts."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel

from pim.store.database import driver_said
from pim.store.heartbeat import Heartbeats
from pim.store.store import now, process_alive
from pim.store.tables import utc_column


class WorkerRow(SQLModel, table=True):
    """One `pim worker` process: running until it stops (or dies, which its pid or heartbeat tells)."""

    __tablename__ = "job_worker"

    id: int | None = Field(default=None, primary_key=True)
    host: str = Field(max_length=255)
    pid: int
    status: str = Field(default="running", max_length=20, index=True)
    started_at: datetime = utc_column()
    heartbeat_at: datetime | None = utc_column(nullable=True)
    stopped_at: datetime | None = utc_column(nullable=True)
    jobs: int = Field(default=0)  # jobs this worker has run


WORKER: Table = WorkerRow.__table__  # type: ignore[assignment]
log = logging.getLogger(__name__)
_BEATS = Heartbeats()  # this process's worker rows (apart from the jobs' registry: the ids would collide)


@contextmanager
def present(store: Any, waiting: Callable[[SQLAlchemyError], bool] | None = None) -> Iterator[int]:
    """Record this process as a running worker (with a heartbeat) for the duration of the block. A database
    error recording it is raised, unless `waiting(exc)` says it waited it out (a database that takes no writes
    yet, pim.job_queue): then the row is tried again."""
    while True:
        try:
            worker_id = _record(store)
            break
        except SQLAlchemyError as exc:
            if waiting is None or not waiting(exc):
                raise
    _BEATS.start(store.engine, WORKER, worker_id, store.heartbeat_seconds)
    try:
        yield worker_id
    finally:
        _BEATS.stop(worker_id)
        try:
            with store.begin() as conn:
                conn.execute(update(WORKER).where(WORKER.c.id == worker_id)
                             .values(status="stopped", stopped_at=now()))
        except SQLAlchemyError as exc:  # the error that stops the worker is the one to raise, not this one
            log.warning("worker %s: could not record that it stopped (%s); its row reads gone once this process "
                        "is", worker_id, driver_said(exc))


def _record(store: Any) -> int:
    """This process's worker row, dropping the rows of stopped and dead workers; its id."""
    stamp = now()
    gone = [r["id"] for r in _running(store) if not process_alive(r, store.heartbeat_seconds)]
    with store.begin() as conn:
        conn.execute(delete(WORKER).where(or_(WORKER.c.status != "running", WORKER.c.id.in_(gone))))
        return int(conn.execute(insert(WORKER).values(
            host=socket.gethostname()[:255], pid=os.getpid(), status="running", started_at=stamp,
            heartbeat_at=stamp, jobs=0)).inserted_primary_key[0])


def ran_one(store: Any, worker_id: int) -> None:
    """Count one more job for the worker (shown by `pim jobs status`)."""
    with store.begin() as conn:
        conn.execute(update(WORKER).where(WORKER.c.id == worker_id)
                     .values(jobs=WORKER.c.jobs + 1, heartbeat_at=now()))


def live(store: Any) -> list[dict[str, Any]]:
    """The workers alive now, oldest first."""
    return [r for r in _running(store) if process_alive(r, store.heartbeat_seconds)]


def _running(store: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(WORKER).where(WORKER.c.status == "running").order_by(WORKER.c.id))]
