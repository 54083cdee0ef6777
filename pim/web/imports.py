"""The import page: upload a source file — the content team's (CSV, JSON, JSON Lines), the ERP's (CSV with a
column map, SAP MATMAS XML), a supplier's (BMEcat, CSV/XLSX with a profile), or for admins the native JSON
Lines — and it is imported like `pim import …`, merged by the source precedence, with rejected rows in the
quarantine. Which sources a role may choose, the file endings each reads and the profile or map it is read
with are the REST API's rules too (pim.upload_imports): a profile is chosen from the .yaml files under
PIM_HOME, never given as a path. A plain upload that chooses nothing is a content file, read with
PIM_HOME/content.profile.yaml when there is one.

The upload is kept under PIM_HOME/uploads, so the quarantine's file and line point at something that exists,
and a fixed file is simply uploaded again. The upload is queued as an "import" job (pim.job_queue) and a
`pim worker` runs it, outside the web process (the job shows queued, running, then its counts and a link to
its rejected rows); a bad file fails the job with the reason, like on the CLI. While no worker is alive the
page says so instead of leaving the job to wait unexplained. A failed, interrupted or cancelled queued job is queued
again from its job page (pim.web.ui: POST /jobs/{id}/retry)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim import job_enqueue, job_status, job_uploads, upload_imports
from pim.settings import get_settings
from pim.store.store import now
from pim.web import job_waits
from pim.web.accounts import User
from pim.web.body_cap import cap_body
from pim.web.deps import check_csrf, session_user, store_of
from pim.web.ui import render, templates

router = APIRouter(include_in_schema=False)
MAX_UPLOAD = 50 * 1024 * 1024
#: Room over a file cap for the form's other fields and the multipart framing around the file.
FORM_ROOM = 64 * 1024


def refuse_declared_over(request: Request, limit: int, refusal: str) -> None:
    """413 (`refusal`) before the body is read when its Content-Length leaves no doubt that the file is over
    `limit` bytes, so nothing of it is spooled. Every body, declared or not, is then read only up to `limit` +
    FORM_ROOM bytes: past that, reading it answers 413 (`refusal`), and the form parser closes (deletes) the file
    it was spooling. A small Content-Length is no promise: sent with `Transfer-Encoding: chunked`, the body is
    framed by the transfer encoding and may be any size (pim.web.body_cap)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_ROOM:
        raise HTTPException(413, refusal)
    cap_body(request, limit + FORM_ROOM, refusal)  # counted as read (pim.web.body_cap)


def too_large(name: str | None = None) -> str:
    """What an import upload over the cap is told: by the API, and by the page before it reads the form."""
    what = f"'{name}'" if name else "the upload"
    return f"{what} is over {MAX_UPLOAD // (1024 * 1024)} MB: import it with `pim import` instead"


def _declared_size(request: Request) -> None:
    refuse_declared_over(request, MAX_UPLOAD, too_large())


def _editor(user: User = Depends(session_user)) -> User:
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not import files")
    return user


def no_worker(request: Request, *, queued_said: bool = False) -> str:
    """What to say about queued jobs while no worker is alive to take them ("" while one is); `queued_said`
    where the page has just said the job is queued (the job page's status), so it is not said twice."""
    if job_status.worker_running(store_of(request)):
        return ""
    return job_status.NO_WORKER_WEB if queued_said else f"{job_enqueue.QUEUED} — {job_status.NO_WORKER_WEB}"


templates.env.globals["no_worker"] = no_worker  # the import, job and family pages say it next to queued jobs
templates.env.globals["retryable"] = job_enqueue.retryable  # the job page offers "Run again" then


def upload_gone(job: dict[str, Any]) -> str | None:
    """Why an import job can never run again (its uploaded file is no longer kept: job_uploads.check_upload), for
    the job page to say instead of offering *Run again*, which would be refused; None otherwise. One stat."""
    if job.get("kind") != "import" or not isinstance(job.get("payload"), dict):
        return None
    try:
        job_uploads.check_upload(job["payload"])
    except job_uploads.UploadGone as exc:
        return str(exc)
    return None


templates.env.globals["upload_gone"] = upload_gone


def job_row(job: dict[str, Any]) -> dict[str, Any]:
    """An import job as the page lists it: its source by name, the kept file by its name (as the quarantine
    names it; where the server keeps it is not the page's to say) and the profile by its name under PIM_HOME.
    Jobs the CLI ran have no payload and keep their own source."""
    payload = job.get("payload") or {}
    spec = upload_imports.UPLOADABLE.get(str(payload.get("importer", "")))
    profile = next(iter((payload.get("options") or {}).values()), None)
    return {**job, "label": spec.label if spec else job["source"],
            "file": Path(payload["path"]).name if payload.get("path") else "",
            "profile_name": upload_imports.profile_name(profile) if profile else ""}


def _page(request: Request, user: User, *, chosen: dict[str, str] | None = None,
          errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    allowed = upload_imports.importers_for(user)
    chosen = chosen or {}
    importer = chosen.get("importer") if chosen.get("importer") in allowed else upload_imports.DEFAULT_IMPORTER
    default = upload_imports.default_content_profile()
    jobs = store_of(request).jobs(kind="import", limit=20)
    page = render(request, "imports.html", user, errors=errors or {},
                  sources={name: upload_imports.UPLOADABLE[name] for name in allowed},
                  chosen={"importer": importer, "profile": chosen.get("profile", "")},
                  profiles={n: upload_imports.profile_fits(n, allowed) for n in upload_imports.profile_names()},
                  default_profile=upload_imports.profile_name(default) if default else None,
                  max_mb=MAX_UPLOAD // (1024 * 1024),
                  jobs=[job_row(j) for j in jobs], waits=job_waits.reasons(store_of(request), jobs))
    page.status_code = status
    return page


@router.get("/imports")
def imports_page(request: Request, user: User = Depends(_editor), importer: str = "",
                 profile: str = "") -> HTMLResponse:
    """The page, with `?importer=…&profile=…` chosen (what the user may not choose falls back to content)."""
    return _page(request, user, chosen={"importer": importer, "profile": profile})


@router.post("/imports", dependencies=[Depends(_declared_size), Depends(check_csrf)])
async def upload(request: Request, user: User = Depends(_editor)) -> Any:
    """Check the choice before reading the file (pim.upload_imports), keep it, queue it. A refusal shows on the
    page with what was chosen: 403 for a source the role may not use, 422 for the rest, 413 over the cap (a
    Content-Length over it is refused before the form is read, with no page)."""
    form = await request.form()
    file = form.get("file")
    name = getattr(file, "filename", None) or ""
    chosen = {"importer": str(form.get("importer") or upload_imports.DEFAULT_IMPORTER),
              "profile": str(form.get("profile") or "")}
    try:
        plan = upload_imports.plan(chosen["importer"], name, chosen["profile"] or None, user)
    except upload_imports.UploadRefused as exc:
        return _page(request, user, chosen=chosen, errors=exc.errors, status=403 if exc.forbidden else 422)
    data = await file.read(MAX_UPLOAD + 1)  # type: ignore[union-attr]
    if len(data) > MAX_UPLOAD:
        command = upload_imports.UPLOADABLE[plan.importer].command
        return _page(request, user, chosen=chosen, status=413, errors={
            "file": f"'{name}' is over {MAX_UPLOAD // (1024 * 1024)} MB: import it with `pim import {command} "
                    "FILE` instead."})
    path = keep_upload(data, name, user.username)
    job = upload_imports.enqueue(store_of(request), plan, path, user.username, name=name)
    return RedirectResponse(f"/imports?queued={job}", status_code=303)


def keep_upload(data: bytes, name: str, who: str) -> Path:
    """The upload under PIM_HOME/uploads, named by time, user and a safe form of its own name (the API's
    uploads, pim.web.api_pipeline, are kept the same way)."""
    folder = (get_settings().home / "uploads").resolve()  # absolute: a worker may run from elsewhere
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".")[:100] or "upload"
    path = folder / f"{now():%Y%m%dT%H%M%S%f}-{re.sub(r'[^A-Za-z0-9_-]+', '_', who)[:40]}-{safe}"
    path.write_bytes(data)
    return path
