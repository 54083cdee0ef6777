"""Round 35: gate changes made by a rescore (no product write) reach the next incremental search push, and a
changed PIM_FEED_STOCK_KEYS rebuilds the search documents once, saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels.search_documents import document_id
from pim import registry
from pim.settings import reset_settings
from pim.store import Store
from pim.structure import Family
from tests.search_data import CABLE, load_catalog, publish_search

EN = "products_ecommerce_en_US"
RED_IMAGE = "img/HP-100-RED.jpg"


def _red_image_invalid(conn: Any, refs: set[str]) -> set[str]:
    """An asset validity hook (pim.registry.ASSET_VALIDITY): the red variant's image no longer passes."""
    return {RED_IMAGE} & refs


def manifest(out: Path) -> dict[str, Any]:
    return {i["uid"]: i for i in orjson.loads((out / "search" / "manifest.json").read_bytes())["indexes"]}


def deletes(out: Path) -> list[str]:
    return orjson.loads((out / "search" / EN / "deletes.json").read_bytes())


def skus(out: Path) -> set[str]:
    lines = (out / "search" / EN / "documents.ndjson").read_bytes().splitlines()
    return {orjson.loads(line)["sku"] for line in lines}


@pytest.fixture
def pushed(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    """The catalog, headphones requiring their image on ecommerce, pushed once (every product passes)."""
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    store.put_structure("family", [Family(
        code="headphones", attributes=["sku", "name", "description", "brand", "color", "weight", "material", "price",
                                       "image"],
        attribute_as_label="name", attribute_as_image="image", labels={"en_US": "Headphones", "de_DE": "Kopfhörer"},
        requirements={"ecommerce": ["sku", "name", "image"]})])
    out = tmp_path / "out"
    publish_search(store, out)
    assert skus(out) == {"HP-100-RED", "HP-100-BLK", CABLE}
    return store, out


def test_a_requirement_saved_with_its_rescore_in_the_request_drops_the_product_from_the_next_incremental_push(
        pushed: tuple[Store, Path]) -> None:
    store, out = pushed
    store.put_structure("family", [Family(
        code="cables", attributes=["sku", "name", "material"], attribute_as_label="name",
        requirements={"ecommerce": ["sku", "name", "material"]})])  # the cable has no material: it stops passing
    publish_search(store, out)
    assert manifest(out)[EN]["mode"] == "incremental"
    assert deletes(out) == [document_id(CABLE)]
    publish_search(store, out)  # sent once
    assert deletes(out) == [] and skus(out) == set()


def test_pim_gate_rescore_after_an_asset_rule_change_sends_the_deletes(pushed: tuple[Store, Path],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pim.completeness_rebuild import rebuild

    store, out = pushed
    before = store.current_seq()
    rebuild(store, workers=1)  # no score moves: nothing is stamped
    assert store.current_seq() == before
    monkeypatch.setattr(registry, "ASSET_VALIDITY", [*registry.ASSET_VALIDITY,
                                                     "tests.test_search_rescore_r35:_red_image_invalid"])
    rebuild(store, workers=1)
    publish_search(store, out)
    assert manifest(out)[EN]["mode"] == "incremental"
    assert deletes(out) == [document_id("HP-100-RED")]
    monkeypatch.setattr(registry, "ASSET_VALIDITY", [r for r in registry.ASSET_VALIDITY if "r35" not in r])
    rebuild(store, workers=1)  # valid again: the product comes back, and the untouched ones are not re-sent
    publish_search(store, out)
    assert skus(out) == {"HP-100-RED"} and deletes(out) == []


def test_a_queued_family_rescore_job_sends_the_deletes(pushed: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from pim import rescore_jobs

    store, out = pushed
    monkeypatch.setattr(registry, "ASSET_VALIDITY", [*registry.ASSET_VALIDITY,
                                                     "tests.test_search_rescore_r35:_red_image_invalid"])
    job = rescore_jobs.start(store, "headphones", ["ecommerce"])
    rescore_jobs.run(store, job)
    assert store.job(job)["status"] == "succeeded"
    publish_search(store, out)
    assert manifest(out)[EN]["mode"] == "incremental"
    assert deletes(out) == [document_id("HP-100-RED")]


def test_a_changed_stock_keys_setting_rebuilds_once_and_says_so(pushed: tuple[Store, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store, out = pushed
    publish_search(store, out)
    assert manifest(out)[EN]["mode"] == "incremental"  # the default adds nothing to a recorded shape
    monkeypatch.setenv("PIM_FEED_STOCK_KEYS", "plant")
    reset_settings()
    try:
        publish_search(store, out)
        index = manifest(out)[EN]
        assert index["mode"] == "full" and "PIM_FEED_STOCK_KEYS changed from both to plant" in index["reason"]
        publish_search(store, out)
        assert manifest(out)[EN]["mode"] == "incremental"
    finally:
        monkeypatch.delenv("PIM_FEED_STOCK_KEYS")
        reset_settings()
    publish_search(store, out)
    index = manifest(out)[EN]
    assert index["mode"] == "full" and "PIM_FEED_STOCK_KEYS changed from plant to both" in index["reason"]
