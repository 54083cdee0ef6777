"""Which output a publish writes, for the publish guard (pim.pipeline.last_published): a run is judged against the
last whole publish of its channel and scope *at the same target*. Two runs of one channel and scope replace each
other's files only where they land in the same place (the local output folder, an S3 bucket and prefix, a
Meilisearch server): exporters.published keeps its manifest per target. A catalog published on purpose to another
folder or prefix (an outlet subset beside the full shop) has nothing there to replace, so it keeps its own
baseline instead of being refused as a drop of the other target's products."""

from __future__ import annotations

from pathlib import Path


def output_key(exporter: str, output_dir: Path) -> str:
    """`<exporter>:<where>`: the resolved folder for local files (and Meilisearch's embedded index), the bucket
    and prefix for S3, the server's URL for Meilisearch; the exporter's name alone for any other."""
    from pim.settings import get_settings

    if exporter == "s3":
        s = get_settings()
        return f"s3:{s.s3_bucket or ''}/{(s.s3_prefix or '').strip('/')}"
    if exporter == "meilisearch":
        from exporters.meili_client import MeiliConfig

        url = MeiliConfig.from_env().url
        return f"meilisearch:{url}" if url else f"meilisearch:{output_dir.resolve()}"
    if exporter == "local":
        return f"local:{output_dir.resolve()}"
    return exporter
