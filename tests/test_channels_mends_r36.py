"""Round 36 review mends (M1), channel outputs: `attributes: [a, b]` on a single-value Google output gives its first
value cleaned and length-checked like `attribute:` (a list output: each value); search leaves out a product the
storefront blocks for its required image, and an incremental push deletes its documents; the publish guard names
`missing:brand:identifier_exists` and the storefront's image rules whole, with what to do about them; the log
says a product whose required upload cannot be linked is blocked. Reviewer R2's repros are the first tests."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from pim.pipeline import DropRefused, publish, refuse_drop, top_reasons
from pim.protocols import Artifact
from pim.store import Store
from tests.channel_data import seed_products
from tests.test_channel_images_r35 import _cdn, _media_yaml, _uploaded
from tests.test_channels_r36g import SCRIPT, _catalog, _google, _seed, _set, g

JS_LINK = ' <a href="javascript:alert(2)">x</a>'


def _clean(text: str) -> bool:
    return "<script" not in text and "onclick" not in text and "javascript:" not in text


# ---------------------------------------------------------------------------------------------- 1. Google attributes:
def test_description_from_attributes_list_is_sanitised(store: Store, tmp_path: Path) -> None:
    """R2: a text attribute first in `attributes:` on Google's HTML description was sent as raw markup."""
    _seed(store)
    _set(store, "complete", material=SCRIPT + JS_LINK)
    catalog = _catalog(tmp_path, {"description": {"attributes": ["material", "description"], "max_length": 5000,
                                                  "required": True}})
    _, items = _google(store, tmp_path / "out", catalog=str(catalog))
    desc = g(items["complete"], "description")
    assert _clean(desc) and "Cotton" in desc


def test_same_text_attribute_as_single_attribute_is_sanitised(store: Store, tmp_path: Path) -> None:
    """R2's control: the same value through `attribute:` is cleaned."""
    _seed(store)
    _set(store, "complete", material=SCRIPT + JS_LINK)
    catalog = _catalog(tmp_path, {"description": {"attribute": "material", "max_length": 5000, "required": True}})
    _, items = _google(store, tmp_path / "out", catalog=str(catalog))
    assert _clean(g(items["complete"], "description"))


def test_attributes_list_title_is_truncated_as_the_catalog_says(store: Store, tmp_path: Path) -> None:
    """R2: `on_overflow: truncate` on an `attributes:` title blocked the product (too_long:title:199>150)."""
    _seed(store)
    _set(store, "complete", **{"variation_name:en_US": "word " * 40})
    catalog = _catalog(tmp_path, {"title": {"attributes": ["variation_name", "name"], "max_length": 150,
                                            "on_overflow": "truncate", "required": True}})
    result, items = _google(store, tmp_path / "out", catalog=str(catalog))
    assert "complete" in items, result.blocked.get("complete")
    title = g(items["complete"], "title")
    assert 0 < len(title) <= 150 and title.startswith("word word")


def test_attributes_list_custom_output_is_held_to_its_max_length(store: Store, tmp_path: Path) -> None:
    _seed(store)
    _set(store, "complete", material="cotton " * 10)
    catalog = _catalog(tmp_path, {})
    data = yaml.safe_load(catalog.read_text(encoding="utf-8"))
    data["fields"].append({"output": "custom_label_0", "attributes": ["material", "name"], "max_length": 20})
    catalog.write_text(yaml.safe_dump(data), encoding="utf-8")
    result, items = _google(store, tmp_path / "out", catalog=str(catalog))
    assert "complete" not in items
    assert any(re.fullmatch(r"google_merchant:en_US:too_long:custom_label_0:(6[5-9]|70)>20", r)
               for r in result.blocked["complete"])


def test_a_markup_only_first_value_falls_back_to_the_next(store: Store, tmp_path: Path) -> None:
    """Cleaned to nothing, the first value is no value: the chain goes on to the product's description."""
    _seed(store)
    _set(store, "complete", material="<script>alert(1)</script><p> </p>")
    catalog = _catalog(tmp_path, {"description": {"attributes": ["material", "description"], "required": True}})
    _, items = _google(store, tmp_path / "out", catalog=str(catalog))
    assert g(items["complete"], "description") == "A fine shoe."


def test_a_markup_only_chain_is_missing_saying_so(store: Store, tmp_path: Path) -> None:
    _seed(store)
    _set(store, "complete", material="<script>alert(1)</script>")
    catalog = _catalog(tmp_path, {"description": {"attributes": ["material"], "required": True}})
    result, items = _google(store, tmp_path / "out", catalog=str(catalog))
    assert "complete" not in items
    assert "google_merchant:en_US:missing:description:markup_only" in result.blocked["complete"]


def test_storefront_list_fields_hold_each_value_to_max_length(store: Store, tmp_path: Path) -> None:
    """The storefront's `attributes:` fields stay lists; each value is cleaned and cut, as one attribute's is."""
    _seed(store)
    _set(store, "complete", **{"variation_name:en_US": "word " * 40, "composition:en_US": SCRIPT + JS_LINK})
    path = tmp_path / "sf.yaml"
    path.write_text(yaml.safe_dump({
        "code": "storefront", "renderer": "storefront",
        "fields": [{"output": "names", "attributes": ["variation_name", "name"], "max_length": 12,
                    "on_overflow": "truncate"},
                   {"output": "notes", "attributes": ["composition", "description"]}]}), encoding="utf-8")
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce", options={"catalog": str(path)})
    docs = {d["identifier"]: d for d in orjson.loads(
        Path(next(p for p in result.locations if "en_US" in p)).read_bytes())["products"]}
    fields = docs["complete"]["fields"]
    assert isinstance(fields["names"], list) and len(fields["names"]) == 2
    assert all(len(v) <= 12 for v in fields["names"]) and fields["names"][1] == "Runner"
    assert len(fields["notes"]) == 2 and all(_clean(v) for v in fields["notes"]) and "Cotton" in fields["notes"][0]


# ---------------------------------------------------------------------------------------------- 2. search
def _linked(store: Store) -> None:
    """Every product's image an https URL, which links and (media in use) the gate counts as filled."""
    store.upsert_products([p.model_copy(update={"values": {**p.values, "image": f"https://cdn.example.com/{p.identifier}.jpg"}})
                           for p in store.iter_products()])


def _docs(out: Path) -> dict[str, Any]:
    path = out / "search" / "products_ecommerce_en_US" / "documents.ndjson"
    return {d["sku"]: d for d in map(orjson.loads, path.read_bytes().splitlines())}


def test_search_leaves_out_a_product_the_storefront_blocks_for_its_image(
        store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """R2: the storefront blocked the product (its required image an upload it cannot link); search indexed it."""
    monkeypatch.delenv("MEILI_URL", raising=False)
    _media_yaml(pim_env, {"ecommerce": {"min_width": 300, "min_height": 300}})
    _cdn(monkeypatch, None)
    seed_products(store)
    _linked(store)
    _uploaded(store, "complete", 21)
    front = publish(store, tmp_path / "sf", channel="storefront", scope="ecommerce")
    assert any(r.startswith("storefront:image_link_not_public") for r in front.blocked["complete"])
    found = publish(store, tmp_path / "s", channel="search", scope="ecommerce", exporter="local")
    docs = _docs(tmp_path / "s")
    assert "complete" not in docs and docs  # the others are indexed
    assert ("search:image_link_not_public:image:set PIM_CDN_BASE_URL" in found.blocked["complete"])


def test_search_keeps_a_product_whose_optional_image_cannot_be_linked(
        store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEILI_URL", raising=False)
    _media_yaml(pim_env, {"ecommerce": {"min_width": 300, "min_height": 300}})
    _cdn(monkeypatch, None)
    seed_products(store)
    _linked(store)
    _uploaded(store, "complete", 22, key="picture")  # the family does not require `picture`
    publish(store, tmp_path / "s", channel="search", scope="ecommerce", exporter="local")
    assert "complete" in _docs(tmp_path / "s")


def test_an_incremental_push_deletes_the_documents_of_a_product_now_blocked_for_its_image(
        store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEILI_URL", raising=False)
    _media_yaml(pim_env, {"ecommerce": {"min_width": 300, "min_height": 300}})
    _cdn(monkeypatch, None)
    seed_products(store)
    _linked(store)
    out = tmp_path / "s"
    publish(store, out, channel="search", scope="ecommerce", exporter="local")
    assert "complete" in _docs(out)
    _uploaded(store, "complete", 23)  # its required image becomes an upload no public URL links
    again = publish(store, out, channel="search", scope="ecommerce", exporter="local")
    deletes = orjson.loads((out / "search" / "products_ecommerce_en_US" / "deletes.json").read_bytes())
    assert "complete" in deletes and "complete" not in _docs(out) and "runner-red" not in deletes
    assert any(r.startswith("search:image_link_not_public:image") for r in again.blocked["complete"])


# ---------------------------------------------------------------------------------------------- 3. the guard's words
def test_top_reasons_keep_the_brand_rules_variant_and_the_storefronts_image_rules() -> None:
    blocked = {
        **{f"b{i}": ["google_merchant:en_US:missing:brand:identifier_exists"] for i in range(3)},
        "p": ["google_merchant:US-en_US:missing:price:USD", "google_merchant:en_US:too_long:title:181>150"],
        "m": ["google_merchant:en_US:missing:description:markup_only"],
    }
    assert dict(top_reasons(blocked, "google_merchant", n=9)) == {
        "google_merchant:missing:brand:identifier_exists": 3, "google_merchant:missing:price": 1,
        "google_merchant:too_long:title": 1, "google_merchant:missing:description:markup_only": 1}
    front = {"a": ["storefront:image_link_not_public:image:set PIM_CDN_BASE_URL or the catalog's media_base_url"],
             "b": ["storefront:image_not_rendered:image:run pim media renditions --channel ecommerce and publish again",
                   "storefront:EUR:invalid:price:0"],
             "c": ["storefront:unusable_image:picture", "completeness:en_US"]}
    assert dict(top_reasons(front, "storefront", n=9)) == {
        "storefront:image_link_not_public:image": 1, "storefront:image_not_rendered:image": 1,
        "storefront:invalid:price": 1, "storefront:unusable_image:picture": 1, "completeness:en_US": 1}


def _whole(tmp_path: Path) -> list[Artifact]:
    return [Artifact(tmp_path / "d", "search/x/documents.ndjson", "application/x-ndjson", 0, {"mode": "full"})]


def test_the_guard_says_what_to_do_where_the_brand_rule_blocks(store: Store, tmp_path: Path) -> None:
    blocked = {f"P{i}": ["google_merchant:en_US:missing:brand:identifier_exists"] for i in range(60)}
    with pytest.raises(DropRefused) as refused:
        refuse_drop(store, "google_merchant/ecommerce", 0, blocked, _whole(tmp_path))
    assert "google_merchant:missing:brand:identifier_exists (60 products)" in str(refused.value)
    hint = refused.value.hint
    assert "options.require_brand: false" in hint and "manufacturer" in hint and "--allow-drop" in hint


def test_the_guard_names_the_storefronts_image_rule_and_what_to_set(store: Store, tmp_path: Path) -> None:
    reason = "storefront:image_link_not_public:image:set PIM_CDN_BASE_URL or the catalog's media_base_url"
    blocked = {f"P{i}": [reason] for i in range(60)}
    with pytest.raises(DropRefused) as refused:
        refuse_drop(store, "storefront/ecommerce", 0, blocked, _whole(tmp_path))
    assert "storefront:image_link_not_public:image (60 products)" in str(refused.value)
    assert "PIM_CDN_BASE_URL" in refused.value.hint and "require_brand" not in refused.value.hint


def test_the_log_says_a_required_upload_it_cannot_link_blocks_the_product(
        store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    _media_yaml(pim_env, {"ecommerce": {"min_width": 300, "min_height": 300}})
    _cdn(monkeypatch, None)
    seed_products(store)
    _uploaded(store, "complete", 24)
    with caplog.at_level(logging.WARNING, logger="pim.media"):
        result = publish(store, tmp_path / "sf", channel="storefront", scope="ecommerce")
    assert "complete" in result.blocked
    said = [r.getMessage() for r in caplog.records if "uploaded images" in r.getMessage()]
    assert said and all("blocked" in s and "leaves out uploaded images" not in s for s in said)
