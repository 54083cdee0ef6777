"""A failed grid re-index job's notice ("…failed…" on the grid and categories pages) goes once a full rebuild
of the grid index (`pim gate rescore`) has re-filed every product, and comes back for a job failing after it.
The rebuild settles the jobs it saw, by id, in its own transaction: nothing else, and no row when there was
nothing to settle."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim import grid_index as gi
from pim import grid_jobs, job_queue
from pim.grid_index import GridIndex
from pim.store import Store
from pim.structure import Category
from tests.channel_data import seed_products
from tests.test_grid_index import found
from tests.test_web_ui import admin_client, cheap_argon2  # noqa: F401  (cheap_argon2: autouse fixture)

UNDER_SNEAKERS = ["complete", "runner-red"]


@pytest.fixture
def catalog(store: Store) -> Store:
    """master / shoes / sneakers (two products under sneakers) and an empty root category outlet."""
    seed_products(store)
    store.put_structure("category", [Category(code="outlet", labels={"en_US": "Outlet"})])
    return store


def _move(store: Store, code: str, parent: str) -> int:
    """Move a category with its re-index left to a queued job; that job's id."""
    with grid_jobs.deferred(1) as deferral:
        store.put_structure("category", [store.structure().categories[code].model_copy(update={"parent": parent})])
    [job] = deferral.jobs
    return job


def _fail_next(store: Store, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the queued grid re-index job with a broken refresh: it fails."""
    def broken(self: GridIndex, *args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(GridIndex, "refresh", broken)
        [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "failed"
    return job


def _notices(web: TestClient, page: str = "/products") -> list[str]:
    """The grid re-index notices of a page, as text."""
    return [re.sub(r"<[^>]+>", "", text) for text in
            re.findall(r'<p class="grid-reindex[^"]*"[^>]*>(.*?)</p>', web.get(page).text, re.S)]


def _rescore() -> None:
    from pim.cli import _mount, app

    _mount()
    result = CliRunner().invoke(app, ["gate", "rescore", "--json"])
    assert result.exit_code == 0, result.output


def test_a_full_rebuild_clears_a_failed_jobs_notice_and_a_later_failure_brings_one_back(
        catalog: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, _ = admin_client(catalog)
    first = _move(catalog, "sneakers", "outlet")
    _fail_next(catalog, monkeypatch)
    for page in ("/products", "/admin/categories"):
        [notice] = _notices(web, page)
        assert notice.startswith(f"Re-filing the products under sneakers in the grid failed (job {first})"), page
    assert found(catalog, category="outlet") == []  # misfiled, as the notice says

    _rescore()
    assert _notices(web) == [] and _notices(web, "/admin/categories") == []
    assert found(catalog, category="outlet") == UNDER_SNEAKERS  # the rebuild re-filed them
    assert catalog.job(first)["status"] == "failed"  # the job keeps its outcome; only the notice goes
    [rebuild] = catalog.jobs(kind=grid_jobs.REBUILD)
    assert (rebuild["status"], rebuild["payload"]) == ("succeeded", {"settles": [first]})

    second = _move(catalog, "sneakers", "master")
    _fail_next(catalog, monkeypatch)
    [notice] = _notices(web)
    assert notice.startswith(f"Re-filing the products under sneakers in the grid failed (job {second})")
    assert [j["id"] for j in grid_jobs.unsettled(catalog)] == [second]  # the first stays settled


def test_a_rebuild_settles_a_queued_job_too_and_the_job_still_runs(catalog: Store) -> None:
    job = _move(catalog, "sneakers", "outlet")
    assert [j["status"] for j in grid_jobs.unsettled(catalog)] == ["queued"]
    gi.rebuild(catalog)
    assert grid_jobs.unsettled(catalog) == []
    assert found(catalog, category="outlet") == UNDER_SNEAKERS
    [ran] = job_queue.work(catalog, once=True).jobs  # harmless: it re-files what is already right
    assert (ran["id"], ran["status"]) == (job, "succeeded")
    assert found(catalog, category="outlet") == UNDER_SNEAKERS


def test_a_rebuild_with_nothing_to_settle_records_nothing(catalog: Store) -> None:
    before = catalog.jobs(limit=100)
    gi.rebuild(catalog)
    assert catalog.jobs(limit=100) == before


def test_only_the_jobs_the_rebuild_saw_at_its_start_are_settled(catalog: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A job id is taken when its move inserts it, not when the move commits: a move the rebuild did not see
    may hold an id below the rebuild's record, so the record names the jobs it settles."""
    first = _move(catalog, "sneakers", "outlet")
    _fail_next(catalog, monkeypatch)
    with catalog.begin() as conn:
        seen = grid_jobs.unsettled_ids(conn)  # what a rebuild reads first
    assert seen == [first]
    unseen = _move(catalog, "sneakers", "master")  # commits while that rebuild would be running
    _fail_next(catalog, monkeypatch)
    with catalog.begin() as conn:
        recorded = grid_jobs.record_rebuild(conn, seen, 5)
    assert recorded is not None and recorded > unseen
    assert [j["id"] for j in grid_jobs.unsettled(catalog)] == [unseen]
