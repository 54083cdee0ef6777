"""Images no product or product model shows any more go: their original, every rendition, and their rows.

"Shows" is read from the image index (media.image_index, refreshed first): an asset is in use while any of
its origin refs, or its own `sha256:<hex>` ref, is an image value somewhere in the catalog. Assets younger
than the grace period are kept, so an upload that has not been assigned to a product yet survives.

Rows go before objects, one transaction per page: a crash in between leaves objects nothing points to, never a
row pointing to a deleted object. Such objects, and those a crash left between writing an object and recording
its row, are swept next (`orphans`): an object under the asset namespaces that no asset or rendition row names
and that is older than the same grace (a younger one may be a write whose row is not committed yet).

The quarantine of rejected bytes (media.rejected) is pruned in between: rows of refs no product shows any more
(after the same grace) and rows last seen before the retention go, then their bytes once no row names them;
the sweep covers `rejected/` too, and never takes bytes a quarantine row names.

Every deletion goes through media.fence, which re-checks the rows under a lock that ingest and renditions also
take to record theirs: an ingest re-using the same bytes, or a rendition rewriting the same key, while gc runs
keeps its object (or stores it again)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import and_, delete, exists, literal, select

from media import rejected as quarantine
from media.assets import ASSET, ORIGIN, RENDITION
from media.fence import Deleter
from media.image_index import USE, refreshed
from pim.store.store import now

PAGE = 500
#: Objects deleted per locked turn (media.fence): bounds how long a turn holds writers off (S3 deletes one a request).
TURN = 100
# What media.assets.original_key / rendition_key write. Only these are swept: the S3 exporter may publish feeds
# under the same bucket and prefix (PIM_S3_PREFIX), and those have no row either.
NAMESPACES = ("originals/", "renditions/")
#: What `collect_garbage` sweeps: the asset namespaces and the quarantine of rejected bytes.
SWEPT = (*NAMESPACES, quarantine.PREFIX)
# Every key embeds its own asset's sha, so the rows that could name it are found by the sha256 primary key.
SHA_IN_KEY = re.compile(r"^(?:originals|renditions)/[0-9a-f]{2}/([0-9a-f]{64})[./]")


@dataclass
class GcResult:
    assets: int = 0
    objects: int = 0
    bytes: int = 0
    shas: list[str] = field(default_factory=list)
    orphans: int = 0
    orphan_bytes: int = 0
    rejected: int = 0  # quarantine rows dropped (media.rejected)
    rejected_objects: int = 0
    rejected_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"assets": self.assets, "objects": self.objects, "bytes": self.bytes, "orphans": self.orphans,
                "orphan_bytes": self.orphan_bytes, "rejected": self.rejected,
                "rejected_objects": self.rejected_objects, "rejected_bytes": self.rejected_bytes}


def _unused(cutoff: Any) -> Any:
    """Assets created before `cutoff` that no image value refers to (by an origin ref or by their sha)."""
    by_origin = exists().where(and_(ORIGIN.c.sha256 == ASSET.c.sha256, USE.c.ref == ORIGIN.c.ref))
    by_sha = exists().where(USE.c.ref == literal("sha256:") + ASSET.c.sha256)
    return and_(ASSET.c.created_at < cutoff, ~by_origin, ~by_sha)


def collect_garbage(store: Any, asset_store: Any, *, grace: timedelta = timedelta(days=7),
                    dry_run: bool = False, orphans: bool = True,
                    rejected_retention: timedelta | None = None) -> GcResult:
    """Unused images first, then the quarantine (rows last seen before `rejected_retention`, default
    media.rejected.RETENTION_DAYS, or whose ref nothing shows), then (with `orphans`) objects no row names.
    `dry_run` counts and deletes nothing."""
    refreshed(store)
    stamp = now()
    cutoff = stamp - grace
    result = GcResult()
    deleter = Deleter(store, asset_store)
    _unused_images(store, deleter, cutoff, dry_run, result)
    retention = rejected_retention if rejected_retention is not None else quarantine.retention()
    result.rejected, result.rejected_objects, result.rejected_bytes = quarantine.expire(
        store, asset_store, grace_cutoff=cutoff, retention_cutoff=stamp - retention, dry_run=dry_run, deleter=deleter)
    if orphans:
        sweep_orphans(store, asset_store, cutoff=cutoff, dry_run=dry_run, result=result, deleter=deleter,
                      namespaces=SWEPT)
    return result


def _unused_images(store: Any, deleter: Deleter, cutoff: datetime, dry_run: bool, result: GcResult) -> None:
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
        if not dry_run:  # an ingest may have recorded the same bytes again since: those objects stay
            for turn in _pages(keys, TURN):
                deleter.delete_unnamed(turn, _named)


def sweep_orphans(store: Any, asset_store: Any, *, cutoff: datetime, dry_run: bool, result: GcResult,
                  deleter: Deleter | None = None, namespaces: tuple[str, ...] = NAMESPACES) -> None:
    """Delete objects under `namespaces` (default NAMESPACES; gc passes SWEPT) last written before `cutoff` that no
    row names, a page at a time as the store lists them: neither the listing nor the catalog's keys are ever held
    whole. The listing and the first check may be stale by the time of the delete; the fence re-checks each key
    under its lock."""
    deleter = deleter or Deleter(store, asset_store)
    for namespace in namespaces:
        old = (o for o in asset_store.objects(namespace) if o.modified < cutoff and o.key.startswith(namespace))
        for page in _pages(old):
            with store.engine.connect() as conn:
                names = _named(conn, [o.key for o in page])
            orphans = {o.key: o for o in page if o.key not in names}
            if dry_run:
                gone = list(orphans)
            else:
                gone = [key for turn in _pages(list(orphans), TURN) for key in deleter.delete_unnamed(turn, _named)]
            result.orphans += len(gone)
            result.orphan_bytes += sum(orphans[key].size for key in gone)


def _named(conn: Any, keys: list[str]) -> set[str]:
    """Those of `keys` an asset, rendition or quarantine row names. A key in another shape (the temp file of a
    crashed local write) is looked up by key itself."""
    shas = sorted({m.group(1) for key in keys if (m := SHA_IN_KEY.match(key))})
    stray = [key for key in keys if not SHA_IN_KEY.match(key) and not key.startswith(quarantine.PREFIX)]
    named = quarantine.named(conn, keys)
    for table in (ASSET, RENDITION):
        if shas:
            named.update(conn.execute(select(table.c.key).where(table.c.sha256.in_(shas))).scalars())
        if stray:
            named.update(conn.execute(select(table.c.key).where(table.c.key.in_(stray))).scalars())
    return named


T = TypeVar("T")


def _pages(items: Iterable[T], size: int = PAGE) -> Iterator[list[T]]:
    it = iter(items)
    while page := list(islice(it, size)):
        yield page
