"""The durable job queue: work the web app must not do inside its own process (an uploaded file's import, a
large family's rescore, a publication the API asked for) is recorded as a `job` row with status "queued",
its kind, its source and a JSON payload saying what the runner needs; any `pim worker`, on any host, takes it
from there.

- `enqueue` records a job in the caller's transaction (a Connection: the job commits with the write that
  needs it, or not at all) or its own (a Store).
- `claim` takes the queued job a worker can run with the highest priority, the oldest first among equals
  (each kind has a default, KIND_PRIORITY; `set_priority` changes a queued job's), atomically: on PostgreSQL
  the row is locked with `FOR UPDATE SKIP LOCKED`, so concurrent workers pass over each other's claims; on
  SQLite the conditional `UPDATE … WHERE status = 'queued'` decides (a lost race reads rowcount 0 and tries the
  next one). The claim stamps host, pid and heartbeat like any running job, so a worker that dies leaves it
  `interrupted`. Jobs of an EXCLUSIVE kind (publications) with the same source (renderer/scope) never run at
  once: a claim passes over one while another is running (a NOT EXISTS in the same conditional UPDATE; on
  PostgreSQL the claim first takes a transaction advisory lock keyed on the source, so two claims in separate
  transactions cannot both see none running). It stays queued and is claimed once the first has ended.
- A job a command runs itself (`pim publish`: `enqueue(..., held=True)`, then pim.job_command) is queued with
  the command's host and pid: no worker claims it, only that command, by its id, under the same exclusion.
  One whose command died before it ran is ended `cancelled` by the next claim (`_drop_orphans`).
- On PostgreSQL `enqueue` and `retry` notify in their transaction and `work` listens (pim.job_wakeup): an
  idle worker wakes when a job is committed, the poll staying as the fallback; SQLite polls.
- `work` loops claim → run → finish. A runner may record the outcome itself (the import loop adopts the
  claimed job through pim.store.store.adopting; a rescore finishes its job); otherwise the worker marks it
  succeeded, or failed with the reason. Nothing is lost: a failed job keeps its reason and payload.
- `retry` puts a failed, interrupted or cancelled job back in the queue, keeping what each earlier attempt
  ended with. Re-runs are safe: content imports skip what they already merged (content hashes), rescores start
  over. Cancelling (a queued job at once, a running one at its runner's next safe point) is pim.job_cancel's.

Runners are named per kind in RUNNERS ('module:attr', loaded on first use, like pim.registry)."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from pim import job_cancel, job_wakeup, job_workers
from pim.errors import InputError, PimError, StoreError
from pim.registry import IMPORTERS, load, lookup
from pim.store.database import database_failure, database_refused, failure_in
from pim.store.store import (
    HEARTBEATS,
    INTERRUPTED,
    JOB,
    QUARANTINE,
    adopting,
    as_utc,
    now,
    process_alive,
    run_again,
)

log = logging.getLogger(__name__)
QUEUED = "queued"
CANCELLED = job_cancel.CANCELLED
#: Kinds whose jobs with the same source never run at once (two publications of one renderer and scope would
#: write the same files and watermarks).
EXCLUSIVE: frozenset[str] = frozenset({"publish"})
#: How often an idle worker looks for work (seconds).
POLL = 1.0
#: How often a worker waiting for the database to record a job's end says it still waits (seconds).
OUTAGE_NOTICE = 60.0
#: A kind's default priority (`enqueue` without one); higher is claimed first, unknown kinds get 0. A person
#: watching an upload's page waits for the import, and a publication queued after an upload should publish
#: its rows, so imports come first; a requested publication (someone or some system waits for the files) next.
#: Rescores and grid re-indexes are background repairs after a structure change: the gate scores an unsettled
#: family itself meanwhile (only slower), and only the grid's category filter lags, the lowest.
KIND_PRIORITY: dict[str, int] = {"import": 30, "publish": 20, "rescore": 10, "grid_reindex": 0}
#: The priorities a job may be given (`set_priority`, `pim jobs priority`, the API).
PRIORITY_MIN, PRIORITY_MAX = -100, 100
#: What the commands say about queued work while no worker is alive.
NO_WORKER = "queued — no worker is running; start `pim worker`"
#: What the web pages say then (after "queued"): who reads them is seldom who may start a worker.
NO_WORKER_WEB = "no worker is running: ask your administrator to start one (`pim worker`)"

Runner = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]
#: kind → the runner of that kind's queued jobs: called with the store and the claimed job (its payload in
#: job["payload"]); returns the job's counts, or finishes the job itself.
RUNNERS: dict[str, str | Runner] = {
    "import": "pim.job_queue:run_import",
    "rescore": "pim.rescore_jobs:run_queued",
    "publish": "pim.publish_jobs:run_queued",
    "grid_reindex": "pim.grid_jobs:run_queued",
}


def runner_for(kind: str) -> Runner:
    ref = RUNNERS.get(kind)
    if ref is None:
        raise InputError(f"no runner for '{kind}' jobs", hint=f"known: {', '.join(sorted(RUNNERS))}")
    return load(ref) if isinstance(ref, str) else ref


# ---------------------------------------------------------------------------------------------- the queue
def enqueue(target: Any, kind: str, source: str = "", payload: dict[str, Any] | None = None,
            counts: dict[str, Any] | None = None, *, priority: int | None = None, held: bool = False) -> int:
    """Record a queued job; `target` is a Connection (the caller's transaction) or a Store (its own). Without
    `priority`, the kind's default (KIND_PRIORITY). `held`: this process runs it itself (pim.job_command), so
    no worker takes it and none is woken."""
    if not isinstance(target, Connection):
        with target.begin() as conn:
            return enqueue(conn, kind, source, payload, counts, priority=priority, held=held)
    stamp = now()
    mine = {"host": socket.gethostname()[:255], "pid": os.getpid(), "heartbeat_at": stamp} if held else {}
    res = target.execute(insert(JOB).values(kind=kind, source=source[:1000], status=QUEUED, counts=counts or {},
                                            payload=payload or {}, started_at=stamp, **mine,
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


def claim(store: Any, kinds: Iterable[str] | None = None, *, job_id: int | None = None) -> dict[str, Any] | None:
    """Take the queued job of `kinds` (default: every kind with a runner) with the highest priority, the oldest
    among equals, that may run now (not an EXCLUSIVE kind's job while one of the same source runs) and mark it
    running by this process; None when there is none. With `job_id`, that job only (a command's own held job,
    pim.job_command); without, held jobs are passed over."""
    wanted = sorted(kinds or RUNNERS)
    pg = store.dialect == "postgresql"
    if job_id is None:
        _drop_orphans(store)
    while True:
        with store.begin() as conn:
            free = _free(conn, store) if EXCLUSIVE & set(wanted) else None
            oldest = select(JOB.c.id, JOB.c.kind, JOB.c.source).where(JOB.c.status == QUEUED, JOB.c.kind.in_(wanted))
            oldest = oldest.where(JOB.c.id == job_id) if job_id is not None else oldest.where(JOB.c.pid.is_(None))
            if free is not None:
                oldest = oldest.where(free)
            oldest = oldest.order_by(JOB.c.priority.desc(), JOB.c.id).limit(1)
            row = conn.execute(oldest.with_for_update(skip_locked=True) if pg else oldest).first()
            if row is None:
                return None
            if pg and row.kind in EXCLUSIVE:  # held to commit: a rival claim of the same source waits, then sees ours
                conn.execute(select(func.pg_advisory_xact_lock(_lock_key(row.kind, row.source))))
            stamp = now()
            won = conn.execute(update(JOB).where(JOB.c.id == row.id, JOB.c.status == QUEUED,
                                                 *([free] if free is not None else [])).values(
                status="running", started_at=stamp, heartbeat_at=stamp, host=socket.gethostname()[:255],
                pid=os.getpid(), finished_at=None, error=None, cancel_requested_at=None)).rowcount
            if won == 1:
                return dict(conn.execute(select(JOB).where(JOB.c.id == row.id)).one()._mapping)
        # another worker took it (SQLite), or one of its source started meanwhile; look again


def _free(conn: Connection, store: Any) -> Any:
    """The condition on a queued job that it may run now: not an EXCLUSIVE kind's while a job of its kind and
    source runs. A running row whose process is gone (it reads `interrupted`) does not count: it never ends."""
    rows = conn.execute(select(JOB.c.id, JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at)
                        .where(JOB.c.status == "running", JOB.c.kind.in_(sorted(EXCLUSIVE)))).all()
    dead = [r.id for r in rows if not process_alive(r._mapping, store.heartbeat_seconds)]
    other = JOB.alias("running_job")
    busy = exists().where(other.c.kind == JOB.c.kind, other.c.source == JOB.c.source,
                          other.c.status == "running", other.c.id.not_in(dead))
    return or_(JOB.c.kind.not_in(sorted(EXCLUSIVE)), ~busy)


def holder(store: Any, job: dict[str, Any]) -> dict[str, Any] | None:
    """The running job (alive) that keeps `job` waiting — one of its EXCLUSIVE kind and source —, or None."""
    if job["kind"] not in EXCLUSIVE:
        return None
    with store.engine.connect() as conn:
        ids = conn.execute(select(JOB.c.id).where(JOB.c.kind == job["kind"], JOB.c.source == job["source"],
                                                  JOB.c.status == "running", JOB.c.id != job["id"])
                           .order_by(JOB.c.id)).scalars().all()
    return next((j for i in ids if (j := store.job(i)) is not None and j["status"] == "running"), None)


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
    if job["kind"] not in RUNNERS or job.get("payload") is None:
        raise InputError(f"job {job_id} ({job['kind']} {job['source']}) did not come from the queue",
                         hint="run its command again")
    if job["kind"] == "import":
        check_upload(job["payload"])  # refused now, not queued to fail when a worker runs it
    payload = dict(job["payload"])
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
        and job.get("payload") is not None


def queued(store: Any, kind: str | None = None) -> int:
    """How many jobs wait for a worker (a command's held jobs wait for that command, not for one)."""
    q = select(func.count()).select_from(JOB).where(JOB.c.status == QUEUED, JOB.c.pid.is_(None))
    if kind is not None:
        q = q.where(JOB.c.kind == kind)
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def cancelling(store: Any) -> list[dict[str, Any]]:
    """The running jobs asked to stop that have not reached their next safe point yet (as Store.job shows them:
    one whose process is gone reads interrupted, and is left out)."""
    with store.engine.connect() as conn:
        ids = conn.execute(select(JOB.c.id).where(JOB.c.status == "running", JOB.c.cancel_requested_at.is_not(None))
                           .order_by(JOB.c.id)).scalars().all()
    return [j for i in ids if (j := store.job(i)) is not None and j["status"] == "running"]


def cancelled(store: Any) -> int:
    """How many cancelled jobs there are (until a retry queues one again)."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JOB).where(JOB.c.status == CANCELLED)).scalar_one())


def worker_running(store: Any) -> bool:
    """Whether some `pim worker` is alive to take queued jobs (pim.job_workers)."""
    return bool(job_workers.live(store))


def _iso(stamp: Any) -> str | None:
    """A stored time as a payload keeps it: with its offset, also on SQLite (which gives times back naive)."""
    return as_utc(stamp).isoformat() if stamp is not None else None


# ---------------------------------------------------------------------------------------------- the worker
@dataclass
class WorkResult:
    """What one `work` call ran: each job as it ended."""

    jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The jobs that did not end well; a job cancelled on request did what was asked, and is not one."""
        return [j for j in self.jobs if j["status"] not in ("succeeded", "partial", CANCELLED)]


def work(store: Any, *, once: bool = False, idle_exit: float | None = None, poll: float = POLL,
         stop: threading.Event | None = None, kinds: Iterable[str] | None = None,
         on_job: Callable[[str, dict[str, Any]], None] | None = None) -> WorkResult:
    """Run queued jobs until `stop` is set; with `once`, until the queue is empty; with `idle_exit`, until
    nothing came for that many seconds. `on_job("started"|"finished", job)` reports progress. The worker is
    recorded while it works (pim.job_workers), so the web pages know someone takes their jobs. Idle, it waits
    `poll` seconds — on PostgreSQL less: a queued job's notification wakes it (pim.job_wakeup); and, when its
    turn comes, runs the maintenance pass (pim.maintenance.Timer: one worker per interval; a `stop` set
    meanwhile skips the retentions still to run)."""
    from pim.maintenance import Timer  # here: it loads the feeds' and portal's modules

    stop = stop or threading.Event()
    result = WorkResult()
    wakeup = job_wakeup.Listener(store)
    maintenance = Timer(store, stop=stop)
    try:
        with job_workers.present(store) as worker, closing(wakeup):
            _work(store, result, worker, wakeup, maintenance, once=once, idle_exit=idle_exit, poll=poll, stop=stop,
                  kinds=kinds, on_job=on_job)
    except SQLAlchemyError as exc:
        if failure_in(exc) is not None:
            raise  # an outage met with --once (or while recording the worker): pim.cli maps it, exit 4
        stopped = database_refused(exc, "the worker's statement (waiting would not mend that, so the worker "
                                        "stopped)", again="start the worker again (`pim jobs retry ID` for a job it "
                                                          "left interrupted)")
        log.error("%s (in full: %s)", stopped, exc)
        raise stopped from exc
    return result


def _work(store: Any, result: WorkResult, worker: int, wakeup: job_wakeup.Listener, maintenance: Any, *,
          once: bool, idle_exit: float | None, poll: float, stop: threading.Event, kinds: Iterable[str] | None,
          on_job: Callable[[str, dict[str, Any]], None] | None) -> None:
    """`work`'s loop, the worker recorded: claim → run → record, waiting out an outage met looking for a job
    (`Outage`); any other database error is raised to `work`, which stops the worker saying what to check."""
    if not once:
        wakeup.listen()  # before the first look: a job committed after it wakes us
    idle_since = time.monotonic()
    away = Outage()
    while not stop.is_set():
        try:
            job = claim(store, kinds)
        except SQLAlchemyError as exc:
            if once or not away.waited(exc, poll):
                raise
            stop.wait(poll)
            continue
        away.over()
        if job is None:
            maintenance.tick()  # between jobs, idle; it never raises
            if once or (idle_exit is not None and time.monotonic() - idle_since >= idle_exit):
                break
            idle = poll if idle_exit is None else max(0.0, min(poll, idle_since + idle_exit - time.monotonic()))
            wakeup.wait(stop, idle)
            continue
        if on_job:
            on_job("started", job)
        try:
            ended = run_claimed(store, job)
        except SQLAlchemyError as exc:  # the database went away mid-job, and so could not record its end
            lost = _lost(job, exc)
            if once or lost is None:
                raise
            ended = _end_once_back(store, job, lost.describe(), stop, poll)
        job_workers.ran_one(store, worker)
        result.jobs.append(ended)
        if on_job:
            on_job("finished", ended)
        idle_since = time.monotonic()


class Outage:
    """The claim loop's view of an outage: which errors it waits out (failure_in: a lost server, a deadlock,
    SQLite's write lock held by another process, a server short of resources or timing out), saying so when it
    begins and every OUTAGE_NOTICE seconds (not every poll), and that it is over."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.said = 0.0

    def waited(self, exc: SQLAlchemyError, poll: float) -> bool:
        """Whether `exc` is one to wait out (saying so when due); False: raise it."""
        found = failure_in(exc)
        if found is None:
            return False
        at = time.monotonic()
        if self.since is None or at - self.said >= OUTAGE_NOTICE:
            what = "the database is busy with another process's write" if found.locked else \
                "the database server cannot serve it now (short of connections, disk or memory, or a statement " \
                "or lock timeout)" if found.busy else "the database is unavailable"
            waited = "" if self.since is None else f" (for {at - self.since:.0f} s)"
            log.warning("could not look for queued jobs: %s%s: %s; trying again every %s s", what, waited,
                        found.said, poll)
            self.since, self.said = self.since if self.since is not None else at, at
        return True

    def over(self) -> None:
        if self.since is not None:
            log.info("the database answers again: the worker looks for queued jobs again")
            self.since = None


def _lost(job: dict[str, Any], exc: BaseException) -> StoreError | None:
    """A lost database or a deadlock met running `job`, saying how to run it again (`pim jobs retry`: the queue's
    only retry), or None for any other error."""
    again = run_again(job)
    return database_failure(exc, again=again[:1].lower() + again[1:])


def _refused(job: dict[str, Any], exc: BaseException) -> StoreError | None:
    """A database error met running `job` that is no failure to wait out (a missing table, a constraint, a bug),
    as a short message saying what to check and how to run the job again; None for any other exception."""
    if not isinstance(exc, SQLAlchemyError):
        return None
    again = run_again(job)
    return database_refused(exc, "this job's statement", again=again[:1].lower() + again[1:])


def _end_once_back(store: Any, job: dict[str, Any], error: str, stop: threading.Event, poll: float) -> dict[str, Any]:
    """A job the database went away under: record it failed with `error` once the database is back (tried every
    `poll` seconds, as the claim loop looks again), and go on with the next, so a long-running worker outlives
    an outage as it does between jobs. Asked to stop meanwhile, it leaves the job (its process gone, it reads
    interrupted, with how to run it again). It waits only while the database is away (failure_in: a lost
    connection, or a transaction stopped for another writer), saying so every OUTAGE_NOTICE seconds; any other
    error (a schema mismatch, a constraint, a bug) would never pass, so it is logged and raised."""
    name = f"job {job['id']} ({job['kind']} {job['source']})"
    log.warning("%s: the database is away; its failure is recorded once it is back (trying every %s s)", name, poll)
    since = said = time.monotonic()
    while not stop.wait(poll):
        try:
            _end(store, job["id"], "failed", None, error, over=("running", "failed"))
            return store.job(job["id"]) or job
        except SQLAlchemyError as exc:
            away = failure_in(exc)
            if away is None:
                log.error("%s: could not record that it failed, and not because the database is away: %s. "
                          "Waiting would not help, so the worker stops (the job will read interrupted). If another "
                          "pim release migrated the database, run that release here too; otherwise report this "
                          "error. Then start the worker again and run `pim jobs retry %s`", name, exc, job["id"])
                raise
            if time.monotonic() - said >= OUTAGE_NOTICE:
                said = time.monotonic()
                log.warning("%s: still waiting for the database to record that it failed (for %.0f s: %s); the "
                            "worker takes no other job meanwhile. Check that the database server is running "
                            "(PIM_DATABASE_URL)", name, said - since, away.said)
    return {**job, "status": "failed", "error": error}


def run_claimed(store: Any, job: dict[str, Any], *, runner: Runner | None = None,
                reraise: bool = False) -> dict[str, Any]:
    """Run one claimed job with its heartbeat beating (with `runner`, instead of its kind's: the same one given
    more arguments); record the outcome unless the runner did. `reraise`: a command running its own job gets
    the runner's exception (and Cancelled) back after it is recorded, to show and exit with."""
    job_id, kind = job["id"], job["kind"]
    log.debug("job %s: %s %s", job_id, kind, job["source"])
    HEARTBEATS.start(store.engine, JOB, job_id, store.heartbeat_seconds)
    try:
        with adopting(kind, job_id):
            counts = (runner or runner_for(kind))(store, job)
    except job_cancel.Cancelled:  # the runner ended the job at a safe point, as asked
        if reraise:
            raise
    except PimError as exc:  # a bad file or setting: its reason, no traceback
        if not reraise:
            log.warning("job %s (%s %s) failed: %s", job_id, kind, job["source"], exc.describe())
        _end(store, job_id, "failed", None, exc.describe())
        if reraise:
            raise
    except Exception as exc:  # recorded on the job (unless the runner did); the worker goes on with the next
        # A lost database, a deadlock or SQLite's lock is said as such (no traceback); any other database error
        # by its mapped message and the driver's first line (the statement and the traceback are the log's),
        # also over the driver's whole text a runner recorded (the import loop's repr).
        lost = _lost(job, exc)
        said = lost or _refused(job, exc)
        if not reraise and lost is None:
            log.exception("job %s (%s %s) failed", job_id, kind, job["source"])
        elif not reraise:
            log.warning("job %s (%s %s) failed: %s", job_id, kind, job["source"], lost.describe())
        _end(store, job_id, "failed", None, f"{type(exc).__name__}: {exc}" if said is None else said.describe(),
             over=("running",) if said is None else ("running", "failed"))
        if reraise:
            raise
    else:
        _end(store, job_id, "succeeded", counts if isinstance(counts, dict) else None, None)
    finally:
        HEARTBEATS.stop(job_id)
    return store.job(job_id) or job


def _end(store: Any, job_id: int, status: str, counts: dict[str, Any] | None, error: str | None,
         over: tuple[str, ...] = ("running",)) -> None:
    """Finish the job as this worker ran it, unless its runner already did (its own status and reason stand;
    `over`: the statuses this ending replaces)."""
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": now()}
    if counts is not None:
        values["counts"] = counts
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id, JOB.c.status.in_(over), JOB.c.pid == os.getpid())
                     .values(**values))


def run_in_pages(store: Any, job_id: int, counts: dict[str, Any], page: Callable[[Connection], bool],
                 failed: str) -> dict[str, Any]:
    """A long job as pages: `page(conn)` does one page inside its own transaction (updating `counts`) and says
    whether there was one; the job's counts and heartbeat are written with each page, so progress shows and
    what is done stays done. Ends the job succeeded, or failed with the exception and `failed` (what was kept
    and what to do next), or — asked to stop (pim.job_cancel), looked at before each page — cancelled with
    `failed` as what was kept."""
    try:
        while True:
            if job_cancel.requested(store, job_id):
                job_cancel.stop(store, job_id, counts, failed)
                return counts
            with store.begin() as conn:
                if not page(conn):
                    break
                conn.execute(update(JOB).where(JOB.c.id == job_id).values(counts=counts, heartbeat_at=now()))
    except Exception as exc:  # recorded on the job; the worker goes on with the next
        lost = database_failure(exc)  # a lost database, a deadlock, SQLite's lock: said as such, no traceback
        if lost is None:
            log.exception("job %s failed", job_id)
        else:
            log.warning("job %s failed: %s", job_id, lost)
        if lost is None and isinstance(exc, SQLAlchemyError):  # the driver's line, not the statement
            lost = database_refused(exc, "this job's statement")
        cause = str(lost) if lost is not None else f"{type(exc).__name__}: {exc}"
        store.finish_job(job_id, counts, status="failed", error=f"{cause}. {failed}")
        return counts
    store.finish_job(job_id, counts)
    return counts


# ---------------------------------------------------------------------------------------------- runners
def run_import(store: Any, job: dict[str, Any]) -> dict[str, Any] | None:
    """payload: `importer` (a pim.registry.IMPORTERS name), `path`, `options` (e.g. profile). The import loop
    records its counts, quarantine and status on this job (it adopts it)."""
    payload = job.get("payload") or {}
    importer = lookup(IMPORTERS, payload.get("importer", ""), "importer")()
    # JSON holds text; the BMEcat and supplier importers take their map as a Path (`map_path.parent`)
    options = {k: Path(v) if k == "map_path" else v for k, v in (payload.get("options") or {}).items()}
    check_upload(payload)
    return importer.run(Path(payload["path"]), store, **options)


class UploadGone(InputError):
    """An import job's uploaded file is no longer kept: no run of that job can succeed, whatever its state (the
    API answers a retry with 410, not a state's 409)."""


def check_upload(payload: dict[str, Any]) -> None:
    """UploadGone when the import job with this payload reads an upload whose kept file is gone (the upload
    retention, pim.maintenance, deletes it some days after its job ended): a run and a retry say so and what to
    do, not the importer's "cannot read …: No such file". A missing file outside PIM_HOME/uploads is the
    importer's to report."""
    from pim.settings import get_settings

    if not payload.get("path"):
        return
    path, settings = Path(payload["path"]), get_settings()
    if path.exists() or path.parent.resolve() != (settings.home / "uploads").resolve():
        return
    days = settings.upload_retention_days
    why = f"the upload retention deleted it after its job ended (PIM_UPLOAD_RETENTION_DAYS={days})" \
        if days is not None else "it was deleted (the upload retention, PIM_UPLOAD_RETENTION_DAYS, is off)"
    raise UploadGone(f"the uploaded file '{payload.get('name') or path.name}' is no longer kept: {why}",
                     file=str(path), hint="upload the file again (the import page, or POST /api/v1/imports): that "
                                          "queues a new job; this one cannot run without it")
