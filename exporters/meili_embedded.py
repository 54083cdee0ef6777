"""The search publish without a server (no MEILI_URL): the payloads written to the output folder's search/,
with a manifest and load.sh (exporters.meili_load); payloads not loaded yet kept under pending/ (keep_unloaded);
drop_embedded removes a channel's indexes there."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exporters.meili_client import MeiliConfig
from exporters.meili_load import LOAD_SCRIPT, entry_folder, write_loader
from exporters.meili_push import IndexFiles, group_artifacts, ndjson_spans
from pim.errors import ConfigError
from pim.protocols import Artifact, PublishContext

#: The files write_embedded leaves per index in the output folder's search/<uid>/.
EMBEDDED_FILES = ("settings.json", "documents.ndjson", "deletes.json")
DEFAULT_BATCH = MeiliConfig().batch_bytes
#: A publish warns when pending/ holds this many earlier runs: their payloads were likely loaded some other way.
PENDING_WARN_RUNS = 3
MARK_LOADED = "pim search mark-loaded"

log = logging.getLogger("pim.search")


def write_embedded(artifacts: list[Artifact], ctx: PublishContext, batch_bytes: int = DEFAULT_BATCH) -> list[str]:
    """Without a server: the exact files that would be sent, a manifest saying what they are (mode and reason
    per index), and load.sh, which loads them as the exporter would (a rebuilt index filled beside the live one
    and swapped in). A payload nobody has loaded yet (manifest.json still there) is kept under pending/ and
    loaded first, so a later run never erases changes before they were loaded (keep_unloaded). Documents are
    loaded in parts of at most `batch_bytes` (the exporter's MEILI_BATCH_BYTES), named in the manifest."""
    from exporters.local import LocalExporter

    indexes = group_artifacts(artifacts)
    search = ctx.output_dir / "search"
    pending = keep_unloaded(search, read_manifest(search), indexes)
    if len(pending) >= PENDING_WARN_RUNS:
        _warn_pending(ctx.output_dir, len(pending))
    written = LocalExporter().push(artifacts, ctx)
    for f in indexes:  # a rebuilt index has no deletes: an earlier incremental run's file would mislead a loader
        if f.mode == "full":
            (search / f.uid / "deletes.json").unlink(missing_ok=True)
    reasons = {a.meta["index"]: a.meta.get("reason") for a in artifacts}
    deletes = {a.meta["index"]: a.rows for a in artifacts if a.meta["kind"] == "deletes"}
    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "job": ctx.job_id,
        "indexes": [{"uid": f.uid, "mode": f.mode, "reason": reasons.get(f.uid), "documents": f.rows,
                     "deletes": deletes.get(f.uid, 0), **_parts(search / f.uid / "documents.ndjson", batch_bytes)}
                    for f in indexes],
        "pending": pending,
    }
    write_loader(search, manifest)
    return [*written, str(search / "manifest.json"), str(search / LOAD_SCRIPT)]


def _parts(documents: Path, limit: int) -> dict[str, Any]:
    """The manifest's `document_parts` of an index: [offset, bytes] of each request load.sh sends (the spans the
    exporter would send as batches), and `document_bytes`, the file's size they hold for."""
    if not documents.is_file():
        return {}
    return {"document_bytes": documents.stat().st_size,
            "document_parts": [[offset, size] for offset, size, _ in ndjson_spans(documents, limit)]}


def _warn_pending(folder: Path, runs: int) -> None:
    """pending/ grows by one run per publish until load.sh (or mark-loaded) says all is loaded."""
    log.warning("%s holds %d earlier publishes not marked loaded (%.1f MB), and each publish adds one while "
                "search/manifest.json is there. If you loaded them with other tooling than load.sh, run `%s "
                "--folder %s`; else load them: MEILI_URL=… MEILI_MASTER_KEY=… bash %s", folder / "search" / "pending",
                runs, pending_bytes(folder) / 1e6, MARK_LOADED, folder, folder / "search" / LOAD_SCRIPT)


def unloaded(folder: Path) -> list[dict[str, Any]] | None:
    """The runs output folder `folder`'s search/manifest.json counts as not loaded, oldest first (job, written_at,
    indexes); None when there is no manifest (all loaded, or no search publish wrote there)."""
    manifest = read_manifest(folder / "search")
    if manifest is None:
        return None
    return [{"job": r.get("job"), "written_at": r.get("written_at"), "indexes": [e["uid"] for e in r["indexes"]]}
            for r in [*manifest.get("pending", []), manifest]]


def pending_bytes(folder: Path) -> int:
    """What the earlier runs' payloads under search/pending/ hold on disk."""
    return sum(f.stat().st_size for f in (folder / "search" / "pending").rglob("*") if f.is_file())


def mark_loaded(folder: Path, listed: list[dict[str, Any]]) -> bool:
    """What load.sh does once all is loaded, for payloads loaded some other way: search/manifest.json and
    pending/ go, so the next publish replaces the files instead of keeping them aside. load.sh stays (it then
    says there is nothing to load). `listed`: the runs (`unloaded`) the person confirmed; when the manifest no
    longer names exactly those (a publish, load.sh or a drop wrote since), nothing goes and False is returned,
    so a run nobody saw is never marked loaded."""
    search = folder / "search"
    if unloaded(folder) != listed:
        return False
    (search / "manifest.json").unlink(missing_ok=True)  # first: without it, pending/ counts as loaded
    shutil.rmtree(search / "pending", ignore_errors=True)
    return True


def read_manifest(search: Path) -> dict[str, Any] | None:
    path = search / "manifest.json"
    if not path.is_file():
        return None
    try:
        return orjson.loads(path.read_bytes())  # type: ignore[no-any-return]
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}), so which payloads there are loaded is unknown",
                          hint="delete it and publish again with --full: a rebuild needs none of the payloads "
                               "written before") from exc


def keep_unloaded(search: Path, previous: dict[str, Any] | None, indexes: list[IndexFiles]) -> list[dict[str, Any]]:
    """The earlier runs whose payloads are not loaded yet, oldest first, for the new manifest's `pending`.

    A folder target's watermark moves when the files are written, not when someone loads them, so a run that
    replaced unloaded files would lose their changes (a 0-document incremental run erasing a full payload).
    Hence: while manifest.json is there (load.sh removes it once all is loaded), the previous run's files are
    linked under pending/job-<id>/ before this run's replace them. Payloads a run makes moot go: every earlier
    one of an index this run rebuilds, and incremental ones with no documents and no deletes (this run's
    settings replace theirs). Without a manifest, pending/ is what load.sh has loaded: it goes."""
    if previous is None:
        shutil.rmtree(search / "pending", ignore_errors=True)
        return []
    rebuilt = {f.uid for f in indexes if f.mode == "full"}
    latest = {"job": previous.get("job"), "written_at": previous.get("written_at"), "folder": "",
              "indexes": previous.get("indexes", [])}
    runs = []
    for run in [*previous.get("pending", []), latest]:
        kept = [e for e in run["indexes"] if e["uid"] not in rebuilt and _has_payload(search, run, e)]
        if kept:
            runs.append({**run, "indexes": kept})
    if runs and not runs[-1]["folder"]:  # the latest run is kept: its files are about to be replaced
        runs[-1] = _set_aside(search, runs[-1])
    _sweep_pending(search, runs)
    return runs


def _has_payload(search: Path, run: dict[str, Any], entry: dict[str, Any]) -> bool:
    if entry.get("mode") == "full" or entry.get("documents"):
        return True
    if "deletes" in entry:
        return bool(entry["deletes"])
    return bool(_count_ids(search / entry_folder(run, entry) / "deletes.json"))  # a manifest from before round 32


def _count_ids(path: Path) -> int:
    return len(orjson.loads(path.read_bytes())) if path.is_file() else 0


def _set_aside(search: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Link the latest run's files under pending/ (a copy where links are not possible): this run's files then
    replace the originals, the links keep the old content. A link already there stays: a publish that died
    after linking may have replaced some originals since."""
    name = f"job-{run['job']}" if run.get("job") is not None else "run-" + "".join(
        c for c in str(run.get("written_at")) if c.isalnum())
    folder = f"pending/{name}"
    for e in run["indexes"]:
        (search / folder / e["uid"]).mkdir(parents=True, exist_ok=True)
        for file in EMBEDDED_FILES:
            source, kept = search / e["uid"] / file, search / folder / e["uid"] / file
            if source.is_file() and not kept.exists():
                try:
                    os.link(source, kept)
                except OSError:
                    shutil.copy2(source, kept)
    return {**run, "folder": folder}


def _sweep_pending(search: Path, runs: list[dict[str, Any]]) -> None:
    """Remove what under pending/ no kept run names (payloads made moot, or loaded)."""
    wanted = {r["folder"]: {e["uid"] for e in r["indexes"]} for r in runs}
    root = search / "pending"
    if not root.is_dir():
        return
    for run_dir in root.iterdir():
        uids = wanted.get(f"pending/{run_dir.name}")
        if uids is None:
            shutil.rmtree(run_dir, ignore_errors=True)
            continue
        for index_dir in run_dir.iterdir():
            if index_dir.name not in uids:
                shutil.rmtree(index_dir, ignore_errors=True)
    if not any(root.iterdir()):
        root.rmdir()


def drop_embedded(folder: Path, uids: list[str]) -> list[str]:
    """Remove what write_embedded (or the local exporter) wrote for `uids` in output folder `folder`: each
    index's files under search/<uid>/ (the folder too, once empty), its unloaded payloads under pending/ and
    its entries in search/manifest.json, which goes (with load.sh) when no entry is left; else load.sh is
    written anew without them. Returns the indexes that had files there; other files stay."""
    search = folder / "search"
    dropped = []
    for uid in uids:
        found = [f for f in (search / uid / name for name in EMBEDDED_FILES) if f.is_file()]
        for f in found:
            f.unlink()
        if (search / uid).is_dir() and not any((search / uid).iterdir()):
            (search / uid).rmdir()
        if found:
            dropped.append(uid)
    manifest = read_manifest(search)
    if manifest is None:
        return dropped
    gone = set(uids)
    pending = [{**r, "indexes": [e for e in r["indexes"] if e["uid"] not in gone]} for r in manifest.get("pending", [])]
    pending = [r for r in pending if r["indexes"]]
    kept = [i for i in manifest.get("indexes", []) if i.get("uid") not in gone]
    _sweep_pending(search, pending)
    if kept or pending:
        body = {k: v for k, v in manifest.items() if k not in ("load", "load_how")}
        write_loader(search, {**body, "indexes": kept, "pending": pending})
    else:
        (search / "manifest.json").unlink()
        (search / LOAD_SCRIPT).unlink(missing_ok=True)
    return dropped
