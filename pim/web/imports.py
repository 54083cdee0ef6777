"""The content team's import page: upload an enrichment file (CSV, JSON, JSON Lines) and it is merged like
`pim import content` — by the source precedence, with rejected rows in the quarantine. The upload is kept
under PIM_HOME/uploads, so the quarantine's file and line point at something that exists, and a fixed file is
simply uploaded again. The upload is queued as an "import" job (pim.job_queue) and a `pim worker` runs it,
outside the web process (the job shows queued, running, then its counts); a bad file fails the job with the
reason, like on the CLI. While no worker is alive the page says so instead of leaving the job to wait
unexplained. A failed or interrupted queued job is queued again from its job page (POST /jobs/{id}/retry,
here because the queue's only web jobs are this page's imports and the family rescores).

The importer is the registry's `content` one (pim.registry.IMPORTERS), with PIM_HOME/content.profile.yaml
when there is one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim import job_queue
from pim.errors import InputError
from pim.settings import get_settings
from pim.store.store import now
from pim.web.accounts import User
from pim.web.deps import check_csrf, session_user, store_of
from pim.web.job_roles import role_for
from pim.web.ui import render, templates

router = APIRouter(include_in_schema=False)
MAX_UPLOAD = 50 * 1024 * 1024
SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl")


def _editor(user: User = Depends(session_user)) -> User:
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not import files")
    return user


def profile_path() -> Path | None:
    path = (get_settings().home / "content.profile.yaml").resolve()
    return path if path.is_file() else None


def no_worker(request: Request) -> str:
    """What to say about queued jobs while no worker is alive to take them ("" while one is)."""
    return "" if job_queue.worker_running(store_of(request)) else job_queue.NO_WORKER


templates.env.globals["no_worker"] = no_worker  # the import, job and family pages say it next to queued jobs
templates.env.globals["retryable"] = job_queue.retryable  # the job page offers "Run again" then


def _page(request: Request, user: User, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    page = render(request, "imports.html", user, error=error, profile=profile_path(), suffixes=SUFFIXES,
                  max_mb=MAX_UPLOAD // (1024 * 1024), jobs=store_of(request).jobs(kind="import", limit=20))
    page.status_code = status
    return page


@router.get("/imports")
def imports_page(request: Request, user: User = Depends(_editor)) -> HTMLResponse:
    return _page(request, user)


@router.post("/imports", dependencies=[Depends(check_csrf)])
async def upload(request: Request, user: User = Depends(_editor)) -> Any:
    form = await request.form()
    file = form.get("file")
    name = getattr(file, "filename", None) or ""
    if not name:
        return _page(request, user, error="Choose a file to import.", status=422)
    if not name.lower().endswith(SUFFIXES):
        return _page(request, user, error=f"'{name}' is not a content file: use {', '.join(SUFFIXES)}.", status=422)
    data = await file.read(MAX_UPLOAD + 1)  # type: ignore[union-attr]
    if len(data) > MAX_UPLOAD:
        return _page(request, user, error=f"'{name}' is over {MAX_UPLOAD // (1024 * 1024)} MB: import it with "
                     "`pim import content FILE` instead.", status=413)
    path = keep_upload(data, name, user.username)
    profile = profile_path()
    job = job_queue.enqueue(store_of(request), "import", f"content:{path}", {
        "importer": "content", "path": str(path), "options": {"profile": str(profile)} if profile else {}})
    return RedirectResponse(f"/imports?queued={job}", status_code=303)


@router.post("/jobs/{job_id}/retry", dependencies=[Depends(check_csrf)])
def retry(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Queue a failed or interrupted job again (an import: editors; a rescore or a publication: admins;
    pim.web.job_roles)."""
    store = store_of(request)
    job = store.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    if not user.can(role_for(job)):
        raise HTTPException(403, f"role '{user.role}' may not run {job['kind']} jobs again")
    try:
        job_queue.retry(store, job_id)
    except InputError as exc:  # not retryable (any more): the job page says why
        page = render(request, "job.html", user, job=job, error=str(exc),
                      quarantined=store.quarantined(job_id, open_only=False, limit=1000))
        page.status_code = 409
        return page
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


def keep_upload(data: bytes, name: str, who: str) -> Path:
    """The upload under PIM_HOME/uploads, named by time, user and a safe form of its own name (the API's
    uploads, pim.web.api_pipeline, are kept the same way)."""
    folder = (get_settings().home / "uploads").resolve()  # absolute: a worker may run from elsewhere
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".")[:100] or "upload"
    path = folder / f"{now():%Y%m%dT%H%M%S%f}-{re.sub(r'[^A-Za-z0-9_-]+', '_', who)[:40]}-{safe}"
    path.write_bytes(data)
    return path
