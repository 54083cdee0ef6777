"""Putting a job in the queue: `enqueue` records a queued job, in the caller's transaction (a Connection: the job
commits with the write that needs it, or not at all) or its own (a Store); `retry` queues a failed, interrupted
or cancelled one again, in place, keeping what each earlier attempt ended with; `set_priority` reorders one
still waiting. On PostgreSQL `enqueue` and `retry` notify in their transaction (pim.job_wakeup), so an idle
worker wakes when the job is committed."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from sqlalchemy import Connection, and_, insert, update

from pim import job_cancel, job_import_source, job_wakeup
from pim.errors import InputError
from pim.job_runners import RUNNERS
from pim.job_uploads import check_upload
from pim.store.store import INTERRUPTED, JOB, QUARANTINE, as_utc, now

log = logging.getLogger(__name__)
QUEUED = "queued"
#: A kind's default priority (`enqueue` without one); higher is claimed first, unknown kinds get 0. A person
#: watching an upload's page waits for the import, and a publication queued after an upload should publish
#: its rows, so imports come first; a requested publication (someone or some system waits for the files) next.
#: Rescores and grid re-indexes are background repairs after a structure change: the gate scores an unsettled
#: family itself meanwhile (only slower), and only the grid's category filter lags, the lowest.
KIND_PRIORITY: dict[str, int] = {"import": 30, "publish": 20, "rescore": 10, "grid_reindex": 0}
#: The priorities a job may be given (`set_priority`, `pim jobs priority`, the API).
PRIORITY_MIN, PRIORITY_MAX = -100, 100


def enqueue(target: Any, kind: str, source: str = "", payload: dict[str, Any] | None = None,
            counts: dict[str, Any] | None = None, *, priority: int | None = None, held: bool = False) -> int:
    """Record a queued job; `target` is a Connection (the caller's transaction) or a Store (its own). Without
    `priority`, the kind's default (KIND_PRIORITY). `held`: this process runs it itself (pim.job_command), so
    no worker takes it and none is woken. An upload's import keeps the source it writes as in its payload
    (pim.job_import_source): imports of one source run one at a time, in queued order (pim.job_claims)."""
    if not isinstance(target, Connection):
        with target.begin() as conn:
            return enqueue(conn, kind, source, payload, counts, priority=priority, held=held)
    stamp = now()
    mine = {"host": socket.gethostname()[:255], "pid": os.getpid(), "heartbeat_at": stamp} if held else {}
    res = target.execute(insert(JOB).values(kind=kind, source=source[:1000], status=QUEUED, counts=counts or {},
                                            payload=job_import_source.keyed(kind, payload) or {}, started_at=stamp, **mine,
                                            priority=default_priority(kind) if priority is None else priority))
    if not held:
        job_wakeup.notify(target, kind)
    return int(res.inserted_primary_key[0])


def default_priority(kind: str) -> int:
    """The priority a job of `kind` is queued with unless told otherwise (read at call time)."""
    return KIND_PRIORITY.get(kind, 0)


def set_priority(store: Any, job_id: int, priority: int) -> dict[str, Any]:
    """Give a queued job another priority; a job already claimed (or ended) is refused with why: the order only
    matters while it waits. InputError with field "priority" for a value out of range."""
    check_priority(priority)
    job = store.job(job_id)
    if job is None:
        raise InputError(f"no job {job_id}", hint="`pim jobs list` lists them")
    if job["status"] == QUEUED and job.get("pid") is not None:  # held: its command claims it, no worker
        raise InputError(f"job {job_id} ({job['kind']} {job['source']}) is held by the command that queued it (on "
                         f"{job.get('host') or 'its host'}, pid {job['pid']}): it runs as soon as nothing blocks it, "
                         "so a priority would change nothing",
                         hint=f"`pim jobs cancel {job_id}` stops it, if that is what you want")
    if job["status"] == QUEUED:
        with store.begin() as conn:
            won = conn.execute(update(JOB).where(JOB.c.id == job_id, JOB.c.status == QUEUED, JOB.c.pid.is_(None))
                               .values(priority=priority)).rowcount
        if won == 1:
            log.info("job %s (%s %s): priority %s", job_id, job["kind"], job["source"], priority)
            return store.job(job_id)  # type: ignore[return-value]
        job = store.job(job_id) or job  # claimed or cancelled meanwhile
    again = f"`pim jobs retry {job_id}` queues it again; then give it a priority" \
        if job["status"] in job_cancel.RETRYABLE and job.get("payload") is not None else None
    raise InputError(f"job {job_id} ({job['kind']} {job['source']}) is {job['status']}: a priority only orders "
                     "the jobs still waiting in the queue", hint=again)


def check_priority(priority: int) -> None:
    """InputError (field "priority") unless `priority` is one a job may be given."""
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InputError(f"priority {priority} is out of range", field="priority",
                         hint=f"give a whole number from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs first)")


def retry(store: Any, job_id: int) -> dict[str, Any]:
    """Queue a failed, interrupted or cancelled job again, in place (its page stays the one to watch). The
    attempt it ended with goes to payload["attempts"]; the quarantine entries of that attempt are closed, not
    deleted (the re-run records again the rows still rejected). An import whose uploaded file is no longer kept
    is refused (UploadGone)."""
    job = store.job(job_id)
    if job is None:
        raise InputError(f"no job {job_id}")
    if job["status"] not in job_cancel.RETRYABLE:
        raise InputError(f"job {job_id} is {job['status']}: only a failed or interrupted job is queued again, or a "
                         "cancelled one")
    if job["kind"] not in RUNNERS or job.get("payload") is None or job_import_source.command_only(job):
        raise InputError(f"job {job_id} ({job['kind']} {job['source']}) did not come from the queue",
                         hint="run its command again")
    if job["kind"] == "import":
        check_upload(job["payload"])  # refused now, not queued to fail when a worker runs it
    payload = dict(job_import_source.keyed(job["kind"], job["payload"]) or {})  # one queued before it was kept
    payload["attempts"] = [*payload.get("attempts", []), {
        "status": job["status"], "error": job.get("error"), "host": job.get("host"), "pid": job.get("pid"),
        "started_at": _iso(job.get("started_at")), "ended_at": _iso(job.get("finished_at") or job.get("heartbeat_at"))}]
    # Only the row as we judged it: a job claimed or retried meanwhile is left alone.
    same = [JOB.c.id == job_id, JOB.c.status == ("running" if job["status"] == INTERRUPTED else job["status"]),
            JOB.c.pid.is_(None) if job.get("pid") is None else JOB.c.pid == job["pid"]]
    with store.begin() as conn:
        won = conn.execute(update(JOB).where(and_(*same)).values(
            status=QUEUED, payload=payload, host=None, pid=None, heartbeat_at=None, finished_at=None, error=None,
            cancel_requested_at=None, started_at=now())).rowcount
        if won != 1:
            raise InputError(f"job {job_id} changed meanwhile; look at it again")
        job_wakeup.notify(conn, job["kind"])
        conn.execute(update(QUARANTINE).where(QUARANTINE.c.job_id == job_id, QUARANTINE.c.resolved_at.is_(None))
                     .values(resolved_at=now()))
    log.info("job %s (%s %s) queued again", job_id, job["kind"], job["source"])
    return store.job(job_id)  # type: ignore[return-value]


def retryable(job: dict[str, Any]) -> bool:
    """Whether `retry` would queue this job (as Store.job shows it) again: the job pages offer it then."""
    return job.get("status") in job_cancel.RETRYABLE and job.get("kind") in RUNNERS \
        and job.get("payload") is not None and not job_import_source.command_only(job)


def _iso(stamp: Any) -> str | None:
    """A stored time as a payload keeps it: with its offset, also on SQLite (which gives times back naive)."""
    return as_utc(stamp).isoformat() if stamp is not None else None
