"""JSON Lines feed: one object per line, shaped by schemas/feed_row.schema.json (pim.feeds.FeedRow)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson

from channels.feed_row import Projector
from pim.feeds import FeedItem, FeedPlan


class JsonlFeedRenderer:
    name = "feed_jsonl"
    extension = "jsonl"
    content_type = "application/x-ndjson"

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        proj = Projector(plan)
        rows = 0
        with path.open("wb") as fh:
            for item in proj.stream(items):
                fh.write(orjson.dumps(proj.document(item)) + b"\n")
                rows += 1
        return rows
