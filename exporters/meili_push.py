"""Pushing a search publish's files to a Meilisearch server: settings diffed against the live ones, documents in
batches sized by payload bytes (a failed task retried, a 413 split), deletes, and a full rebuild filled beside
the live index and swapped in (Pusher); drop_indexes deletes a channel's indexes there."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from exporters.meili_client import MeiliClient, MeiliConfig, MeiliError
from pim.errors import ConfigError
from pim.protocols import Artifact

log = logging.getLogger("pim.search")

#: Settings keys whose order carries no meaning.
UNORDERED = {"filterableAttributes", "sortableAttributes", "stopWords", "disableOnAttributes", "disableOnWords"}


@dataclass
class IndexFiles:
    uid: str
    mode: str
    settings: Path | None = None
    documents: Path | None = None
    deletes: Path | None = None
    rows: int = 0


def group_artifacts(artifacts: list[Artifact]) -> list[IndexFiles]:
    out: dict[str, IndexFiles] = {}
    for a in artifacts:
        uid = a.meta.get("index")
        if not uid:
            raise ConfigError(f"artifact {a.name} has no target index", hint="publish with --channel search")
        f = out.setdefault(uid, IndexFiles(uid, a.meta.get("mode", "incremental")))
        setattr(f, a.meta["kind"], a.path)
        if a.meta["kind"] == "documents":
            f.rows = a.rows
    return list(out.values())


def ndjson_batches(path: Path, limit: int) -> Iterator[list[bytes]]:
    """Lines of an NDJSON file grouped so that each group's payload stays under `limit` bytes."""
    return (lines for _, _, lines in ndjson_spans(path, limit))


def ndjson_spans(path: Path, limit: int) -> Iterator[tuple[int, int, list[bytes]]]:
    """ndjson_batches with where each group is in the file: (offset, bytes, lines), the span never over `limit`
    unless one line alone is (lines are never split), so load.sh can send the spans as byte ranges of the file.
    Blank lines are left out of the lines; one inside a group stays in its span (whitespace to Meilisearch)."""
    batch: list[bytes] = []
    start = end = pos = 0  # the group's first byte, the end of its last line, the end of the line read
    with path.open("rb") as fh:
        for line in fh:
            pos += len(line)
            if not line.strip():
                continue
            if batch and pos - start > limit:
                yield start, end - start, batch
                batch = []
            if not batch:
                start = pos - len(line)
            batch.append(line)
            end = pos
    if batch:
        yield start, end - start, batch


def settings_diff(wanted: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The keys of `wanted` whose value differs from the live settings (nested objects compared by their keys)."""
    def same(key: str, a: Any, b: Any) -> bool:
        if isinstance(a, dict) and isinstance(b, dict):
            if key == "synonyms":
                return {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
            return all(same(k, v, b.get(k)) for k, v in a.items())
        if isinstance(a, list) and isinstance(b, list) and key in UNORDERED:
            return sorted(map(str, a)) == sorted(map(str, b))
        return a == b
    return {k: v for k, v in wanted.items() if not same(k, v, live.get(k))}


@dataclass
class Pusher:
    client: MeiliClient
    cfg: MeiliConfig
    events: list[dict[str, Any]] = field(default_factory=list)

    def note(self, **event: Any) -> None:
        self.events.append(event)
        log.info("meilisearch: %s", event)

    def apply_settings(self, uid: str, path: Path | None) -> dict[str, Any]:
        if path is None:
            return {}
        wanted = orjson.loads(path.read_bytes())
        diff = settings_diff(wanted, self.client.request("GET", f"/indexes/{uid}/settings"))
        if diff:
            self.client.run("PATCH", f"/indexes/{uid}/settings", body=diff)
        self.note(index=uid, action="settings", changed=sorted(diff))
        return diff

    def send(self, uid: str, lines: list[bytes]) -> None:
        """One batch: enqueue, await, retry on a failed task; split in two when the payload is too large."""
        for attempt in range(self.cfg.retries + 1):
            try:
                self.client.run("POST", f"/indexes/{uid}/documents", params={"primaryKey": "id"},
                                content=b"".join(lines), content_type="application/x-ndjson")
                self.note(index=uid, action="documents", count=len(lines), attempt=attempt + 1)
                return
            except MeiliError as exc:
                if exc.code == "payload_too_large" and len(lines) > 1:
                    half = len(lines) // 2
                    self.note(index=uid, action="split", count=len(lines))
                    self.send(uid, lines[:half])
                    self.send(uid, lines[half:])
                    return
                self.note(index=uid, action="failed", code=exc.code, message=str(exc), attempt=attempt + 1)
                log.warning("%s", exc)
                if not exc.retryable or attempt == self.cfg.retries:
                    raise
                time.sleep(self.cfg.backoff * (2 ** attempt))

    def documents(self, uid: str, path: Path | None) -> int:
        sent = 0
        if path is not None:
            for batch in ndjson_batches(path, self.cfg.batch_bytes):
                self.send(uid, batch)
                sent += len(batch)
        return sent

    def deletes(self, uid: str, path: Path | None) -> int:
        ids = orjson.loads(path.read_bytes()) if path is not None else []
        for start in range(0, len(ids), 10_000):
            chunk = ids[start:start + 10_000]
            self.client.run("POST", f"/indexes/{uid}/documents/delete-batch", body=chunk)
            self.note(index=uid, action="deletes", count=len(chunk))
        return len(ids)

    def drop(self, uid: str) -> bool:
        """Delete index `uid` and await the task; False when it was not there (gone already is no error)."""
        if self.client.index(uid) is None:
            return False
        try:
            self.client.run("DELETE", f"/indexes/{uid}")
        except MeiliError as exc:
            if exc.code != "index_not_found":
                raise
            return False
        self.note(index=uid, action="dropped")
        return True

    def full(self, indexes: list[IndexFiles]) -> None:
        """Build every locale's fresh copy, swap all pairs at once, drop the old copies."""
        pairs = []
        for f in indexes:
            build = f"{f.uid}_build"
            self.drop(build)  # a crashed earlier run may have left one
            self.client.run("POST", "/indexes", body={"uid": build, "primaryKey": "id"})
            self.apply_settings(build, f.settings)
            self.documents(build, f.documents)
            if self.client.index(f.uid) is None:
                self.client.run("POST", "/indexes", body={"uid": f.uid, "primaryKey": "id"})
            pairs.append({"indexes": [f.uid, build]})
        self.client.run("POST", "/swap-indexes", body=pairs)
        self.note(action="swap", pairs=[p["indexes"] for p in pairs])
        for p in pairs:
            self.drop(p["indexes"][1])

    def incremental(self, f: IndexFiles) -> None:
        if self.client.index(f.uid) is None:
            raise MeiliError(f"index {f.uid} does not exist on {self.cfg.url}", code="index_not_found",
                             hint="rebuild it: pim publish --channel search --full")
        self.apply_settings(f.uid, f.settings)
        self.deletes(f.uid, f.deletes)
        self.documents(f.uid, f.documents)


def drop_indexes(cfg: MeiliConfig, uids: list[str]) -> list[str]:
    """Delete `uids` on the server (with the `<uid>_build` copy a crashed full rebuild may have left), each
    task awaited; returns the indexes that were there. One already gone is no error, so a drop that failed
    half-way is simply run again (`pim search drop`)."""
    client = MeiliClient(cfg)
    pusher = Pusher(client, cfg)
    try:
        return [name for uid in uids for name in (uid, f"{uid}_build") if pusher.drop(name)]
    finally:
        client.close()
