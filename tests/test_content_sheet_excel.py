"""Excel's number mangling on the way back (pim.content_sheet.excel_meant, excel_mangled; importers.content
keep_edits): a CSV opened in Excel and saved turns an EAN into 4.00638E+12, drops its leading zeros or
appends .0. Such a cell, when it is Excel's rendering of the exported text (by the row's version, or without
one of what the product shows), is untouched; when it stands for no text we know (a changed value) its row
is quarantined with what Excel did and how to avoid it, and the mangled text is never stored."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from importers.content import ContentProfile, import_content
from pim import content_sheet
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP
from tests.test_content_sheet import edit, export, read_sheet, write_back

EANS = {"d1": "4006381333931", "d2": "0401234567893", "d3": "00012345678905"}
COLUMNS = ["ean,name:en_US,wattage"]


@pytest.fixture
def drills(tiny_store: Store) -> Store:
    """Three drills whose EANs (a text attribute) the ERP holds; d2 and d3 with leading zeros."""
    tiny_store.upsert_products([
        Product(identifier=sku, family="drills", source=ERP,
                values={"sku": sku, "ean": ean, "name:en_US": f"Drill {sku}", "wattage": 1200})
        for sku, ean in EANS.items()])
    return tiny_store


def excel_saves(path: Path, cells: dict[tuple[str, str], str]) -> None:
    """The sheet as Excel saves it after reading some cells as numbers: those cells as Excel shows them."""
    rows = read_sheet(path)
    for (sku, column), text in cells.items():
        next(r for r in rows if r[0] == sku)[rows[0].index(column)] = text
    write_back(path, rows)


@contextmanager
def xlsx_saves(path: Path) -> Iterator[Any]:
    """The exported workbook's sheet, saved back after the block: cells Excel kept as numbers or dates."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    yield wb.worksheets[0]
    wb.save(path)


def shows(store: Store, sku: str, key: str) -> tuple[Any, str | None]:
    p = store.get_product(sku)
    assert p is not None
    prov = p.provenance_of(key)
    return p.values.get(key), prov.source if prov else None


def drop_version(path: Path) -> None:
    rows = read_sheet(path)
    write_back(path, [r[:-1] for r in rows])


MANGLED = {("d1", "ean"): "4.00638E+12", ("d2", "ean"): "401234567893", ("d3", "ean"): "12345678905.0",
           ("d1", "wattage"): "1.2E+03"}


@pytest.mark.parametrize("versioned", [True, False])
def test_excel_s_rendering_of_the_exported_number_is_no_edit(drills: Store, tmp_path: Path, versioned: bool) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    if not versioned:
        drop_version(out)  # compared with what the product shows instead
    excel_saves(out, MANGLED)
    counts = import_content(out, drills)
    assert (counts.read, counts.updated, counts.unchanged, counts.rejected) == (3, 0, 3, 0)
    for sku, ean in EANS.items():
        assert shows(drills, sku, "ean") == (ean, "erp")
    assert shows(drills, "d1", "wattage") == (1200, "erp")


@pytest.mark.parametrize("cell", ["4,00638E+12", "4.00638e+12", "4006381333931.0", "4006381333931,0", "4.006381E+12"])
def test_every_rendering_excel_writes_reads_as_the_number(drills: Store, tmp_path: Path, cell: str) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    excel_saves(out, {("d1", "ean"): cell})
    counts = import_content(out, drills)
    assert (counts.updated, counts.rejected) == (0, 0)


def test_a_changed_number_excel_mangled_is_quarantined_never_stored(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    excel_saves(out, {("d1", "ean"): "4.00639E+12",  # another number than the exported one
                      ("d2", "ean"): "401234567886",  # edited, and Excel dropped the leading zero
                      ("d2", "name:en_US"): "Drill two",
                      ("d3", "ean"): "12345678999.0",  # edited, zeros gone, .0 added
                      ("d3", "name:en_US"): "Drill three"})
    counts = import_content(out, drills)
    assert (counts.read, counts.updated, counts.unchanged, counts.rejected) == (3, 0, 0, 3)
    entries = {e["record_key"]: e for e in drills.quarantined(counts.job_id, open_only=False)}
    assert entries["d1"]["reason"] == ("ean: Excel turned this number into 4.00639E+12 — format the column as Text "
                                       "before saving, or use the .xlsx download")
    assert (entries["d1"]["file"], entries["d1"]["line"], entries["d1"]["field"]) == ("drills.csv", 2, "ean")
    assert entries["d2"]["reason"].startswith("ean: Excel turned this number into 401234567886 —")
    assert entries["d3"]["reason"].startswith("ean: Excel turned this number into 12345678999.0 —")
    for sku, ean in EANS.items():
        assert shows(drills, sku, "ean") == (ean, "erp")  # nothing of the rejected rows stored
    assert shows(drills, "d2", "name:en_US") == ("Drill d2", "erp")

    export(drills, out, columns=COLUMNS)  # fixed: the column as text, the edits typed again
    edit(out, "d2", "ean", "0401234567886")
    edit(out, "d2", "name:en_US", "Drill two")
    fixed = import_content(out, drills)
    assert (fixed.updated, fixed.rejected) == (1, 0)
    assert shows(drills, "d2", "ean") == ("0401234567886", "content")


def test_a_number_the_team_typed_is_an_edit(drills: Store, tmp_path: Path) -> None:
    """Digits that need no Excel to explain them: a new EAN of the same length, a new wattage (a number
    attribute: 1500.0 is 1500), a new EAN where the product shows none."""
    drills.upsert_products([Product(identifier="d4", family="drills", source=ERP, values={"sku": "d4"})])
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    excel_saves(out, {("d1", "ean"): "4006381333948", ("d2", "ean"): "4012345678901", ("d3", "wattage"): "1500.0",
                      ("d4", "ean"): "96385074"})
    counts = import_content(out, drills)
    assert (counts.updated, counts.rejected) == (4, 0)
    assert shows(drills, "d1", "ean") == ("4006381333948", "content")
    assert shows(drills, "d2", "ean") == ("4012345678901", "content")
    assert shows(drills, "d3", "wattage") == (1500, "content")
    assert shows(drills, "d4", "ean") == ("96385074", "content")


def test_a_new_number_in_scientific_notation_is_refused_where_nothing_was_shown(drills: Store, tmp_path: Path) -> None:
    drills.upsert_products([Product(identifier="d4", family="drills", source=ERP, values={"sku": "d4"})])
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    excel_saves(out, {("d4", "ean"): "9.63851E+07"})
    counts = import_content(out, drills)
    assert counts.rejected == 1 and "ean" not in drills.get_product("d4").values  # type: ignore[union-attr]


def test_a_new_product_is_not_created_with_excel_s_rendering(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "new.csv"
    out.write_text("sku,ean,name:en_US\nn1,4.00638E+12,New drill\nn2,4006381333931,Other drill\n", encoding="utf-8")
    counts = import_content(out, drills, ContentProfile(unmatched="create"))
    assert (counts.created, counts.rejected) == (1, 1)
    [entry] = drills.quarantined(counts.job_id, open_only=False)
    assert entry["record_key"] == "n1" and entry["reason"].startswith("ean: Excel turned this number into 4.00638E+12")
    assert drills.get_product("n1") is None and shows(drills, "n2", "ean") == ("4006381333931", "content")


def test_the_version_finds_the_exported_number_after_another_source_changed_it(drills: Store, tmp_path: Path) -> None:
    """Excel dropped the zeros of the exported EAN and the ERP changed it since: the version still names the
    exported text, so the cell is untouched and the ERP's newer EAN stays."""
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    path = tmp_path / "erp.json"
    path.write_bytes(orjson.dumps([{"sku": "d2", "values": {"ean": "0401234567992"}},
                                   {"sku": "d1", "values": {"ean": "4006381333948"}}]))
    assert import_content(path, drills, ContentProfile(source="erp")).rejected == 0
    excel_saves(out, {("d2", "ean"): "401234567893", ("d1", "ean"): "4.00638E+12"})
    counts = import_content(out, drills)
    assert (counts.updated, counts.rejected) == (0, 0)  # d1: Excel's rendering of what the product shows now
    assert shows(drills, "d2", "ean") == ("0401234567992", "erp")
    assert shows(drills, "d1", "ean") == ("4006381333948", "erp")


def test_claim_unchanged_claims_the_text_excel_stood_for(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=["ean"])
    drop_version(out)
    excel_saves(out, {("d1", "ean"): "4.00638E+12", ("d2", "ean"): "401234567893"})
    counts = import_content(out, drills, ContentProfile(claim_unchanged=True))
    assert counts.rejected == 0
    assert shows(drills, "d1", "ean") == ("4006381333931", "content")
    assert shows(drills, "d2", "ean") == ("0401234567893", "content")
    excel_saves(out, {("d1", "ean"): "4.1E+12"})
    assert import_content(out, drills, ContentProfile(claim_unchanged=True)).rejected == 1
    assert shows(drills, "d1", "ean") == ("4006381333931", "content")


def test_an_xlsx_number_cell_without_its_leading_zeros_is_untouched(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.xlsx"
    export(drills, out, columns=COLUMNS)
    with xlsx_saves(out) as ws:
        row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "d2")
        row[1].value = 401234567893  # retyped as a number
    counts = import_content(out, drills)
    assert (counts.updated, counts.rejected) == (0, 0)
    assert shows(drills, "d2", "ean") == ("0401234567893", "erp")


def test_a_german_excel_sheet_with_its_own_profile(drills: Store, tmp_path: Path) -> None:
    """The German Excel round trip: the profile's `;` and cp1252, the comma as decimal mark."""
    profile = ContentProfile(delimiter=";", encoding="cp1252")
    fmt = content_sheet.SheetFormat.of(profile)
    s = drills
    chosen = content_sheet.scope(s.structure(), columns=COLUMNS, fmt=fmt)
    from pim.grid_query import GridFilter, grid_pages

    out = tmp_path / "drills.csv"
    content_sheet.write_sheet(out, chosen.header, content_sheet.sheet_rows(
        s, s.structure(), grid_pages(s, GridFilter(), s.structure()), chosen.keys), fmt)
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("cp1252"), newline=""), delimiter=";"))
    next(r for r in rows if r[0] == "d1")[1] = "4,00638E+12"
    next(r for r in rows if r[0] == "d2")[1] = "4,02E+11"  # 4,01E+11 would be 0401234567893
    text = io.StringIO()
    csv.writer(text, delimiter=";").writerows(rows)
    out.write_bytes(text.getvalue().encode("cp1252"))
    counts = import_content(out, drills, profile)
    assert (counts.updated, counts.unchanged, counts.rejected) == (0, 2, 1)
    [entry] = drills.quarantined(counts.job_id, open_only=False)
    assert entry["record_key"] == "d2" and "Excel turned this number into 4,02E+11" in entry["reason"]


def test_only_cells_that_look_like_numbers_are_checked(drills: Store, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = content_sheet.excel_meant

    def counting(attr: Any, cell: str, *rest: Any) -> Any:
        seen.append(cell)
        return real(attr, cell, *rest)

    monkeypatch.setattr(content_sheet, "excel_meant", counting)
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    excel_saves(out, {("d1", "name:en_US"): "Drill one", ("d2", "ean"): "401234567893", ("d3", "ean"): "0001234"})
    import_content(out, drills)
    assert seen == ["401234567893", "0001234"]  # untouched cells and text edits never reach the check


@pytest.mark.parametrize("cell, wrote, expected", [
    ("4.00638E+12", "4006381333931", True), ("4,00638E+12", "4006381333931", True), ("4.00639E+12", "4006381333931", False),
    ("4E+12", "4006381333931", True), ("4.01235E+11", "0401234567890", True), ("401234567890", "0401234567890", True),
    ("4006381333931.0", "4006381333931", True), ("1,5", "1.5", True), ("1.00E-05", "0.00001", True),
    ("12345678901234500", "12345678901234567", True), ("12345678901234000", "12345678901234567", False),
    ("401234567891", "0401234567890", False), ("4006381333931", "4006381333931", False),
    ("4.00638E+12", "ABC-4006381333931", False), ("4.0E+999999", "4", False),
])
def test_what_counts_as_excel_s_rendering(cell: str, wrote: str, expected: bool) -> None:
    assert content_sheet.excel_rendering(cell, wrote) is expected
