"""A target's free_shipping_threshold reaches Google as g:free_shipping_threshold (country and price threshold in
the target's currency) on every item of its feed, besides pricing the item's shipping at 0 from there; a
threshold on a country with more than one service level, or one that differs between regions, is refused
before anything is written."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from channels.google_merchant_targets import COUNTRIES, feed_targets
from pim.errors import ConfigError
from pim.store import Store
from tests.channel_data import seed_products
from tests.test_google_merchant_shipping import DE, STRUCTURE, US, _add, _prices, _publish

GOOGLE = "http://base.google.com/ns/1.0"


def _thresholds(item: etree._Element) -> list[list[tuple[str, str]]]:
    """(local name, text) of the children of each of the item's g:free_shipping_threshold elements."""
    return [[(etree.QName(c).localname, c.text) for c in el]
            for el in item.iterfind(f"{{{GOOGLE}}}free_shipping_threshold")]


def _targets(*targets: dict) -> list[Any]:
    return feed_targets({"targets": list(targets)}, "ecommerce", ["en_US", "de_DE"], ["EUR", "USD"], STRUCTURE)


def _refusal(*targets: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        _targets(*targets)
    return caught.value.describe()


# ---------------------------------------------------------------- in the XML
def test_each_item_carries_its_targets_threshold_in_the_targets_currency(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    result, feeds = _publish(store, tmp_path, [
        {**DE, "shipping": [{"service": "Standard", "price": "4.90", "free_shipping_threshold": "50"}]},
        {**US, "shipping": [{"service": "Ground", "price": "7", "free_shipping_threshold": "99.5"}]}])
    for location in result.locations:  # lxml parses the files, and the g: prefix is Google's namespace
        root = etree.parse(location).getroot()
        assert root.nsmap["g"] == GOOGLE
    assert feeds["DE-de_DE"] and feeds["US-en_US"]
    for item in feeds["DE-de_DE"].values():
        assert _thresholds(item) == [[("country", "DE"), ("price_threshold", "50.00 EUR")]]
    for item in feeds["US-en_US"].values():
        assert _thresholds(item) == [[("country", "US"), ("price_threshold", "99.50 USD")]]


def test_an_item_below_the_threshold_pays_shipping_and_one_at_or_above_ships_free(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "above", price={"EUR": "120.00", "USD": "130.00"})
    _, feeds = _publish(store, tmp_path, [
        {**DE, "shipping": [{"service": "Standard", "price": "4.90", "free_shipping_threshold": "100"}]}])
    items = feeds["DE-de_DE"]
    assert _prices(items["complete"]) == {"Standard": "4.90 EUR"}  # 49.90
    assert _prices(items["above"]) == {"Standard": "0.00 EUR"}
    for sku in ("complete", "above"):  # the threshold is the country's, the same on both
        assert _thresholds(items[sku]) == [[("country", "DE"), ("price_threshold", "100.00 EUR")]]


def test_a_target_without_a_threshold_emits_none_and_may_have_several_services(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _, feeds = _publish(store, tmp_path, [
        {**DE, "shipping": [{"service": "Standard", "price": "4.90"}, {"service": "Express", "price": "9.90"}]},
        {**US, "shipping": [{"service": "Ground", "price": "7", "free_shipping_threshold": "50"}]}])
    assert _thresholds(feeds["DE-de_DE"]["complete"]) == []
    assert _thresholds(feeds["US-en_US"]["complete"]) == [[("country", "US"), ("price_threshold", "50.00 USD")]]


def test_one_service_with_a_rate_per_region_and_one_threshold_emits_it_once(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _, feeds = _publish(store, tmp_path, [{**US, "shipping": [
        {"service": "Ground", "region": "CA", "price": "7", "free_shipping_threshold": "40"},
        {"service": "Ground", "region": "NY", "price": "9", "free_shipping_threshold": "40.00"}]}])
    item = feeds["US-en_US"]["complete"]  # 54.00 USD: free in both regions
    assert _thresholds(item) == [[("country", "US"), ("price_threshold", "40.00 USD")]]
    assert [s.findtext(f"{{{GOOGLE}}}price") for s in item.iterfind(f"{{{GOOGLE}}}shipping")] == ["0.00 USD", "0.00 USD"]


# ---------------------------------------------------------------- refused
def test_a_threshold_on_a_country_with_two_services_is_refused_before_anything_is_published(
        store: Store, tmp_path: Path) -> None:
    seed_products(store)
    with pytest.raises(ConfigError) as caught:
        _publish(store, tmp_path, [{**DE, "shipping": [
            {"service": "Standard", "price": "4.90", "free_shipping_threshold": "50"},
            {"service": "Express", "price": "9.90"}]}])
    text = caught.value.describe()
    assert "free_shipping_threshold needs DE's shipping to be a single service level" in text
    assert "2 services (Express, Standard)" in text
    assert "keep one service for DE" in text  # what to change
    assert not list((tmp_path / "out").rglob("*.xml"))


def test_the_services_of_all_a_countrys_targets_count() -> None:
    """Two feeds for DE (German and English) describe one country's shipping: Express in the one makes the
    threshold in the other refused."""
    text = _refusal({**DE, "shipping": [{"service": "Standard", "price": "4.90", "free_shipping_threshold": "50"}]},
                    {**DE, "locale": "en_US", "shipping": [{"service": "Express", "price": "9.90"}]})
    assert "target DE-de_DE: free_shipping_threshold needs DE's shipping to be a single service level" in text


def test_regions_that_disagree_on_the_threshold_are_refused() -> None:
    text = _refusal({**US, "shipping": [
        {"service": "Ground", "region": "CA", "price": "7", "free_shipping_threshold": "50"},
        {"service": "Ground", "region": "NY", "price": "9"}]})
    assert "service 'Ground' declares free_shipping_threshold 50.00 for CA, none for NY" in text  # as Google shows it
    assert "Google takes one threshold per country" in text
    assert "give every region of the service the same free_shipping_threshold" in text


def test_other_countries_keep_several_services_beside_a_threshold_country() -> None:
    targets = _targets({**DE, "shipping": [{"service": "Standard", "price": "4.90", "free_shipping_threshold": "50"}]},
                       {**US, "shipping": [{"service": "Ground", "price": "7"}, {"service": "Air", "price": "19"}]})
    assert [t.country for t in targets] == ["DE", "US"]


def test_an_item_never_carries_more_than_one_threshold_however_many_countries_declare_one() -> None:
    """Google takes the attribute at most 25 times per product: each feed is one country's, so its items carry
    that country's threshold only, and 30 countries with a threshold are fine."""
    countries = sorted(COUNTRIES - {"DE", "US"})[:30]
    targets = _targets(*({"country": c, "locale": "en_US", "currency": "EUR",
                          "shipping": [{"service": "Standard", "price": "5", "free_shipping_threshold": "60"}]}
                         for c in countries))
    for t in targets:
        fields, reasons = t.item_fields(None, Decimal("10"), STRUCTURE.measures, None)
        assert reasons == []
        assert [v for k, v in fields if k == "free_shipping_threshold"] == [
            [("country", t.country), ("price_threshold", "60.00 EUR")]]
