"""The content team imports an enrichment file from the web UI: it is kept under PIM_HOME/uploads, queued as a
job that a worker merges like `pim import content` (precedence, quarantine with the kept file's line); a bad
file fails its job with the reason; the page says plainly when no worker is running; a failed or interrupted
job is queued again from its page; viewers cannot import."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sqlalchemy import update

from pim import job_claims, job_queue, job_workers
from pim.store import Store
from pim.store.store import JOB
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)


@pytest.fixture
def web(client: TestClient) -> TestClient:  # noqa: F811  (the fixture test_web_ui defines)
    """test_web_ui's seeded client (users ed, editor, and vi, viewer)."""
    return client


def _upload(web: TestClient, token: str, name: str, body: bytes):  # noqa: ANN202
    return web.post("/imports", data={"csrf_token": token}, files={"file": (name, body, "text/csv")})


def test_an_uploaded_file_is_merged_kept_and_shown_as_a_job(web: TestClient, store: Store, pim_env: Path) -> None:
    token = login(web)
    assert 'href="/imports"' in web.get("/products").text
    done = _upload(web, token, "../../spring copy.csv", b"sku,name:en_US\ncomplete,Trail Runner\nnope,Ghost\n")
    [queued] = store.jobs(kind="import", limit=1)
    assert done.status_code == 200 and f"Import queued as job {queued['id']}" in done.text  # redirected back
    assert queued["status"] == "queued" and queued["counts"] == {}
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]  # not in the request

    [ran] = job_queue.work(store, once=True).jobs  # a worker's turn
    assert ran["id"] == queued["id"]
    product = store.get_product("complete")
    assert product is not None and product.values["name:en_US"] == "Trail Runner"
    assert product.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]

    [job] = store.jobs(kind="import", limit=1)  # the import loop recorded its run on the queued job
    assert job["id"] == queued["id"]
    assert job["status"] == "partial" and (job["counts"]["read"], job["counts"]["updated"], job["counts"]["rejected"]) == (2, 1, 1)
    [kept] = list((pim_env / "uploads").iterdir())
    assert kept.name.endswith("-ed-spring_copy.csv") and kept.read_bytes().startswith(b"sku,name:en_US")
    [entry] = store.quarantined(job["id"])
    assert (entry["file"], entry["line"], entry["field"]) == (kept.name, 3, "identifier")  # the kept file, by name
    assert f'data-job="{job["id"]}"' in web.get("/imports").text
    assert '<td class="record">nope</td>' in web.get(f"/jobs/{job['id']}").text  # the record each row was for

    _upload(web, token, "spring copy.csv", b"sku,name:en_US\nnope,Ghost\n")  # rejected again: listed once
    [again] = job_queue.work(store, once=True).jobs
    assert f'superseded by <a href="/jobs/{again["id"]}">job {again["id"]}</a>' in web.get(f"/jobs/{job['id']}").text
    assert [q["job_id"] for q in store.quarantined()] == [again["id"]]


def test_uploading_the_fixed_file_closes_what_its_earlier_upload_could_not_key(web: TestClient, store: Store) -> None:
    """Each upload is kept under a name of its own: the earlier uploads of a file are found by the name it was
    uploaded under, the importer and profile (pim.store.supersede.earlier_uploads)."""
    token = login(web)
    _upload(web, token, "fix.csv", b"sku,name:en_US\n,Nameless\ncomplete,Fine\n")
    _upload(web, token, "other.csv", b"sku,name:en_US\n,Nameless\n")
    first, other = job_queue.work(store, once=True).jobs + job_queue.work(store, once=True).jobs
    assert sorted((q["job_id"], q["record_key"]) for q in store.quarantined()) == [(first["id"], None), (other["id"], None)]
    _upload(web, token, "fix.csv", b"sku,name:en_US\ncomplete,Fine\n")  # the row without a SKU removed
    [fixed] = job_queue.work(store, once=True).jobs
    assert fixed["status"] == "succeeded"
    assert [q["job_id"] for q in store.quarantined()] == [other["id"]]  # another file's entry stays open
    [closed] = store.quarantined(first["id"], open_only=False)
    assert closed["superseded_by"] == fixed["id"]


def test_a_bad_file_fails_its_job_with_the_reason(web: TestClient, store: Store) -> None:
    token = login(web)
    _upload(web, token, "empty.csv", b"")
    assert [j["status"] for j in job_queue.work(store, once=True).jobs] == ["failed"]
    [job] = store.jobs(kind="import", limit=1)
    assert job["status"] == "failed" and "empty" in (job.get("error") or "")
    assert "empty" in web.get(f"/jobs/{job['id']}").text


def test_the_page_says_plainly_when_no_worker_takes_the_queued_import(web: TestClient, store: Store) -> None:
    token = login(web)
    page = _upload(web, token, "c.csv", b"sku,name:en_US\ncomplete,X\n").text
    assert "queued — no worker is running: ask your administrator to start one (`pim worker`)" in page
    assert 'hx-trigger="every 3s"' in page
    [job] = store.jobs(kind="import", limit=1)
    assert "no worker is running" in web.get(f"/jobs/{job['id']}").text
    with job_workers.present(store):  # a worker alive (its row, this process)
        page = web.get("/imports").text
        assert "no worker is running" not in page and "queued" in page
        assert "waiting for a worker" in web.get(f"/jobs/{job['id']}").text
    assert "no worker is running" in web.get("/imports").text  # it stopped
    job_queue.work(store, once=True)
    assert "no worker is running" not in web.get("/imports").text  # nothing waits: nothing to say


def test_an_interrupted_import_is_queued_again_from_its_page(web: TestClient, store: Store) -> None:
    token = login(web)
    _upload(web, token, "c.csv", b"sku,name:en_US\ncomplete,Again\n")
    job = job_claims.claim(store)
    with store.begin() as conn:  # the worker that claimed it died: a pid no process has
        conn.execute(update(JOB).where(JOB.c.id == job["id"]).values(pid=2**22 + 17))
    page = web.get(f"/jobs/{job['id']}").text
    assert "interrupted" in page and f'action="/jobs/{job["id"]}/retry"' in page
    assert web.post(f"/jobs/{job['id']}/retry", data={}).status_code == 403  # CSRF
    again = web.post(f"/jobs/{job['id']}/retry", data={"csrf_token": token})
    assert again.status_code == 200 and "no worker is running" in again.text  # redirected to its page
    assert store.job(job["id"])["status"] == "queued"
    assert "Earlier attempts" in again.text and "interrupted" in again.text
    web.cookies.clear()
    assert web.post(f"/jobs/{job['id']}/retry", data={"csrf_token": login(web, "vi")}).status_code == 403  # viewer
    web.cookies.clear()
    token = login(web)
    job_queue.work(store, once=True)
    done = store.job(job["id"])
    assert done["status"] == "succeeded" and done["counts"]["updated"] == 1
    assert store.get_product("complete").values["name:en_US"] == "Again"  # type: ignore[union-attr]
    refused = web.post(f"/jobs/{job['id']}/retry", data={"csrf_token": token})  # succeeded: nothing to run again
    assert refused.status_code == 409 and "only a failed or interrupted job is queued again" in refused.text


def test_viewers_wrong_files_and_missing_tokens_are_refused(web: TestClient, store: Store, pim_env: Path) -> None:
    viewer = login(web, "vi")
    assert web.get("/imports").status_code == 403
    assert _upload(web, viewer, "c.csv", b"sku,name:en_US\ncomplete,X\n").status_code == 403
    assert 'href="/imports"' not in web.get("/products").text
    web.cookies.clear()
    token = login(web)
    wrong = _upload(web, token, "catalog.ods", b"PK\x03\x04")
    assert wrong.status_code == 422 and "is not a content file" in wrong.text
    assert web.post("/imports", files={"file": ("c.csv", b"sku\n", "text/csv")}).status_code == 403  # no CSRF
    assert store.jobs(kind="import", limit=5) == [] and not (pim_env / "uploads").exists()
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
