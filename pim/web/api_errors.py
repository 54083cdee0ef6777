"""The REST API's one error shape: every refusal under /api/ — a body or parameter FastAPI's validation refuses,
a value or field the API's own checks refuse, and every HTTPException (401, 403, 404, 409, 413, 429…) — answers
`{"errors": [{"field"?, "message"}]}` with its own status code, so a client reads one shape whatever refused it.
`field` says where in the request: `body.<field>` (a value under `body.values.<key>`), `query.<name>` or
`path.<name>`; it is left out when the problem is not one field's. POST/DELETE /structure keep their own items
(`{section, code?, field?, message}`, pim.web.api_structure) in the same envelope.

The handlers are installed on the app (`install`) and answer only for paths under /api/: the HTML pages keep
FastAPI's behaviour (and their LoginRequired redirect). A database failure (a lost database, a deadlock the
server broke, SQLite's write lock held by another process, a busy, read-only or failing server) answers 503 with
`Retry-After` (`unavailable` words every one: heading, message, wait), in the envelope under /api/, as
`{"detail"}` to any other request that wants JSON (`wants_json`: the portal's JSON routes, an `Accept:
application/json`) and as a short page otherwise (pim.web.app)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pim.spelling import unknown_key
from pim.store.database import DatabaseFailure

API_PREFIX = "/api/"  # the handlers answer for these paths only
BODY = "body"


class ApiError(BaseModel):
    """One problem with a request."""

    field: str | None = Field(default=None, description="Where: `body.<field>` (a value key under "
                              "`body.values.`), `query.<name>` or `path.<name>`; absent when no one field is wrong.")
    message: str = Field(description="What is wrong and, where it can say, what to send instead.")


class ApiErrors(BaseModel):
    """A refused request: every problem found. Nothing was written."""

    errors: list[ApiError]


class ApiRefused(HTTPException):
    """An HTTPException naming the request's fields (the app's handler answers it as `{"errors": [...]}`), for
    helpers that refuse by raising."""

    def __init__(self, status_code: int, errors: list[ApiError], headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, "; ".join(e.message for e in errors), headers=headers)
        self.errors = errors


def refuse(status_code: int, message: str, field: str | None = None) -> ApiRefused:
    """One problem, to raise: `raise refuse(422, "…", "query.cursor")`."""
    return ApiRefused(status_code, [ApiError(field=field, message=message)])


def refused(errors: list[ApiError], status_code: int = 422, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The envelope as a response, for routes that return their refusal."""
    return JSONResponse(ApiErrors(errors=errors).model_dump(exclude_none=True), status_code=status_code,
                        headers=dict(headers) if headers else None)


def field_errors(errors: Mapping[str, str], prefix: str = BODY) -> list[ApiError]:
    """The API's own checks' `{field: message}` (a form field, a body field or `values.<key>`) as errors whose
    field says where in the request: `prefix.field`."""
    return [ApiError(field=f"{prefix}.{name}" if name else prefix, message=message) for name, message in errors.items()]


# ---------------------------------------------------------------------------------------------- the converter
@dataclass(frozen=True)
class RequestProblem:
    """One of FastAPI's validation errors: the request part it is in, where inside it, and what to say."""

    part: str  # body, query, path, header, cookie
    loc: tuple[str | int, ...]  # inside the part (a body's field path; empty for the body itself)
    message: str
    error: Mapping[str, Any]  # pydantic's own error (type, msg, input, ctx)

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in (self.part, *self.loc))


def request_problems(exc: RequestValidationError, body: type[BaseModel] | None = None) -> list[RequestProblem]:
    """FastAPI's validation errors (a body or parameter the route's signature refuses) split by request part,
    each with a message that says what to send (`body`: the route's body model, to name the key an unknown one
    was likely meant as). Shared by the generic handler and POST /structure, which says a body's problems its
    own way (pim.structure_files.validation_problems)."""
    out = []
    for e in exc.errors():
        part, *rest = tuple(e["loc"]) or (BODY,)
        if e["type"] == "json_invalid":
            rest = []  # FastAPI puts the character position here; the message says what the parser said
        out.append(RequestProblem(str(part), tuple(rest), _message(e, str(part), tuple(rest), body), e))
    return out


def validation_errors(exc: RequestValidationError, body: type[BaseModel] | None = None) -> list[ApiError]:
    return [ApiError(field=p.field, message=p.message) for p in request_problems(exc, body)]


def _body_model(request: Request) -> type[BaseModel] | None:
    """The model of the JSON body the request's route takes, if any."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


_EXPECTED = {"dict_type": "a JSON object", "model_type": "a JSON object", "model_attributes_type": "a JSON object",
             "list_type": "a JSON array", "string_type": "a string", "bool_type": "true or false",
             "bool_parsing": "true or false", "int_type": "a whole number", "int_parsing": "a whole number",
             "float_type": "a number", "float_parsing": "a number"}


#: What a job id in a route's path (pim.web.api_models.JobId) must be, whatever pydantic found wrong with it (not
#: a number, 0, past the largest id): said as the cursors' messages say what to send (pim.web.api_models).
_JOB_ID = ("job id must be the id of a job, as the `Location` header of the request that queued it or GET "
           "/api/v1/jobs gives it: a whole number from 1 to 2^63−1")


def _message(e: Mapping[str, Any], part: str, loc: tuple[Any, ...], body: type[BaseModel] | None = None) -> str:
    kind = e["type"]
    if part == "path" and loc == ("job_id",):
        return _JOB_ID
    if kind == "json_invalid":
        return f"not valid JSON: {(e.get('ctx') or {}).get('error')}"
    if kind == "missing":
        if part == BODY and not loc:
            return "a JSON body is required; send one with Content-Type: application/json"
        return "field required" if part == BODY else f"required {part} parameter"
    if kind == "extra_forbidden":
        said = unknown_key(body, loc) if body is not None and part == BODY and loc else None
        return said or "unknown field; leave it out"
    if kind in _EXPECTED:
        said = f"expected {_EXPECTED[kind]}"
        if part == BODY and not loc and isinstance(e.get("input"), bytes):
            return f"{said}; send it with Content-Type: application/json"
        return said
    msg = str(e.get("msg") or kind)
    return msg[:1].lower() + msg[1:] if msg[1:2].islower() else msg


# ---------------------------------------------------------------------------------------------- the handlers
def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def wants_json(request: Request) -> bool:
    """Whether a request is answered in JSON when it fails before its route could answer (the database away):
    it is under /api/, its route is a JSON route (documented in OpenAPI and not declared HTML: the portal's file
    listings a customer's script pages through), or it asks for JSON before HTML (`Accept`)."""
    if _is_api(request):
        return True
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and route.include_in_schema and \
            not issubclass(_response_class(route), HTMLResponse):
        return True
    return _prefers_json(request.headers.get("accept", ""))


def _response_class(route: APIRoute) -> type:
    kind = route.response_class
    return getattr(kind, "value", kind)  # FastAPI's DefaultPlaceholder holds JSONResponse


def _prefers_json(accept: str) -> bool:
    """Accept names a JSON type with a higher weight than any HTML type (a browser names HTML, a script JSON)."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        kind, *params = (part.strip().lower() for part in item.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            weight = float(q)
        except ValueError:
            continue
        family = "json" if kind == "application/json" or kind.endswith("+json") else \
            "html" if kind in ("text/html", "application/xhtml+xml") else None
        if family:
            weights[family] = max(weights.get(family, 0.0), weight)
    return weights.get("json", 0.0) > weights.get("html", 0.0)


#: What the router's own refusals (no route, a method the route does not take) say instead of the bare phrase.
_ROUTER_SAYS = {404: "no such API route: the routes are listed at /api/v1/docs",
                405: "the route does not take this method (see the Allow header, and /api/v1/docs)"}


def http_errors(exc: StarletteHTTPException) -> list[ApiError]:
    if isinstance(exc, ApiRefused):
        return exc.errors
    detail = exc.detail
    if exc.status_code in _ROUTER_SAYS and detail == HTTPStatus(exc.status_code).phrase:
        detail = _ROUTER_SAYS[exc.status_code]
    return [ApiError(message=detail if isinstance(detail, str) else str(detail))]


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    if not _is_api(request):
        return await http_exception_handler(request, exc)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's "error parsing the body"
        return refused([ApiError(field=BODY, message=f"not valid JSON: the body is not UTF-8 text ({exc.__cause__.reason} "
                                 f"at byte {exc.__cause__.start}); send JSON encoded as UTF-8")])
    headers = getattr(exc, "headers", None)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    return refused(http_errors(exc), exc.status_code, headers)


async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
    if not _is_api(request):
        return await request_validation_exception_handler(request, exc)
    return refused(validation_errors(exc, _body_model(request)))


@dataclass(frozen=True)
class Unavailable:
    """What a request the database failed is answered with: the page's heading, the message (the page's, the
    JSON's) and when to send it again (`Retry-After`, seconds)."""

    heading: str
    message: str
    retry_after: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


#: Per DatabaseFailure.kind: at once after a deadlock's rollback; in a few seconds when another process held
#: SQLite's write lock; in a moment when the server is busy; after a minute when it is gone (a restart or a
#: failover takes that long), takes no writes or met a system error (those need an administrator, so the message
#: says what they are to do).
_UNAVAILABLE = {
    "overtaken": Unavailable(
        "Another change got in the way",
        "another write needed the same rows at the same time, and the database stopped this request's to let it go "
        "on: nothing of this request was saved; send it again", 1),
    "locked": Unavailable(
        "The database is busy",
        "the database is busy with another process's write (an import, a worker's job): nothing of this request "
        "was saved; send it again in a few seconds, and if this happens often ask your administrator to move the "
        "PIM to PostgreSQL (SQLite lets one process write at a time)", 5),
    "busy": Unavailable(
        "The database server is busy",
        "the database server is too busy to serve this request now (too many connections, or a statement or lock "
        "that timed out): nothing of this request was saved; send it again in a moment, and if this keeps "
        "happening ask your administrator to check the database server's load", 10),
    "read_only": Unavailable(
        "The database takes no writes",
        "the database server takes no writes (a replica, or a server in recovery): nothing of this request was "
        "saved; ask your administrator to point PIM_DATABASE_URL at the primary database server, then send it "
        "again", 60),
    "system": Unavailable(
        "The database server has a fault",
        "the database server met a system error (a disk read or write failed): nothing of this request was saved; "
        "ask your administrator to check the database server's disk and its log, then send it again", 60),
    "gone": Unavailable(
        "The database is unavailable",
        "the database is unavailable: nothing of this request was saved; try again in a minute, and if it stays "
        "unavailable ask your administrator to check the database server (PIM_DATABASE_URL)", 30),
}


def unavailable(found: DatabaseFailure) -> Unavailable:
    """What a request the database failed (pim.store.database.failure_in) is answered with, by the failure's kind.
    Never the driver's words: they name the database's host and port, which are not the client's to know (the
    server's log has them)."""
    return _UNAVAILABLE[found.kind]


def install(app: FastAPI) -> None:
    """Answer the API's refusals in its envelope; everything else as FastAPI does."""
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]


def documented(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries with the envelope as each status's model: `documented({404: "no such job"})`.
    A route's own entry replaces its router's for that status, so a route describing a refusal uses this too."""
    return {code: {"model": ApiErrors, "description": text} for code, text in described.items()}
