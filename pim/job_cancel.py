"""Cancelling jobs (`pim jobs cancel`, POST /api/v1/jobs/{id}/cancel, the job page's Cancel button).

- A queued job is cancelled at once: it becomes `cancelled`, and no worker claims it (a claim takes only
  queued jobs).
- A running job gets a cancel *request* on its row (`cancel_requested_at`): stopping a process on another host
  is not ours to do, and stopping one mid-transaction would leave nothing clean. Its runner looks at the request
  at its next safe point — between pages (pim.job_queue.run_in_pages: rescores, grid re-indexes), between
  batches (the import loops: each batch is its own transaction), before a publication's files replace the old
  ones (pim.publish_jobs: queued, or run by `pim publish` through pim.job_command) — and ends the job
  `cancelled`, keeping its counts so far, with a message saying what was kept and how to do the rest (`stop`).
- A job that already ended cannot be cancelled, nor a running job whose runner never looks (a delivery a command
  runs, a publication the demo runs: stop that command): InputError says so. A job a command holds while it
  waits for its turn (pim.job_command) is queued: cancelled at once, and the command stops.

A cancelled job is queued again like a failed one (pim.job_enqueue.retry): re-runs are safe, an import skipping
what it already merged, a rescore or a publication starting over."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from pim.errors import InputError, PimError
from pim.store.store import INTERRUPTED, JOB, now, run_again

log = logging.getLogger(__name__)
CANCELLED = "cancelled"
QUEUED, RUNNING = "queued", "running"
#: The statuses of a job that has ended: nothing is left to cancel.
ENDED = ("succeeded", "partial", "failed", INTERRUPTED, CANCELLED)
#: The statuses `pim.job_enqueue.retry` queues again; the refusal of an ended job points there for these.
RETRYABLE = ("failed", INTERRUPTED, CANCELLED)


class Cancelled(PimError):
    """Raised by a runner that honoured a cancel request, after ending its job `cancelled` (`stop`): whatever
    called it stops there (a worker goes on with the next job; a command exits with the message)."""


def stops_on_request(job: dict[str, Any]) -> bool:
    """Whether a running job's runner looks for a cancel request: every import loop does (a command's too);
    other kinds when the job came from the queue (its runner is one of pim.job_runners.RUNNERS, which all do)."""
    return job.get("kind") == "import" or job.get("payload") is not None


def cancellable(job: dict[str, Any]) -> bool:
    """Whether `cancel` would cancel this job (as Store.job shows it), or ask it to stop: the pages offer it
    then (not again once asked)."""
    status = job.get("status")
    return status == QUEUED or (status == RUNNING and job.get("cancel_requested_at") is None
                                and stops_on_request(job))


def cancel(store: Any, job_id: int) -> dict[str, Any]:
    """Cancel a queued job, or ask a running one to stop at its next safe point; the job as it is now. A job
    claimed (or ended) between our look and our write is judged again."""
    for _ in range(3):
        job = store.job(job_id)
        if job is None:
            raise InputError(f"no job {job_id}", hint="the web UI's jobs page lists them")
        status, what = job["status"], f"job {job_id} ({job['kind']} {job['source']})"
        if status not in (QUEUED, RUNNING):
            hint = f"`pim jobs retry {job_id}` queues it again" if status in RETRYABLE and job.get("payload") \
                is not None else None
            raise InputError(f"{what} is {status}: it already ended, there is nothing to cancel", hint=hint)
        if status == RUNNING and not stops_on_request(job):
            raise InputError(f"{what} cannot be cancelled: the command that runs it does not look for a request",
                             hint="stop that command (Ctrl-C): the batches it committed are kept")
        if status == RUNNING and job.get("cancel_requested_at") is not None:
            return job  # asked already: once is enough
        stamp = now()
        with store.begin() as conn:
            if status == QUEUED:
                won = conn.execute(update(JOB).where(JOB.c.id == job_id, JOB.c.status == QUEUED).values(
                    status=CANCELLED, cancel_requested_at=stamp, finished_at=stamp,
                    error=f"cancelled before it ran: nothing was done. {run_again(job, 'to run it')}.")).rowcount
            else:
                won = conn.execute(update(JOB).where(JOB.c.id == job_id, JOB.c.status == RUNNING,
                                                     JOB.c.cancel_requested_at.is_(None))
                                   .values(cancel_requested_at=stamp)).rowcount
        if won == 1:
            log.info("%s: %s", what, "cancelled" if status == QUEUED else "asked to stop")
            return store.job(job_id)  # type: ignore[return-value]
    raise InputError(f"job {job_id} keeps changing; look at it again")


def requested(store: Any, job_id: int | None) -> bool:
    """Whether the job was asked to stop (one indexed read: runners call it at each safe point)."""
    if job_id is None:
        return False
    with store.engine.connect() as conn:
        return conn.execute(select(JOB.c.cancel_requested_at).where(JOB.c.id == job_id)).scalar() is not None


def stop(store: Any, job_id: int, counts: dict[str, Any], kept: str) -> Cancelled:
    """End a job that honoured its cancel request: `cancelled`, its counts so far, and a message with `kept`
    (what stays done and how to do the rest). Returns the exception the runner raises (or not, if it simply
    returns)."""
    message = f"cancelled on request. {kept}"
    store.finish_job(job_id, counts, status=CANCELLED, error=message)
    log.info("job %s cancelled on request", job_id)
    return Cancelled(message)


def again(store: Any, job_id: int, purpose: str = "to do the rest") -> str:
    """How to go on with a job that stopped: queue it again (a queued job), or run its command again."""
    return run_again(store.job(job_id) or {"id": job_id}, purpose)
