"""Each feed format, parsed back and checked against the store; the BMEcat XSD; formula escaping."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from channels.feed_row import escape_formula
from pim.feeds import build_feed
from tests.conftest import BMECAT_DIR
from tests.feeds_data import contract, out_dir, put_prices, put_stocks, seed_catalog, store_contract

NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}


@pytest.fixture
def catalog(store):
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T1", "10", "7.25")])
    put_stocks(store, {"T1": "12"})
    return store


def build(store, tmp_path: Path, **over):
    c = store_contract(store, **over)
    return build_feed(store, c, out_dir(tmp_path))


@pytest.mark.parametrize("cell,expected", [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-5", "-5"), ("12.5", "12.5"), ("plain", "plain"), ("", ""),
])
def test_formula_escaping_follows_owasp(cell: str, expected: str) -> None:
    assert escape_formula(cell) == expected


def test_csv_rows_match_the_store_and_escape_formulas(catalog, tmp_path: Path) -> None:
    b = build(catalog, tmp_path, csv={"delimiter": ";", "quoting": "all"})
    rows = {r["sku"]: r for r in csv.DictReader(b.path.open(encoding="utf-8", newline=""), delimiter=";")}
    assert set(rows) == {"T1", "T2", "T3", "T4", "T6", "V-red", "V-blue"}  # T5 disabled, G* outside tools
    assert (rows["T1"]["price"], rows["T1"]["price_source"], rows["T1"]["tiers"]) == ("8.00", "contract", "1:8.00|10:7.25")
    assert rows["T1"]["stock_atp"] == "12" and rows["T1"]["label"] == "Name of T1"
    assert rows["T2"]["price"] == "10.00" and rows["T2"]["price_source"] == "list"
    assert rows["V-red"]["brand"] == "Bosch" and rows["V-red"]["price"] == "99.00"  # inherited from model M1
    assert rows["T4"]["note"] == "'" + catalog.get_product("T4").values["note"]
    assert rows["T1"]["image"] == "https://cdn.example.com/r/img/T1.jpg"
    assert b.path.read_text().startswith('"sku";"action"')


def test_xlsx_has_the_same_rows_and_no_formula_cells(catalog, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    b = build(catalog, tmp_path, format="xlsx")
    ws = load_workbook(b.path, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    head = list(rows[0])
    by_sku = {r[0]: dict(zip(head, r)) for r in rows[1:]}
    assert len(by_sku) == b.rows == 7 and by_sku["T1"]["tiers"] == "1:8.00|10:7.25"
    assert by_sku["T4"]["note"].startswith("'=")
    wb = load_workbook(b.path)
    assert not [c for row in wb.active.iter_rows() for c in row if c.data_type == "f"]


def test_jsonl_rows_follow_their_schema_and_the_store(catalog, tmp_path: Path) -> None:
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "feed_row.schema.json").read_text())
    b = build(catalog, tmp_path, format="jsonl")
    docs = [json.loads(line) for line in b.path.read_text().splitlines()]
    for d in docs:
        jsonschema.validate(d, schema)
    t1 = next(d for d in docs if d["sku"] == "T1")
    assert t1["price"] == {"currency": "EUR", "amount": "8.00", "source": "contract",
                           "tiers": [{"min_qty": "1", "price": "8.00"}, {"min_qty": "10", "price": "7.25"}]}
    assert t1["attributes"]["weight"] == catalog.get_product("T1").values["weight"]
    assert t1["stock"]["atp"] == "12"


def test_bmecat_full_feed_is_a_valid_new_catalog(catalog, tmp_path: Path) -> None:
    b = build(catalog, tmp_path, format="bmecat")
    doc = etree.parse(str(b.path))
    xsd = etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd")))
    assert xsd.validate(doc), xsd.error_log
    products = doc.findall(".//b:T_NEW_CATALOG/b:PRODUCT", NS)
    assert len(products) == 7
    t1 = next(p for p in products if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T1")
    tiers = [(p.findtext("b:LOWER_BOUND", namespaces=NS), p.findtext("b:PRICE_AMOUNT", namespaces=NS))
             for p in t1.findall(".//b:PRODUCT_PRICE", NS)]
    assert tiers == [("1", "8.00"), ("10", "7.25")]
    assert t1.findtext(".//b:REFERENCE_FEATURE_SYSTEM_NAME", namespaces=NS) == "ECLASS-12.0"
    assert t1.findtext(".//b:REFERENCE_FEATURE_GROUP_ID", namespaces=NS) == "27-11-01-01"
    assert t1.findtext(".//b:MIME_SOURCE", namespaces=NS) == "https://cdn.example.com/r/img/T1.jpg"
    assert t1.findtext(".//b:NO_CU_PER_OU", namespaces=NS) == "10" and t1.findtext(".//b:QUANTITY_MIN", namespaces=NS) == "2"
    assert t1.findtext(".//b:INTERNATIONAL_PID", namespaces=NS) == "4006381333931"


def test_bmecat_names_the_etim_reference_system(catalog, tmp_path: Path) -> None:
    b = build(catalog, tmp_path, format="bmecat", bmecat={"reference_system": "ETIM-9.0"})
    doc = etree.parse(str(b.path))
    assert etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd"))).validate(doc)
    assert doc.findtext(".//b:REFERENCE_FEATURE_SYSTEM_NAME", namespaces=NS) == "ETIM-9.0"


def test_fields_and_locale_shape_the_columns(catalog, tmp_path: Path) -> None:
    b = build(catalog, tmp_path, fields=["label", "brand"], include_stock=False, csv={"lineterminator": "\n"})
    header = b.path.read_text().splitlines()[0]
    assert header == "sku,action,price,currency,price_source,tiers,label,brand"


def test_unknown_format_is_refused_by_the_schema() -> None:
    with pytest.raises(Exception, match="format"):
        contract(format="pdf")


def test_control_characters_in_a_value_are_dropped_from_the_xlsx_feed_not_fatal(catalog, tmp_path: Path) -> None:
    """A vertical tab or backspace in product text (kept by validation: it is the source's text) made openpyxl
    refuse the cell, failing the customer's whole XLSX feed; the CSV feed keeps the text as it is."""
    from openpyxl import load_workbook

    t4 = catalog.get_product("T4")
    catalog.upsert_products([t4.model_copy(update={"values": {**t4.values, "note": "line\x0bbreak\x08 here"}})])
    b = build(catalog, tmp_path, format="xlsx")
    rows = list(load_workbook(b.path, read_only=True).active.iter_rows(values_only=True))
    note = dict(zip(rows[0], next(r for r in rows if r[0] == "T4")))["note"]
    assert note == "linebreak here"
    (tmp_path / "csv").mkdir()
    csv_feed = build(catalog, tmp_path / "csv", csv={"delimiter": ";"})
    assert "line\x0bbreak\x08 here" in csv_feed.path.read_text(encoding="utf-8")


def test_bmecat_values_of_only_whitespace_or_control_characters_count_as_absent(catalog, tmp_path: Path) -> None:
    """Found by fuzzing the feeds against the XSD: a class of '  ' wrote an empty REFERENCE_FEATURE_GROUP_ID and
    a name of control characters an empty DESCRIPTION_SHORT, so the customer's BMEcat failed validation."""
    t1 = catalog.get_product("T1")
    catalog.upsert_products([t1.model_copy(update={"values": {
        **t1.values, "eclass_class": "  ", "name:en_US": "\x0b\x08", "note": "\t", "description:en_US": " \x01 "}})])
    b = build(catalog, tmp_path, format="bmecat")
    doc = etree.parse(str(b.path))
    xsd = etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd")))
    assert xsd.validate(doc), xsd.error_log
    t1_el = next(p for p in doc.findall(".//b:PRODUCT", NS) if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T1")
    assert t1_el.findtext(".//b:DESCRIPTION_SHORT", namespaces=NS) == "T1"  # the SKU stands in for no name
    assert t1_el.find(".//b:REFERENCE_FEATURE_GROUP_ID", NS) is None and t1_el.find(".//b:DESCRIPTION_LONG", NS) is None


AWKWARD = st.one_of(st.text(max_size=80), st.sampled_from(["", " ", "\t\r\n", "\x0b\x08", "]]>", "<b>&amp;</b>",
                                                           "=HYPERLINK(\"x\")", "x" * 300, "\u202e\u200b"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.fixed_dictionaries({}, optional={k: AWKWARD for k in ("name:en_US", "description:en_US", "note",
                                                                        "eclass_class", "ean")}))
def test_bmecat_feed_stays_valid_whatever_the_texts(catalog, tmp_path_factory, texts: dict) -> None:
    """Any text a product may hold (validation keeps it as the source's text) gives a feed the XSD accepts."""
    from pim.values import ValueProblem, normalize

    structure = catalog.structure()
    t1 = catalog.get_product("T1")
    values = dict(t1.values)
    for key, text in texts.items():
        try:
            kept = normalize(structure.attributes[key.split(":")[0]], text)
        except ValueProblem:
            continue
        values.pop(key, None) if kept is None else values.__setitem__(key, kept)
    catalog.upsert_products([t1.model_copy(update={"values": values})])
    out = tmp_path_factory.mktemp("feed")
    b = build_feed(catalog, store_contract(catalog, format="bmecat"), out_dir(out))
    assert bmecat_xsd().validate(etree.parse(str(b.path))), bmecat_xsd().error_log


@cache
def bmecat_xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd")))
