"""Pushes the search channel's files to Meilisearch, or, without MEILI_URL, writes them to the output dir.

- Settings are compared with the live ones and only the differing keys are PATCHed.
- Documents go in batches sized by payload bytes (NDJSON lines, never split); every task is awaited. A failed
  task is reported with Meilisearch's own error (code, message) and its batch is retried; a 413 splits it.
- A full rebuild fills fresh `<uid>_build` indexes, swaps every locale's pair in one atomic `swap-indexes`
  and deletes the old copies: a search sees the old index or the new one, never one half built. Each index
  has its own mode: after `pim search drop --locale` one locale is rebuilt that way while the others are
  updated in place.
- Tenant tokens are HS256 JWTs signed with a search API key (Meilisearch's documented payload).
- `pim search drop` deletes a channel's indexes on a server (drop_indexes) or in an output folder
  (drop_embedded), so its push state can be forgotten and the channel's locale or the channel can go.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pim.errors import ConfigError, DeliveryError
from pim.protocols import Artifact, PublishContext

log = logging.getLogger("pim.search")

#: A retry cannot fix these: the documents themselves are wrong.
PERMANENT = {"invalid_document_id", "missing_document_id", "index_primary_key_no_candidate_found",
             "index_primary_key_multiple_candidates_found", "invalid_document_fields", "missing_document_filter"}
#: Settings keys whose order carries no meaning.
UNORDERED = {"filterableAttributes", "sortableAttributes", "stopWords", "disableOnAttributes", "disableOnWords"}


@dataclass
class MeiliConfig:
    url: str | None = None
    key: str | None = None
    batch_bytes: int = 8 * 1024 * 1024
    retries: int = 3
    backoff: float = 0.5
    task_timeout: float = 600.0
    request_timeout: float = 60.0

    @classmethod
    def from_env(cls) -> "MeiliConfig":
        env = os.environ
        return cls(
            url=env.get("MEILI_URL") or None,
            key=env.get("MEILI_MASTER_KEY") or env.get("MEILI_API_KEY") or None,
            batch_bytes=int(env.get("MEILI_BATCH_BYTES", 8 * 1024 * 1024)),
            retries=int(env.get("MEILI_RETRIES", 3)),
            backoff=float(env.get("MEILI_BACKOFF", 0.5)),
            task_timeout=float(env.get("MEILI_TASK_TIMEOUT", 600)),
        )


class MeiliError(DeliveryError):
    """An error Meilisearch reported, with its own code and message."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None, retryable: bool = False,
                 hint: str | None = None) -> None:
        super().__init__(message, retryable=retryable, hint=hint)
        self.code, self.status = code, status


class TaskFailed(MeiliError):
    def __init__(self, task: dict[str, Any]) -> None:
        error = task.get("error") or {}
        code = error.get("code", "unknown")
        super().__init__(f"Meilisearch task {task.get('uid')} ({task.get('type')} on {task.get('indexUid')}) "
                         f"failed: {code}: {error.get('message', '')}", code=code, retryable=code not in PERMANENT)
        self.task = task


# ---------------------------------------------------------------- HTTP client
class MeiliClient:
    """The few endpoints the exporter uses, over httpx. Transport failures and 5xx are retried here."""

    def __init__(self, cfg: MeiliConfig, key: str | None = None) -> None:
        import httpx

        if not cfg.url:
            raise ConfigError("MEILI_URL is not set", hint="export MEILI_URL=http://127.0.0.1:7700 (and MEILI_MASTER_KEY)")
        self.cfg = cfg
        headers = {"Authorization": f"Bearer {key or cfg.key}"} if (key or cfg.key) else {}
        self.http = httpx.Client(base_url=cfg.url.rstrip("/"), headers=headers, timeout=cfg.request_timeout)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, body: Any = None, content: bytes | None = None,
                content_type: str = "application/json", params: dict[str, Any] | None = None) -> Any:
        import httpx

        data = content if content is not None else (orjson.dumps(body) if body is not None else None)
        headers = {"Content-Type": content_type} if data is not None else {}
        for attempt in range(self.cfg.retries + 1):
            try:
                r = self.http.request(method, path, content=data, headers=headers, params=params)
            except httpx.TransportError as exc:
                if attempt == self.cfg.retries:
                    raise MeiliError(f"Meilisearch unreachable at {self.cfg.url}: {exc}", retryable=True) from exc
                self._pause(attempt)
                continue
            if r.status_code >= 500 or r.status_code == 429:
                if attempt < self.cfg.retries:
                    self._pause(attempt)
                    continue
            if r.status_code >= 400:
                raise self._error(r, method, path)
            return r.json() if r.content else None
        raise AssertionError("unreachable")

    def _pause(self, attempt: int) -> None:
        time.sleep(self.cfg.backoff * (2 ** attempt))

    @staticmethod
    def _error(r: Any, method: str, path: str) -> MeiliError:
        try:
            e = r.json()
        except ValueError:
            e = {"message": r.text[:200], "code": ""}
        hint = None
        if r.status_code in (401, 403):
            hint = "set MEILI_MASTER_KEY (or MEILI_API_KEY) to a key allowed to do this"
        return MeiliError(f"Meilisearch refused {method} {path} ({r.status_code}): {e.get('code', '')}: {e.get('message', '')}",
                          code=e.get("code", ""), status=r.status_code, retryable=r.status_code >= 500, hint=hint)

    def wait(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Poll the task until it has finished; return it (the caller decides what a failure means)."""
        uid = summary["taskUid"]
        deadline = time.monotonic() + self.cfg.task_timeout
        delay = 0.002
        while True:
            task = self.request("GET", f"/tasks/{uid}")
            if task["status"] in ("succeeded", "failed", "canceled"):
                return task
            if time.monotonic() > deadline:
                raise MeiliError(f"Meilisearch task {uid} still {task['status']} after {self.cfg.task_timeout:.0f}s",
                                 retryable=True, hint="raise MEILI_TASK_TIMEOUT or check the server's task queue")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def run(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """Enqueue a task and await it; a failed task raises TaskFailed."""
        task = self.wait(self.request(method, path, **kw))
        if task["status"] != "succeeded":
            raise TaskFailed(task)
        return task

    def index(self, uid: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/indexes/{uid}")
        except MeiliError as exc:
            if exc.code == "index_not_found":
                return None
            raise


# ---------------------------------------------------------------- pushing
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
    batch: list[bytes] = []
    size = 0
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            if batch and size + len(line) > limit:
                yield batch
                batch, size = [], 0
            batch.append(line)
            size += len(line)
    if batch:
        yield batch


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


class MeilisearchExporter:
    name = "meilisearch"

    def __init__(self, config: MeiliConfig | None = None) -> None:
        self.config = config

    def push(self, artifacts: list[Artifact], ctx: PublishContext) -> list[str]:
        cfg = self.config or ctx.options.get("meili_config") or MeiliConfig.from_env()
        if not cfg.url:
            return write_embedded(artifacts, ctx)
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


def write_embedded(artifacts: list[Artifact], ctx: PublishContext) -> list[str]:
    """Without a server: the exact files that would be sent, plus a manifest saying how to load them."""
    from exporters.local import LocalExporter

    indexes = group_artifacts(artifacts)
    written = LocalExporter().push(artifacts, ctx)
    for f in indexes:  # a rebuilt index has no deletes: an earlier incremental run's file would mislead a loader
        if f.mode == "full":
            (ctx.output_dir / "search" / f.uid / "deletes.json").unlink(missing_ok=True)
    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "indexes": [{"uid": f.uid, "mode": f.mode, "documents": f.rows} for f in indexes],
        "load": [
            "curl -X PATCH $MEILI_URL/indexes/UID/settings -H 'Content-Type: application/json' --data-binary @UID/settings.json",
            "curl -X POST '$MEILI_URL/indexes/UID/documents?primaryKey=id' -H 'Content-Type: application/x-ndjson' --data-binary @UID/documents.ndjson",
            "curl -X POST $MEILI_URL/indexes/UID/documents/delete-batch -H 'Content-Type: application/json' --data-binary @UID/deletes.json",
        ],
    }
    path = ctx.output_dir / "search" / "manifest.json"
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return [*written, str(path)]


# ---------------------------------------------------------------- dropping a channel's indexes
#: The files write_embedded leaves per index in the output folder's search/<uid>/.
EMBEDDED_FILES = ("settings.json", "documents.ndjson", "deletes.json")


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


def drop_embedded(folder: Path, uids: list[str]) -> list[str]:
    """Remove what write_embedded (or the local exporter) wrote for `uids` in output folder `folder`: each
    index's files under search/<uid>/ (the folder too, once empty) and its entry in search/manifest.json,
    which goes when no entry is left. Returns the indexes that had files there; other files stay."""
    search = folder / "search"
    dropped = []
    for uid in uids:
        found = [f for f in (search / uid / name for name in EMBEDDED_FILES) if f.is_file()]
        for f in found:
            f.unlink()
        if (search / uid).is_dir() and not any((search / uid).iterdir()):
            (search / uid).rmdir()
        if found:
            dropped.append(uid)
    manifest = search / "manifest.json"
    if manifest.is_file():
        data = orjson.loads(manifest.read_bytes())
        listed = data.get("indexes", [])
        kept = [i for i in listed if i.get("uid") not in uids]
        if len(kept) != len(listed):
            if kept:
                manifest.write_bytes(orjson.dumps({**data, "indexes": kept}, option=orjson.OPT_INDENT_2))
            else:
                manifest.unlink()
    return dropped


# ---------------------------------------------------------------- tenant tokens
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def tenant_token(api_key: str, api_key_uid: str, search_rules: dict[str, Any] | list[str],
                 expires_at: datetime | None = None) -> str:
    """A JWT (HS256) that Meilisearch verifies with the API key `api_key_uid` names and whose searchRules filter
    every search made with it. Never sign with the master key (Meilisearch refuses it)."""
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    claims: dict[str, Any] = {"searchRules": search_rules, "apiKeyUid": api_key_uid}
    if expires_at is not None:
        claims["exp"] = int(expires_at.timestamp())
    payload = _b64(orjson.dumps(claims))
    signature = hmac.new(api_key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def search_api_key(cfg: MeiliConfig) -> tuple[str, str]:
    """(key, uid) of a key allowed to search: MEILI_SEARCH_API_KEY(+_UID), else looked up with the master key."""
    key, uid = os.environ.get("MEILI_SEARCH_API_KEY"), os.environ.get("MEILI_SEARCH_API_KEY_UID")
    if key and uid:
        return key, uid
    if not cfg.url:
        raise ConfigError("no search API key to sign tenant tokens with",
                          hint="set MEILI_SEARCH_API_KEY and MEILI_SEARCH_API_KEY_UID, or MEILI_URL and MEILI_MASTER_KEY")
    client = MeiliClient(cfg)
    try:
        keys = client.request("GET", "/keys", params={"limit": 1000})["results"]
    finally:
        client.close()
    usable = [k for k in keys if ("search" in k["actions"] or "*" in k["actions"])
              and (k.get("expiresAt") is None or k["expiresAt"] > datetime.now(UTC).isoformat())]
    usable.sort(key=lambda k: k["actions"] != ["search"])  # prefer a search-only key
    if not usable:
        raise ConfigError("Meilisearch has no API key with the search action",
                          hint="create one: POST /keys {\"actions\": [\"search\"], \"indexes\": [\"*\"], \"expiresAt\": null}")
    return usable[0]["key"], usable[0]["uid"]
