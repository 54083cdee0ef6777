"""A newer judgement closes the older quarantine entries it replaces (pim.store.supersede): a bad row read
again is listed once, and a row that could not be keyed, or that left the file, stops being listed once a
run of its file gets through."""

from __future__ import annotations

from pathlib import Path

import pytest

from importers.erp_csv import ErpCsvMap, import_erp_csv, product_items
from pim.errors import InputError
from pim.importing import run_import
from pim.merge import Merger
from pim.store import Store
from tests.source_data import PRECEDENCE, seed_structure, without_unknown_skus
from tests.test_erp_csv import HEADER, MAP, PRICE_MAP, ROWS, run, write

BAD_WEIGHT = ROWS[0].replace("1,250", "zwei")  # A1
NO_SKU = ";4006381333955;Leer;1;KGM;1;1;ST;1;1;A"
BAD_A3 = "A3;4006381333962;Dritter;drei;KGM;1;1;ST;1;1;A"


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def _open(store: Store) -> list[tuple[int, int, str | None, str | None]]:
    return sorted((q["job_id"], q["line"], q["record_key"], q["field"]) for q in store.quarantined())


def _entry(store: Store, job: int, line: int) -> dict:
    [entry] = [q for q in store.quarantined(job, open_only=False) if q["line"] == line]
    return entry


def test_a_bad_row_read_again_is_listed_once(seeded: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", [HEADER, BAD_WEIGHT, ROWS[1], NO_SKU])
    first = run(seeded, path)
    assert _open(seeded) == [(first.job_id, 2, "A1", "Gewicht"), (first.job_id, 4, None, "Material")]
    second = run(seeded, path)
    assert second.rejected == 2
    assert _open(seeded) == [(second.job_id, 2, "A1", "Gewicht"), (second.job_id, 4, None, "Material")]
    for line in (2, 4):  # the first run's entries stay as history, closed by the second run
        old = _entry(seeded, first.job_id, line)
        assert old["superseded_by"] == second.job_id and old["resolved_at"] is not None


def test_a_fixed_file_closes_the_entries_of_rows_it_could_not_key_or_no_longer_has(seeded: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", [HEADER, BAD_WEIGHT, ROWS[1], NO_SKU, BAD_A3])
    first = run(seeded, path)
    assert first.rejected == 3
    write(path, [HEADER, ROWS[0], ROWS[1], NO_SKU.replace(";", "A4;", 1)])  # A1 fixed, SKU filled in, A3 gone
    fixed = run(seeded, path)
    assert (fixed.rejected, fixed.created, fixed.unchanged) == (0, 2, 1)  # A1 and A4 new, A2 as it was
    assert _open(seeded) == []
    assert _entry(seeded, first.job_id, 2)["superseded_by"] is None  # A1 imported cleanly: resolved, not superseded
    assert _entry(seeded, first.job_id, 2)["resolved_at"] is not None
    assert _entry(seeded, first.job_id, 4)["superseded_by"] == fixed.job_id  # the row without a SKU
    assert _entry(seeded, first.job_id, 5)["superseded_by"] == fixed.job_id  # A3, no longer in the file


def test_another_file_or_a_failed_run_supersedes_nothing(seeded: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", [HEADER, ROWS[1], NO_SKU])
    first = run(seeded, path)
    run(seeded, write(tmp_path / "other.csv", [HEADER, ROWS[1]]))  # a clean run of another file
    assert _open(seeded) == [(first.job_id, 3, None, "Material")]
    fixed = write(tmp_path / "e.csv", [HEADER, ROWS[1]])
    structure = seeded.structure()

    def failing():  # every row of the fixed file, then the read fails
        yield from product_items(fixed, ErpCsvMap(**MAP), structure)
        raise InputError("the share went away", file="e.csv")

    with pytest.raises(InputError):
        run_import(seeded, "erp", failing(), structure=structure, merge=Merger(PRECEDENCE, create_missing=True))
    assert seeded.jobs(limit=1)[0]["status"] == "failed"
    assert _open(seeded) == [(first.job_id, 3, None, "Material")]  # not read through: nothing superseded


def test_a_complete_price_list_run_again_lists_its_warning_and_rejection_once(seeded: Store, tmp_path: Path) -> None:
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    m = ErpCsvMap(**PRICE_MAP, complete=True)
    broken = write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;x;5,00;01.01.2026;"])
    import_erp_csv(broken, seeded, m)
    again = import_erp_csv(broken, seeded, m)
    assert sorted((q["job_id"], q["severity"], q["file"]) for q in without_unknown_skus(seeded.quarantined())) == [
        (again.job_id, "rejected", "p.csv"), (again.job_id, "warning", "p.csv")]
    # fixed: its key (customer|sku|currency|min_qty|…) is not the broken row's, the file's run closes it
    fixed = import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;1;5,00;01.01.2026;"]),
                           seeded, m)
    assert without_unknown_skus(seeded.quarantined()) == []
    [old] = [q for q in seeded.quarantined(again.job_id, open_only=False) if q["severity"] == "rejected"]
    assert old["superseded_by"] == fixed.job_id


def test_a_record_rejected_again_from_another_file_of_its_source_is_listed_once(seeded: Store, tmp_path: Path) -> None:
    """As a clean import of a record closes its entries from every file of the source, a newer rejection of
    it replaces the older one (web uploads are kept under a new name each time)."""
    first = run(seeded, write(tmp_path / "monday.csv", [HEADER, BAD_WEIGHT]))
    second = run(seeded, write(tmp_path / "tuesday.csv", [HEADER, ROWS[1], BAD_WEIGHT.replace("zwei", "drei")]))
    assert _open(seeded) == [(second.job_id, 3, "A1", "Gewicht")]
    assert _entry(seeded, first.job_id, 2)["superseded_by"] == second.job_id
