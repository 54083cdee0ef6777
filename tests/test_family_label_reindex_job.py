"""A large family's new label or image attribute (its page's settings form) leaves the re-filing of its products'
search words in the grid and their new seq to a queued grid_reindex job, recorded with the save: the grid and
the family page say so until a worker ran it, then the grid finds the products by their new names and their
seq is newer. A small family is still done in the save. A failed job says so, a full grid rebuild does not
settle it (it gives no product a new seq), and running it again does."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pim import grid_index as gi
from pim import grid_jobs, job_enqueue, job_queue
from pim.grid_index import GridIndex
from pim.store import Store
from pim.web import families
from tests.test_web_ui import cheap_argon2  # noqa: F401  (cheap_argon2: autouse fixture)

SHOES = ["bad-gtin", "complete", "long-title", "no-description", "runner-red"]  # runner-red: a variant


@pytest.fixture
def large(admin, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, str]:
    """The seeded catalog with shoes (5 products) counted as large, and jobs paging two products at a time."""
    monkeypatch.setattr(families, "REINDEX_IN_REQUEST", 5)
    monkeypatch.setattr(grid_jobs, "PAGE", 2)
    return admin


def _settings(web: TestClient, token: str, **form: str) -> str:
    saved = web.post("/admin/families/shoes/settings", data={"csrf_token": token, **form})
    assert saved.status_code == 200, saved.text
    found = re.search(r'<p class="notice"[^>]*>([^<]*)</p>', saved.text)
    return found.group(1).replace("&#39;", "'") if found else ""


def _words(store: Store) -> dict[str, set[str]]:
    """identifier → its grid search words (grid_text tokens, any locale)."""
    g, p = gi.GRID_TEXT.c, gi.GRID_PRODUCT.c
    out: dict[str, set[str]] = {}
    with store.engine.connect() as conn:
        for ident, token in conn.execute(select(p.product, g.token).join(gi.GRID_TEXT, g.product_id == p.product_id)):
            out.setdefault(ident, set()).add(token)
    return out


def _found(store: Store, word: str) -> list[str]:
    return sorted(i for i, words in _words(store).items() if any(w.startswith(word) for w in words))


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT identifier, seq FROM product").all())


def _index(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        ids = dict(conn.execute(select(gi.GRID_PRODUCT.c.product_id, gi.GRID_PRODUCT.c.product)).all())
        return {t.name: {tuple(ids.get(v, v) if c == "product_id" else v for c, v in r._mapping.items())
                         for r in conn.execute(select(t))} for t in gi._BY_PRODUCT}


def _notices(web: TestClient, page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t).replace("&#39;", "'") for t in
            re.findall(r'<p class="grid-reindex[^"]*"[^>]*>(.*?)</p>', web.get(page).text, re.S)]


def test_a_large_familys_new_label_is_refiled_by_a_queued_job(large, store: Store) -> None:
    web, token = large
    before = _seqs(store)
    assert _found(store, "rn") == [] and "complete" in _found(store, "runner")
    said = _settings(web, token, attribute_as_label="mpn")
    [job] = store.jobs(kind=grid_jobs.KIND)
    assert job["status"] == "queued" and job["payload"] == {"families": ["shoes"]} and job["source"] == "families shoes"
    assert said.startswith("Saved: attribute_as_label name → mpn.") and said.endswith(
        f"Its products are being re-filed in the grid under their new names and marked for incremental exports and "
        f"contract deltas to send again (job {job['id']}); until that is done the grid's search may still find them "
        "by their old names."), said
    assert store.structure().families["shoes"].attribute_as_label == "mpn"
    # Nothing of it happened in the save: the old words, the old seqs
    assert _found(store, "rn") == [] and "complete" in _found(store, "runner") and _seqs(store) == before
    for page in ("/products", "/admin/families/shoes", "/admin/categories"):
        [notice] = _notices(web, page)
        assert notice.startswith(f"The products of shoes are being re-filed in the grid and marked for incremental "
                                 f"exports after a new label or image attribute (job {job['id']})"), (page, notice)
        assert "the grid's search may still find them by their old names" in notice
    assert grid_jobs.unsettled(store)[0]["id"] == job["id"]

    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "succeeded" and ran["counts"] == {"families": ["shoes"], "products": 5, "reindexed": 5}
    assert _found(store, "rn") == SHOES  # RN-1, the variant's from its model
    assert _found(store, "runner") == ["runner-red"]  # by its identifier only now
    after = _seqs(store)
    assert {i for i in SHOES if after[i] > before[i]} == set(SHOES)
    assert grid_jobs.unsettled(store) == [] and _notices(web, "/products") == []
    incremental = _index(store)
    gi.rebuild(store)
    assert _index(store) == incremental


def test_a_new_image_attribute_alone_is_resequenced_by_the_job(large, store: Store) -> None:
    web, token = large
    before = _seqs(store)
    said = _settings(web, token, attribute_as_image="picture")
    [job] = store.jobs(kind=grid_jobs.KIND)
    assert said.endswith(f"Its products are being marked for incremental exports and contract deltas to send again "
                         f"(job {job['id']}).") and "re-filed" not in said
    assert _seqs(store) == before
    job_queue.work(store, once=True)
    after = _seqs(store)
    assert all(after[i] > before[i] for i in SHOES)


def test_a_small_family_is_still_done_in_the_save(large, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(families, "REINDEX_IN_REQUEST", 6)  # read at each save
    web, token = large
    before = _seqs(store)
    said = _settings(web, token, attribute_as_label="mpn")
    assert store.jobs(kind=grid_jobs.KIND) == [] and "names in the grid follow at once" in said
    assert _found(store, "rn") == SHOES
    after = _seqs(store)
    assert all(after[i] > before[i] for i in SHOES)


def test_a_failed_job_says_so_is_not_settled_by_a_rebuild_and_runs_again(
        large, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = large
    before = _seqs(store)
    _settings(web, token, attribute_as_label="mpn")

    calls = []

    def broken(self: GridIndex, conn: Any, identifiers: list[str], records: Any = None) -> None:
        calls.append(identifiers)
        if len(calls) > 1:
            raise RuntimeError("disk full")
        original(self, conn, identifiers, records)

    original = GridIndex.refresh
    with monkeypatch.context() as patch:
        patch.setattr(GridIndex, "refresh", broken)
        [failed] = job_queue.work(store, once=True).jobs
    assert failed["status"] == "failed" and failed["counts"]["reindexed"] == 2  # the first page is kept
    [notice] = _notices(web, "/products")
    assert notice.startswith(f"Re-filing the products of shoes after a new label or image attribute failed "
                             f"(job {failed['id']})") and "Open the job to run it again." in notice
    gi.rebuild(store)  # re-files every product, but gives none a new seq: the notice stays
    assert [j["id"] for j in grid_jobs.unsettled(store)] == [failed["id"]]
    job_enqueue.retry(store, failed["id"])
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "succeeded" and grid_jobs.unsettled(store) == []
    after = _seqs(store)
    assert all(after[i] > before[i] for i in SHOES) and _found(store, "rn") == SHOES


def test_without_a_deferral_the_structure_write_does_it_all(store: Store) -> None:
    """`pim structure load` (no deferral): however large the family, in the write, as before."""
    from tests.channel_data import seed_products

    seed_products(store)
    before = _seqs(store)
    store.put_structure("family", [store.structure().families["shoes"].model_copy(update={"attribute_as_label": "mpn"})])
    assert store.jobs(kind=grid_jobs.KIND) == [] and _found(store, "rn") == SHOES
    assert all(_seqs(store)[i] > before[i] for i in SHOES)
