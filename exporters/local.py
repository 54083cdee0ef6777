"""Local files: artifacts are moved from the run's staging dir into place with os.replace, so a reader
sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import shutil

from pim.protocols import Artifact, PublishContext


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
        return written


