"""Excel's date retyping on the way back (pim.excel_dates; importers.content keep_edits): the sheet's ISO date
2024-03-01 comes back as 01.03.2024 (German Excel), 3/1/2024 (US), 01/03/2024 (UK), 2024/03/01 or
2024-03-01 00:00:00. Excel's rendering of the exported date is no edit (by the row's version, or without one
of the shown date); an unambiguous rendering of another date is that date; a slash date that reads two ways
rejects its row naming both. A text Excel read as a date (1-2, 3/4) is put back when the version or the
shown text proves which text it was."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest

from importers.content import ContentProfile, import_content
from pim import content_sheet, excel_dates
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP
from tests.test_content_sheet import export_in, export
from tests.test_content_sheet_excel import drop_version, excel_saves, shows, xlsx_saves

DATE = "release_date@ecommerce"
COLUMNS = [f"name:en_US,{DATE}"]


@pytest.fixture
def dated(tiny_store: Store) -> Store:
    """Drills with release dates from the ERP; d1's on 2024-03-01, d2's on 2024-03-04 (reads two ways in slashes)."""
    tiny_store.upsert_products([
        Product(identifier=sku, family="drills", source=ERP, values={"sku": sku, "name:en_US": name, DATE: day})
        for sku, name, day in (("d1", "1-2", "2024-03-01"), ("d2", "3/4", "2024-03-04"), ("d3", "Drill", "2024-12-24"))])
    return tiny_store


def erp_changes(store: Store, tmp_path: Path, records: list[dict]) -> None:
    path = tmp_path / "erp.json"
    path.write_bytes(orjson.dumps(records))
    assert import_content(path, store, ContentProfile(source="erp")).rejected == 0


RENDERINGS = {"german": {"d1": "01.03.2024", "d2": "04.03.2024", "d3": "24.12.2024"},
              "us": {"d1": "3/1/2024", "d2": "3/4/2024", "d3": "12/24/2024"},
              "uk": {"d1": "01/03/2024", "d2": "04/03/2024", "d3": "24/12/2024"},
              "time": {"d1": "2024-03-01 00:00:00", "d2": "2024-03-04 00:00", "d3": "2024-12-24T00:00:00"},
              "year first": {"d1": "2024/03/01", "d2": "2024/03/04", "d3": "2024/12/24"},
              "german short": {"d1": "01.03.24", "d2": "04.03.24", "d3": "24.12.24"},
              "us short": {"d1": "3/1/24", "d2": "3/4/24", "d3": "12/24/24"},
              "month and year": {"d1": "Mar-24", "d2": "March 2024", "d3": "Dez. 24"},
              "day and month": {"d1": "1-Mar", "d2": "04. Mrz", "d3": "24 Dec"}}


@pytest.mark.parametrize("locale", sorted(RENDERINGS))
def test_excel_s_rendering_of_the_exported_date_is_untouched(dated: Store, tmp_path: Path, locale: str) -> None:
    """Even after the ERP changed the dates since the export: the version names the exported date, so the
    sheet's older date does not overwrite the ERP's newer one."""
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    erp_changes(dated, tmp_path, [{"sku": sku, "values": {DATE: "2025-01-31"}} for sku in ("d1", "d2", "d3")])
    excel_saves(out, {(sku, DATE): text for sku, text in RENDERINGS[locale].items()})
    counts = import_content(out, dated)
    assert (counts.updated, counts.unchanged, counts.rejected) == (0, 3, 0)
    for sku in ("d1", "d2", "d3"):
        assert shows(dated, sku, DATE) == ("2025-01-31", "erp")


@pytest.mark.parametrize("locale", sorted(RENDERINGS))
def test_without_version_the_rendering_of_the_shown_date_is_no_edit(dated: Store, tmp_path: Path, locale: str) -> None:
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    drop_version(out)
    excel_saves(out, {(sku, DATE): text for sku, text in RENDERINGS[locale].items()})
    counts = import_content(out, dated)
    assert (counts.updated, counts.unchanged, counts.rejected) == (0, 3, 0)
    assert shows(dated, "d2", DATE) == ("2024-03-04", "erp")


@pytest.mark.parametrize("cell", ["15.04.2024", "2024-04-15 00:00:00", "2024/04/15", "4/15/2024", "15/04/2024", "15.4.2024",
                                  "2024-4-15"])
def test_an_unambiguous_rendering_of_another_date_is_that_edit(dated: Store, tmp_path: Path, cell: str) -> None:
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    excel_saves(out, {("d1", DATE): cell})
    counts = import_content(out, dated)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert shows(dated, "d1", DATE) == ("2024-04-15", "content")


def test_an_ambiguous_slash_date_is_rejected_naming_both(dated: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    excel_saves(out, {("d1", DATE): "05/06/2024", ("d1", "name:en_US"): "Drill one",
                      ("d2", DATE): "4/3/2024",  # reads two ways; day first it is the exported 2024-03-04
                      ("d3", DATE): "12/24/2024"})  # the exported date: untouched
    erp_changes(dated, tmp_path, [{"sku": "d2", "values": {DATE: "2024-06-30"}}])
    counts = import_content(out, dated)
    assert (counts.updated, counts.unchanged, counts.rejected) == (0, 2, 1)
    entries = {e["record_key"]: e for e in dated.quarantined(counts.job_id, open_only=False)}
    assert set(entries) == {"d1"}
    assert entries["d1"]["field"] == DATE
    assert entries["d1"]["reason"] == (
        f"{DATE}: Excel wrote this date as 05/06/2024, which could be 2024-05-06 (month first) or 2024-06-05 (day "
        "first) — format the column as Text and type the date as YYYY-MM-DD before saving, or use the .xlsx download")
    assert shows(dated, "d1", DATE) == ("2024-03-01", "erp") and shows(dated, "d1", "name:en_US") == ("1-2", "erp")
    assert shows(dated, "d2", DATE) == ("2024-06-30", "erp")  # untouched: the ERP's newer date stays


def test_an_ambiguous_date_without_version_matching_neither_is_rejected(dated: Store, tmp_path: Path) -> None:
    path = tmp_path / "hand.csv"
    path.write_text(f"sku,{DATE}\nd1,02/03/2024\nd2,13/03/2024\nn1,07/08/2024\n", encoding="utf-8")
    counts = import_content(path, dated, ContentProfile(unmatched="create"))
    assert (counts.created, counts.updated, counts.rejected) == (0, 1, 2)
    reasons = {e["record_key"]: e["reason"] for e in dated.quarantined(counts.job_id, open_only=False)}
    assert "could be 2024-02-03 (month first) or 2024-03-02 (day first)" in reasons["d1"]
    assert "could be 2024-07-08 (month first) or 2024-08-07 (day first)" in reasons["n1"]  # not created either
    assert shows(dated, "d2", DATE) == ("2024-03-13", "content") and dated.get_product("n1") is None


def test_a_new_product_gets_the_date_excel_showed(dated: Store, tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text(f"sku,{DATE}\nn1,24.12.2025\n", encoding="utf-8")
    counts = import_content(path, dated, ContentProfile(unmatched="create"))
    assert (counts.created, counts.rejected) == (1, 0)
    assert shows(dated, "n1", DATE) == ("2025-12-24", "content")


@pytest.mark.parametrize("versioned", [True, False])
@pytest.mark.parametrize("cells", [{"d1": "02.01.2025", "d2": "04.03.2025"}, {"d1": "1/2/2025", "d2": "3/4/2025"},
                                   {"d1": "2-Jan", "d2": "4-Mar"}, {"d1": "01. Feb", "d2": "03. Apr"},
                                   {"d1": "2025-01-02", "d2": "2025-03-04"}])
def test_a_text_excel_read_as_a_date_is_put_back(dated: Store, tmp_path: Path, versioned: bool,
                                                  cells: dict[str, str]) -> None:
    """The names 1-2 and 3/4 are dates to Excel (of the year it opened the file in), saved in its format."""
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    if versioned:  # the ERP renamed them since: only the version proves what the sheet said
        erp_changes(dated, tmp_path, [{"sku": "d1", "values": {"name:en_US": "One-Two"}},
                                      {"sku": "d2", "values": {"name:en_US": "Three quarters"}}])
    else:
        drop_version(out)
    excel_saves(out, {(sku, "name:en_US"): text for sku, text in cells.items()})
    counts = import_content(out, dated)
    assert (counts.updated, counts.rejected) == (0, 0)
    assert shows(dated, "d1", "name:en_US") == ("One-Two" if versioned else "1-2", "erp")
    assert shows(dated, "d2", "name:en_US") == ("Three quarters" if versioned else "3/4", "erp")


def test_a_date_typed_into_a_text_column_stays_the_team_s_text(dated: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    excel_saves(out, {("d3", "name:en_US"): "24.12.2024", ("d1", "name:en_US"): "05.06.2025"})
    counts = import_content(out, dated)
    assert (counts.updated, counts.rejected) == (2, 0)
    assert shows(dated, "d3", "name:en_US") == ("24.12.2024", "content")
    assert shows(dated, "d1", "name:en_US") == ("05.06.2025", "content")  # no text of d1's reads as that date


def test_an_xlsx_round_trip_with_date_cells(dated: Store, tmp_path: Path) -> None:
    """Excel keeps a retyped cell as a date (openpyxl reads a datetime): the exported date is untouched, a new
    one an edit, a text it read as a date put back."""
    from datetime import datetime

    out = tmp_path / "drills.xlsx"
    export(dated, out, columns=COLUMNS)
    erp_changes(dated, tmp_path, [{"sku": "d1", "values": {DATE: "2025-01-31", "name:en_US": "One-Two"}}])
    with xlsx_saves(out) as ws:
        for row in ws.iter_rows(min_row=2):
            if row[0].value == "d1":
                row[1].value, row[2].value = datetime(2025, 1, 2), datetime(2024, 3, 1)  # the exported name and date
            elif row[0].value == "d2":
                row[2].value = datetime(2024, 5, 6)
    counts = import_content(out, dated)
    assert (counts.updated, counts.unchanged, counts.rejected) == (1, 2, 0)
    assert shows(dated, "d1", DATE) == ("2025-01-31", "erp") and shows(dated, "d1", "name:en_US") == ("One-Two", "erp")
    assert shows(dated, "d2", DATE) == ("2024-05-06", "content")


def test_a_german_excel_csv_with_its_dates(dated: Store, tmp_path: Path) -> None:
    """`;` and cp1252 as German Excel saves them: dd.mm.yyyy dates, 1-2 as 02.01.yyyy, an accented edit."""
    profile = ContentProfile(delimiter=";", encoding="cp1252")
    fmt = content_sheet.SheetFormat.of(profile)
    out = tmp_path / "drills.csv"
    rows = export_in(dated, out, COLUMNS, fmt)
    german = {"d1": ("02.01.2025", "01.03.2024"), "d2": ("04. Mrz", "04.03.2024"), "d3": ("Bohrer für Holz", "31.12.2024")}
    for row in rows[1:]:
        row[1], row[2] = german[row[0]]
    text = io.StringIO()
    csv.writer(text, delimiter=";").writerows(rows)
    out.write_bytes(text.getvalue().encode("cp1252"))
    counts = import_content(out, dated, profile)
    assert (counts.updated, counts.unchanged, counts.rejected) == (1, 2, 0)
    assert shows(dated, "d1", "name:en_US") == ("1-2", "erp") and shows(dated, "d2", DATE) == ("2024-03-04", "erp")
    assert shows(dated, "d3", "name:en_US") == ("Bohrer für Holz", "content")
    assert shows(dated, "d3", DATE) == ("2024-12-31", "content")


@pytest.mark.parametrize("cell, expected", [
    ("01.03.2024", ("2024-03-01",)), ("1.3.2024", ("2024-03-01",)), ("3/1/2024", ("2024-03-01", "2024-01-03")),
    ("03/03/2024", ("2024-03-03",)), ("13/03/2024", ("2024-03-13",)), ("3/13/2024", ("2024-03-13",)),
    ("01-03-2024", ("2024-01-03", "2024-03-01")), ("2024/03/01", ("2024-03-01",)),
    ("2024-03-01 00:00:00", ("2024-03-01",)), ("2024-03-01 12:00:00", ()), ("31.02.2024", ()), ("2024-03-01", ("2024-03-01",)),
    ("2024-3-1", ("2024-03-01",)),
    ("1/2", ()), ("13/13/2024", ()),
    # two-digit years, as Excel's window reads them: 00–29 this century, 30–99 the last
    ("01.03.24", ("2024-03-01",)), ("1.3.99", ("1999-03-01",)), ("3/1/24", ("2024-03-01", "2024-01-03")),
    ("12/24/29", ("2029-12-24",)), ("12/24/30", ("1930-12-24",)), ("31.02.24", ()),
])
def test_the_dates_a_rendering_stands_for(cell: str, expected: tuple[str, ...]) -> None:
    assert excel_dates.readings(cell) == expected


@pytest.mark.parametrize("cell, missing, first, count", [
    ("Mar-24", "day", "2024-03-01", 31), ("Feb-24", "day", "2024-02-01", 29), ("march 1999", "day", "1999-03-01", 31),
    ("Mrz. 24", "day", "2024-03-01", 31), ("4-Mar", "year", "1930-03-04", 100), ("29. Feb", "year", "1932-02-29", 25),
])
def test_the_dates_a_partial_rendering_may_stand_for(cell: str, missing: str, first: str, count: int) -> None:
    """Every day of the month (Mar-24), or the day in each year of Excel's window (4-Mar, leap years only for
    29 February); not read as one date."""
    assert excel_dates.readings(cell) == ()
    found = excel_dates._partial(cell)
    assert found is not None and found[0] == missing and found[1][0] == first and len(found[1]) == count
    assert excel_dates._partial("Foo-24") is None and excel_dates._partial("4-Foo") is None


@pytest.mark.parametrize("cell, missing", [("Feb-25", "day"), ("30-Jan", "year")])
def test_a_partial_rendering_nothing_proves_rejects_its_row(dated: Store, tmp_path: Path, cell: str, missing: str) -> None:
    """The ERP moved d1's date after the export and the sheet carries no version: neither the exported nor the
    shown date proves which date Excel's partial rendering stood for, so the row is refused (kept in the
    quarantine with the raw row) rather than a wrong date stored."""
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    drop_version(out)
    excel_saves(out, {("d1", DATE): cell, ("d1", "name:en_US"): "Drill one"})
    erp_changes(dated, tmp_path, [{"sku": "d1", "values": {DATE: "2025-01-31"}}])
    counts = import_content(out, dated)
    assert (counts.updated, counts.unchanged, counts.rejected) == (0, 2, 1)
    entry = dated.quarantined(counts.job_id, open_only=False)[0]
    assert (entry["record_key"], entry["field"]) == ("d1", DATE)
    assert entry["reason"] == (
        f"{DATE}: Excel wrote this date as {cell}, which leaves out the {missing} — format the column as Text and "
        "type the date as YYYY-MM-DD before saving, or use the .xlsx download")
    assert shows(dated, "d1", DATE) == ("2025-01-31", "erp") and shows(dated, "d1", "name:en_US") == ("1-2", "erp")


def test_a_partial_rendering_of_the_shown_date_is_no_edit_beside_a_real_edit(dated: Store, tmp_path: Path) -> None:
    """Both drills' dates are in March 2024: each row's version proves which day its Mar-24 stood for, so
    neither date changes, while the team's new name for d1 goes in."""
    out = tmp_path / "drills.csv"
    export(dated, out, columns=COLUMNS)
    excel_saves(out, {("d1", DATE): "Mar-24", ("d1", "name:en_US"): "Drill one", ("d2", DATE): "Mar-24"})
    counts = import_content(out, dated)
    assert (counts.updated, counts.unchanged, counts.rejected) == (1, 2, 0)
    assert shows(dated, "d1", "name:en_US") == ("Drill one", "content")
    assert shows(dated, "d1", DATE) == ("2024-03-01", "erp") and shows(dated, "d2", DATE) == ("2024-03-04", "erp")
