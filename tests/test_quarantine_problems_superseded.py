"""A `problem` entry (a value left out of a record that was taken in) is about a row of a file. Once a later run
of that file is through, a problem still open from before it is about a row that left the file: it is closed,
superseded by that run, as rejections are. Problems that still hold are noted again by the run, and problems
of other files or sources stay open."""

from __future__ import annotations

from pathlib import Path

from pim.store import Store
from tests.test_erp_gtin import BAD, GOOD, OTHER_GOOD, csv_file, erp, seeded  # noqa: F401  (seeded: fixture)


def _open(store: Store) -> list[tuple[str, str, str]]:
    return sorted((p["record_key"], p["file"], p["field"]) for p in store.quarantined(severity="problem"))


def test_a_problem_whose_row_left_the_file_closes_with_the_next_run(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    first = erp(seeded, csv_file(tmp_path / "erp.csv", f"A1;{BAD};10,00;A", f"A2;{OTHER_GOOD};5;A", f"A3;{BAD};1;A"))
    assert _open(seeded) == [("A1", "erp.csv", "EAN"), ("A3", "erp.csv", "EAN")]
    second = erp(seeded, csv_file(tmp_path / "erp.csv", f"A2;{OTHER_GOOD};5;A", f"A3;{BAD};1;A"))
    assert _open(seeded) == [("A3", "erp.csv", "EAN")]  # A1 left the file; A3 is still wrong, noted again
    closed = [p for p in seeded.quarantined(first.job_id, open_only=False, severity="problem")
              if p["record_key"] == "A1"]
    assert [(p["superseded_by"], p["resolved_at"] is not None) for p in closed] == [(second.job_id, True)]
    assert seeded.get_product("A1") is not None  # the record stays: only its note about the old row closes


def test_problems_of_another_file_of_the_source_stay_open(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    erp(seeded, csv_file(tmp_path / "erp.csv", f"A1;{BAD};10,00;A"))
    erp(seeded, csv_file(tmp_path / "more.csv", f"B1;{BAD};3;A"))
    erp(seeded, csv_file(tmp_path / "erp.csv", f"A2;{GOOD};5;A"))
    assert _open(seeded) == [("B1", "more.csv", "EAN")]


def test_a_run_that_fails_closes_nothing(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    import pytest

    from pim.errors import PimError

    erp(seeded, csv_file(tmp_path / "erp.csv", f"A1;{BAD};10,00;A"))
    broken = tmp_path / "erp.csv"
    broken.write_bytes(b"Material;EAN;Preis EUR;Status\nA2;\xff\xfe;1;A\n")
    with pytest.raises(PimError):
        erp(seeded, broken)
    assert _open(seeded) == [("A1", "erp.csv", "EAN")]
