"""A channels-page save that rescores families: each family below pim.rescore_jobs.IN_REQUEST
products is rescored in the request (stored rows, grid copies and the notice at once), and only the larger
ones become queued rescore jobs, as on the family page. The threshold is read at each request."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pim import job_queue, rescore_jobs
from pim.completeness import stored_completeness
from pim.product import Product
from pim.store import Store
from pim.structure import Family, Locale
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values
from tests.test_web_ui import cheap_argon2  # noqa: F401  (cheap_argon2: autouse fixture)

SOCKS = ["sock-1", "sock-2"]  # shoes has 5 products (tests.channel_data.seed_products)


@pytest.fixture
def web(admin, store: Store) -> tuple[TestClient, str]:
    """The seeded catalog plus a small family, socks, requiring a name on ecommerce, and French declared."""
    store.put_structure("family", [Family(code="socks", attributes=FAMILY_ATTRS, attribute_as_label="name",
                                          requirements={"ecommerce": ["sku", "name"]})])
    store.upsert_products([Product(identifier=s, family="socks", source=ERP, values=complete_values(sku=s))
                           for s in SOCKS])
    store.put_structure("locale", [Locale(code="fr_FR")])
    return admin


def _add_french(web: tuple[TestClient, str]) -> str:
    client, token = web
    saved = client.post("/admin/channels/ecommerce/scope", data={
        "csrf_token": token, "locale": ["en_US", "de_DE", "fr_FR"], "currency": ["EUR", "USD"], "category_tree": "master"})
    assert saved.status_code == 200
    found = re.search(r'<p class="notice"[^>]*>([^<]*)</p>', saved.text)
    return found.group(1).replace("&#39;", "'") if found else ""


def _french(store: Store, identifier: str) -> int | None:
    return {r["locale"]: r["ratio"] for r in stored_completeness(store, identifier)
            if r["channel"] == "ecommerce"}.get("fr_FR")


def _grid_french(store: Store) -> set[str]:
    """The products whose grid completeness copy has a fr_FR row on ecommerce."""
    with store.engine.connect() as conn:
        return set(conn.exec_driver_sql(
            "SELECT p.product FROM grid_completeness c JOIN grid_product p ON p.product_id = c.product_id "
            "WHERE c.channel = 'ecommerce' AND c.locale = 'fr_FR'").scalars())


def test_small_families_are_rescored_in_the_request_and_only_large_ones_queued(
        web, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 3)  # socks (2) below it, shoes (5) above
    notice = _add_french(web)
    [job] = store.jobs(kind="rescore")
    assert job["source"] == "shoes" and job["status"] == "queued" and job["counts"]["channels"] == ["ecommerce"]
    assert notice.endswith(
        f"Products of socks were rescored on ecommerce. The products of shoes are being rescored on ecommerce "
        f"(job {job['id']}); each family's page shows when that is done, and until then the gate scores them itself.")
    assert [_french(store, s) for s in SOCKS] == [50, 50]  # no French name; stored in the save's transaction ...
    assert _grid_french(store) == set(SOCKS)  # ... and copied to the grid; shoes wait for their job
    assert _french(store, "complete") is None
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"shoes": {"ecommerce"}}
    job_queue.work(store, once=True)
    assert store.job(job["id"])["status"] == "succeeded" and _french(store, "complete") is not None
    assert {"complete", "bad-gtin", *SOCKS} <= _grid_french(store)


def test_the_threshold_is_read_at_each_save(web, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 1000)  # every family is small
    notice = _add_french(web)
    assert store.jobs(kind="rescore") == []
    assert notice.endswith("Products of shoes, socks were rescored on ecommerce.")
    assert _french(store, "complete") is not None and _french(store, "sock-1") == 50
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 1)  # every family is large
    client, token = web
    client.post("/admin/channels/ecommerce/scope", data={
        "csrf_token": token, "locale": ["en_US", "de_DE"], "currency": ["EUR", "USD"], "category_tree": "master"})
    assert sorted(j["source"] for j in store.jobs(kind="rescore")) == ["shoes", "socks"]
