"""Excel's mangling of the SKU column itself (pim.excel_skus; importers.content keep_edits): 00123 saved as 123
or 123.0, an EAN-13 SKU as 4.00638E+12. The row's `_sheet` version proves the SKU it was exported for (its
digests include the SKU), so the row goes to that product; a SKU nothing proves is rejected with what Excel
did, never created as a product named 4.00638E+12 nor applied to another product that happens to be 123."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from importers.content import ContentProfile, import_content
from pim import content_sheet, excel_skus
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP
from tests.test_content_sheet import export_in, edit, export, read_sheet, write_back
from tests.test_content_sheet_excel import drop_version, shows, xlsx_saves

COLUMNS = ["name:en_US,ean"]
SKUS = ["00123", "0456", "4006381333931", "4006381333948", "0401234567890"]


@pytest.fixture
def zeros(tiny_store: Store) -> Store:
    """Drills whose SKUs Excel reads as numbers: leading zeros, and two EANs sharing Excel's six digits."""
    tiny_store.upsert_products([
        Product(identifier=sku, family="drills", source=ERP,
                values={"sku": sku, "name:en_US": f"Drill {sku}", "ean": f"E{n}"})
        for n, sku in enumerate(SKUS)])
    return tiny_store


def excel_skus_saved(path: Path, skus: dict[str, str], cells: dict[tuple[str, str], str] | None = None) -> None:
    """The sheet as Excel saves it after reading the SKU column as numbers (and after the team's edits)."""
    rows = read_sheet(path)
    for (sku, column), text in (cells or {}).items():
        next(r for r in rows if r[0] == sku)[rows[0].index(column)] = text
    for row in rows[1:]:
        row[0] = skus.get(row[0], row[0])
    write_back(path, rows)


MANGLED = {"00123": "123", "0456": "456.0", "4006381333931": "4.00638E+12", "4006381333948": "4,00638E+12",
           "0401234567890": "4.01235E+11"}


@pytest.mark.parametrize("unmatched", ["quarantine", "create"])
def test_the_version_proves_the_sku_excel_mangled(zeros: Store, tmp_path: Path, unmatched: str) -> None:
    out = tmp_path / "drills.csv"
    export(zeros, out, columns=COLUMNS)
    excel_skus_saved(out, MANGLED, {("00123", "name:en_US"): "Drill one two three",
                                    ("4006381333948", "name:en_US"): "Drill 48",
                                    ("0401234567890", "ean"): "4006381333948"})
    counts = import_content(out, zeros, ContentProfile(unmatched=unmatched))  # type: ignore[arg-type]
    assert (counts.read, counts.created, counts.updated, counts.unchanged, counts.rejected) == (5, 0, 3, 2, 0)
    assert shows(zeros, "00123", "name:en_US") == ("Drill one two three", "content")
    assert shows(zeros, "4006381333948", "name:en_US") == ("Drill 48", "content")
    assert shows(zeros, "4006381333931", "name:en_US") == ("Drill 4006381333931", "erp")  # same six digits, its own row
    assert shows(zeros, "0401234567890", "ean") == ("4006381333948", "content")
    assert shows(zeros, "0456", "name:en_US") == ("Drill 0456", "erp")
    assert {p.identifier for p in zeros.iter_products()} == set(SKUS)  # no 123, 456.0 or 4.00638E+12


def test_a_row_excel_gave_another_product_s_sku_goes_to_its_own(zeros: Store, tmp_path: Path) -> None:
    """0456 saved as 456 while a product 456 exists: the version names 0456, so 456 keeps its values."""
    zeros.upsert_products([Product(identifier="456", family="drills", source=ERP,
                                   values={"sku": "456", "name:en_US": "Other", "ean": "X"})])
    out = tmp_path / "drills.csv"
    export(zeros, out, columns=COLUMNS)
    excel_skus_saved(out, {"0456": "456"}, {("0456", "name:en_US"): "Drill four five six"})
    rows = read_sheet(out)
    assert [r[0] for r in rows].count("456") == 2
    counts = import_content(out, zeros)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert shows(zeros, "0456", "name:en_US") == ("Drill four five six", "content")
    assert shows(zeros, "456", "name:en_US") == ("Other", "erp") and shows(zeros, "456", "ean") == ("X", "erp")


def test_a_scientific_sku_nothing_proves_is_rejected_never_created(zeros: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(zeros, out, columns=COLUMNS)
    drop_version(out)
    excel_skus_saved(out, {"4006381333931": "4.00638E+12"}, {("4006381333931", "name:en_US"): "New name"})
    counts = import_content(out, zeros, ContentProfile(unmatched="create"))
    assert (counts.created, counts.updated, counts.rejected) == (0, 0, 1)
    [entry] = zeros.quarantined(counts.job_id, open_only=False)
    assert (entry["record_key"], entry["field"], entry["line"]) == ("4.00638E+12", "sku", 4)
    assert entry["reason"] == ("Excel turned the sku into 4.00638E+12, and which product it was cannot be told — "
                               "format the sku column as Text before saving, or use the .xlsx download")
    assert zeros.get_product("4.00638E+12") is None
    assert shows(zeros, "4006381333931", "name:en_US") == ("Drill 4006381333931", "erp")


def test_every_cell_edited_leaves_nothing_to_prove_the_sku(zeros: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(zeros, out, columns=COLUMNS)
    excel_skus_saved(out, {"4006381333931": "4.00638E+12", "00123": "123"},
                     {("4006381333931", "name:en_US"): "A", ("4006381333931", "ean"): "B",
                      ("00123", "name:en_US"): "C", ("00123", "ean"): "D"})
    counts = import_content(out, zeros, ContentProfile(unmatched="create"))
    assert (counts.created, counts.updated, counts.rejected) == (0, 0, 2)
    reasons = {e["record_key"]: e["reason"] for e in zeros.quarantined(counts.job_id, open_only=False)}
    assert reasons["4.00638E+12"].startswith("Excel turned the sku into 4.00638E+12")
    assert reasons["123"] == ("no product '123'; Excel may have dropped the leading zeros of '00123' — type the sku "
                              "with its zeros and format the sku column as Text before saving, or use the .xlsx download")


def test_too_many_products_in_excel_s_range_is_unprovable(zeros: Store, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "drills.csv"
    export(zeros, out, columns=COLUMNS)
    excel_skus_saved(out, {"4006381333931": "4.00638E+12"})
    monkeypatch.setattr(excel_skus, "SKU_RANGE_MAX", 1)  # 4006381333931 and 4006381333948 share the range
    counts = import_content(out, zeros)
    assert (counts.unchanged, counts.rejected) == (4, 1)
    monkeypatch.setattr(excel_skus, "SKU_RANGE_MAX", 2)
    assert import_content(out, zeros).rejected == 0


def test_without_version_a_padded_known_sku_is_named_not_guessed(zeros: Store, tmp_path: Path) -> None:
    zeros.upsert_products([Product(identifier="000456", family="drills", source=ERP, values={"sku": "000456"})])
    path = tmp_path / "hand.csv"
    path.write_text("sku,name:en_US\n456,Four five six\n789,Brand new\n789.0,Point zero\n", encoding="utf-8")
    counts = import_content(path, zeros, ContentProfile(unmatched="create"))
    assert (counts.created, counts.rejected) == (1, 2)
    reasons = {e["record_key"]: e["reason"] for e in zeros.quarantined(counts.job_id, open_only=False)}
    assert reasons["456"].startswith("no product '456'; Excel may have dropped the leading zeros of '0456' or '000456' —")
    assert reasons["789.0"].startswith("Excel turned the sku into 789.0,")
    assert shows(zeros, "789", "name:en_US") == ("Brand new", "content")  # no padded form is a product: a new one
    assert zeros.get_product("456") is None and shows(zeros, "0456", "name:en_US") == ("Drill 0456", "erp")


def test_a_known_numeric_sku_is_read_as_itself(zeros: Store, tmp_path: Path) -> None:
    """A numeric SKU that is a product and whose row verifies under it (or has no version) is no suspect."""
    out = tmp_path / "drills.csv"
    export(zeros, out, columns=COLUMNS)
    edit(out, "0456", "name:en_US", "Edited")
    counts = import_content(out, zeros)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert shows(zeros, "0456", "name:en_US") == ("Edited", "content")


def test_an_xlsx_sku_cell_excel_retyped_as_a_number(zeros: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.xlsx"
    export(zeros, out, columns=COLUMNS)
    with xlsx_saves(out) as ws:
        for row in ws.iter_rows(min_row=2):
            if row[0].value in ("00123", "0401234567890"):
                row[0].value = int(row[0].value)  # Excel keeps the number: the zeros are gone, the digits exact
                row[1].value = f"{row[1].value} (edited)"
    counts = import_content(out, zeros, ContentProfile(unmatched="create"))
    assert (counts.created, counts.updated, counts.rejected) == (0, 2, 0)
    assert shows(zeros, "00123", "name:en_US") == ("Drill 00123 (edited)", "content")
    assert shows(zeros, "0401234567890", "name:en_US") == ("Drill 0401234567890 (edited)", "content")


def test_a_german_excel_csv_with_its_skus_retyped(zeros: Store, tmp_path: Path) -> None:
    """`;` and cp1252 as German Excel saves them, the decimal comma in the scientific SKU."""
    zeros.upsert_products([Product(identifier="00777", family="drills", source=ERP,
                                   values={"sku": "00777", "name:en_US": "Bohrer"})])
    profile = ContentProfile(delimiter=";", encoding="cp1252", unmatched="create")
    fmt = content_sheet.SheetFormat.of(profile)
    out = tmp_path / "drills.csv"
    rows = export_in(zeros, out, COLUMNS, fmt)
    for row in rows[1:]:
        if row[0] == "4006381333948":
            row[0], row[1] = "4,00638E+12", "Größerer Bohrer"
        elif row[0] == "00777":
            row[0], row[1] = "777", "Bohrer für Stein"
    text = io.StringIO()
    csv.writer(text, delimiter=";").writerows(rows)
    out.write_bytes(text.getvalue().encode("cp1252"))
    counts = import_content(out, zeros, profile)
    assert (counts.created, counts.updated, counts.rejected) == (0, 2, 0)
    assert shows(zeros, "4006381333948", "name:en_US") == ("Größerer Bohrer", "content")
    assert shows(zeros, "00777", "name:en_US") == ("Bohrer für Stein", "content")


@pytest.mark.parametrize("cell, expected", [
    ("4.00638E+12", (4006375000000, 4006385000000)), ("4,00638E+12", (4006375000000, 4006385000000)),
    ("4E+12", (3500000000000, 4500000000000)), ("4.006381E+12", (4006380500000, 4006381500000)),
    ("1.2E+03", (1150, 1250)), ("123", None), ("4.00638E-12", None),
])
def test_the_numbers_a_scientific_sku_stands_for(cell: str, expected: tuple[int, int] | None) -> None:
    assert excel_skus.scientific_range(cell) == expected


def test_the_padded_forms_and_what_counts_as_a_suspect() -> None:
    assert content_sheet.zero_padded("123")[:3] == ["0123", "00123", "000123"] and len(content_sheet.zero_padded("123")) == 11
    assert content_sheet.zero_padded("456.0")[:2] == ["456", "0456"]
    assert [excel_skus.suspect(s) for s in ("123", "0123", "12.0", "4,00638E+12", "A-123", "12.5", "-12", "")] == \
        [True, True, True, True, False, False, False, False]
