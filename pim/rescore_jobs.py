"""A family's rescore as a recorded job, for structure writes too large to rescore inside a web request.

Inside `deferred(min_products)`, a structure write that would rescore a family of at least
`min_products` products does not (its smaller families are rescored in the write, each family judged by its
own size): the completeness listener records a job (kind "rescore", source = the
family, counts = its channels and size) in the write's own transaction, and the grid index leaves the
family's score copies for that job. The structure change and the record of the work it left are committed
together, so no crash can lose the rescore silently. The job is recorded "queued" (pim.job_queue): a
`pim worker` claims it and `run(store, job_id)` rescores the family's products on those channels page by page
(each page one transaction, with its progress on the job) and refreshes their grid filters.

Until a family's job has succeeded — while it waits for a worker, while it runs, after it failed, or after
its process died (the job reads `interrupted`) — its stored scores on those channels may be stale, and
`unsettled` says so: the gate then scores that family's products itself (pim.gate), as it does for a
product without stored rows. The job itself succeeding (queued again by `pim jobs retry` or its job page),
a later job of the family covering the channels that succeeds (a re-save, the family page's "Rescore now"),
or `pim gate rescore` (which records a succeeded job of source "*") settles them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from pim import job_queue
from pim.scoped import scoped
from pim.store.store import JOB, MODEL, PRODUCT

KIND = "rescore"
ALL = "*"  # the source of a full rebuild's job: settles every family
PAGE = 2000


@dataclass
class Deferral:
    """The deferral in force: which families are big enough to leave, and the jobs recorded for them."""

    min_products: int
    jobs: list[int] = field(default_factory=list)
    families: set[str] = field(default_factory=set)


_ACTIVE: ContextVar[Deferral | None] = ContextVar("pim_rescore_deferral", default=None)


#: A family of at least this many products is rescored by a queued job when a web or API structure write
#: rescores it; a smaller one in the request, which takes up to about a quarter second (SQLite; 2.6 s at 20,000
#: products). Read at each `deferred()` call: an operator or a test may change it.
IN_REQUEST = 2000


@contextmanager
def deferred(min_products: int | None = None) -> Iterator[Deferral]:
    """Structure writes inside record a queued job for each family rescore of at least `min_products` products
    (default: IN_REQUEST as it is now) instead of running it (`deferral.jobs`: a worker runs them)."""
    with scoped(_ACTIVE, Deferral(IN_REQUEST if min_products is None else min_products)) as deferral:
        yield deferral


def defer(conn: Connection, families: set[str] | None, channels: set[str] | None) -> set[str] | None:
    """Called by the completeness listener for one (families, channels) rescore of a structure write: record
    a job for each family of at least the deferral's `min_products` products and return the families left to
    rescore in the write (None: every family). Without a deferral, all of them stay; a rescore of every family
    (None) is never deferred. Each family is judged by its own size, as on the family page, so a channel save
    rescores its small families at once and queues only the large ones."""
    deferral = _ACTIVE.get()
    if deferral is None or families is None:
        return families
    sizes = family_sizes(conn, families)
    large = {f for f in families if sizes.get(f, 0) >= deferral.min_products}
    if not large:
        return families
    if channels is None:  # a family that appeared or went: all channels
        from pim.structure_cache import cached_structure

        channels = set(cached_structure(conn).channels)
    for family in sorted(large):
        deferral.jobs.append(record(conn, family, channels, sizes.get(family, 0)))
    deferral.families |= large
    return families - large


def family_sizes(conn: Connection, families: set[str]) -> dict[str, int]:
    """family → the products scored as it (one grouped count; one count per family when some variant takes
    its family from a model)."""
    sizes = dict(conn.execute(select(PRODUCT.c.family, func.count()).where(PRODUCT.c.family.in_(sorted(families)))
                              .group_by(PRODUCT.c.family)).all())
    if conn.execute(select(PRODUCT.c.id).where(PRODUCT.c.family.is_(None), PRODUCT.c.parent.is_not(None))
                    .limit(1)).first() is not None:  # variants taking their family from a model: count per family
        sizes = {f: conn.execute(select(func.count()).select_from(PRODUCT).where(of_family(f))).scalar_one()
                 for f in families}
    return {str(f): int(n) for f, n in sizes.items()}


def kept_in_write(families: set[str] | None) -> set[str] | None:
    """The part of `families` (None: every family) rescored in the structure write under way: all but those
    deferred to jobs (the grid index refreshes only their score copies; the jobs refresh the others')."""
    deferral = _ACTIVE.get()
    if deferral is None or families is None:
        return families
    return families - deferral.families


def record(conn: Connection, family: str, channels: Iterable[str], products: int) -> int:
    """Queue a rescore job of `family` on `channels` inside the caller's transaction (its counts say what to
    rescore, so a retry of the job needs nothing else)."""
    counts = {"family": family, "channels": sorted(channels), "products": products, "rescored": 0, "changed": 0}
    return job_queue.enqueue(conn, KIND, family, {}, counts)


def of_family(family: str) -> Any:
    """The products scored as `family`: its own, and variants without a family of their own under a model (or
    a sub-model of a model) of that family, which take it from there."""
    models = select(MODEL.c.code).where(MODEL.c.family == family)
    under = models.union(select(MODEL.c.code).where(MODEL.c.family.is_(None), MODEL.c.parent.in_(models)))
    return (PRODUCT.c.family == family) | (PRODUCT.c.family.is_(None) & PRODUCT.c.parent.in_(under))


def start(store: Any, family: str, channels: Iterable[str]) -> int:
    """Queue a rescore job of `family` now (the family page's "Rescore now"); a worker runs it."""
    with store.begin() as conn:
        size = conn.execute(select(func.count()).select_from(PRODUCT).where(of_family(family))).scalar_one()
        return record(conn, family, channels, int(size))


def run(store: Any, job_id: int, page: int | None = None) -> dict[str, Any]:
    """Rescore the job's family on its channels, one page of products per transaction (the job's counts
    move with each page, from 0 again on a retry), then mark the job succeeded, or failed with the reason.
    Scores the structure as it is when each page is written, so a save made meanwhile is never undone. Its
    heartbeat is the worker's (pim.job_queue.run_claimed)."""
    from pim.grid_index import GridIndex
    from pim.rescore import Rescorer

    job = store.job(job_id)
    if job is None or job["kind"] != KIND:
        raise ValueError(f"no rescore job {job_id}")
    counts = {**job["counts"], "rescored": 0, "changed": 0}
    family, channels = counts["family"], set(counts["channels"])
    rescorer, grid = Rescorer(), GridIndex()
    size, last = page or PAGE, 0

    def one_page(conn: Connection) -> bool:
        nonlocal last
        rows = conn.execute(select(PRODUCT.c.id, PRODUCT.c.identifier).where(
            of_family(family), PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(size)).all()
        if not rows:
            return False
        changed = rescorer.rescore(conn, [r[1] for r in rows], channels)
        grid.refresh_scores(conn, changed)
        counts["rescored"] += len(rows)
        counts["changed"] += len(changed)
        last = rows[-1][0]
        return True

    return job_queue.run_in_pages(store, job_id, counts, one_page, (
        f"Pages already rescored are kept; until a rescore of {family} succeeds the gate scores its products "
        "itself. Rescore again from the family page, or run `pim gate rescore`."))


def run_queued(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The queue's runner of rescore jobs (pim.job_queue.RUNNERS)."""
    return run(store, job["id"])


def unsettled(conn: Connection) -> dict[str, set[str]]:
    """family → channels whose stored scores wait for a rescore that has not succeeded: a family job still
    queued or running, failed or interrupted, with no later succeeded job of that family (or full rebuild)
    covering the channel. Reads only the jobs since the oldest unsettled one (none: one indexed query)."""
    c = JOB.c
    pending = conn.execute(select(c.id, c.source, c.counts).where(c.kind == KIND, c.status != "succeeded",
                                                                  c.source != ALL).order_by(c.id)).all()
    if not pending:
        return {}
    done = conn.execute(select(c.id, c.source, c.counts).where(c.kind == KIND, c.status == "succeeded",
                                                               c.id > pending[0].id)).all()
    out: dict[str, set[str]] = {}
    for job in pending:
        left = set((job.counts or {}).get("channels") or ())
        for later in done:
            if later.id > job.id and later.source in (job.source, ALL):
                covered = (later.counts or {}).get("channels")
                left = set() if later.source == ALL or covered is None else left - set(covered)
        if left:
            out.setdefault(job.source, set()).update(left)
    return out


def stale_families(store: Any, channel: str) -> frozenset[str]:
    """The families whose stored scores on `channel` may be stale (see `unsettled`)."""
    with store.engine.connect() as conn:
        return frozenset(f for f, channels in unsettled(conn).items() if channel in channels)


def family_jobs(store: Any, family: str, limit: int = 3) -> list[dict[str, Any]]:
    """The family's latest rescore jobs, newest first, as Store.job shows them (a dead one: interrupted)."""
    with store.engine.connect() as conn:
        ids = conn.execute(select(JOB.c.id).where(JOB.c.kind == KIND, JOB.c.source == family)
                           .order_by(JOB.c.id.desc()).limit(limit)).scalars().all()
    return [j for i in ids if (j := store.job(i)) is not None]
