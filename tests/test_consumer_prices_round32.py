"""Round 32 follow-up: every consumer-facing price is the shelf price (pim.currencies.shelf_price, half up to the
currency's minor units): Google's shipping rates and free-shipping thresholds, search documents' prices, and a
Google item whose price or sale price rounds to 0 is blocked instead of shown as free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels import search_settings
from pim.errors import ConfigError
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP, complete_values, seed_products
from tests.search_data import CABLE, cable, load_catalog, publish_search
from tests.test_channels_round32 import _g, _google
from tests.test_google_merchant_shipping import DE, US, _groups, _prices, _publish


def _add(store: Store, sku: str, **values: Any) -> None:
    store.upsert_products([Product(identifier=sku, family="shoes", categories=["sneakers"], source=ERP,
                                   values=complete_values(sku=sku, **values))])


# ---------------------------------------------------------------- Google shipping
def test_google_shipping_rates_are_rounded_half_up_like_item_prices(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    weight = {"unit": "kg", "tiers": [{"up_to": 2, "price": "5.895"}, {"price": "9.9"}]}
    _, feeds = _publish(store, tmp_path, [
        {**DE, "shipping": [{"service": "Standard", "price": "4.895"}, {"service": "Parcel", "by_weight": weight}]},
        {**US, "shipping": [{"service": "Ground", "by_price": [{"up_to": 50, "price": "9.004"},
                                                                {"price": "7.005"}]}]}])
    assert _prices(feeds["DE-de_DE"]["complete"]) == {"Standard": "4.90 EUR", "Parcel": "5.90 EUR"}  # 850 g
    assert _prices(feeds["US-en_US"]["complete"]) == {"Ground": "7.01 USD"}  # 54.00; half to even: 7.00


def test_free_shipping_threshold_is_printed_and_compared_as_a_shopper_sees_it(store: Store, tmp_path: Path) -> None:
    """49.904 shows as 49.90 EUR: an item at 49.90 reaches the threshold Google prints beside it."""
    seed_products(store)  # complete costs 49.90 EUR
    _add(store, "cheaper", price={"EUR": "49.89", "USD": "54.00"})
    _, feeds = _publish(store, tmp_path, [{**DE, "shipping": [
        {"service": "Standard", "price": "4.90", "free_shipping_threshold": "49.904"}]}])
    items = feeds["DE-de_DE"]
    assert _groups(items["complete"]) == [[("country", "DE"), ("service", "Standard"), ("price", "0.00 EUR")]]
    threshold = items["complete"].find("g:free_shipping_threshold", {"g": "http://base.google.com/ns/1.0"})
    assert [(c.tag.split("}")[1], c.text) for c in threshold] == [("country", "DE"), ("price_threshold", "49.90 EUR")]
    assert _prices(items["cheaper"]) == {"Standard": "4.90 EUR"}


def test_a_free_shipping_threshold_that_rounds_to_zero_is_refused(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    with pytest.raises(ConfigError) as caught:
        _publish(store, tmp_path, [{**DE, "shipping": [
            {"service": "Standard", "price": "4.90", "free_shipping_threshold": "0.004"}]}])
    assert "free_shipping_threshold 0.004 is 0 EUR" in str(caught.value)
    assert "give at least 0.01 or remove it" in str(caught.value)


# ---------------------------------------------------------------- Google prices that round to 0
@pytest.mark.parametrize("amount", ["0.004", "0.00"])
def test_google_blocks_an_item_whose_price_rounds_to_zero(store: Store, tmp_path: Path, amount: str) -> None:
    seed_products(store)
    _add(store, "sub-cent", price={"EUR": amount, "USD": "1.00"})
    result, items = _google(store, tmp_path)
    assert "sub-cent" not in items
    assert "google_merchant:en_US:invalid:price:0" in result.blocked["sub-cent"]


def test_google_blocks_an_item_whose_sale_price_rounds_to_zero(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "sale-sub-cent", sale_price={"EUR": "0.004", "USD": "44.00"})
    result, items = _google(store, tmp_path)
    assert "sale-sub-cent" not in items
    assert result.blocked["sale-sub-cent"] == [f"google_merchant:{locale}:invalid:sale_price:0"
                                               for locale in ("en_US", "de_DE")]  # and no sale_price_not_below_price


def test_a_price_that_rounds_up_to_one_cent_is_published_guard(store: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): 0.005 rounds half up to 0.01, which is a price, not a free item."""
    seed_products(store)
    _add(store, "one-cent", price={"EUR": "0.005", "USD": "1.00"})
    result, items = _google(store, tmp_path)
    assert _g(items["one-cent"], "price") == "0.01 EUR" and "one-cent" not in result.blocked


# ---------------------------------------------------------------- search documents
@pytest.fixture
def search_catalog(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    return store, tmp_path / "out"


def _docs(out: Path, uid: str = "products_ecommerce_en_US") -> dict[str, dict[str, Any]]:
    lines = (out / "search" / uid / "documents.ndjson").read_bytes().splitlines()
    return {d["sku"]: d for d in map(orjson.loads, lines)}


def test_search_prices_are_the_shelf_prices_the_storefront_shows(search_catalog: tuple[Store, Path]) -> None:
    store, out = search_catalog
    store.upsert_products([cable(price={"EUR": "19.999999", "USD": "21.005"})])
    publish_search(store, out)
    assert _docs(out)[CABLE]["prices"] == {"EUR": 20.0, "USD": 21.01}  # numbers still: sorted and filtered on
    assert _docs(out, "products_ecommerce_de_DE")[CABLE]["prices"] == {"EUR": 20.0, "USD": 21.01}


def test_indexes_pushed_with_unrounded_prices_are_rebuilt_once(search_catalog: tuple[Store, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Incremental pushes send only written products: the document version makes the next push a full rebuild,
    so no index keeps an unrounded price for a product nobody edits."""
    store, out = search_catalog
    with monkeypatch.context() as before:
        before.setattr(search_settings, "DOCUMENT_VERSION", 1)  # what indexes pushed before this change recorded
        publish_search(store, out)
    publish_search(store, out)
    manifest = orjson.loads((out / "search" / "manifest.json").read_bytes())
    assert {i["mode"] for i in manifest["indexes"]} == {"full"}
    assert len(_docs(out)) == 3
    publish_search(store, out)
    assert _docs(out) == {}  # then incremental again
