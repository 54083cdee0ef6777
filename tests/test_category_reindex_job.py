"""A large category move leaves the grid re-index of its products to a queued grid_reindex job, recorded in
the move's own transaction: the category filter shows the old membership until a worker runs it, then the
new one, and the index is what a rebuild makes. The products' new seq does not wait for the job. Small moves
and `pim structure load` re-index in the write as before; a failed job is recorded and a retry finishes it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from pim import grid_index as gi
from pim import grid_jobs, job_enqueue, job_queue, job_status
from pim.grid_index import GridIndex
from pim.store import Store
from pim.store.store import JOB
from pim.structure import Category
from tests.channel_data import seed_products
from tests.test_grid_index import _index, found

UNDER_SNEAKERS = ["complete", "runner-red"]  # runner-red through its model


@pytest.fixture
def catalog(store: Store) -> Store:
    """master / shoes / sneakers (two products under sneakers, three more in shoes) and an empty root outlet."""
    seed_products(store)
    store.put_structure("category", [Category(code="outlet", labels={"en_US": "Outlet"})])
    return store


def _move(store: Store, code: str, parent: str | None) -> None:
    store.put_structure("category", [store.structure().categories[code].model_copy(update={"parent": parent})])


def _jobs(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(JOB).where(JOB.c.kind == grid_jobs.KIND).order_by(JOB.c.id))
        return [dict(r._mapping) for r in rows]


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT identifier, seq FROM product").all())


def _matches_a_rebuild(store: Store) -> bool:
    incremental = _index(store)
    gi.rebuild(store)
    return incremental == _index(store)


def test_a_large_move_queues_the_reindex_with_the_move_and_the_grid_follows_when_it_ran(catalog: Store) -> None:
    before = _seqs(catalog)
    with grid_jobs.deferred(2) as deferral:
        _move(catalog, "sneakers", "outlet")
    assert catalog.structure().categories["sneakers"].parent == "outlet"
    [job] = _jobs(catalog)
    assert deferral.jobs == [job["id"]]
    assert (job["status"], job["source"], job["payload"]) == ("queued", "sneakers", {"categories": ["sneakers"]})
    after = _seqs(catalog)
    assert {p for p in after if after[p] != before[p]} == set(UNDER_SNEAKERS)  # re-sent without waiting for the job
    assert found(catalog, category="outlet") == []  # the old membership until the job ran
    assert found(catalog, category="shoes") == ["complete", "bad-gtin", "long-title", "no-description", "runner-red"]

    ran = job_queue.work(catalog, once=True)
    assert [j["status"] for j in ran.jobs] == ["succeeded"]
    assert ran.jobs[0]["counts"] == {"categories": ["sneakers"], "products": 2, "reindexed": 2}
    assert found(catalog, category="outlet") == UNDER_SNEAKERS
    assert found(catalog, category="sneakers") == UNDER_SNEAKERS
    assert found(catalog, category="shoes") == ["bad-gtin", "long-title", "no-description"]
    assert _seqs(catalog) == after  # the job re-files, it does not re-send
    assert grid_jobs.unsettled(catalog) == []
    assert _matches_a_rebuild(catalog)


def test_a_rolled_back_move_leaves_no_job(catalog: Store) -> None:
    def refuse(conn: Any, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        raise RuntimeError("a later listener fails")

    catalog.structure_listeners.append(refuse)  # after the grid index: its job is already recorded
    with grid_jobs.deferred(1) as deferral, pytest.raises(RuntimeError):
        _move(catalog, "sneakers", "outlet")
    assert len(deferral.jobs) == 1  # it was recorded, in the transaction that rolled back
    catalog.structure_listeners.remove(refuse)
    assert _jobs(catalog) == []
    assert catalog.structure().categories["sneakers"].parent == "shoes"
    assert job_status.queued(catalog) == 0


def test_below_the_threshold_the_move_reindexes_at_once(catalog: Store) -> None:
    with grid_jobs.deferred(3) as deferral:
        _move(catalog, "sneakers", "outlet")
    assert deferral.jobs == [] and _jobs(catalog) == []
    assert found(catalog, category="outlet") == UNDER_SNEAKERS
    assert found(catalog, category="shoes") == ["bad-gtin", "long-title", "no-description"]
    assert _matches_a_rebuild(catalog)


def test_a_move_of_an_empty_category_queues_nothing_even_at_threshold_zero(catalog: Store) -> None:
    with grid_jobs.deferred(0) as deferral:
        _move(catalog, "outlet", "master")
    assert deferral.jobs == [] and _jobs(catalog) == []


def test_a_structure_file_move_never_queues(catalog: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from pim.structure_files import StructureFile, save_structure
    from pim.web import categories

    monkeypatch.setattr(categories, "REINDEX_IN_REQUEST", 1)  # only the web page defers
    before = _seqs(catalog)
    sneakers = catalog.structure().categories["sneakers"]
    save_structure(catalog, StructureFile(categories=[sneakers.model_copy(update={"parent": "outlet"})]))
    assert _jobs(catalog) == []
    assert found(catalog, category="outlet") == UNDER_SNEAKERS
    after = _seqs(catalog)
    assert {p for p in after if after[p] != before[p]} == set(UNDER_SNEAKERS)
    assert _matches_a_rebuild(catalog)


def test_a_failed_reindex_is_recorded_and_a_retry_completes_it(catalog: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid_jobs, "PAGE", 1)  # one product per page: the first page is kept when the second fails
    refresh, calls = GridIndex.refresh, []

    def second_page_fails(self: GridIndex, conn: Any, identifiers: list[str], records: Any = None) -> None:
        calls.append(identifiers)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        refresh(self, conn, identifiers, records)

    with grid_jobs.deferred(2) as deferral:
        _move(catalog, "sneakers", "outlet")
    monkeypatch.setattr(GridIndex, "refresh", second_page_fails)
    [failed] = job_queue.work(catalog, once=True).jobs
    assert failed["id"] == deferral.jobs[0] and failed["status"] == "failed"
    assert failed["error"].startswith("RuntimeError: disk full. Products already re-filed are kept")
    assert failed["counts"]["reindexed"] == 1
    assert found(catalog, category="outlet") == ["complete"]  # its page committed; runner-red's did not
    assert [j["id"] for j in grid_jobs.unsettled(catalog)] == [failed["id"]]
    assert job_enqueue.retryable(failed)

    monkeypatch.setattr(GridIndex, "refresh", refresh)
    job_enqueue.retry(catalog, failed["id"])
    [done] = job_queue.work(catalog, once=True).jobs
    assert (done["id"], done["status"]) == (failed["id"], "succeeded")
    assert done["counts"] == {"categories": ["sneakers"], "products": 2, "reindexed": 2}
    assert done["payload"]["categories"] == ["sneakers"] and len(done["payload"]["attempts"]) == 1
    assert found(catalog, category="outlet") == UNDER_SNEAKERS
    assert grid_jobs.unsettled(catalog) == []
    assert _matches_a_rebuild(catalog)


def test_a_later_job_covering_the_same_categories_settles_a_failed_one(catalog: Store) -> None:
    with grid_jobs.deferred(1):
        _move(catalog, "sneakers", "outlet")
    first = _jobs(catalog)[0]["id"]
    catalog.finish_job(first, {}, status="failed", error="worker lost")
    with grid_jobs.deferred(1):
        _move(catalog, "sneakers", "master")
    second = _jobs(catalog)[1]["id"]
    assert [(j["id"], j["status"]) for j in grid_jobs.unsettled(catalog)] == [(first, "failed"), (second, "queued")]
    grid_jobs.run(catalog, second)
    assert grid_jobs.unsettled(catalog) == []  # the first job's categories were re-filed by the second
    assert found(catalog, category="master") == ["complete", "bad-gtin", "long-title", "no-description", "runner-red"]
    assert found(catalog, category="shoes") == ["bad-gtin", "long-title", "no-description"]
    assert _matches_a_rebuild(catalog)
