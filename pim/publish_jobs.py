"""`pim publish` as a queued job (kind "publish", pim.job_queue), so the REST API can start a publication
without running it inside the web process: `enqueue` checks the request and records the job, a `pim worker`
runs `run_queued`, which publishes exactly as the command does — the configured output folder
(PIM_OUTPUT), the channel's own exporter unless one is named, a channel catalog file when one is named (by its
name under PIM_HOME, like an upload's profile: `catalog_file`) — and leaves the counts, the files and where
they went on the job.

The job's source is "<channel>/<scope>" with the scope resolved when it is queued, so two publications of one
channel and scope have the same source and never run at once (pim.job_claims.EXCLUSIVE). A cancel request
(pim.job_cancel) is looked at while the products are read and once more after the last: the job then ends
cancelled before any file replaces the old ones, which stay.

`pim publish` runs its publication through the same path (`publish_here`): it records a held job with the same
source and payload (the catalog as the path it was given, `catalog_path`: the command may name any file, the API
only names under PIM_HOME) and runs it in its own process (pim.job_command), so it waits for — or, told not to,
refuses to run beside — a queued or running publication of the same channel and scope, shows in `pim jobs`, and
is cancelled like a queued one.

Queued or run here, a publication is guarded (pim.pipeline.refuse_drop): one that most of the products the
channel's last one published would leave (held back, or swapped for others: pim.publish_baseline), or that
publishes none while many are blocked, fails, nothing replaced, unless its payload says `allow_drop` (the API's and
the command's override)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from pim import job_cancel, job_command, job_enqueue
from pim.errors import InputError
from pim.home_names import home_file
from pim.registry import CATALOG_LOADER, EXPORTERS, RENDERERS, load, lookup
from pim.store.store import JOB

if TYPE_CHECKING:
    from pim.pipeline import PublishResult

KIND = "publish"
#: Renderers that are customer feed formats: they need a contract and go out with `pim feeds deliver`.
FEED_PREFIX = "feed_"
#: A queued publication looks for a cancel request every this many products it reads (and after the last).
CANCEL_CHECK_EVERY = 1000


def channels() -> list[str]:
    """The channels a publish job can name (pim.registry.RENDERERS without the contract feed formats)."""
    return sorted(name for name in RENDERERS if not name.startswith(FEED_PREFIX))


def catalog_file(name: str, channel: str | None = None) -> Path:
    """The channel catalog file `name` names under PIM_HOME (e.g. `catalogs/storefront.yaml`), read and checked
    (for `channel`'s renderer when given). InputError (field "catalog") when the name is not one — absolute,
    `..`, a dot file, an upload, a symlink leading out of PIM_HOME —, when no such file exists, or when it is
    not a valid catalog."""
    load_catalog = load(CATALOG_LOADER)
    path = home_file(name, noun="catalog", field="catalog", example="catalogs/storefront.yaml",
                     missing_hint="an admin puts channel catalogs there (docs/channels.md)")
    try:
        catalog = load_catalog(path)
    except InputError as exc:  # its line and field, not where the server keeps it
        where = ", ".join(p for p in (f"line {exc.line}" if exc.line else "", exc.field or "") if p)
        text = " ".join(str(exc).split())  # one line: YAML's own message spans several
        raise InputError(f"catalog '{name}'{f' ({where})' if where else ''}: {text}", field="catalog",
                         hint=exc.hint) from None
    _for_channel(catalog, f"catalog '{name}'", channel, "name a catalog")
    return path


def _for_channel(catalog: Any, what: str, channel: str | None, fix: str) -> None:
    if channel is not None and catalog.renderer != channel:
        raise InputError(f"{what} is for the {catalog.renderer} channel, not {channel}", field="catalog",
                         hint=f"{fix} whose renderer is {channel}")


def enqueue(store: Any, channel: str, *, scope: str | None = None, full: bool = False, exporter: str | None = None,
            catalog: str | None = None, by: str = "", allow_drop: bool = False) -> int:
    """Check the request against the registry, the structure and PIM_HOME (a catalog), then queue it with its
    scope resolved (the default: ecommerce, else the first, as `pim publish`); InputError names the field.
    `allow_drop`: publish even when most of the last run's products would leave (pim.pipeline.refuse_drop)."""
    if channel not in channels():
        raise InputError(f"unknown channel '{channel}'", field="channel", hint=f"known: {', '.join(channels())}")
    if exporter is not None and exporter not in EXPORTERS:
        raise InputError(f"unknown exporter '{exporter}'", field="to", hint=f"known: {', '.join(sorted(EXPORTERS))}")
    scopes = sorted(c.code for c in store.get_structure("channel"))
    if scope is None and not scopes:
        raise InputError("no channels in the structure", field="scope", hint="load the structure first")
    if scope is not None and scope not in scopes:
        raise InputError(f"unknown channel scope '{scope}'", field="scope", hint=f"known: {', '.join(scopes)}")
    if catalog is not None:
        catalog_file(catalog, channel)
    scope = scope or ("ecommerce" if "ecommerce" in scopes else scopes[0])
    payload = {"channel": channel, "scope": scope, "full": full, "exporter": exporter, "by": by}
    if allow_drop:
        payload["allow_drop"] = True
    if catalog is not None:
        payload["catalog"] = catalog  # by name: the worker finds it under its own PIM_HOME
    return job_enqueue.enqueue(store, KIND, f"{channel}/{scope}", payload)


class _Stop(Exception):
    """A cancel request seen while the products were read: `read` of them were."""

    def __init__(self, read: int) -> None:
        super().__init__(f"cancelled after {read} products read")
        self.read = read


def publish_here(store: Any, channel: str, *, scope: str | None = None, full: bool = False,
                 exporter: str | None = None, catalog: Path | None = None, by: str = "", wait: bool = True,
                 on_wait: Callable[[dict[str, Any] | None], None] | None = None,
                 progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
                 command: str = "pim publish", allow_drop: bool = False) -> tuple[dict[str, Any], PublishResult]:
    """`pim publish`: check the request as pim.pipeline.publish does (the same errors), record it as a held
    publish job and run it here under the queue's exclusion (pim.job_command: waiting, or job_command.Busy with
    `wait=False`); the job as it ended and the publication. A failure or a cancel comes back as its exception."""
    from pim.pipeline import resolved_scope

    lookup(RENDERERS, channel, "channel")
    if exporter is not None:
        lookup(EXPORTERS, exporter, "exporter")
    scope = resolved_scope(store.structure(), scope)
    payload: dict[str, Any] = {"channel": channel, "scope": scope, "full": full, "exporter": exporter, "by": by,
                               "command": command}
    if allow_drop:
        payload["allow_drop"] = True
    if catalog is not None:
        path = catalog.resolve()
        _for_channel(load(CATALOG_LOADER)(path), f"catalog {catalog}", channel, "give a catalog")
        payload["catalog_path"] = str(path)
    job_id = job_enqueue.enqueue(store, KIND, f"{channel}/{scope}", payload, held=True)
    results: list[PublishResult] = []
    job = job_command.run_here(store, job_id, wait=wait, on_wait=on_wait,
                               runner=partial(run_queued, progress=progress, done=results.append))
    return job, results[0]


def run_queued(store: Any, job: dict[str, Any], *,
               progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
               done: Callable[[PublishResult], None] | None = None) -> dict[str, Any]:
    """Publish as the payload says. pim.pipeline.publish adopts the claimed job (its counts, status and error
    land there); the summary — scope, files, locations — is added to the job's counts afterwards. Asked to
    stop before the files go out, the job ends cancelled (job_cancel.Cancelled) and the old output stays.
    `progress` wraps the products as read (a command's progress bar); `done` is given the publication."""
    from pim.pipeline import publish
    from pim.settings import get_settings

    payload = job.get("payload") or {}
    output = get_settings().output_dir
    options = {"catalog": str(catalog_file(payload["catalog"]))} if payload.get("catalog") else \
        {"catalog": payload["catalog_path"]} if payload.get("catalog_path") else None
    try:
        result = publish(store, output, channel=payload["channel"], scope=payload.get("scope"),
                         exporter=payload.get("exporter"), full=bool(payload.get("full")), options=options,
                         allow_drop=bool(payload.get("allow_drop")),
                         progress=lambda products: _watched(store, job["id"],
                                                            progress(products) if progress else products))
    except _Stop as stop:
        shutil.rmtree(output / ".staging" / f"job-{job['id']}", ignore_errors=True)  # what it had rendered
        raise job_cancel.stop(store, job["id"], {"read": stop.read, "published": 0}, (
            "Nothing was published: the channel's previous output stays. "
            f"{job_cancel.again(store, job['id'], 'to publish')}.")) from None
    counts = {k: v for k, v in result.summary().items() if k != "job_id"} | result.baseline()
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job["id"]).values(counts=counts))
    if done is not None:
        done(result)
    return counts


def _watched(store: Any, job_id: int, products: Iterable[Any]) -> Iterator[Any]:
    """The products as read, with a look for a cancel request every CANCEL_CHECK_EVERY of them and after the
    last (the renderer has then read everything, and nothing has gone out yet)."""
    every, read = max(1, CANCEL_CHECK_EVERY), 0
    for product in products:
        if read % every == 0 and job_cancel.requested(store, job_id):
            raise _Stop(read)
        read += 1
        yield product
    if job_cancel.requested(store, job_id):
        raise _Stop(read)
