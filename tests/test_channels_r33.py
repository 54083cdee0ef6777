"""Round 33 channel catalog fixes: a template field says whether it builds a URL (`url:`), and the storefront
blocks a list price that rounds to 0 as Google does. One SQLite store and one storefront publish serve the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from channels.framework import FieldMap, catalog_for, load_catalog
from pim.errors import InputError
from pim.pipeline import PublishResult, publish
from pim.product import Association, Product
from pim.structure import Family
from tests.conftest import module_home
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values, seed_products

ODD_SKU = "E3 a/b#c"
ODD_SKU_IN_URL = "E3%20a%2Fb%23c"


def _product(sku: str, family: str = "shoes", **values: Any) -> Product:
    links = values.pop("links", None)
    return Product(identifier=sku, family=family, categories=["sneakers"], source=ERP,
                   values=complete_values(sku=sku, **values),
                   associations={"X_SELL": Association(products=links)} if links else {})


@pytest.fixture(scope="module")
def published(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[PublishResult, dict[str, dict[str, dict[str, Any]]]]]:
    """The storefront published once, one product per chunk (so association targets the stream has not reached
    yet are decided by the publish stages): (result, locale → identifier → document)."""
    tmp = tmp_path_factory.mktemp("r33")
    with module_home(sqlite_template, tmp) as (store, mp):
        mp.setattr("channels.storefront.CHUNK", 1)
        seed_products(store)
        # gift cards do not require a price on the channel: the gate lets one without a price through
        store.put_structure("family", [Family(code="gift_cards", attributes=FAMILY_ATTRS, attribute_as_label="name",
                                              requirements={"ecommerce": ["sku", "name"]})])
        no_price = _product("unpriced", family="gift_cards")
        no_price.values.pop("price")
        store.upsert_products([
            _product(ODD_SKU),
            _product("linker", links=["free-eur"]),  # streamed before the product it links to
            _product("free-eur", price={"EUR": "0.004", "USD": "1.00"}),
            _product("free-all", price={"EUR": "0.00", "USD": "0.00"}),
            _product("one-cent", price={"EUR": "0.005", "USD": "0.01"}),
            no_price,
        ])
        builtin = catalog_for("storefront", {})
        catalog = builtin.model_copy(update={"fields": [
            *builtin.fields,
            FieldMap(output="product_page", template="https://shop.example.com/products/{{ identifier }}", url=True),
            FieldMap(output="sku_url", template="{{ identifier }}", url=False),
            FieldMap(output="share_link", template="https://share.example.com/?sku={{ identifier }}"),
            FieldMap(output="sku_text", template="{{ identifier }}"),
        ]})
        result = publish(store, tmp / "out", channel="storefront", scope="ecommerce", options={"catalog": catalog})
        docs = {}
        for path in result.locations:
            locale = path.rsplit(".", 2)[-2]
            docs[locale] = {d["identifier"]: d for d in orjson.loads(Path(path).read_bytes())["products"]}
        yield result, docs


def _fields(published: tuple[PublishResult, dict[str, dict[str, dict[str, Any]]]], sku: str) -> dict[str, Any]:
    return published[1]["en_US"][sku]["fields"]


# ---------------------------------------------------------------- url: on a template field
def test_a_field_marked_url_percent_encodes_a_sku_with_slash_and_hash(published: Any) -> None:
    """`product_page` is no URL by its name; `url: true` makes it one."""
    assert _fields(published, ODD_SKU)["product_page"] == f"https://shop.example.com/products/{ODD_SKU_IN_URL}"


def test_a_url_named_field_marked_not_url_keeps_the_sku_as_it_is(published: Any) -> None:
    assert _fields(published, ODD_SKU)["sku_url"] == ODD_SKU


def test_unmarked_fields_keep_the_name_rule_guard(published: Any) -> None:
    """Guard (passes before and after): without `url:`, `*_link` is a URL and other names are text."""
    fields = _fields(published, ODD_SKU)
    assert fields["share_link"] == f"https://share.example.com/?sku={ODD_SKU_IN_URL}"
    assert fields["sku_text"] == ODD_SKU


def test_url_on_a_field_without_a_template_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("code: mine\nrenderer: storefront\nfields:\n  - {output: title, template: '{{ identifier }}'}\n"
                    "  - {output: weight, attribute: weight, url: true}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_catalog(path)
    assert caught.value.line == 5
    assert "url: applies only to a template field" in str(caught.value)
    assert "remove url: or give the field a template" in str(caught.value)


# ---------------------------------------------------------------- storefront list prices of 0
def test_storefront_blocks_a_list_price_that_rounds_to_zero_in_a_currency(published: Any) -> None:
    result, docs = published
    assert all("free-eur" not in by_sku for by_sku in docs.values())
    assert result.blocked["free-eur"] == ["storefront:EUR:invalid:price:0"]


def test_storefront_names_every_currency_whose_list_price_is_zero(published: Any) -> None:
    result, docs = published
    assert "free-all" not in docs["de_DE"]
    assert result.blocked["free-all"] == ["storefront:EUR:invalid:price:0", "storefront:USD:invalid:price:0"]


def test_no_product_links_to_one_blocked_for_its_price(published: Any) -> None:
    """`linker` is written before the stream reaches `free-eur`: the link is decided by the publish stages, which
    include the storefront's price check, and counted as dropped."""
    result, docs = published
    assert docs["en_US"]["linker"]["associations"] == {}
    assert "linker → free-eur (X_SELL)" in result.dropped_link_examples


def test_a_product_without_a_list_price_is_published_without_prices_guard(published: Any) -> None:
    """Guard (passes before and after): no price at all is not a price of 0; the gate decides on it (here its
    family does not require one), and the storefront writes it without `prices`."""
    result, docs = published
    assert docs["en_US"]["unpriced"]["prices"] == {} and "unpriced" not in result.blocked


def test_a_list_price_that_rounds_up_to_one_cent_is_published_guard(published: Any) -> None:
    """Guard (passes before and after): EUR 0.005 is 0.01 to a shopper, a price."""
    result, docs = published
    assert docs["en_US"]["one-cent"]["prices"] == {"EUR": "0.01", "USD": "0.01"} and "one-cent" not in result.blocked
