"""Round 33, the REST API for integrators: an incremental change feed (`GET /changes?since=`: writes and
deletions by write sequence, keyset-paged), product models (`GET /models/{code}`) and a variant's values with
what it inherits (`GET /products/{id}?resolved=true`). One seeded SQLite catalog for the module (each feed test
reads only what was written after its own starting seq); the feed's SQL runs on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from pim.product import Product, ProductModel, Provenance
from pim.store import Store
from tests.conftest import module_home
from tests.channel_data import ERP, seed_products
from tests.test_api_errors import by_field

Api = tuple[TestClient, dict[str, dict[str, str]], Store]
PIM = Provenance(source="supplier:acme", ref="acme.csv:7", at=datetime(2026, 2, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def api(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The seeded catalog (tests.channel_data) plus a two-level model (trail_root → trail_sub → trail-1), with
    an admin and a viewer token."""
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    with module_home(sqlite_template, tmp_path_factory.mktemp("api_sync")) as (store, mp):
        mp.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
        seed_products(store)
        store.upsert_models([
            ProductModel(code="trail_root", family_variant="shoes_color", family="shoes", source=ERP,
                         values={"name:en_US": "Trail", "brand": "acme", "mpn": "TR-1"}),
            ProductModel(code="trail_sub", family_variant="shoes_color", family="shoes", parent="trail_root",
                         source=ERP, provenance={"name:en_US": PIM}, values={"name:en_US": "Trail Sub"})])
        store.upsert_products([Product(identifier="trail-1", family="shoes", parent="trail_sub", source=ERP,
                                       values={"sku": "trail-1", "color": "blue", "mpn": "TR-1-BLUE"})])
        tokens = {}
        for name, role in (("ad", "admin"), ("vi", "viewer")):
            user = add_user(store, name, "correct horse", role)
            tokens[role] = {"Authorization": f"Bearer {create_token(store, user)}"}
        yield TestClient(create_app(store)), tokens, store


def feed(client: TestClient, headers: dict[str, str], since: int, limit: int = 100) -> dict[str, Any]:
    resp = client.get("/api/v1/changes", params={"since": since, "limit": limit}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def walk(client: TestClient, headers: dict[str, str], since: int, limit: int) -> list[dict[str, Any]]:
    """Every change after `since`, following `next_since` while `more`."""
    seen: list[dict[str, Any]] = []
    while True:
        page = feed(client, headers, since, limit)
        seen += page["changes"]
        since = page["next_since"]
        if not page["more"]:
            return seen


# ---------------------------------------------------------------- 1. the change feed


def test_since_zero_walks_every_product_and_tombstone_once_a_page_at_a_time(api: Api) -> None:
    client, tokens, store = api
    every = walk(client, tokens["viewer"], 0, limit=1)
    idents = [c["identifier"] for c in every]
    assert len(idents) == len(set(idents))
    assert [c["seq"] for c in every] == sorted(c["seq"] for c in every)
    written = {c["identifier"] for c in every if c["action"] == "upsert"}
    assert written == {p.identifier for p in store.iter_products()}
    assert {c["identifier"] for c in every if c["action"] == "delete"} == set(store.deleted_since(0))


def test_a_deleted_product_shows_as_a_delete(api: Api) -> None:
    client, tokens, store = api
    store.upsert_products([Product(identifier="gone-1", family="shoes", source=ERP, values={"sku": "gone-1"})])
    start = store.current_seq()
    assert client.delete("/api/v1/products/gone-1", headers=tokens["admin"]).status_code == 204
    page = feed(client, tokens["viewer"], start)
    assert [(c["identifier"], c["action"]) for c in page["changes"]] == [("gone-1", "delete")]
    assert page["next_since"] == page["changes"][0]["seq"] > start and page["more"] is False


def test_a_product_deleted_and_created_again_is_listed_once_as_written(api: Api) -> None:
    client, tokens, store = api
    start = store.current_seq()
    again = Product(identifier="again-1", family="shoes", source=ERP, values={"sku": "again-1"})
    store.upsert_products([again])
    store.delete_products(["again-1"])
    store.upsert_products([again])
    assert [(c["identifier"], c["action"]) for c in feed(client, tokens["viewer"], start)["changes"]] == [
        ("again-1", "upsert")]


def test_a_product_written_after_the_first_page_comes_again_later(api: Api) -> None:
    client, tokens, store = api
    start = store.current_seq()
    store.upsert_products([Product(identifier=f"page-{n}", family="shoes", source=ERP, values={"sku": f"page-{n}"})
                           for n in (1, 2)])
    first = feed(client, tokens["viewer"], start, limit=1)
    assert [c["identifier"] for c in first["changes"]] == ["page-1"] and first["more"] is True
    store.upsert_products([Product(identifier="page-1", family="shoes", source=ERP,
                                   values={"sku": "page-1", "mpn": "NEW"})])
    rest = walk(client, tokens["viewer"], first["next_since"], limit=1)
    assert [(c["identifier"], c["action"]) for c in rest] == [("page-2", "upsert"), ("page-1", "upsert")]
    assert rest[-1]["seq"] > first["changes"][0]["seq"]


def test_a_model_write_lists_every_variant_below_it(api: Api) -> None:
    client, tokens, store = api
    start = store.current_seq()
    root = store.get_model("trail_root")
    assert root is not None
    store.upsert_models([root.model_copy(update={"values": {**root.values, "mpn": "TR-2"}})])
    assert [c["identifier"] for c in feed(client, tokens["viewer"], start)["changes"]] == ["trail-1"]


def test_past_the_last_change_the_feed_is_empty_and_keeps_the_watermark(api: Api) -> None:
    client, tokens, store = api
    now = store.current_seq()
    assert feed(client, tokens["viewer"], now) == {"changes": [], "next_since": now, "more": False}


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "²", str(2**63), " 1"])
def test_a_since_that_is_no_seq_is_a_422_on_query_since(api: Api, since: str) -> None:
    client, tokens, _ = api
    resp = client.get("/api/v1/changes", params={"since": since}, headers=tokens["viewer"])
    assert resp.status_code == 422 and "next_since" in by_field(resp)["query.since"]


def test_the_feed_needs_a_token(api: Api) -> None:
    client, _, _ = api
    assert client.get("/api/v1/changes").status_code == 401


def test_the_feed_reads_each_seq_index_as_a_range(store: Store) -> None:
    """Both backends: the statement's results, and its plan uses product's and the tombstones' seq indexes (a
    keyset range), never a scan of the catalog sorted by seq."""
    store.upsert_products([Product(identifier=f"s-{n}", source=ERP) for n in range(4)])
    store.delete_products(["s-1"])
    store.upsert_products([Product(identifier="s-0", source=PIM)])
    assert store.changes_since(0, 10) == [(3, "s-2", True), (4, "s-3", True), (5, "s-1", False), (6, "s-0", True)]
    assert store.changes_since(3, 2) == [(4, "s-3", True), (5, "s-1", False)]
    statements: list[tuple[str, Any]] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, _ctx, _many: statements.append((sql, params)))
    store.changes_since(2, 2)
    sql, params = statements[-1]
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tiny tables: the planner would scan them
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
            assert "ix_product_seq" in plan and "ix_deleted_product_seq" in plan, plan
            assert " Sort  (" not in plan, plan  # each range comes in seq order: merged, not sorted
        else:
            plan = "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            assert "SEARCH product USING INDEX ix_product_seq (seq>?)" in plan, plan
            assert "SEARCH deleted_product USING INDEX ix_deleted_product_seq (seq>?)" in plan, plan


# ---------------------------------------------------------------- 2. product models


def test_a_model_answers_with_its_values_and_times_with_their_offset(api: Api) -> None:
    client, tokens, _ = api
    resp = client.get("/api/v1/models/trail_sub", headers=tokens["viewer"])
    assert resp.status_code == 200
    body = resp.json()
    assert (body["code"], body["family_variant"], body["parent"]) == ("trail_sub", "shoes_color", "trail_root")
    assert body["values"] == {"name:en_US": "Trail Sub"}
    assert body["source"]["at"] == "2026-01-01T00:00:00+00:00"
    assert body["provenance"]["name:en_US"]["at"] == "2026-02-01T00:00:00+00:00"


def test_an_unknown_model_is_a_404(api: Api) -> None:
    client, tokens, _ = api
    resp = client.get("/api/v1/models/NOPE", headers=tokens["viewer"])
    assert resp.status_code == 404 and by_field(resp) == {None: "no product model 'NOPE'"}


def test_a_model_asked_for_as_a_product_is_pointed_at_its_route(api: Api) -> None:
    client, tokens, _ = api
    resp = client.get("/api/v1/products/trail_root", headers=tokens["viewer"])
    assert resp.status_code == 404 and "GET /api/v1/models/trail_root" in by_field(resp)[None]


# ---------------------------------------------------------------- 3. a variant's resolved values


def test_resolved_values_add_what_the_models_hold_and_name_the_nearest(api: Api) -> None:
    client, tokens, _ = api
    body = client.get("/api/v1/products/trail-1", params={"resolved": "true"}, headers=tokens["viewer"]).json()
    assert body["values"] == {"sku": "trail-1", "color": "blue", "mpn": "TR-1-BLUE", "name:en_US": "Trail Sub",
                              "brand": "acme"}
    assert body["inherited_from"] == {"name:en_US": "model:trail_sub", "brand": "model:trail_root"}
    assert body["provenance"]["name:en_US"] == {"source": "supplier:acme", "ref": "acme.csv:7",
                                                "at": "2026-02-01T00:00:00+00:00"}
    assert body["provenance"]["brand"]["at"] == "2026-01-01T00:00:00+00:00"


def test_without_resolved_a_variant_shows_only_its_own_values(api: Api) -> None:
    client, tokens, _ = api
    body = client.get("/api/v1/products/trail-1", headers=tokens["viewer"]).json()
    assert body["values"] == {"sku": "trail-1", "color": "blue", "mpn": "TR-1-BLUE"}
    assert "inherited_from" not in body and body["provenance"] == {}


def test_a_product_without_a_model_resolves_to_its_own_values(api: Api) -> None:
    client, tokens, store = api
    body = client.get("/api/v1/products/long-title?resolved=true", headers=tokens["viewer"]).json()
    assert body["values"] == store.get_product("long-title").values  # type: ignore[union-attr]
    assert body["inherited_from"] == {}
