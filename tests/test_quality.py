"""Quality findings on six dimensions, each naming product, attribute and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from pim.catalog import Structure
from pim.commerce import StockLevel, put_stock
from pim.conflicts import CONFLICT
from pim.product import Provenance
from pim.quality import Finding, assess, gtin_problem
from pim.store import Store
from tests.completeness_catalog import T0, gate_channel, save, shoe, structure

NOW = T0 + timedelta(days=10)


def kinds(found: dict[str, list[Finding]], identifier: str) -> list[tuple[str, str | None]]:
    return sorted((f.kind, f.attribute) for f in found[identifier])


def on(s: Structure, **rules: object) -> Structure:
    s.channels["ecommerce"] = gate_channel(**rules)
    return s


def test_gtin_check_digit() -> None:
    assert gtin_problem("4006381333931") is None
    assert gtin_problem("4006381333932") == "GTIN 4006381333932 has check digit 2, expected 1"
    assert gtin_problem("12345") == "'12345' is not a GTIN (8, 12, 13 or 14 digits)"


def test_complete_product_with_valid_values_has_no_findings() -> None:
    assert assess(None, structure(), "ecommerce", [shoe("a", ean="4006381333931")], now=NOW) == {"a": []}


def test_incomplete_locale_is_a_complete_dimension_finding() -> None:
    found = assess(None, structure(), "ecommerce", [shoe("a", **{"name:de_DE": None})], now=NOW)["a"]
    [f] = [f for f in found if f.kind == "incomplete"]
    assert (f.dimension, f.kind, f.locale, f.reason) == ("complete", "incomplete", "de_DE", "87% on de_DE: missing name")


def test_invalid_gtin_names_attribute_and_reason() -> None:
    [f] = assess(None, structure(), "ecommerce", [shoe("a", ean="4006381333932")], now=NOW)["a"]
    assert (f.product, f.kind, f.attribute, f.dimension) == ("a", "invalid", "ean", "valid")
    assert "expected 1" in f.reason


def test_unknown_option_unit_currency_and_range_are_invalid() -> None:
    product = shoe("a", color="green", weight={"amount": "1", "unit": "kg"}, pieces=500,
                   price={"EUR": "1.00", "USD": "2.00", "XYZ": "3.00"})
    found = assess(None, structure(), "ecommerce", [product], now=NOW)
    assert kinds(found, "a") == [("invalid", "color"), ("invalid", "pieces"), ("invalid", "price"), ("invalid", "weight")]
    reasons = {f.attribute: f.reason for f in found["a"]}
    assert reasons["pieces"] == "500 is above the maximum 100.0"
    assert reasons["price"] == "currency XYZ is not declared in the structure"


def test_text_limit_per_channel() -> None:
    s = on(structure(), text_limits={"name": 5})
    found = assess(None, s, "ecommerce", [shoe("a")], now=NOW)  # "Runner" (6) and "Läufer" (6)
    assert [(f.attribute, f.locale, f.reason) for f in found["a"]] == [
        ("name", "en_US", "6 characters, at most 5 on channel ecommerce"),
        ("name", "de_DE", "6 characters, at most 5 on channel ecommerce")]


def test_values_of_other_channels_are_not_checked() -> None:
    s = on(structure(), text_limits={"description": 3})
    assert assess(None, s, "ecommerce", [shoe("a", **{"description:en_US@print": "Too long"})], now=NOW)["a"] != []
    assert all(f.attribute != "description" or f.locale != "en_US" or "print" not in f.reason
               for f in assess(None, s, "ecommerce", [shoe("a")], now=NOW)["a"])


def test_stale_price_from_its_provenance_time() -> None:
    s = on(structure(), max_price_age_days=5)
    old, fresh = shoe("old"), shoe("fresh")
    fresh.provenance = {"price": Provenance(source="erp", at=NOW - timedelta(days=1))}
    found = assess(None, s, "ecommerce", [old, fresh], now=NOW)
    assert kinds(found, "old") == [("stale_price", "price")]
    assert found["fresh"] == []


def test_localizable_number_differing_across_locales_is_inconsistent() -> None:
    s = structure()
    s.attributes["pieces"] = s.attributes["pieces"].model_copy(update={"localizable": True})
    found = assess(None, s, "ecommerce", [shoe("a", **{"pieces:en_US": 4, "pieces:de_DE": 5})], now=NOW)
    assert [(f.kind, f.attribute, f.dimension) for f in found["a"]] == [("inconsistent", "pieces", "consistent")]


def test_translation_missing_in_one_locale_when_others_have_it() -> None:
    s = structure()
    s.channels["print"] = s.channels["print"].model_copy(update={"locales": ["en_US", "de_DE"]})
    found = assess(None, s, "print", [shoe("a", **{"name:de_DE": None})], now=NOW)
    assert [(f.kind, f.attribute, f.locale) for f in found["a"] if f.kind == "missing_translation"] == [
        ("missing_translation", "name", "de_DE")]


def test_duplicate_gtin_across_stored_products(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a", ean="4006381333931"), shoe("b", ean="04006381333931"), shoe("c")])
    s = store.structure()
    found = assess(store, s, "ecommerce", [store.get_product("a")], now=NOW)  # b is only in the store
    assert [(f.kind, f.attribute, f.reason) for f in found["a"]] == [("duplicate_gtin", "ean", "same ean as b")]


def test_identifiers_differing_only_in_case_are_duplicates(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("ABC-1"), shoe("abc-1")])
    found = assess(store, store.structure(), "ecommerce", [store.get_product("ABC-1")], now=NOW)
    assert kinds(found, "ABC-1") == [("duplicate_identifier", "sku")]


def test_stale_and_missing_stock(store: Store) -> None:
    s = save(store)
    s.channels["ecommerce"] = gate_channel(max_stock_age_days=3)
    store.upsert_products([shoe("old"), shoe("fresh"), shoe("none")])
    put_stock(store, [StockLevel(sku="old", quantity=Decimal(1), updated_at=NOW - timedelta(days=4)),
                      StockLevel(sku="fresh", quantity=Decimal(1), updated_at=NOW - timedelta(hours=1))])
    found = assess(store, s, "ecommerce", [store.get_product(i) for i in ("old", "fresh", "none")], now=NOW)
    assert [f.reason for f in found["old"]] == [f"stock from {(NOW - timedelta(days=4)):%Y-%m-%d} is older than 3 days"]
    assert found["fresh"] == []
    assert [f.reason for f in found["none"]] == ["no stock reading"]


def test_open_conflict_is_an_accuracy_finding(store: Store) -> None:
    s = save(store)
    store.upsert_products([shoe("a"), shoe("b")])
    stamp = datetime.now(UTC)
    with store.begin() as conn:
        conn.execute(insert(CONFLICT), [
            {"identifier": "a", "value_key": "name:en_US", "attribute": "name", "winner": "erp",
             "claims": {"erp": "Runner", "supplier": "Runner X"}, "status": "open", "detected_at": stamp, "updated_at": stamp},
            {"identifier": "b", "value_key": "name:en_US", "attribute": "name", "winner": "erp",
             "claims": {"erp": "Runner", "supplier": "Runner X"}, "status": "resolved", "detected_at": stamp, "updated_at": stamp},
        ])
    found = assess(store, s, "ecommerce", [store.get_product("a"), store.get_product("b")], now=NOW)
    assert [(f.kind, f.attribute, f.dimension, f.reason) for f in found["a"]] == [
        ("conflict", "name", "accurate", "sources disagree on name:en_US: erp, supplier")]
    assert found["b"] == []


def test_aged_between_finds_the_readings_that_crossed_the_limit_in_a_window(store: Store) -> None:
    """pim.gate.aged_between: price provenance times (own, else the record's, any offset) and any warehouse's
    stock reading that crossed the limit between two instants; nothing outside the window."""
    from zoneinfo import ZoneInfo

    from pim.gate import aged_between

    s = save(store)
    store.put_structure("channel", [gate_channel(block_on=["stale_price", "stale_stock"], max_price_age_days=5,
                                                 max_stock_age_days=3)])
    s = store.structure()
    berlin = ZoneInfo("Europe/Berlin")
    own = shoe("own")
    own.provenance = {"price": Provenance(source="erp", at=datetime(2024, 1, 3, 14, 0, tzinfo=berlin))}  # T0 + 2d13h
    later = shoe("later")
    later.provenance = {"price": Provenance(source="erp", at=T0 + timedelta(days=4))}
    store.upsert_products([own, later, shoe("record")])  # "record": no own price time, the record's (T0)
    put_stock(store, [StockLevel(sku="later", quantity=Decimal(1), updated_at=T0 + timedelta(days=4)),
                      StockLevel(sku="later", warehouse="b", quantity=Decimal(1), updated_at=T0 + timedelta(days=9))])
    window = (T0 + timedelta(days=7, hours=12), T0 + timedelta(days=8))  # prices from day 2.5–3, stock from 4.5–5
    assert aged_between(store, s, "ecommerce", *window) == {"own"}
    assert aged_between(store, s, "ecommerce", T0 + timedelta(days=4), T0 + timedelta(days=5, hours=1)) == {"record"}
    assert aged_between(store, s, "ecommerce", T0 + timedelta(days=7), T0 + timedelta(days=7, hours=1)) == {"later"}
    assert aged_between(store, s, "ecommerce", T0 + timedelta(days=11, hours=23), T0 + timedelta(days=12, hours=1)) == {"later"}
    assert aged_between(store, s, "ecommerce", T0 + timedelta(days=20), T0 + timedelta(days=19)) == set()
    assert aged_between(store, s, "ecommerce", window[1], window[0]) == {"own"}  # back in time: young again
