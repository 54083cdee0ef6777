"""A family save too large to rescore inside the request: the structure write queues a rescore job in the
same transaction and a worker runs it (pim.job_queue). Meanwhile — queued or running — the gate does not
trust the family's stored scores; once the job succeeds they equal a full rebuild; a failed or interrupted
job says so on the family page and is healed by "Rescore now", a re-save, the job queued again, or
`pim gate rescore`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from typer.testing import CliRunner

from pim import job_claims, job_queue, rescore_jobs
from pim.cli import _mount, app as cli
from pim.completeness import stored_completeness
from pim.completeness_rebuild import rebuild
from pim.gate import evaluate
from pim.grid_index import rebuild as rebuild_grid
from pim.product import Product
from pim.rescore import Rescorer
from pim.store import Store
from pim.store.store import JOB
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import ERP, complete_values, seed_products
from tests.test_web_ui import admin_client, cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

REQUIRED = ["sku", "name", "description", "price", "image"]
_mount()


@pytest.fixture
def admin(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, str]:
    """The shoes family with 12 products (a variant among them); any save of it is "large"."""
    seed_products(store)
    store.upsert_products([Product(identifier=f"shoe-{n}", family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku=f"shoe-{n}", **({"size": "42"} if n % 2 else {})))
                           for n in range(7)])
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 1)
    monkeypatch.setattr(rescore_jobs, "PAGE", 5)  # several pages, each its own transaction
    return admin_client(store)


def _save(web: TestClient, token: str, required: list[str]):  # noqa: ANN202
    return web.post("/admin/families/shoes", data={"csrf_token": token, **{f"req:ecommerce:{a}": "on" for a in required}})


def _blocked(store: Store) -> dict[str, list[str]]:
    products = list(store.iter_products())
    return {p.identifier: r for p, r in evaluate(store, store.structure(), "ecommerce", products) if r}


def _state(store: Store) -> dict[str, Any]:
    """Every stored score, counter and grid copy, comparable across the incremental path and a rebuild."""
    queries = {
        "completeness": "SELECT product, channel, locale, family, ratio, required, missing_count, missing FROM completeness",
        "count": "SELECT channel, locale, family, products, complete FROM completeness_count WHERE products <> 0 OR complete <> 0",
        "missing": "SELECT channel, locale, family, attribute, products FROM completeness_missing WHERE products <> 0",
        "grid_missing": "SELECT channel, locale, attribute, product_id FROM grid_missing",
        "grid_completeness": "SELECT channel, locale, complete, product_id, ratio FROM grid_completeness",
    }
    with store.engine.connect() as conn:
        return {k: sorted(tuple(json.dumps(json.loads(v) if isinstance(v, str) and v.startswith("[") else v)
                                if isinstance(v, (str, list)) else v for v in row) for row in conn.execute(text(q)))
                for k, q in queries.items()}


def _equals_a_rebuild(store: Store) -> None:
    incremental = _state(store)
    rebuild(store, workers=1)
    rebuild_grid(store)
    assert incremental == _state(store)


def test_a_large_family_save_queues_a_job_and_the_gate_does_not_trust_stale_scores(admin, store: Store) -> None:
    web, token = admin
    assert "complete" not in _blocked(store)
    saved = _save(web, token, REQUIRED + ["size"])  # 'size': only the odd shoes have one
    assert saved.status_code == 200
    [job] = store.jobs(kind="rescore")
    job_id = job["id"]
    assert f"The products of shoes are being rescored on ecommerce (job {job_id})" in saved.text
    assert job["kind"] == "rescore" and job["source"] == "shoes" and job["status"] == "queued"
    assert job["counts"] == {"family": "shoes", "channels": ["ecommerce"], "products": 12, "rescored": 0, "changed": 0}
    assert set(store.structure().families["shoes"].requirements["ecommerce"]) == set(REQUIRED) | {"size"}
    # While the job waits for a worker: the stored rows still say complete, the gate scores the family itself
    assert not any("size" in m for r in stored_completeness(store, "complete") for m in r["missing"])
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"shoes": {"ecommerce"}}
    blocked = _blocked(store)
    assert "missing:size:en_US" in blocked["complete"] and "shoe-0" in blocked and "shoe-1" not in blocked
    page = web.get("/admin/families/shoes").text
    assert "Rescoring 12 products of shoes on ecommerce: 0 done" in page and 'hx-trigger="every 2s"' in page
    assert "queued — no worker is running: ask your administrator to start one (`pim worker`)" in page

    [ran] = job_queue.work(store, once=True).jobs  # a worker's turn
    assert ran["id"] == job_id and ran["counts"]["rescored"] == 12
    job = store.job(job_id)
    assert job["status"] == "succeeded" and job["counts"]["rescored"] == 12 and job["finished_at"] is not None
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}
    assert any("size" in m for r in stored_completeness(store, "complete") for m in r["missing"])
    assert _blocked(store) == blocked  # the stored rows now say what the gate worked out meanwhile
    status = web.get("/admin/families/shoes/rescoring").text
    assert "Last rescore: 12 products on ecommerce" in status and "hx-trigger" not in status
    _equals_a_rebuild(store)


def test_the_workers_run_leaves_the_scores_of_a_rebuild(admin, store: Store) -> None:
    web, token = admin
    saved = _save(web, token, [a for a in REQUIRED if a != "description"])
    assert "are being rescored on ecommerce" in saved.text
    job_queue.work(store, once=True)
    [job] = store.jobs(kind="rescore")
    assert job["status"] == "succeeded" and job["counts"]["rescored"] == 12 and job["counts"]["changed"] > 0
    assert not any(m.startswith("description") for r in stored_completeness(store, "no-description") for m in r["missing"])
    assert "Last rescore: 12 products" in web.get("/admin/families/shoes").text
    _equals_a_rebuild(store)


def test_the_job_also_rescores_variants_that_take_their_family_from_their_model(admin, store: Store) -> None:
    """A variant stored without a family of its own is scored as its model's family: the job counts and
    rescores it like the family's own products, and the scores equal a rebuild."""
    web, token = admin
    store.upsert_products([Product(identifier="runner-blue", parent="runner_model", source=ERP,
                                   values=complete_values(sku="runner-blue", color="blue"))])
    assert store.get_product("runner-blue").family is None  # type: ignore[union-attr]
    _save(web, token, [a for a in REQUIRED if a != "description"])
    job_queue.work(store, once=True)
    [job] = store.jobs(kind="rescore")
    assert job["status"] == "succeeded" and job["counts"]["products"] == 13 and job["counts"]["rescored"] == 13
    _equals_a_rebuild(store)


def test_a_small_family_is_still_rescored_inside_the_request(admin, store: Store, monkeypatch) -> None:
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 13)
    web, token = admin
    saved = _save(web, token, [a for a in REQUIRED if a != "description"])
    assert "Products of shoes were rescored on ecommerce." in saved.text
    assert store.jobs(kind="rescore") == []
    assert not any(m.startswith("description") for r in stored_completeness(store, "no-description") for m in r["missing"])
    _equals_a_rebuild(store)


def test_a_failed_rescore_is_recorded_and_rescore_now_heals_it(admin, store: Store, monkeypatch) -> None:
    web, token = admin
    real = Rescorer.rescore
    pages: list[int] = []

    def second_page_fails(self, conn, identifiers, channels=None, records=None):  # noqa: ANN001, ANN202
        pages.append(len(identifiers))
        if len(pages) == 2:
            raise RuntimeError("database went away")
        return real(self, conn, identifiers, channels, records)

    monkeypatch.setattr(Rescorer, "rescore", second_page_fails)
    _save(web, token, REQUIRED + ["size"])
    assert job_queue.work(store, once=True).failed
    [job] = store.jobs(kind="rescore")
    assert job["status"] == "failed" and job["counts"]["rescored"] == 5  # the first page was kept
    assert "RuntimeError: database went away" in job["error"] and "pim gate rescore" in job["error"]
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"shoes": {"ecommerce"}}
    blocked = _blocked(store)  # not trusted, on the rescored page or not
    assert "missing:size:en_US" in blocked["complete"] and "missing:size:en_US" in blocked["shoe-2"]
    page = web.get("/admin/families/shoes").text
    assert "The rescore of shoes on ecommerce failed after 5 of 12 products" in page
    assert "may be out of date" in page and 'action="/admin/families/shoes/rescore"' in page

    monkeypatch.setattr(Rescorer, "rescore", real)
    again = web.post("/admin/families/shoes/rescore", data={"csrf_token": token})
    assert "Rescoring again: the products of shoes on ecommerce" in again.text
    assert store.jobs(kind="rescore")[0]["status"] == "queued"
    job_queue.work(store, once=True)
    assert store.jobs(kind="rescore")[0]["status"] == "succeeded"
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}
    assert "may be out of date" not in web.get("/admin/families/shoes").text
    assert web.post("/admin/families/shoes/rescore", data={}).status_code == 403  # CSRF
    _equals_a_rebuild(store)


def test_an_interrupted_rescore_shows_and_a_resave_or_pim_gate_rescore_heals_it(admin, store: Store) -> None:
    web, token = admin
    _save(web, token, REQUIRED + ["size"])
    job_id = job_claims.claim(store)["id"]  # a worker took it ...
    with store.begin() as conn:  # ... and died: a pid no process has
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(pid=2**22 + 17))
    assert store.job(job_id)["status"] == "interrupted"
    page = web.get("/admin/families/shoes").text
    assert "interrupted after 0 of 12 products" in page and "Rescore now" in page and "hx-trigger" not in page

    resave = _save(web, token, REQUIRED + ["size"])  # nothing changed: runs the rescore again
    assert "Nothing changed. Rescoring again what a failed rescore left: the products of shoes on ecommerce" in resave.text
    assert [j["status"] for j in store.jobs(kind="rescore")] == ["queued", "interrupted"]
    resave = _save(web, token, REQUIRED + ["size"])  # again, while that one waits: no second job
    assert "Nothing changed." in resave.text and len(store.jobs(kind="rescore")) == 2

    result = CliRunner().invoke(cli, ["gate", "rescore", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == {"rescored": 12}
    full = store.jobs(kind="rescore")[0]
    assert full["source"] == "*" and full["status"] == "succeeded"
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}  # the full rebuild settled both
    assert "missing:size:en_US" in _blocked(store)["complete"]


def test_only_admins_rescore(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.post("/admin/families/shoes/rescore", data={"csrf_token": token}).status_code == 403
    assert editor.get("/admin/families/shoes/rescoring").status_code == 403
    assert store.jobs(kind="rescore") == []


def test_a_failed_rescore_job_queued_again_settles_its_family(admin, store: Store, monkeypatch) -> None:
    """Run again in place (its job page, `pim jobs retry`): progress starts over and its success settles."""
    web, token = admin
    real = Rescorer.rescore

    def fails(self, conn, identifiers, channels=None, records=None):  # noqa: ANN001, ANN202
        raise RuntimeError("disk full")

    monkeypatch.setattr(Rescorer, "rescore", fails)
    _save(web, token, REQUIRED + ["size"])
    [failed] = job_queue.work(store, once=True).jobs
    assert failed["status"] == "failed" and "disk full" in failed["error"]
    page = web.get(f"/jobs/{failed['id']}").text
    assert f'action="/jobs/{failed["id"]}/retry"' in page

    monkeypatch.setattr(Rescorer, "rescore", real)
    web.post(f"/jobs/{failed['id']}/retry", data={"csrf_token": token})
    assert store.job(failed["id"])["status"] == "queued"
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"shoes": {"ecommerce"}}  # queued again: still not trusted
    [done] = job_queue.work(store, once=True).jobs
    assert done["id"] == failed["id"] and done["status"] == "succeeded" and done["counts"]["rescored"] == 12
    assert [a["status"] for a in done["payload"]["attempts"]] == ["failed"]
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}
    _equals_a_rebuild(store)
