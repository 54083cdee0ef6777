"""Google Merchant targets price each item's shipping per service (flat, by weight, by price, free from a
threshold), carry handling and transit days in Google's format, and refuse declarations that make no sense."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from channels.framework import BUILTIN_DIR
from channels.google_merchant_targets import COUNTRIES, feed_targets
from pim.catalog import Structure
from pim.errors import ConfigError
from pim.pipeline import PublishResult, publish
from pim.product import Product
from pim.store import Store
from tests.channel_data import ATTRIBUTES, ERP, complete_values, seed_products
from tests.test_google_merchant import NS, g

DE = {"country": "DE", "locale": "de_DE", "currency": "EUR"}
US = {"country": "US", "locale": "en_US", "currency": "USD"}
PARCEL_KG = {"unit": "kg", "tiers": [{"up_to": "0.5", "price": "3.90"}, {"up_to": 2, "price": "5.90"},
                                     {"up_to": "31.5", "price": "9.90"}]}


def _grams(amount: str) -> dict[str, str]:
    return {"amount": amount, "unit": "GRAM"}


def _add(store: Store, sku: str, **values: Any) -> None:
    """One more complete product; a value given as None is left out."""
    merged = {k: v for k, v in {**complete_values(sku=sku), **values}.items() if v is not None}
    store.upsert_products([Product(identifier=sku, family="shoes", categories=["shoes"], source=ERP, values=merged)])


def _publish(store: Store, tmp_path: Path, targets: list[dict], weight_field: dict | None = None
             ) -> tuple[PublishResult, dict[str, dict[str, etree._Element]]]:
    """Publish the built-in Google catalog with these targets (and, if given, another shipping_weight field);
    items per target label."""
    spec = yaml.safe_load((BUILTIN_DIR / "google_merchant.yaml").read_text())
    spec["options"]["targets"] = targets
    if weight_field is not None:
        spec["fields"] = [f for f in spec["fields"] if f["output"] != "shipping_weight"] + [weight_field]
    path = tmp_path / "gmc.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", options={"catalog": str(path)})
    feeds = {}
    for loc in result.locations:
        root = etree.parse(loc).getroot()
        feeds[Path(loc).name.split(".")[2]] = {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}
    return result, feeds


def _groups(item: etree._Element) -> list[list[tuple[str, str]]]:
    return [[(c.tag.split("}")[1], c.text) for c in ship] for ship in item.findall("g:shipping", NS)]


def _prices(item: etree._Element) -> dict[str, str]:
    """service → price of the item's g:shipping groups."""
    return {dict(group)["service"]: dict(group)["price"] for group in _groups(item)}


# ---------------------------------------------------------------- per-item prices in the XML
@pytest.mark.parametrize(("weight_field", "table"), [
    ({"output": "shipping_weight", "attribute": "weight", "unit": "KILOGRAM"}, PARCEL_KG),  # stored g, field kg, table kg
    ({"output": "shipping_weight", "attribute": "weight"}, PARCEL_KG),  # stored and mapped in grams, table in kg
    ({"output": "shipping_weight", "attribute": "weight", "unit": "KILOGRAM"},  # table in grams
     {"unit": "g", "tiers": [{"up_to": 500, "price": "3.90"}, {"up_to": 2000, "price": "5.90"},
                             {"up_to": 31500, "price": "9.90"}]}),
], ids=["field-kg-table-kg", "field-g-table-kg", "field-kg-table-g"])
def test_weight_tiers_price_each_item_by_its_weight_converted_to_the_tables_unit(
        store: Store, tmp_path: Path, weight_field: dict, table: dict) -> None:
    seed_products(store)
    for sku, grams in (("light", "400"), ("at-2kg", "2000"), ("heavy", "2500"), ("huge", "40000")):
        _add(store, sku, weight=_grams(grams))
    _, feeds = _publish(store, tmp_path, [{**DE, "shipping": [{"service": "Parcel", "by_weight": table},
                                                              {"service": "Freight", "price": "49"}]}], weight_field)
    items = feeds["DE-de_DE"]
    assert _prices(items["light"]) == {"Parcel": "3.90 EUR", "Freight": "49.00 EUR"}
    assert _prices(items["complete"])["Parcel"] == "5.90 EUR"  # 850 g
    assert _prices(items["at-2kg"])["Parcel"] == "5.90 EUR"  # a bound is inclusive
    assert _prices(items["heavy"])["Parcel"] == "9.90 EUR"
    assert _prices(items["huge"]) == {"Freight": "49.00 EUR"}  # above the last tier: Parcel does not carry it


def test_shipping_group_keeps_googles_order(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _, feeds = _publish(store, tmp_path, [{**US, "shipping": [{"service": "Ground", "region": "CA", "by_weight": PARCEL_KG}]}])
    assert _groups(feeds["US-en_US"]["complete"]) == [[("country", "US"), ("region", "CA"), ("service", "Ground"),
                                                       ("price", "5.90 USD")]]


def test_price_tiers_read_the_items_price_in_the_targets_currency(store: Store, tmp_path: Path) -> None:
    """complete costs 49.90 EUR and 54.00 USD: in the US feed it falls in the tier above 50."""
    seed_products(store)
    tiers = [{"up_to": 50, "price": "9"}, {"up_to": 100, "price": "5"}, {"price": "2"}]
    _, feeds = _publish(store, tmp_path, [{**US, "shipping": [{"service": "Ground", "by_price": tiers}]},
                                          {**DE, "shipping": [{"service": "Paket", "by_price": tiers}]}])
    assert _prices(feeds["US-en_US"]["complete"]) == {"Ground": "5.00 USD"}
    assert _prices(feeds["DE-de_DE"]["complete"]) == {"Paket": "9.00 EUR"}


def test_price_tiers_and_threshold_read_the_sale_price_when_there_is_one(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "on-sale", sale_price={"EUR": "39.00", "USD": "45.00"})
    _, feeds = _publish(store, tmp_path, [  # a threshold makes its service the country's only one: CA
        {**US, "shipping": [{"service": "Ground", "by_price": [{"up_to": 50, "price": "9"}, {"price": "5"}]}]},
        {**US, "country": "CA", "shipping": [{"service": "Post", "price": "7", "free_shipping_threshold": "50"}]}])
    assert _prices(feeds["US-en_US"]["on-sale"]) == {"Ground": "9.00 USD"}
    assert _prices(feeds["CA-en_US"]["on-sale"]) == {"Post": "7.00 USD"}
    assert _prices(feeds["US-en_US"]["complete"]) == {"Ground": "5.00 USD"}
    assert _prices(feeds["CA-en_US"]["complete"]) == {"Post": "0.00 USD"}


def test_free_shipping_threshold_makes_an_item_at_or_above_it_ship_free(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "at-50", price={"EUR": "50.00", "USD": "55.00"})
    _, feeds = _publish(store, tmp_path, [{**DE, "shipping": [
        {"service": "Standard", "price": "4.90", "free_shipping_threshold": "50"}]}])
    items = feeds["DE-de_DE"]
    assert _prices(items["complete"]) == {"Standard": "4.90 EUR"}  # 49.90
    assert _prices(items["at-50"]) == {"Standard": "0.00 EUR"}


def test_handling_days_on_the_target_go_on_the_item_and_transit_days_into_the_shipping_group(
        store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _, feeds = _publish(store, tmp_path, [{**DE, "handling_days": {"min": 0, "max": 1}, "shipping": [
        {"service": "Standard", "price": "4.90", "transit_days": {"min": 1, "max": 3}},
        {"service": "Express", "price": "9.90", "transit_days": {"max": 1}}]}])
    item = feeds["DE-de_DE"]["complete"]
    assert (g(item, "min_handling_time"), g(item, "max_handling_time")) == ("0", "1")
    assert _groups(item) == [
        [("country", "DE"), ("service", "Standard"), ("price", "4.90 EUR"), ("min_transit_time", "1"), ("max_transit_time", "3")],
        [("country", "DE"), ("service", "Express"), ("price", "9.90 EUR"), ("max_transit_time", "1")],
    ]
    children = [c.tag.split("}")[1] for c in item]
    assert children.index("max_handling_time") > children.index("shipping")  # after the groups, as a flat element


def test_handling_days_of_a_service_go_inside_its_shipping_group(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _, feeds = _publish(store, tmp_path, [{**DE, "shipping": [
        {"service": "Standard", "price": "4.90", "handling_days": {"min": 1, "max": 2}, "transit_days": {"min": 2, "max": 4}}]}])
    item = feeds["DE-de_DE"]["complete"]
    assert _groups(item) == [[("country", "DE"), ("service", "Standard"), ("price", "4.90 EUR"),
                              ("min_handling_time", "1"), ("max_handling_time", "2"),
                              ("min_transit_time", "2"), ("max_transit_time", "4")]]
    assert item.find("g:max_handling_time", NS) is None


# ---------------------------------------------------------------- items the tables cannot price
def test_missing_weight_blocks_the_item_where_a_service_prices_by_weight(store: Store, tmp_path: Path) -> None:
    """A missing weight is a data problem the content team fixes, so it blocks (with a reason) rather than
    quietly dropping the service; targets that do not need the weight still publish the item."""
    seed_products(store)
    _add(store, "weightless", weight=None)
    result, feeds = _publish(store, tmp_path, [
        {**DE, "shipping": [{"service": "Parcel", "by_weight": PARCEL_KG}, {"service": "Freight", "price": "49"}]},
        {**US, "shipping": [{"service": "Ground", "price": "7"}]}])
    assert "weightless" not in feeds["DE-de_DE"]
    assert "google_merchant:DE-de_DE:missing:shipping_weight" in result.blocked["weightless"]
    assert _prices(feeds["US-en_US"]["weightless"]) == {"Ground": "7.00 USD"}
    assert feeds["US-en_US"]["weightless"].find("g:shipping_weight", NS) is None


def test_free_item_needs_no_weight(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "weightless-dear", weight=None, price={"EUR": "80", "USD": "90"})
    _, feeds = _publish(store, tmp_path, [{**DE, "shipping": [
        {"service": "Parcel", "by_weight": PARCEL_KG, "free_shipping_threshold": "50"}]}])
    assert _prices(feeds["DE-de_DE"]["weightless-dear"]) == {"Parcel": "0.00 EUR"}


def test_item_no_service_carries_is_blocked_with_the_services_named(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "huge", weight=_grams("40000"))
    result, feeds = _publish(store, tmp_path, [{**DE, "shipping": [
        {"service": "Parcel", "by_weight": PARCEL_KG},
        {"service": "Letter", "by_weight": {"unit": "g", "tiers": [{"up_to": 1000, "price": "1.60"}]}}]}])
    assert "huge" not in feeds["DE-de_DE"]
    assert result.blocked["huge"] == ["google_merchant:DE-de_DE:no_shipping_rate:Parcel,Letter"]
    assert _prices(feeds["DE-de_DE"]["complete"]) == {"Parcel": "5.90 EUR", "Letter": "1.60 EUR"}


# ---------------------------------------------------------------- declarations refused
STRUCTURE = Structure(attributes={a.code: a for a in ATTRIBUTES})


def _refusal(target: dict, weight_family: str | None = "Weight") -> str:
    with pytest.raises(ConfigError) as caught:
        feed_targets({"targets": [target]}, "ecommerce", ["en_US", "de_DE"], ["EUR", "USD"], STRUCTURE,
                     weight_family=weight_family)
    return caught.value.describe()


def _service(**spec: Any) -> dict:
    return {**DE, "shipping": [{"service": "Parcel", **spec}]}


@pytest.mark.parametrize(("target", "message"), [
    (_service(by_weight={"unit": "kg", "tiers": [{"up_to": 2, "price": "5"}, {"up_to": 1, "price": "4"}]}),
     "targets[0] (DE): shipping[0].by_weight: tiers must ascend without overlapping: tier 2 (up_to 1) is not above tier 1 (up_to 2)"),
    (_service(by_weight={"unit": "kg", "tiers": [{"up_to": 2, "price": "5"}, {"up_to": 2, "price": "6"}]}),
     "tier 2 (up_to 2) is not above tier 1 (up_to 2); list the tiers from the lowest bound up, each bound once"),
    (_service(by_price=[{"price": "5"}, {"up_to": 100, "price": "3"}]),
     "shipping[0]: tier 1 has no up_to, but only the last tier may leave it out"),
    (_service(by_weight={"unit": "kg", "tiers": []}), "shipping[0].by_weight.tiers: List should have at least 1 item"),
    (_service(price="4.90", by_weight=PARCEL_KG),
     "service 'Parcel' needs exactly one of price (flat), by_weight or by_price, not price and by_weight"),
    (_service(), "service 'Parcel' needs exactly one of price (flat), by_weight or by_price;"),
    (_service(by_price=[{"up_to": 30, "price": "5"}, {"up_to": 50, "price": "3"}, {"price": "1"}], free_shipping_threshold=50),
     "by_price tier 3 starts above 50, at or above free_shipping_threshold 50 where items ship free, so it never applies"),
    (_service(by_price=[{"up_to": 30, "price": "5"}], free_shipping_threshold=50),
     "by_price ends at 30, below free_shipping_threshold 50: items priced between have no rate"),
    (_service(price=-1), "shipping[0].price: Input should be greater than or equal to 0"),
    (_service(price="4", transit_days={"min": 3, "max": 1}, handling_days={"max": 1}),
     "shipping[0].transit_days: min (3) is above max (1); swap them"),
    (_service(price="4", handling_days={"max": 1}), "service 'Parcel' has handling_days but no transit_days"),
    (_service(price="4", transit_days={"max": 2}),
     "service 'Parcel' has transit_days but no handling_days (on it or on the target)"),
    ({**_service(price="4", handling_days={"max": 1}, transit_days={"max": 2}), "handling_days": {"max": 2}},
     "handling_days is declared on the target and on service 'Parcel'"),
    ({**DE, "shipping": [{"service": "Parcel", "price": "4"}, {"service": "Parcel", "price": "5"}]},
     "service 'Parcel' is declared twice"),
])
def test_a_nonsensical_shipping_declaration_is_refused_saying_what_to_fix(target: dict, message: str) -> None:
    assert message in _refusal(target)


def test_a_weight_table_in_an_unknown_unit_is_refused() -> None:
    text = _refusal(_service(by_weight={"unit": "stone", "tiers": [{"price": "5"}]}))
    assert "target DE-de_DE service 'Parcel': by_weight unit 'stone' is not a unit of Weight" in text
    assert "KILOGRAM (kg)" in text  # the hint lists units that are


def test_a_weight_table_needs_a_shipping_weight_field() -> None:
    text = _refusal(_service(by_weight=PARCEL_KG), weight_family=None)
    assert "prices by_weight, but the catalog maps no shipping_weight field from a metric attribute" in text


def test_weight_table_units_resolve_to_codes() -> None:
    [target] = feed_targets({"targets": [_service(by_weight=PARCEL_KG)]}, "ecommerce", ["de_DE"], ["EUR"],
                            STRUCTURE, weight_family="Weight")
    assert target.shipping[0].by_weight is not None and target.shipping[0].by_weight.unit == "KILOGRAM"


@pytest.mark.parametrize(("country", "message"), [
    ("XX", "'XX' is not an ISO 3166-1 alpha-2 country code (two capital letters, such as DE, GB or US)"),
    ("UK", "'UK' is not an ISO 3166-1 alpha-2 country code; use GB"),
    ("EL", "use GR"),
    ("de", "'de': write country codes in capitals (DE)"),
    ("germany", "'germany' is not an ISO 3166-1 alpha-2 country code"),
])
def test_a_country_that_is_no_iso_code_is_refused_by_name(country: str, message: str) -> None:
    assert message in _refusal({**DE, "country": country})


def test_every_assigned_iso_country_is_accepted() -> None:
    assert len(COUNTRIES) == 249 and {"DE", "GB", "US", "CH", "AX", "SS", "BQ"} <= COUNTRIES
    targets = feed_targets({"targets": [{**DE, "country": c} for c in sorted(COUNTRIES)]}, "ecommerce", ["de_DE"],
                           ["EUR"], STRUCTURE)
    assert len(targets or []) == 249


def test_targets_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(ConfigError, match="options.targets must be a list of targets"):
        feed_targets({"targets": DE}, "ecommerce", ["de_DE"], ["EUR"], STRUCTURE)


def test_a_refused_declaration_writes_nothing(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    with pytest.raises(ConfigError, match="tier 2"):
        _publish(store, tmp_path, [_service(by_price=[{"up_to": 50, "price": "5"}, {"up_to": 20, "price": "9"}])])
    assert not list((tmp_path / "out").rglob("*.xml"))


def _one(target: dict) -> Any:
    [t] = feed_targets({"targets": [target]}, "ecommerce", ["de_DE"], ["EUR"], STRUCTURE, weight_family="Weight") or []
    return t


def test_a_stored_weight_outside_the_weight_family_blocks_with_its_unit() -> None:
    target = _one(_service(by_weight=PARCEL_KG))
    assert target.item_fields({"amount": "1", "unit": "METER"}, None, STRUCTURE.measures, "Weight") == (
        [], ["unit:shipping_weight:METER"])


def test_an_item_without_price_gets_no_price_tier_and_no_extra_reason() -> None:
    """build_item blocks it as missing:price already; shipping adds nothing of its own."""
    target = _one(_service(by_price=[{"price": "5"}]))
    assert target.item_fields(None, None, STRUCTURE.measures, "Weight") == ([], [])


def test_item_element_nests_the_shipping_groups() -> None:
    from channels.google_merchant import item_element

    target = _one(_service(price="4.9", transit_days={"max": 2}, handling_days={"max": 1}))
    groups, _ = target.item_fields(None, Decimal("10"), STRUCTURE.measures, "Weight")
    item = item_element([("id", "x"), *groups])
    assert _groups(item) == [[("country", "DE"), ("service", "Parcel"), ("price", "4.90 EUR"),
                              ("max_handling_time", "1"), ("max_transit_time", "2")]]


@pytest.mark.parametrize(("weight_field", "weight", "said"), [
    ({"output": "shipping_weight", "attribute": "weight", "unit": "KILOGRAM"}, _grams("850"), "0.85 kg"),
    ({"output": "shipping_weight", "attribute": "weight"}, _grams("850"), "850 g"),  # mapped without a unit
    ({"output": "shipping_weight", "attribute": "weight"}, {"amount": "2", "unit": "POUND"}, "2 lb"),
    ({"output": "shipping_weight", "attribute": "weight"}, {"amount": "1.5", "unit": "TON"}, "1500 kg"),  # no Google unit
], ids=["kg", "g", "lb", "ton-as-kg"])
def test_shipping_weight_is_written_in_its_own_unit_or_kg(store: Store, tmp_path: Path, weight_field: dict,
                                                         weight: dict, said: str) -> None:
    seed_products(store)
    _add(store, "w", weight=weight)
    _, feeds = _publish(store, tmp_path, [{**DE, "shipping": [{"service": "Parcel", "price": "4.90"}]}], weight_field)
    assert feeds["DE-de_DE"]["w"].findtext("g:shipping_weight", namespaces=NS) == said
