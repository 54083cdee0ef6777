"""The run-level fast paths of feed builds give exactly what the per-contract functions give: a wrong
price or stock figure is the costliest bug a customer feed can have."""

from datetime import date
from decimal import Decimal

import pytest

from channels.feed_bmecat import xml_text
from pim.commerce import contract_tiers, price_list_tiers, stock_all, stock_for
from pim.contracts import resolve_prices
from pim.feeds import FeedRun, _run_prices
from pim.store import Store
from tests.feeds_data import contract, put_prices, put_stocks, seed_catalog

SKUS = ["T1", "T2", "T3", "T4", "T5", "T6", "G1", "G2", "V-red", "V-blue"]
DAYS = [date(2024, 1, 15), date(2024, 6, 1), date(2025, 3, 1)]


@pytest.fixture
def priced(store: Store) -> Store:
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T1", "10", "7.50"), ("T2", "1", "20.00")])
    put_prices(store, "cust_a", [("T1", "1", "7.00"), ("G2", "5", "3.10")], valid_from=date(2024, 5, 1), valid_to=date(2024, 12, 31))
    put_prices(store, "cust_a", [("T3", "1", "1.00")], valid_to=date(2024, 2, 1))  # expired later
    put_prices(store, "cust_b", [("T1", "1", "99.00")])  # another customer's price never leaks
    return store


@pytest.mark.parametrize("day", DAYS)
def test_run_tiers_equal_per_sku_tiers(priced: Store, day: date) -> None:
    assert price_list_tiers(priced, "cust_a", "EUR", day) == contract_tiers(priced, "cust_a", SKUS, "EUR", day)


def test_run_stock_equals_per_sku_stock(store: Store) -> None:
    seed_catalog(store)
    put_stocks(store, {"T1": "5", "T2": "0", "G1": "12.5"})
    assert {k: v for k, v in stock_all(store).items() if k in SKUS} == stock_for(store, SKUS)


@pytest.mark.parametrize("fallback", ["list_price", "list_price_discount", "exclude"])
@pytest.mark.parametrize("day", DAYS)
def test_run_prices_equal_resolve_prices(priced: Store, fallback: str, day: date) -> None:
    c = contract(pricing={"fallback": fallback, "discount_percent": "12.5"})
    structure = priced.structure()
    members = [(p, p.values) for p in priced.iter_products()]
    expected = resolve_prices(priced, c, structure, members, day)
    got = _run_prices(FeedRun(priced), priced, c, structure, members, day)
    assert {k: (v.tiers, v.source) for k, v in got.items()} == {k: (v.tiers, v.source) for k, v in expected.items()}
    assert got["T1"].tiers[0].price in (Decimal("8.00"), Decimal("7.00"))  # cust_a's, never cust_b's 99.00


def test_xml_text_escapes_markup_and_drops_what_xml_cannot_carry() -> None:
    assert xml_text("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert xml_text("line\r\nnext") == "line&#13;\nnext"
    assert xml_text("bell\x07 and null\x00 gone") == "bell and null gone"
    assert xml_text("Größe 5 µm ✓") == "Größe 5 µm ✓"
