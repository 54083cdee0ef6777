"""Local files: artifacts are moved from the run's staging dir into place with os.replace, so a reader
sees the old file or the new one, never half of one. Then the files the renderer's last publication of the same
scope wrote here and this one did not are removed or reported (channels.framework.STALE_OUTPUTS, tracked in
`.published/<renderer>.<scope>.json`: exporters.published, as the S3 and SFTP exporters do at theirs). Last the
run's staging dir goes, and so do those that publications killed mid-run left in the same output
(pim.maintenance.prune_staging)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from exporters import published
from exporters.published import PUBLISHED  # noqa: F401  (the output's folder of manifests, where it was named)
from pim.protocols import Artifact, PublishContext

log = logging.getLogger(__name__)


class LocalExporter:
    name = "local"

    def push(self, artifacts: list[Artifact], ctx: PublishContext) -> list[str]:
        written = []
        for a in artifacts:
            target = ctx.output_dir / a.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if a.path.resolve() != target.resolve():
                os.replace(a.path, target)
            written.append(str(target))
        if artifacts:  # a call that only clears staging (the Meilisearch exporter's) says nothing of the files
            stale_outputs(ctx, [a.name for a in artifacts])
        staging = ctx.output_dir / ".staging" / f"job-{ctx.job_id}"
        shutil.rmtree(staging, ignore_errors=True)
        sweep_staging(ctx)
        return written


def sweep_staging(ctx: PublishContext) -> None:
    """Remove the staging dirs of this output's publications that are no longer queued or running, when the
    run has a store to ask (a publication's). The files are out: a failure here is logged, never raised."""
    store = ctx.options.get("store")
    if store is None:
        return
    from pim.maintenance import prune_staging

    try:
        swept = prune_staging(store, ctx.output_dir)
    except Exception as exc:  # the next publication or `pim maintain` tries again
        log.warning("could not clear old staging dirs under %s (the next publication tries again): %s",
                    ctx.output_dir / ".staging", exc)
        return
    if swept["deleted"]:
        log.info("removed %d staging dir(s) that stopped publications left: %s", swept["deleted"],
                 ", ".join(swept["dirs"]))


def stale_outputs(ctx: PublishContext, names: list[str]) -> list[str]:
    """The files (names under the output) the last publication of this renderer and scope wrote here and this
    one, which wrote `names`, did not; removed or reported as channels.framework.STALE_OUTPUTS says
    (exporters.published). Only files a manifest lists are touched; the manifest is replaced after the removals,
    so a run stopped between them removes the rest next time. Reported files stay listed, and reported again,
    until they are gone."""
    plan = published.stale_mode(ctx)
    if plan is None:
        return []
    renderer, mode = plan
    out = ctx.output_dir
    manifest = out / published.manifest_name(renderer, ctx.channel)
    gone = [n for n in published.stale(_listed(manifest), names, mode) if _inside(out, n) and (out / n).is_file()]
    if gone and mode == "remove":
        for name in gone:
            (out / name).unlink(missing_ok=True)
            _drop_empty(out, (out / name).parent)
        published.say_removed(log, renderer, ctx, gone, str(out))
    elif gone:
        published.report_indexes(ctx, gone, out / "search")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(published.manifest(renderer, ctx, names, gone, mode))
    os.replace(tmp, manifest)
    return gone


def _listed(manifest: Path) -> list[str]:
    """The files a manifest lists; none for a missing or unreadable one (files written before it are kept)."""
    try:
        return published.listed(manifest.read_bytes())
    except OSError:
        return []


def _inside(out: Path, name: str) -> bool:
    """A listed name stays inside the output folder (a hand-edited manifest cannot reach beyond it)."""
    return (out / name).resolve().is_relative_to(out.resolve())


def _drop_empty(out: Path, folder: Path) -> None:
    """Remove `folder` and its parents up to `out` while they are empty: nothing but the removed files was there."""
    while folder != out and folder.is_relative_to(out):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
