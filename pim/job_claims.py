"""Taking a job from the queue. `claim` takes the queued job a worker can run with the highest priority, the
oldest first among equals (each kind has a default, pim.job_enqueue.KIND_PRIORITY), atomically: on PostgreSQL
the row is locked with `FOR UPDATE SKIP LOCKED`, so concurrent workers pass over each other's claims; on SQLite
the conditional `UPDATE … WHERE status = 'queued'` decides (a lost race reads rowcount 0 and tries the next
one). The claim stamps host, pid and heartbeat like any running job, so a worker that dies leaves it
`interrupted`. Jobs of an EXCLUSIVE kind with the same key never run at once: publications of one renderer and
scope (their source), imports of one source (the provenance name their map gives, pim.job_import_source: two
uploads of one ERP file have different labels but one key). A claim passes over one while another is running
(a NOT EXISTS in the same conditional UPDATE; on PostgreSQL the claim first takes a transaction advisory lock
keyed on the key, so two claims in separate transactions cannot both see none running). It stays queued and is
claimed once the first has ended. Imports (ORDERED) also keep their queued order: one waits while an earlier one
of its key is still queued, so two workers never merge the newer upload first (a rival claim holding the
earlier row's lock is "still queued" too); `holder` says which job one waits for.

A job a command runs itself (`pim publish`: `enqueue(..., held=True)`, then pim.job_command) is queued with the
command's host and pid: no worker claims it, only that command, by its id, under the same exclusion. One whose
command died before it ran is ended `cancelled` by the next claim (`_drop_orphans`)."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select, update

from pim import job_cancel
from pim.job_enqueue import QUEUED
from pim.job_import_source import MERGE_SOURCE, exclusion_key
from pim.job_runners import RUNNERS
from pim.store.store import JOB, now, process_alive

CANCELLED = job_cancel.CANCELLED
#: Kinds whose jobs with the same key (`exclusion_key`) never run at once: two publications of one renderer and
#: scope would write the same files and watermarks; two imports of one source would each merge over what the
#: other read, the older file winning as often as not.
EXCLUSIVE: frozenset[str] = frozenset({"publish", "import"})
#: EXCLUSIVE kinds whose jobs of one key also run in queued order (priority, then age): a later one waits while
#: an earlier one is queued. An import's order is its content: the newer upload must be merged last.
ORDERED: frozenset[str] = frozenset({"import"})


def claim(store: Any, kinds: Iterable[str] | None = None, *, job_id: int | None = None) -> dict[str, Any] | None:
    """Take the queued job of `kinds` (default: every kind with a runner) with the highest priority, the oldest
    among equals, that may run now (not an EXCLUSIVE kind's job while one of its key runs, nor an ORDERED kind's
    while an earlier one of its key waits) and mark it running by this process; None when there is none. With `job_id`, that job only (a command's own held job,
    pim.job_command); without, held jobs are passed over."""
    wanted = sorted(kinds or RUNNERS)
    pg = store.dialect == "postgresql"
    if job_id is None:
        _drop_orphans(store)
    while True:
        with store.begin() as conn:
            free = _free(conn, store) if EXCLUSIVE & set(wanted) else None
            oldest = select(JOB.c.id, JOB.c.kind, _key(JOB).label("key")).where(JOB.c.status == QUEUED, JOB.c.kind.in_(wanted))
            oldest = oldest.where(JOB.c.id == job_id) if job_id is not None else oldest.where(JOB.c.pid.is_(None))
            if free is not None:
                oldest = oldest.where(free)
            oldest = oldest.order_by(JOB.c.priority.desc(), JOB.c.id).limit(1)
            row = conn.execute(oldest.with_for_update(skip_locked=True) if pg else oldest).first()
            if row is None:
                return None
            if pg and row.kind in EXCLUSIVE:  # held to commit: a rival claim of the same source waits, then sees ours
                conn.execute(select(func.pg_advisory_xact_lock(_lock_key(row.kind, row.key))))
            stamp = now()
            won = conn.execute(update(JOB).where(JOB.c.id == row.id, JOB.c.status == QUEUED,
                                                 *([free] if free is not None else [])).values(
                status="running", started_at=stamp, heartbeat_at=stamp, host=socket.gethostname()[:255],
                pid=os.getpid(), finished_at=None, error=None, cancel_requested_at=None)).rowcount
            if won == 1:
                return dict(conn.execute(select(JOB).where(JOB.c.id == row.id)).one()._mapping)
        # another worker took it (SQLite), or one of its source started meanwhile; look again


def _free(conn: Connection, store: Any) -> Any:
    """The condition on a queued job that it may run now: not an EXCLUSIVE kind's while a job of its kind and key
    runs, nor an ORDERED kind's while one of its kind and key queued before it waits (for a worker: a command's
    held job is in no worker's order). A running row whose process is gone (it reads `interrupted`) does not
    count: it never ends."""
    rows = conn.execute(select(JOB.c.id, JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at)
                        .where(JOB.c.status == "running", JOB.c.kind.in_(sorted(EXCLUSIVE)))).all()
    dead = [r.id for r in rows if not process_alive(r._mapping, store.heartbeat_seconds)]
    other = JOB.alias("running_job")
    busy = exists().where(other.c.kind == JOB.c.kind, _key(other) == _key(JOB),
                          other.c.status == "running", other.c.id.not_in(dead))
    ahead = JOB.alias("earlier_job")
    earlier = exists().where(ahead.c.kind == JOB.c.kind, _key(ahead) == _key(JOB), ahead.c.status == QUEUED,
                             ahead.c.pid.is_(None), ahead.c.id != JOB.c.id, _before(ahead, JOB))
    return or_(JOB.c.kind.not_in(sorted(EXCLUSIVE)), and_(~busy, or_(JOB.c.kind.not_in(sorted(ORDERED)), ~earlier)))


def _key(table: Any) -> Any:
    """`exclusion_key` in SQL, of `table` (the job table or an alias of it)."""
    return func.coalesce(table.c.payload[MERGE_SOURCE].as_string(), table.c.source)


def _before(first: Any, then: Any) -> Any:
    """That `first` is claimed before `then`: a higher priority, or the same and queued earlier."""
    return or_(first.c.priority > then.c.priority, and_(first.c.priority == then.c.priority, first.c.id < then.c.id))


def holder(store: Any, job: dict[str, Any]) -> dict[str, Any] | None:
    """The job that keeps `job` waiting, or None: the running one (alive) of its EXCLUSIVE kind and key, else for
    an ORDERED kind the first of its kind and key still queued before it (its status says which)."""
    if job["kind"] not in EXCLUSIVE:
        return None
    priority = job.get("priority") or 0
    earlier = or_(JOB.c.priority > priority, and_(JOB.c.priority == priority, JOB.c.id < job["id"]))
    with store.engine.connect() as conn:
        same = select(JOB.c.id).where(JOB.c.kind == job["kind"], _key(JOB) == exclusion_key(job), JOB.c.id != job["id"])
        running = conn.execute(same.where(JOB.c.status == "running").order_by(JOB.c.id)).scalars().all()
        queued = conn.execute(same.where(JOB.c.status == QUEUED, JOB.c.pid.is_(None), earlier)
                              .order_by(JOB.c.priority.desc(), JOB.c.id)).scalars().all() \
            if job["kind"] in ORDERED else []
    found = (j for i in running if (j := store.job(i)) is not None and j["status"] == "running")
    return next(found, None) or next((j for i in queued if (j := store.job(i)) is not None
                                      and j["status"] == QUEUED), None)


def _drop_orphans(store: Any) -> None:
    """End `cancelled` the held jobs (a command's own, still queued) whose command is gone: no worker would ever
    run them, and they would wait forever."""
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(JOB.c.id, JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at)
            .where(JOB.c.status == QUEUED, JOB.c.pid.is_not(None)))]
    for row in rows:
        if process_alive(row, store.heartbeat_seconds):
            continue
        with store.begin() as conn:
            conn.execute(update(JOB).where(JOB.c.id == row["id"], JOB.c.status == QUEUED, JOB.c.pid == row["pid"])
                         .values(status=CANCELLED, finished_at=now(), error=(
                             f"the command that queued it (pid {row['pid']} on {row['host']}) ended before it ran: "
                             "nothing was done. Run the same command again.")))


def _lock_key(kind: str, source: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks, from the kind and source."""
    digest = hashlib.blake2b(f"pim.job:{kind}:{source}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
