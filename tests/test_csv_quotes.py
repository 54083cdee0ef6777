"""A stray quote that swallows rows, and bytes that do not decode, in every CSV/JSONL reader: the file is refused
naming the line (found exploring the importers: `P1;"Chair` … `P4;24" Monitor` read as one record, P2–P4
neither imported nor quarantined and the job `succeeded`; Akeneo quarantined line 51 of icecat with a stray
quote and lost the 13 rows after it; a byte that does not decode on line 30001 of an ERP CSV named no line)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from importers.akeneo import import_akeneo
from importers.content import import_content
from importers.csv_records import csv_records
from importers.supplier_table import import_supplier_table
from pim.errors import InputError
from pim.store import Store
from tests.conftest import ICECAT
from tests.test_akeneo import _export
from tests.test_content_import import seeded  # noqa: F401  (fixture)
from tests.test_erp_csv import HEADER, ROWS, run, write
from tests.test_supplier_table import MAP as SUPPLIER_MAP
from tests.test_supplier_table import _csv, sstore  # noqa: F401  (fixture)

SWALLOWED = 'sku;name:en_US\nP1;"Chair\nP2;Two\nP3;Three\nP4;24" Monitor\nP5;Five\n'


def records(text: str, delimiter: str = ";") -> list[tuple[int, list[str]]]:
    return list(csv_records(io.StringIO(text, newline=""), "f.csv", delimiter=delimiter))


# ---------------------------------------------------------------- the reader
def test_a_stray_quote_closed_lines_later_by_an_inch_mark_refuses_the_file_naming_where_it_opened():
    with pytest.raises(InputError, match="quote opened on line 2 is not closed properly") as err:
        records(SWALLOWED)
    assert (err.value.file, err.value.line, err.value.field) == ("f.csv", 2, "name:en_US")
    assert "on line 5" in str(err.value) and "' Monitor'" in str(err.value) and "'P1;\"Chair'" in str(err.value)


def test_a_stray_quote_in_an_empty_cell_names_its_column():
    with pytest.raises(InputError, match="line 2 is not closed properly") as err:
        records('sku;weight;name\nP1;1;"\nP2;2;B\nP3;3;"C"x\nP4;4;D\n')
    assert (err.value.line, err.value.field) == (2, "name")


def test_an_unclosed_quote_after_a_multi_line_cell_names_its_own_line():
    with pytest.raises(InputError, match="line 3 is never closed") as err:
        records('sku,name,note\nA1,"two\nlines","broken\nA2,x,y\n', ",")
    assert (err.value.line, err.value.field) == (3, "note")


def test_multi_line_cells_that_close_keep_the_lines_of_later_rows_and_a_slip_after_them_is_read_as_before():
    assert records('a;b;c\r\nA;"l1\r\nl2";"x\r\ny"\r\nB;1;2\r\n') == [
        (1, ["a", "b", "c"]), (2, ["A", "l1\r\nl2", "x\r\ny"]), (5, ["B", "1", "2"])]
    # the multi-line cell closes properly: the space after the next, one-line, cell is a slip
    assert records('a;b;c\nA;"l1\nl2";"x" ;y\nB;1;2\n') == [
        (1, ["a", "b", "c"]), (2, ["A", "l1\nl2", "x ", "y"]), (4, ["B", "1", "2"])]


def test_a_multi_line_cell_closed_with_text_after_its_quote_is_refused_not_guessed():
    # `"l1\nl2" ;y`: a cell over two lines with a slip, or a stray quote and a row `l2" ;y`? Neither is guessed.
    with pytest.raises(InputError, match="line 2 is not closed properly") as err:
        records('a;b;c\nA;"l1\nl2" ;y\nB;1;2\n')
    assert err.value.field == "b"


# ---------------------------------------------------------------- the importers
def test_erp_csv_with_a_stray_quote_is_refused_and_no_row_is_merged(seeded: Store, tmp_path: Path):  # noqa: F811
    row = "{};4006381333955;{};1;KGM;1,00;;ST;1;1;A"
    path = write(tmp_path / "erp.csv", [HEADER, ROWS[0], row.format("B3", '"Bohrer'), row.format("B4", "Zwei"),
                                        row.format("B5", '24" Zoll'), row.format("B6", "Sechs")])
    with pytest.raises(InputError, match="line 3 is not closed properly") as err:
        run(seeded, path)
    assert (err.value.file, err.value.line, err.value.field) == ("erp.csv", 3, "Bezeichnung")
    assert all(seeded.get_product(sku) is None for sku in ("B3", "B4", "B5", "B6"))


def test_supplier_csv_with_a_stray_quote_is_refused(sstore: Store, tmp_path: Path):  # noqa: F811
    path = _csv(tmp_path, ['S1;4006381333931;"Relais;0,25;ACME;12,5', "S2;;Schalter;0,1;ACME;3",
                           'S3;;24" Schiene;1;ACME;9', "S4;;Klemme;0,1;ACME;1"])
    with pytest.raises(InputError, match="line 2 is not closed properly") as err:
        import_supplier_table(path, sstore, SUPPLIER_MAP)
    assert (err.value.line, err.value.field) == (2, "Bezeichnung")
    assert all(sstore.get_product(pid) is None for pid in ("S1", "S2", "S3", "S4"))


def test_content_csv_with_a_stray_quote_is_refused_and_the_name_is_kept(seeded: Store, tmp_path: Path):  # noqa: F811
    path = tmp_path / "content.csv"
    path.write_text('sku,name:en_US\nA1,"Chair\nA2,Two\nB1,24" Monitor\nB2,Five\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2 is not closed properly") as err:
        import_content(path, seeded)
    assert (err.value.line, err.value.field) == (2, "name:en_US")
    assert seeded.get_product("A1").values["name:en_US"] == "DRILL"


def test_akeneo_with_a_stray_quote_is_refused_before_anything_is_written(store: Store, tmp_path: Path):
    folder = _export(tmp_path, 'A1;;1;shirts;;;"One;;;;;;\nA2;;1;shirts;;;Two;;;;;;\nA3;;1;shirts;;;24" TV;;;;;;\n'
                               "A4;;1;shirts;;;Four;;;;;;\n")
    with pytest.raises(InputError, match="line 2 is not closed properly") as err:
        import_akeneo(folder, store)
    assert (err.value.file, err.value.line, err.value.field) == ("products.csv", 2, "name-en_US")
    assert store.get_product("A4") is None and store.get_structure("attribute") == []


def test_akeneo_icecat_with_one_stray_quote_names_its_line_and_the_rows_it_would_take(store: Store, tmp_path: Path):
    folder = tmp_path / "icecat"
    shutil.copytree(ICECAT, folder)
    lines = (folder / "products.csv").read_bytes().split(b"\n")
    lines[50] += b'"'
    (folder / "products.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match="line 51 is not closed properly") as err:
        import_akeneo(folder, store)
    assert err.value.line == 51 and "lines 51-64" in str(err.value)
    assert store.get_product("11858105") is None


def test_akeneo_multi_line_values_keep_the_start_line_of_later_rows(store: Store, tmp_path: Path):
    folder = _export(tmp_path, 'A1;;1;shirts;;;"One\nstill one";;;;;;\nA2;;1;shirts;;;Two;;;;;;;extra\n')
    counts = import_akeneo(folder, store)
    [entry] = store.quarantined(counts["job_id"], severity="rejected")
    assert (entry["file"], entry["line"]) == ("products.csv", 4)
    assert store.get_product("A1").values["name:en_US"] == "One\nstill one"


# ---------------------------------------------------------------- bytes that do not decode
def _latin_row_at(path: Path, line: int, rows: int = 3000) -> Path:
    body = [b"Material;Bezeichnung"] + [b"Z%07d;Name %d" % (i, i) for i in range(2, rows + 1)]
    body[line - 1] = b"Z%07d;N\xe4me" % line
    path.write_bytes(b"\n".join(body) + b"\n")
    return path


def test_an_erp_csv_byte_that_does_not_decode_names_its_line(seeded: Store, tmp_path: Path):  # noqa: F811
    path = _latin_row_at(tmp_path / "erp.csv", 2001)
    with pytest.raises(InputError, match="on line 2001") as err:
        run(seeded, path, encoding="utf-8", columns={"Bezeichnung": "name:de_DE"})
    assert err.value.line == 2001 and "`encoding:`" in (err.value.hint or "")


def test_undecodable_at_counts_across_chunks_and_characters_cut_between_them(tmp_path: Path):
    from pim.sources import undecodable_at

    path = tmp_path / "f.csv"
    head = b"a\n" * 100 + b"x" * ((1 << 20) - 201)  # "ä" (2 bytes) straddles the first 1 MiB chunk's end
    path.write_bytes(head + "ä".encode() + b"\nok\n\xff\n")
    assert undecodable_at(path, "utf-8") == (103, len(head) + 6, b"\xff")
    path.write_bytes(b"a\nb\n" + "ä".encode()[:1])
    assert undecodable_at(path, "utf-8") == (3, 4, b"")
    path.write_bytes("a\nb\n".encode("utf-16"))
    assert undecodable_at(path, "utf-16") is None
