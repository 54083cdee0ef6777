"""Local files: artifacts are moved from the run's staging dir into place with os.replace, so a reader
sees the old file or the new one, never half of one. Then the run's staging dir goes, and so do those that
publications killed mid-run left in the same output (pim.maintenance.prune_staging)."""

from __future__ import annotations

import logging
import os
import shutil

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
