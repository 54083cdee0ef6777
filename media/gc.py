"""Images no product or product model shows any more go: their original, every rendition, and their rows.

"Shows" is read from the image index (media.image_index, refreshed first): an asset is in use while any of
its origin refs, or its own `sha256:<hex>` ref, is an image value somewhere in the catalog. Assets younger
than the grace period are kept, so an upload that has not been assigned to a product yet survives.

Rows go before objects, one transaction per page: a crash in between leaves objects nothing points to (space,
fixed by the next run of an object-store lifecycle rule), never a row pointing to a deleted object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, literal, select

from media.assets import ASSET, ORIGIN, RENDITION
from media.image_index import USE, refreshed
from pim.store.store import now

PAGE = 500


@dataclass
class GcResult:
    assets: int = 0
    objects: int = 0
    bytes: int = 0
    shas: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"assets": self.assets, "objects": self.objects, "bytes": self.bytes}


def _unused(cutoff: Any) -> Any:
    """Assets created before `cutoff` that no image value refers to (by an origin ref or by their sha)."""
    by_origin = exists().where(and_(ORIGIN.c.sha256 == ASSET.c.sha256, USE.c.ref == ORIGIN.c.ref))
    by_sha = exists().where(USE.c.ref == literal("sha256:") + ASSET.c.sha256)
    return and_(ASSET.c.created_at < cutoff, ~by_origin, ~by_sha)


def collect_garbage(store: Any, asset_store: Any, *, grace: timedelta = timedelta(days=7),
                    dry_run: bool = False) -> GcResult:
    refreshed(store)
    cutoff = now() - grace
    result = GcResult()
    after = ""
    while True:
        with store.begin() as conn:
            page = conn.execute(select(ASSET.c.sha256, ASSET.c.key, ASSET.c.bytes)
                                .where(_unused(cutoff), ASSET.c.sha256 > after)
                                .order_by(ASSET.c.sha256).limit(PAGE)).all()
            if not page:
                break
            after = page[-1].sha256
            shas = [r.sha256 for r in page]
            renditions = conn.execute(select(RENDITION.c.key, RENDITION.c.bytes)
                                      .where(RENDITION.c.sha256.in_(shas))).all()
            keys = [r.key for r in page if r.key] + [r.key for r in renditions]
            result.assets += len(page)
            result.objects += len(keys)
            result.bytes += sum(r.bytes for r in page if r.key) + sum(r.bytes for r in renditions)
            result.shas.extend(shas)
            if not dry_run:
                conn.execute(delete(RENDITION).where(RENDITION.c.sha256.in_(shas)))
                conn.execute(delete(ORIGIN).where(ORIGIN.c.sha256.in_(shas)))
                conn.execute(delete(ASSET).where(ASSET.c.sha256.in_(shas)))
        if not dry_run:
            for key in keys:
                asset_store.delete(key)
    return result
