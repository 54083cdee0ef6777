"""A job a command runs itself (`pim publish`), through the queue's rules rather than beside them: the command
records its job queued but held (pim.job_enqueue.enqueue(held=True): no worker takes it), then claims that very
job — so the exclusion of EXCLUSIVE kinds holds against queued publications and other commands alike — and runs
it in its own process through pim.job_queue.run_claimed, the path a worker takes. It therefore shows in
`pim jobs` and the jobs pages like any job, with its counts, and `pim jobs cancel ID` stops it at the runner's
safe point.

While a job of its kind and source runs, the command waits (saying which job it waits for, and keeping its own
row's heartbeat fresh so no other host takes it for dead), or with `wait=False` gives up at once (`Busy`). A
command that gives up, or is interrupted while waiting, removes its job: nothing ran, nothing is left to show.
Cancelled while it waits (`pim jobs cancel`), it stops with the job's message."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, update

from pim import job_cancel, job_claims, job_enqueue, job_queue, job_runners
from pim.errors import PimError
from pim.store.store import JOB, now

#: How often a waiting command looks whether its job may run (seconds; read at call time).
WAIT_POLL = 1.0


class Busy(PimError):
    """The command's job may not run now (another of its kind and source runs) and it was told not to wait."""

    def __init__(self, message: str, holder: dict[str, Any] | None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


def run_here(store: Any, job_id: int, *, wait: bool = True,
             on_wait: Callable[[dict[str, Any] | None], None] | None = None,
             runner: job_runners.Runner | None = None) -> dict[str, Any]:
    """Claim held job `job_id` (waiting while the exclusion keeps it, telling `on_wait` which job it waits for
    each time that changes) and run it here; the job as it ended. The runner's exception (job_cancel.Cancelled
    when it was cancelled) comes back after it is recorded."""
    claimed = _claim_or_wait(store, job_id, wait, on_wait)
    return job_queue.run_claimed(store, claimed, runner=runner, reraise=True)


def _claim_or_wait(store: Any, job_id: int, wait: bool,
                   on_wait: Callable[[dict[str, Any] | None], None] | None) -> dict[str, Any]:
    told: object = object()
    try:
        while True:
            claimed = job_claims.claim(store, job_id=job_id)
            if claimed is not None:
                return claimed
            job = store.job(job_id)
            if job is None or job["status"] != job_enqueue.QUEUED:  # cancelled while it waited
                raise job_cancel.Cancelled((job or {}).get("error") or f"job {job_id} was cancelled before it ran")
            holder = job_claims.holder(store, job)
            if not wait:
                what = f"job {holder['id']} ({holder['kind']} {holder['source']})" if holder else "another job"
                raise Busy(f"{what} is running; {job['kind']} {job['source']} waits for it to end", holder,
                           hint="run it again later, or without --no-wait to wait for it")
            if on_wait is not None and (holder or {}).get("id") != told:
                on_wait(holder)
                told = (holder or {}).get("id")
            time.sleep(max(0.05, WAIT_POLL) if holder is not None else 0.05)  # none: it just ended, look again
            with store.begin() as conn:  # still here: no worker on another host takes the job for orphaned
                conn.execute(update(JOB).where(JOB.c.id == job_id, JOB.c.status == job_enqueue.QUEUED)
                             .values(heartbeat_at=now()))
    except BaseException:  # gave up (Busy) or interrupted: nothing ran, so nothing is left to show
        _forget(store, job_id)
        raise


def _forget(store: Any, job_id: int) -> None:
    """Remove this process's held job if it is still queued (a cancelled one stays: someone asked for that)."""
    with store.begin() as conn:
        conn.execute(delete(JOB).where(JOB.c.id == job_id, JOB.c.status == job_enqueue.QUEUED,
                                       JOB.c.pid == os.getpid()))
