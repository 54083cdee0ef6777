"""The pipeline through the REST API (/api/v1, included by pim.web.api's router): upload a source file to be
imported, read a job's rejected rows page by page, queue a publication (with a channel catalog file named under
PIM_HOME, like `pim publish --catalog`), queue a failed or cancelled job again, cancel one, and reorder a
queued one (its priority). Nothing runs in the web process: each request records a queued job (pim.job_queue)
that a `pim worker` runs, and answers 202 with the job and `Location: /api/v1/jobs/{id}` to watch.

Uploads follow the import page (pim.web.imports): the file is kept under PIM_HOME/uploads, so the
quarantine's file and line point at something that exists, with the same size cap, and the importer, the
file's ending and the profile or map are checked by the same rules (pim.upload_imports): only importers that
read one file (not akeneo, which reads a folder of exports and loads structure), and a profile or map named
under PIM_HOME, never given as a path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from pydantic import BaseModel, Field
from sqlalchemy import select

from pim import job_cancel, job_enqueue, job_uploads, publish_jobs, upload_imports
from pim.errors import InputError
from pim.severity import Severity
from pim.store.store import QUARANTINE
from pim.upload_imports import UPLOADABLE
from pim.web import imports
from pim.web.accounts import User
from pim.web.api_errors import documented, field_errors, refused
from pim.web.api_models import (
    JobId,
    JobOut,
    RequestBody,
    UtcTime,
    api_role,
    id_cursor,
    job_json,
    job_location,
    require,
)
from pim.web.api_route import ApiRoute
from pim.web.deps import api_editor, api_user, store_of, token_check
from pim.web.job_roles import role_for

router = APIRouter(route_class=ApiRoute)


def _accepted(response: Response, store: Any, job_id: int) -> JobOut:
    response.headers.update(job_location(job_id))
    return JobOut.model_validate(job_json(store.job(job_id)))  # as GET /jobs/{id} shows it


# ---------------------------------------------------------------------------------------------- uploads
@token_check
def upload_editor(request: Request) -> User:
    """An editor's upload, refused (413) by its Content-Length when that is over the cap. Marked as a token
    check so that ApiRoute runs it before FastAPI reads the body: 401/403 first, then 413, and a 300 MB body
    is not spooled to be refused."""
    user = api_editor(request)
    imports.refuse_declared_over(request, imports.MAX_UPLOAD, imports.too_large())
    return user


@router.post("/imports", status_code=202, response_model=JobOut, tags=["pipeline"], responses=documented({
    400: "the multipart body could not be parsed",
    403: "the role may not import (viewers; jsonl: admins only)",
    413: "the file is over the upload cap (50 MB): import it with `pim import` instead",
    422: "the importer (`body.importer`), the file's type (`body.file`) or the profile (`body.profile`) is "
         "refused"}))
async def upload_import(
    request: Request, response: Response,
    file: UploadFile = File(..., description="The source file, kept under PIM_HOME/uploads."),
    importer: str = Form(..., description=f"One of: {', '.join(sorted(UPLOADABLE))}."),
    profile: str | None = Form(None, description="A profile or map file under PIM_HOME, by name (e.g. "
                               "`maps/acme.map.yaml`); erp_csv, bmecat and supplier need one."),
    user: User = Depends(upload_editor),
) -> Any:
    """Queue the import of an uploaded file; 202 with the job (watch `Location`). The checks are the import
    page's (pim.upload_imports)."""
    name = file.filename or ""
    try:
        upload = upload_imports.plan(importer, name, profile or None, user)
    except upload_imports.UploadRefused as exc:
        if exc.forbidden:
            raise HTTPException(403, str(exc)) from None
        return refused(field_errors(exc.errors))
    data = await file.read(imports.MAX_UPLOAD + 1)  # a chunked body's file: refused here, unread past the cap
    if len(data) > imports.MAX_UPLOAD:
        raise HTTPException(413, imports.too_large(name))
    path = imports.keep_upload(data, name, user.username)
    store = store_of(request)
    return _accepted(response, store, upload_imports.enqueue(store, upload, path, user.username, name=name))


# ---------------------------------------------------------------------------------------------- rejected rows
class QuarantinedRow(BaseModel):
    """A row the import rejected (or kept with a problem): where it was, why, and the row as read."""

    id: int
    file: str
    line: int | None
    field: str | None
    reason: str
    raw: Any = Field(description="The row as the importer read it.")
    record_key: str | None = Field(description="The product (its SKU) or model (`model:<code>`) the row was for, when known.")
    severity: str = Field(description="`rejected` (not written) or `problem` (written, with a note).")
    kind: str | None = Field(description="What kind of note it is where code acts on one kind (`missing_axis`: "
                                         "closed by any write that fills the axis); null otherwise.")
    resolved: bool = Field(description="True once the record imported cleanly, a write filled the missing value "
                                       "(a missing axis), a retry started over, or a newer entry superseded this one.")
    resolved_at: UtcTime | None
    superseded_by: int | None = Field(description="The job whose newer run of the same file, or newer rejection of "
                                                  "the same record, closed this entry (it was not fixed).")
    created_at: UtcTime


class QuarantinePage(BaseModel):
    items: list[QuarantinedRow]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


@router.get("/jobs/{job_id}/errors", response_model=QuarantinePage, tags=["pipeline"],
            responses=documented({404: "no such job"}))
def job_errors(job_id: JobId, request: Request, cursor: str | None = None, limit: int = Query(100, ge=1, le=1000),
               open_only: bool = Query(False, alias="open", description="Only rows not resolved yet."),
               severity: Severity | None = Query(None, description="Only rows of this severity."),
               user: User = Depends(api_user)) -> QuarantinePage:
    """The job's quarantined rows in the order they were recorded, a keyset page at a time."""
    store = store_of(request)
    after = id_cursor(cursor)
    if store.job(job_id) is None:
        raise HTTPException(404, f"no job {job_id}")
    q = (select(QUARANTINE).where(QUARANTINE.c.job_id == job_id, QUARANTINE.c.id > after)
         .order_by(QUARANTINE.c.id).limit(limit + 1))
    if open_only:
        q = q.where(QUARANTINE.c.resolved_at.is_(None))
    if severity is not None:
        q = q.where(QUARANTINE.c.severity == severity.value)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    items = [QuarantinedRow(**{k: r[k] for k in QuarantinedRow.model_fields if k != "resolved"},
                            resolved=r["resolved_at"] is not None) for r in rows[:limit]]
    return QuarantinePage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


class QuarantineGroup(BaseModel):
    """Entries of one source, severity, file and field: how many, and the newest one's reason."""

    source: str
    severity: str
    file: str
    field: str | None
    entries: int
    example: str | None = Field(description="The reason of the group's newest entry.")


@router.get("/jobs/{job_id}/errors/summary", response_model=list[QuarantineGroup], tags=["pipeline"],
            responses=documented({404: "no such job"}))
def job_error_summary(job_id: JobId, request: Request,
                      open_only: bool = Query(False, alias="open", description="Only rows not resolved yet."),
                      severity: Severity | None = Query(None, description="Only rows of this severity."),
                      user: User = Depends(api_user)) -> list[QuarantineGroup]:
    """The job's quarantined rows counted by source, severity, file and field, most first (`pim import errors
    JOB --summary`): what thousands of rows are mostly about, before paging through them."""
    store = store_of(request)
    if store.job(job_id) is None:
        raise HTTPException(404, f"no job {job_id}")
    groups = store.quarantine_summary(job_id, open_only=open_only, severity=severity.value if severity else None)
    return [QuarantineGroup(**g) for g in groups]


# ---------------------------------------------------------------------------------------------- publish, retry
class PublishRequest(RequestBody):
    channel: str = Field(description="What to publish: a channel renderer, e.g. storefront, search, "
                         "google_merchant (customer feed formats go out with `pim feeds deliver`).")
    scope: str | None = Field(default=None, description="The structure channel whose locales, currencies and gate "
                              "apply (default: ecommerce, else the first).")
    full: bool = Field(default=False, description="Rebuild everything instead of sending changes.")
    to: str | None = Field(default=None, description="An exporter (local, s3, meilisearch…) instead of the "
                           "channel's own, like `pim publish --to`.")
    catalog: str | None = Field(default=None, description="A channel catalog YAML under PIM_HOME, by name (e.g. "
                                "`catalogs/storefront.yaml`), instead of the channel's built-in one, like "
                                "`pim publish --catalog`. Never a path: absolute names and `..` are refused.")
    allow_drop: bool = Field(default=False, description="Publish even when far fewer products pass than the "
                             "channel's last publish published, like `pim publish --allow-drop`. Otherwise such a "
                             "job fails (less than half, and at least 50 products fewer), its error naming the "
                             "reasons that block most, and the channel's previous output stays.")


@router.post("/publish", status_code=202, response_model=JobOut, tags=["pipeline"], responses=documented({
    403: "only admins publish",
    422: "an unknown channel, scope or exporter (`body.to`), or a catalog that is not a catalog file's name under "
         "PIM_HOME"}))
def queue_publish(body: PublishRequest, request: Request, response: Response,
                  user: User = Depends(api_role("admin", "publish"))) -> Any:
    """Queue a publication to PIM_OUTPUT (or the named exporter), as `pim publish` runs it — with the channel
    catalog named in `catalog`, like `--catalog`; 202 with the job. It waits while a publication of the same
    channel and scope runs."""
    store = store_of(request)
    try:
        job_id = publish_jobs.enqueue(store, body.channel, scope=body.scope, full=body.full, exporter=body.to,
                                      catalog=body.catalog, by=user.username, allow_drop=body.allow_drop)
    except InputError as exc:
        return refused(field_errors({exc.field or "channel": exc.in_one_line()}))
    return _accepted(response, store, job_id)


@router.post("/jobs/{job_id}/retry", status_code=202, response_model=JobOut, tags=["pipeline"], responses=documented({
    403: "the job's kind needs another role", 404: "no such job",
    409: "the job is not failed, interrupted or cancelled, or did not come from the queue",
    410: "an import whose uploaded file is no longer kept (the upload retention deleted it): upload the file again "
         "(POST /api/v1/imports)"}))
def retry_job(job_id: JobId, request: Request, response: Response, user: User = Depends(api_user)) -> Any:
    """Queue a failed, interrupted or cancelled job again, in place (its id and Location stay)."""
    return _on_job(request, response, user, job_id, "run {kind} jobs again", _retry)


def _retry(store: Any, job_id: int) -> Any:
    """job_enqueue.retry, with 410 Gone for an upload no longer kept: unlike a 409 (a state the job may leave, e.g.
    running now, failed later), no later state lets this job run, so a client should upload again, not retry."""
    try:
        return job_enqueue.retry(store, job_id)
    except job_uploads.UploadGone as exc:
        raise HTTPException(410, exc.in_one_line()) from None


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobOut, tags=["pipeline"], responses=documented({
    403: "the job's kind needs another role", 404: "no such job",
    409: "the job already ended, or its runner cannot be asked to stop (a command runs it)"}))
def cancel_job(job_id: JobId, request: Request, response: Response, user: User = Depends(api_user)) -> Any:
    """Cancel a queued job (it reads cancelled at once), or ask a running one to stop at its next safe point
    (`cancel_requested_at` is set; it then ends cancelled, keeping what it committed). Watch `Location`."""
    return _on_job(request, response, user, job_id, "cancel {kind} jobs", job_cancel.cancel)


class PriorityRequest(RequestBody):
    """A queued job's new priority."""

    priority: int = Field(description="Higher is claimed first (the oldest first among equals); each kind is "
                                      "queued with its own default. From -100 to 100.")


@router.post("/jobs/{job_id}/priority", status_code=202, response_model=JobOut, tags=["pipeline"],
             responses=documented({
                 403: "the job's kind needs another role", 404: "no such job",
                 409: "the job is not queued (it runs or ended: the order no longer matters)",
                 422: "a priority out of range (`body.priority`)"}))
def prioritise_job(job_id: JobId, body: PriorityRequest, request: Request, response: Response,
                   user: User = Depends(api_user)) -> Any:
    """Give a queued job another priority (the roles of retry and cancel); 409 once a worker took it."""
    try:
        job_enqueue.check_priority(body.priority)
    except InputError as exc:
        return refused(field_errors({"priority": exc.in_one_line()}))
    return _on_job(request, response, user, job_id, "reorder {kind} jobs",
                   lambda store, i: job_enqueue.set_priority(store, i, body.priority))


def _on_job(request: Request, response: Response, user: User, job_id: int, verb: str,
            act: Callable[[Any, int], Any]) -> Any:
    """`act(store, job_id)` for a user whose role may run the job's kind (`verb` says what was refused): 404
    for no such job, 409 with the reason when the job is not in a state for it, else 202 and its Location."""
    store = store_of(request)
    job = store.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    require(user, role_for(job), verb.format(kind=job["kind"]))
    try:
        act(store, job_id)
    except InputError as exc:
        raise HTTPException(409, exc.in_one_line()) from None
    return _accepted(response, store, job_id)
