"""BMEcat fixes found exploring the importer: descriptions with inline markup kept whole, a T_UPDATE_PRICES
that never creates products whatever `unmatched` says, and logistic numbers that refuse NaN and Infinity as
feature numbers do."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from importers.bmecat import Logistics, import_bmecat, load_map
from importers.bmecat_reader import read_bmecat
from pim.commerce import contract_tiers
from pim.sources import cross_references
from pim.store import Store
from pim.structure import Attribute
from tests.test_bmecat import MAP, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_groups import SCHEMA, document, product

SUPPLIER = "supplier:weidmueller"
DESCRIPTION = "description:en_US@ecommerce"


def _described(tmp_path: Path, long: str, short: str = "Item", name: str = "d.xml") -> Path:
    """A catalog of one product p1 with the given DESCRIPTION_SHORT and DESCRIPTION_LONG content (in English)."""
    details = (f'<DESCRIPTION_SHORT lang="eng">{short}</DESCRIPTION_SHORT>'
               f'<DESCRIPTION_LONG lang="eng">{long}</DESCRIPTION_LONG>')
    body = product("p1").replace('<DESCRIPTION_SHORT lang="eng">Item p1</DESCRIPTION_SHORT>', details)
    return document(tmp_path, body, name=name, valid=False)


# ---------------------------------------------------------------- descriptions with inline markup


@pytest.mark.parametrize("long", [
    "Robust <b>steel</b> housing<br/>IP65",
    "Robust &lt;b&gt;steel&lt;/b&gt; housing&lt;br/&gt;IP65",  # escaped markup, as the XSD wants it
    "<![CDATA[Robust <b>steel</b> housing<br/>IP65]]>",
], ids=["inline", "escaped", "cdata"])
def test_a_long_description_keeps_its_markup_whichever_way_it_is_written(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                                          long: str) -> None:
    """Inline elements kept only the text before the first one ("Robust "): the rest was lost unseen."""
    counts = import_bmecat(_described(tmp_path, long), supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected, counts.problems) == (1, 0, 0)
    assert supplier_store.get_product("p1").values[DESCRIPTION] == "Robust <b>steel</b> housing<br/>IP65"


def test_inline_markup_is_kept_as_html_without_namespaces(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """The BMEcat namespace the inline elements inherit, an XHTML prefix and its declaration are dropped;
    attributes, nesting, tails and an element that starts the text are kept; entities in the text are read
    as in a plain description (real files double-escape them)."""
    long = ('<ul><li>2.5 mm&amp;sup2; <i>max</i></li><li>a &amp;amp; b</li></ul>'
            '<h:a xmlns:h="http://www.w3.org/1999/xhtml" href="https://example.com/p?a=1">data sheet</h:a><p/>end')
    short = "Relay <b>RS</b><?layout keep?> 24V"  # a processing instruction is no content: dropped, its tail kept
    path = _described(tmp_path, long, short)
    assert not SCHEMA.validate(etree.parse(str(path)))  # the XSD allows no elements here: real files send them anyway
    counts = import_bmecat(path, supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected, counts.problems) == (1, 0, 0)
    v = supplier_store.get_product("p1").values
    assert v[DESCRIPTION] == ('<ul><li>2.5 mm² <i>max</i></li><li>a & b</li></ul>'
                              '<a href="https://example.com/p?a=1">data sheet</a><p></p>end')
    assert v["name:en_US"] == "Relay <b>RS</b> 24V"


def test_a_description_that_is_only_markup_is_read(tmp_path: Path) -> None:
    """No text before the first element: the description was dropped altogether."""
    [p] = list(read_bmecat(_described(tmp_path, "<p>Steel</p>")))
    assert p.long == {"eng": "<p>Steel</p>"}


def test_other_detail_texts_with_elements_keep_their_whole_text(tmp_path: Path) -> None:
    """A keyword or a manufacturer name is no HTML: its text is kept whole, the elements' names are not."""
    more = ('<MANUFACTURER_NAME>ACME<sup>®</sup> GmbH</MANUFACTURER_NAME>'
            '<KEYWORD><b>relay</b> 24V</KEYWORD><KEYWORD>plain</KEYWORD>')
    doc = _described(tmp_path, "Steel").read_text(encoding="utf-8").replace("</DESCRIPTION_LONG>",
                                                                           "</DESCRIPTION_LONG>" + more)
    (tmp_path / "k.xml").write_text(doc, encoding="utf-8")
    [p] = list(read_bmecat(tmp_path / "k.xml"))
    assert (p.manufacturer_name, p.keywords) == ("ACME® GmbH", {"eng": ["relay 24V", "plain"]})


# ---------------------------------------------------------------- T_UPDATE_PRICES never creates


def _prices(tmp_path: Path, *pids: str, amount: str = "1.00", name: str = "prices.xml") -> Path:
    """A T_UPDATE_PRICES of the given PIDs, each PRODUCT as the XSD has it there: its PID and its prices only."""
    body = "".join(f'<PRODUCT mode="update"><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_PRICE_DETAILS>'
                   f'<PRODUCT_PRICE price_type="net_list"><PRICE_AMOUNT>{amount}</PRICE_AMOUNT>'
                   "<PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE>"
                   "</PRODUCT_PRICE_DETAILS></PRODUCT>" for pid in pids)
    return document(tmp_path, body, transaction="T_UPDATE_PRICES", name=name)


def test_a_price_update_rejects_products_it_cannot_place_instead_of_creating_them(supplier_store: Store,  # noqa: F811
                                                                                  tmp_path: Path) -> None:
    m = load_map(MAP).model_copy(update={"price_type": "net_list"})
    assert m.unmatched == "create"
    import_bmecat(document(tmp_path, product("p1"), name="new.xml"), supplier_store, m)
    path = _prices(tmp_path, "p1", "unknown-7")
    counts = import_bmecat(path, supplier_store, m)
    assert (counts.read, counts.created, counts.updated, counts.unchanged, counts.rejected) == (2, 0, 0, 1, 1)
    assert supplier_store.get_product("unknown-7") is None
    [row] = supplier_store.quarantined(counts.job_id, severity="rejected")
    assert (row["file"], row["line"], row["field"], row["record_key"]) == (path.name, 2, "SUPPLIER_PID", "unknown-7")
    assert "T_UPDATE_PRICES" in row["reason"] and "never creates products" in row["reason"]
    assert "T_NEW_CATALOG or T_UPDATE_PRODUCTS" in row["reason"]
    assert f"pim import xref {SUPPLIER} unknown-7 SKU" in row["reason"]
    assert [r["source_pid"] for r in cross_references(supplier_store, SUPPLIER)] == ["p1"]  # nothing learned
    assert contract_tiers(supplier_store, "purchase_weidmueller", ["unknown-7"], "EUR") == {}


def test_a_price_update_keyed_by_supplier_pid_creates_nothing_either(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """With `sku_from: supplier_pid` the SKU is known before matching; the merge would have created it."""
    m = load_map(MAP).model_copy(update={"price_type": "net_list", "sku_from": "supplier_pid", "sku_prefix": "WM-"})
    import_bmecat(document(tmp_path, product("p1"), name="new.xml"), supplier_store, m)
    counts = import_bmecat(_prices(tmp_path, "p2", "p1"), supplier_store, m)
    assert (counts.created, counts.unchanged, counts.rejected) == (0, 1, 1)
    assert supplier_store.get_product("WM-p2") is None and supplier_store.get_product("WM-p1") is not None
    [row] = supplier_store.quarantined(counts.job_id, severity="rejected")
    assert (row["field"], row["record_key"]) == ("SUPPLIER_PID", "WM-p2")
    assert "never creates products" in row["reason"] and "no product 'WM-p2'" in row["reason"]


def test_a_price_update_changes_the_prices_of_the_products_it_finds(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP).model_copy(update={"price_type": "net_list"})
    import_bmecat(document(tmp_path, product("p1"), name="new.xml"), supplier_store, m)
    counts = import_bmecat(_prices(tmp_path, "p1", amount="2.50"), supplier_store, m)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert supplier_store.get_product("p1").values["price"] == {"EUR": "2.50"}


# ---------------------------------------------------------------- NaN and Infinity are no numbers


@pytest.fixture
def measured(supplier_store: Store) -> Store:  # noqa: F811
    """The supplier structure plus a number attribute for the volume."""
    s = supplier_store.structure()
    supplier_store.put_structures([
        ("attribute", [Attribute(code="volume_m3", type="number", decimals_allowed=True)]),
        ("family", [s.families["electrical"].model_copy(update={"attributes": [
            *s.families["electrical"].attributes, "volume_m3"]})]),
    ])
    return supplier_store


def _dimensions(tmp_path: Path, weight: str, volume: str) -> Path:
    extra = (f"<PRODUCT_LOGISTIC_DETAILS><PRODUCT_DIMENSIONS><VOLUME>{volume}</VOLUME><WEIGHT>{weight}</WEIGHT>"
             "</PRODUCT_DIMENSIONS></PRODUCT_LOGISTIC_DETAILS>")
    return document(tmp_path, product("p1", extra=extra), valid=False)


@pytest.mark.parametrize("text", ["NaN", "nan", "sNaN", "Infinity", "-inf", "INF"])
def test_a_logistic_value_that_is_nan_or_infinity_is_a_problem_not_a_value(measured: Store, tmp_path: Path,
                                                                          text: str) -> None:
    m = load_map(MAP).model_copy(update={"logistics": Logistics.model_validate(
        {"weight": {"attribute": "net_weight"}, "volume": {"attribute": "volume_m3"}})})
    counts = import_bmecat(_dimensions(tmp_path, text, text), measured, m)
    assert (counts.created, counts.rejected) == (1, 0)
    v = measured.get_product("p1").values
    assert "net_weight" not in v and "volume_m3" not in v and v["name:en_US"] == "Item p1"
    notes = {n["field"]: n["reason"] for n in measured.quarantined(counts.job_id, severity="problem")}
    assert notes == {"WEIGHT": f"'{text}' is not a number; the value is skipped",
                     "VOLUME": f"'{text}' is not a number; the value is skipped"}


def test_finite_logistic_numbers_still_land(measured: Store, tmp_path: Path) -> None:
    m = load_map(MAP).model_copy(update={"logistics": Logistics.model_validate(
        {"weight": {"attribute": "net_weight"}, "volume": {"attribute": "volume_m3"}})})
    counts = import_bmecat(_dimensions(tmp_path, "0,045", " 1e-4 "), measured, m)
    assert (counts.created, counts.problems) == (1, 0)
    v = measured.get_product("p1").values
    assert v["net_weight"] == {"amount": "0.045", "unit": "KILOGRAM"} and v["volume_m3"] == 0.0001


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-inf"])
def test_a_feature_number_that_is_nan_or_infinity_stays_a_problem(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                                  text: str) -> None:
    """Features and logistic details share one number check: what one refuses, the other does."""
    from tests.test_bmecat import PRODUCT, _xml

    body = PRODUCT.format(pid="r1").replace("<FVALUE>27,5</FVALUE>", f"<FVALUE>{text}</FVALUE>")
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>"), supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected) == (1, 0) and "height" not in supplier_store.get_product("r1").values
    [note] = [n for n in supplier_store.quarantined(counts.job_id, severity="problem") if n["field"] != "PROD_ID_TO"]
    assert (note["field"], note["reason"]) == ("0173-1#02-BAA020#007", f"'{text}' is not a number; the value is skipped")
