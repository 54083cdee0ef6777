"""Metric cells written with their unit ("12 mm", "1,5 kg", "12mm") in ERP and supplier files: the amount is read
with the map's number format and the unit resolved in the attribute's measurement family; an unknown unit, or one
the map's own unit contradicts, refuses the row saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

import importers.erp_values as erp_values
from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.erp_values import NumberFormat, ValueBuilder, ValueRule
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure

STRUCTURE = Path(__file__).parent / "data" / "bmecat"  # net_weight (Weight, KILOGRAM), depth (Length, MILLIMETER)

ERP_MAP = dict(delimiter=";", encoding="utf-8", decimal=",", thousands=".", sku_column="Material", family="electrical",
               columns={"Tiefe": "depth", "Gewicht": "net_weight"})
SUPPLIER_MAP = SupplierTableMap(
    source="supplier:acme", pid_column="Art-Nr", family="electrical", decimal=",", thousands=".",
    columns={"Bezeichnung": "name:de_DE", "Gewicht": ValueRule(to="net_weight", unit="KILOGRAM"), "Tiefe": "depth"},
)


@pytest.fixture
def bstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


def _erp(store: Store, tmp_path: Path, header: str, rows: list[str], **overrides: object):
    path = tmp_path / "erp.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return import_erp_csv(path, store, ErpCsvMap(**{**ERP_MAP, **overrides}))


def _supplier_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "acme.csv"
    path.write_text("\n".join(["Art-Nr;Bezeichnung;Gewicht;Tiefe", *rows]) + "\n", encoding="utf-8")
    return path


def _reasons(store: Store, counts) -> dict[int, tuple[str, str]]:
    return {e["line"]: (e["field"], e["reason"]) for e in store.quarantined(counts.job_id)}


def test_erp_cells_with_their_unit_are_read_with_the_maps_german_format(bstore: Store, tmp_path: Path) -> None:
    counts = _erp(bstore, tmp_path, "Material;Tiefe;Gewicht", ["E1;12 mm;1,5 kg", "E2;12mm;1.234,5 g", "E3;7;2"])
    assert (counts.created, counts.rejected) == (3, 0)
    e1, e2, e3 = (bstore.get_product(s).values for s in ("E1", "E2", "E3"))
    assert e1["depth"] == {"amount": "12", "unit": "MILLIMETER"} and e1["net_weight"] == {"amount": "1.5", "unit": "KILOGRAM"}
    assert e2["depth"] == {"amount": "12", "unit": "MILLIMETER"} and e2["net_weight"] == {"amount": "1234.5", "unit": "GRAM"}
    assert e3["net_weight"] == {"amount": "2", "unit": "KILOGRAM"}  # a plain number keeps the default unit


def test_an_erp_cell_with_a_unit_its_family_lacks_is_refused_with_units_that_fit(bstore: Store, tmp_path: Path) -> None:
    counts = _erp(bstore, tmp_path, "Material;Tiefe;Gewicht", ["E1;12 parsec;1", "E2;3;1 kg"])
    assert (counts.created, counts.rejected) == (1, 1)
    field, reason = _reasons(bstore, counts)[2]
    assert field == "Tiefe" and "'parsec' is not a unit of Length" in reason and "MILLIMETER" in reason
    assert "not a number" not in reason


def test_an_erp_cell_unit_the_unit_from_column_contradicts_is_refused_naming_both(bstore: Store, tmp_path: Path) -> None:
    columns = {"Gewicht": {"to": "net_weight", "unit_from": "Einheit", "unit_map": {"GR": "GRAM"}}}
    counts = _erp(bstore, tmp_path, "Material;Gewicht;Einheit", ["E1;1,5 kg;GR", "E2;1,5 kg;KGM", "E3;1,5 kg;"],
                  columns=columns)
    assert (counts.created, counts.rejected) == (2, 1)
    field, reason = _reasons(bstore, counts)[2]
    assert field == "Gewicht" and "kg (KILOGRAM)" in reason and "'Einheit' says GR (GRAM)" in reason
    assert bstore.get_product("E1") is None
    for sku in ("E2", "E3"):  # the column agrees, or says nothing: the cell's unit is taken
        assert bstore.get_product(sku).values["net_weight"] == {"amount": "1.5", "unit": "KILOGRAM"}


def test_an_erp_amount_in_the_wrong_number_format_says_so_not_that_the_unit_is_wrong(bstore: Store, tmp_path: Path) -> None:
    counts = _erp(bstore, tmp_path, "Material;Tiefe;Gewicht", ["E1;12.5 mm;1"])
    assert counts.rejected == 1
    field, reason = _reasons(bstore, counts)[2]
    assert field == "Tiefe" and reason.startswith("'12.5' does not group thousands with '.'")
    assert "set `decimal: '.'`" in reason


def test_supplier_csv_cells_with_their_unit_are_read(bstore: Store, tmp_path: Path) -> None:
    counts = import_supplier_table(_supplier_csv(tmp_path, ["A1;Relais;1,5 kg;12 mm", "A2;Schalter;0,25;12mm"]),
                                   bstore, SUPPLIER_MAP)
    assert (counts.created, counts.rejected) == (2, 0)
    a1, a2 = bstore.get_product("A1").values, bstore.get_product("A2").values
    assert a1["net_weight"] == {"amount": "1.5", "unit": "KILOGRAM"} and a1["depth"] == {"amount": "12", "unit": "MILLIMETER"}
    assert a2["net_weight"] == {"amount": "0.25", "unit": "KILOGRAM"} and a2["depth"] == {"amount": "12", "unit": "MILLIMETER"}


def test_a_supplier_cell_unit_the_profiles_unit_contradicts_is_refused_naming_both(bstore: Store, tmp_path: Path) -> None:
    counts = import_supplier_table(_supplier_csv(tmp_path, ["A1;Relais;1500 g;12"]), bstore, SUPPLIER_MAP)
    assert (counts.created, counts.rejected) == (0, 1)
    field, reason = _reasons(bstore, counts)[2]
    assert field == "Gewicht" and "g (GRAM)" in reason and "the map's `unit` says KILOGRAM" in reason
    assert "write the amount alone" in reason and bstore.get_product("A1") is None


def test_supplier_xlsx_text_cells_with_their_unit_are_read(bstore: Store, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Art-Nr", "Bezeichnung", "Gewicht", "Tiefe"])
    ws.append(["A1", "Relais", "1,5 kg", "12mm"])
    ws.append(["A2", "Schalter", 0.25, 40])
    wb.save(path := tmp_path / "acme.xlsx")
    counts = import_supplier_table(path, bstore, SUPPLIER_MAP)
    assert (counts.created, counts.rejected) == (2, 0)
    a1, a2 = bstore.get_product("A1").values, bstore.get_product("A2").values
    assert a1["net_weight"] == {"amount": "1.5", "unit": "KILOGRAM"} and a1["depth"] == {"amount": "12", "unit": "MILLIMETER"}
    assert a2["net_weight"] == {"amount": "0.25", "unit": "KILOGRAM"} and a2["depth"] == {"amount": "40", "unit": "MILLIMETER"}


def test_a_plain_number_never_reaches_the_unit_regex(bstore: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard (passes on the old code too): the fast path of a plain amount stays as it was."""
    def no_regex(*args: object) -> None:
        raise AssertionError("a plain number went through amount_and_unit")

    monkeypatch.setattr(erp_values, "amount_and_unit", no_regex, raising=False)
    builder = ValueBuilder(bstore.structure(), NumberFormat(decimal=",", thousands="."))
    values: dict = {}
    builder.apply(ValueRule(to="depth"), "1.234,5", values, {})
    assert values["depth"] == {"amount": "1234.5", "unit": None}
