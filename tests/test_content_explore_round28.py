"""Round 28: a content manager's own files through `pim import content`. Each test is a file the team really
writes (Excel's CSV and XLSX habits, pretty-printed JSON, a model code in the SKU field, a file under the wrong
name) that was misread, silently dropped in part, or refused with advice that did not fit."""

from __future__ import annotations

import codecs
from pathlib import Path

import orjson
import pytest
from openpyxl import Workbook, load_workbook

from importers.content import ContentProfile, import_content
from pim import content_sheet
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger
from pim.store import Store
from pim.structure import Attribute, Family
from tests.source_data import ATTRIBUTES, PRECEDENCE, record, seed_structure

BULLETS = ["bullet_1", "bullet_2", "bullet_3"]
SPREAD = ContentProfile(bullets=BULLETS, delimiter=";")


@pytest.fixture
def seeded(store: Store) -> Store:
    """The source tests' structure with three bullet attributes, and products A1, A2 from the ERP."""
    seed_structure(store)
    bullets = [Attribute(code=c, type="text", group="marketing", localizable=True) for c in BULLETS]
    store.put_structure("attribute", bullets)
    store.put_structure("family", [Family(code="tool", attributes=[a.code for a in ATTRIBUTES] + BULLETS)])
    run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1", "name:en_US": "DRILL"}, family="tool"),
                                     "erp.csv", 1) for sku in ("A1", "A2")], merge=Merger(PRECEDENCE))
    return store


def _xlsx(path: Path, *sheets: tuple[str, list[list[object]]], merge: str | None = None) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        if merge:
            ws.merge_cells(merge)
    wb.save(path)
    return path


def _reasons(store: Store, job: int | None) -> dict[str, str]:
    return {e["record_key"]: e["reason"] for e in store.quarantined(job, open_only=False)}


# ---------------------------------------------------------------- Excel's CSV and XLSX habits
def test_bullets_typed_on_separate_lines_of_one_cell_are_separate_bullets(seeded: Store, tmp_path: Path):
    """Alt+Enter in Excel: the three bullets went into bullet_1 as one text, bullet_2 and 3 were cleared."""
    path = tmp_path / "c.csv"
    path.write_text('sku;bullets:en_US\r\nA1;"18 V\r\n2 batteries\nCase"\r\n', encoding="utf-8")
    assert import_content(path, seeded, SPREAD).updated == 1
    values = seeded.get_product("A1").values
    assert [values.get(f"{b}:en_US") for b in BULLETS] == ["18 V", "2 batteries", "Case"]
    _xlsx(tmp_path / "c.xlsx", ("products", [["sku", "bullets:de_DE"], ["A2", "Leicht\nRobust | Günstig"]]))
    assert import_content(tmp_path / "c.xlsx", seeded, SPREAD).updated == 1
    values = seeded.get_product("A2").values
    assert [values.get(f"{b}:de_DE") for b in BULLETS] == ["Leicht", "Robust", "Günstig"]


def test_an_xlsx_header_naming_a_column_twice_is_refused_as_in_csv(seeded: Store, tmp_path: Path):
    """The last of the two columns silently won (an empty one cleared the name); a merged header cell names
    every column it spans, so the cell beside it overwrote the name the same way."""
    twice = _xlsx(tmp_path / "twice.xlsx", ("p", [["sku", "name:de_DE", "name:de_DE"], ["A1", "Bohrer", ""]]))
    with pytest.raises(InputError, match="'name:de_DE' appears twice") as err:
        import_content(twice, seeded)
    assert err.value.line == 1
    merged = _xlsx(tmp_path / "merged.xlsx", ("p", [["sku", "name:de_DE", None], ["A1", "Bohrer", "Zusatz"]]),
                   merge="B1:C1")
    with pytest.raises(InputError, match="appears twice") as err:
        import_content(merged, seeded)
    assert "unmerge" in (err.value.hint or "")
    assert "name:de_DE" not in seeded.get_product("A1").values


def test_empty_unnamed_columns_are_ignored_and_text_under_one_is_rejected_by_its_column(seeded: Store,
                                                                                        tmp_path: Path):
    """Excel's CSV often ends every line in `;;` (a column once typed in): each row was rejected with
    "unknown attribute ''; declare it in the structure first"."""
    path = tmp_path / "c.csv"
    path.write_text("sku;name:de_DE;;\r\nA1;Bohrer;;\r\nA2;Säge;;note\r\n;;;\r\n", encoding="utf-8")
    counts = import_content(path, seeded, SPREAD)
    assert (counts.read, counts.updated, counts.rejected) == (2, 1, 1)
    assert seeded.get_product("A1").values["name:de_DE"] == "Bohrer"
    assert "column 4 holds 'note'" in _reasons(seeded, counts.job_id)["A2"]
    _xlsx(tmp_path / "c.xlsx", ("p", [["sku", None, "name:de_DE"], ["A2", "note", "Säge"]]))
    counts = import_content(tmp_path / "c.xlsx", seeded)
    assert counts.rejected == 1 and "cell B2 holds 'note'" in _reasons(seeded, counts.job_id)["A2"]


def test_a_column_naming_no_attribute_refuses_the_file_with_the_value_key_it_likely_means(seeded: Store,
                                                                                          tmp_path: Path):
    """Every row was rejected with "unknown attribute 'name-de_DE'; declare it in the structure first": advice
    to change the catalog when the column's name is what is wrong."""
    path = tmp_path / "c.csv"
    path.write_text("sku;name-de_DE;Name EN;nmae:en_US;Notiz\r\nA1;Bohrer;Drill;Drill;intern\r\n", encoding="utf-8")
    with pytest.raises(InputError, match="name no attribute") as err:
        import_content(path, seeded, SPREAD)
    message = str(err.value)
    for column, meant in (("name-de_DE", "name:de_DE"), ("Name EN", "name:en_US"), ("nmae:en_US", "name:en_US")):
        assert f"'{column}' (did you mean '{meant}'?)" in message
    assert "'Notiz'" in message and err.value.field == "name-de_DE" and err.value.line == 1
    assert seeded.get_product("A1").values["name:en_US"] == "DRILL"


def test_a_utf8_file_with_its_bom_under_a_cp1252_profile_is_refused_naming_the_encoding(seeded: Store,
                                                                                         tmp_path: Path):
    """Excel's "CSV UTF-8" under a profile for its ANSI CSV: "no 'sku' column" (the BOM read as ï»¿sku), or,
    with the SKU column further right, every row rejected for a column 'ï»¿name:de_DE'."""
    profile = ContentProfile(encoding="cp1252", delimiter=";")
    path = tmp_path / "c.csv"
    path.write_bytes(codecs.BOM_UTF8 + "sku;name:de_DE\r\nA1;Größe\r\n".encode())
    with pytest.raises(InputError, match="byte order mark") as err:
        import_content(path, seeded, profile)
    assert "encoding: utf-8" in (err.value.hint or "")
    path.write_bytes(codecs.BOM_UTF8 + "name:de_DE;sku\r\nGröße;A1\r\n".encode())
    with pytest.raises(InputError, match="byte order mark"):
        import_content(path, seeded, profile)
    assert "name:de_DE" not in seeded.get_product("A1").values


def test_a_header_that_reads_as_one_column_names_the_delimiter_the_file_uses(seeded: Store, tmp_path: Path):
    path = tmp_path / "c.csv"
    path.write_text("sku;name:de_DE\r\nA1;Bohrer\r\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'sku' column") as err:
        import_content(path, seeded)
    assert "separated by ';'" in str(err.value) and "delimiter: ';'" in str(err.value)


def test_an_xlsx_with_its_header_and_no_rows_imports_nothing(seeded: Store, tmp_path: Path):
    """A template with its header only was refused: "no 'sku' column in the first row"."""
    counts = import_content(_xlsx(tmp_path / "t.xlsx", ("p", [["sku", "name:de_DE"], [None, None]])), seeded)
    assert (counts.read, counts.rejected) == (0, 0)


def test_the_profile_names_the_sheet_and_header_row_and_the_refusal_says_where_they_are(seeded: Store,
                                                                                        tmp_path: Path):
    """A notes sheet first and a title above the header: refused with "the first row of the first sheet"; now
    the refusal names the settings, which read the workbook."""
    book = _xlsx(tmp_path / "b.xlsx", ("Anleitung", [["Nur Spalte B ausfüllen"]]),
                 ("Produkte", [["Content Q3"], [], ["sku", "name:de_DE"], ["A1", "Bohrer"]]))
    with pytest.raises(InputError, match="no 'sku' column in row 1 of the first sheet") as err:
        import_content(book, seeded)
    assert "sheet: 'Produkte', header_row: 3" in str(err.value)
    counts = import_content(book, seeded, ContentProfile(sheet="Produkte", header_row=3))
    assert (counts.read, counts.updated) == (1, 1)
    assert seeded.get_product("A1").values["name:de_DE"] == "Bohrer"


def test_a_workbook_with_content_on_several_sheets_is_refused_not_read_in_part(seeded: Store, tmp_path: Path):
    """One sheet per language: the first was imported and the second silently not."""
    book = _xlsx(tmp_path / "b.xlsx", ("Deutsch", [["sku", "name:de_DE"], ["A1", "Bohrer"]]),
                 ("English", [["sku", "name:en_US"], ["A1", "Drill"]]))
    with pytest.raises(InputError, match="sheet 'English' has a 'sku' column too") as err:
        import_content(book, seeded)
    assert err.value.field == "sheet"
    assert import_content(book, seeded, ContentProfile(sheet="English")).updated == 1
    assert seeded.get_product("A1").values["name:en_US"] == "Drill"


def test_the_sheet_export_writes_the_sheet_and_header_row_the_profile_reads(seeded: Store, tmp_path: Path):
    fmt = content_sheet.SheetFormat.of(ContentProfile(sheet="Produkte", header_row=3))
    out = tmp_path / "s.xlsx"
    content_sheet.write_sheet(out, ["sku", "name:en_US", content_sheet.VERSION_COLUMN], [["A1", "DRILL", ""]], fmt)
    wb = load_workbook(out)
    assert wb.sheetnames == ["Produkte"] and wb.active["A3"].value == "sku" and wb.active["B4"].value == "DRILL"


# ---------------------------------------------------------------- JSON
def test_a_json_field_the_import_does_not_read_rejects_the_record_instead_of_dropping_it(seeded: Store,
                                                                                         tmp_path: Path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"sku": "A1", "name": {"en_US": "Drill"}, "material": "steel"}\n'
                     b'{"products": [{"sku": "A2"}]}\n')
    counts = import_content(path, seeded)
    assert (counts.read, counts.updated, counts.rejected) == (2, 0, 2)
    reasons = {e["line"]: e["reason"] for e in seeded.quarantined(counts.job_id)}
    assert "unknown field 'material'" in reasons[1] and '"values"' in reasons[1]
    assert "'products' holds records" in reasons[2]
    assert seeded.get_product("A1").values["name:en_US"] == "DRILL"


def test_pretty_printed_json_objects_are_records(seeded: Store, tmp_path: Path):
    """A file of one indented object (or several, as `jq` prints them) gave a "not valid JSON" rejection per
    line and imported nothing."""
    path = tmp_path / "c.json"
    path.write_bytes(b"\n" + orjson.dumps({"sku": "A1", "name": {"en_US": "Drill"}}, option=orjson.OPT_INDENT_2)
                     + b"\n" + orjson.dumps({"sku": "A2", "nmae": {}}, option=orjson.OPT_INDENT_2) + b"\n")
    counts = import_content(path, seeded)
    assert (counts.read, counts.updated, counts.rejected) == (2, 1, 1)
    assert seeded.get_product("A1").values["name:en_US"] == "Drill"
    [entry] = seeded.quarantined(counts.job_id)
    assert entry["line"] == 8 and "unknown field 'nmae'" in entry["reason"]  # the line the record starts on
    path.write_bytes(orjson.dumps({"sku": "A1"}, option=orjson.OPT_INDENT_2) + b'\n{"sku": "A2", "name": {')
    with pytest.raises(InputError, match="not valid JSON at line 4"):
        import_content(path, seeded)


def test_a_model_code_in_the_sku_field_is_rejected_naming_the_model_field(store: Store, tmp_path: Path):
    from tests.channel_data import seed_products

    seed_products(store)
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"sku": "runner_model", "name": {"en_US": "Trail"}}\n')
    for unmatched in ("quarantine", "create"):
        counts = import_content(path, store, ContentProfile(unmatched=unmatched))
        assert (counts.created, counts.rejected) == (0, 1)
        assert "is a product model, not a product: name it in the 'model' field" in _reasons(store, counts.job_id)[
            "runner_model"]
    assert store.get_product("runner_model") is None


# ---------------------------------------------------------------- files under the wrong name
def test_a_file_whose_bytes_are_another_kind_than_its_name_is_refused_saying_so(seeded: Store, tmp_path: Path):
    book = _xlsx(tmp_path / "b.xlsx", ("p", [["sku", "name:en_US"], ["A1", "Drill"]]))
    for name in ("b.json", "b.xls", "b.csv"):
        (tmp_path / name).write_bytes(book.read_bytes())
        with pytest.raises(InputError, match="XLSX workbook") as err:
            import_content(tmp_path / name, seeded)
        assert ".xlsx" in (err.value.hint or "")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(InputError, match="Excel 97-2003"):
        import_content(tmp_path / "old.xls", seeded)
    (tmp_path / "c.json").write_text("sku;name:en_US\nA1;Drill\n", encoding="utf-8")
    with pytest.raises(InputError, match="reads as a CSV header"):
        import_content(tmp_path / "c.json", seeded)
