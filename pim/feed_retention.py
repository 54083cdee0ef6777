"""Old feed files go. Two rules, by count (`keep`: the newest N per contract stay) and by age (`older_than`:
files built more recently stay); given both, a file goes only when both let it go. Whatever the rules, every
delivered file from the newest delivered full feed on stays (a customer who missed some deltas can still
rebuild from them). A pruned file's bytes and manifest are deleted and its row is kept, marked `pruned`, for
the audit trail; the portal no longer lists or serves it. A file still being built (status `built`, younger
than a day) is never touched."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from pim.delivery_log import FEED_FILE
from pim.store.store import Store, as_utc, now

PRUNED = "pruned"
IN_FLIGHT = timedelta(days=1)
DEFAULT_KEEP = 10  # the rule when none is given


@dataclass
class PruneResult:
    files: int = 0
    bytes: int = 0
    pruned: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "bytes": self.bytes, "pruned": self.pruned}


def to_prune(rows: list[dict[str, Any]], keep: int | None, older_than: timedelta | None = None) -> list[dict[str, Any]]:
    """Of one contract's live files (newest first), the ones every given rule lets go."""
    newest_full = next((r["id"] for r in rows if r["status"] == "delivered" and r["kind"] == "full"), None)
    stamp = now()
    out = []
    for n, r in enumerate(rows):
        if keep is not None and n < keep:
            continue
        if older_than is not None and stamp - as_utc(r["generated_at"]) <= older_than:
            continue
        if newest_full is not None and r["status"] == "delivered" and r["id"] >= newest_full:
            continue  # the chain a customer rebuilds from: the newest full and the deltas after it
        if r["status"] == "built" and stamp - as_utc(r["generated_at"]) < IN_FLIGHT:
            continue
        out.append(r)
    return out


def prune_feeds(store: Store, *, keep: int | None = None, older_than: timedelta | None = None,
                contract: str | None = None, dry_run: bool = False) -> PruneResult:
    """Apply the rules to every contract's live files (`keep=DEFAULT_KEEP` when neither rule is given)."""
    if keep is None and older_than is None:
        keep = DEFAULT_KEEP
    if keep is not None and keep < 1:
        raise ValueError("keep at least one file per contract")
    if older_than is not None and older_than <= timedelta(0):
        raise ValueError("older_than must be a positive age")
    q = select(FEED_FILE).where(FEED_FILE.c.status != PRUNED).order_by(FEED_FILE.c.contract, FEED_FILE.c.id.desc())
    if contract is not None:
        q = q.where(FEED_FILE.c.contract == contract)
    by_contract: dict[str, list[dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            by_contract.setdefault(row.contract, []).append(dict(row._mapping))
    result = PruneResult()
    for rows in by_contract.values():
        for r in to_prune(rows, keep, older_than):
            path = Path(r["path"])
            size = path.stat().st_size if path.is_file() else 0
            result.files += 1
            result.bytes += size
            result.pruned.append({"id": r["id"], "contract": r["contract"], "name": r["name"], "kind": r["kind"],
                                  "status": r["status"], "bytes": size})
            if dry_run:
                continue
            with store.begin() as conn:  # the row first: a crash leaves a missing file marked, never a listed one gone
                conn.execute(update(FEED_FILE).where(FEED_FILE.c.id == r["id"]).values(status=PRUNED))
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".manifest.json").unlink(missing_ok=True)
    return result
