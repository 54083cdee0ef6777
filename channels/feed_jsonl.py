"""JSON Lines feed: one object per line, shaped by schemas/feed_row.schema.json (pim.feeds.FeedRow)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson

from channels.feed_row import Projector, value_keys_read
from pim.catalog import Structure
from pim.contracts import Contract
from pim.feeds import FeedItem, FeedPlan


class JsonlFeedRenderer:
    name = "feed_jsonl"
    extension = "jsonl"
    content_type = "application/x-ndjson"

    @staticmethod
    def reads(contract: Contract, structure: Structure) -> frozenset[str]:
        """The value keys its rows read (a run's snapshot keeps only those)."""
        return value_keys_read(contract, structure)

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        proj = Projector(plan)
        rows = 0
        with path.open("wb") as fh:
            for item in proj.stream(items):
                fh.write(orjson.dumps(proj.document(item)) + b"\n")
                rows += 1
        return rows
