"""TEST DOUBLE — NOT MEILISEARCH. A contract double of the Meilisearch HTTP API for the tests.

No Meilisearch server can be installed from this project's package registries, so this small real HTTP server
(ThreadingHTTPServer on 127.0.0.1) implements the endpoints the exporter uses and enforces the rules
Meilisearch documents, so that the exporter is tested against behaviour, not against itself:

- auth: `Authorization: Bearer <master key | API key | tenant token>`; 401 missing_authorization_header,
  403 invalid_api_key. Tenant tokens (HS256/384/512 JWT) are verified: signature with the API key that
  `apiKeyUid` names, expiry, the key's `search` action, and their searchRules filter is ANDed into /search;
- tasks: every write is a task, `enqueued` → `processing` → `succeeded`/`failed`, processed in order by one
  worker thread; GET /tasks/:uid;
- documents: ids only `a-zA-Z0-9-_`, ≤ 511 bytes (else the task fails with invalid_document_id); a document
  without the primary key fails the task with missing_document_id; a failed task changes nothing;
- payload limit: a body over `payload_limit` bytes is refused with 413 payload_too_large (default 100 MB);
- indexes (create/get/list/delete, index_already_exists, index_not_found), settings (GET with defaults,
  PATCH), documents add/replace (JSON array or NDJSON), delete-batch, swap-indexes (atomic), /keys, and
  /search with q, filter (string or array syntax), facets, sort, distinctAttribute, offset/limit, and hits
  holding only the displayedAttributes (top-level names).

Fault injection for tests: `fail_next(task_type, code, times)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import queue
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.meili_filter import FilterError, compile_filter

DOC_ID = re.compile(r"^[A-Za-z0-9_-]+$")
INDEX_UID = re.compile(r"^[A-Za-z0-9_-]{1,400}$")
DEFAULT_SETTINGS: dict[str, Any] = {
    "displayedAttributes": ["*"], "searchableAttributes": ["*"], "filterableAttributes": [],
    "sortableAttributes": [], "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
    "stopWords": [], "nonSeparatorTokens": [], "separatorTokens": [], "dictionary": [], "synonyms": {},
    "distinctAttribute": None, "proximityPrecision": "byWord",
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
                      "disableOnWords": [], "disableOnAttributes": [], "disableOnNumbers": False},
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000}, "searchCutoffMs": None,
}
HS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.code, self.kind = status, code, kind

    def body(self) -> dict[str, Any]:
        return {"message": str(self), "code": self.code, "type": self.kind,
                "link": f"https://docs.meilisearch.com/errors#{self.code}"}


class TaskError(Exception):
    def __init__(self, code: str, message: str, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.code, self.kind = code, kind


@dataclass
class Index:
    uid: str
    primary_key: str | None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_SETTINGS)))

    def describe(self) -> dict[str, Any]:
        return {"uid": self.uid, "primaryKey": self.primary_key, "createdAt": self.created_at, "updatedAt": self.updated_at}


class MeiliDouble:
    """State and rules. `handler` serves it over HTTP."""

    def __init__(self, master_key: str = "double-master-key", payload_limit: int = 100 * 1024 * 1024,
                 document_payload_limit: int | None = None) -> None:
        self.master_key = master_key
        self.payload_limit = payload_limit
        #: Test knob, not a Meilisearch setting: a lower limit for document payloads only, so a test can force
        #: batch splits without also refusing the (larger) settings payload.
        self.document_payload_limit = document_payload_limit
        self.indexes: dict[str, Index] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.work: dict[int, Any] = {}
        self.lock = threading.RLock()
        self.queue: queue.Queue[int | None] = queue.Queue()
        self.uids = itertools.count()
        self.failures: list[dict[str, Any]] = []
        self.search_log: list[dict[str, Any]] = []  # every /search: which index answered, how many hits
        self.keys = [self._key("Default Search API Key", ["search"]),
                     self._key("Default Admin API Key", ["*"])]
        self.worker = threading.Thread(target=self._run, daemon=True, name="meili-double-tasks")
        self.worker.start()

    def _key(self, name: str, actions: list[str]) -> dict[str, Any]:
        uid = str(uuid.uuid4())
        return {"name": name, "description": name, "uid": uid, "actions": actions, "indexes": ["*"],
                "expiresAt": None, "createdAt": _now(), "updatedAt": _now(),
                "key": hmac.new(self.master_key.encode(), uid.encode(), hashlib.sha256).hexdigest()}

    @property
    def search_key(self) -> dict[str, Any]:
        return self.keys[0]

    def fail_next(self, task_type: str, code: str = "internal", times: int = 1,
                  message: str = "injected failure (test double)") -> None:
        self.failures.append({"type": task_type, "code": code, "times": times, "message": message})

    def stop(self) -> None:
        self.queue.put(None)

    # ---------------------------------------------------------------- tasks
    def enqueue(self, kind: str, index_uid: str | None, work: Any, details: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            uid = next(self.uids)
            self.tasks[uid] = {"uid": uid, "batchUid": None, "indexUid": index_uid, "status": "enqueued", "type": kind,
                               "canceledBy": None, "details": details or {}, "error": None, "duration": None,
                               "enqueuedAt": _now(), "startedAt": None, "finishedAt": None}
            self.work[uid] = work
        self.queue.put(uid)
        return {"taskUid": uid, "indexUid": index_uid, "status": "enqueued", "type": kind, "enqueuedAt": self.tasks[uid]["enqueuedAt"]}

    def _run(self) -> None:
        while (uid := self.queue.get()) is not None:
            with self.lock:
                task = self.tasks[uid]
                task.update(status="processing", startedAt=_now(), batchUid=uid)
            started = time.perf_counter()
            try:
                self._inject(task["type"])
                with self.lock:
                    self.work.pop(uid)()
                status, error = "succeeded", None
            except TaskError as exc:
                status, error = "failed", {"message": str(exc), "code": exc.code, "type": exc.kind,
                                           "link": f"https://docs.meilisearch.com/errors#{exc.code}"}
            with self.lock:
                task.update(status=status, error=error, finishedAt=_now(),
                            duration=f"PT{time.perf_counter() - started:.6f}S")

    def _inject(self, kind: str) -> None:
        with self.lock:
            for f in self.failures:
                if f["type"] == kind and f["times"] > 0:
                    f["times"] -= 1
                    raise TaskError(f["code"], f["message"], "internal")

    # ---------------------------------------------------------------- work (runs on the worker thread)
    def _index(self, uid: str) -> Index:
        if uid not in self.indexes:
            raise TaskError("index_not_found", f"Index `{uid}` not found.")
        return self.indexes[uid]

    def create_index(self, uid: str, primary_key: str | None) -> None:
        if uid in self.indexes:
            raise TaskError("index_already_exists", f"Index `{uid}` already exists.")
        self.indexes[uid] = Index(uid, primary_key)

    def delete_index(self, uid: str) -> None:
        self._index(uid)
        del self.indexes[uid]

    def add_documents(self, uid: str, docs: list[dict[str, Any]], primary_key: str | None, replace: bool) -> None:
        index = self.indexes.get(uid) or Index(uid, None)
        pk = index.primary_key or primary_key or self._infer_pk(docs)
        if index.primary_key and primary_key and primary_key != index.primary_key:
            raise TaskError("index_primary_key_already_exists", f"Index `{uid}`: primary key already set.")
        staged: dict[str, dict[str, Any]] = {}
        for doc in docs:
            if pk not in doc:
                raise TaskError("missing_document_id", f"Document doesn't have a `{pk}` attribute: `{json.dumps(doc)[:200]}`.")
            raw = doc[pk]
            ident = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
            if not isinstance(ident, str) or not DOC_ID.match(ident) or len(ident.encode()) > 511:
                raise TaskError("invalid_document_id", f"Document identifier `{json.dumps(raw)}` is invalid. A document "
                                "identifier can be of type integer or string, only composed of alphanumeric characters "
                                "(a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.")
            old = staged.get(ident) or index.documents.get(ident)
            staged[ident] = doc if replace or old is None else {**old, **doc}
        index.primary_key = pk
        index.documents.update(staged)
        index.updated_at = _now()
        self.indexes[uid] = index

    @staticmethod
    def _infer_pk(docs: list[dict[str, Any]]) -> str:
        candidates = [k for k in (docs[0] if docs else {}) if k.lower().endswith("id")]
        if len(candidates) != 1:
            code = "index_primary_key_no_candidate_found" if not candidates else "index_primary_key_multiple_candidates_found"
            raise TaskError(code, "The primary key inference failed: give the primary key explicitly.")
        return candidates[0]

    def delete_documents(self, uid: str, ids: list[Any]) -> None:
        index = self._index(uid)
        for i in ids:
            index.documents.pop(str(i), None)

    def update_settings(self, uid: str, patch: dict[str, Any]) -> None:
        index = self.indexes.get(uid)
        if index is None:
            index = self.indexes[uid] = Index(uid, None)
        for key, value in patch.items():
            if isinstance(value, dict) and isinstance(index.settings.get(key), dict) and key != "synonyms":
                index.settings[key] = {**index.settings[key], **value}
            else:
                index.settings[key] = DEFAULT_SETTINGS[key] if value is None else value

    def swap(self, pairs: list[list[str]]) -> None:
        for a, b in pairs:
            self._index(a), self._index(b)
        for a, b in pairs:
            ia, ib = self.indexes[a], self.indexes[b]
            ia.uid, ib.uid = b, a
            self.indexes[a], self.indexes[b] = ib, ia

    # ---------------------------------------------------------------- auth
    def authorize(self, header: str | None, action: str, index: str | None) -> dict[str, Any] | None:
        """Returns the tenant token's search rule for this index (or None for a key)."""
        if not header:
            raise ApiError(401, "missing_authorization_header", "The Authorization header is missing. It must use the bearer authorization method.", "auth")
        token = header.removeprefix("Bearer ").strip()
        if hmac.compare_digest(token, self.master_key):
            return None
        for key in self.keys:
            if hmac.compare_digest(token, key["key"]):
                if action not in key["actions"] and "*" not in key["actions"]:
                    break
                return None
        if token.count(".") == 2 and action == "search":
            return self._tenant(token, index)
        raise ApiError(403, "invalid_api_key", "The provided API key is invalid.", "auth")

    def _tenant(self, token: str, index: str | None) -> dict[str, Any]:
        invalid = ApiError(403, "invalid_api_key", "The provided API key is invalid.", "auth")
        try:
            h, p, s = token.split(".")
            header = json.loads(_unb64(h))
            claims = json.loads(_unb64(p))
        except (ValueError, UnicodeDecodeError):
            raise invalid from None
        key = next((k for k in self.keys if k["uid"] == claims.get("apiKeyUid")), None)
        digest = HS.get(header.get("alg", ""))
        if key is None or digest is None or ("search" not in key["actions"] and "*" not in key["actions"]):
            raise invalid
        expected = hmac.new(key["key"].encode(), f"{h}.{p}".encode(), digest).digest()
        if not hmac.compare_digest(expected, _unb64(s)):
            raise invalid
        exp = claims.get("exp")
        if exp is not None and exp < time.time():
            raise ApiError(403, "invalid_api_key", "The provided API key is invalid. Tenant token expired.", "auth")
        rules = claims.get("searchRules")
        if isinstance(rules, list):
            rules = {r: None for r in rules}
        if not isinstance(rules, dict):
            raise invalid
        rule = _rule_for(rules, index or "")
        if rule is False:
            raise invalid
        return rule or {}

    # ---------------------------------------------------------------- search
    def search(self, uid: str, body: dict[str, Any], rule: dict[str, Any] | None) -> dict[str, Any]:
        with self.lock:
            index = self.indexes.get(uid)
            if index is None:
                raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")
            docs = list(index.documents.values())
            settings = json.loads(json.dumps(index.settings))
        filterable = settings["filterableAttributes"]
        tests = []
        try:
            for expr in ((rule or {}).get("filter"), body.get("filter")):
                if expr:
                    tests.append(compile_filter(expr, filterable))
        except FilterError as exc:
            raise ApiError(400, "invalid_search_filter", str(exc)) from None
        for f in body.get("facets") or []:
            if not _allowed(f, filterable):
                raise ApiError(400, "invalid_search_facets", f"Attribute `{f}` is not filterable.")
        terms = [t for t in re.split(r"\W+", (body.get("q") or "").lower()) if t]
        searchable = settings["searchableAttributes"]
        hits = [d for d in docs if all(t(d) for t in tests) and _matches(d, terms, searchable)]
        for s in reversed(body.get("sort") or []):
            attr, _, direction = s.partition(":")
            if not _allowed(attr, settings["sortableAttributes"]):
                raise ApiError(400, "invalid_search_sort", f"Attribute `{attr}` is not sortable.")
            hits.sort(key=lambda d: (_get(d, attr) is None, _get(d, attr) or 0), reverse=direction == "desc")
        facets: dict[str, dict[str, int]] = {}
        for f in body.get("facets") or []:
            counts: dict[str, int] = {}
            for d in hits:
                v = _get(d, f)
                for item in v if isinstance(v, list) else [v]:
                    if item is not None:
                        key = str(item).lower() if isinstance(item, bool) else str(item)
                        counts[key] = counts.get(key, 0) + 1
            facets[f] = counts
        distinct = body.get("distinct") or settings["distinctAttribute"]
        if distinct:
            seen: set[str] = set()
            unique = []
            for d in hits:
                v = json.dumps(_get(d, distinct))
                if v not in seen or _get(d, distinct) is None:
                    seen.add(v)
                    unique.append(d)
            hits = unique
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 20))
        self.search_log.append({"index": uid, "hits": len(hits)})
        shown = settings["displayedAttributes"]  # hits hold only the displayed fields (top-level names here)
        page = [d if "*" in shown else {k: v for k, v in d.items() if k in shown} for d in hits[offset:offset + limit]]
        out: dict[str, Any] = {"hits": page, "query": body.get("q") or "", "processingTimeMs": 0,
                               "limit": limit, "offset": offset, "estimatedTotalHits": len(hits)}
        if body.get("facets"):
            out["facetDistribution"] = facets
        return out


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _rule_for(rules: dict[str, Any], index: str) -> dict[str, Any] | None | bool:
    """The most specific rule that covers `index`; False when none does."""
    if index in rules:
        return rules[index]
    prefixes = [k for k in rules if k.endswith("*") and index.startswith(k[:-1])]
    if prefixes:
        return rules[max(prefixes, key=len)]
    return False


def _allowed(attr: str, allowed: list[str]) -> bool:
    return "*" in allowed or any(attr == a or attr.startswith(a + ".") for a in allowed)


def _get(doc: dict[str, Any], path: str) -> Any:
    if path in doc:
        return doc[path]
    value: Any = doc
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [] if value is None else [str(value)]


def _matches(doc: dict[str, Any], terms: list[str], searchable: list[str]) -> bool:
    if not terms:
        return True
    fields = [doc] if "*" in searchable else [_get(doc, a) for a in searchable]
    words = {w for text in _strings(fields) for w in re.split(r"\W+", text.lower()) if w}
    return all(any(w.startswith(t) for w in words) for t in terms)


# ---------------------------------------------------------------- HTTP
def make_handler(double: MeiliDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms per call.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            limit = double.payload_limit
            if double.document_payload_limit is not None and urlparse(self.path).path.endswith("/documents"):
                limit = min(limit, double.document_payload_limit)
            if length > limit:
                self.rfile.read(length)
                raise ApiError(413, "payload_too_large", "The provided payload reached the size limit. The maximum "
                               f"accepted payload size is {limit} bytes.")
            return self.rfile.read(length) if length else b""

        def _json(self, raw: bytes) -> Any:
            try:
                return json.loads(raw or b"null")
            except ValueError as exc:
                raise ApiError(400, "malformed_payload", f"The json payload provided is malformed. `{exc}`.") from None

        def _dispatch(self, method: str) -> None:
            try:
                url = urlparse(self.path)
                parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                raw = self._body() if method in ("POST", "PUT", "PATCH") else b""
                status, body = route(double, method, parts, params, raw, self.headers, self._json)
                self._send(status, body)
            except ApiError as exc:
                self._send(exc.status, exc.body())

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


def _documents(raw: bytes, content_type: str, parse: Any) -> list[dict[str, Any]]:
    if "ndjson" in content_type:
        try:
            docs = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except ValueError as exc:
            raise ApiError(400, "malformed_payload", f"The ndjson payload provided is malformed. `{exc}`.") from None
    else:
        docs = parse(raw)
        docs = docs if isinstance(docs, list) else [docs]
    if not all(isinstance(d, dict) for d in docs):
        raise ApiError(400, "malformed_payload", "Every document must be a JSON object.")
    return docs


def route(d: MeiliDouble, method: str, parts: list[str], params: dict[str, str], raw: bytes, headers: Any,
          parse: Any) -> tuple[int, Any]:
    auth = headers.get("Authorization")
    if parts == ["health"]:
        return 200, {"status": "available"}
    index = parts[1] if len(parts) > 1 and parts[0] == "indexes" else None
    if parts[-1:] == ["search"] and index:
        rule = d.authorize(auth, "search", index)
        return 200, d.search(index, parse(raw) or {}, rule)
    d.authorize(auth, "*", index)
    if parts == ["version"]:
        return 200, {"pkgVersion": "double"}
    if parts[:1] == ["tasks"] and len(parts) == 2:
        with d.lock:
            task = d.tasks.get(int(parts[1])) if parts[1].isdigit() else None
            if task is None:
                raise ApiError(404, "task_not_found", f"Task `{parts[1]}` not found.")
            return 200, dict(task)
    if parts == ["keys"]:
        return 200, {"results": d.keys, "offset": 0, "limit": 1000, "total": len(d.keys)}
    if parts == ["swap-indexes"] and method == "POST":
        body = parse(raw)
        pairs = [p["indexes"] for p in body]
        if any(len(p) != 2 for p in pairs):
            raise ApiError(400, "invalid_swap_indexes", "Two indexes must be given for each swap.")
        return 202, d.enqueue("indexSwap", None, lambda: d.swap(pairs), {"swaps": body})
    if parts == ["indexes"]:
        if method == "GET":
            with d.lock:
                rows = [i.describe() for i in sorted(d.indexes.values(), key=lambda i: i.uid)]
            return 200, {"results": rows, "offset": 0, "limit": 20, "total": len(rows)}
        body = parse(raw)
        uid = body.get("uid", "")
        if not INDEX_UID.match(uid):
            raise ApiError(400, "invalid_index_uid", f"`{uid}` is not a valid index uid.")
        return 202, d.enqueue("indexCreation", uid, lambda: d.create_index(uid, body.get("primaryKey")), {"primaryKey": body.get("primaryKey")})
    if index is None:
        raise ApiError(404, "not_found", "Not found.")
    rest = parts[2:]
    if not rest:
        if method == "GET":
            with d.lock:
                if index not in d.indexes:
                    raise ApiError(404, "index_not_found", f"Index `{index}` not found.")
                return 200, d.indexes[index].describe()
        if method == "DELETE":
            return 202, d.enqueue("indexDeletion", index, lambda: d.delete_index(index))
    if rest == ["settings"]:
        if method == "GET":
            with d.lock:
                if index not in d.indexes:
                    raise ApiError(404, "index_not_found", f"Index `{index}` not found.")
                return 200, json.loads(json.dumps(d.indexes[index].settings))
        if method == "PATCH":
            patch = parse(raw)
            unknown = [k for k in patch if k not in DEFAULT_SETTINGS]
            if unknown:
                raise ApiError(400, "bad_request", f"Unknown field `{unknown[0]}`.")
            return 202, d.enqueue("settingsUpdate", index, lambda: d.update_settings(index, patch), patch)
    if rest == ["documents"] and method in ("POST", "PUT"):
        docs = _documents(raw, headers.get("Content-Type", ""), parse)
        pk = params.get("primaryKey")
        return 202, d.enqueue("documentAdditionOrUpdate", index,
                              lambda: d.add_documents(index, docs, pk, replace=method == "POST"),
                              {"receivedDocuments": len(docs), "indexedDocuments": None})
    if rest == ["documents"] and method == "GET":
        with d.lock:
            if index not in d.indexes:
                raise ApiError(404, "index_not_found", f"Index `{index}` not found.")
            docs = list(d.indexes[index].documents.values())
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 20))
        return 200, {"results": docs[offset:offset + limit], "offset": offset, "limit": limit, "total": len(docs)}
    if len(rest) == 2 and rest[0] == "documents" and method == "GET":
        with d.lock:
            doc = d.indexes.get(index, Index(index, None)).documents.get(rest[1])
        if doc is None:
            raise ApiError(404, "document_not_found", f"Document `{rest[1]}` not found.")
        return 200, doc
    if rest == ["documents", "delete-batch"] and method == "POST":
        ids = parse(raw)
        return 202, d.enqueue("documentDeletion", index, lambda: d.delete_documents(index, ids),
                              {"providedIds": len(ids), "deletedDocuments": None})
    raise ApiError(404, "not_found", f"{method} /{'/'.join(parts)} is not implemented by the test double.")


class ServedDouble:
    """The double on a loopback port: `url`, `master_key`, and the `double` itself for assertions."""

    def __init__(self, **kw: Any) -> None:
        self.double = MeiliDouble(**kw)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.double))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True, name="meili-double-http")
        self.thread.start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.master_key = self.double.master_key

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.double.stop()
