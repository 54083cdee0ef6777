"""Round 30: a file in another encoding than its map says. A UTF-8 CSV (no byte order mark) under a map or
profile saying cp1252 was stored as mojibake (`Größe` → `GrÃ¶ÃŸe`) with exit 0, by the ERP, supplier and
content importers alike; it is refused naming the file, the encoding and the fix. A UTF-16 JSON file under a
content profile saying utf-16 was told to set utf-16 in the profile: JSON is read as UTF-8."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from importers.content import ContentProfile, import_content
from importers.erp_csv import CsvRows, ErpCsvMap, import_erp_csv
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.errors import InputError
from pim.sources import open_text
from pim.store import Store
from tests.source_data import seed_structure
from tests.test_erp_csv import write

ERP = ErpCsvMap(delimiter=";", encoding="cp1252", sku_column="Material", family="tool",
                columns={"Bezeichnung": "name:de_DE"})
ERP_ROWS = ["Material;Bezeichnung", "A1;Bohrer", "A2;Größe Ärmel", "A3;Säge"]


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    return write(path, lines, encoding)


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def test_a_utf8_erp_file_under_a_cp1252_map_is_refused_before_anything_is_imported(seeded: Store, tmp_path: Path):
    path = _write(tmp_path / "erp.csv", ERP_ROWS)
    with pytest.raises(InputError, match="reads as UTF-8") as err:
        import_erp_csv(path, seeded, ERP)
    e = err.value
    assert e.file == str(path) and e.line == 3
    assert "line 3: 'Größe'" in str(e) and "cp1252" in str(e) and "'GrÃ¶ÃŸe'" in str(e)
    assert "encoding: utf-8" in (e.hint or "") and "re-save the file as cp1252" in (e.hint or "")
    assert seeded.count_products() == 0  # A1 (plain ASCII, before it) neither


def test_the_same_file_imports_under_utf8_and_its_cp1252_copy_under_cp1252(seeded: Store, tmp_path: Path):
    """Guard (passes before the change too): the check refuses only the mismatch."""
    import_erp_csv(_write(tmp_path / "erp.csv", ERP_ROWS), seeded, ERP.model_copy(update={"encoding": "utf-8"}))
    assert seeded.get_product("A2").values["name:de_DE"] == "Größe Ärmel"
    import_erp_csv(_write(tmp_path / "ansi.csv", [*ERP_ROWS, "A4;Maß"], "cp1252"), seeded, ERP)
    assert seeded.get_product("A4").values["name:de_DE"] == "Maß"


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso-8859-15", "mac_roman"])
def test_every_single_byte_encoding_gets_the_check(tmp_path: Path, encoding: str):
    path = _write(tmp_path / "erp.csv", ERP_ROWS)
    with pytest.raises(InputError, match=f"reads as UTF-8 .*not {encoding}"):
        list(CsvRows(path, ERP.model_copy(update={"encoding": encoding})))


def test_a_utf8_file_holding_a_byte_cp1252_leaves_undefined_gets_the_same_message(tmp_path: Path):
    """'Á' is C3 81 in UTF-8, and 0x81 is no cp1252 character: it was "byte 0x81 cannot be decoded"."""
    path = _write(tmp_path / "erp.csv", ["Material;Bezeichnung", "A1;Ásbrú"])
    with pytest.raises(InputError, match="reads as UTF-8 \\(e.g. line 2: 'Ásbrú'\\)"):
        list(CsvRows(path, ERP))


def test_a_utf8_umlaut_past_the_first_blocks_is_refused_before_its_block_is_decoded(seeded: Store, tmp_path: Path):
    """The file is checked block by block as it is read (never read twice): rows before the first umlaut are
    plain ASCII, the same in either encoding; nothing garbled is stored."""
    rows = [f"B{n:05d};Bohrer {n}" for n in range(3000)]  # ~50 KB of ASCII, several blocks
    path = _write(tmp_path / "erp.csv", ["Material;Bezeichnung", *rows, "Z1;Größe"])
    with pytest.raises(InputError, match="line 3002: 'Größe'") as err:
        import_erp_csv(path, seeded, ERP)
    assert err.value.line == 3002
    assert seeded.get_product("Z1") is None


def test_a_cp1252_file_with_ascii_head_and_umlauts_later_imports(tmp_path: Path):
    """Guard (passes before the change too): the first block that is no UTF-8 ends the check."""
    rows = [f"B{n:05d};Bohrer {n}" for n in range(3000)]
    path = _write(tmp_path / "erp.csv", ["Material;Bezeichnung", *rows, "Z1;Größe Ärmel"], "cp1252")
    *_, last = CsvRows(path, ERP)
    assert last == (3002, ["Z1", "Größe Ärmel"])


@pytest.mark.parametrize("kind", ["price_list", "stock"])
def test_price_and_stock_files_get_the_check(seeded: Store, tmp_path: Path, kind: str):
    m = ErpCsvMap(kind=kind, delimiter=";", encoding="cp1252", sku_column="Material", defaults={"currency": "EUR"},
                  columns={"Kunde": "customer", "Preis": "price"} if kind == "price_list" else
                  {"Lager": "warehouse", "Menge": "quantity"})
    head = "Material;Kunde;Preis" if kind == "price_list" else "Material;Lager;Menge"
    path = _write(tmp_path / f"{kind}.csv", [head, "A1;Müller;5", "A2;X;6"])
    with pytest.raises(InputError, match="line 2: 'Müller'"):
        import_erp_csv(path, seeded, m)


def test_a_utf8_supplier_csv_under_a_cp1252_profile_is_refused(seeded: Store, tmp_path: Path):
    m = SupplierTableMap(source="supplier:bolt", pid_column="Artikelnummer", delimiter=";", encoding="cp1252",
                         unmatched="create", columns={"Bezeichnung": "name:de_DE"})
    path = _write(tmp_path / "bolt.csv", ["Artikelnummer;Bezeichnung", "P1;Schraube", "P2;Unterlegscheibe Ø6"])
    with pytest.raises(InputError, match="reads as UTF-8 \\(e.g. line 3: 'Ø6'\\)") as err:
        import_supplier_table(path, seeded, m)
    assert err.value.file == str(path)
    assert seeded.count_products() == 0


def test_a_utf8_content_csv_under_a_cp1252_profile_is_refused(seeded: Store, tmp_path: Path):
    path = _write(tmp_path / "c.csv", ["sku;name:de_DE", "A1;Größe"])
    with pytest.raises(InputError, match="reads as UTF-8 \\(e.g. line 2: 'Größe'\\)"):
        import_content(path, seeded, ContentProfile(encoding="cp1252", delimiter=";", unmatched="create"))
    assert seeded.get_product("A1") is None


def test_a_utf8_bom_under_a_cp1252_map_is_still_read_as_utf8(tmp_path: Path):
    """Guard (passes before the change too): a byte order mark says UTF-8 outright (round 28)."""
    path = tmp_path / "erp.csv"
    path.write_bytes(codecs.BOM_UTF8 + "Material;Bezeichnung\r\nA2;Größe\r\n".encode())
    assert list(CsvRows(path, ERP)) == [(2, ["A2", "Größe"])]


def test_a_pure_ascii_file_opens_under_any_single_byte_encoding(tmp_path: Path):
    """Guard (passes before the change too)."""
    path = _write(tmp_path / "a.csv", ["sku;name", "A1;Drill"])
    with open_text(path, "cp1252") as handle:
        assert handle.read() == "sku;name\r\nA1;Drill\r\n"


def test_a_utf16_json_file_is_told_json_is_read_as_utf8_whatever_the_profile_says(seeded: Store, tmp_path: Path):
    """The hint was "set encoding: utf-16 in the profile" while the profile already said so: a loop."""
    path = tmp_path / "c.jsonl"
    path.write_bytes('{"sku": "A1", "values": {"name:de_DE": "Größe"}}\n'.encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16 byte order mark, but JSON files are read as UTF-8") as err:
        import_content(path, seeded, ContentProfile(encoding="utf-16", unmatched="create"))
    assert err.value.hint == "save the file as UTF-8 and import it again"
