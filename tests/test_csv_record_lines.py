"""A CSV record whose quoted cell runs over several lines (a description with line breaks) is named by the line
it starts on, the line of its first cell, in every importer's rejections and problems: it was named by its
last line, which is not where a user looks for it. Later records keep their own lines, blank lines too."""

from __future__ import annotations

import io
from pathlib import Path

from importers.akeneo import import_akeneo
from importers.content import import_content
from importers.csv_records import csv_records
from importers.supplier_table import import_supplier_table
from pim.store import Store
from tests.test_akeneo import _export, _rejects
from tests.test_content_import import seeded  # noqa: F401  (fixture)
from tests.test_erp_csv import HEADER, run, write
from tests.test_supplier_table import MAP as SUPPLIER_MAP
from tests.test_supplier_table import _csv, sstore  # noqa: F401  (fixture)

#: a one-line row, then a description over three lines
GOOD = "A1;4006381333931;Bohrer X100;1,250;KGM;1.299,00;1399,5;ST;1;10;A"
LONG = 'A2;4006381333948;"Säge\r\nmit Griff\r\n(Holz)";0,8;KGM;49,90;;ST;5;1;P'


def lines_of(store: Store, job_id: int) -> dict[str | None, list[int]]:
    """The lines of a job's quarantine entries (rejections and problems), by record key."""
    found: dict[str | None, list[int]] = {}
    for entry in store.quarantined(job_id):
        found.setdefault(entry["record_key"], []).append(entry["line"])
    return found


def test_a_record_is_numbered_by_the_line_of_its_first_cell_and_later_ones_keep_theirs():
    text = 'sku;note\r\nA1;"one\r\ntwo\r\nthree"\r\n\r\nA2;x\r\n\r\nA3;"four\nfive"\nA4;y\n'
    records = list(csv_records(io.StringIO(text, newline=""), "f.csv", delimiter=";"))
    assert [(line, cells[:1]) for line, cells in records] == [
        (1, ["sku"]), (2, ["A1"]), (5, []), (6, ["A2"]), (7, []), (8, ["A3"]), (10, ["A4"])]


def test_an_erp_row_over_several_lines_is_rejected_and_noted_at_its_first_line(seeded: Store, tmp_path: Path):  # noqa: F811
    ragged = 'A3;"Kabel\r\n3 m";x'  # three cells: rejected
    bad_gtin = LONG.replace("4006381333948", "4006381333949")  # taken in without its GTIN, with a problem entry
    counts = run(seeded, write(tmp_path / "erp.csv", [HEADER, GOOD, bad_gtin, ragged, "A4;;Nagel;;;;;;;;"]))
    assert (counts.read, counts.rejected, counts.problems) == (4, 1, 1)
    assert lines_of(seeded, counts.job_id) == {"A2": [3], "A3": [6]}
    assert seeded.get_product("A2").provenance_of("name:de_DE").ref == "erp.csv:3"  # type: ignore[union-attr]


def test_a_supplier_row_over_several_lines_is_rejected_at_its_first_line(sstore: Store, tmp_path: Path):  # noqa: F811
    path = _csv(tmp_path, ['A1;4006381333931;"Relais\nmit\nSockel";0,25;ACME;12,5', ';;"ohne\nNummer";1;ACME;1',
                           "A3;;Schalter;abc;ACME;1"])
    counts = import_supplier_table(path, sstore, SUPPLIER_MAP)
    assert sorted(e["line"] for e in sstore.quarantined(counts.job_id)) == [5, 7]
    assert sstore.get_product("A1").provenance_of("name:de_DE").ref == "acme.csv:2"  # type: ignore[union-attr]


def test_a_content_row_over_several_lines_is_quarantined_at_its_first_line(seeded: Store, tmp_path: Path):  # noqa: F811
    path = tmp_path / "c.csv"
    path.write_text('sku,name:en_US,ean\nA1,"Drills\nholes",4006381333932\n\nNOPE,"Saws\n\nwood",\n'
                    "A2,One line,\n", encoding="utf-8")
    counts = import_content(path, seeded)
    assert (counts.updated, counts.rejected) == (2, 1)
    assert lines_of(seeded, counts.job_id) == {"A1": [2], "NOPE": [5]}


def test_an_akeneo_row_after_a_multi_line_cell_keeps_its_own_line(store: Store, tmp_path: Path):
    """Guard (passes on the old code too): importers.akeneo_structure numbered records itself from the end
    lines it was given; it takes the start lines now."""
    rows = 'A1;;1;shirts;;;"One\nline\nmore";;;;;;\nA2;;1;shirts;;;Two;;;;;;;extra\na1;;1;shirts;;;"Again\nhere";;;;;;\n'
    counts = import_akeneo(_export(tmp_path, rows), store)
    assert [(line, column) for _, line, column, _ in _rejects(store, counts["job_id"])] == [(5, None), (6, "sku")]
    assert "already appears on line 2" in _rejects(store, counts["job_id"])[1][3]
