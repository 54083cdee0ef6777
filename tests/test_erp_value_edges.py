"""Round 30 (H3): rough edges round 29 left in the ERP importers. A CREDAT/CRETIM that is no date or time refuses
the file, as a `control_time` that does not read does; an amount with an exponent is read before its unit
(`1e3 mm`); a unit misspelt in the map refuses the map, and an unknown unit from a `unit_from` field rejects its
row, each naming the nearest unit, instead of both showing as a clash between the cell's unit and the rule's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from importers.erp_csv import ErpCsvMap, import_erp_csv, product_items
from importers.erp_values import NumberFormat, ValueBuilder, ValueRule
from importers.erp_xml import ErpXmlMap, load_xml_map, read_erp_xml
from importers.supplier_table import SupplierTableMap, source_items
from pim.catalog import Structure
from pim.commerce import StockLevel
from pim.errors import InputError
from pim.importing import Parsed, Rejected
from pim.store import Store
from pim.structure import Attribute
from pim.values import ValueProblem, normalize
from pim.web.editing import text_value
from tests.source_data import seed_structure
from tests.test_erp_xml import A1, idoc, write


@pytest.fixture(scope="module")
def structure(tmp_path_factory: pytest.TempPathFactory) -> Structure:
    """The seeded structure (`weight`: a metric of Weight), for reading files without importing them."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('structure') / 'pim.db'}")
    store.migrate()
    seed_structure(store)
    try:
        return store.structure()
    finally:
        store.dispose()


def matmas(**overrides: object) -> ErpXmlMap:
    return load_xml_map(None).model_copy(update={"family": "tool", **overrides})


STOCK = "<E1MARDM SEGMENT=\"1\"><LGORT>HH01</LGORT><LABST>5</LABST></E1MARDM>"


# ------------------------------------------------------------------------------------ CREDAT / CRETIM
@pytest.mark.parametrize("credat", ["2026-03-07", "20261301", "2026031", "07.03.2026"])
def test_a_credat_that_is_no_date_refuses_the_file_naming_it_its_line_and_the_form(tmp_path: Path, structure: Structure,
                                                                                 credat: str) -> None:
    path = write(tmp_path / "matmas.xml", idoc("1", STOCK), idoc("2", STOCK, credat=credat))
    with pytest.raises(InputError) as err:
        list(read_erp_xml(path, matmas(), structure))
    said = str(err.value)
    assert (err.value.file, err.value.field, err.value.line) == ("matmas.xml", "CREDAT", 4)
    assert f"'{credat}'" in said and "at line 4 (in <EDI_DC40>)" in said and "YYYYMMDD" in said
    assert "fix CREDAT" in (err.value.hint or "")


@pytest.mark.parametrize("cretim", ["10:15", "251500", "1015", "10150O"])
def test_a_cretim_that_is_no_time_refuses_the_file_naming_it(tmp_path: Path, structure: Structure, cretim: str) -> None:
    path = write(tmp_path / "matmas.xml", idoc("1", STOCK, cretim=cretim))
    with pytest.raises(InputError) as err:
        list(read_erp_xml(path, matmas(), structure))
    assert (err.value.field, err.value.line) == ("CRETIM", 3)
    assert f"'{cretim}'" in str(err.value) and "HHMMSS" in str(err.value)


def test_a_control_record_without_credat_still_dates_its_stock_by_the_import(tmp_path: Path,
                                                                              structure: Structure) -> None:
    """Guard (passes on the old code too): absent stays the import's time; no CRETIM is midnight, as before."""
    undated = ("<IDOC BEGIN=\"1\"><EDI_DC40 SEGMENT=\"1\"><IDOCTYP>MATMAS05</IDOCTYP></EDI_DC40>"
               f"<E1MARAM SEGMENT=\"1\"><MATNR>2</MATNR>{STOCK}</E1MARAM></IDOC>")
    no_time = idoc("3", STOCK).replace("<CRETIM>101500</CRETIM>", "")
    start = datetime.now(UTC)
    items = list(read_erp_xml(write(tmp_path / "matmas.xml", idoc("1", STOCK), undated, no_time), matmas(), structure))
    one, two, three = ([level.updated_at for level in item.extras if isinstance(level, StockLevel)]
                       for item in items if isinstance(item, Parsed))
    assert one == [datetime(2026, 3, 1, 10, 15, tzinfo=UTC)] and two[0] >= start
    assert three == [datetime(2026, 3, 1, tzinfo=UTC)]


def test_the_generated_matmas_file_still_reads_dated_by_its_control_records(tmp_path: Path,
                                                                           structure: Structure) -> None:
    """Guard (passes on the old code too): the generator's IDocs (CRETIM HH0000, the hour of the stock CSV's
    reading since round 33) read without a refusal."""
    from pim.generate import generate_catalog

    generate_catalog("tiny", 7, tmp_path)
    items = list(read_erp_xml(tmp_path / "sources" / "erp_matmas.xml", matmas(family=None), structure))
    assert items and not [i for i in items if isinstance(i, Rejected)]
    times = {level.updated_at for item in items if isinstance(item, Parsed) for level in item.extras
             if isinstance(level, StockLevel)}
    assert times and all(t.date() == datetime(2026, 3, 1).date() and 6 <= t.hour < 18 for t in times)


# ------------------------------------------------------------------------------- amounts with an exponent
def weight(structure: Structure, raw: str, rule: ValueRule | None = None, **fmt: str | None) -> dict:
    values: dict = {}
    ValueBuilder(structure, NumberFormat(**fmt)).apply(rule or ValueRule(to="weight"), raw, values, {})
    return values["weight"]


@pytest.mark.parametrize("raw, fmt, amount, unit", [
    ("1e3 g", {}, "1000", "GRAM"), ("1.5E2 g", {}, "150", "GRAM"), ("1e-3kg", {}, "0.001", "KILOGRAM"),
    ("2,5e-1 kg", {"decimal": ","}, "0.25", "KILOGRAM"), ("1,5E2 GRM", {"decimal": ",", "thousands": "."}, "150", "GRAM"),
])
def test_an_amount_with_an_exponent_is_read_before_its_unit(structure: Structure, raw: str, fmt: dict, amount: str,
                                                            unit: str) -> None:
    assert weight(structure, raw, **fmt) == {"amount": amount, "unit": unit}


def test_an_exponent_is_refused_with_a_unit_where_the_plain_amount_refuses_it(structure: Structure) -> None:
    """`1.5E2` under `thousands: '.'` is no grouping of thousands (as the number parser says of `1.5E2` alone)."""
    with pytest.raises(ValueProblem) as err:
        weight(structure, "1.5E2 g", decimal=",", thousands=".")
    assert str(err.value).startswith("'1.5E2' does not group thousands with '.'") and "`decimal: '.'`" in str(err.value)
    with pytest.raises(ValueProblem, match="too large"):
        weight(structure, "1e20 g")


def test_an_amount_with_an_exponent_and_a_unit_is_imported(store: Store, tmp_path: Path) -> None:
    seed_structure(store)
    path = tmp_path / "erp.csv"
    path.write_text("Material;Gewicht\nE1;1e3 g\nE2;1,5E2 g\n", encoding="utf-8")
    counts = import_erp_csv(path, store, ErpCsvMap(delimiter=";", decimal=",", sku_column="Material", family="tool",
                                                   columns={"Gewicht": "weight"}))
    assert (counts.created, counts.rejected) == (2, 0)
    assert [store.get_product(s).values["weight"] for s in ("E1", "E2")] == [  # type: ignore[union-attr]
        {"amount": "1000", "unit": "GRAM"}, {"amount": "150", "unit": "GRAM"}]


WEIGHT = Attribute(code="weight", type="metric", metric_family="Weight", default_unit="KILOGRAM")
MEMORY = Attribute(code="memory", type="metric", metric_family="Binary", default_unit="GIGABYTE")


def test_the_one_field_edit_reads_an_exponent_before_a_unit() -> None:
    entered = text_value(WEIGHT, "1,5e3 g")
    assert entered == {"amount": "1.5e3", "unit": "GRAM"}
    assert normalize(WEIGHT, entered) == {"amount": "1500", "unit": "GRAM"}


def test_digits_then_a_unit_code_led_by_e_are_still_that_unit() -> None:
    """Guard (passes on the old code too): `12E34` is 12 GB (UN/ECE E34), `12 E34` too; prices read as before."""
    assert text_value(MEMORY, "12E34") == text_value(MEMORY, "12 E34") == {"amount": "12", "unit": "GIGABYTE"}
    price = Attribute(code="price", type="price_collection")
    with pytest.raises(ValueProblem, match="not a list of prices"):
        text_value(price, "EUR 1e3")


# -------------------------------------------------------------------------------- units misspelt in a map
def csv_items(tmp_path: Path, structure: Structure, rows: list[str], rule: dict) -> list[Parsed | Rejected]:
    path = tmp_path / "erp.csv"
    path.write_text("\n".join(["Material;Gewicht;Einheit", *rows]) + "\n", encoding="utf-8")
    m = ErpCsvMap(delimiter=";", decimal=",", sku_column="Material", family="tool",
                  columns={"Gewicht": {"to": "weight", **rule}})
    return list(product_items(path, m, structure))


@pytest.mark.parametrize("rule, field, meant", [
    ({"unit": "KILOGRAMM"}, "unit", "KILOGRAM"),
    ({"unit_from": "Einheit", "unit_map": {"GR": "GRAMS"}}, "unit_map.GR", "GRAM"),
])
def test_a_unit_misspelt_in_a_csv_map_refuses_the_map_naming_the_nearest_unit(tmp_path: Path, structure: Structure,
                                                                            rule: dict, field: str, meant: str) -> None:
    """It showed as a clash with every cell's unit (`1,5 kg` … but the map's `unit` says KILOGRAMM), or as an
    unknown unit in every row."""
    with pytest.raises(InputError) as err:
        csv_items(tmp_path, structure, ["E1;1,5 kg;GR", "E2;2;GR"], rule)
    said = str(err.value)
    assert err.value.field == "Gewicht" and "the rule of column 'Gewicht'" in said
    assert f"is not a unit of Weight (did you mean {meant}?)" in said and "but" not in said
    assert f"`{field}`" in (err.value.hint or "") and "nothing was imported" in (err.value.hint or "")


def test_a_unit_misspelt_in_an_xml_map_refuses_the_map(tmp_path: Path, structure: Structure) -> None:
    m = ErpXmlMap(record="E1MARAM", sku="MATNR", family="tool", values=[
        {"path": "EAN11", "to": "ean"}, {"path": "BRGEW", "to": "weight", "unit": "KILOGRAMM"}])
    with pytest.raises(InputError) as err:
        list(read_erp_xml(write(tmp_path / "matmas.xml", idoc("1", A1)), m, structure))
    assert err.value.field == "values.1.unit"
    assert str(err.value).startswith("values[1] (path BRGEW, to weight): `unit` 'KILOGRAMM' is not a unit of Weight "
                                     "(did you mean KILOGRAM?)")


def test_a_unit_misspelt_in_a_supplier_profile_refuses_it(tmp_path: Path, structure: Structure) -> None:
    path = tmp_path / "acme.csv"
    path.write_text("Art-Nr;Gewicht\nA1;1,5\n", encoding="utf-8")
    m = SupplierTableMap(source="supplier:acme", pid_column="Art-Nr", family="tool", decimal=",",
                         columns={"Gewicht": ValueRule(to="weight", unit="KILOGRAMM")})
    with pytest.raises(InputError, match=r"did you mean KILOGRAM\?"):
        list(source_items(path, m, structure))


@pytest.mark.parametrize("cell", ["1,5", "1,5 kg"])
def test_an_unknown_unit_from_a_unit_from_column_rejects_the_row_naming_the_column(tmp_path: Path, structure: Structure,
                                                                                 cell: str) -> None:
    """Not a clash with the cell's own unit (`1,5 kg`), nor a Weight problem found after the row was read."""
    items = csv_items(tmp_path, structure, [f"E1;{cell};KGMM", f"E2;{cell};KGM"],
                      {"unit_from": "Einheit", "unit_map": {"GR": "GRAM"}})
    rejected, taken = items
    assert isinstance(rejected, Rejected) and isinstance(taken, Parsed)
    assert rejected.field == "Gewicht" and rejected.reason.startswith(
        "column 'Einheit' (the rule's `unit_from`): unit 'KGMM' is not a unit of Weight (did you mean KILOGRAM?)")
    assert "`unit_map` (KGMM: KILOGRAM)" in rejected.reason and "says" not in rejected.reason


def test_an_unknown_unit_from_a_unit_from_path_rejects_the_record_naming_the_path(tmp_path: Path,
                                                                                 structure: Structure) -> None:
    record = A1.replace("<GEWEI>KGM</GEWEI>", "<GEWEI>ZTR</GEWEI>")
    [rejected] = list(read_erp_xml(write(tmp_path / "matmas.xml", idoc("1", record)), matmas(), structure))
    assert isinstance(rejected, Rejected) and rejected.field == "BRGEW"
    assert rejected.reason.startswith("path 'GEWEI' (the rule's `unit_from`): unit 'ZTR' is not a unit of Weight; use "
                                      "a unit code, symbol or UN/ECE code such as KILOGRAM (kg)")
