"""Re-filing the grid's category rows of a moved category's products as a queued job, for moves too large to
re-index inside a web request.

A category move changes the ancestor rows (grid_category) of every product under the moved category. Inside
`deferred(min_products)`, a structure write whose moved categories hold at least `min_products` products does
not refresh them: the grid index's structure listener records a job (kind "grid_reindex", payload
{"categories": [...]}) in the write's own transaction instead, so the move and the record of the work it left
commit together or not at all. A `pim worker` claims it and `run` re-indexes those products page by page, each
page its own transaction, with the job's counts and heartbeat moving. Until it succeeds, the grid's category
filter may still file some of them under their old ancestors; `unsettled` lists such jobs so the grid and the
categories pages say so. Without a deferral (`pim structure load`) the refresh stays in the write.

A full rebuild of the index (pim.grid_index.rebuild, run by `pim gate rescore`) re-files every product from the
structure as it is, so it settles every such job whose move it saw: it reads the unsettled ones first thing in
its transaction (`unsettled_ids`) and records them in a succeeded job of its own kind ("grid_rebuild", payload
{"settles": [...]}) in the same transaction (`record_rebuild`). Explicit ids rather than "older than the
rebuild": a job id is taken when its move inserts it, not when the move commits, so an older id may belong to
a move the rebuild did not see. A job queued after the rebuild started is not settled by it; a settled job that
runs (or is retried) later and fails stays settled: its products were filed by the rebuild, and a failed re-filing
leaves rows as they were.

A family whose label or image attribute changed (pim.family_role_moves) is the other case: its products' search
words in the grid (grid_text) follow the label attribute, and all of them get a new seq so incremental exports
and contract deltas send them again. Inside the same deferral, a family of at least `min_products` products is
left to a job of the same kind (payload {"families": [...]}, recorded by `defer_families` in the write's
transaction): `run` re-files and re-sequences its products page by page. Until it succeeds the grid's search may
still find some of them by their old names and exports may not have re-sent them; `unsettled` lists it too. A
full rebuild of the index does not settle such a job: it re-files but gives no product a new seq.

This is a sibling of pim.rescore_jobs' deferral, not the same one: that deferral's `jobs` are read by its
callers as *rescore* jobs of `families`, its threshold counts a family's products rather than a subtree's,
and the pages wrapping a family or channel save have no category move to defer. A separate ContextVar keeps
each page deciding for itself what it lets go to the queue.

Re-runs are safe: a page's refresh computes the products' rows from the structure as it is then and writes
only the difference (pim.grid_index.GridIndex.refresh), so a retry, a second move or a product written
meanwhile never leaves a wrong row behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select

from pim import job_enqueue, job_queue
from pim.grid_index import GRID_CATEGORY, GRID_PRODUCT, GridIndex
from pim.scoped import scoped
from pim.store.store import JOB, PRODUCT, batched, now

KIND = "grid_reindex"
REBUILD = "grid_rebuild"  # a full rebuild that settled grid_reindex jobs (payload {"settles": [ids]})
PAGE = 2000


@dataclass
class Deferral:
    """The deferral in force: how many products under a move (or of a family with a new label or image
    attribute) are too many for the write, the jobs it queued, and the families left to them."""

    min_products: int
    jobs: list[int] = field(default_factory=list)
    families: set[str] = field(default_factory=set)


_ACTIVE: ContextVar[Deferral | None] = ContextVar("pim_grid_reindex_deferral", default=None)


@contextmanager
def deferred(min_products: int) -> Iterator[Deferral]:
    """Category moves written inside queue a grid_reindex job when the products under the moved categories
    number at least `min_products`, instead of re-indexing them in the write (`deferral.jobs`)."""
    with scoped(_ACTIVE, Deferral(min_products)) as deferral:
        yield deferral


def defer(conn: Connection, categories: list[str]) -> int | None:
    """Called by the grid index for the moved categories of a structure write: queue a re-index job in the
    write's transaction and return its id when a deferral is in force and enough products are under them;
    None (re-index now, as always) otherwise. Counts at most the threshold, so a huge subtree costs no more."""
    deferral = _ACTIVE.get()
    if deferral is None or not categories:
        return None
    needed = max(deferral.min_products, 1)  # nothing under them: nothing to leave to a job
    under = select(GRID_CATEGORY.c.product_id).where(_any_of(categories)).distinct().limit(needed)
    if conn.execute(select(func.count()).select_from(under.subquery())).scalar_one() < needed:
        return None
    job = record(conn, categories)
    deferral.jobs.append(job)
    return job


def defer_families(conn: Connection, families: list[str]) -> set[str]:
    """Called by the grid index for the families of a structure write whose label or image attribute changed
    (pim.family_role_moves.changed_roles): inside a deferral, queue one job in the write's transaction that
    re-files and re-sequences the products of those of at least `min_products` products, and return them (the
    write leaves them alone: `left_in_write`). Without a deferral, nothing: all of it stays in the write. Counts
    at most the threshold per family."""
    from pim.rescore_jobs import of_family

    deferral = _ACTIVE.get()
    if deferral is None or not families:
        return set()
    needed = max(deferral.min_products, 1)  # no products: nothing to leave to a job
    large = sorted(f for f in families if conn.execute(select(func.count()).select_from(
        select(PRODUCT.c.id).where(of_family(f)).limit(needed).subquery())).scalar_one() >= needed)
    if large:
        deferral.jobs.append(record_families(conn, large))
        deferral.families.update(large)
    return set(large)


def left_in_write(families: list[str]) -> list[str]:
    """The part of `families` whose re-filing and re-sequencing the structure write under way does itself: all
    but those `defer_families` left to a job."""
    deferral = _ACTIVE.get()
    return [f for f in families if deferral is None or f not in deferral.families]


def record_families(conn: Connection, families: list[str]) -> int:
    """Queue a grid_reindex job re-filing and re-sequencing the products of `families` inside the caller's
    transaction."""
    fams = sorted(set(families))
    return job_enqueue.enqueue(conn, KIND, "families " + ", ".join(fams), {"families": fams},
                               {"families": fams, "products": None, "reindexed": 0})


def record(conn: Connection, categories: list[str]) -> int:
    """Queue a grid_reindex job of `categories` inside the caller's transaction (the payload is all a run or a
    retry needs)."""
    cats = sorted(set(categories))
    return job_enqueue.enqueue(conn, KIND, ", ".join(cats), {"categories": cats},
                               {"categories": cats, "products": None, "reindexed": 0})


def run(store: Any, job_id: int, page: int | None = None) -> dict[str, Any]:
    """Re-index the products under the job's categories (or re-file and re-sequence its families' products),
    one page per transaction in product_id order (the job's counts and heartbeat move with each page, from 0
    again on a retry); finish the job succeeded, or failed with the reason. Pages already done stay done: a
    retry redoes them at the cost of a read (and another seq)."""
    job = store.job(job_id)
    if job is None or job["kind"] != KIND:
        raise ValueError(f"no grid_reindex job {job_id}")
    if _families(job.get("payload")):
        return _run_families(store, job_id, _families(job.get("payload")), page or PAGE)
    categories = list((job.get("payload") or {}).get("categories") or [])
    counts: dict[str, Any] = {"categories": categories, "products": None, "reindexed": 0}
    grid, size, last = GridIndex(), page or PAGE, 0

    def one_page(conn: Connection) -> bool:
        nonlocal last
        if counts["products"] is None:
            counts["products"] = conn.execute(select(func.count(func.distinct(GRID_CATEGORY.c.product_id)))
                                              .where(_any_of(categories))).scalar_one() if categories else 0
        ids = conn.execute(select(GRID_CATEGORY.c.product_id).where(
            _any_of(categories), GRID_CATEGORY.c.product_id > last).distinct()
            .order_by(GRID_CATEGORY.c.product_id).limit(size)).scalars().all() if categories else []
        if not ids:
            return False
        identifiers = conn.execute(select(GRID_PRODUCT.c.product).where(GRID_PRODUCT.c.product_id.in_(ids))
                                   .order_by(GRID_PRODUCT.c.product_id)).scalars().all()
        grid.refresh(conn, list(identifiers))
        counts["reindexed"] += len(ids)
        last = ids[-1]
        return True

    return job_queue.run_in_pages(store, job_id, counts, one_page, (
        "Products already re-filed are kept; until this job succeeds the grid's category filter may show the "
        "others under their old parent categories. Run it again from this page (or `pim jobs retry`)."))


def _run_families(store: Any, job_id: int, families: list[str], size: int) -> dict[str, Any]:
    """Re-file the grid rows (their label words) of the families' products and give them a new seq, a page per
    transaction: the structure as it is when each page is written, so a later save is never undone."""
    from pim.rescore_jobs import of_family

    counts: dict[str, Any] = {"families": families, "products": None, "reindexed": 0}
    grid, last = GridIndex(), 0
    members = or_(*[of_family(f) for f in families])

    def one_page(conn: Connection) -> bool:
        nonlocal last
        if counts["products"] is None:
            counts["products"] = conn.execute(select(func.count()).select_from(PRODUCT).where(members)).scalar_one()
        rows = conn.execute(select(PRODUCT.c.id, PRODUCT.c.identifier).where(members, PRODUCT.c.id > last)
                            .order_by(PRODUCT.c.id).limit(size)).all()
        if not rows:
            return False
        identifiers = [r[1] for r in rows]
        grid.refresh(conn, identifiers)
        store.touch_products(conn, identifiers)
        counts["reindexed"] += len(rows)
        last = rows[-1][0]
        return True

    return job_queue.run_in_pages(store, job_id, counts, one_page, (
        f"Products already done are kept; until this job succeeds the grid's search may find the others of "
        f"{', '.join(families)} by their old names, and incremental exports may not send them again. Run it again "
        "from this page (or `pim jobs retry`)."))


def run_queued(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The queue's runner of grid_reindex jobs (pim.job_runners.RUNNERS)."""
    return run(store, job["id"])


def unsettled(store: Any) -> list[dict[str, Any]]:
    """The grid_reindex jobs whose products may still be filed under old ancestors, oldest first, as Store.job
    shows them (a dead one: interrupted): queued, running, failed or interrupted, unless a later job covering
    all of their categories succeeded or a full rebuild settled them. One indexed query when there are none."""
    with store.engine.connect() as conn:
        ids = unsettled_ids(conn)
    return [view for job_id in ids if (view := store.job(job_id)) is not None]


def unsettled_ids(conn: Connection, moves_only: bool = False) -> list[int]:
    """The ids `unsettled` shows, read on the caller's connection (a full rebuild reads them in its own
    transaction, before anything else, so every move of these jobs is one it sees). `moves_only`: just the
    category moves' jobs, which are all a rebuild settles (a family's job also gives its products a new seq)."""
    c = JOB.c
    pending = conn.execute(select(c.id, c.payload).where(c.kind == KIND, c.status != "succeeded")
                           .order_by(c.id)).all()
    if not pending:
        return []
    later = conn.execute(select(c.id, c.kind, c.payload).where(c.kind.in_([KIND, REBUILD]), c.status == "succeeded",
                                                               c.id > pending[0].id)).all()
    done = [job for job in later if job.kind == KIND]
    settled = {i for job in later if job.kind == REBUILD for i in _settles(job.payload)}
    return [job.id for job in pending if job.id not in settled and not (moves_only and _families(job.payload))
            and not any(other.id > job.id and _covers(other.payload, job.payload) for other in done)]


def record_rebuild(conn: Connection, settles: list[int], products: int) -> int | None:
    """Inside a full rebuild's transaction: record the grid_reindex jobs it settles (`unsettled_ids` read at its
    start) as a succeeded grid_rebuild job, so the pages stop saying their products may be misfiled. Nothing to
    settle, no row: a rebuild with no notice to clear leaves the job list as it was."""
    if not settles:
        return None
    stamp = now()
    res = conn.execute(insert(JOB).values(
        kind=REBUILD, source="*", status="succeeded", started_at=stamp, finished_at=stamp,
        payload={"settles": sorted(settles)}, counts={"products": products, "settled": len(settles)}))
    return int(res.inserted_primary_key[0])


def _settles(payload: Any) -> list[int]:
    return [int(i) for i in (payload or {}).get("settles") or []] if isinstance(payload, dict) else []


def _covers(later: Any, earlier: Any) -> bool:
    """Whether a job of payload `later` re-files everything one of payload `earlier` does."""
    return (set(_categories(earlier)) <= set(_categories(later)) and set(_families(earlier)) <= set(_families(later)))


def _families(payload: Any) -> list[str]:
    return list((payload or {}).get("families") or []) if isinstance(payload, dict) else []


def _categories(payload: Any) -> list[str]:
    return list((payload or {}).get("categories") or []) if isinstance(payload, dict) else []


def _any_of(categories: list[str]) -> Any:
    """grid_category rows of any of `categories` (in chunks: a structure file may move thousands at once)."""
    column = GRID_CATEGORY.c.category
    return or_(*[column.in_(chunk) for chunk in batched(sorted(set(categories)), 1000)])
