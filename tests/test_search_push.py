"""Pushing to Meilisearch, against the contract double (tests/meili_double.py) over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from exporters.meilisearch import MeiliError
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, cable, load_catalog, publish_search, variant

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"


def api(meili: ServedDouble, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(method, meili.url + path, headers={"Authorization": f"Bearer {meili.master_key}"}, **kw)
    return r.json()


def skus(meili: ServedDouble, uid: str) -> set[str]:
    return {d["sku"] for d in meili.double.indexes[uid].documents.values()}


def task_types(meili: ServedDouble) -> list[str]:
    return [t["type"] for t in meili.double.tasks.values()]


@pytest.fixture
def catalog(store: Store, meili_env: ServedDouble) -> Store:
    load_catalog(store)
    return store


def test_first_push_builds_every_locale_index_with_settings_and_documents(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    result = publish_search(catalog, tmp_path)
    assert result.locations == [f"{meili_env.url}/indexes/{EN}", f"{meili_env.url}/indexes/{DE}"]
    assert set(meili_env.double.indexes) == {EN, DE}
    assert skus(meili_env, DE) == {"HP-100-RED", "HP-100-BLK", CABLE}
    settings = api(meili_env, "GET", f"/indexes/{DE}/settings")
    assert settings["distinctAttribute"] == "group" and "facets.color" in settings["filterableAttributes"]


def test_search_groups_variants_and_counts_facets(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    found = api(meili_env, "POST", f"/indexes/{DE}/search", json={"q": "studio", "facets": ["facets.color", "category_paths.lvl1"]})
    assert len(found["hits"]) == 1 and found["hits"][0]["group"] == "HP-100"
    assert found["facetDistribution"]["facets.color"] == {"Rot": 1, "Schwarz": 1}
    assert found["facetDistribution"]["category_paths.lvl1"] == {"Audio > Kopfhörer": 2}


def test_incremental_push_sends_one_changed_product_and_no_settings(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    before = len(meili_env.double.tasks)
    catalog.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(catalog, tmp_path)
    new = [t for uid, t in meili_env.double.tasks.items() if uid >= before]
    assert [t["type"] for t in new] == ["documentDeletion", "documentAdditionOrUpdate"] * 2 or \
        [t["type"] for t in new] == ["documentAdditionOrUpdate"] * 2
    assert all(t["details"].get("receivedDocuments", 1) == 1 for t in new)
    assert meili_env.double.indexes[EN].documents["HP-100-RED"]["text"] == {"material": "canvas"}


def test_product_blocked_by_the_gate_is_deleted_from_the_index(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    # The family requires a name on ecommerce: without any name the real gate blocks the cable (round 37: without
    # its German name alone, it leaves the German index only: tests/test_search_locales_r37k.py).
    catalog.upsert_products([cable(**{"name:de_DE": None, "name:en_US": None})])
    result = publish_search(catalog, tmp_path)
    assert CABLE in result.blocked
    assert CABLE not in skus(meili_env, EN) | skus(meili_env, DE)
    assert skus(meili_env, EN) == {"HP-100-RED", "HP-100-BLK"}


def test_disabled_and_deleted_products_are_deleted_from_the_index(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    catalog.upsert_products([variant("HP-100-BLK", "black").model_copy(update={"enabled": False})])
    catalog.delete_products([CABLE])
    publish_search(catalog, tmp_path)
    assert skus(meili_env, EN) == skus(meili_env, DE) == {"HP-100-RED"}


def test_failed_task_is_reported_and_its_batch_retried(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    meili_env.double.fail_next("documentAdditionOrUpdate", code="internal", times=1)
    result = publish_search(catalog, tmp_path)
    failed = [t for t in meili_env.double.tasks.values() if t["status"] == "failed"]
    assert [t["error"]["code"] for t in failed] == ["internal"]
    assert skus(meili_env, EN) == skus(meili_env, DE) == {"HP-100-RED", "HP-100-BLK", CABLE}
    assert result.published == 3


def test_permanent_failure_names_meilisearchs_error_and_keeps_the_watermark(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    meili_env.double.fail_next("documentAdditionOrUpdate", code="invalid_document_id", times=1, message="bad id")
    catalog.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    with pytest.raises(MeiliError, match="invalid_document_id: bad id"):
        publish_search(catalog, tmp_path)
    publish_search(catalog, tmp_path)  # the watermark did not move: the change is sent again
    assert meili_env.double.indexes[EN].documents["HP-100-RED"]["text"] == {"material": "canvas"}


def test_full_reindex_swaps_a_fresh_index_in_and_drops_the_old_one(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    old = meili_env.double.indexes[EN]
    catalog.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(catalog, tmp_path, full=True)
    assert "indexSwap" in task_types(meili_env)
    assert set(meili_env.double.indexes) == {EN, DE}  # the build copies are gone
    assert meili_env.double.indexes[EN] is not old and old.uid == f"{EN}_build"
    assert meili_env.double.indexes[EN].documents["HP-100-RED"]["text"] == {"material": "canvas"}


def test_failed_full_reindex_leaves_the_live_index_serving_the_old_documents(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    catalog.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    meili_env.double.fail_next("documentAdditionOrUpdate", code="invalid_document_id", times=1)
    with pytest.raises(MeiliError):
        publish_search(catalog, tmp_path, full=True)
    hits = api(meili_env, "POST", f"/indexes/{EN}/search", json={"q": "leather", "distinct": "sku"})["hits"]
    assert {h["sku"] for h in hits} == {"HP-100-RED", "HP-100-BLK"}  # the old, complete index
    assert task_types(meili_env).count("indexSwap") == 1  # the first push's, not this one's


def test_settings_are_patched_only_when_they_differ(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    api(meili_env, "PATCH", f"/indexes/{EN}/settings", json={"rankingRules": ["words"]})
    catalog.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    before = len(meili_env.double.tasks)
    publish_search(catalog, tmp_path)
    patched = [t for uid, t in meili_env.double.tasks.items() if uid >= before and t["type"] == "settingsUpdate"]
    assert [(t["indexUid"], list(t["details"])) for t in patched] == [(EN, ["rankingRules"])]


def test_oversized_batch_is_split_until_the_server_accepts_it(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = ServedDouble(document_payload_limit=1000)  # one document is ~600 bytes, three are not
    try:
        monkeypatch.setenv("MEILI_URL", served.url)
        monkeypatch.setenv("MEILI_MASTER_KEY", served.master_key)
        monkeypatch.setenv("MEILI_BACKOFF", "0")
        load_catalog(store)
        publish_search(store, tmp_path)
        adds = [t for t in served.double.tasks.values() if t["type"] == "documentAdditionOrUpdate"]
        assert len(adds) >= 4 and all(t["status"] == "succeeded" for t in adds)
        assert len(served.double.indexes[EN].documents) == 3
    finally:
        served.close()


def test_incremental_push_to_a_missing_index_asks_for_a_full_rebuild(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    api(meili_env, "DELETE", f"/indexes/{EN}")
    catalog.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    with pytest.raises(MeiliError) as err:
        publish_search(catalog, tmp_path)
    assert "--full" in (err.value.hint or "")


def test_a_price_that_ages_past_the_limit_leaves_at_the_next_incremental_push(catalog: Store, meili_env: ServedDouble,
                                                                              tmp_path: Path) -> None:
    """Nothing is rewritten: the push finds the products whose price crossed the age limit since the last
    push (pim.gate.aged_between) and sends them with the written ones, without a rebuild."""
    from datetime import UTC, datetime, timedelta

    from pim.product import Provenance
    from pim.structure import Channel, GateRules
    from tests.search_data import cable

    catalog.put_structure("channel", [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                              category_tree="master",
                                              gate=GateRules(block_on=["stale_price"], max_price_age_days=30))])
    priced = datetime(2026, 1, 1, tzinfo=UTC)
    catalog.upsert_products([cable().model_copy(update={"provenance": {"price": Provenance(source="erp", at=priced)}})])
    publish_search(catalog, tmp_path, as_of=priced + timedelta(days=29))
    assert CABLE in skus(meili_env, EN)
    result = publish_search(catalog, tmp_path, as_of=priced + timedelta(days=29, hours=12))  # not yet 30 days
    assert {(a.meta["mode"], a.rows) for a in result.artifacts if a.meta["kind"] == "documents"} == {("incremental", 0)}
    assert CABLE in skus(meili_env, EN)
    result = publish_search(catalog, tmp_path, as_of=priced + timedelta(days=30, hours=1))
    docs = [a for a in result.artifacts if a.meta["kind"] == "documents"]
    assert {a.meta["mode"] for a in docs} == {"incremental"}
    assert {a.meta["reason"] for a in docs} == {
        "changes since the last push, and 1 products whose price or stock reading aged past the channel's limit"}
    assert {a.rows for a in docs} == {0}  # the cable alone was read, and blocked
    assert CABLE in result.blocked and CABLE not in skus(meili_env, EN)
    result = publish_search(catalog, tmp_path, as_of=priced + timedelta(days=31))  # crossed before: not again
    assert {a.meta["reason"] for a in result.artifacts} == {"changes since the last push"}
    # a push decided back before the limit (the last one ran ahead of the clock): the price is young again
    result = publish_search(catalog, tmp_path, as_of=priced + timedelta(days=29, hours=23))
    assert CABLE not in result.blocked and CABLE in skus(meili_env, EN)


def test_stock_that_ages_past_the_limit_leaves_and_a_fresh_reading_brings_it_back(catalog: Store, meili_env: ServedDouble,
                                                                                  tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from pim.commerce import StockLevel, put_stock
    from pim.structure import Channel, GateRules

    catalog.put_structure("channel", [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                              category_tree="master",
                                              gate=GateRules(block_on=["stale_stock"], max_stock_age_days=2))])
    from sqlalchemy import delete

    from pim.commerce import STOCK

    with catalog.begin() as conn:  # the catalog's stock was read ten days ago (a newer reading would win)
        conn.execute(delete(STOCK))
    read = datetime.now(UTC) - timedelta(days=10)
    put_stock(catalog, [StockLevel(sku=s, quantity=Decimal(5), updated_at=read) for s in ("HP-100-RED", "HP-100-BLK", CABLE)])
    put_stock(catalog, [StockLevel(sku="HP-100-BLK", warehouse="north", quantity=Decimal(1),
                                   updated_at=read + timedelta(hours=6))])
    publish_search(catalog, tmp_path, as_of=read + timedelta(days=1), full=True)
    assert skus(meili_env, EN) >= {"HP-100-RED", "HP-100-BLK"}
    result = publish_search(catalog, tmp_path, as_of=read + timedelta(days=2, hours=3))
    assert {a.meta["reason"] for a in result.artifacts} == {  # every product's oldest reading crossed
        "changes since the last push, and 3 products whose price or stock reading aged past the channel's limit"}
    assert set(result.blocked) == {"HP-100-RED", "HP-100-BLK", CABLE}
    assert not {"HP-100-RED", "HP-100-BLK", CABLE} & skus(meili_env, EN)
    put_stock(catalog, [StockLevel(sku="HP-100-RED", quantity=Decimal(4), updated_at=read + timedelta(days=2, hours=4))])
    publish_search(catalog, tmp_path, as_of=read + timedelta(days=2, hours=5))
    assert "HP-100-RED" in skus(meili_env, EN) and "HP-100-BLK" not in skus(meili_env, EN)
