"""What the /api/v1 routers share (pim.web.api, pim.web.api_pipeline): the job model OpenAPI documents, the
job's JSON, and role checks for bearer tokens (the error envelope is pim.web.api_errors'). Kept apart so the
routers need not import each other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from pim.web.accounts import User
from pim.web.deps import api_user, token_check


class JobOut(BaseModel):
    """A job as the queue holds it; watch it at the `Location` the answer gives (GET /api/v1/jobs/{id})."""

    id: int
    kind: str
    source: str
    status: str = Field(description="queued, running, succeeded, partial, failed, interrupted or cancelled.")
    counts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    payload: dict[str, Any] | None = Field(default=None, description="What the worker runs (e.g. the kept "
                                           "upload's path and the importer), and earlier attempts.")
    priority: int = Field(default=0, description="Queued jobs are claimed highest first, the oldest among equals.")
    cancel_requested_at: datetime | None = Field(default=None, description="When it was cancelled or asked to stop: "
                                                 "a running job stops at its next safe point, then reads cancelled "
                                                 "(one that ended first keeps its own status).")


def job_json(j: dict[str, Any]) -> dict[str, Any]:
    """A job row (Store.job) as JSON: timestamps as ISO text; a kept upload named by its file name alone, an
    upload's profile and the paths in its error by their place under PIM_HOME (where the server keeps files is
    not the API's to say)."""
    payload = j.get("payload")
    for key in ("path", "catalog_path"):  # catalog_path: a `pim publish --catalog` file (pim.publish_jobs)
        if isinstance(payload, dict) and isinstance(payload.get(key), str):
            payload = {**payload, key: Path(payload[key]).name}
    if isinstance(payload, dict) and isinstance(payload.get("options"), dict):
        payload = {**payload, "options": {k: homeless(v) if isinstance(v, str) else v
                                          for k, v in payload["options"].items()}}
    stamps = {k: j[k].isoformat() if j.get(k) else None for k in ("started_at", "finished_at", "cancel_requested_at")}
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
