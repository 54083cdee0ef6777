"""Supplier ids and GTINs a person typed into an XLSX as numbers: Excel keeps 00123 as 123 and the UPC-A
012345678905 as 12345678905. A GTIN gets back the zeros its check digit proves; a supplier id is read as its
zero-padding number format shows it, else matched to the one cross-referenced id it is with its zeros (said
once per file), and refused when two could be meant. Text cells, and CSV files, are read as they stand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from importers.supplier_table import import_supplier_table
from pim.product import Product, Provenance
from pim.sources import put_cross_references
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.test_supplier_table import MAP, STRUCTURE, _csv

HEADER = ["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis"]
UPC = "012345678905"  # a UPC-A: its number, 12345678905, has eleven digits
SOURCE = MAP.source
WARNED = "typed as numbers were matched to the cross-reference's ids by their leading zeros"


@pytest.fixture
def sstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


def _xlsx(tmp_path: Path, rows: list[list[Any]], formats: dict[str, str] | None = None,
          header: list[str] = HEADER) -> Path:
    """The workbook with the profile's header, `rows` below it and number formats by cell (A2: 00000)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    for ref, code in (formats or {}).items():
        ws[ref].number_format = code
    path = tmp_path / "acme.xlsx"
    wb.save(path)
    return path


def _ours(store: Store, *skus: str, ean: str | None = None) -> None:
    erp = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_products([Product(identifier=sku, family="electrical",
                                   values={"sku": sku, **({"ean": ean} if ean else {})}, source=erp) for sku in skus])


def _entries(store: Store, job: int | None, severity: str) -> list[dict[str, Any]]:
    return [e for e in store.quarantined(job) if e["severity"] == severity]


# ---------------------------------------------------------------- GTINs
def test_a_gtin_excel_kept_as_a_number_gets_the_zeros_its_check_digit_proves(sstore: Store, tmp_path: Path) -> None:
    counts = import_supplier_table(_xlsx(tmp_path, [["A1", 12345678905, "Relais"]]), sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 0) and not sstore.quarantined(counts.job_id)
    assert sstore.get_product("A1").values["ean"] == UPC


def test_a_gtin_kept_as_a_number_matches_our_product(sstore: Store, tmp_path: Path) -> None:
    _ours(sstore, "SKU-7", ean=UPC)
    counts = import_supplier_table(_xlsx(tmp_path, [["A1", 12345678905, "Relais"]]), sstore,
                                   MAP.model_copy(update={"unmatched": "quarantine"}))
    assert (counts.updated, counts.rejected) == (1, 0)
    assert sstore.get_product("SKU-7").values["name:de_DE"] == "Relais"


def test_excel_float_text_that_keeps_every_digit_is_read_as_its_gtin(sstore: Store, tmp_path: Path) -> None:
    counts = import_supplier_table(_xlsx(tmp_path, [["A1", "1.2345678905E+10", "Relais"]]), sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 0)
    assert sstore.get_product("A1").values["ean"] == UPC


def test_a_gtin_typed_as_text_or_with_a_wrong_check_digit_is_not_padded(sstore: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): text says what the supplier typed, and no padding rights a check digit."""
    counts = import_supplier_table(_xlsx(tmp_path, [["A1", "12345678905", "Relais"], ["A2", 12345678906, "Klemme"]]),
                                   sstore, MAP)
    assert (counts.created, counts.rejected) == (0, 2)  # not created: a bad GTIN may hide one of ours
    refused = sorted((e["line"], e["field"], e["reason"]) for e in sstore.quarantined(counts.job_id))
    assert [(line, field) for line, field, _ in refused] == [(2, "EAN"), (3, "EAN")]
    assert "'12345678905' is not a GTIN" in refused[0][2] and "'12345678906' is not a GTIN" in refused[1][2]


# ---------------------------------------------------------------- supplier ids
def test_a_zero_padding_number_format_reads_the_id_as_excel_shows_it(sstore: Store, tmp_path: Path) -> None:
    path = _xlsx(tmp_path, [[123, "4006381333931", "Relais", 0.25, "ACME", 12.5]], {"A2": "00000"})
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 0) and sstore.get_product("123") is None
    p = sstore.get_product("00123")
    assert p.values["net_weight"] == {"amount": "0.25", "unit": "KILOGRAM"} and p.values["price"] == {"EUR": "12.50"}
    assert not sstore.quarantined(counts.job_id)


def test_an_id_typed_as_a_number_is_matched_to_the_one_xref_with_its_zeros(sstore: Store, tmp_path: Path) -> None:
    _ours(sstore, "OUR-1", "OUR-2")
    put_cross_references(sstore, SOURCE, [("00123", "OUR-1"), ("0456", "OUR-2")])
    counts = import_supplier_table(_xlsx(tmp_path, [[123, None, "Relais"], [456, None, "Klemme"]]), sstore, MAP)
    assert (counts.created, counts.updated, counts.rejected) == (0, 2, 0)
    assert sstore.get_product("OUR-1").values["name:de_DE"] == "Relais" and sstore.get_product("123") is None
    [warning] = _entries(sstore, counts.job_id, "warning")
    assert WARNED in warning["reason"] and "123 → 00123, 456 → 0456" in warning["reason"]
    assert "format the 'Art-Nr' column as Text" in warning["reason"] and counts.extra["ids_matched_by_zeros"] == 2


def test_the_warning_closes_once_the_ids_come_as_text(sstore: Store, tmp_path: Path) -> None:
    _ours(sstore, "OUR-1")
    put_cross_references(sstore, SOURCE, [("00123", "OUR-1")])
    import_supplier_table(_xlsx(tmp_path, [[123, None, "Relais"]]), sstore, MAP)
    assert len(sstore.quarantined(severity="warning")) == 1
    counts = import_supplier_table(_xlsx(tmp_path, [["00123", None, "Relais 2"]]), sstore, MAP)
    assert counts.updated == 1 and not sstore.quarantined(severity="warning")


def test_an_id_two_xrefs_could_be_is_refused_naming_both(sstore: Store, tmp_path: Path) -> None:
    _ours(sstore, "OUR-1", "OUR-2")
    put_cross_references(sstore, SOURCE, [("0123", "OUR-1"), ("00123", "OUR-2")])
    counts = import_supplier_table(_xlsx(tmp_path, [[123, None, "Relais"]]), sstore, MAP)
    assert (counts.created, counts.updated, counts.rejected) == (0, 0, 1) and sstore.get_product("123") is None
    [entry] = sstore.quarantined(counts.job_id)
    assert (entry["line"], entry["field"], entry["record_key"]) == (2, "Art-Nr", "123")
    assert "it may be 00123 or 0123" in entry["reason"] and "format the 'Art-Nr' column as Text" in entry["reason"]
    assert f"pim import xref {SOURCE} 123 SKU" in entry["reason"] and len(entry["reason"]) <= 200
    assert "name:de_DE" not in sstore.get_product("OUR-1").values


def test_a_row_with_an_unsaved_formula_elsewhere_keeps_its_number_id(sstore: Store, tmp_path: Path) -> None:
    """A formula with no saved value, in a column the profile does not read, sends its row through the reading
    that tells such cells from text: the number cell there is text too."""
    _ours(sstore, "OUR-1")
    put_cross_references(sstore, SOURCE, [("00123", "OUR-1")])
    path = _xlsx(tmp_path, [[123, None, "Relais", None, "ACME", None, "=1+1"]], header=[*HEADER, "Notiz"])
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert sstore.get_product("OUR-1").values["manufacturer"] == "ACME"


def test_an_id_the_xref_knows_as_it_stands_is_not_padded(sstore: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): the cross-reference of the id as the cell has it wins."""
    _ours(sstore, "OUR-1", "OUR-9")
    put_cross_references(sstore, SOURCE, [("123", "OUR-9"), ("00123", "OUR-1")])
    counts = import_supplier_table(_xlsx(tmp_path, [[123, None, "Relais"]]), sstore, MAP)
    assert counts.updated == 1 and sstore.get_product("OUR-9").values["name:de_DE"] == "Relais"
    assert not sstore.quarantined(counts.job_id)


def test_an_id_typed_as_text_is_never_padded(sstore: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): a text cell says what the supplier typed."""
    _ours(sstore, "OUR-1")
    put_cross_references(sstore, SOURCE, [("00123", "OUR-1")])
    counts = import_supplier_table(_xlsx(tmp_path, [["123", None, "Relais"]]), sstore, MAP)
    assert counts.created == 1 and sstore.get_product("123") is not None
    assert "name:de_DE" not in sstore.get_product("OUR-1").values


def test_a_csv_is_text_and_read_as_it_stands(sstore: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): nothing in a CSV was a number, so nothing is padded."""
    _ours(sstore, "OUR-1")
    put_cross_references(sstore, SOURCE, [("00123", "OUR-1")])
    counts = import_supplier_table(_csv(tmp_path, ["123;;Relais;0,25;ACME;12,5", "A2;12345678905;Klemme;1;ACME;2"]),
                                   sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 1) and sstore.get_product("123") is not None
    assert "name:de_DE" not in sstore.get_product("OUR-1").values
    [entry] = sstore.quarantined(counts.job_id)
    assert (entry["line"], entry["field"]) == (3, "EAN") and "'12345678905' is not a GTIN" in entry["reason"]


def test_matching_by_zeros_reads_the_cross_reference_per_batch_not_per_row(sstore: Store, tmp_path: Path) -> None:
    """As many ids matched by their zeros as a batch holds cost the same statements as a few."""
    put_cross_references(sstore, SOURCE, [(f"{n:05d}", f"OUR-{n}") for n in range(1, 61)])
    _ours(sstore, *(f"OUR-{n}" for n in range(1, 61)))

    def xref_reads(rows: int) -> int:
        statements: list[str] = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731  # (conn, cursor, statement, …)
        event.listen(sstore.engine, "before_cursor_execute", listen)
        try:
            path = _xlsx(tmp_path, [[n, None, f"Relais {n} of {rows}"] for n in range(1, rows + 1)])
            counts = import_supplier_table(path, sstore, MAP)
        finally:
            event.remove(sstore.engine, "before_cursor_execute", listen)
        assert (counts.updated, counts.rejected) == (rows, 0)
        return sum(1 for s in statements if "source_xref" in s and s.lstrip().upper().startswith("SELECT"))

    assert xref_reads(3) == xref_reads(60)
