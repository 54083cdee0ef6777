"""The durable job queue: work the web app must not do inside its own process (an uploaded file's import, a
large family's rescore, a publication the API asked for) is recorded as a `job` row with status "queued",
its kind, its source and a JSON payload saying what the runner needs; any `pim worker`, on any host, takes it
from there. One module per job:

- pim.job_runners: the kinds and their runners (RUNNERS, 'module:attr', loaded on first use, like pim.registry);
- pim.job_enqueue: `enqueue`, `retry` (a failed, interrupted or cancelled job again, keeping what each earlier
  attempt ended with; re-runs are safe: content imports skip what they already merged, rescores start over)
  and `set_priority`;
- pim.job_claims: `claim`, atomic, by priority then age, with EXCLUSIVE kinds never running twice per source and
  a command's held jobs left to that command;
- pim.job_status: what waits, what is stopping, whether a worker is alive;
- pim.job_uploads: the import runner and its kept upload;
- here, the worker: `work` loops claim → run → finish. A runner may record the outcome itself (the import loop
  adopts the claimed job through pim.store.store.adopting; a rescore finishes its job); otherwise the worker
  marks it succeeded, or failed with the reason. Nothing is lost: a failed job keeps its reason and payload.
  On PostgreSQL `work` listens (pim.job_wakeup): an idle worker wakes when a job is committed, the poll staying
  as the fallback; SQLite polls. Cancelling (a queued job at once, a running one at its runner's next safe
  point) is pim.job_cancel's.

Callers import each function from the module that defines it (`job_enqueue.enqueue`, `job_claims.claim`, …):
this module names no other's (no plugin documentation promises them here). The worker's loop looks `claim` up
here, so a test's stand-in for it (`monkeypatch.setattr(job_queue, "claim", …)`) is the one it calls."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.exc import SQLAlchemyError

from pim import job_cancel, job_wakeup, job_workers
from pim.errors import PimError, StoreError
from pim.job_claims import claim
from pim.job_runners import Runner, runner_for
from pim.store.database import (
    DatabaseFailure,
    database_failure,
    database_refused,
    failure_in,
    read_only_too_long,
    spell_length,
)
from pim.store.store import HEARTBEATS, JOB, adopting, now, run_again

__all__ = ["CANCELLED", "OUTAGE_NOTICE", "POLL", "WorkResult", "run_claimed", "run_in_pages", "work"]

log = logging.getLogger(__name__)
CANCELLED = job_cancel.CANCELLED
#: How often an idle worker looks for work (seconds).
POLL = 1.0
#: How often a worker waiting for the database to record a job's end says it still waits (seconds).
OUTAGE_NOTICE = 60.0


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
        with job_workers.present(store, _starting(store, once=once, poll=poll, stop=stop)) as worker, \
                closing(wakeup):
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


def _starting(store: Any, *, once: bool, poll: float, stop: threading.Event) -> Callable[[SQLAlchemyError], bool]:
    """How `work` meets a database error recording the worker (pim.job_workers.present): a database that takes no
    writes is waited out as the claim loop waits it (a new connection each try; exit 4 with the same message once
    PIM_WORKER_READ_ONLY_WAIT has passed), so a worker started on a replica being promoted comes up; any other
    error, any with `once`, or a `stop` set meanwhile, is raised (exit 4 at once)."""
    away = Outage(store, doing="record the worker")

    def waiting(exc: SQLAlchemyError) -> bool:
        found = failure_in(exc)
        if once or found is None or not found.read_only:
            return False
        away.waited(exc, poll)  # raises the StoreError that stops the worker once the wait is over
        return not stop.wait(poll)

    return waiting


def _work(store: Any, result: WorkResult, worker: int, wakeup: job_wakeup.Listener, maintenance: Any, *,
          once: bool, idle_exit: float | None, poll: float, stop: threading.Event, kinds: Iterable[str] | None,
          on_job: Callable[[str, dict[str, Any]], None] | None) -> None:
    """`work`'s loop, the worker recorded: claim → run → record, waiting out an outage met looking for a job
    (`Outage`); any other database error is raised to `work`, which stops the worker saying what to check."""
    if not once:
        wakeup.listen()  # before the first look: a job committed after it wakes us
    idle_since = time.monotonic()
    away = Outage(store)
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
            ended = _end_once_back(store, job, lost.describe(), stop, poll, cause=exc)
        job_workers.ran_one(store, worker)
        result.jobs.append(ended)
        if on_job:
            on_job("finished", ended)
        idle_since = time.monotonic()


class Outage:
    """The claim loop's view of an outage: which errors it waits out (failure_in: a lost server, a deadlock,
    SQLite's write lock held by another process, a server short of resources or timing out, a server taking no
    writes — for PIM_WORKER_READ_ONLY_WAIT at most, `ReadOnlySpell` —, a server's system error), saying so
    (DatabaseFailure.what) when it begins and every OUTAGE_NOTICE seconds (not every poll), and that it is over."""

    def __init__(self, store: Any, doing: str = "look for queued jobs") -> None:
        self.since: float | None = None
        self.said = 0.0
        self.doing = doing  # what the notice says could not be done
        self.read_only = ReadOnlySpell(store, "start the worker again")

    def waited(self, exc: SQLAlchemyError, poll: float) -> bool:
        """Whether `exc` is one to wait out (saying so when due); False: raise it. StoreError (exit 4) once the
        database has taken no writes for PIM_WORKER_READ_ONLY_WAIT seconds."""
        found = failure_in(exc)
        if found is None:
            return False
        self.read_only.met(found, exc)
        at = time.monotonic()
        if self.since is None or at - self.said >= OUTAGE_NOTICE:
            waited = "" if self.since is None else f" (for {at - self.since:.0f} s)"
            log.warning("could not %s: %s%s: %s; trying again every %s s%s", self.doing, found.what, waited,
                        found.said, poll, self.read_only.notice(found))
            self.since, self.said = self.since if self.since is not None else at, at
        return True

    def over(self) -> None:
        self.read_only.since = None
        if self.since is not None:
            log.info("the database answers again: the worker looks for queued jobs again")
            self.since = None


class ReadOnlySpell:
    """A database that takes no writes (SQLSTATE 25006), met while waiting: its pool is dropped at each such
    failure, so the next try connects anew (pooled connections to a demoted server pass pool_pre_ping and stay
    read-only, so a failover that moved the server's name is otherwise never followed), and once the spell has
    lasted PIM_WORKER_READ_ONLY_WAIT seconds (`wait`) the worker stops (`met` raises, exit 4), since no wait mends a
    PIM_DATABASE_URL naming a replica. Other failures met meanwhile (the server restarting as a replica) do not end
    the spell; only a try that succeeds does. A system error (class 58) is waited out for as long as it lasts."""

    def __init__(self, store: Any, again: str) -> None:
        from pim.settings import get_settings

        self.store, self.again = store, again
        self.wait = get_settings().worker_read_only_wait
        self.since: float | None = None

    def met(self, found: DatabaseFailure, exc: BaseException) -> None:
        """Count `found` (met as `exc`) in the spell: drop the pool before the next try, or raise the StoreError
        that stops the worker once the spell has lasted `wait` seconds. Any other failure: nothing."""
        if not found.read_only:
            return
        at = time.monotonic()
        self.since = at if self.since is None else self.since
        if at - self.since >= self.wait:
            stopped = read_only_too_long(found, at - self.since, self.again)
            log.error("%s", stopped.describe())
            raise stopped from exc
        self.store.dispose()

    def notice(self, found: DatabaseFailure) -> str:
        """What the worker's log adds to a read-only failure's notice: that it reconnects, and for how long."""
        if not found.read_only:
            return ""
        return (f", connecting anew each time (to follow a failover); if it still takes no writes after "
                f"{spell_length(self.wait)} (PIM_WORKER_READ_ONLY_WAIT), the worker stops")


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


def _end_once_back(store: Any, job: dict[str, Any], error: str, stop: threading.Event, poll: float, *,
                   cause: BaseException | None = None) -> dict[str, Any]:
    """A job the database went away under (`cause`, when known: the failure met): record it failed with `error`
    once the database is back (tried every `poll` seconds, as the claim loop looks again), and go on with the
    next, so a long-running worker outlives an outage as it does between jobs. Asked to stop meanwhile, it leaves
    the job (its process gone, it reads interrupted, with how to run it again). It waits only while the database
    is away (failure_in: a lost connection, or a transaction stopped for another writer), saying so every
    OUTAGE_NOTICE seconds, and a database that takes no writes for PIM_WORKER_READ_ONLY_WAIT seconds at most
    (ReadOnlySpell: it reconnects at each try, then stops the worker, StoreError); any other error (a schema
    mismatch, a constraint, a bug) would never pass, so it is logged and raised."""
    name = f"job {job['id']} ({job['kind']} {job['source']})"
    log.warning("%s: the database is away; its failure is recorded once it is back (trying every %s s)", name, poll)
    read_only = ReadOnlySpell(store, f"start the worker again and run `pim jobs retry {job['id']}`")
    if cause is not None and (first := failure_in(cause)) is not None:
        read_only.met(first, cause)
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
            read_only.met(away, exc)
            if time.monotonic() - said >= OUTAGE_NOTICE:
                said = time.monotonic()
                log.warning("%s: still waiting for the database to record that it failed (for %.0f s: %s: %s%s); "
                            "the worker takes no other job meanwhile. Check that the database server is running "
                            "(PIM_DATABASE_URL)", name, said - since, away.what, away.said, read_only.notice(away))
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
