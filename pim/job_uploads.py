"""The runner of queued imports (kind "import": an uploaded file, kept under PIM_HOME/uploads), and the check that
the upload is still kept, which a run, a retry and the job pages make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pim.errors import InputError
from pim.registry import IMPORTERS, lookup


def run_import(store: Any, job: dict[str, Any]) -> dict[str, Any] | None:
    """payload: `importer` (a pim.registry.IMPORTERS name), `path`, `options` (e.g. profile). The import loop
    records its counts, quarantine and status on this job (it adopts it)."""
    payload = job.get("payload") or {}
    importer = lookup(IMPORTERS, payload.get("importer", ""), "importer")()
    # JSON holds text; the BMEcat and supplier importers take their map as a Path (`map_path.parent`)
    options = {k: Path(v) if k == "map_path" else v for k, v in (payload.get("options") or {}).items()}
    check_upload(payload)
    return importer.run(Path(payload["path"]), store, **options)


class UploadGone(InputError):
    """An import job's uploaded file is no longer kept: no run of that job can succeed, whatever its state (the
    API answers a retry with 410, not a state's 409)."""


def check_upload(payload: dict[str, Any]) -> None:
    """UploadGone when the import job with this payload reads an upload whose kept file is gone (the upload
    retention, pim.maintenance, deletes it some days after its job ended): a run and a retry say so and what to
    do, not the importer's "cannot read …: No such file". A missing file outside PIM_HOME/uploads is the
    importer's to report."""
    from pim.settings import get_settings

    if not payload.get("path"):
        return
    path, settings = Path(payload["path"]), get_settings()
    if path.exists() or path.parent.resolve() != (settings.home / "uploads").resolve():
        return
    days = settings.upload_retention_days
    why = f"the upload retention deleted it after its job ended (PIM_UPLOAD_RETENTION_DAYS={days})" \
        if days is not None else "it was deleted (the upload retention, PIM_UPLOAD_RETENTION_DAYS, is off)"
    raise UploadGone(f"the uploaded file '{payload.get('name') or path.name}' is no longer kept: {why}",
                     file=str(path), hint="upload the file again (the import page, or POST /api/v1/imports): that "
                                          "queues a new job; this one cannot run without it")
