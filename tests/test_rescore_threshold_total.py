"""The in-request rescore threshold (pim.rescore_jobs.IN_REQUEST) counts the whole save, not each family: a save
touching several families rescores fewer than that many products in the request all together, and the largest
families beyond that become queued rescore jobs — with the notices and gate behaviour of one large family's
job: until a job succeeds the gate scores its family itself and the dashboard and grid name the families and
channels that wait."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pim import job_queue, rescore_jobs
from pim.completeness import stored_completeness
from pim.gate import evaluate
from pim.product import Product
from pim.store import Store
from pim.structure import Family, Locale
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

SMALL = {"belts": ["belt-1", "belt-2"], "hats": ["hat-1", "hat-2"], "socks": ["sock-1", "sock-2"]}  # 2 each


def _family(code: str, required: list[str]) -> Family:
    return Family(code=code, attributes=FAMILY_ATTRS, attribute_as_label="name",
                  requirements={"ecommerce": ["sku", "name", *required]})


@pytest.fixture
def catalog(role_tokens, store: Store) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """The seeded catalog (shoes: 5 products) plus three small families of two products each, none with a size."""
    store.put_structure("family", [_family(code, []) for code in SMALL])
    store.upsert_products([Product(identifier=i, family=code, source=ERP, values=complete_values(sku=i))
                           for code, items in SMALL.items() for i in items])
    return role_tokens


def _require_size(client: TestClient, headers: dict[str, str]) -> dict:
    """One API save requiring a size of all three small families on ecommerce."""
    body = {"families": [_family(code, ["size"]).model_dump(mode="json") for code in SMALL]}
    resp = client.post("/api/v1/structure", headers=headers, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _stored_misses_size(store: Store, identifier: str) -> bool:
    return any(m.startswith("size") for r in stored_completeness(store, identifier) if r["channel"] == "ecommerce"
               for m in r["missing"])


def _gate_blocks_for_size(store: Store) -> set[str]:
    products = list(store.iter_products())
    return {p.identifier for p, reasons in evaluate(store, store.structure(), "ecommerce", products)
            if any(r.startswith("missing:size") for r in reasons)}


def _stale_notices(web: TestClient, page: str) -> list[str]:
    html = web.get(page).text
    block = re.search(r'<div class="stale-scores"[^>]*>(.*?)</div>', html, re.S)
    return [re.sub(r"<[^>]+>", "", p) for p in re.findall(r"<p>(.*?)</p>", block.group(1), re.S)] if block else []


def test_small_families_whose_sum_crosses_the_threshold_go_to_jobs_largest_first(
        catalog, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = catalog
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 3)  # each family (2) is below it; the save (6) is not
    answer = _require_size(client, tokens["admin"])
    jobs = {j["source"]: j for j in store.jobs(kind="rescore")}
    assert set(jobs) == {"belts", "hats"}  # ties by name: belts, hats go; socks (2 < 3) stays in the request
    assert sorted(j["id"] for j in answer["jobs"]) == sorted(j["id"] for j in jobs.values())
    assert all(j["status"] == "queued" and j["counts"]["channels"] == ["ecommerce"] and j["counts"]["products"] == 2
               for j in jobs.values())
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"belts": {"ecommerce"}, "hats": {"ecommerce"}}
    assert [_stored_misses_size(store, i) for i in SMALL["socks"]] == [True, True]  # rescored in the save
    assert not any(_stored_misses_size(store, i) for i in SMALL["belts"] + SMALL["hats"])  # their jobs wait
    small = {i for items in SMALL.values() for i in items}
    assert _gate_blocks_for_size(store) == small  # the gate scores the waiting families itself

    web = client  # the same app, signed in as the admin for the pages
    login(web, "ad")
    for page in ("/dashboard", "/products"):
        notices = _stale_notices(web, page)
        assert [n.split(" is being")[0] for n in notices] == ["Completeness of belts on ecommerce",
                                                             "Completeness of hats on ecommerce"], page
        assert "The publish gate scores these products itself meanwhile." in notices[0]

    ran = job_queue.work(store, once=True).jobs
    assert sorted(j["source"] for j in ran) == ["belts", "hats"] and all(j["status"] == "succeeded" for j in ran)
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}
    assert all(_stored_misses_size(store, i) for i in small)
    assert _gate_blocks_for_size(store) == small
    assert _stale_notices(web, "/dashboard") == []


def test_a_save_whose_total_stays_below_the_threshold_is_rescored_in_the_request(
        catalog, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = catalog
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 7)  # 6 products in all
    assert _require_size(client, tokens["admin"])["jobs"] == []
    assert store.jobs(kind="rescore") == []
    assert all(_stored_misses_size(store, i) for items in SMALL.values() for i in items)


def test_the_channel_page_queues_the_largest_families_until_the_rest_fits(
        catalog, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new locale rescores every family on the channel: shoes (5) and belts (2) go to jobs, so that hats and
    socks (4 together, below 6) are rescored in the request."""
    client, _ = catalog
    store.put_structure("locale", [Locale(code="fr_FR")])
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 6)
    token = login(client, "ad")
    saved = client.post("/admin/channels/ecommerce/scope", data={
        "csrf_token": token, "locale": ["en_US", "de_DE", "fr_FR"], "currency": ["EUR", "USD"], "category_tree": "master"})
    assert saved.status_code == 200
    jobs = sorted(store.jobs(kind="rescore"), key=lambda j: j["source"])
    assert [j["source"] for j in jobs] == ["belts", "shoes"]
    notice = re.search(r'<p class="notice"[^>]*>([^<]*)</p>', saved.text).group(1).replace("&#39;", "'")
    assert notice.endswith(f"Products of hats, socks were rescored on ecommerce. The products of belts, shoes are being "
                           f"rescored on ecommerce (job {', '.join(str(j['id']) for j in sorted(jobs, key=lambda j: j['id']))}); "
                           "each family's page shows when that is done, and until then the gate scores them itself.")
    french = {r["product"] for r in _rows(store) if r["locale"] == "fr_FR"}
    assert french == set(SMALL["hats"] + SMALL["socks"])
    job_queue.work(store, once=True)
    assert {r["product"] for r in _rows(store) if r["locale"] == "fr_FR"} >= set(SMALL["belts"]) | {"complete"}


def _rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql(
            "SELECT product, locale FROM completeness WHERE channel = 'ecommerce'")]


def test_the_total_runs_over_every_write_of_one_save(catalog, store: Store) -> None:
    """A save that writes twice counts both writes: the first family fits, the second would not; a family
    already decided keeps its place when a later write of the save rescores it again."""
    with rescore_jobs.deferred(3) as deferral:
        store.put_structure("family", [_family("socks", ["size"])])
        assert deferral.jobs == [] and deferral.in_request() == 2
        store.put_structure("family", [_family("hats", ["size"])])
        store.put_structure("family", [_family("socks", ["size", "color"])])
    [job] = store.jobs(kind="rescore")
    assert job["source"] == "hats" and deferral.jobs == [job["id"]] and deferral.families == {"hats"}
    assert deferral.in_request() == 2
    assert all(_stored_misses_size(store, i) for i in SMALL["socks"])
    assert not any(_stored_misses_size(store, i) for i in SMALL["hats"])
