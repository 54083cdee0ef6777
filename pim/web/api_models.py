"""What the /api/v1 routers share (pim.web.api, pim.web.api_pipeline): the job model OpenAPI documents, the
job's JSON, the API's times, and role checks for bearer tokens (the error envelope is pim.web.api_errors'). Kept
apart so the routers need not import each other.

Times: every time the API answers carries its offset (`+00:00`), on SQLite as on PostgreSQL. Every stored time
is UTC, but SQLite gives it back naive; FastAPI turns a time into text before any response class sees it (so
orjson's OPT_NAIVE_UTC, which `--json` uses, cannot apply here), hence `utc_iso` where a route writes a time
as text and `UtcTime` for a model's time fields (written by the same isoformat(): pydantic's own writes `Z`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from pim.product import Product, ProductModel, merged_categories, merged_values
from pim.store.store import as_utc
from pim.web.accounts import User
from pim.web.api_errors import refuse
from pim.web.deps import api_user, token_check


def utc_iso(stamp: datetime | None) -> str | None:
    """A stored time as the API writes it: ISO 8601 with its offset (None stays None)."""
    return as_utc(stamp).isoformat() if stamp is not None else None


#: A model's time field as the API answers it: a stored (naive, SQLite) time made UTC, written as `utc_iso`
#: writes one (`+00:00`, not pydantic's `Z`), and still documented as a date-time.
UtcTime = Annotated[datetime, AfterValidator(as_utc), PlainSerializer(utc_iso, return_type=str),
                    WithJsonSchema({"type": "string", "format": "date-time"})]


def _utc_text(text: Any) -> Any:
    """A time pim wrote into a JSON payload as text (a retried job's attempts), given its offset if it lacks
    one; anything else as it is. Only rows written before round 32's mend need it: pim.job_enqueue.retry stamps
    attempts with their offset since."""
    try:
        return utc_iso(datetime.fromisoformat(text)) if isinstance(text, str) else text
    except ValueError:
        return text


def product_json(product: Product | ProductModel) -> dict[str, Any]:
    """A product (or product model) as the API answers it: its times (`source.at`, `provenance.*.at`) written as
    `utc_iso` writes them, where pydantic writes `Z`. Done here, not in pim.product: that JSON is hashed into
    fingerprints."""
    data = product.model_dump(mode="json")
    if product.source is not None:
        data["source"]["at"] = utc_iso(product.source.at)
    for key, prov in product.provenance.items():
        data["provenance"][key]["at"] = utc_iso(prov.at)
    return data


def resolved_json(product: Product, chain: list[ProductModel]) -> dict[str, Any]:
    """`product_json` with the values and categories the variant shows: its own over its models'
    (`merged_values`, `merged_categories`, as the channels read them; `chain`: Store.ancestors, parent first).
    Each inherited value keeps its model's provenance and is named in `inherited_from` (value key →
    `model:<code>`, the nearest model holding it)."""
    data = product_json(product)
    data["values"] = merged_values(product, chain)  # type: ignore[arg-type]
    data["categories"] = merged_categories(product, chain)
    origin = {key: model for model in reversed(chain) for key in model.values if key not in product.values}
    data["inherited_from"] = {key: f"model:{model.code}" for key, model in origin.items()}
    for key, model in origin.items():
        prov = model.provenance_of(key)
        data["provenance"][key] = None if prov is None else {**prov.model_dump(mode="json"), "at": utc_iso(prov.at)}
    return data


class RequestBody(BaseModel):
    """A JSON body a route takes: a key it does not know is refused (422 naming it), never ignored, so a
    misspelt option (`scop`, `expect`) cannot quietly do what the client did not ask for."""

    model_config = ConfigDict(extra="forbid")


#: The largest id the database holds (a signed 64-bit integer): cursors and job ids above it are refused.
MAX_ID = 2**63 - 1
#: A job's id in a route's path: 1 to MAX_ID, so a number no job can have is a 422, not a database error.
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's id, as `Location` and GET /jobs give it.")]
#: What a page's `?cursor=` must be, by where its pages give it: the body's `next_cursor` (id_cursor), or the
#: `Link` header's next URL (parse_key_cursor: /conflicts, whose body stays a list).
_ID_CURSOR = "cursor must be the previous page's `next_cursor`, as given (or left out for the first page)"
_KEY_CURSOR = ("cursor must be the one in the previous page's `Link` header (follow its next URL as given), or left "
               "out for the first page")


_SINCE = ("since must be a write sequence number: 0 for the whole catalog, then the previous answer's "
          "`next_since`, as given")


def id_cursor(cursor: str | None, field: str = "query.cursor", wanted: str = _ID_CURSOR) -> int:
    """A page's `?cursor=` that is a row id (the product list, a job's rejected rows): 0 when absent; 422 on
    `field` (saying `wanted`) for anything but ASCII digits up to MAX_ID (`²` passes str.isdigit, int() refuses
    it). The change feed's `?since=` is checked the same way (`since_cursor`)."""
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= len(str(MAX_ID)) and int(cursor) <= MAX_ID):
        raise refuse(422, wanted, field)
    return int(cursor)


def since_cursor(since: str | None) -> int:
    """The change feed's `?since=`: a seq, as `id_cursor` takes a row id (422 on `query.since` otherwise)."""
    return id_cursor(since, "query.since", _SINCE)


class Change(BaseModel):
    identifier: str
    seq: int = Field(description="The product's write sequence number at this change.")
    action: Literal["upsert", "delete"] = Field(description="`upsert`: GET the product for its data now; "
                                                "`delete`: it is gone.")


class ChangePage(BaseModel):
    changes: list[Change] = Field(description="Oldest first; a product once, with its latest change.")
    next_since: int = Field(description="Pass as ?since= next time (store it: it is the client's watermark).")
    more: bool = Field(description="More changes follow now: ask again at once with `next_since`.")


def key_cursor(*key: str) -> str:
    """The `?cursor=` of a page after the row of a two-part text key (a conflict's product and value key)."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def parse_key_cursor(cursor: str | None) -> tuple[str, str] | None:
    """`key_cursor`'s key back (None when absent); 422 on `query.cursor` for anything it did not write."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):  # not base64, not UTF-8, not JSON
        key = None
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise refuse(422, _KEY_CURSOR, "query.cursor")
    return key[0], key[1]


class JobOut(BaseModel):
    """A job as the queue holds it; watch it at the `Location` the answer gives (GET /api/v1/jobs/{id})."""

    id: int
    kind: str
    source: str
    status: str = Field(description="queued, running, succeeded, partial, failed, interrupted or cancelled.")
    counts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    started_at: UtcTime | None = None
    finished_at: UtcTime | None = None
    payload: dict[str, Any] | None = Field(default=None, description="What the worker runs (e.g. the kept "
                                           "upload's path and the importer), and earlier attempts.")
    priority: int = Field(default=0, description="Queued jobs are claimed highest first, the oldest among equals.")
    cancel_requested_at: UtcTime | None = Field(default=None, description="When it was cancelled or asked to stop: "
                                                 "a running job stops at its next safe point, then reads cancelled "
                                                 "(one that ended first keeps its own status).")


def job_json(j: dict[str, Any]) -> dict[str, Any]:
    """A job row (Store.job) as JSON: its times (and its earlier attempts') as ISO text with their offset; a kept
    upload named by its file name alone, an upload's profile and the paths in its error by their place under
    PIM_HOME (where the server keeps files is not the API's to say)."""
    payload = j.get("payload")
    for key in ("path", "catalog_path"):  # catalog_path: a `pim publish --catalog` file (pim.publish_jobs)
        if isinstance(payload, dict) and isinstance(payload.get(key), str):
            payload = {**payload, key: FilePath(payload[key]).name}
    if isinstance(payload, dict) and isinstance(payload.get("options"), dict):
        payload = {**payload, "options": {k: homeless(v) if isinstance(v, str) else v
                                          for k, v in payload["options"].items()}}
    if isinstance(payload, dict) and isinstance(payload.get("attempts"), list):  # stamped naive on SQLite
        payload = {**payload, "attempts": [{**a, **{k: _utc_text(a[k]) for k in ("started_at", "ended_at") if k in a}}
                                           if isinstance(a, dict) else a for a in payload["attempts"]]}
    stamps = {k: utc_iso(v) for k, v in j.items() if isinstance(v, datetime)}
    error = homeless(j["error"]) if isinstance(j.get("error"), str) else j.get("error")
    return {**j, "payload": payload, "error": error, **stamps}


def homeless(text: str) -> str:
    """`text` with PIM_HOME's absolute path written as the place under it (`profiles/acme.yaml`): for the API's
    jobs and the job page (pim.web.ui), which do not say where the server keeps its files."""
    from pim.settings import get_settings

    home = str(get_settings().home.resolve()).rstrip("/") + "/"
    return text.replace(home, "") if home in text else text


def job_location(job_id: int) -> dict[str, str]:
    return {"Location": f"/api/v1/jobs/{job_id}"}


def api_role(role: str, what: str) -> Callable[[Request], User]:
    """A dependency: the token's user, refused with 403 unless their role reaches `role`."""
    def check(request: Request) -> User:
        user = api_user(request)
        require(user, role, what)
        return user

    return token_check(check)


def require(user: User, role: str, what: str) -> None:
    """The same check where the role depends on what the request names (a job's kind, an importer)."""
    if not user.can(role):
        raise HTTPException(403, f"role '{user.role}' may not {what}")
