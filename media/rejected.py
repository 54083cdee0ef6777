"""The quarantine: the bytes of images ingest rejected, kept so the team can see what was refused.

A URL's bytes may change or vanish, and a local file gets fixed in place; the asset row only says *why* an image
was refused. So ingest also keeps the rejected bytes, content-addressed under `rejected/<sha[:2]>/<sha>` in the
asset store (once per distinct content, never decoded again), and a `rejected_asset` row per ref: which bytes,
why, when first and last seen. Bytes over the ingest's own size cap are not kept (the row says so).

The row goes when the ref is ingested again and passes, or by gc: when no product shows the ref any more (after
the grace), or when it was last seen longer ago than the retention. Bytes go once no row names them, through
media.fence like every other deletion of asset objects: an ingest recording the same bytes meanwhile keeps them."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.engine import Connection

from media.assets import REJECTED, REJECTED_ASSET as ROWS, VALID, _chunks
from media.fence import Deleter
from pim.errors import InputError
from pim.store.store import as_utc

PREFIX = "rejected/"
#: Days a quarantine row (and its bytes) is kept after an ingest last recorded its ref (`pim media gc`).
RETENTION_DAYS = 30
#: Never served as an image: whoever fetches the object gets a download, not a decode.
CONTENT_TYPE = "application/octet-stream"
PAGE = 500
MB = 1024 * 1024
_HEX = re.compile(r"^[0-9a-f]{6,64}$")


def quarantine_key(sha: str) -> str:
    return f"{PREFIX}{sha[:2]}/{sha}"


def keep(asset_store: Any, sha: str, data: bytes, *, cap: int) -> dict[str, Any]:
    """Store rejected bytes (on ingest's worker, before the row is recorded: media.fence). Returns the fields
    ingest adds to its result: `quarantine` (the key, None when not kept), `note`, `kept` (written now)."""
    if len(data) > cap:
        return {"quarantine": None, "note": f"bytes not kept: over {size_text(cap)}", "kept": False}
    key = quarantine_key(sha)
    if asset_store.exists(key):
        return {"quarantine": key, "note": None, "kept": False}
    asset_store.put(key, io.BytesIO(data), content_type=CONTENT_TYPE, size=len(data))
    return {"quarantine": key, "note": None, "kept": True}


def size_text(size: int) -> str:
    if size >= MB:
        return f"{size // MB} MB" if size % MB == 0 else f"{size / MB:.1f} MB"
    return f"{size} bytes"


def record(store: Any, conn: Connection, records: Iterable[tuple[dict[str, Any], str]], stamp: datetime) -> set[str]:
    """Inside ingest's recording transaction: a rejected ref gets its row (first_seen kept while the bytes are
    the same), a ref that now passes loses it, and so does one refused unread (outside the media roots, an
    internal URL: what an earlier run kept for it must not stay downloadable), a ref recorded without reading
    (already known) is seen again.
    Returns the keys of bytes some row named before and may name no more (for `release`, after the commit)."""
    latest: dict[str, tuple[dict[str, Any], str]] = {}
    for res, source in records:
        latest[res["ref"]] = (res, source)  # one row per ref: the last result wins
    rejected = [(res, src) for res, src in latest.values() if not res.get("known") and res.get("status") == REJECTED]
    passed = [ref for ref, (res, _) in latest.items()
              if not res.get("known") and (res.get("status") == VALID or res.get("refused"))]
    known = [ref for ref, (res, _) in latest.items() if res.get("known")]
    changed = [res["ref"] for res, _ in rejected] + passed
    before: dict[str, str | None] = {}
    for chunk in _chunks(changed):
        before.update(conn.execute(select(ROWS.c.ref, ROWS.c.key).where(ROWS.c.ref.in_(chunk))).all())
    for chunk in _chunks(passed):
        conn.execute(delete(ROWS).where(ROWS.c.ref.in_(chunk)))
    for chunk in _chunks(known):
        conn.execute(update(ROWS).where(ROWS.c.ref.in_(chunk)).values(last_seen=stamp))
    if rejected:
        conn.execute(_upsert(store), [{"ref": res["ref"], "source": src, "sha256": res["sha256"],
                                       "bytes": res["bytes"], "reason": res["problem"], "key": res.get("quarantine"),
                                       "note": res.get("note"), "first_seen": stamp, "last_seen": stamp}
                                      for res, src in rejected])
    now_named = {res["ref"]: res.get("quarantine") for res, _ in rejected}
    return {key for ref, key in before.items() if key and now_named.get(ref) != key}


def _upsert(store: Any) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    ins = (postgresql.insert if store.dialect == "postgresql" else sqlite.insert)(ROWS)
    new = ins.excluded
    return ins.on_conflict_do_update(index_elements=["ref"], set_={
        "source": new.source, "sha256": new.sha256, "bytes": new.bytes, "reason": new.reason, "key": new.key,
        "note": new.note, "last_seen": new.last_seen,
        "first_seen": case((ROWS.c.sha256 == new.sha256, ROWS.c.first_seen), else_=new.first_seen)})


def named(conn: Connection, keys: list[str]) -> set[str]:
    """Those of `keys` a quarantine row names (media.fence's re-check, under its lock)."""
    out: set[str] = set()
    for chunk in _chunks(sorted({k for k in keys if k.startswith(PREFIX)})):
        out.update(conn.execute(select(ROWS.c.key).where(ROWS.c.key.in_(chunk))).scalars())
    return out


def release(store: Any, asset_store: Any, keys: Iterable[str], deleter: Deleter | None = None) -> list[str]:
    """Delete the bytes under `keys` that no quarantine row names now (through the fence). Returns those deleted;
    bytes left because writers kept starting are swept by `pim media gc` later."""
    from media.gc import TURN

    deleter = deleter or Deleter(store, asset_store)
    todo = sorted(set(keys))
    return [key for i in range(0, len(todo), TURN) for key in deleter.delete_unnamed(todo[i:i + TURN], named)]


def expire(store: Any, asset_store: Any, *, grace_cutoff: datetime, retention_cutoff: datetime, dry_run: bool,
           deleter: Deleter | None = None) -> tuple[int, int, int]:
    """gc's part: drop the rows no product shows any more (last seen before the grace cutoff: an upload not yet
    assigned stays) and those last seen before the retention cutoff, then their bytes once no row names them.
    Rows go first, bytes after (a crash leaves orphans for the sweep). Returns (rows, objects, bytes)."""
    from media.image_index import USE

    shown = or_(exists().where(USE.c.ref == ROWS.c.ref),
                exists().where(USE.c.ref == literal("sha256:") + ROWS.c.sha256))
    doomed = or_(ROWS.c.last_seen < retention_cutoff, and_(ROWS.c.last_seen < grace_cutoff, ~shown))
    rows = objects = size = 0
    after = ""
    while True:
        with store.begin() as conn:
            page = conn.execute(select(ROWS.c.ref, ROWS.c.key, ROWS.c.bytes).where(doomed, ROWS.c.ref > after)
                                .order_by(ROWS.c.ref).limit(PAGE)).all()
            if not page:
                break
            after = page[-1].ref
            refs = [r.ref for r in page]
            sizes = {r.key: r.bytes for r in page if r.key}
            rows += len(page)
            if dry_run:  # what would go: keys no row outside this page names
                still = set(conn.execute(select(ROWS.c.key).where(ROWS.c.key.in_(list(sizes)),
                                                                  ROWS.c.ref.not_in(refs))).scalars())
                gone = [key for key in sizes if key not in still]
            else:
                conn.execute(delete(ROWS).where(ROWS.c.ref.in_(refs)))
        if not dry_run:
            gone = release(store, asset_store, sizes, deleter)
        objects += len(gone)
        size += sum(sizes[key] for key in gone)
    return rows, objects, size


def listing(store: Any, *, limit: int | None = None, text: str = "",
            after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
    """The quarantine, most recently seen first (ties by ref): ref, source, sha256, bytes, reason, kept, note,
    first/last seen. `text` keeps the rows whose ref or reason contains it (any case), or whose sha256 starts
    with it; `after` (last seen, ref) starts after that row (a page's cursor)."""
    q = select(ROWS).order_by(ROWS.c.last_seen.desc(), ROWS.c.ref)
    if text:
        needle = text.lower()
        q = q.where(or_(func.lower(ROWS.c.ref).contains(needle, autoescape=True),
                        func.lower(ROWS.c.reason).contains(needle, autoescape=True),
                        ROWS.c.sha256.startswith(needle.removeprefix("sha256:"), autoescape=True)))
    if after is not None:
        seen, ref = after
        q = q.where(or_(ROWS.c.last_seen < seen, and_(ROWS.c.last_seen == seen, ROWS.c.ref > ref)))
    with store.engine.connect() as conn:
        rows = conn.execute(q.limit(limit) if limit else q).all()
    return [{"ref": r.ref, "source": r.source, "sha256": r.sha256, "bytes": r.bytes, "reason": r.reason,
             "kept": r.key is not None, "note": r.note, "first_seen": as_utc(r.first_seen),
             "last_seen": as_utc(r.last_seen)} for r in rows]


def read_back(store: Any, asset_store: Any, sha: str) -> tuple[dict[str, Any], bytes]:
    """The kept bytes of a rejected image, by its sha256 or a unique prefix of it (as `listing` shows), and one
    of its rows. The bytes are checked against their sha256, never decoded."""
    prefix = sha.strip().lower().removeprefix("sha256:")
    if not _HEX.match(prefix):
        raise InputError(f"'{sha}' is not a sha256", field="--get",
                         hint="give the sha256 of a rejected image, or its first 6+ characters (pim media rejected)")
    with store.engine.connect() as conn:
        found = conn.execute(select(ROWS).where(ROWS.c.sha256.startswith(prefix, autoescape=True))
                             .order_by(ROWS.c.sha256, ROWS.c.key.is_(None), ROWS.c.ref)).all()
    shas = sorted({r.sha256 for r in found})
    if not shas:
        raise InputError(f"no rejected image has sha256 {prefix}", field="--get",
                         hint="pim media rejected lists them; a row goes when its ref passes, or by pim media gc")
    if len(shas) > 1:
        raise InputError(f"{len(shas)} rejected images have a sha256 starting {prefix}", field="--get",
                         hint="give more characters")
    row = found[0]
    if row.key is None:
        raise InputError(f"the bytes of {row.sha256} ({row.ref}) were not kept: {row.note or 'no key'}",
                         field="--get", hint=f"read them at their ref: {row.ref}")
    data = asset_store.get(row.key)
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise InputError(f"the object {row.key} does not hold the bytes of {row.sha256}",
                         hint="ingest the ref again (pim media ingest --refresh) to keep them anew")
    return {"ref": row.ref, "source": row.source, "sha256": row.sha256, "bytes": row.bytes, "reason": row.reason}, data


def retention(days: float | None = None) -> timedelta:
    return timedelta(days=RETENTION_DAYS if days is None else days)
