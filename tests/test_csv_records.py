"""CSV files with broken quoting, long cells and repeated columns: a clear error naming the line, never rows
silently swallowed into one cell (found exploring the importers: an unterminated quote took every later row
of an ERP or content file into one cell, and the import said `read 1`)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from importers.content import import_content
from importers.csv_records import csv_records
from importers.erp_csv import ErpCsvMap
from pim.errors import InputError
from pim.store import Store
from tests.test_content_import import seeded  # noqa: F401  (fixture)
from tests.test_erp_csv import HEADER, MAP, ROWS, run, write
from tests.test_erp_csv import seeded as seeded_erp  # noqa: F401  (fixture)


def records(text: str) -> list[tuple[int, list[str]]]:
    return list(csv_records(io.StringIO(text, newline=""), "f.csv", delimiter=","))


def test_an_unterminated_quote_names_the_line_it_opened_on():
    with pytest.raises(InputError, match="line 3 is never closed") as err:
        records('sku,name\nA1,ok\nA2,"broken\nA3,x\nA4,y\n')
    assert (err.value.file, err.value.line) == ("f.csv", 3)


def test_quoted_cells_may_hold_lines_delimiters_and_quotes():
    assert records('sku,name\nA1,"two\nlines, and ""quoted"""\nA2,b\n') == [
        (1, ["sku", "name"]), (2, ["A1", 'two\nlines, and "quoted"']), (4, ["A2", "b"])]


def test_a_slip_the_lenient_reader_takes_is_read_as_before_and_the_next_rows_too():
    # a space after a closing quote, a quote right after a quoted cell: the strict reader refuses both
    assert records('sku,name\nA1,"x" \nA2,"y"z\nA3,w\n') == [
        (1, ["sku", "name"]), (2, ["A1", "x "]), (3, ["A2", "yz"]), (4, ["A3", "w"])]


def test_a_cell_longer_than_the_default_limit_is_read():
    long = "x" * 300_000
    assert records(f"sku,name\nA1,{long}\nA2,b\n")[1] == (2, ["A1", long])


def test_an_erp_file_with_an_unterminated_quote_imports_nothing_after_it(seeded: Store, tmp_path: Path):  # noqa: F811
    path = write(tmp_path / "erp.csv", [HEADER, ROWS[0].replace("Bohrer X100", '"Bohrer X100'), ROWS[1]])
    with pytest.raises(InputError, match="line 2 is never closed"):
        run(seeded, path)
    assert seeded.get_product("A2") is None or seeded.get_product("A2").values.get("name:de_DE") != "Säge Ö"


def test_an_erp_file_repeating_a_mapped_column_is_refused(seeded: Store, tmp_path: Path):  # noqa: F811
    path = write(tmp_path / "erp.csv", [HEADER + ";EAN", ROWS[0] + ";4006381333948"])
    with pytest.raises(InputError, match="'EAN' appears twice") as err:
        run(seeded, path)
    assert err.value.field == "EAN"
    # a repeated column the map does not read changes nothing
    other = write(tmp_path / "erp2.csv", [HEADER + ";Notiz;Notiz", ROWS[0] + ";a;b"])
    assert run(seeded, other).read == 1
    assert ErpCsvMap(**MAP).sku_column == "Material"


def test_content_csv_quote_and_header_mistakes_are_refused(seeded: Store, tmp_path: Path):  # noqa: F811
    path = tmp_path / "content.csv"
    path.write_text('sku,name:en_US\nA1,"broken quote\nA2,Next row\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2 is never closed"):
        import_content(path, seeded)
    assert seeded.get_product("A1").values["name:en_US"] == "DRILL"
    path.write_text("sku,name:en_US,name:en_US\nA1,First,Second\n", encoding="utf-8")
    with pytest.raises(InputError, match="'name:en_US' appears twice"):
        import_content(path, seeded)
    path.write_text(f"sku,seo_description:en_US\nA1,{'long text ' * 30_000}\nA2,short\n", encoding="utf-8")
    counts = import_content(path, seeded)
    assert (counts.read, counts.rejected) == (2, 0), seeded.quarantined()
    assert len(seeded.get_product("A1").values["seo_description:en_US"]) > 200_000


def test_a_dos_end_of_file_mark_is_no_record():
    """Found exploring: an old exporter's Ctrl-Z on the last line was a rejected row, "the row has 1 cells"."""
    assert records("sku,name\nA1,ok\n\x1a") == [(1, ["sku", "name"]), (2, ["A1", "ok"]), (3, [])]


def test_an_erp_file_ending_in_ctrl_z_imports_every_row_and_rejects_none(seeded_erp: Store, tmp_path: Path):  # noqa: F811
    path = write(tmp_path / "erp.csv", [HEADER, *ROWS, "\x1a"])
    counts = run(seeded_erp, path)
    assert (counts.read, counts.rejected) == (len(ROWS), 0)
