from pathlib import Path

import pytest
from lxml import etree

from channels.google_merchant import DESCRIPTION_MAX, G, TITLE_MAX, gtin_valid
from pim.pipeline import PublishResult, publish
from pim.store import Store
from tests.channel_data import VALID_GTIN, seed_products

NS = {"g": G}


@pytest.fixture
def feed(store: Store, tmp_path: Path) -> tuple[PublishResult, dict[str, etree._Element]]:
    seed_products(store)
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    items = {}
    for loc in result.locations:
        if loc.endswith(".en_US.xml"):
            root = etree.parse(loc).getroot()
            items = {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}
    return result, items


def g(item: etree._Element, tag: str) -> str | None:
    return item.findtext(f"g:{tag}", namespaces=NS)


def test_feed_is_rss_2_with_the_google_namespace(feed) -> None:
    result, _ = feed
    root = etree.parse(result.locations[0]).getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert root.nsmap.get("g") == G
    assert {Path(l).name for l in result.locations} == {"feed.ecommerce.en_US.xml", "feed.ecommerce.de_DE.xml"}


def test_complete_product_carries_every_required_attribute(feed) -> None:
    _, items = feed
    item = items["complete"]
    assert g(item, "title") == "ACME Runner"
    assert g(item, "description") == "A fine shoe."
    assert g(item, "link") == "https://shop.example.com/en/p/complete"
    assert g(item, "image_link") == "https://shop.example.com/media/gmc_main/abc123.jpg"
    assert [e.text for e in item.iterfind("g:additional_image_link", NS)] == ["https://shop.example.com/media/gmc_main/def456.jpg"]
    assert g(item, "price") == "49.90 EUR"
    assert (g(item, "brand"), g(item, "gtin"), g(item, "mpn")) == ("ACME", VALID_GTIN, "RN-1")
    assert g(item, "identifier_exists") == "yes"
    assert g(item, "condition") == "new"
    assert g(item, "shipping_weight") == "0.85 kg"


def test_availability_comes_from_stock(feed) -> None:
    _, items = feed
    assert g(items["complete"], "availability") == "in_stock"
    assert g(items["runner-red"], "availability") == "out_of_stock"


def test_product_type_is_the_category_path(feed) -> None:
    _, items = feed
    assert g(items["complete"], "product_type") == "Shoes > Sneakers"


def test_variant_has_item_group_and_color(feed) -> None:
    _, items = feed
    variant = items["runner-red"]
    assert g(variant, "item_group_id") == "runner_model"
    assert g(variant, "color") == "Red"
    assert g(variant, "gtin") == "96385074"
    assert g(variant, "title") == "ACME Runner"  # inherited from the model


def test_bad_gtin_check_digit_blocks_with_a_reason(feed) -> None:
    result, items = feed
    assert "bad-gtin" not in items
    assert "google_merchant:en_US:invalid:gtin:4006381333932" in result.blocked["bad-gtin"]


def test_title_over_150_characters_blocks_instead_of_being_cut(feed) -> None:
    result, items = feed
    assert "long-title" not in items
    assert any(r.startswith("google_merchant:en_US:too_long:title:") for r in result.blocked["long-title"])
    assert all(len(g(i, "title")) <= TITLE_MAX for i in items.values())
    assert all(len(g(i, "description") or "") <= DESCRIPTION_MAX for i in items.values())


def test_missing_description_blocks_and_nothing_is_silently_dropped(feed, store: Store) -> None:
    result, items = feed
    assert any("description" in reason for reason in result.blocked["no-description"])  # the gate or the feed
    assert set(items) | set(result.blocked) == {p.identifier for p in store.iter_products()}


def test_feed_rules_block_even_without_the_gate(store: Store, tmp_path: Path) -> None:
    from channels.google_merchant import GoogleMerchantRenderer
    from pim.protocols import PublishContext

    seed_products(store)
    ctx = PublishContext(structure=store.structure(), output_dir=tmp_path, channel="ecommerce", job_id=1)
    artifacts = GoogleMerchantRenderer().render(store.iter_products(), ctx, store)
    assert "google_merchant:en_US:missing:description" in ctx.blocked["no-description"]
    assert "google_merchant:de_DE:invalid:gtin:4006381333932" in ctx.blocked["bad-gtin"]
    assert {a.rows for a in artifacts} == {2}


def test_publish_job_records_blocked_count(feed, store: Store) -> None:
    result, _ = feed
    job = store.job(result.job_id)
    assert job["status"] == "succeeded"
    assert job["counts"]["blocked"] == len(result.blocked) == 3


@pytest.mark.parametrize("code,ok", [(VALID_GTIN, True), ("96385074", True), ("4006381333932", False),
                                     ("40063813339", False), ("abcdefgh", False)])
def test_gtin_check_digit(code: str, ok: bool) -> None:
    assert gtin_valid(code) is ok
