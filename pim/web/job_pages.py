"""The jobs list and a job's page (its error, quarantine, why it waits), and what staff do to a job there: run it
again, cancel it, change its priority (each under the role pim.web.job_roles names for its kind)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim.web import panels
from pim.web.accounts import User
from pim.web.deps import check_csrf, session_user, store_of
from pim.web.pages import render
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'


@router.get("/jobs")
def jobs(request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    from pim.web import job_waits

    store = store_of(request)
    rows = store.jobs(limit=100)
    return render(request, "jobs.html", user, jobs=rows, deliveries=panels.deliveries(store),
                  waits=job_waits.reasons(store, rows))  # why a queued job waits, as `pim jobs list` says


@router.get("/jobs/{job_id}")
def job(job_id: int, request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    store = store_of(request)
    found = store.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    return _job_page(request, user, found)


def _job_page(request: Request, user: User, found: dict[str, Any], error: str | None = None) -> HTMLResponse:
    """The job page; a Cancel button while the job can be cancelled by this user (pim.job_cancel), and a
    priority form while it waits in the queue for a worker (not held by the command that runs it)."""
    from pim.job_cancel import cancellable
    from pim.job_enqueue import PRIORITY_MAX, PRIORITY_MIN, QUEUED
    from pim.web import job_waits
    from pim.web.job_roles import role_for

    allowed = user.can(role_for(found))
    store = store_of(request)
    attempts = (found.get("payload") or {}).get("attempts") or []
    return render(request, "job.html", user, job=found, error=error,
                  cancellable=cancellable(found) and allowed,
                  prioritisable=allowed and found["status"] == QUEUED and not found.get("pid"),
                  priority_range=(PRIORITY_MIN, PRIORITY_MAX), job_error=_job_error(found.get("error"), found),
                  attempts=[{**a, "error": _job_error(a.get("error"), found)} for a in attempts],
                  upload=_upload_again(found, allowed), file_refused=_file_refused(found),
                  waits=job_waits.reasons(store, [found]).get(found["id"]), ahead=job_waits.ahead(store, found),
                  **_job_quarantine(store, found))


def _job_error(text: str | None, job: dict[str, Any]) -> str | None:
    """A job's error as its page shows it: its upload by its file name, as the quarantine and the importers'
    other errors name it, and other paths under PIM_HOME by their place there (not the server's folders)."""
    from pim.web.api_models import homeless

    path = (job.get("payload") or {}).get("path")
    if text and isinstance(path, str):
        text = text.replace(path, Path(path).name)
    return homeless(text) if text else text


def _upload_again(job: dict[str, Any], may_import: bool) -> dict[str, str] | None:
    """An uploaded file's import job: the name it was uploaded under, and (for who may import) the import page
    with its source and profile chosen, where a fixed file goes: "Run again" reads the kept upload as it was."""
    from urllib.parse import urlencode

    from pim.web.imports import job_row

    payload = job.get("payload") or {}
    if job["kind"] != "import" or not payload.get("path"):
        return None
    row = job_row(job)
    chosen = {"importer": payload.get("importer") or "", "profile": row["profile_name"]}
    url = "/imports?" + urlencode({k: v for k, v in chosen.items() if v}) if may_import else ""
    return {"name": payload.get("name") or row["file"], "url": url}


def _file_refused(job: dict[str, Any]) -> bool:
    """Whether a job failed without taking in a row: the file (or the profile) was refused as a whole, so running
    the same upload again fails the same way; the fix is a new file."""
    counts = job.get("counts") or {}
    return job["status"] == "failed" and not any(counts.get(k) for k in ("created", "updated", "unchanged"))


#: Quarantine rows a job page lists; the groups above the list count them all.
JOB_ROWS = 1000
#: Rows of a retried job's earlier attempts its page lists (folded): they were closed when it was run again.
EARLIER_ROWS = 100


def _job_quarantine(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """A job's quarantine for its page: the first JOB_ROWS entries, and (when there are more kinds or rows than
    one glance takes) the entries counted by severity, file and field with an example, and their total. A job
    run again (pim.job_enqueue.retry) counts and lists its current attempt's entries, so they agree with its
    counts; its earlier attempts' (closed by the retry, recorded before this attempt started, so first by id)
    are counted apart, the first EARLIER_ROWS listed."""
    job_id = job["id"]
    since = job.get("started_at") if (job.get("payload") or {}).get("attempts") else None
    rows = store.quarantined(job_id, open_only=False, limit=JOB_ROWS, since=since)
    groups = store.quarantine_summary(job_id, open_only=False, since=since) if rows else []
    total = sum(g["entries"] for g in groups)
    earlier_total = sum(g["entries"] for g in store.quarantine_summary(job_id, open_only=False)) - total \
        if since is not None else 0
    earlier = store.quarantined(job_id, open_only=False, limit=min(earlier_total, EARLIER_ROWS)) \
        if earlier_total else []
    return {"quarantined": rows, "quarantine_groups": groups if len(groups) > 1 or len(rows) >= JOB_ROWS else [],
            "quarantine_total": total, "earlier_quarantined": earlier, "earlier_total": earlier_total}


@router.post("/jobs/{job_id}/retry", dependencies=[Depends(check_csrf)])
def retry_job(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Queue a failed, interrupted or cancelled job again (an import: editors; a rescore or a publication:
    admins; pim.web.job_roles). An import whose upload is no longer kept is refused on the page, with what to do."""
    from pim.errors import InputError
    from pim.job_enqueue import retry
    from pim.job_uploads import UploadGone

    def again(store: Any, i: int) -> Any:
        try:
            return retry(store, i)
        except UploadGone as exc:  # the page shows a refusal's message alone: this one needs its hint too
            raise InputError(exc.in_one_line()) from None

    return _on_job(request, user, job_id, "run {kind} jobs again", again)


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel_job(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Cancel a queued job, or ask a running one to stop (the role that may run it again; pim.web.job_roles)."""
    from pim.job_cancel import cancel

    return _on_job(request, user, job_id, "cancel {kind} jobs", cancel)


@router.post("/jobs/{job_id}/priority", dependencies=[Depends(check_csrf)])
async def prioritise_job(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Give a queued job another priority (`priority`, a whole number in pim.job_queue's range), with the roles
    of retry and cancel, as `POST /api/v1/jobs/{id}/priority`: a bad number is said on the page with 422, a job
    a worker took meanwhile (or that ended) with 409."""
    from pim.job_enqueue import set_priority

    raw = str((await request.form()).get("priority", "")).strip()
    return _on_job(request, user, job_id, "reorder {kind} jobs", lambda store, i: set_priority(store, i, _whole(raw)))


def _whole(raw: str) -> int:
    """The priority typed, as a number (InputError with field "priority" when it is none)."""
    from pim.errors import InputError
    from pim.job_enqueue import PRIORITY_MAX, PRIORITY_MIN

    try:
        return int(raw)
    except ValueError:
        raise InputError(f"priority '{raw}' is not a whole number", field="priority",
                         hint=f"give one from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs first)") from None


def _on_job(request: Request, user: User, job_id: int, verb: str, act: Callable[[Any, int], Any]) -> Any:
    """`act(store, job_id)` for a user whose role may run the job's kind (`verb` says what was refused); back
    to the job page, which says why with 409 when the job is not (or no longer) in a state for it, or with 422
    and the hint when a value given was wrong (an InputError naming a field)."""
    from pim.errors import InputError
    from pim.web.job_roles import role_for

    store = store_of(request)
    found = store.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    if not user.can(role_for(found)):
        raise HTTPException(403, f"role '{user.role}' may not {verb.format(kind=found['kind'])}")
    try:
        act(store, job_id)
    except InputError as exc:  # ended, claimed or queued meanwhile, or a bad value: the page says so
        page = _job_page(request, user, store.job(job_id) or found, exc.in_one_line() if exc.field else str(exc))
        page.status_code = 422 if exc.field else 409
        return page
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
