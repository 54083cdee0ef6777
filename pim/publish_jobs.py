"""`pim publish` as a queued job (kind "publish", pim.job_queue), so the REST API can start a publication
without running it inside the web process: `enqueue` checks the request and records the job, a `pim worker`
runs `run_queued`, which publishes exactly as the command does — the configured output folder
(PIM_OUTPUT), the channel's own exporter unless one is named — and leaves the counts, the files and where
they went on the job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from pim import job_queue
from pim.errors import InputError
from pim.registry import EXPORTERS, RENDERERS
from pim.store.store import JOB

KIND = "publish"
#: Renderers that are customer feed formats: they need a contract and go out with `pim feeds deliver`.
FEED_PREFIX = "feed_"


def channels() -> list[str]:
    """The channels a publish job can name (pim.registry.RENDERERS without the contract feed formats)."""
    return sorted(name for name in RENDERERS if not name.startswith(FEED_PREFIX))


def enqueue(store: Any, channel: str, *, scope: str | None = None, full: bool = False, exporter: str | None = None,
            by: str = "") -> int:
    """Check the request against the registry and the structure, then queue it; InputError names the field."""
    if channel not in channels():
        raise InputError(f"unknown channel '{channel}'", field="channel", hint=f"known: {', '.join(channels())}")
    if exporter is not None and exporter not in EXPORTERS:
        raise InputError(f"unknown exporter '{exporter}'", field="to", hint=f"known: {', '.join(sorted(EXPORTERS))}")
    scopes = sorted(c.code for c in store.get_structure("channel"))
    if scope is None and not scopes:
        raise InputError("no channels in the structure", field="scope", hint="load the structure first")
    if scope is not None and scope not in scopes:
        raise InputError(f"unknown channel scope '{scope}'", field="scope", hint=f"known: {', '.join(scopes)}")
    payload = {"channel": channel, "scope": scope, "full": full, "exporter": exporter, "by": by}
    return job_queue.enqueue(store, KIND, f"{channel}/{scope or '(default)'}", payload)


def run_queued(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Publish as the payload says. pim.pipeline.publish adopts the claimed job (its counts, status and error
    land there); the summary — scope, files, locations — is added to the job's counts afterwards."""
    from pim.pipeline import publish
    from pim.settings import get_settings

    payload = job.get("payload") or {}
    result = publish(store, get_settings().output_dir, channel=payload["channel"], scope=payload.get("scope"),
                     exporter=payload.get("exporter"), full=bool(payload.get("full")))
    counts = {k: v for k, v in result.summary().items() if k != "job_id"}
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job["id"]).values(counts=counts))
    return counts
