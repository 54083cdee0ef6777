"""Supplier CSV and XLSX as a supplier's data manager sends them (round 29's exploration): each test is a file
that was read wrongly without a word, or refused with a message that sent the user the wrong way."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from importers.erp_values import ValueRule
from importers.supplier_table import import_supplier_table
from pim.errors import InputError
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.test_supplier_table import MAP, STRUCTURE, _csv

HEADER = ["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis"]


@pytest.fixture
def sstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


ON_ROW_2 = MAP.model_copy(update={"header_row": 2})


def _workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    for n, (title, rows) in enumerate(sheets.items()):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = title
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def _sheet_xml(path: Path, change: Callable[[str], str]) -> Path:
    """The workbook with its first sheet's XML rewritten: cells as other programs than openpyxl save them."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    part = "xl/worksheets/sheet1.xml"
    parts[part] = change(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def _reasons(store: Store, job: int | None) -> list[tuple[int | None, str | None, str]]:
    return sorted((e["line"], e["field"], e["reason"]) for e in store.quarantined(job))


# ---------------------------------------------------------------- which sheet
def test_a_second_sheet_with_the_pid_column_refuses_a_profile_without_sheet(sstore: Store, tmp_path: Path) -> None:
    """Products split over two sheets ("Artikel", "Zubehör"): only the first was read, the second silently not."""
    path = _workbook(tmp_path / "acme.xlsx", {"Artikel": [HEADER, ["A1", None, "Relais"]],
                                              "Zubehör": [HEADER, ["Z1", None, "Klemme"]]})
    with pytest.raises(InputError, match="'Zubehör' has a 'Art-Nr' column too") as caught:
        import_supplier_table(path, sstore, MAP)
    assert caught.value.field == "sheet" and "`sheet:`" in (caught.value.hint or "")
    assert sstore.get_product("A1") is None
    counts = import_supplier_table(path, sstore, MAP.model_copy(update={"sheet": "Zubehör"}))
    assert counts.created == 1 and sstore.get_product("Z1") is not None


def test_a_cover_sheet_first_says_where_the_pid_column_is(sstore: Store, tmp_path: Path) -> None:
    """The first sheet is a cover page: the refusal listed the cover's text and asked to check header_row."""
    path = _workbook(tmp_path / "acme.xlsx", {"Deckblatt": [["ACME Preisliste 2024"], ["Stand: März"]],
                                              "Artikel": [["Preise netto"], HEADER, ["A1", None, "Relais"]]})
    with pytest.raises(InputError, match="no 'Art-Nr' column") as caught:
        import_supplier_table(path, sstore, MAP)
    assert "the workbook has it at sheet: 'Artikel', header_row: 2" in str(caught.value)


# ---------------------------------------------------------------- cells as other programs save them
def test_numbers_saved_as_other_programs_write_them_read_as_excel_shows_them(sstore: Store, tmp_path: Path) -> None:
    """Java (Apache POI) and pandas write whole numbers as 1001.0 or 4.006381333931E12, and Excel writes 17 digits
    (0.30000000000000004 for =0.1+0.2). The product was created as '1001,0', its GTIN refused as '4006381333931,0',
    and the weight stored as 0.30000000000000004 kg, where Excel shows 1001, 4006381333931 and 0,3."""
    path = _workbook(tmp_path / "acme.xlsx", {"Artikel": [HEADER, [111111, 222222, "Relais", 333333, "ACME", 444444]]})
    numbers = {"111111": "1001.0", "222222": "4.006381333931E12", "333333": "0.30000000000000004",
               "444444": "11.250000000000002"}

    def written(xml: str) -> str:
        for placeholder, text in numbers.items():
            xml = xml.replace(f"<v>{placeholder}</v>", f"<v>{text}</v>")
        return xml

    counts = import_supplier_table(_sheet_xml(path, written), sstore, MAP)
    assert (counts.created, counts.rejected, counts.problems) == (1, 0, 0), _reasons(sstore, counts.job_id)
    values = sstore.get_product("1001").values
    assert values["ean"] == "4006381333931" and values["net_weight"]["amount"] == "0.3"
    assert values["price"] == {"EUR": "11.25"}


# ---------------------------------------------------------------- rows
def test_the_same_supplier_id_twice_with_other_values_rejects_the_later_row(sstore: Store, tmp_path: Path) -> None:
    """An old row of a product left further down the list: the last row silently won, and its empty cells
    cleared what the first row said."""
    path = _csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5", "A2;;Schütz;1;ACME;3",
                           "A1;4006381333931;Relais alt;;ACME;9,9", "A2;;Schütz;1;ACME;3"])
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.created, counts.rejected) == (2, 1)
    p = sstore.get_product("A1")
    assert p.values["name:de_DE"] == "Relais" and p.values["net_weight"]["amount"] == "0.25"
    [(line, field, reason)] = _reasons(sstore, counts.job_id)
    assert (line, field) == (4, "Art-Nr") and "'A1' is on line 2 too" in reason and "not imported" in reason


def test_rows_below_the_data_with_nothing_the_profile_reads_are_skipped(sstore: Store, tmp_path: Path) -> None:
    """A total column's formula filled down past the last product (Excel saves 0 for each): every such row was
    rejected as "empty supplier product id", hundreds of entries that never close."""
    path = _workbook(tmp_path / "acme.xlsx", {"Artikel": [
        [*HEADER, "Summe"], ["A1", None, "Relais", 0.25, "ACME", 12.5, "=F2*2"],
        *([None] * 6 + [f"=F{n}*2"] for n in range(3, 8)), [None, None, "ohne Nummer", None, None, None, None]]})
    saved = _sheet_xml(path, lambda xml: xml.replace("<v></v>", "<v>0</v>").replace("<v />", "<v>0</v>"))
    counts = import_supplier_table(saved, sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 1)
    [(line, field, reason)] = _reasons(sstore, counts.job_id)
    assert (line, field) == (8, "Art-Nr") and "empty supplier product id" in reason  # a row with a value still is


# ---------------------------------------------------------------- the header against the profile
def test_a_profile_column_the_file_lacks_is_a_warning_naming_the_nearest_header(sstore: Store, tmp_path: Path) -> None:
    """The header says "Gewicht(kg)", the profile "Gewicht (kg)": the weight was silently not imported. (A header
    cell with a line break, Alt+Enter, is read with a space since round 31: tests/test_supplier_onboarding_r31.py.)"""
    columns = {k: v for k, v in MAP.columns.items() if k != "Gewicht"}
    m = MAP.model_copy(update={"columns": {**columns, "Gewicht (kg)": ValueRule(to="net_weight", unit="KILOGRAM")}})
    header = ["Art-Nr", "EAN", "Bezeichnung", "Gewicht(kg)", "Hersteller"]
    path = _workbook(tmp_path / "acme.xlsx", {"Artikel": [header, ["A1", None, "Relais", 0.25, "ACME"]]})
    counts = import_supplier_table(path, sstore, m)
    assert counts.created == 1 and counts.extra.get("unread_map_fields") == 2  # Gewicht (kg) and Preis
    [warning] = sstore.quarantined(counts.job_id)
    assert warning["severity"] == "warning" and "column 'Preis'" in warning["reason"]
    assert "column 'Gewicht (kg)' (the header has 'Gewicht(kg)')" in warning["reason"]


def test_a_column_sent_to_no_attribute_or_two_columns_to_one_value_refuse_the_file(sstore: Store,
                                                                                   tmp_path: Path) -> None:
    """Two columns filling one value: the last one silently won, its empty cell clearing what the first gave.
    A column sent to no attribute rejected every row, one by one, instead of refusing the profile once."""
    twice = MAP.model_copy(update={"columns": {**MAP.columns, "Kurztext": "name:de_DE"}})
    (tmp_path / "two.csv").write_text("Art-Nr;Bezeichnung;Kurztext\nA1;Relais 12 V;\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns 'Bezeichnung' and 'Kurztext' both fill 'name:de_DE'"):
        import_supplier_table(tmp_path / "two.csv", sstore, twice)
    typo = MAP.model_copy(update={"columns": {**MAP.columns, "Bezeichnung": "nmae:de_DE"}})
    with pytest.raises(InputError, match="did you mean 'name'"):
        import_supplier_table(_csv(tmp_path, ["A1;;Relais;1;ACME;1"]), sstore, typo)
    assert sstore.get_product("A1") is None


def test_a_csv_with_a_title_line_above_the_header_says_where_the_header_is(sstore: Store, tmp_path: Path) -> None:
    """The sheet's title exported with it: "no 'Art-Nr' column … check `delimiter: ';'`", though the delimiter
    was right, and the profile's `header_row: 2` (which the XLSX of the same list needs) changed nothing."""
    path = tmp_path / "acme.csv"
    path.write_bytes("ACME Preisliste 2024;;\r\nArt-Nr;EAN;Bezeichnung\r\nA1;;Relais\r\n".encode("cp1252"))
    with pytest.raises(InputError, match="they are on line 2 \\(the profile's `header_row` is for XLSX\\)") as caught:
        import_supplier_table(path, sstore, ON_ROW_2.model_copy(update={"encoding": "cp1252"}))
    assert "delete the lines above the column names" in (caught.value.hint or "")


# ---------------------------------------------------------------- files of another kind than their name
def test_a_workbook_named_csv_is_read_as_the_workbook_it_is(sstore: Store, tmp_path: Path) -> None:
    """A portal or mail program saved the XLSX as .csv: "the file is not utf-8 … set `encoding:`", and with
    cp1252 the header read as the ZIP's bytes."""
    path = _workbook(tmp_path / "acme.xlsx", {"Artikel": [HEADER, ["A1", None, "Relais", 0.25, "ACME", 12.5]]})
    named_csv = path.rename(tmp_path / "acme.csv")
    counts = import_supplier_table(named_csv, sstore, MAP)
    assert counts.created == 1 and sstore.get_product("A1").values["name:de_DE"] == "Relais"
    with pytest.raises(InputError, match="XLSX workbook, but the profile says `format: csv`"):
        import_supplier_table(named_csv, sstore, MAP.model_copy(update={"format": "csv"}))


@pytest.mark.parametrize("name, said", [("acme.xls", "Excel 97-2003 workbook"),
                                        ("acme.xlsx", "saved with a password")])
def test_an_old_or_encrypted_workbook_is_refused_saying_what_it_is(sstore: Store, tmp_path: Path, name: str,
                                                                   said: str) -> None:
    """An .xls (or an .xlsx saved with a password, which Excel stores in the same OLE2 container) was "not utf-8:
    set `encoding:`" or "not a readable XLSX workbook: File is not a zip file"."""
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(InputError, match=said) as caught:
        import_supplier_table(path, sstore, MAP)
    assert "save it as .xlsx" in (caught.value.hint or "")
