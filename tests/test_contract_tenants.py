"""The search index's tenant field comes from the contracts: a customer sees exactly their assortment."""

from pim.contracts import contract_customers
from pim.store import Store
from tests.feeds_data import put_prices, seed_catalog, store_contract

ALL = ["T1", "T2", "T3", "T4", "T5", "T6", "G1", "G2", "V-red", "V-blue"]


def test_customers_follow_assortment_rules_exclusions_and_inheritance(store: Store) -> None:
    seed_catalog(store)
    store_contract(store, code="a", customer="cust_a", assortment={"rules": [{"brands": ["bosch"]}], "exclude_skus": ["T6"]})
    store_contract(store, code="b", customer="cust_b", assortment={"skus": ["G1", "T1"], "rules": [{"families": ["plant"]}]})
    got = contract_customers(store, ALL)
    assert {s for s, c in got.items() if "cust_a" in c} == {"T2", "T4", "G2", "V-red", "V-blue"}  # variants inherit bosch
    assert {s for s, c in got.items() if "cust_b" in c} == {"G1", "G2", "T1"}
    assert got["G2"] == ["cust_a", "cust_b"] and "T5" not in got  # disabled products are in nobody's assortment


def test_without_contracts_the_price_list_decides(store: Store) -> None:
    seed_catalog(store)
    put_prices(store, "cust_p", [("T3", "1", "9.00")])
    assert contract_customers(store, ALL) == {"T3": ["cust_p"]}
