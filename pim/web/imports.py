"""The content team's import page: upload an enrichment file (CSV, JSON, JSON Lines) and it is merged like
`pim import content` — by the source precedence, with rejected rows in the quarantine. The upload is kept
under PIM_HOME/uploads, so the quarantine's file and line point at something that exists, and a fixed file is
simply uploaded again. The import runs after the response (the job page shows it running, then its counts);
a bad file fails the job with the reason, like on the CLI.

The importer is the registry's `content` one (pim.registry.IMPORTERS), with PIM_HOME/content.profile.yaml
when there is one."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim.registry import IMPORTERS, load
from pim.settings import get_settings
from pim.store.store import now
from pim.web.accounts import User
from pim.web.deps import check_csrf, session_user, store_of
from pim.web.ui import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
MAX_UPLOAD = 50 * 1024 * 1024
SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl")


def _editor(user: User = Depends(session_user)) -> User:
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not import files")
    return user


def profile_path() -> Path | None:
    path = get_settings().home / "content.profile.yaml"
    return path if path.is_file() else None


def _page(request: Request, user: User, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    page = render(request, "imports.html", user, error=error, profile=profile_path(), suffixes=SUFFIXES,
                  max_mb=MAX_UPLOAD // (1024 * 1024), jobs=store_of(request).jobs(kind="import", limit=20))
    page.status_code = status
    return page


@router.get("/imports")
def imports_page(request: Request, user: User = Depends(_editor)) -> HTMLResponse:
    return _page(request, user)


@router.post("/imports", dependencies=[Depends(check_csrf)])
async def upload(request: Request, background: BackgroundTasks, user: User = Depends(_editor)) -> Any:
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
    path = _keep(data, name, user.username)
    background.add_task(_run, store_of(request), path)
    return RedirectResponse("/imports?started=" + path.name, status_code=303)


def _keep(data: bytes, name: str, who: str) -> Path:
    """The upload under PIM_HOME/uploads, named by time, user and a safe form of its own name."""
    folder = get_settings().home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".")[:100] or "upload"
    path = folder / f"{now():%Y%m%dT%H%M%S%f}-{re.sub(r'[^A-Za-z0-9_-]+', '_', who)[:40]}-{safe}"
    path.write_bytes(data)
    return path


def _run(store: Any, path: Path) -> None:
    """The import itself; its job row records the outcome (a file-level error fails the job with the reason)."""
    profile = profile_path()
    try:
        load(IMPORTERS["content"])().run(path, store, **({"profile": str(profile)} if profile else {}))
    except Exception:  # recorded on the job by the import loop; logged here for the operator
        log.exception("content import of %s failed", path)
