"""The search channel's documents and settings, read from the files the embedded default writes (no MEILI_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels.search_documents import customer_tag
from pim.store import Store
from pim.structure import Attribute
from tests.search_data import CABLE, load_catalog, publish_search, variant


def docs(out: Path, uid: str) -> dict[str, dict[str, Any]]:
    lines = (out / "search" / uid / "documents.ndjson").read_bytes().splitlines()
    return {d["sku"]: d for d in map(orjson.loads, lines)}


@pytest.fixture
def catalog(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    return store, tmp_path / "out"


def test_every_locale_gets_its_own_index_with_localized_name_description_and_brand(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    en, de = docs(out, "products_ecommerce_en_US"), docs(out, "products_ecommerce_de_DE")
    assert en["HP-100-RED"]["name"] == "Studio headphones" and de["HP-100-RED"]["name"] == "Studiokopfhörer"
    assert en["HP-100-RED"]["description"] == "Closed back" and de["HP-100-RED"]["description"] == "Geschlossen"
    assert en["HP-100-RED"]["brand"] == "Acme"
    assert de["HP-100-RED"]["facets"]["color"] == "Rot" and en["HP-100-RED"]["facets"]["color"] == "Red"


def test_variants_share_their_product_model_as_the_distinct_group(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    en = docs(out, "products_ecommerce_en_US")
    settings = orjson.loads((out / "search" / "products_ecommerce_en_US" / "settings.json").read_bytes())
    assert settings["distinctAttribute"] == "group"
    assert en["HP-100-RED"]["group"] == en["HP-100-BLK"]["group"] == "HP-100"
    assert en[CABLE]["group"] == en[CABLE]["id"] and en[CABLE]["model"] is None


def test_document_carries_facets_category_paths_prices_stock_image_and_customers(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    red = docs(out, "products_ecommerce_de_DE")["HP-100-RED"]
    assert red["categories"] == ["headphones"]
    assert red["category_paths"] == {"lvl0": ["Audio"], "lvl1": ["Audio > Kopfhörer"]}
    assert red["facets"] == {"color": "Rot", "weight": 250.0}
    assert red["text"] == {"material": "leather"}
    assert red["prices"] == {"EUR": 99.0, "USD": 109.0}
    assert (red["availability"], red["stock"], red["in_stock_rank"]) == ("in_stock", 3.0, 1)
    assert red["image"] == "img/HP-100-RED.jpg"
    assert red["customers"] == [customer_tag("acme-gmbh")]  # a keyed tag, not the code
    blk = docs(out, "products_ecommerce_de_DE")["HP-100-BLK"]
    assert blk["availability"] == "out_of_stock" and docs(out, "products_ecommerce_de_DE")[CABLE]["availability"] == "unknown"


def test_unsafe_sku_gets_an_encoded_id_and_keeps_its_sku(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    cable = docs(out, "products_ecommerce_en_US")[CABLE]
    assert cable["id"].startswith("_b") and cable["sku"] == CABLE


def test_settings_are_derived_from_the_structure(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    s = orjson.loads((out / "search" / "products_ecommerce_de_DE" / "settings.json").read_bytes())
    assert s["searchableAttributes"][:4] == ["name", "brand", "sku", "text.material"]
    assert s["searchableAttributes"][-1] == "description"
    assert {"customers", "facets.color", "facets.weight", "category_paths.lvl0", "category_paths.lvl1",
            "prices.EUR", "availability"} <= set(s["filterableAttributes"])
    assert "prices.USD" in s["sortableAttributes"]
    assert s["synonyms"]["rot"] == ["red"] and s["typoTolerance"]["disableOnAttributes"] == ["sku"]
    assert s["rankingRules"][-1] == "in_stock_rank:desc"


def test_embedded_default_writes_what_would_be_sent_and_a_manifest(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    result = publish_search(store, out)
    manifest = orjson.loads((out / "search" / "manifest.json").read_bytes())
    assert {i["uid"]: (i["mode"], i["documents"]) for i in manifest["indexes"]} == {
        "products_ecommerce_en_US": ("full", 3), "products_ecommerce_de_DE": ("full", 3)}
    assert result.published == 3
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())


def test_second_publish_sends_only_what_changed_since_the_last_push(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)
    en = docs(out, "products_ecommerce_en_US")
    assert list(en) == ["HP-100-RED"] and en["HP-100-RED"]["text"] == {"material": "canvas"}
    assert orjson.loads((out / "search" / "manifest.json").read_bytes())["indexes"][0]["mode"] == "incremental"


def test_a_new_filterable_attribute_forces_a_full_rebuild_and_an_unchanged_structure_does_not(catalog: tuple[Store, Path]) -> None:
    store, out = catalog
    publish_search(store, out)
    store.put_structure("attribute", [Attribute(code="material", type="text", searchable=True, filterable=True, sort_order=6)])
    publish_search(store, out)
    assert len(docs(out, "products_ecommerce_en_US")) == 3  # every document again: they gained facets.material
    publish_search(store, out)
    assert docs(out, "products_ecommerce_en_US") == {}
