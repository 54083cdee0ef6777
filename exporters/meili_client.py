"""Meilisearch over HTTP: the settings (MeiliConfig, from MEILI_* variables), the errors it reports
(MeiliError, TaskFailed) and the few endpoints the exporter uses (MeiliClient: requests retried on transport
failures, 5xx and 429; tasks awaited)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import orjson

from pim.errors import ConfigError, DeliveryError

#: A retry cannot fix these: the documents themselves are wrong.
PERMANENT = {"invalid_document_id", "missing_document_id", "index_primary_key_no_candidate_found",
             "index_primary_key_multiple_candidates_found", "invalid_document_fields", "missing_document_filter"}


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
