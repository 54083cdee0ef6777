"""The content team imports an enrichment file from the web UI: it is kept under PIM_HOME/uploads, merged like
`pim import content` (precedence, quarantine with the kept file's line), and shown as a job; a bad file fails
its job with the reason; viewers cannot import."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    add_user(store, "vi", "correct horse", "viewer")
    return TestClient(create_app(store))


def _upload(web: TestClient, token: str, name: str, body: bytes):  # noqa: ANN202
    return web.post("/imports", data={"csrf_token": token}, files={"file": (name, body, "text/csv")})


def test_an_uploaded_file_is_merged_kept_and_shown_as_a_job(web: TestClient, store: Store, pim_env: Path) -> None:
    token = login(web)
    assert 'href="/imports"' in web.get("/products").text
    done = _upload(web, token, "../../spring copy.csv", b"sku,name:en_US\ncomplete,Trail Runner\nnope,Ghost\n")
    assert done.status_code == 200 and "started" in done.text  # redirected back to the page
    product = store.get_product("complete")
    assert product is not None and product.values["name:en_US"] == "Trail Runner"
    assert product.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]

    [job] = store.jobs(kind="import", limit=1)
    assert job["status"] == "partial" and (job["counts"]["read"], job["counts"]["updated"], job["counts"]["rejected"]) == (2, 1, 1)
    [kept] = list((pim_env / "uploads").iterdir())
    assert kept.name.endswith("-ed-spring_copy.csv") and kept.read_bytes().startswith(b"sku,name:en_US")
    [entry] = store.quarantined(job["id"])
    assert (entry["file"], entry["line"], entry["field"]) == (kept.name, 3, "identifier")  # the kept file, by name
    assert f'data-job="{job["id"]}"' in web.get("/imports").text


def test_a_bad_file_fails_its_job_with_the_reason(web: TestClient, store: Store) -> None:
    token = login(web)
    _upload(web, token, "empty.csv", b"")
    [job] = store.jobs(kind="import", limit=1)
    assert job["status"] == "failed" and "empty" in (job.get("error") or "")


def test_viewers_wrong_files_and_missing_tokens_are_refused(web: TestClient, store: Store, pim_env: Path) -> None:
    viewer = login(web, "vi")
    assert web.get("/imports").status_code == 403
    assert _upload(web, viewer, "c.csv", b"sku,name:en_US\ncomplete,X\n").status_code == 403
    assert 'href="/imports"' not in web.get("/products").text
    web.cookies.clear()
    token = login(web)
    wrong = _upload(web, token, "catalog.xlsx", b"PK\x03\x04")
    assert wrong.status_code == 422 and "is not a content file" in wrong.text
    assert web.post("/imports", files={"file": ("c.csv", b"sku\n", "text/csv")}).status_code == 403  # no CSRF
    assert store.jobs(kind="import", limit=5) == [] and not (pim_env / "uploads").exists()
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
