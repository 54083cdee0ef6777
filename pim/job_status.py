"""What the queue holds now, for `pim jobs status` and the pages that show queued work: how many jobs wait, which
are stopping, how many were cancelled, which wait for another job and why (pim.job_claims), and whether any
worker is alive to take them (pim.job_workers)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from pim import job_cancel, job_claims, job_workers
from pim.job_enqueue import QUEUED
from pim.job_import_source import exclusion_key
from pim.store.store import JOB

CANCELLED = job_cancel.CANCELLED
#: What the commands say about queued work while no worker is alive.
NO_WORKER = "queued — no worker is running; start `pim worker`"
#: What the web pages say then (after "queued"): who reads them is seldom who may start a worker.
NO_WORKER_WEB = "no worker is running: ask your administrator to start one (`pim worker`)"


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


def waiting(store: Any, jobs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The queued jobs (of `jobs`, default every queued one a worker would take) that another job keeps waiting,
    oldest first: each `{"id", "waits_for", "reason"}` (pim.job_claims: one of its kind and key runs, or an
    import of its source was queued before it)."""
    if jobs is None:
        with store.engine.connect() as conn:
            ids = conn.execute(select(JOB.c.id).where(JOB.c.status == QUEUED, JOB.c.pid.is_(None),
                                                      JOB.c.kind.in_(sorted(job_claims.EXCLUSIVE)))
                               .order_by(JOB.c.id)).scalars().all()
        jobs = [j for i in ids if (j := store.job(i)) is not None]
    found = []
    for job in sorted(jobs, key=lambda j: j["id"]):
        if job["status"] != QUEUED or job.get("pid") is not None or (held := job_claims.holder(store, job)) is None:
            continue
        found.append({"id": job["id"], "waits_for": held["id"], "reason": reason(job, held)})
    return found


def reason(job: dict[str, Any], held: dict[str, Any]) -> str:
    """Why `job` waits for `held` (pim.job_claims.holder's answer), in one line."""
    what = f"imports of source {exclusion_key(job)}" if job["kind"] == "import" \
        else f"{job['kind']} jobs of {exclusion_key(job)}"
    other = f"job {held['id']} ({held['kind']} {held['source']})"
    if held["status"] == "running":
        return f"waits for {other}, which is running: {what} run one at a time"
    return f"waits for {other}, queued before it: {what} run one at a time, in queued order"
