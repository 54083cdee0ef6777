"""`pim import errors` narrows and counts: `--severity`, `--source` and `--file` filter the list, `--summary`
counts the entries by source, severity, file and field, and a list cut by `--limit` says how many it left out
(on stderr, so `--json` stays one document)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.cli import _mount, app
from pim.store import Store
from tests.test_erp_gtin import BAD, GOOD, MAP, csv_file, seeded  # noqa: F401  (seeded: fixture)

_mount()
runner = CliRunner()


def _quarantine(store: Store, tmp_path: Path) -> None:
    """Three problems (bad GTINs) and a rejection in erp.csv, one problem in more.csv."""
    erp_map = ErpCsvMap(**MAP)
    import_erp_csv(csv_file(tmp_path / "erp.csv", f"A1;{BAD};1;A", f"A2;{BAD};2;A", f"A3;{BAD};3;A", "A4;;x;A",
                            f"A5;{GOOD};5;A"), store, erp_map)
    import_erp_csv(csv_file(tmp_path / "more.csv", f"B1;{BAD};1;A"), store, erp_map)


def _json(*args: str) -> list[dict]:
    done = runner.invoke(app, ["import", "errors", *args, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_filters_narrow_the_list(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    _quarantine(seeded, tmp_path)
    every = _json("--limit", "0")
    assert sorted((e["record_key"], e["severity"]) for e in every) == [
        ("A1", "problem"), ("A2", "problem"), ("A3", "problem"), ("A4", "rejected"), ("B1", "problem")]
    assert {e["record_key"] for e in _json("--severity", "rejected")} == {"A4"}
    assert {e["record_key"] for e in _json("--file", "more.csv")} == {"B1"}
    assert {e["record_key"] for e in _json("--file", "erp.csv", "--severity", "problem")} == {"A1", "A2", "A3"}
    assert _json("--source", "content") == []
    assert runner.invoke(app, ["import", "errors", "--severity", "nope"]).exit_code == 2  # not a severity
    said = runner.invoke(app, ["import", "errors", "--source", "content"])
    assert said.exit_code == 0 and "matching the filters" in said.output


def test_a_cut_list_says_how_many_it_left_out(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    _quarantine(seeded, tmp_path)
    cut = runner.invoke(app, ["import", "errors", "--limit", "2", "--json"])
    assert len(json.loads(cut.stdout)) == 2  # stdout stays one JSON document
    assert "2 of 5 entries shown" in cut.stderr and "--limit 0" in cut.stderr
    table = runner.invoke(app, ["import", "errors", "--limit", "2"])
    assert "2 of 5 quarantined row(s)" in table.stdout
    whole = runner.invoke(app, ["import", "errors", "--limit", "5"])
    assert "5 quarantined row(s)" in whole.stdout and "shown" not in whole.stderr


def test_summary_counts_by_source_severity_file_and_field(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    _quarantine(seeded, tmp_path)
    groups = _json("--summary")
    counted = [(g["entries"], g["severity"], Path(g["file"]).name, g["field"]) for g in groups]
    assert counted[0] == (3, "problem", "erp.csv", "EAN")  # most entries first
    assert sorted(counted[1:]) == [(1, "problem", "more.csv", "EAN"), (1, "rejected", "erp.csv", "Preis EUR")]
    assert all(g["source"] == "erp" and g["example"] for g in groups)
    assert "check digit" in groups[0]["example"]
    assert [g["entries"] for g in _json("--summary", "--severity", "problem")] == [3, 1]
    shown = runner.invoke(app, ["import", "errors", "--summary"])
    assert shown.exit_code == 0 and "5 entries in 3 group(s)" in shown.stdout
