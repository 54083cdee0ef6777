"""Prices have at least their currency's minor units (CLDR via Babel: JPY 0, EUR 2, KWD 3): a price is stored and
written with them ("95.00", JPY "1197"), more decimals are kept as given (B2B unit prices below the minor unit, EUR
0.0123 a screw), and a discount is rounded to its base price's decimals, at least the currency's."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from lxml import etree
from pydantic import ValidationError

from importers.erp_xml import import_erp_xml
from pim.catalog import Structure
from pim.commerce import PriceListEntry
from pim.contracts import discounted, resolve_prices
from pim.currencies import minor_units
from pim.feeds import build_feed
from pim.pipeline import publish
from pim.product import Product
from pim.store import Store
from pim.structure import Attribute, Channel, Currency, Family
from pim.validation import RecordValidator
from pim.values import normalize
from tests.channel_data import seed_products
from tests.feeds_data import contract, out_dir, put_prices, seed_catalog
from tests.test_erp_xml import idoc, matmas, write
from tests.test_erp_xml import seeded  # noqa: F401  (fixture)

PRICE = Attribute(code="price", type="price_collection")
BMECAT = {"b": "http://www.bmecat.org/bmecat/2005.1"}
G = {"g": "http://base.google.com/ns/1.0"}


# ---------------------------------------------------------------------------------------------- the numbers
def test_minor_units_are_cldrs() -> None:
    """A guard of the numbers pim.currencies reads (Babel's CLDR data)."""
    assert [minor_units(c) for c in ("JPY", "KWD", "EUR", "CLF", "XYZ")] == [0, 3, 2, 4, 2]  # XYZ: CLDR's default


# ---------------------------------------------------------------------------------------------- import
@pytest.mark.parametrize(("given", "stored"), [
    ({"JPY": "1234.5"}, {"JPY": "1234.5"}),
    ({"EUR": "0.0123", "KWD": "12.3456"}, {"EUR": "0.0123", "KWD": "12.3456"}),
    ({"EUR": "0.01230"}, {"EUR": "0.0123"}),
    ({"EUR": "123456789012345.123456789012345"}, {"EUR": "123456789012345.123456789012345"}),  # 15 + 15: kept whole
])
def test_a_price_with_more_decimals_than_its_currency_has_is_kept_as_given(given: dict, stored: dict) -> None:
    """Found in round 31's review: refusing them (as the first cut did) refused every B2B price list pricing a
    screw below a cent."""
    assert normalize(PRICE, given) == stored


def test_a_price_is_stored_with_at_least_its_currencys_decimals() -> None:
    """Trailing zeros are no decimals: JPY 1234.00 is whole yen."""
    stored = normalize(PRICE, {"JPY": "1234.00", "KWD": "12.3", "EUR": "9.5", "CLF": "1.5", "USD": "9.500"})
    assert stored == {"JPY": "1234", "KWD": "12.300", "EUR": "9.50", "CLF": "1.5000", "USD": "9.50"}


def test_the_validators_shortcut_takes_only_the_stored_form() -> None:
    """A JSON record's price text that looked canonical ("1234.50": two decimals) skipped pim.values; now only
    the stored form (pim.currencies.price_pattern) does, and another form goes the full path."""
    s = Structure(attributes={"sku": Attribute(code="sku", type="identifier"), "price": PRICE},
                  families={"tools": Family(code="tools", attributes=["sku", "price"])})
    validator = RecordValidator(s)
    shortcut = validator._canonical_check(PRICE)  # noqa: SLF001
    assert shortcut({"EUR": "9.50", "JPY": "1234", "KWD": "0.0125"}) and shortcut({"EUR": "0.0123", "JPY": "1234.5"})
    assert not shortcut({"JPY": "1234.50"}) and not shortcut({"EUR": "9.5"}) and not shortcut({"EUR": "0.01230"})
    ok = Product(identifier="P-1", family="tools", values={"sku": "P-1", "price": {"EUR": "9.50", "JPY": "1234"}})
    assert validator.check_product(ok) == []


def test_a_matmas_price_below_its_currencys_minor_unit_is_kept(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    prices = ("<Z1PRICE><KONWA>EUR</KONWA><KBETR>10.00</KBETR></Z1PRICE>"
              "<Z1PRICE><KONWA>JPY</KONWA><KBETR>{}</KBETR></Z1PRICE>")
    path = write(tmp_path / "m.xml", idoc("1", "<MEINS>ST</MEINS>" + prices.format("1234.5")),
                 idoc("2", "<MEINS>ST</MEINS>" + prices.format("1234")))
    counts = import_erp_xml(path, seeded, matmas())
    assert (counts.read, counts.created, counts.rejected) == (2, 2, 0)
    assert seeded.get_product("1").values["price"] == {"EUR": "10.00", "JPY": "1234.5"}
    assert seeded.get_product("2").values["price"] == {"EUR": "10.00", "JPY": "1234"}


def test_a_contract_price_below_its_currencys_minor_unit_is_kept() -> None:
    entry = PriceListEntry(customer="C1", sku="A1", currency="EUR", price=Decimal("0.0123"), min_qty=Decimal("1000"))
    assert entry.price == Decimal("0.0123")
    with pytest.raises(ValidationError, match="more than 4 decimal places"):  # the column's limit stays
        PriceListEntry(customer="C1", sku="A1", currency="EUR", price=Decimal("0.01234"))


# ---------------------------------------------------------------------------------------------- feeds
@pytest.fixture
def catalog(store: Store) -> Store:
    """T1 at contract tiers 62.6 (from 0.5) and 55; T2 at its list price, EUR 95 (JPY 1234, KWD 12.345)."""
    seed_catalog(store)
    t2 = store.get_product("T2")
    t2.values["price"] = {"EUR": "95.00", "JPY": "1234", "KWD": "12.345"}
    store.upsert_products([t2])
    put_prices(store, "cust_a", [("T1", "0.5", "62.6"), ("T1", "10", "55")])
    return store


def _csv(store: Store, tmp_path: Path, **over) -> dict[str, dict[str, str]]:
    b = build_feed(store, contract(assortment={"skus": ["T1", "T2"]}, **over), out_dir(tmp_path))
    return {r["sku"]: r for r in csv.DictReader(b.path.open(encoding="utf-8", newline=""))}


def test_feed_prices_keep_their_currencys_decimals_and_quantities_do_not(catalog: Store, tmp_path: Path) -> None:
    rows = _csv(catalog, tmp_path, fields=["label"])
    assert (rows["T1"]["price"], rows["T1"]["tiers"]) == ("62.60", "0.5:62.60|10:55.00")
    assert (rows["T2"]["price"], rows["T2"]["tiers"]) == ("95.00", "1:95.00")


@pytest.mark.parametrize(("currency", "price"), [("JPY", "1197"), ("KWD", "11.975"), ("EUR", "92.15")])
def test_a_discount_is_rounded_to_the_currencys_minor_units(catalog: Store, tmp_path: Path, currency: str,
                                                            price: str) -> None:
    """3 % off JPY 1234 is 1196.98, off KWD 12.345 is 11.97465: rounded half to even to 1197 and 11.975, in the
    full build (the run's prices) and in a single contract's resolution alike. EUR (95 less 3 %, 92.15): a guard."""
    pricing = {"fallback": "list_price_discount", "discount_percent": "3"}
    rows = _csv(catalog, tmp_path, currency=currency, pricing=pricing, fields=["label"])
    assert (rows["T2"]["price"], rows["T2"]["tiers"], rows["T2"]["currency"]) == (price, f"1:{price}", currency)
    c = contract(currency=currency, pricing=pricing)
    t2 = catalog.get_product("T2")
    [resolved] = resolve_prices(catalog, c, catalog.structure(), [(t2, t2.values)]).values()
    assert str(resolved.unit_price) == price


def test_a_discount_keeps_the_decimals_of_a_price_below_the_minor_unit() -> None:
    """EUR 0.0123 less 3 % is 0.011931: 0.0119, not 0.01 (a B2B unit price, round 31's review)."""
    assert discounted(Decimal("0.0123"), Decimal(3), "EUR") == Decimal("0.0119")
    assert discounted(Decimal("12.30"), Decimal(3), "EUR") == Decimal("11.93")


def test_a_discount_ending_in_half_a_minor_unit_rounds_to_even() -> None:
    """The rounding two-decimal prices had (Decimal's default context), kept: JPY 1250 less 3 % is 1212.5."""
    assert (discounted(Decimal(1250), Decimal(3), "JPY"), discounted(Decimal(1350), Decimal(3), "JPY")) == (1212, 1310)


def test_jsonl_and_bmecat_write_prices_with_the_currencys_decimals(catalog: Store, tmp_path: Path) -> None:
    b = build_feed(catalog, contract(assortment={"skus": ["T2"]}, currency="KWD", format="jsonl",
                                     fields=["label", "price"]), out_dir(tmp_path))
    [t2] = [orjson.loads(line) for line in b.path.read_bytes().splitlines()]
    assert t2["price"]["amount"] == "12.345" and t2["price"]["tiers"] == [{"min_qty": "1", "price": "12.345"}]
    assert t2["attributes"]["price"] == "12.345"
    b = build_feed(catalog, contract(code="bme", assortment={"skus": ["T1"]}, format="bmecat"), out_dir(tmp_path))
    tiers = [(p.findtext("b:LOWER_BOUND", namespaces=BMECAT), p.findtext("b:PRICE_AMOUNT", namespaces=BMECAT))
             for p in etree.parse(str(b.path)).iterfind(".//b:PRODUCT_PRICE", BMECAT)]
    assert tiers == [("0.5", "62.60"), ("10", "55.00")]


# ---------------------------------------------------------------------------------------------- channels
@pytest.fixture
def yen(store: Store) -> Store:
    """The channel catalog with JPY; `complete` priced JPY 7480 as prices were stored before minor units were
    read ("7480.00")."""
    seed_products(store)
    store.put_structure("currency", [Currency(code="EUR"), Currency(code="USD"), Currency(code="JPY")])
    [ecommerce] = [c for c in store.structure().channels.values() if c.code == "ecommerce"]
    store.put_structure("channel", [Channel(**{**ecommerce.model_dump(), "currencies": ["EUR", "USD", "JPY"]})])
    p = store.get_product("complete")
    p.values["price"] = {**p.values["price"], "JPY": "7480.00"}
    store.upsert_products([p])
    return store


def test_google_merchant_writes_yen_prices_shipping_and_thresholds_whole(yen: Store, tmp_path: Path) -> None:
    import yaml

    from channels.framework import BUILTIN_DIR

    spec = yaml.safe_load((BUILTIN_DIR / "google_merchant.yaml").read_text())
    spec["options"]["targets"] = [{"country": "JP", "locale": "en_US", "currency": "JPY", "shipping": [
        {"service": "Standard", "price": "500", "free_shipping_threshold": "10000"}]}]
    (tmp_path / "gmc.yaml").write_text(yaml.safe_dump(spec))
    result = publish(yen, tmp_path / "out", channel="google_merchant", scope="ecommerce",
                     options={"catalog": str(tmp_path / "gmc.yaml")})
    [item] = [i for i in etree.parse(result.locations[0]).getroot().iterfind("channel/item")
              if i.findtext("g:id", namespaces=G) == "complete"]
    assert item.findtext("g:price", namespaces=G) == "7480 JPY"
    assert item.findtext("g:shipping/g:price", namespaces=G) == "500 JPY"
    assert item.findtext("g:free_shipping_threshold/g:price_threshold", namespaces=G) == "10000 JPY"


def test_the_storefront_writes_each_price_with_its_currencys_decimals(yen: Store, tmp_path: Path) -> None:
    result = publish(yen, tmp_path / "out", channel="storefront", scope="ecommerce")
    en = orjson.loads(Path(next(p for p in result.locations if "en_US" in p)).read_bytes())
    [complete] = [p for p in en["products"] if p["identifier"] == "complete"]
    assert complete["prices"] == {"EUR": "49.90", "USD": "54.00", "JPY": "7480"}
