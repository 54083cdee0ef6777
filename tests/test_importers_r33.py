"""Importer rough edges, round 33. A BMEcat file with deletes, read twice, is refused when it is not the same file
the second time (swapped or truncated between the passes) before anything is written. An ERP CSV product file
naming a SKU on several rows imports the first and rejects the later ones, naming the first one's line, across
batches and fanned-out workers. `pim import … --strict` exits 7 when a row was rejected."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

import importers.bmecat as bmecat
from importers.bmecat import import_bmecat, load_map
from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.erp_repeats import FirstLines, first_rows_only
from pim.cli import _mount, app
from pim.cli.imports import PARTIAL_EXIT, import_each
from pim.errors import InputError, PimError
from pim.importing import ImportCounts, Rejected
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import PRODUCT as PRODUCT_TABLE
from tests.source_data import seed_structure
from tests.test_bmecat import MAP as BMECAT_MAP, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_round25 import PRECEDENCE, _delete, _update, _updates
from tests.test_erp_csv import HEADER, MAP, ROWS, write

pytestmark = pytest.mark.backends("sqlite")  # file handling and row checks: nothing a database decides

_mount()


# ------------------------------------------------------------------ BMEcat: the file read twice is one file
def _products(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(PRODUCT_TABLE)).scalar_one()


def _between_passes(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Run `change` on the file once the first pass (`_last_words`) has read it, before the import's read."""
    real = bmecat._last_words

    def first_pass(path: Path) -> Any:
        plan = real(path)
        change(path)
        return plan

    monkeypatch.setattr(bmecat, "_last_words", first_pass)


def _with_deletes(tmp_path: Path) -> Path:
    return _updates(tmp_path, _update("r1", en="Relay"), _update("r2", en="Other"), _update("r3", en="Third"),
                    _delete("r2"))


def test_a_file_swapped_for_a_truncated_one_between_the_passes_writes_nothing(
        supplier_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The second pass used to trust the first one's structure check: a truncated file renamed over the checked
    one was read unchecked, and the products before the cut were imported."""
    path = _with_deletes(tmp_path)
    cut = path.read_bytes()
    cut = cut[:cut.index(b"<PRODUCT", cut.index(b"Third") - 200)]  # r1 and r2 whole, then the file ends

    def swap(at: Path) -> None:
        (tmp_path / "new.xml").write_bytes(cut)
        os.replace(tmp_path / "new.xml", at)  # another inode under the same name, as an upload or copy lands

    _between_passes(monkeypatch, swap)
    with pytest.raises(InputError, match="changed while it was being imported") as refused:
        import_bmecat(path, supplier_store, load_map(BMECAT_MAP), precedence=PRECEDENCE)
    assert "run the import again" in refused.value.hint
    assert _products(supplier_store) == 0
    assert supplier_store.jobs("import", 1)[0]["status"] == "failed"


def test_a_file_truncated_in_place_between_the_passes_writes_nothing(
        supplier_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The same inode, cut short (a writer that truncates and rewrites): its size no longer matches."""
    path = _with_deletes(tmp_path)
    whole = path.read_bytes()

    def truncate(at: Path) -> None:
        with at.open("r+b") as handle:
            handle.truncate(whole.index(b"Third"))

    _between_passes(monkeypatch, truncate)
    with pytest.raises(InputError, match="changed while it was being imported"):
        import_bmecat(path, supplier_store, load_map(BMECAT_MAP), precedence=PRECEDENCE)
    assert _products(supplier_store) == 0


# ------------------------------------------------------------------ ERP CSV: a SKU on several rows
@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def _repeats(seeded: Store, job: int | None) -> list[dict[str, Any]]:
    return sorted((r for r in seeded.quarantined(job) if "is on line" in r["reason"]), key=lambda r: r["line"])


def test_a_later_row_of_a_sku_is_rejected_naming_the_first_rows_line(seeded: Store, tmp_path: Path) -> None:
    """The last row of a SKU used to win silently. Now the first stands; each later one is quarantined with the
    file, its line, the SKU column and the first row's line, and stays open though the SKU was imported."""
    later = ROWS[0].replace("1.299,00", "1.199,00")
    path = write(tmp_path / "erp.csv", [HEADER, ROWS[0], ROWS[1], later, ROWS[0]])
    counts = import_erp_csv(path, seeded, ErpCsvMap(**MAP))
    assert (counts.read, counts.created, counts.rejected) == (4, 2, 2)
    assert seeded.get_product("A1").values["price"]["EUR"] == "1299.00"
    rows = _repeats(seeded, counts.job_id)
    assert [(r["file"], r["line"], r["field"], r["record_key"]) for r in rows] == [
        ("erp.csv", 4, "Material", "A1"), ("erp.csv", 5, "Material", "A1")]
    assert "on line 2 too" in rows[0]["reason"] and "import the file again" in rows[0]["reason"]


def test_repeats_are_found_across_batches_and_fanned_out_workers(seeded: Store, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows are checked as the file is read, in this process: batches of two, merged by two workers."""
    monkeypatch.setenv("PIM_IMPORT_WORKERS", "2")
    reset_settings()
    seeded.batch_size = 2
    body = [f"B{n};;Teil {n};;;{n},00;;ST;1;1;A" for n in range(8)]
    path = write(tmp_path / "erp.csv", [HEADER, *body, body[1].replace("Teil", "Neu"), body[6]])
    counts = import_erp_csv(path, seeded, ErpCsvMap(**MAP))
    assert (counts.read, counts.created, counts.rejected) == (10, 8, 2)
    assert [(r["line"], r["record_key"]) for r in _repeats(seeded, counts.job_id)] == [(10, "B1"), (11, "B6")]
    assert seeded.get_product("B1").values["name:de_DE"] == "Teil 1"


def test_first_lines_past_memory_go_to_a_spill_file_and_still_answer() -> None:
    """Past IN_MEMORY SKUs the held ones move to a temporary SQLite file: a repeat of a SKU held before, of one
    spilled, and one within a block are all found, with the first line."""
    firsts = FirstLines()
    firsts.IN_MEMORY = 2
    assert firsts.earlier([("A", 2), ("B", 3)]) == [None, None]
    assert firsts.earlier([("C", 4), ("A", 5), ("C", 6)]) == [None, 2, 4]
    assert firsts.earlier([("B", 7), ("D", 8), ("C", 9)]) == [3, None, 4]
    firsts.close()


def test_first_rows_only_keeps_the_order_and_passes_rejected_and_empty_rows() -> None:
    rejected = Rejected("ragged", "f.csv", 3)
    rows = [(2, ["A", "x"]), rejected, (4, [" ", "y"]), (5, ["B", "z"]), (6, ["A ", "w"]), (7, ["B", "v"])]
    out = list(first_rows_only(iter(rows), lambda: 0, lambda row, first: Rejected(f"first {first}", "f.csv", row[0]),
                               block=2))
    assert [item if isinstance(item, tuple) else (item.line, item.reason) for item in out] == [
        (2, ["A", "x"]), (3, "ragged"), (4, [" ", "y"]), (5, ["B", "z"]), (6, "first 2"), (7, "first 5")]


# ------------------------------------------------------------------ --strict
runner = CliRunner()


def test_strict_exits_7_when_a_row_was_rejected_and_0_when_none_was(seeded: Store, tmp_path: Path) -> None:
    """A partial import exited 0 as a clean one did: a scheduler could not tell. --strict (opt-in) says it with
    its own code and a note on stderr; the accepted rows are imported either way, and without it nothing changes."""
    import yaml

    map_file = tmp_path / "map.yaml"
    map_file.write_text(yaml.safe_dump(MAP), encoding="utf-8")
    bad = write(tmp_path / "bad.csv", [HEADER, ROWS[0], ROWS[1].replace("49,90", "viel")])
    good = write(tmp_path / "good.csv", [HEADER, ROWS[0]])
    args = ["import", "erp", "--map", str(map_file)]
    strict = runner.invoke(app, [*args, str(bad), "--strict", "--json"])
    assert strict.exit_code == PARTIAL_EXIT == 7, strict.output
    assert "--strict: 1 row(s) were rejected" in strict.output and '"rejected": 1' in strict.output
    assert seeded.get_product("A1") is not None
    assert runner.invoke(app, [*args, str(bad)]).exit_code == 0
    assert runner.invoke(app, [*args, str(good), "--strict"]).exit_code == 0


def test_strict_over_several_files_leaves_a_failed_files_code_first(tmp_path: Path) -> None:
    """With several files a failure (a file not imported) keeps its own code; rejected rows alone give 7."""
    def counts(rejected: int) -> ImportCounts:
        return ImportCounts(read=2, created=2 - rejected, rejected=rejected, job_id=1)

    runs = {"a.xml": counts(0), "b.xml": counts(1)}
    with pytest.raises(typer.Exit) as partial:
        import_each([tmp_path / "a.xml", tmp_path / "b.xml"], lambda p: runs[p.name], True, strict=True)
    assert partial.value.exit_code == PARTIAL_EXIT
    import_each([tmp_path / "a.xml", tmp_path / "b.xml"], lambda p: runs[p.name], True)  # not strict: no exit

    def fails(path: Path) -> ImportCounts:
        if path.name == "a.xml":
            raise InputError("broken", file="a.xml")
        return runs[path.name]

    with pytest.raises(typer.Exit) as failed:
        import_each([tmp_path / "a.xml", tmp_path / "b.xml"], fails, True, strict=True)
    assert failed.value.exit_code == InputError.exit_code != PARTIAL_EXIT
    assert issubclass(InputError, PimError)
