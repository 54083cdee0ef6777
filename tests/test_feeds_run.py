"""A delivery run shares its catalog snapshot, gate verdicts and rendered rows between contracts: that sharing
must never change what any one customer gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pim.contracts import Assortment, AssortmentIndex, AssortmentMatcher
from pim.feeds import FeedRun, _Reader, build_feed
from tests.feeds_data import contract, put_prices, seed_catalog

ASSORTMENTS = [
    {"rules": [{"brands": ["bosch"]}]},
    {"rules": [{"categories": ["tools"]}], "exclude": [{"brands": ["makita"]}]},
    {"rules": [{"families": ["plant"]}, {"attributes": {"color": ["red"]}}]},
    {"skus": ["T1", "G2", "nope"], "rules": [{"categories": ["garden"], "brands": ["acme"]}], "exclude_skus": ["G2"]},
    {"rules": [{"brands": ["acme"]}], "enabled_only": False},
    {"skus": ["T5", "T3"]},
]


@pytest.mark.parametrize("body", ASSORTMENTS)
def test_index_resolves_the_same_assortment_as_the_matcher(store, body) -> None:
    seed_catalog(store)
    structure = store.structure()
    rows = list(_Reader(store).rows())
    a = Assortment.model_validate(body)
    matcher = AssortmentMatcher(a, structure)
    expected = {r.identifier for r in rows if matcher.matches(r, r.values)}
    assert set(AssortmentIndex(rows, structure).members(a)) == expected


def _body(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_shared_run_gives_each_customer_exactly_its_own_feed(store, tmp_path: Path) -> None:
    seed_catalog(store)
    put_prices(store, "cust_a", [("T2", "1", "7.00")])
    put_prices(store, "cust_b", [("T2", "1", "5.00")])
    a = contract(code="a", customer="cust_a", assortment={"rules": [{"brands": ["bosch"]}]})
    b = contract(code="b", customer="cust_b", assortment={"rules": [{"brands": ["bosch", "acme"]}], "exclude_skus": ["T6"]})
    alone = {c.code: _body(build_feed(store, c, tmp_path / "alone").path) for c in (a, b)}
    run = FeedRun(store)
    shared = {c.code: _body(build_feed(store, c, tmp_path / "shared", run=run).path) for c in (a, b, a)}
    assert shared == alone
    assert any("T2" in line and "7" in line for line in alone["a"]) and not any("T6" in line for line in alone["b"])


def test_a_product_changed_during_a_run_is_evaluated_again(store, tmp_path: Path) -> None:
    from pim.structure import Channel, GateRules
    from tests.feeds_data import product

    seed_catalog(store)
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(block_on=["invalid"]))])
    run = FeedRun(store)
    rows = list(_Reader(store).rows(["T1"]))
    assert run.passing(store, "b2b", rows) == {"T1"}
    store.upsert_products([product("T1", ean="4006381333932")])  # wrong check digit now: the gate blocks it
    assert run.passing(store, "b2b", list(_Reader(store).rows(["T1"]))) == set()
