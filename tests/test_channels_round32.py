"""Round 32 channel catalog fixes: the storefront's list price, variants' inherited categories, Google's id limit,
percent-encoded links, markup-only descriptions and consumer prices rounded to the currency's minor units."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from lxml import etree

from channels.framework import FieldMap, catalog_for
from channels.google_merchant import G
from pim.currencies import price_text, shelf_price
from pim.pipeline import PublishResult, publish
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP, complete_values, seed_products

NS = {"g": G}
ODD_SKU = "E3 a/b#c?d&e%f"
ODD_SKU_IN_URL = "E3%20a%2Fb%23c%3Fd%26e%25f"


def _add(store: Store, identifier: str, **values: object) -> None:
    store.upsert_products([Product(identifier=identifier, family="shoes", categories=["sneakers"], source=ERP,
                                   values=complete_values(sku=identifier, **values))])


def _storefront(store: Store, out: Path) -> dict[str, dict]:
    result = publish(store, out, channel="storefront", scope="ecommerce")
    path = next(p for p in result.locations if p.endswith(".en_US.json"))
    return {p["identifier"]: p for p in orjson.loads(Path(path).read_bytes())["products"]}


def _google(store: Store, out: Path, **catalog: object) -> tuple[PublishResult, dict[str, etree._Element]]:
    options = {"catalog": catalog_for("google_merchant", {}).model_copy(update=catalog)} if catalog else {}
    result = publish(store, out, channel="google_merchant", scope="ecommerce", options=options)
    root = etree.parse(next(p for p in result.locations if p.endswith(".en_US.xml"))).getroot()
    return result, {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}


def _g(item: etree._Element, tag: str) -> str | None:
    return item.findtext(f"g:{tag}", namespaces=NS)


# ---------------------------------------------------------------- storefront prices
def test_storefront_prices_are_the_list_price_and_the_sale_price_is_its_own_attribute(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "on-sale", sale_price={"EUR": "39.90", "USD": "44.00"})
    doc = _storefront(store, tmp_path)["on-sale"]
    assert doc["prices"] == {"EUR": "49.90", "USD": "54.00"}
    assert doc["attributes"]["sale_price"] == {"EUR": "39.90", "USD": "44.00"}


def test_a_sale_price_lacking_a_currency_does_not_mix_into_the_list_prices(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "euro-sale", sale_price={"EUR": "39.90"})
    doc = _storefront(store, tmp_path)["euro-sale"]
    assert doc["prices"] == {"EUR": "49.90", "USD": "54.00"}
    assert doc["attributes"]["sale_price"] == {"EUR": "39.90"}


def test_storefront_prices_are_rounded_half_up_to_the_currency_minor_units(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "decimals", price={"EUR": "19.999999", "USD": "21.005"}, sale_price={"EUR": "9.995"})
    doc = _storefront(store, tmp_path)["decimals"]
    assert doc["prices"] == {"EUR": "20.00", "USD": "21.01"}  # half to even would give USD 21.00
    assert doc["attributes"]["sale_price"] == {"EUR": "10.00"}


# ---------------------------------------------------------------- variants' categories
def test_storefront_variant_is_in_its_models_categories(store: Store, tmp_path: Path) -> None:
    seed_products(store)  # runner-red has no category of its own; its model is in sneakers
    assert _storefront(store, tmp_path)["runner-red"]["categories"] == ["sneakers"]


def test_google_variant_takes_product_type_and_taxonomy_from_its_model(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _, items = _google(store, tmp_path, category_map={"sneakers": "187"})
    variant = items["runner-red"]
    assert _g(variant, "product_type") == "Shoes > Sneakers"
    assert _g(variant, "google_product_category") == "187"


# ---------------------------------------------------------------- ids and links
def test_google_id_over_50_characters_blocks(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    long_sku, longest = "L" * 51, "K" * 50
    _add(store, long_sku)
    _add(store, longest)
    result, items = _google(store, tmp_path)
    assert long_sku not in items and longest in items
    assert "google_merchant:en_US:too_long:id:51>50" in result.blocked[long_sku]


def test_google_link_percent_encodes_the_identifier(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, ODD_SKU)
    _, items = _google(store, tmp_path)  # the built-in link template goes through Jinja (locale[:2])
    assert _g(items[ODD_SKU], "link") == f"https://shop.example.com/en/p/{ODD_SKU_IN_URL}"
    assert _g(items[ODD_SKU], "id") == ODD_SKU


def test_storefront_link_percent_encodes_the_identifier(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, ODD_SKU)
    _add(store, "Straße-ü")
    docs = _storefront(store, tmp_path)  # the default link template is rendered without Jinja
    assert docs[ODD_SKU]["fields"]["link"] == f"https://shop.example.com/p/{ODD_SKU_IN_URL}"
    assert docs["Straße-ü"]["fields"]["link"] == "https://shop.example.com/p/Stra%C3%9Fe-%C3%BC"
    assert docs[ODD_SKU]["fields"]["title"] == "Runner"


def test_a_url_template_field_percent_encodes_the_identifier_and_a_text_field_does_not(
        store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, ODD_SKU)
    builtin = catalog_for("storefront", {})
    catalog = builtin.model_copy(update={"fields": [*builtin.fields, FieldMap(output="share_url", template=(
        "https://share.example.com/?sku={{ identifier }}")), FieldMap(output="sku_text", template="{{ identifier }}")]})
    result = publish(store, tmp_path, channel="storefront", scope="ecommerce", options={"catalog": catalog})
    path = next(p for p in result.locations if p.endswith(".en_US.json"))
    fields = next(p for p in orjson.loads(Path(path).read_bytes())["products"] if p["identifier"] == ODD_SKU)["fields"]
    assert fields["share_url"] == f"https://share.example.com/?sku={ODD_SKU_IN_URL}"
    assert fields["sku_text"] == ODD_SKU


# ---------------------------------------------------------------- markup-only descriptions
@pytest.mark.parametrize("markup", ["<p>&nbsp;</p>", "<p></p><ul><li></li></ul>", "<h2> </h2><br>"])
def test_google_description_of_tags_without_words_blocks_as_markup_only(
        store: Store, tmp_path: Path, markup: str) -> None:
    seed_products(store)
    _add(store, "empty-copy", **{"description:en_US@ecommerce": markup})
    result, items = _google(store, tmp_path)
    assert "empty-copy" not in items
    assert "google_merchant:en_US:missing:description:markup_only" in result.blocked["empty-copy"]


# ---------------------------------------------------------------- Google prices
def test_google_prices_are_rounded_half_up_to_the_currency_minor_units(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "decimals", price={"EUR": "19.999999", "USD": "21.005"}, sale_price={"EUR": "9.995"})
    _, items = _google(store, tmp_path)
    assert _g(items["decimals"], "price") == "20.00 EUR"
    assert _g(items["decimals"], "sale_price") == "10.00 EUR"


def test_google_sale_not_below_the_price_once_rounded_blocks(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "fake-sale", price={"EUR": "19.999999", "USD": "21.00"}, sale_price={"EUR": "19.999"})
    result, items = _google(store, tmp_path)
    assert "fake-sale" not in items
    assert "google_merchant:en_US:sale_price_not_below_price" in result.blocked["fake-sale"]


def test_shelf_price_rounds_half_up_while_price_text_keeps_b2b_decimals() -> None:
    assert price_text(shelf_price("1234.5", "JPY"), "JPY") == "1235"
    assert shelf_price("21.005", "USD") == Decimal("21.01")
    assert price_text(shelf_price(Decimal("0.0123"), "EUR"), "EUR") == "0.01"
    assert price_text("19.999999", "EUR") == "19.999999"  # B2B feeds: unchanged
