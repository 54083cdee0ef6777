"""Changing the catalog structure through the REST API (/api/v1, included by pim.web.api's router): what
`pim structure load` does with a file, done with a JSON body shaped like one (pim.structure_files.StructureFile,
any subset of the sections). Admins only, since a structure change rescores products and reshapes every feed.

The body is checked by the CLI's own functions — the same model, the same problems
(`validation_problems`), the same cross-checks against the stored structure (`check_references`) — and saved
through `save_structure`, so the structure listeners run as for a file. Unlike the CLI, the save runs inside
the web pages' deferrals: the save rescores fewer than pim.rescore_jobs.IN_REQUEST products in the request,
counted over every family it touches, and the largest families beyond that become queued rescore jobs
(pim.rescore_jobs); a large category move or a large family's new label or image attribute becomes a queued
grid re-index (pim.grid_jobs). The answer lists each job's id and URL. A refused body answers 422 with
`{"errors": [{section, code?, field?, message}]}`, one entry per problem, and writes nothing; a channel dropping a
locale or currency that a contract, a search target or a built-in catalog relies on answers 409 in the same
shape (pim.channel_usage, as the channels page and `pim structure load` refuse it); `?dry_run=true` checks and
counts what would change, writing nothing either way.

`DELETE /structure/{section}/{code}` deletes one attribute, category, channel or family by the admin pages' own rules
(pim.structure_deletes): 404 for an unknown code, 409 with every blocker in the same `{"errors": [...]}` shape,
200 with what went and any queued rescore job. A channel's families' requirements block it unless
`?drop_requirements=true` removes them with it; `?dry_run=true` answers the same without deleting."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pim import grid_jobs, rescore_jobs, structure_deletes
from pim.errors import InputError
from pim.structure_files import (
    StructureFile,
    StructureProblem,
    check_references,
    save_structure,
    stored_use_problems,
    structure_changes,
    validation_problems,
)
from pim.structure_value_checks import stored_value_problems
from pim.web.accounts import User
from pim.web.api_errors import documented, request_problems
from pim.web.api_models import api_role, job_location
from pim.web.api_route import ApiRoute
from pim.web.deps import store_of, structure_of

BODY = "body"  # the name a problem's file gets: the request body


class StructureError(BaseModel):
    """One problem with the body, as `pim structure load` reports it for a file line."""

    section: str = Field(description="The body's section (e.g. `families`), or `body` / `query` for the request.")
    code: str | None = Field(default=None, description="The item's code (`attribute.code` for an option).")
    field: str | None = Field(default=None, description="The item's field, e.g. `attributes` or `requirements.x`.")
    message: str


class StructureRefused(BaseModel):
    """A refused structure change: every problem found; nothing was written."""

    errors: list[StructureError]


class SectionChanges(BaseModel):
    new: int = Field(description="Items whose code the structure does not hold yet.")
    changed: int = Field(description="Stored items the body changes (an item sent unchanged counts in neither).")


class QueuedJob(BaseModel):
    id: int
    location: str = Field(description="Watch it here: `/api/v1/jobs/{id}`.")


class StructureLoaded(BaseModel):
    dry_run: bool
    changes: dict[str, SectionChanges] = Field(description="Per section sent: new and changed items.")
    loaded: dict[str, int] = Field(description="Per section: items saved (all sent, unchanged ones too); "
                                   "empty on a dry run.")
    jobs: list[QueuedJob] = Field(description="Work queued for a worker: rescores of the largest families whose "
                                  "completeness the change moves once the save would rescore 2,000 products or "
                                  "more in the request, and grid re-indexes of large category moves and of large "
                                  "families' new label or image attribute.")


def _item_code(raw: Any, section: str, index: int) -> str | None:
    """The code of the body's `section`[`index`], read from the JSON as sent (the item may not be valid)."""
    items = raw.get(section) if isinstance(raw, dict) else None
    item = items[index] if isinstance(items, list) and 0 <= index < len(items) else None
    if not isinstance(item, dict) or not isinstance(item.get("code"), str):
        return None
    return f"{item.get('attribute')}.{item['code']}" if section == "attribute_options" else item["code"]


def _error(problem: StructureProblem, raw: Any) -> StructureError:
    """A problem's dotted field (`families.0.attributes`) as section, item code and the item's field."""
    section, _, rest = problem.field.partition(".")
    index, _, field = rest.partition(".")
    if not index.isdigit():  # the section itself (an unknown one, or not a list)
        return StructureError(section=section or BODY, field=rest or None, message=problem.reason)
    return StructureError(section=section, code=_item_code(raw, section, int(index)), field=field or None,
                          message=problem.reason)


def _refused(errors: list[StructureError], status: int = 422) -> JSONResponse:
    return JSONResponse(StructureRefused(errors=errors).model_dump(exclude_none=True), status_code=status)


def _request_errors(exc: RequestValidationError) -> list[StructureError]:
    """FastAPI's validation errors (pim.web.api_errors.request_problems) as the same problems a structure file
    gets: a parameter's with pydantic's message, the body's with `pim structure load`'s."""
    errors: list[StructureError] = []
    body: list[dict[str, Any]] = []
    for p in request_problems(exc):
        if p.part != BODY:  # a query or path parameter
            errors.append(StructureError(section=p.part, field=".".join(map(str, p.loc)) or None,
                                         message=p.error["msg"]))
        elif p.error["type"] == "json_invalid":
            errors.append(StructureError(section=BODY, message=p.message))
        else:
            body.append({**p.error, "loc": p.loc})
    return errors + [_error(p, exc.body) for p in validation_problems(body, BODY)]


class StructureRoute(ApiRoute):
    """Answers a body that is not a StructureFile with the route's own 422 (`{"errors": [...]}` whose items
    name the section and item, as for a file) rather than the API's generic items (pim.web.api_errors); the
    token is checked first, as on every API route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return _refused(_request_errors(exc))

        return route


router = APIRouter(route_class=StructureRoute)


def _changes(store: Any, body: StructureFile) -> dict[str, SectionChanges]:
    """Per section sent, how many items are new and how many differ from what is stored."""
    return {section: SectionChanges(**counts) for section, counts in structure_changes(store, body).items()}


@router.post("/structure", response_model=StructureLoaded, tags=["structure"], responses={
    **documented({403: "only admins change the structure"}),
    409: {"model": StructureRefused, "description": "a channel drops a locale or currency a contract delivers or "
          "prices in, a search target holds an index for, or a built-in catalog names (each named, with how to "
          "go on); nothing was written"},
    422: {"model": StructureRefused, "description": "every problem `pim structure load` would report; nothing "
          "was written"}})
def load_structure(body: StructureFile, request: Request, dry_run: bool = Query(
        False, description="Check and count what would change; write nothing."),
        user: User = Depends(api_role("admin", "change the structure"))) -> Any:
    """Check the body against the stored structure as `pim structure load` checks a file, then save it (each
    item replaces the stored one of its code; nothing is deleted). Large family rescores are queued jobs."""
    store = store_of(request)
    files, existing = [(Path(BODY), body, None)], structure_of(request)
    problems = check_references(files, existing) or stored_value_problems(store, existing, files)
    status = 422
    if not problems:  # valid: then what relies on the channels it changes (a conflict, not a bad body)
        problems, status = stored_use_problems(store, existing, files), 409
    if problems:
        raw = body.model_dump(mode="json")
        return _refused([_error(p, raw) for p in problems], status)
    changes = _changes(store, body)
    if dry_run:
        return StructureLoaded(dry_run=True, changes=changes, loaded={}, jobs=[])
    from pim.web import families

    with rescore_jobs.deferred() as deferral, grid_jobs.deferred(families.REINDEX_IN_REQUEST) as reindex:
        loaded = save_structure(store, body)  # thresholds read per request: tests lower them
    jobs = [QueuedJob(id=j, location=job_location(j)["Location"]) for j in deferral.jobs + reindex.jobs]
    return StructureLoaded(dry_run=False, changes=changes, loaded=loaded, jobs=jobs)


class StructureDeleted(BaseModel):
    dry_run: bool
    deleted: dict[str, list[str]] = Field(description="Per section: the codes deleted (on a dry run: that would "
                                          "be); an attribute's select options under `attribute_options`.")
    requirements_dropped: list[str] = Field(description="Families whose requirements on the deleted channel were "
                                            "removed with it (`drop_requirements`).")
    gate_decisions: int = Field(description="A deleted channel's stored gate decisions, removed with it.")
    jobs: list[QueuedJob] = Field(description="Rescores queued for a worker: a deleted channel's completeness rows "
                                  "of the largest families, once the delete would rescore 2,000 products or more "
                                  "in the request.")
    notice: str = Field(description="What happened, in the admin pages' words.")


#: What the API calls the option lifting a blocker, said with the blocker in a 409.
_OPTION_WORDS = {structure_deletes.DROP_REQUIREMENTS: "add ?drop_requirements=true to remove those requirements "
                 "with the channel"}


@router.delete("/structure/{section}/{code}", response_model=StructureDeleted, tags=["structure"], responses={
    **documented({403: "only admins change the structure", 404: "the section holds no such code"}),
    409: {"model": StructureRefused, "description": "every blocker, one error each, as the admin page says it; "
          "nothing was deleted"},
    422: {"model": StructureRefused, "description": "an unknown section, or drop_requirements on a section "
          "other than channels"}})
def delete_structure_item(section: Literal["attributes", "categories", "channels", "families", "family_variants"],
                          code: str, request: Request,
                          dry_run: bool = Query(False, description="Answer the blockers and what would go; "
                                                "delete nothing."),
                          drop_requirements: bool = Query(False, description="Channels: remove the families' "
                                                          "requirements on it with it (otherwise they block)."),
                          user: User = Depends(api_role("admin", "change the structure"))) -> Any:
    """Delete one attribute (with its select options), category or channel nothing uses, by the admin pages'
    rules, a family no product, model, family variant or contract uses, or a family variant no product model
    uses. A deleted channel's or variant's large rescores are queued jobs."""
    try:
        done = structure_deletes.delete(store_of(request), section, code, dry_run=dry_run,
                                        drop_requirements=drop_requirements, structure=structure_of(request))
    except structure_deletes.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except structure_deletes.DeleteRefused as exc:
        errors = [StructureError(section=section, code=code, field="requirements" if b.option else None, message=line)
                  for b, line in zip(exc.blockers, exc.lines(_OPTION_WORDS), strict=True)]
        return JSONResponse(StructureRefused(errors=errors).model_dump(exclude_none=True), status_code=409)
    except InputError as exc:
        return _refused([StructureError(section="query", field=exc.field, message=exc.in_one_line())])
    jobs = [QueuedJob(id=j, location=job_location(j)["Location"]) for j in done.jobs]
    return StructureDeleted(dry_run=done.dry_run, deleted=done.items(), requirements_dropped=done.requirements_dropped,
                            gate_decisions=done.gate_decisions, jobs=jobs, notice=done.notice)
