"""BMEcat PRODUCT_LOGISTIC_DETAILS → attributes: dimensions in the units BMEcat implies (VOLUME m³, WEIGHT kg,
LENGTH/WIDTH/DEPTH m) or the map's, customs tariff number and country of origin; bad values are per-value
problems; unmapped details are read past."""

from __future__ import annotations

from pathlib import Path

import pytest

from importers.bmecat import Logistics, import_bmecat, load_map
from importers.bmecat_reader import read_bmecat
from pim.store import Store
from pim.structure import Attribute, AttributeOption
from tests.test_bmecat import MAP, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_groups import document, product

DETAILS = ("<PRODUCT_LOGISTIC_DETAILS>"
           "<CUSTOMS_TARIFF_NUMBER><CUSTOMS_NUMBER>85369010</CUSTOMS_NUMBER><TERRITORY>DE</TERRITORY></CUSTOMS_TARIFF_NUMBER>"
           "<CUSTOMS_TARIFF_NUMBER><CUSTOMS_NUMBER>853690</CUSTOMS_NUMBER><TERRITORY>CH</TERRITORY></CUSTOMS_TARIFF_NUMBER>"
           "<STATISTICS_FACTOR>1</STATISTICS_FACTOR><COUNTRY_OF_ORIGIN>{origin}</COUNTRY_OF_ORIGIN>"
           "<COUNTRY_OF_ORIGIN>CN</COUNTRY_OF_ORIGIN><PRODUCT_DIMENSIONS><VOLUME>0.00012</VOLUME><WEIGHT>{weight}</WEIGHT>"
           "<LENGTH>0.1</LENGTH><WIDTH>6.1</WIDTH><DEPTH>0.07</DEPTH></PRODUCT_DIMENSIONS></PRODUCT_LOGISTIC_DETAILS>")


@pytest.fixture
def logistic_store(supplier_store: Store) -> Store:  # noqa: F811
    """The supplier structure plus volume, length, a customs number and an origin select (DE, CN)."""
    s = supplier_store.structure()
    supplier_store.put_structures([
        ("attribute", [Attribute(code="volume", type="metric", metric_family="Volume", default_unit="CUBIC_METER"),
                       Attribute(code="length", type="metric", metric_family="Length", default_unit="MILLIMETER"),
                       Attribute(code="customs_tariff", type="text"), Attribute(code="origin", type="simple_select")]),
        ("attribute_option", [AttributeOption(attribute="origin", code=c) for c in ("DE", "CN")]),
        ("family", [s.families["electrical"].model_copy(update={"attributes": [
            *s.families["electrical"].attributes, "volume", "length", "customs_tariff", "origin"]})]),
    ])
    return supplier_store


def logistics_map(**targets: object):  # type: ignore[no-untyped-def]
    cfg = {"volume": {"attribute": "volume"}, "weight": {"attribute": "net_weight"}, "length": {"attribute": "length"},
           "width": {"attribute": "width", "unit": "MILLIMETER"}, "depth": {"attribute": "depth"},
           "customs_number": "customs_tariff", "country_of_origin": "origin", **targets}
    return load_map(MAP).model_copy(update={"logistics": Logistics.model_validate(cfg)})


def catalog(tmp_path: Path, origin: str = "DE", weight: str = "0.045", name: str = "l.xml") -> Path:
    return document(tmp_path, product("p1", extra=DETAILS.format(origin=origin, weight=weight)), name=name,
                    valid=weight.replace(".", "").isdigit())


def test_logistic_details_land_in_their_attributes(logistic_store: Store, tmp_path: Path) -> None:
    counts = import_bmecat(catalog(tmp_path), logistic_store, logistics_map())
    v = logistic_store.get_product("p1").values
    assert v["volume"] == {"amount": "0.00012", "unit": "CUBIC_METER"}
    assert v["net_weight"] == {"amount": "0.045", "unit": "KILOGRAM"}
    assert v["length"] == {"amount": "0.1", "unit": "METER"} and v["depth"] == {"amount": "0.07", "unit": "METER"}
    assert v["width"] == {"amount": "6.1", "unit": "MILLIMETER"}  # the map says this supplier sends millimetres
    assert v["customs_tariff"] == "85369010" and v["origin"] == "DE"  # the first of each
    assert logistic_store.get_product("p1").provenance_of("volume").source == "supplier:weidmueller"
    assert (counts.rejected, counts.problems) == (0, 0)
    import_bmecat(catalog(tmp_path, weight="0,046", name="comma.xml"), logistic_store, logistics_map())
    assert logistic_store.get_product("p1").values["net_weight"]["amount"] == "0.046"  # a decimal comma, as real files have


def test_bad_logistic_values_are_problems_and_the_rest_imports(logistic_store: Store, tmp_path: Path) -> None:
    # a map's own mistake (a unit or an attribute the structure lacks) refuses the import before any product:
    # tests/test_bmecat_map_checks.py
    counts = import_bmecat(catalog(tmp_path, origin="AT", weight="heavy"), logistic_store, logistics_map())
    v = logistic_store.get_product("p1").values
    assert not {"net_weight", "origin"} & v.keys() and v["customs_tariff"] == "85369010"
    notes = {n["field"]: n["reason"] for n in logistic_store.quarantined(counts.job_id, severity="problem")}
    assert "'heavy' is not a number" in notes["WEIGHT"]
    assert "'AT' is no option of 'origin'" in notes["COUNTRY_OF_ORIGIN"]
    assert counts.rejected == 0 and counts.created == 1


def test_unmapped_logistic_details_are_read_past(logistic_store: Store, tmp_path: Path) -> None:
    counts = import_bmecat(catalog(tmp_path), logistic_store, load_map(MAP))
    v = logistic_store.get_product("p1").values
    assert not {"volume", "length", "customs_tariff", "origin", "net_weight"} & v.keys()
    assert (counts.created, counts.problems) == (1, 0)
    only_weight = import_bmecat(catalog(tmp_path, name="w.xml"), logistic_store,
                                load_map(MAP).model_copy(update={"logistics": Logistics.model_validate(
                                    {"weight": {"attribute": "net_weight"}})}))
    assert only_weight.updated == 1 and set(logistic_store.get_product("p1").values) - set(v) == {"net_weight"}


def test_the_reader_takes_the_12_names_too(tmp_path: Path) -> None:
    path = tmp_path / "a12.xml"
    path.write_text('<?xml version="1.0"?><BMECAT version="1.2"><T_NEW_CATALOG><ARTICLE><SUPPLIER_AID>a1</SUPPLIER_AID>'
                    + DETAILS.format(origin="DE", weight="2").replace("PRODUCT_LOGISTIC", "ARTICLE_LOGISTIC")
                    + "</ARTICLE></T_NEW_CATALOG></BMECAT>")
    [p] = list(read_bmecat(path))
    assert (p.customs_number, p.country_of_origin) == ("85369010", "DE")
    assert p.dimensions == {"VOLUME": "0.00012", "WEIGHT": "2", "LENGTH": "0.1", "WIDTH": "6.1", "DEPTH": "0.07"}
