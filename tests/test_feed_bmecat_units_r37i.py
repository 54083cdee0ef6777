"""Round 37, task I (F7): a BMEcat customer feed writes FUNIT as the UN/ECE Recommendation 20 code BMEcat prescribes
(MMT, KGM), not the PIM's unit code, and names its label-named features under no reference system: the class stays
under the contract's ECLASS/ETIM system, the labels are no property ids of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from channels.feed_bmecat import rec20_unit
from pim.feeds import build_feed
from pim.measures import builtin
from pim.store import Store
from pim.structure import Attribute, MeasurementFamily, MeasurementUnit
from tests.conftest import BMECAT_DIR
from tests.feeds_data import out_dir, product, seed_catalog, store_contract

NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}


@pytest.mark.parametrize("family,unit,code", [("Weight", "KILOGRAM", "KGM"), ("Weight", "GRAM", "GRM"),
                                              ("Length", "MILLIMETER", "MMT"), ("Length", "MICROMETER", "4H"),
                                              ("Resistance", "OHM", "OHM"), ("Resistance", "MILLIOHM", "E45")])
def test_units_are_written_as_their_rec20_code(family: str, unit: str, code: str) -> None:
    assert rec20_unit(builtin(), family, unit) == code


def test_every_funit_written_reads_back_as_the_same_unit() -> None:
    """What the feed writes, pim's own BMEcat import (and the measurement catalogue) reads as the unit stored."""
    measures = builtin()
    written = {}
    for family in measures.families.values():
        for unit in family.units:
            funit = written[unit] = rec20_unit(measures, family.code, unit)
            assert family.resolve(funit) == unit, (family.code, unit, funit)
    assert sum(1 for u, f in written.items() if f != u) > 100  # most units have a Rec 20 code


def test_a_unit_without_a_rec20_code_or_unknown_stays_as_stored() -> None:
    assert rec20_unit(builtin(), "Weight", "MARC") == "MARC"
    assert rec20_unit(builtin(), "Weight", "FURLONG") == "FURLONG"  # not a unit of the family: as it is
    assert rec20_unit(builtin(), None, "KILOGRAM") == "KILOGRAM"


def _feed(store: Store, tmp_path: Path) -> etree._ElementTree:
    seed_catalog(store)
    store.put_structure("measurement_family", [MeasurementFamily(
        code="Torque", standard_unit="NEWTON_METER",
        units=[MeasurementUnit(code="NEWTON_METER", factor="1", symbol="N·m", aliases=["NU"])])])
    store.put_structure("attribute", [
        Attribute(code="depth", type="metric", metric_family="Length", default_unit="MILLIMETER", labels={"en_US": "Depth"}),
        Attribute(code="torque", type="metric", metric_family="Torque", default_unit="NEWTON_METER", labels={"en_US": "Torque"})])
    s = store.structure()
    store.put_structure("family", [f.model_copy(update={"attributes": [*f.attributes, "depth", "torque"]})
                                   for f in s.families.values()])
    store.upsert_products([
        product("T1", depth={"amount": "41.5", "unit": "MILLIMETER"}, torque={"amount": "0.5", "unit": "NEWTON_METER"}),
        product("T2", brand="bosch", weight={"amount": "250", "unit": "GRAM"}, eclass_class=None)])
    c = store_contract(store, format="bmecat", fields=[], assortment={"skus": ["T1", "T2"]},
                       bmecat={"reference_system": "ECLASS-9.0"})
    doc = etree.parse(str(build_feed(store, c, out_dir(tmp_path)).path))
    assert etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd"))).validate(doc)
    return doc


def _features(doc: etree._ElementTree, sku: str) -> dict[str, tuple[str | None, str | None]]:
    [p] = [p for p in doc.iterfind(".//b:PRODUCT", NS) if p.findtext("b:SUPPLIER_PID", namespaces=NS) == sku]
    return {f.findtext("b:FNAME", namespaces=NS): (f.findtext("b:FVALUE", namespaces=NS), f.findtext("b:FUNIT", namespaces=NS))
            for f in p.iterfind(".//b:FEATURE", NS)}


def test_the_feed_writes_rec20_units_including_a_structures_own_family(store: Store, tmp_path: Path) -> None:
    doc = _feed(store, tmp_path)
    t1, t2 = _features(doc, "T1"), _features(doc, "T2")
    assert t1["Depth"] == ("41.5", "MMT") and t1["Weight"] == ("1.5", "KGM") and t1["Torque"] == ("0.5", "NU")
    assert t2["Weight"] == ("250", "GRM")


def test_label_named_features_go_under_no_reference_system(store: Store, tmp_path: Path) -> None:
    doc = _feed(store, tmp_path)
    [t1] = [p for p in doc.iterfind(".//b:PRODUCT", NS) if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T1"]
    blocks = t1.findall("b:PRODUCT_FEATURES", NS)
    classed = [b for b in blocks if b.find("b:REFERENCE_FEATURE_SYSTEM_NAME", NS) is not None]
    assert len(classed) == 1 and classed[0].findtext("b:REFERENCE_FEATURE_SYSTEM_NAME", namespaces=NS) == "ECLASS-9.0"
    assert classed[0].findtext("b:REFERENCE_FEATURE_GROUP_ID", namespaces=NS) == "27-11-01-01"
    assert classed[0].find("b:FEATURE", NS) is None  # the labels are no ECLASS property ids
    free = [b for b in blocks if b.find("b:REFERENCE_FEATURE_SYSTEM_NAME", NS) is None]
    assert len(free) == 1 and free[0].find("b:FEATURE", NS) is not None
    # without a class there is no reference system at all
    [t2] = [p for p in doc.iterfind(".//b:PRODUCT", NS) if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T2"]
    assert t2.find(".//b:REFERENCE_FEATURE_SYSTEM_NAME", NS) is None and t2.find(".//b:FEATURE", NS) is not None
