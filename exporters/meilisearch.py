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
  which loads them the same way with curl; payloads not loaded yet are kept under pending/ (write_embedded).
- `pim search drop` deletes a channel's indexes on a server (drop_indexes) or in an output folder
  (drop_embedded), so its push state can be forgotten and the channel's locale or the channel can go.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import shlex
import shutil
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
    """Without a server: the exact files that would be sent, a manifest saying what they are (mode and reason
    per index), and load.sh, which loads them as the exporter would (a rebuilt index filled beside the live one
    and swapped in). A payload nobody has loaded yet (manifest.json still there) is kept under pending/ and
    loaded first, so a later run never erases changes before they were loaded (keep_unloaded)."""
    from exporters.local import LocalExporter

    indexes = group_artifacts(artifacts)
    search = ctx.output_dir / "search"
    pending = keep_unloaded(search, _read_manifest(search), indexes)
    written = LocalExporter().push(artifacts, ctx)
    for f in indexes:  # a rebuilt index has no deletes: an earlier incremental run's file would mislead a loader
        if f.mode == "full":
            (search / f.uid / "deletes.json").unlink(missing_ok=True)
    reasons = {a.meta["index"]: a.meta.get("reason") for a in artifacts}
    deletes = {a.meta["index"]: a.rows for a in artifacts if a.meta["kind"] == "deletes"}
    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "job": ctx.job_id,
        "indexes": [{"uid": f.uid, "mode": f.mode, "reason": reasons.get(f.uid), "documents": f.rows,
                     "deletes": deletes.get(f.uid, 0)} for f in indexes],
        "pending": pending,
    }
    _write_loader(search, manifest)
    return [*written, str(search / "manifest.json"), str(search / LOAD_SCRIPT)]


# ---------------------------------------------------------------- the output folder's load procedure
#: The files write_embedded leaves per index in the output folder's search/<uid>/.
EMBEDDED_FILES = ("settings.json", "documents.ndjson", "deletes.json")
LOAD_SCRIPT = "load.sh"
LOAD_HOW = ("MEILI_URL=http://… MEILI_MASTER_KEY=… bash load.sh (or MEILI_API_KEY with write rights): loads the "
            "pending runs, oldest first, then this one, awaiting each task; stops at the first failure and may be "
            "run again. Once all is loaded it removes manifest.json and pending/: the next publish then replaces "
            "these files instead of keeping them.")
_JSON, _NDJSON = "-H 'Content-Type: application/json'", "-H 'Content-Type: application/x-ndjson'"
_PRELUDE = r'''#!/usr/bin/env bash
# Written by `pim publish --channel search` (no MEILI_URL): loads this folder's payloads into Meilisearch.
set -euo pipefail
cd "$(dirname "$0")"
[ -f manifest.json ] || { echo "nothing to load: manifest.json is gone (all loaded); publish again for new changes" >&2; exit 0; }
: "${MEILI_URL:?set MEILI_URL to the Meilisearch server, e.g. http://127.0.0.1:7700, and MEILI_MASTER_KEY}"
KEY="${MEILI_MASTER_KEY:-${MEILI_API_KEY:-}}"
AUTH=(); [ -z "$KEY" ] || AUTH=(-H "Authorization: Bearer $KEY")  # a server without a master key needs none
task() {  # METHOD PATH [curl options]: send, then await the task; with OK=CODE a task failing with CODE is fine
  local reply uid state
  reply=$(curl -sS --fail-with-body -X "$1" "${MEILI_URL%/}$2" ${AUTH[@]+"${AUTH[@]}"} "${@:3}") || {
    echo "Meilisearch refused $1 $2: $reply" >&2
    if grep -Eq 'missing_authorization_header|invalid_api_key' <<<"$reply"; then
      echo "set MEILI_MASTER_KEY (or MEILI_API_KEY) to a key allowed to write to the indexes, then run this again" >&2
    fi
    return 1; }
  uid=$(sed -n 's/.*"taskUid": *\([0-9][0-9]*\).*/\1/p' <<<"$reply")
  [ -n "$uid" ] || { echo "no task in Meilisearch's answer to $1 $2: $reply" >&2; return 1; }
  while state=$(curl -sS --fail-with-body "${MEILI_URL%/}/tasks/$uid" ${AUTH[@]+"${AUTH[@]}"}); do
    if grep -Eq '"status": *"succeeded"' <<<"$state"; then return 0; fi
    if grep -Eq '"status": *"(failed|canceled)"' <<<"$state"; then
      if [ -n "${OK:-}" ] && grep -Eq "\"code\": *\"$OK\"" <<<"$state"; then return 0; fi
      echo "task $uid ($1 $2) did not succeed: $state" >&2; return 1
    fi
    sleep 0.2
  done
  echo "could not read task $uid at $MEILI_URL: $state" >&2; return 1
}
need_index() {  # UID: changes are loaded only into an index that is there
  curl -sS --fail-with-body -o /dev/null "${MEILI_URL%/}/indexes/$1" ${AUTH[@]+"${AUTH[@]}"} || {
    echo "index $1 is not on $MEILI_URL, and these files hold only changes: rebuild it with" \
         "pim publish --channel search --full, then run this again" >&2
    exit 1; }
}'''


def load_lines(manifest: dict[str, Any]) -> list[str]:
    """load.sh, line by line: each pending run, oldest first, then the manifest's own run, pushed as the
    exporter pushes one (Pusher.full, Pusher.incremental); removing the manifest last marks all loaded."""
    lines = _PRELUDE.splitlines()
    for run in [*manifest.get("pending", []), {**manifest, "folder": ""}]:
        if run["indexes"]:
            lines += [f"# job {run.get('job')}, written at {run.get('written_at')}", *_run_lines(run)]
    return [*lines, "rm -rf pending manifest.json", 'echo "loaded into $MEILI_URL"']


def _run_lines(run: dict[str, Any]) -> list[str]:
    """One run: rebuilt indexes filled beside the live ones and swapped in by one call (every locale at once),
    then the others updated in place: settings, deletes, documents."""
    q, lines = shlex.quote, []
    full = [e for e in run["indexes"] if e["mode"] == "full"]
    for e in full:
        uid, build, where = e["uid"], f"{e['uid']}_build", _entry_folder(run, e)
        lines += [f"OK=index_not_found task DELETE /indexes/{q(build)}",  # a load that failed may have left one
                  f"task POST /indexes {_JSON} --data-binary {q(_compact({'uid': build, 'primaryKey': 'id'}))}",
                  f"task PATCH /indexes/{q(build)}/settings {_JSON} --data-binary @{q(where + '/settings.json')}"]
        if e.get("documents"):
            lines.append(f"task POST {q('/indexes/' + build + '/documents?primaryKey=id')} {_NDJSON} "
                         f"--data-binary @{q(where + '/documents.ndjson')}")
        lines.append(f"OK=index_already_exists task POST /indexes {_JSON} "
                     f"--data-binary {q(_compact({'uid': uid, 'primaryKey': 'id'}))}")
    if full:
        pairs = [{"indexes": [e["uid"], f"{e['uid']}_build"]} for e in full]
        lines.append(f"task POST /swap-indexes {_JSON} --data-binary {q(_compact(pairs))}")
        lines += [f"task DELETE /indexes/{q(e['uid'] + '_build')}" for e in full]
    for e in run["indexes"]:
        if e["mode"] == "full":
            continue
        uid, where = e["uid"], _entry_folder(run, e)
        lines += [f"need_index {q(uid)}",
                  f"task PATCH /indexes/{q(uid)}/settings {_JSON} --data-binary @{q(where + '/settings.json')}"]
        if e.get("deletes"):
            lines.append(f"task POST /indexes/{q(uid)}/documents/delete-batch {_JSON} "
                         f"--data-binary @{q(where + '/deletes.json')}")
        if e.get("documents"):
            lines.append(f"task POST {q('/indexes/' + uid + '/documents?primaryKey=id')} {_NDJSON} "
                         f"--data-binary @{q(where + '/documents.ndjson')}")
    return lines


def _entry_folder(run: dict[str, Any], entry: dict[str, Any]) -> str:
    """Where an index's files of `run` are, relative to search/: <uid> for the latest run, else under pending/."""
    return f"{run['folder']}/{entry['uid']}" if run.get("folder") else entry["uid"]


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def _read_manifest(search: Path) -> dict[str, Any] | None:
    path = search / "manifest.json"
    if not path.is_file():
        return None
    try:
        return orjson.loads(path.read_bytes())  # type: ignore[no-any-return]
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}), so which payloads there are loaded is unknown",
                          hint="delete it and publish again with --full: a rebuild needs none of the payloads "
                               "written before") from exc


def _write_loader(search: Path, manifest: dict[str, Any]) -> None:
    """manifest.json, with load.sh's lines as its `load`, and load.sh itself (executable)."""
    lines = load_lines(manifest)
    script = search / LOAD_SCRIPT
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    script.chmod(0o755)
    body = {**manifest, "load_how": LOAD_HOW, "load": lines}
    (search / "manifest.json").write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))


def keep_unloaded(search: Path, previous: dict[str, Any] | None, indexes: list[IndexFiles]) -> list[dict[str, Any]]:
    """The earlier runs whose payloads are not loaded yet, oldest first, for the new manifest's `pending`.

    A folder target's watermark moves when the files are written, not when someone loads them, so a run that
    replaced unloaded files would lose their changes (a 0-document incremental run erasing a full payload).
    Hence: while manifest.json is there (load.sh removes it once all is loaded), the previous run's files are
    linked under pending/job-<id>/ before this run's replace them. Payloads a run makes moot go: every earlier
    one of an index this run rebuilds, and incremental ones with no documents and no deletes (this run's
    settings replace theirs). Without a manifest, pending/ is what load.sh has loaded: it goes."""
    if previous is None:
        shutil.rmtree(search / "pending", ignore_errors=True)
        return []
    rebuilt = {f.uid for f in indexes if f.mode == "full"}
    latest = {"job": previous.get("job"), "written_at": previous.get("written_at"), "folder": "",
              "indexes": previous.get("indexes", [])}
    runs = []
    for run in [*previous.get("pending", []), latest]:
        kept = [e for e in run["indexes"] if e["uid"] not in rebuilt and _has_payload(search, run, e)]
        if kept:
            runs.append({**run, "indexes": kept})
    if runs and not runs[-1]["folder"]:  # the latest run is kept: its files are about to be replaced
        runs[-1] = _set_aside(search, runs[-1])
    _sweep_pending(search, runs)
    return runs


def _has_payload(search: Path, run: dict[str, Any], entry: dict[str, Any]) -> bool:
    if entry.get("mode") == "full" or entry.get("documents"):
        return True
    if "deletes" in entry:
        return bool(entry["deletes"])
    return bool(_count_ids(search / _entry_folder(run, entry) / "deletes.json"))  # a manifest from before round 32


def _count_ids(path: Path) -> int:
    return len(orjson.loads(path.read_bytes())) if path.is_file() else 0


def _set_aside(search: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Link the latest run's files under pending/ (a copy where links are not possible): this run's files then
    replace the originals, the links keep the old content. A link already there stays: a publish that died
    after linking may have replaced some originals since."""
    name = f"job-{run['job']}" if run.get("job") is not None else "run-" + "".join(
        c for c in str(run.get("written_at")) if c.isalnum())
    folder = f"pending/{name}"
    for e in run["indexes"]:
        (search / folder / e["uid"]).mkdir(parents=True, exist_ok=True)
        for file in EMBEDDED_FILES:
            source, kept = search / e["uid"] / file, search / folder / e["uid"] / file
            if source.is_file() and not kept.exists():
                try:
                    os.link(source, kept)
                except OSError:
                    shutil.copy2(source, kept)
    return {**run, "folder": folder}


def _sweep_pending(search: Path, runs: list[dict[str, Any]]) -> None:
    """Remove what under pending/ no kept run names (payloads made moot, or loaded)."""
    wanted = {r["folder"]: {e["uid"] for e in r["indexes"]} for r in runs}
    root = search / "pending"
    if not root.is_dir():
        return
    for run_dir in root.iterdir():
        uids = wanted.get(f"pending/{run_dir.name}")
        if uids is None:
            shutil.rmtree(run_dir, ignore_errors=True)
            continue
        for index_dir in run_dir.iterdir():
            if index_dir.name not in uids:
                shutil.rmtree(index_dir, ignore_errors=True)
    if not any(root.iterdir()):
        root.rmdir()


# ---------------------------------------------------------------- dropping a channel's indexes
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
    index's files under search/<uid>/ (the folder too, once empty), its unloaded payloads under pending/ and
    its entries in search/manifest.json, which goes (with load.sh) when no entry is left; else load.sh is
    written anew without them. Returns the indexes that had files there; other files stay."""
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
    manifest = _read_manifest(search)
    if manifest is None:
        return dropped
    gone = set(uids)
    pending = [{**r, "indexes": [e for e in r["indexes"] if e["uid"] not in gone]} for r in manifest.get("pending", [])]
    pending = [r for r in pending if r["indexes"]]
    kept = [i for i in manifest.get("indexes", []) if i.get("uid") not in gone]
    _sweep_pending(search, pending)
    if kept or pending:
        body = {k: v for k, v in manifest.items() if k not in ("load", "load_how")}
        _write_loader(search, {**body, "indexes": kept, "pending": pending})
    else:
        (search / "manifest.json").unlink()
        (search / LOAD_SCRIPT).unlink(missing_ok=True)
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
