"""XLSX cells openpyxl's streaming mode reads as empty though the sheet shows (or means) a value: a formula no
program calculated, and the cells of a merged range. Found exploring the supplier importer: an empty cell
clears a value, so both wiped the supplier's stored value."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from importers.content import import_content
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.errors import InputError
from pim.product import Product
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.test_supplier_table import MAP, STRUCTURE

HEADER = ["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis", "Datum"]
ON_ROW_2 = MAP.model_copy(update={"header_row": 2})
#: Two names side by side, so a merged range can span columns the profile reads.
NAMES = SupplierTableMap(source="supplier:acme", pid_column="Art-Nr", family="electrical",
                         columns={"Name DE": "name:de_DE", "Name EN": "name:en_US", "Hersteller": "manufacturer"})
SAVE_IT = "open and save the workbook in Excel or LibreOffice so its values are calculated, or export CSV"


@pytest.fixture
def sstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


def _workbook(path: Path, rows: list[list[Any]], merged: tuple[str, ...] = ()) -> Path:
    """A workbook as openpyxl writes it: formulas (text starting with =) with no calculated value."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    for cells in merged:
        ws.merge_cells(cells)
    wb.save(path)
    return path


def _acme(path: Path, rows: list[list[Any]], merged: tuple[str, ...] = ()) -> Path:
    """The supplier's price list: a title row, the header in row 2, products from row 3."""
    return _workbook(path, [["Lieferant ACME Preisliste"], HEADER, *rows], merged)


def _rewritten(path: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    change(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def _with_cell(path: Path, ref: str, xml: str, part: str = "xl/worksheets/sheet1.xml") -> Path:
    """The workbook with cell `ref` written as `xml` (a cached value, a formula without <v>) in its sheet."""
    def change(parts: dict[str, bytes]) -> None:
        sheet, count = re.subn(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)', xml, parts[part].decode())
        assert count == 1, f"no cell {ref} in {part}"
        parts[part] = sheet.encode()

    return _rewritten(path, change)


def _values(store: Store, identifier: str) -> dict[str, Any]:
    product = store.get_product(identifier)
    assert product is not None, f"no product {identifier}"
    return product.values


def _rejections(store: Store, job_id: int | None) -> dict[int, dict[str, Any]]:
    return {e["line"]: e for e in store.quarantined(job_id)}


def test_a_formula_with_no_saved_value_rejects_its_row_instead_of_clearing_the_value(sstore: Store,
                                                                                      tmp_path: Path) -> None:
    import_supplier_table(_acme(tmp_path / "first.xlsx", [["1001", "4006381333931", "Relais", 0.25, "ACME", 12.5]]),
                          sstore, ON_ROW_2)
    path = _acme(tmp_path / "acme.xlsx", [["1001", "4006381333931", '=UPPER("relais")', 0.25, "ACME", 13.5],
                                          ["1002", None, "Schalter", 2, "ACME", 3.5, "=TODAY()"]])
    counts = import_supplier_table(path, sstore, ON_ROW_2)
    assert (counts.created, counts.rejected) == (1, 1)
    entry = _rejections(sstore, counts.job_id)[3]
    assert (entry["field"], entry["record_key"]) == ("Bezeichnung", "1001")
    assert entry["reason"] == f"cell C3 holds a formula with no saved value: {SAVE_IT}"
    relais = _values(sstore, "1001")
    assert relais["name:de_DE"] == "Relais" and relais["price"] == {"EUR": "12.50"}
    # a formula in a column the profile does not read (Datum) means nothing to the import
    assert _values(sstore, "1002")["name:de_DE"] == "Schalter"


def test_a_formula_with_a_saved_value_imports_that_value(sstore: Store, tmp_path: Path) -> None:
    """What counts as saved: any <v>, or an empty one of a text result (Excel's ="" ). openpyxl writes <v></v>
    for a number formula it never calculated; other writers leave <v> out."""
    path = _acme(tmp_path / "acme.xlsx", [["1001", None, "=A3", 1, "ACME", "=10+2.5"],
                                          ["1002", None, "=A4", 1, "ACME", 1],
                                          ["1003", None, "=A5", 1, "ACME", 1],
                                          ["1004", None, "Lampe", 1, '=""', 1]])
    _with_cell(path, "C3", '<c r="C3" t="str"><f>"Relais "&amp;A3</f><v>Relais 1001</v></c>')
    _with_cell(path, "F3", '<c r="F3"><f>10+2.5</f><v>12.5</v></c>')
    _with_cell(path, "C4", '<c r="C4"><f>A4</f></c>')
    _with_cell(path, "E6", '<c r="E6" t="str"><f>""</f><v></v></c>')
    counts = import_supplier_table(path, sstore, ON_ROW_2)
    relais = _values(sstore, "1001")
    assert relais["name:de_DE"] == "Relais 1001" and relais["price"] == {"EUR": "12.50"}
    assert "manufacturer" not in _values(sstore, "1004")
    rejected = _rejections(sstore, counts.job_id)
    assert {line: e["field"] for line, e in rejected.items()} == {4: "Bezeichnung", 5: "Bezeichnung"}
    assert sstore.get_product("1002") is None and sstore.get_product("1003") is None


def test_a_merged_range_gives_the_cells_below_its_top_left_value_not_those_right_of_it(sstore: Store,
                                                                                         tmp_path: Path) -> None:
    """Since round 31 a range merged across columns no longer copies its text into the next column (a German
    name was stored as the English one, a long text as the ETIM class)."""
    path = _workbook(tmp_path / "names.xlsx", [["Art-Nr", "Name DE", "Name EN", "Hersteller"],
                                               ["1001", "Relais", None, "ACME"],
                                               ["1002", None, None, None],
                                               ["1003", "Schalter", "Switch", "Bolt"]], ("B2:C3", "D2:D3"))
    counts = import_supplier_table(path, sstore, NAMES)
    assert (counts.created, counts.rejected) == (3, 0)
    for pid in ("1001", "1002"):
        values = _values(sstore, pid)
        assert (values["name:de_DE"], values["manufacturer"]) == ("Relais", "ACME") and "name:en_US" not in values
    assert _values(sstore, "1003")["name:en_US"] == "Switch"


def test_a_merged_range_never_clears_what_the_supplier_said_before(sstore: Store, tmp_path: Path) -> None:
    rows = [["Art-Nr", "Name DE", "Name EN", "Hersteller"], ["1001", "Relais", "Relay", "ACME"],
            ["1002", "Schalter", "Switch", "ACME"]]
    import_supplier_table(_workbook(tmp_path / "first.xlsx", rows), sstore, NAMES)
    counts = import_supplier_table(_workbook(tmp_path / "again.xlsx", rows, ("D2:D3",)), sstore, NAMES)
    assert counts.unchanged == 2
    assert _values(sstore, "1002")["manufacturer"] == "ACME"


def test_a_header_merged_over_two_rows_names_its_column(sstore: Store, tmp_path: Path) -> None:
    path = _workbook(tmp_path / "acme.xlsx", [["Art-Nr", "Artikel"], [None, "Bezeichnung"], ["1001", "Relais"]],
                     ("A1:A2",))
    counts = import_supplier_table(path, sstore, ON_ROW_2)
    assert (counts.created, counts.rejected) == (1, 0)
    assert _values(sstore, "1001")["name:de_DE"] == "Relais"


def test_a_merged_top_left_formula_with_no_saved_value_rejects_every_row_it_covers(sstore: Store,
                                                                                    tmp_path: Path) -> None:
    path = _workbook(tmp_path / "names.xlsx", [["Art-Nr", "Name DE", "Name EN", "Hersteller"],
                                               ["1001", "Relais", "Relay", '=UPPER("acme")'],
                                               ["1002", "Schalter", "Switch", None]], ("D2:D3",))
    counts = import_supplier_table(path, sstore, NAMES)
    rejected = _rejections(sstore, counts.job_id)
    assert {line: (e["field"], e["record_key"]) for line, e in rejected.items()} == {
        2: ("Hersteller", "1001"), 3: ("Hersteller", "1002")}
    assert rejected[3]["reason"].startswith("cell D2 holds a formula with no saved value")


def test_a_header_formula_with_no_saved_value_refuses_the_file(sstore: Store, tmp_path: Path) -> None:
    """Read as empty, it would hide the column: the file imported without the supplier's names."""
    path = _acme(tmp_path / "acme.xlsx", [["1001", "4006381333931", "Relais", 0.25, "ACME", 12.5]])
    _with_cell(path, "C2", '<c r="C2"><f>"Bezeich"&amp;"nung"</f></c>')
    with pytest.raises(InputError, match="header cell C2 holds a formula with no saved value") as caught:
        import_supplier_table(path, sstore, ON_ROW_2)
    assert caught.value.line == 2 and caught.value.hint == SAVE_IT
    assert sstore.get_product("1001") is None


def test_the_profile_s_sheet_is_scanned_wherever_the_package_puts_it(sstore: Store, tmp_path: Path) -> None:
    """The sheet named `Artikel`, second in the workbook, lives in sheet1.xml: found through workbook.xml and
    its relationships, not by its position."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Info"
    wb.active.append(["Art-Nr", "Name DE", "Name EN", "Hersteller"])
    sheet = wb.create_sheet("Artikel")
    for row in (["Art-Nr", "Name DE", "Name EN", "Hersteller"], ["1001", "Relais", "Relay", "ACME"],
                ["1002", "Schalter", "Switch", None]):
        sheet.append(row)
    sheet.merge_cells("D2:D3")
    path = tmp_path / "two.xlsx"
    wb.save(path)

    def swap(parts: dict[str, bytes]) -> None:
        one, two = "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"
        parts[one], parts[two] = parts[two], parts[one]
        rels = parts["xl/_rels/workbook.xml.rels"].decode()
        parts["xl/_rels/workbook.xml.rels"] = rels.replace("sheet1.xml", "@").replace("sheet2.xml", "sheet1.xml") \
            .replace("@", "sheet2.xml").encode()

    _rewritten(path, swap)
    counts = import_supplier_table(path, sstore, NAMES.model_copy(update={"sheet": "Artikel"}))
    assert (counts.created, counts.rejected) == (2, 0)
    assert _values(sstore, "1002")["manufacturer"] == "ACME"


def test_a_sheet_written_with_a_namespace_prefix_is_scanned_too(sstore: Store, tmp_path: Path) -> None:
    """Some writers spell every element <x:row>, <x:f>: the same sheet to the reader."""
    path = _workbook(tmp_path / "names.xlsx", [["Art-Nr", "Name DE", "Name EN", "Hersteller"],
                                               ["1001", "Relais", "Relay", "ACME"],
                                               ["1002", '=UPPER("schalter")', "Switch", None]], ("D2:D3",))

    def prefixed(parts: dict[str, bytes]) -> None:
        xml = re.sub(r"<(/?)([A-Za-z]+)(?=[\s/>])", r"<\1x:\2", parts["xl/worksheets/sheet1.xml"].decode())
        parts["xl/worksheets/sheet1.xml"] = xml.replace(' xmlns="', ' xmlns:x="', 1).encode()

    _rewritten(path, prefixed)
    counts = import_supplier_table(path, sstore, NAMES)
    assert [(e["line"], e["field"]) for e in sstore.quarantined(counts.job_id)] == [(3, "Name DE")]
    assert _values(sstore, "1001")["manufacturer"] == "ACME"


def test_a_sheet_cut_off_mid_way_imports_none_of_its_rows(sstore: Store, tmp_path: Path) -> None:
    """Its merged ranges, listed after the cells, are lost with the cut: the rows before it cannot be read
    as the sheet shows them, so none is taken in."""
    path = _acme(tmp_path / "acme.xlsx", [[f"r{n}", None, "Relais"] for n in range(1, 6)])

    def cut(parts: dict[str, bytes]) -> None:
        xml = parts["xl/worksheets/sheet1.xml"]
        parts["xl/worksheets/sheet1.xml"] = xml[: xml.index(b'<row r="5"') + 12]

    _rewritten(path, cut)
    sstore.batch_size = 1  # each row its own batch: a row read before the break would be written
    with pytest.raises(InputError, match="broken after row 4") as caught:
        import_supplier_table(path, sstore, ON_ROW_2)
    assert caught.value.line == 5
    assert sstore.get_product("r1") is None


def _content(store: Store, path: Path, rows: list[list[Any]], merged: tuple[str, ...] = ()) -> Any:
    return import_content(_workbook(path, rows, merged), store)


def test_the_content_sheet_rejects_a_formula_with_no_saved_value(tiny_store: Store, tmp_path: Path) -> None:
    tiny_store.upsert_products([Product(identifier="d1", family="drills", values={"sku": "d1"})])
    _content(tiny_store, tmp_path / "first.xlsx", [["sku", "name:en_US"], ["d1", "Drill"]])
    counts = _content(tiny_store, tmp_path / "again.xlsx", [["sku", "name:en_US"], ["d1", '=UPPER("drill")']])
    [entry] = tiny_store.quarantined(counts.job_id)
    assert (entry["line"], entry["field"], entry["record_key"]) == (2, "name:en_US", "d1")
    assert entry["reason"] == f"cell B2 holds a formula with no saved value: {SAVE_IT}"
    assert _values(tiny_store, "d1")["name:en_US"] == "Drill"


def test_the_content_sheet_reads_a_formula_s_saved_value(tiny_store: Store, tmp_path: Path) -> None:
    tiny_store.upsert_products([Product(identifier=s, family="drills", values={"sku": s}) for s in ("d1", "d2")])
    path = _workbook(tmp_path / "c.xlsx", [["sku", "name:en_US"], ["d1", '="Drill "&A2'], ["d2", '="Drill "&A3']])
    _with_cell(path, "B2", '<c r="B2" t="str"><f>"Drill "&amp;A2</f><v>Drill d1</v></c>')
    counts = import_content(path, tiny_store)
    assert (counts.updated, counts.rejected) == (1, 1)
    assert _values(tiny_store, "d1")["name:en_US"] == "Drill d1"
    assert [e["record_key"] for e in tiny_store.quarantined(counts.job_id)] == ["d2"]


def test_the_content_sheet_gives_merged_cells_below_the_top_left_its_value(tiny_store: Store, tmp_path: Path) -> None:
    tiny_store.upsert_products([Product(identifier=s, family="drills", values={"sku": s}) for s in ("d1", "d2", "d3")])
    counts = _content(tiny_store, tmp_path / "c.xlsx", [["sku", "name:en_US", "name:de_DE"], ["d1", "Drill", None],
                                                       ["d2", None, None], ["d3", "Saw", "Säge"]], ("B2:C3",))
    assert (counts.updated, counts.rejected) == (3, 0)
    for sku in ("d1", "d2"):
        values = _values(tiny_store, sku)
        assert values["name:en_US"] == "Drill" and "name:de_DE" not in values  # the range's column right of it: none


def test_an_akeneo_sheet_with_a_formula_with_no_saved_value_is_refused(store: Store, tmp_path: Path) -> None:
    """The Akeneo reader takes rows only: the file is refused, naming the cell, before a product is written."""
    from importers.akeneo import import_akeneo
    from tests.test_akeneo_xlsx import _minimal_xlsx

    folder = _minimal_xlsx(tmp_path)
    _workbook(folder / "products.xlsx", [["sku", "family", "enabled", "name"], ["x-1", "webcams", 1, "Cam One"],
                                         ["x-2", "webcams", 1, '=UPPER("cam two")']])
    with pytest.raises(InputError, match="cell D3 holds a formula with no saved value") as refused:
        import_akeneo(folder, store)
    assert (refused.value.file, refused.value.line, refused.value.field) == ("products.xlsx", 3, "name")
    assert store.count_products() == 0
