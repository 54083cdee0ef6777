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
    {"rules": [{"brands": ["BOSCH"]}]},  # SQLite's LIKE ignores case; the matcher does not
    {"rules": [{"attributes": {"color": []}}, {"brands": ["makita"]}]},
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


def test_needles_are_per_rule_the_values_one_of_which_must_occur(store) -> None:
    seed_catalog(store)
    body = {"rules": [{"brands": ["bosch"], "attributes": {"color": ["red", "blue"], "pack_size": ["10"]}}, {"brands": ["makita"]}]}
    needles = AssortmentMatcher(Assortment.model_validate(body), store.structure()).needles()
    assert needles == [[("bosch",), ("red", "blue")], [("makita",)]]  # pack_size is a number: not looked for


def test_needles_are_off_when_a_rule_has_no_value_criterion(store) -> None:
    seed_catalog(store)
    body = {"rules": [{"brands": ["bosch"]}, {"categories": ["garden"]}]}
    assert AssortmentMatcher(Assortment.model_validate(body), store.structure()).needles() is None


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


def test_bmecat_fragments_made_once_per_value_still_carry_each_products_own_value(store, tmp_path: Path) -> None:
    import mimetypes

    from lxml import etree

    from tests.conftest import BMECAT_DIR

    seed_catalog(store)
    store.upsert_products([product("T1", weight={"amount": "1.5", "unit": "GRAM"}, image="img/T1.png"),
                           product("T2", brand="bosch", weight={"amount": "1.5", "unit": "KILOGRAM"}, image="img/T2.JPG"),
                           product("T3", brand="makita", weight={"amount": "2", "unit": "GRAM"}, image="img/T3.svg.gz")])
    c = contract(assortment={"skus": ["T1", "T2", "T3", "T6"]}, format="bmecat")
    doc = etree.parse(str(build_feed(store, c, tmp_path).path))
    assert etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd"))).validate(doc)
    ns = {"b": "http://www.bmecat.org/bmecat/2005.1"}
    seen = {}
    for p in doc.findall(".//b:PRODUCT", ns):
        features = {f.findtext("b:FNAME", namespaces=ns): (f.findtext("b:FVALUE", namespaces=ns), f.findtext("b:FUNIT", namespaces=ns))
                    for f in p.findall(".//b:FEATURE", ns)}
        seen[p.findtext("b:SUPPLIER_PID", namespaces=ns)] = (features["Weight"], p.findtext(".//b:MANUFACTURER_NAME", namespaces=ns),
                                                           p.findtext(".//b:MIME_TYPE", namespaces=ns))
    for sku, (weight, brand, mime) in seen.items():
        values = store.get_product(sku).values
        assert weight == (values["weight"]["amount"], {"GRAM": "GRM", "KILOGRAM": "KGM"}[values["weight"]["unit"]])  # UN/ECE Rec 20
        assert brand == values["brand"].title()
        guessed = mimetypes.guess_type(values["image"])[0] or "image/jpeg"
        assert mime == (guessed if guessed in ("image/jpeg", "image/gif") else None)  # no PNG, SVG in BMEcat 2005
    assert len({w for w, _, _ in seen.values()}) == 3 and seen["T2"][2] == "image/jpeg" and seen["T1"][2] is None


def test_delivering_one_contract_sends_what_a_run_of_several_sends(store, pim_env: Path, monkeypatch) -> None:
    from pim.contracts import put_contracts
    from pim.feeds import deliver_all
    from pim.settings import reset_settings

    monkeypatch.setenv("PIM_WORKERS", "1")  # two contracts on one worker: the run takes a catalog snapshot
    reset_settings()
    seed_catalog(store)
    a = contract(code="a", format="jsonl", assortment={"rules": [{"brands": ["bosch"]}], "exclude_skus": ["T6"]})
    put_contracts(store, [a, contract(code="b", format="jsonl")])
    together = {r["contract"]: Path(r["file"]).read_text() for r in deliver_all(store).results}
    alone = deliver_all(store, contract="a").results  # one contract: no snapshot, reads just its assortment
    assert Path(alone[0]["file"]).read_text() == together["a"]
    assert '"sku":"V-red"' in together["a"] and '"sku":"T6"' not in together["a"]
