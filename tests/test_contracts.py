"""Contracts: assortment rules and exclusions, contract price versus list price, tiers by date, file errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from pim.contracts import AssortmentMatcher, get_contracts, load_contracts, resolve_prices
from pim.errors import ConfigError, InputError
from tests.feeds_data import contract, put_prices, seed_catalog


def members(store, **assortment) -> list[str]:
    c = contract(assortment=assortment)
    m = AssortmentMatcher(c.assortment, store.structure())
    return sorted(p.identifier for p in store.iter_products() if m.matches(p, p.values if not p.parent else {**store.get_model(p.parent).values, **p.values}))


def test_category_rule_includes_subcategories_and_skips_disabled(store) -> None:
    seed_catalog(store)
    assert members(store, rules=[{"categories": ["tools"]}]) == ["T1", "T2", "T3", "T4", "T6", "V-blue", "V-red"]


def test_brand_rule_reads_inherited_brand_and_exclusions_win(store) -> None:
    seed_catalog(store)
    got = members(store, rules=[{"brands": ["bosch"]}], exclude=[{"families": ["plant"]}], exclude_skus=["T4"])
    assert got == ["T2", "T6", "V-blue", "V-red"]


def test_explicit_skus_combine_with_attribute_rules(store) -> None:
    seed_catalog(store)
    assert members(store, skus=["G1"], rules=[{"attributes": {"color": ["red"]}}]) == ["G1", "V-red"]


def test_rule_criteria_must_all_match(store) -> None:
    seed_catalog(store)
    assert members(store, rules=[{"families": ["plant"], "brands": ["bosch"]}]) == ["G2"]


def test_contract_price_wins_and_tiers_follow_validity_dates(store) -> None:
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T1", "10", "7.00")], valid_from=date(2024, 1, 1), valid_to=date(2024, 6, 30))
    put_prices(store, "cust_a", [("T1", "1", "8.50")], valid_from=date(2024, 7, 1))
    c = contract()
    t1 = store.get_product("T1")
    early = resolve_prices(store, c, store.structure(), [(t1, t1.values)], on=date(2024, 3, 1))["T1"]
    late = resolve_prices(store, c, store.structure(), [(t1, t1.values)], on=date(2024, 8, 1))["T1"]
    assert early.source == "contract" and [(t.min_qty, t.price) for t in early.tiers] == [(1, Decimal("8.00")), (10, Decimal("7.00"))]
    assert late.source == "contract" and [t.price for t in late.tiers] == [Decimal("8.50")]


def test_without_contract_price_the_declared_fallback_applies(store) -> None:
    seed_catalog(store)
    s = store.structure()
    t2 = store.get_product("T2")
    listed = resolve_prices(store, contract(), s, [(t2, t2.values)])["T2"]
    assert listed.source == "list" and listed.unit_price == Decimal("10.00")
    discounted = resolve_prices(store, contract(pricing={"fallback": "list_price_discount", "discount_percent": "15"}), s, [(t2, t2.values)])
    assert discounted["T2"].unit_price == Decimal("8.50") and discounted["T2"].source == "list_discount"
    assert resolve_prices(store, contract(pricing={"fallback": "exclude"}), s, [(t2, t2.values)]) == {}


def test_another_customers_price_list_never_applies(store) -> None:
    seed_catalog(store)
    put_prices(store, "cust_b", [("T2", "1", "1.00")])
    t2 = store.get_product("T2")
    assert resolve_prices(store, contract(customer="cust_a"), store.structure(), [(t2, t2.values)])["T2"].source == "list"


def test_contract_needs_a_pinned_sha256_host_key() -> None:
    sftp = {"host": "h", "user": "u", "private_key": "/k", "host_key_fingerprint": "MD5:aa:bb"}
    with pytest.raises(ValidationError, match="host_key_fingerprint"):
        contract(delivery={"sftp": sftp})


def test_schedule_must_be_a_cron_expression() -> None:
    assert contract(schedule="0 3 * * 1-5").schedule == "0 3 * * 1-5"
    with pytest.raises(ValidationError, match="cron"):
        contract(schedule="every night")


def test_contract_file_error_names_file_line_and_field(store, tmp_path: Path) -> None:
    seed_catalog(store)
    f = tmp_path / "contracts.yaml"
    f.write_text("contracts:\n  - code: x\n    customer: c\n    locale: en_US\n    currency: EURO\n    channel: b2b\n"
                 "    assortment: {skus: [T1]}\n    delivery: {portal: true}\n")
    with pytest.raises(InputError) as err:
        load_contracts(store, [f])
    assert err.value.file == str(f) and err.value.line == 5 and err.value.field == "contracts.0.currency"
    assert get_contracts(store) == []


def test_contract_with_unknown_channel_is_refused_before_storing(store, tmp_path: Path) -> None:
    seed_catalog(store)
    f = tmp_path / "c.yaml"
    f.write_text("code: x\ncustomer: c\nlocale: en_US\ncurrency: EUR\nchannel: nope\nassortment: {skus: [T1]}\ndelivery: {portal: true}\n")
    with pytest.raises(ConfigError, match="unknown channel 'nope'"):
        load_contracts(store, [f])
    assert get_contracts(store) == []


def test_loaded_contracts_are_stored_and_read_back(store, tmp_path: Path) -> None:
    seed_catalog(store)
    f = tmp_path / "c.yaml"
    f.write_text("code: x\ncustomer: c\nlocale: en_US\ncurrency: EUR\nchannel: b2b\nassortment: {skus: [T1]}\n"
                 "delivery: {portal: true}\nformat: bmecat\nmode: delta\n")
    load_contracts(store, [f])
    [back] = get_contracts(store, customer="c")
    assert back.format == "bmecat" and back.mode == "delta" and back.assortment.skus == ["T1"]
