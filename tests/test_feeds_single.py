"""A single build (no delivery run) reads only what its assortment could hold: the value-text prefilter and
the SQL narrowing must never change which products a customer gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pim.contracts import Assortment, AssortmentIndex, AssortmentMatcher
from pim.feeds import FeedRun, _candidates_full, _Reader, build_feed
from pim.product import Provenance
from pim.structure import Channel, GateRules
from tests.feeds_data import contract, product, seed_catalog

ASSORTMENTS = [
    {"rules": [{"brands": ["bosch"]}]},  # V-red and V-blue inherit bosch from their model
    {"rules": [{"categories": ["tools"]}], "exclude": [{"brands": ["makita"]}]},
    {"rules": [{"families": ["plant"]}, {"attributes": {"color": ["red"]}}]},
    {"skus": ["T1", "G2", "nope"], "rules": [{"categories": ["garden"], "brands": ["acme"]}], "exclude_skus": ["G2"]},
    {"rules": [{"brands": ["acme"]}], "enabled_only": False},
    {"rules": [{"brands": ["acme"], "families": ["tool"]}, {"attributes": {"ean": ["4006381333931"]}}]},
    {"rules": [{"attributes": {"pack_size": ["10"]}}]},  # a number attribute: not checked on text
    {"rules": [{"brands": ["a/b", "bosch"]}]},  # a value an encoder may escape: not checked on text
    {"skus": ["T5", "T3"]},
]


@pytest.mark.parametrize("body", ASSORTMENTS)
def test_single_build_resolves_the_same_assortment_as_a_run(store, body) -> None:
    seed_catalog(store)
    c = contract(assortment=body)
    structure = store.structure()
    matcher = AssortmentMatcher(c.assortment, structure)
    single = [r.identifier for r in _candidates_full(FeedRun(store, snapshot=False), store, c, matcher)]
    rows = list(_Reader(store).rows())
    assert single == AssortmentIndex(rows, structure).members(c.assortment)
    assert set(single) == {r.identifier for r in rows if matcher.matches(r, r.values)}


def test_prefilter_refuses_only_what_no_rule_can_accept(store) -> None:
    seed_catalog(store)
    structure = store.structure()
    keep = AssortmentMatcher(Assortment.model_validate({"rules": [{"brands": ["bosch"], "attributes": {"color": ["red"]}},
                                                                   {"brands": ["makita"]}]}), structure).prefilter()
    assert keep is not None
    assert keep('{"brand": "bosch", "color": "red"}') and keep('{"brand": "makita"}')
    assert not keep('{"brand": "bosch", "color": "blue"}') and not keep('{"brand": "acme"}')


def test_prefilter_is_off_when_a_rule_has_no_value_criterion(store) -> None:
    seed_catalog(store)
    body = {"rules": [{"brands": ["bosch"]}, {"categories": ["garden"]}]}
    assert AssortmentMatcher(Assortment.model_validate(body), store.structure()).prefilter() is None


def test_stale_price_gate_reads_the_price_provenance_of_a_single_build(store, tmp_path: Path) -> None:
    seed_catalog(store)
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"], category_tree="master",
                                            gate=GateRules(block_on=["stale_price"], max_price_age_days=30))])
    fresh, old = Provenance(source="erp", at=datetime.now(UTC)), Provenance(source="erp", at=datetime(2020, 1, 1, tzinfo=UTC))
    store.upsert_products([product("T1").model_copy(update={"source": fresh}),
                           product("T2", brand="bosch").model_copy(update={"source": old})])
    c = contract(assortment={"skus": ["T1", "T2"]}, format="jsonl")
    for run in (None, FeedRun(store)):
        body = build_feed(store, c, tmp_path / str(run is None), run=run).path.read_text()
        assert '"sku":"T1"' in body and '"sku":"T2"' not in body
