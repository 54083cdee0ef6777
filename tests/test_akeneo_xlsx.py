"""Akeneo exports made as XLSX import like the CSV ones (importers.akeneo_structure.flat_file, CsvFile's sheet
rows): Akeneo's demo catalog written as workbooks gives the same products, values and structure, typed cells
(numbers Excel stored as numbers) read as the CSV's texts, a bad row is quarantined with its sheet row, and a
folder holding both kinds of one file is refused."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook

from importers.akeneo import import_akeneo
from importers.akeneo_structure import sheet_text
from pim.errors import InputError
from pim.product import merged_values
from pim.store import Store
from tests.conftest import ICECAT


def as_workbook(src: Path, target: Path, *, typed: bool = False) -> Path:
    """The CSV file `src` as an XLSX at `target` (one sheet). `typed`: digit-only texts without a leading zero
    become number cells, as Excel stores what it takes for numbers."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    with src.open(encoding="utf-8-sig", newline="") as handle:
        for cells in csv.reader(handle, delimiter=";", quotechar='"'):
            ws.append([int(c) if typed and c.isdigit() and not c.startswith("0") and len(c) < 16 else c
                       for c in cells])
    wb.save(target)
    return target


@pytest.fixture(scope="module")
def icecat_xlsx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Akeneo's icecat demo export with every CSV file as an XLSX workbook (typed cells)."""
    folder = tmp_path_factory.mktemp("icecat_xlsx")
    for src in ICECAT.glob("*.csv"):
        as_workbook(src, folder / f"{src.stem}.xlsx", typed=True)
    return folder


def test_icecat_as_xlsx_imports_the_same_catalog_as_its_csv(store: Store, icecat_xlsx: Path) -> None:
    first = import_akeneo(icecat_xlsx, store)
    assert (first["products"], first["product_models"], first["created"], first["rejected"]) == (1239, 81, 1320, 0)
    s = store.structure()
    assert (len(s.attributes), len(s.families), len(s.family_variants), len(s.categories)) == (77, 17, 9, 168)
    assert sorted(s.locales) == ["de_DE", "en_US", "fr_FR"] and sorted(s.currencies) == ["EUR", "USD"]
    tshirt = store.get_product("Tshirt-divided-blue-s")
    assert tshirt is not None
    assert merged_values(tshirt, store.ancestors(tshirt))["price"] == {"EUR": "19.00", "USD": "19.00"}  # its model's
    assert tshirt.values["weight"] == {"amount": "700", "unit": "GRAM"}  # a number cell, read as its digits
    assert tshirt.parent == "model-tshirt-divided-blue" and tshirt.source.ref.startswith("products.xlsx:")
    printer = store.get_product("11704310")  # an identifier Excel took for a number
    assert printer is not None and printer.values["sku"] == "11704310"
    assert printer.values["color_scanning"] is True and printer.values["release_date@ecommerce"] == "2011-11-10"
    dress = store.get_product("1111111149")
    assert dress is not None
    assert merged_values(dress, store.ancestors(dress))["description:en_US@ecommerce"].startswith("Length: Short\nLining:")

    again = import_akeneo(ICECAT, store)  # the CSV export of the same catalog: nothing to change
    assert (again["unchanged"], again["created"], again["updated"], again["structure_changed"]) == (1320, 0, 0, 0)


def test_typed_cells_read_as_akeneos_csv_texts() -> None:
    from datetime import date, datetime

    assert [sheet_text(v) for v in (None, True, False, 4006381333931, 4006381333931.0, 12.5, "0042")] == [
        "", "1", "0", "4006381333931", "4006381333931", "12.5", "0042"]
    assert sheet_text(datetime(2011, 11, 10)) == "2011-11-10" and sheet_text(date(2011, 11, 10)) == "2011-11-10"
    assert sheet_text(datetime(2011, 11, 10, 8, 30)) == "2011-11-10T08:30:00"


def _minimal_xlsx(tmp_path: Path) -> Path:
    """The icecat structure as XLSX with a two-product products.xlsx."""
    folder = tmp_path / "export"
    folder.mkdir()
    for src in ICECAT.glob("*.csv"):
        if src.name not in ("products.csv", "product_models.csv"):
            as_workbook(src, folder / f"{src.stem}.xlsx")
    return folder


def test_a_bad_sheet_row_is_quarantined_with_its_sheet_row_and_the_rest_imports(store: Store, tmp_path: Path) -> None:
    folder = _minimal_xlsx(tmp_path)
    wb = Workbook()
    ws = wb.active
    ws.append(["sku", "family", "enabled", "name", None, None])  # trailing empty header cells are ignored
    ws.append(["x-1", "webcams", 1, "Cam One"])
    ws.append(["x-2", "webcams", "maybe", "Cam Two"])
    ws.append([])  # an empty row is skipped
    ws.append(["x-3", "webcams", 1, "Cam Three", None, "stray"])
    wb.save(folder / "products.xlsx")
    done = import_akeneo(folder, store)
    assert (done["created"], done["rejected"]) == (1, 2)
    rejected = {(r["file"], r["line"]): r["reason"] for r in store.quarantined(done["job_id"], severity="rejected")}
    assert set(rejected) == {("products.xlsx", 3), ("products.xlsx", 5)}
    assert "enabled is 'maybe'" in rejected[("products.xlsx", 3)]
    assert "5 filled cells but the header has 4" in rejected[("products.xlsx", 5)]
    product = store.get_product("x-1")
    assert product is not None and product.values["name"] == "Cam One" and product.enabled


def test_a_repeated_column_in_a_sheet_is_refused_before_anything_is_written(store: Store, tmp_path: Path) -> None:
    folder = _minimal_xlsx(tmp_path)
    wb = Workbook()
    wb.active.append(["sku", "family", "family"])
    wb.active.append(["x-1", "webcams", "webcams"])
    wb.save(folder / "products.xlsx")
    with pytest.raises(InputError, match="column 'family' appears twice") as refused:
        import_akeneo(folder, store)
    assert refused.value.file == "products.xlsx"
    assert store.count_products() == 0 and store.structure().attributes == {}


def test_a_folder_with_both_kinds_of_one_file_is_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "both"
    shutil.copytree(ICECAT, folder)
    as_workbook(ICECAT / "families.csv", folder / "families.xlsx")
    with pytest.raises(InputError, match="both families.csv and families.xlsx") as refused:
        import_akeneo(folder, store)
    assert "keep the export you mean to import" in (refused.value.hint or "")
    assert store.count_products() == 0


def test_a_workbook_that_is_not_one_is_refused_with_what_to_do(store: Store, tmp_path: Path) -> None:
    folder = _minimal_xlsx(tmp_path)
    (folder / "products.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable XLSX workbook") as refused:
        import_akeneo(folder, store)
    assert "export it from Akeneo again" in (refused.value.hint or "")
    assert store.count_products() == 0
