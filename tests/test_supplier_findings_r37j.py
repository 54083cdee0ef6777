"""Round 37 (j), a supplier-onboarding data manager's findings: the BMEcat list price is the block valid today
(a later-only file keeps the stored one and says when the new one starts), a price update closes only the price
problems of the catalog, a coded ECLASS value goes to a text attribute as its text, `pim import errors` shows a
reason's advice, and a supplier cell that is no number is told so, not sent to the map's separators."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importers import bmecat_features
from importers.bmecat import import_bmecat, load_map
from importers.erp_values import ValueRule
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.cli import _mount, app
from pim.errors import InputError
from pim.store import Store
from pim.store.store import QuarantineEntry
from tests.test_bmecat import MAP, PRODUCT, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_round25 import PRECEDENCE

SUPPLIER = "supplier:weidmueller"


def _today() -> date:
    return datetime.now(UTC).date()


def _block(amount: str, start: date | None, end: date | None = None, bound: str = "1") -> str:
    dates = "".join(f'<DATETIME type="{kind}"><DATE>{d.isoformat()}</DATE></DATETIME>'
                    for kind, d in (("valid_start_date", start), ("valid_end_date", end)) if d is not None)
    return (f'<PRODUCT_PRICE_DETAILS>{dates}<PRODUCT_PRICE price_type="net_customer"><PRICE_AMOUNT>{amount}'
            f"</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>{bound}</LOWER_BOUND></PRODUCT_PRICE>"
            "</PRODUCT_PRICE_DETAILS>")


def _prices(tmp_path: Path, *blocks: str, pid: str = "r1", name: str = "p.xml") -> Path:
    return _xml(tmp_path, f'<T_UPDATE_PRICES prev_version="1"><PRODUCT mode="update"><SUPPLIER_PID>{pid}'
                          f'</SUPPLIER_PID>{"".join(blocks)}</PRODUCT></T_UPDATE_PRICES>', name=name)


@pytest.fixture
def catalog(supplier_store: Store, tmp_path: Path) -> Store:  # noqa: F811
    """SKU-9 from the ERP, then the supplier's catalog (list price 10.50 EUR)."""
    _erp_product(supplier_store)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", name="n.xml"),
                  supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert supplier_store.get_product("SKU-9").values["price"] == {"EUR": "10.50"}
    return supplier_store


# ---------------------------------------------------------------- F2: the list price valid today
def test_the_list_price_is_the_block_valid_today_whatever_the_file_order(catalog: Store, tmp_path: Path) -> None:
    today = _today()
    path = _prices(tmp_path, _block("250.00", today + timedelta(days=200)),
                   _block("190.00", today - timedelta(days=300), today + timedelta(days=199)))
    import_bmecat(path, catalog, load_map(MAP), precedence=PRECEDENCE)
    assert catalog.get_product("SKU-9").values["price"] == {"EUR": "190.00"}


@pytest.mark.parametrize("transaction", ["prices", "catalog"])
def test_a_file_with_only_later_prices_keeps_the_stored_price_and_says_when(catalog: Store, tmp_path: Path,
                                                                            transaction: str) -> None:
    start = _today() + timedelta(days=95)
    if transaction == "prices":
        path = _prices(tmp_path, _block("219.00", start))
    else:  # a whole catalog whose only price block starts later keeps the supplier's stored list price too
        product = PRODUCT.format(pid="r1")
        head, rest = product.split("<PRODUCT_PRICE_DETAILS>", 1)
        path = _xml(tmp_path, "<T_NEW_CATALOG>" + head + _block("219.00", start) + rest.split(
            "</PRODUCT_PRICE_DETAILS>", 1)[1] + "</T_NEW_CATALOG>", name="n2.xml")
    counts = import_bmecat(path, catalog, load_map(MAP), precedence=PRECEDENCE)
    assert catalog.get_product("SKU-9").values["price"] == {"EUR": "10.50"}
    warnings = [r for r in catalog.quarantined(counts.job_id, severity="warning") if r["field"] == "PRODUCT_PRICE_DETAILS"]
    assert len(warnings) == 1
    reason = warnings[0]["reason"]
    assert start.isoformat() in reason and "219.00 EUR" in reason and "`price` keeps its stored value" in reason
    # a price valid today: the list price moves, and the file's next run closes its warning
    import_bmecat(_prices(tmp_path, _block("12.00", _today() - timedelta(days=1)), _block("219.00", start),
                          name=path.name), catalog, load_map(MAP), precedence=PRECEDENCE)
    assert catalog.get_product("SKU-9").values["price"] == {"EUR": "12.00"}
    assert not [r for r in catalog.quarantined(severity="warning") if r["field"] == "PRODUCT_PRICE_DETAILS"]


def test_an_expired_block_is_not_the_list_price(catalog: Store, tmp_path: Path) -> None:
    today = _today()
    path = _prices(tmp_path, _block("7.00", today - timedelta(days=90), today - timedelta(days=1)),
                   _block("8.00", today))
    import_bmecat(path, catalog, load_map(MAP), precedence=PRECEDENCE)
    assert catalog.get_product("SKU-9").values["price"] == {"EUR": "8.00"}


# ---------------------------------------------------------------- F3: a partial update closes what it restates
TROUBLED = """<PRODUCT><SUPPLIER_PID>r1</SUPPLIER_PID><PRODUCT_DETAILS>
<DESCRIPTION_SHORT lang="eng">Relay r1</DESCRIPTION_SHORT><EAN>4032248855865</EAN></PRODUCT_DETAILS>
<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>
<FEATURE><FNAME>0173-1#02-BAA020#007</FNAME><FVALUE>on request</FVALUE><FUNIT>MMT</FUNIT></FEATURE></PRODUCT_FEATURES>
<PRODUCT_PRICE_DETAILS>
<PRODUCT_PRICE price_type="net_customer"><PRICE_AMOUNT>10.50</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE>
<PRODUCT_PRICE price_type="net_customer"><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>100</LOWER_BOUND></PRODUCT_PRICE>
</PRODUCT_PRICE_DETAILS>
<PRODUCT_REFERENCE type="accessories"><PROD_ID_TO>missing-acc</PROD_ID_TO></PRODUCT_REFERENCE>
</PRODUCT>"""


def _open_problems(store: Store) -> set[str]:
    return {r["field"] for r in store.quarantined(severity="problem") if r["record_key"] == "SKU-9"}


@pytest.fixture
def troubled(supplier_store: Store, tmp_path: Path) -> Store:  # noqa: F811
    """SKU-9's catalog with three problems: a height that is no number, a price without amount, an accessory
    that is no product of ours."""
    _erp_product(supplier_store)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + TROUBLED + "</T_NEW_CATALOG>", name="cat.xml"),
                  supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert _open_problems(supplier_store) == {"0173-1#02-BAA020#007", "PRODUCT_PRICE", "PROD_ID_TO"}
    return supplier_store


def test_a_price_update_closes_only_the_price_problems(troubled: Store, tmp_path: Path) -> None:
    path = _prices(tmp_path, _block("11.00", None))
    counts = import_bmecat(path, troubled, load_map(MAP), precedence=PRECEDENCE)
    assert counts.updated == 1 and troubled.get_product("SKU-9").values["price"] == {"EUR": "11.00"}
    assert _open_problems(troubled) == {"0173-1#02-BAA020#007", "PROD_ID_TO"}
    again = import_bmecat(path, troubled, load_map(MAP), precedence=PRECEDENCE)  # skipped as merged: the same
    assert again.unchanged == 1 and _open_problems(troubled) == {"0173-1#02-BAA020#007", "PROD_ID_TO"}
    # the catalog again, fixed: a whole product closes what it no longer has wrong
    fixed = TROUBLED.replace("on request", "27,5").replace("<PRODUCT_REFERENCE type=\"accessories\"><PROD_ID_TO>"
                                                            "missing-acc</PROD_ID_TO></PRODUCT_REFERENCE>", "")
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + fixed + "</T_NEW_CATALOG>", name="cat2.xml"), troubled,
                  load_map(MAP), precedence=PRECEDENCE)
    assert _open_problems(troubled) == {"PRODUCT_PRICE"}  # the file still has its price without amount


def test_a_delta_update_closes_only_what_it_states(troubled: Store, tmp_path: Path) -> None:
    delta = load_map(MAP).model_copy(update={"updates": "delta"})
    update = ('<T_UPDATE_PRODUCTS prev_version="1"><PRODUCT mode="update"><SUPPLIER_PID>r1</SUPPLIER_PID>'
              "<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME><FEATURE>"
              "<FNAME>0173-1#02-BAA020#007</FNAME><FVALUE>30</FVALUE><FUNIT>MMT</FUNIT></FEATURE></PRODUCT_FEATURES>"
              "</PRODUCT></T_UPDATE_PRODUCTS>")
    import_bmecat(_xml(tmp_path, update, name="d.xml"), troubled, delta, precedence=PRECEDENCE)
    assert troubled.get_product("SKU-9").values["height"]["amount"] == "30"
    assert _open_problems(troubled) == {"PRODUCT_PRICE", "PROD_ID_TO"}


def test_a_whole_update_still_closes_every_problem_it_does_not_repeat(troubled: Store, tmp_path: Path) -> None:
    whole = ('<T_UPDATE_PRODUCTS prev_version="1"><PRODUCT mode="update"><SUPPLIER_PID>r1</SUPPLIER_PID>'
             '<PRODUCT_DETAILS><DESCRIPTION_SHORT lang="eng">Relay r1</DESCRIPTION_SHORT></PRODUCT_DETAILS>'
             "</PRODUCT></T_UPDATE_PRODUCTS>")
    import_bmecat(_xml(tmp_path, whole, name="w.xml"), troubled, load_map(MAP), precedence=PRECEDENCE)
    assert _open_problems(troubled) == set()


# ---------------------------------------------------------------- F4: a coded value's text for a text attribute
CODED = """<PRODUCT><SUPPLIER_PID>r1</SUPPLIER_PID><PRODUCT_DETAILS>
<DESCRIPTION_SHORT lang="eng">Relay r1</DESCRIPTION_SHORT><EAN>4032248855865</EAN></PRODUCT_DETAILS>
<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>
<FEATURE><FTEMPLATE><FT_ID>0173-1#02-AAN489#003</FT_ID><FT_NAME>Einbauform</FT_NAME></FTEMPLATE>
<VALUE_IDREF>0173-1#07-BAA194#001</VALUE_IDREF><FVALUE_DETAILS>Aufbau</FVALUE_DETAILS></FEATURE>
<FEATURE><FTEMPLATE><FT_ID>0173-1#02-AAN507#004</FT_ID></FTEMPLATE>
<VALUE_IDREF>0173-1#07-AAM166#004</VALUE_IDREF><FVALUE_DETAILS>Hut-/G-Schiene</FVALUE_DETAILS></FEATURE>
</PRODUCT_FEATURES></PRODUCT>"""


def _coded_map(tmp_path: Path, options: str = "") -> Path:
    text = MAP.read_text(encoding="utf-8").replace(
        "features:\n", "features:\n  \"0173-1#02-AAN489#003\": {attribute: type_designation%s}\n"
        "  \"0173-1#02-AAN507#004\": {attribute: manufacturer}\n" % options, 1)
    path = tmp_path / "coded.map.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_coded_value_goes_to_a_text_attribute_as_its_text(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    _erp_product(supplier_store)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + CODED + "</T_NEW_CATALOG>"), supplier_store,
                  load_map(_coded_map(tmp_path)), precedence=PRECEDENCE)
    values = supplier_store.get_product("SKU-9").values
    assert (values["type_designation"], values["manufacturer"]) == ("Aufbau", "Hut-/G-Schiene")


def test_options_on_a_text_target_are_applied(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    _erp_product(supplier_store)
    m = load_map(_coded_map(tmp_path, ', options: {"0173-1#07-BAA194#001": "surface mounting"}'))
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + CODED + "</T_NEW_CATALOG>"), supplier_store, m,
                  precedence=PRECEDENCE)
    assert supplier_store.get_product("SKU-9").values["type_designation"] == "surface mounting"


def test_options_on_a_number_target_are_refused_not_ignored(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    text = MAP.read_text(encoding="utf-8").replace(
        '{attribute: height, unit: MILLIMETER}', '{attribute: height, unit: MILLIMETER, options: {"x": "1"}}')
    path = tmp_path / "opts.map.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"features\.0173-1#02-BAA020#007\.options"):
        import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + CODED + "</T_NEW_CATALOG>"), supplier_store,
                      load_map(path), precedence=PRECEDENCE)


def test_a_reimport_replaces_the_stored_irdi_by_the_text(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run stores the IRDI as the old code did; the file again must update it, not count it unchanged."""
    _erp_product(supplier_store)
    path, m = _xml(tmp_path, "<T_NEW_CATALOG>" + CODED + "</T_NEW_CATALOG>"), load_map(_coded_map(tmp_path))
    with monkeypatch.context() as patch:
        patch.setattr(bmecat_features.FeatureMapping, "_one_value", lambda self, p, feat, text=None: (
            feat.values[0] if feat.values else (feat.value_ref or feat.value_details)))
        import_bmecat(path, supplier_store, m, precedence=PRECEDENCE)
    assert supplier_store.get_product("SKU-9").values["type_designation"] == "0173-1#07-BAA194#001"
    counts = import_bmecat(path, supplier_store, m, precedence=PRECEDENCE)
    assert (counts.updated, counts.unchanged) == (1, 0)
    assert supplier_store.get_product("SKU-9").values["type_designation"] == "Aufbau"


# ---------------------------------------------------------------- F5: the table shows a reason's advice
def test_import_errors_shows_the_end_of_a_long_reason(store: Store) -> None:
    reason = "the cell is wrong because " + "it is very long " * 20 + "; fix-it-this-way-END"
    assert len(reason) > 200
    store.quarantine(None, [QuarantineEntry(reason, "f.csv", 2, "Preis", None, "A1", "supplier:acme")])
    _mount()
    result = CliRunner().invoke(app, ["import", "errors"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fix-it-this-way-END" in result.output


# ---------------------------------------------------------------- F6: a cell that is no number
@pytest.mark.parametrize("cell", ["ca. 800", "n.a."])
def test_a_cell_that_is_no_number_is_told_so(store: Store, tmp_path: Path, cell: str) -> None:
    from pim.structure_files import load_structure_files, save_structure

    save_structure(store, load_structure_files(Path(__file__).parent / "data" / "bmecat"))
    m = SupplierTableMap(source="supplier:acme", pid_column="Art-Nr", family="electrical", decimal=",",
                         thousands=".", columns={"Bezeichnung": "name:de_DE",
                                                 "Preis": ValueRule(to="price", currency="EUR")})
    path = tmp_path / "acme.csv"
    path.write_text(f"Art-Nr;Bezeichnung;Preis\nA1;Relais;1.234,50\nA2;Klemme;{cell}\n", encoding="utf-8")
    counts = import_supplier_table(path, store, m)
    assert store.get_product("A1").values["price"] == {"EUR": "1234.50"}
    [bad] = store.quarantined(counts.job_id, severity="rejected")
    assert (bad["file"], bad["line"], bad["field"]) == ("acme.csv", 3, "Preis")
    assert f"'{cell}' is not a number" in bad["reason"] and "fix the cell" in bad["reason"]
    assert "decimal:" not in bad["reason"] and "thousands" not in bad["reason"]


def test_a_number_with_other_separators_still_gets_the_separator_advice(store: Store, tmp_path: Path) -> None:
    from pim.structure_files import load_structure_files, save_structure

    save_structure(store, load_structure_files(Path(__file__).parent / "data" / "bmecat"))
    m = SupplierTableMap(source="supplier:acme", pid_column="Art-Nr", family="electrical", decimal=",",
                         thousands=".", columns={"Preis": ValueRule(to="price", currency="EUR")})
    path = tmp_path / "acme.csv"
    path.write_text("Art-Nr;Preis\nA2;12.50\n", encoding="utf-8")
    counts = import_supplier_table(path, store, m)
    [bad] = store.quarantined(counts.job_id, severity="rejected")
    assert "set `decimal: '.'`" in bad["reason"]

