"""A family's rescore as a recorded job, for structure writes too large to rescore inside a web request.

Inside `deferred(min_products)`, the structure writes of one save (a page's or an API request's, however many
families it touches and however many writes it makes) rescore fewer than `min_products` products in the
request, counted over the whole save: when the families it would rescore hold that many or more together, the
largest go to jobs until the rest fits (`choose`), so one large family is queued as before and so is a save
touching many small ones whose sum crosses the threshold. For each family left out, the completeness
listener records a job (kind "rescore", source = the family, counts = its channels and size) in the write's
own transaction, and the grid index leaves the family's score copies for that job. A family is decided once
per save: a later write of the same save rescores it where the first did. The structure change and the record
of the work it left are committed together, so no crash can lose the rescore silently. The job is recorded
"queued" (pim.job_queue): a `pim worker` claims it and `run(store, job_id)` rescores the family's products on
those channels page by page (each page one transaction, with its progress on the job) and refreshes their
grid filters.

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

from pim import job_enqueue, job_queue
from pim.scoped import scoped
from pim.store.store import JOB, MODEL, PRODUCT

KIND = "rescore"
ALL = "*"  # the source of a full rebuild's job: settles every family
PAGE = 2000


@dataclass
class Deferral:
    """The deferral in force: the products a save may rescore in the request (fewer than `min_products`), the
    families left to jobs and the jobs recorded for them, and the size of every family decided so far."""

    min_products: int
    jobs: list[int] = field(default_factory=list)
    families: set[str] = field(default_factory=set)
    sizes: dict[str, int] = field(default_factory=dict)

    def in_request(self) -> int:
        """The products this save rescores in the request so far: what counts against the threshold."""
        return sum(n for f, n in self.sizes.items() if f not in self.families)


_ACTIVE: ContextVar[Deferral | None] = ContextVar("pim_rescore_deferral", default=None)


#: A web or API structure save rescores fewer than this many products in the request, counted over all the
#: families it touches (about a quarter second on SQLite; 2.6 s at 20,000 products); the rest are queued jobs,
#: the largest families first. Read at each `deferred()` call: an operator or a test may change it.
IN_REQUEST = 2000


@contextmanager
def deferred(min_products: int | None = None) -> Iterator[Deferral]:
    """Structure writes inside rescore fewer than `min_products` products in the request all together (default:
    IN_REQUEST as it is now) and record a queued job for each family beyond that (`deferral.jobs`: a worker
    runs them)."""
    with scoped(_ACTIVE, Deferral(IN_REQUEST if min_products is None else min_products)) as deferral:
        yield deferral


def choose(conn: Connection, families: set[str] | None) -> None:
    """Decide, for the families of `families` this save has not decided yet, which are rescored in the request
    and which go to jobs: all stay while the save's total (those already kept plus these) is below the
    threshold; otherwise the largest go first until it is. The structure listener calls it with every family a
    write would rescore before rescoring any, so the whole write is weighed at once. Nothing without a
    deferral, or for a rescore of every family (None, never deferred)."""
    deferral = _ACTIVE.get()
    if deferral is None or families is None:
        return
    new = set(families) - set(deferral.sizes)
    if not new:
        return
    sizes = family_sizes(conn, new)
    deferral.sizes.update({f: sizes.get(f, 0) for f in new})
    total = deferral.in_request()
    for family in sorted(new, key=lambda f: (-deferral.sizes[f], f)):
        if total < deferral.min_products:
            break
        deferral.families.add(family)
        total -= deferral.sizes[family]


def defer(conn: Connection, families: set[str] | None, channels: set[str] | None) -> set[str] | None:
    """Called by the completeness listener for one (families, channels) rescore of a structure write: record a
    job for each of the families `choose` left to jobs and return the families left to rescore in the write
    (None: every family). Without a deferral, all of them stay; a rescore of every family (None) is never
    deferred."""
    deferral = _ACTIVE.get()
    if deferral is None or families is None:
        return families
    choose(conn, families)
    large = families & deferral.families
    if not large:
        return families
    if channels is None:  # a family that appeared or went: all channels
        from pim.structure_cache import cached_structure

        channels = set(cached_structure(conn).channels)
    for family in sorted(large):
        deferral.jobs.append(record(conn, family, channels, deferral.sizes[family]))
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
    return job_enqueue.enqueue(conn, KIND, family, {}, counts)


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
    from pim.rescore_seq import lock_catalog, ratios, stamp_ratio_moves

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
        lock_catalog(conn)  # before the completeness rows, as every writer (pim.rescore_seq)
        before = ratios(conn, [r[1] for r in rows])
        changed = rescorer.rescore(conn, [r[1] for r in rows], channels)
        stamp_ratio_moves(conn, changed, before)  # a new seq: incremental pushes (search, delta feeds) decide again
        grid.refresh_scores(conn, changed)
        counts["rescored"] += len(rows)
        counts["changed"] += len(changed)
        last = rows[-1][0]
        return True

    return job_queue.run_in_pages(store, job_id, counts, one_page, (
        f"Pages already rescored are kept; until a rescore of {family} succeeds the gate scores its products "
        "itself. Rescore again from the family page, or run `pim gate rescore`."))


def run_queued(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The queue's runner of rescore jobs (pim.job_runners.RUNNERS)."""
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
