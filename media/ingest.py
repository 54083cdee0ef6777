"""Bring images in: read each ref (local path, URL or uploaded bytes), hash it, validate it, store the
original once per distinct content, and record every origin. Problems are recorded, never raised: one bad
image must not stop a run; a rejected image's bytes are kept in the quarantine (media.rejected). Reading and
validating fan out through the project's Executor."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select

from media import rejected as quarantine
from media.assets import ASSET, ORIGIN, REJECTED, VALID, _chunks, invalid_refs, original_key
from media.errors import AssetRejected, BaseFolderMissing, FetchFailed, NotAnImage, RefRefused
from media.fence import begin_writes, vanished
from media.fetch import Validators, fetch_url_if_changed, file_validator, is_url, read_file
from media.image_index import catalog_images, products_showing, refresh_image_index
from media.settings import CONTENT_TYPES, EXTENSIONS, MediaFile
from media.validate import inspect
from pim.store.store import batched, now

#: refs submitted to the executor at a time: bounds memory (bytes in flight) on large catalogs.
WINDOW = 64
#: times a ref is stored again when a concurrent gc deleted its object before its row went in (media.fence)
ATTEMPTS = 3
LOST = "the asset store lost the image while it was being recorded (a gc ran at the same time); ingest it again"


@dataclass
class IngestCounts:
    valid: int = 0
    rejected: int = 0
    unreadable: int = 0
    known: int = 0
    stored: int = 0  # originals written to the asset store (the rest were already there: dedupe)
    kept: int = 0  # rejected bytes written to the quarantine (media.rejected)
    not_modified: int = 0  # refreshed refs known unchanged without reading them: HTTP 304, or same local file
    unchanged_files: int = 0  # of which local files whose size, mtime and inode had not changed
    skipped: int = 0  # relative refs with no --base to read them from: nothing recorded (media.errors)
    problems: list[dict[str, Any]] = field(default_factory=list, repr=False)
    fixed: list[str] = field(default_factory=list, repr=False)  # refs unreadable or rejected before, valid now

    def as_dict(self) -> dict[str, int]:
        out = {"valid": self.valid, "rejected": self.rejected, "unreadable": self.unreadable,
               "already known": self.known, "originals stored": self.stored}
        if http := self.not_modified - self.unchanged_files:
            out["not modified (HTTP 304)"] = http
        if self.unchanged_files:
            out["not modified (file unchanged)"] = self.unchanged_files
        if self.kept:
            out["rejected files kept"] = self.kept
        if self.skipped:
            out["skipped (relative path, no --base)"] = self.skipped
        if self.fixed:
            out["problems fixed"] = len(self.fixed)
        return out


def _reason(exc: Exception) -> str:
    hint = getattr(exc, "hint", None)
    return f"{exc} ({hint})" if hint else str(exc)


def examine(ref: str, *, asset_store: Any, media: MediaFile, base_dir: Path | None = None,
            data: bytes | None = None, since: Known | None = None) -> dict[str, Any]:
    """Read, hash, validate and store one image. Runs on a worker; returns a plain, picklable result. `since`:
    what an earlier run stored for this ref. A URL's server is asked whether it changed, and a 304 answers
    `known` without reading the bytes again; a local file whose size, mtime and inode match is not opened."""
    seen = Validators()
    try:
        if data is None and is_url(ref):
            validators = Validators(since.etag, since.last_modified) if since else Validators()
            data, seen = fetch_url_if_changed(ref, media.fetch, validators)
            if data is None and since is not None:  # 304 Not Modified: the stored asset still stands
                return _unchanged(ref, since)
        elif data is None:
            if since is not None and since.etag and since.etag == file_validator(ref, base_dir=base_dir):
                return _unchanged(ref, since) | {"unchanged_file": True}
            data, validator = read_file(ref, base_dir=base_dir, max_bytes=media.fetch.max_bytes)
            seen = Validators(etag=validator)
    except BaseFolderMissing as exc:  # a setting missing, not a bad ref: recorded nowhere (_rows)
        return {"ref": ref, "sha256": None, "problem": _reason(exc), "skipped": True}
    except FetchFailed as exc:  # refused (media.fetch: outside the media roots, an internal URL): never read
        return {"ref": ref, "sha256": None, "problem": _reason(exc), "refused": isinstance(exc, RefRefused)}
    assert data is not None
    sha = hashlib.sha256(data).hexdigest()
    result: dict[str, Any] = {"ref": ref, "sha256": sha, "bytes": len(data), "problem": None,
                              "etag": seen.etag, "last_modified": seen.last_modified}
    rules = (sha, tuple(media.allowed_formats), media.max_pixels)
    verdict = _VERDICTS.get(rules)
    if verdict is None:
        try:
            info = inspect(data, allowed_formats=media.allowed_formats, max_pixels=media.max_pixels)
            verdict = {"status": VALID, "format": info.format, "width": info.width, "height": info.height}
        except AssetRejected as exc:
            verdict = {"status": REJECTED, "problem": _reason(exc), "image": not isinstance(exc, NotAnImage)}
        _remember(rules, verdict)
    if verdict["status"] == REJECTED:  # kept for inspection, never decoded again; no image at all is never kept
        if not verdict.get("image", True):
            return result | verdict | {"quarantine": None, "note": "bytes not kept: not an image", "kept": False}
        return result | verdict | quarantine.keep(asset_store, sha, data, cap=media.fetch.max_bytes)
    fmt = verdict["format"]
    key = original_key(sha, EXTENSIONS.get(fmt, fmt.lower()))
    stored = False
    if not asset_store.exists(key):
        asset_store.put(key, io.BytesIO(data), content_type=CONTENT_TYPES.get(fmt, "application/octet-stream"),
                        size=len(data))
        stored = True
    return result | verdict | {"key": key, "stored": stored}


def _unchanged(ref: str, since: Known) -> dict[str, Any]:
    return {"ref": ref, "sha256": since.sha256, "problem": None, "known": True, "not_modified": True,
            "etag": since.etag, "last_modified": since.last_modified}


#: (sha256, accepted formats, pixel limit) → the verdict on those bytes, per process: the same picture under
#: many refs (variants sharing a photo, one image at several URLs) is decoded once. Bounded; dict operations
#: are atomic, so the thread pool may share it.
_VERDICTS: dict[tuple[str, tuple[str, ...], int], dict[str, Any]] = {}
_VERDICTS_MAX = 4096


def _remember(rules: tuple[str, tuple[str, ...], int], verdict: dict[str, Any]) -> None:
    if len(_VERDICTS) >= _VERDICTS_MAX:
        _VERDICTS.clear()
    _VERDICTS[rules] = verdict


def ingest(store: Any, items: Iterable[tuple[str, str]], *, asset_store: Any, media: MediaFile | None = None,
           base_dir: Path | None = None, executor: Executor | None = None, refresh: bool = False,
           on_progress: Callable[[int], None] | None = None) -> IngestCounts:
    """Ingest (ref, source) pairs. A ref already resolved to a valid asset is not read again unless `refresh`;
    it only gains the new origin. Unreadable refs are retried on every run, and so are rejected ones, asked
    first as a refresh asks (a local file's size and times, a URL's validators), so a file fixed in place is
    taken in by the next run without `--refresh`, and an unchanged one costs a stat or a conditional request."""
    media = media or MediaFile()
    counts = IngestCounts()
    work = partial(_examine_since, asset_store=asset_store, media=media, base_dir=base_dir)
    for window in _windows(_dedupe(items), WINDOW):
        stored = _known(store, [ref for ref, _ in window])
        # a refresh reads every ref again, but asks first (HTTP validators, local size and mtime) what changed
        known = {} if refresh else {ref: k for ref, k in stored.items() if not k.rejected}
        jobs = [((ref, stored.get(ref)), src) for ref, src in window if ref not in known]
        records = [({"ref": ref, "sha256": k.sha256, "problem": None, "known": True, "etag": k.etag,
                     "last_modified": k.last_modified}, src) for ref, src in window if (k := known.get(ref))]
        epoch = begin_writes(store) if jobs else 0
        todo = [job for job, _ in jobs]
        was_bad = _problems_before(store, [ref for ref, _ in todo], stored)
        results = list(executor.map(work, todo)) if executor and todo else [work(t) for t in todo]
        records += list(zip(results, [src for _, src in jobs]))
        recorded = _record_all(store, records, counts, asset_store=asset_store, epoch=epoch,
                               again=lambda ref: work((ref, None)))
        counts.fixed += [res["ref"] for res, _ in recorded if res.get("status") == VALID and res["ref"] in was_bad]
        if on_progress:
            on_progress(len(window))
    return counts


def ingest_bytes(store: Any, data: bytes, name: str, *, asset_store: Any, media: MediaFile | None = None,
                 source: str = "upload") -> dict[str, Any]:
    """A content-team upload: the bytes are already here. Returns the result row (sha256, status, problem)."""
    media = media or MediaFile()
    epoch = begin_writes(store)
    again = partial(examine, asset_store=asset_store, media=media, data=data)
    recorded = _record_all(store, [(again(name), source)], IngestCounts(), asset_store=asset_store, epoch=epoch,
                           again=again)
    return recorded[0][0]


def _record_all(store: Any, records: list[tuple[dict[str, Any], str]], counts: IngestCounts, *, asset_store: Any,
                epoch: int, again: Callable[[str], dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Record the results; those whose object a concurrent gc deleted before their row went in are examined
    `again` (read and stored anew, in this process) and recorded, up to ATTEMPTS times, then recorded as
    unreadable (retried by the next run). Returns what was recorded last for each record."""
    out: list[tuple[dict[str, Any], str]] = []
    for attempt in range(1, ATTEMPTS + 1):
        lost = _record(store, records, counts, asset_store=asset_store, epoch=epoch)
        out += [r for r in records if all(r is not x for x in lost)]
        if not lost:
            return out
        epoch = begin_writes(store)
        if attempt == ATTEMPTS:
            records = [({"ref": res["ref"], "sha256": None, "problem": LOST}, src) for res, src in lost]
            _record(store, records, counts, asset_store=asset_store, epoch=epoch)
            return out + records
        records = [(again(res["ref"]), src) for res, src in lost]
    return out


def _dedupe(items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    for ref, source in items:
        ref = ref.strip()
        if ref and (ref, source) not in seen and not ref.startswith("sha256:"):
            seen.add((ref, source))
            yield ref, source


def _windows(items: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    window: list[tuple[str, str]] = []
    for item in items:
        window.append(item)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


@dataclass(frozen=True)
class Known:
    """What an earlier run stored for a ref: its asset and the HTTP validators it was served with."""

    sha256: str
    etag: str | None = None
    last_modified: str | None = None
    rejected: bool = False  # its asset was refused: asked again every run (media.rejected keeps the bytes)


def _problems_before(store: Any, refs: list[str], stored: dict[str, Known]) -> set[str]:
    """The refs about to be read that fill no image now (never ingested, unreadable or rejected): if one reads
    valid, its products must be rescored (a file fixed in place, or an image ingested after the import that
    named it, fills the attribute at once). One lookup per window, not per ref."""
    if not refs:
        return set()
    resolved = {ref: k.sha256 if (k := stored.get(ref)) else None for ref in refs}
    return invalid_refs(store, refs, strict=True, resolved=resolved)


def _examine_since(job: tuple[str, Known | None], **kw: Any) -> dict[str, Any]:
    return examine(job[0], since=job[1], **kw)


def _known(store: Any, refs: list[str]) -> dict[str, Known]:
    out: dict[str, Known] = {}
    with store.engine.connect() as conn:
        for chunk in _chunks(refs):
            rows = conn.execute(select(ORIGIN.c.ref, ORIGIN.c.sha256, ORIGIN.c.etag, ORIGIN.c.last_modified,
                                       ASSET.c.status)
                                .join(ASSET, ASSET.c.sha256 == ORIGIN.c.sha256, isouter=True)
                                .where(ORIGIN.c.ref.in_(chunk), ORIGIN.c.sha256.is_not(None)))
            out.update({ref: Known(sha, etag, lm, status == REJECTED) for ref, sha, etag, lm, status in rows})
    return out


def _record(store: Any, records: list[tuple[dict[str, Any], str]], counts: IngestCounts, *, asset_store: Any,
            epoch: int) -> list[tuple[dict[str, Any], str]]:
    """Write the asset and origin rows of `records` in one transaction. Returns the records left out because
    their stored object vanished since `epoch` (media.fence: a gc ran meanwhile); the caller stores them again."""
    stamp = now()
    keys = {key for res, _ in records if not res.get("known") for key in _objects(res)}
    with store.begin() as conn:
        gone = vanished(store, conn, epoch, asset_store, keys)  # first: on SQLite it takes the write lock
        lost = [(res, src) for res, src in records if gone & _objects(res)]
        kept = [r for r in records if not gone & _objects(r[0])]
        assets, origins = _rows(kept, counts, stamp)
        if assets:
            # Same bytes, same verdict: an asset row, once written, is never rewritten (keeps created_at).
            conn.execute(_insert(store, ASSET).on_conflict_do_nothing(index_elements=["sha256"]), list(assets.values()))
        store.upsert_rows(conn, ORIGIN, list(origins.values()), ["ref", "source"])
        freed = quarantine.record(store, conn, kept, stamp)
    if freed:  # after the commit, through the fence: bytes another ref was rejected for stay
        quarantine.release(store, asset_store, freed)
    return lost


def _objects(res: dict[str, Any]) -> set[str]:
    """The asset-store keys a result's rows will name: its original, or its quarantined bytes."""
    return {key for key in (res.get("key"), res.get("quarantine")) if key}


def _rows(records: list[tuple[dict[str, Any], str]], counts: IngestCounts,
          stamp: Any) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """Asset rows by sha256 and origin rows by (ref, source), counting each record. Bytes written are counted
    once per sha256: two workers given the same picture under two refs may both find it missing and both
    write it (the same object, twice)."""
    assets: dict[str, dict[str, Any]] = {}
    origins: dict[tuple[str, str], dict[str, Any]] = {}
    stored: set[str] = set()
    kept: set[str] = set()
    for res, source in records:
        if res.get("skipped"):
            counts.skipped += 1
            continue
        origins[(res["ref"], source)] = {"ref": res["ref"], "source": source, "sha256": res["sha256"],
                                         "problem": res["problem"] if res["sha256"] is None else None,
                                         "seen_at": stamp, "etag": res.get("etag"),
                                         "last_modified": res.get("last_modified")}
        if res.get("known"):
            counts.known += 1
            counts.not_modified += bool(res.get("not_modified"))
            counts.unchanged_files += bool(res.get("unchanged_file"))
            continue
        if res["sha256"] is None:
            counts.unreadable += 1
            counts.problems.append({"ref": res["ref"], "source": source, "reason": res["problem"]})
            continue
        status = res["status"]
        counts.valid += status == VALID
        counts.rejected += status == REJECTED
        if res.get("stored"):
            stored.add(res["sha256"])
        if res.get("kept"):
            kept.add(res["sha256"])
        if status == REJECTED:
            counts.problems.append({"ref": res["ref"], "source": source, "reason": res["problem"]})
        assets[res["sha256"]] = {"sha256": res["sha256"], "format": res.get("format"), "width": res.get("width"),
                                 "height": res.get("height"), "bytes": res["bytes"], "status": status,
                                 "problem": res["problem"], "key": res.get("key"), "created_at": stamp}
    counts.stored += len(stored)
    counts.kept += len(kept)
    return assets, origins


def _insert(store: Any, table: Any) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if store.dialect == "postgresql" else sqlite.insert)(table)


def catalog_refs(store: Any) -> Iterator[tuple[str, str]]:
    """(ref, source) for every image value of every product and product model, streamed from the image index
    (media.image_index, refreshed first). The source is the value's provenance (e.g. `supplier:acme`),
    'catalog' when the record has none."""
    return catalog_images(store)


def products_using(store: Any, refs: set[str]) -> list[str]:
    """Identifiers of products showing one of these image refs, their own or inherited from a model (a
    variant's parent or grandparent): indexed lookups, not a catalog scan."""
    if not refs:
        return []
    with store.begin() as conn:
        refresh_image_index(store, conn)
        return products_showing(conn, refs)


def rescore_products_using(store: Any, counts: IngestCounts) -> int:
    """A rejected or unreadable image no longer fills its attribute, nor is it linked, and one that was and
    now reads valid fills it again: rescore the products that show either now, rather than at their next
    write, and give them a new seq so that incremental exports (the search index, customer deltas) send them."""
    ids = products_using(store, {p["ref"] for p in counts.problems} | set(counts.fixed))
    for chunk in batched(ids, getattr(store, "batch_size", 1000)):
        with store.begin() as conn:
            store.touch_products(conn, chunk)
            store.notify(conn, chunk)
    return len(ids)
