"""Pushes the search channel's files to Meilisearch, or, without MEILI_URL, writes them to the output dir.

- Settings are compared with the live ones and only the differing keys are PATCHed.
- Documents go in batches sized by payload bytes (NDJSON lines, never split); every task is awaited. A failed
  task is reported with Meilisearch's own error (code, message) and its batch is retried; a 413 splits it.
- A full rebuild fills fresh `<uid>_build` indexes, swaps every locale's pair in one atomic `swap-indexes`
  and deletes the old copies: a search sees the old index or the new one, never one half built. Each index
  has its own mode: after `pim search drop --locale` one locale is rebuilt that way while the others are
  updated in place.
- Tenant tokens are HS256 JWTs signed with a search API key (Meilisearch's documented payload).
- Without MEILI_URL the files go to the output folder with a manifest (mode and reason per index) and load.sh,
  which loads them the same way with curl, documents in parts under the same batch limit; payloads not loaded
  yet are kept under pending/ (write_embedded) until load.sh or `pim search mark-loaded` says all is loaded.
- `pim search drop` deletes a channel's indexes on a server (drop_indexes) or in an output folder
  (drop_embedded), so its push state can be forgotten and the channel's locale or the channel can go.

One job per module: meili_client (HTTP, settings, errors), meili_push (Pusher, drop_indexes), meili_embedded
(the output folder: write_embedded, pending/, drop_embedded), meili_load (load.sh), meili_tokens (tenant
tokens). This module is the registry's entry point and re-exports the names callers import from it.
"""

from __future__ import annotations

from exporters.meili_client import MeiliClient, MeiliConfig, MeiliError, TaskFailed
from exporters.meili_embedded import drop_embedded, write_embedded
from exporters.meili_push import Pusher, drop_indexes, group_artifacts, ndjson_batches, settings_diff
from exporters.meili_tokens import search_api_key, tenant_token
from pim.protocols import Artifact, PublishContext

__all__ = ["MeiliClient", "MeiliConfig", "MeiliError", "MeilisearchExporter", "Pusher", "TaskFailed", "drop_embedded",
           "drop_indexes", "group_artifacts", "ndjson_batches", "search_api_key", "settings_diff", "tenant_token",
           "write_embedded"]


class MeilisearchExporter:
    name = "meilisearch"

    def __init__(self, config: MeiliConfig | None = None) -> None:
        self.config = config

    def push(self, artifacts: list[Artifact], ctx: PublishContext) -> list[str]:
        cfg = self.config or ctx.options.get("meili_config") or MeiliConfig.from_env()
        if not cfg.url:
            return write_embedded(artifacts, ctx, cfg.batch_bytes)
        indexes = group_artifacts(artifacts)
        client = MeiliClient(cfg)
        pusher = Pusher(client, cfg)
        ctx.options["search_events"] = pusher.events
        try:
            full = [f for f in indexes if f.mode == "full"]
            if full:
                pusher.full(full)
            for f in indexes:
                if f.mode != "full":
                    pusher.incremental(f)
        finally:
            client.close()
        from exporters.local import LocalExporter

        LocalExporter().push([], ctx)  # clears the run's staging dir
        return [f"{cfg.url.rstrip('/')}/indexes/{f.uid}" for f in indexes]
