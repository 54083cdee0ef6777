"""Why a queued job waits, for the jobs, job and import pages: the same reasons `pim jobs list` prints since round
35 (pim.job_status.waiting: an import of the same source runs, or was queued before it — imports of one source run
one at a time, in queued order; a publication of the same channel and scope runs), with the job waited for as a
link, and where it stands in the queue (workers take the highest priority first, the oldest among equals).
A command's held job (`pim publish`) and a queue with no worker are said by the pages already."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import and_, func, or_, select

from pim import job_status
from pim.job_enqueue import QUEUED
from pim.store.store import JOB


def _waiting_for_worker(job: dict[str, Any]) -> bool:
    return job.get("status") == QUEUED and not job.get("pid")


def reasons(store: Any, jobs: list[dict[str, Any]]) -> dict[int, Markup]:
    """job id → why it waits, as HTML (the job it waits for linked), for the queued jobs of `jobs` another keeps
    waiting; the others are left out."""
    queued = [j for j in jobs if _waiting_for_worker(j)]
    if not queued:
        return {}
    out = {}
    for w in job_status.waiting(store, queued):
        other = f"job {w['waits_for']}"
        link = Markup('<a href="/jobs/{0}">job {0}</a>').format(int(w["waits_for"]))
        out[int(w["id"])] = Markup(escape(w["reason"]).replace(other, link, 1))
    return out


def ahead(store: Any, job: dict[str, Any]) -> int:
    """How many queued jobs a worker takes before `job` (a higher priority, or the same and queued earlier); 0
    for a job not waiting for a worker."""
    if not _waiting_for_worker(job):
        return 0
    priority = job.get("priority") or 0
    before = or_(JOB.c.priority > priority, and_(JOB.c.priority == priority, JOB.c.id < job["id"]))
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JOB).where(
            JOB.c.status == QUEUED, JOB.c.pid.is_(None), JOB.c.id != job["id"], before)).scalar_one())
