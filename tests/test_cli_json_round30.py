"""The --json contract for scripts (round 30, found scripting nightly imports): every command that takes --json
prints one JSON document on stdout, also when it fails (`pim jobs retry|cancel|priority` printed nothing);
`pim import errors --json` lists every entry unless --limit is given (it was cut to 200, the note on stderr
only); a failure about another file than the one imported (the map) names it in `error_file`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pim.cli.imports import failure
from pim.errors import InputError, StoreError
from pim.store import Store
from pim.store.store import QuarantineEntry


#: The command line's behaviour, not the database's: each subprocess costs seconds, so once, on SQLite.
CLI_ONLY = pytest.mark.backends("sqlite")


def _pim(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """The installed entry point (pim.cli.main), after `prelude` (code run first in the same process)."""
    return subprocess.run([sys.executable, "-c", f"{prelude}\nfrom pim.cli import main; main()", *args],
                          capture_output=True, text=True, check=False)


def _job_with_entries(store: Store, entries: int) -> int:
    """A finished import whose `entries` rows were rejected, one per record."""
    job = store.start_job("import", "erp.csv")
    store.quarantine(job, [QuarantineEntry(f"bad price {n}", "erp.csv", n + 2, "price", record_key=f"SKU{n}",
                                           source="erp") for n in range(entries)])
    store.finish_job(job, {"rejected": entries})
    return job


# ------------------------------------------------------------------------- a failure is one JSON document
@CLI_ONLY
def test_jobs_commands_print_a_failure_document_with_json(store: Store) -> None:
    """They printed nothing on stdout (exit 2, the message on stderr only)."""
    ended = _job_with_entries(store, 0)
    cases = {("jobs", "retry", "999999", "--json"): "no job 999999",
             ("jobs", "cancel", str(ended), "--json"): "nothing to cancel",
             ("jobs", "priority", str(ended), "--json", "--", "-5"): "a priority only orders"}
    for args, said in cases.items():
        proc = _pim(*args)
        assert proc.returncode == 2, proc.stderr
        doc = json.loads(proc.stdout)
        assert set(doc) == {"error", "exit_code"} and doc["exit_code"] == 2 and said in doc["error"], doc
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr  # the message for people, as before
    plain = _pim("jobs", "retry", "999999")
    assert plain.returncode == 2 and plain.stdout == "" and "no job 999999" in plain.stderr


@CLI_ONLY
def test_a_command_printing_its_own_failure_document_prints_only_that(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): a command that prints its own document (json_failure, with the file
    it was importing) is not followed by main's; json.loads refuses two documents."""
    missing = tmp_path / "missing.jsonl"
    proc = _pim("import", "jsonl", str(missing), "--json")
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout) == {"file": str(missing), "error": json.loads(proc.stdout)["error"],
                                       "exit_code": 2}
    unknown = _pim("import", "errors", "999999", "--json")
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["error"].startswith("no job 999999")


# ------------------------------------------------------------------------------ import errors --json in full
@CLI_ONLY
def test_errors_json_lists_every_entry_unless_limited(store: Store) -> None:
    """It was cut to 200 rows with the note on stderr only: a script could not tell the list was incomplete."""
    job = _job_with_entries(store, 205)
    every = _pim("import", "errors", str(job), "--json")
    assert every.returncode == 0, every.stderr
    listed = json.loads(every.stdout)
    assert [e["record_key"] for e in listed] == [f"SKU{n}" for n in range(205)]  # oldest first, as before
    assert "shown" not in every.stderr
    cut = _pim("import", "errors", str(job), "--json", "--limit", "10")
    assert len(json.loads(cut.stdout)) == 10 and "10 of 205 entries shown" in cut.stderr
    table = _pim("import", "errors", str(job))
    assert "200 of 205 quarantined row(s)" in table.stdout and "--limit 0" in table.stderr


def test_iter_quarantined_pages_through_every_entry(store: Store) -> None:
    job = _job_with_entries(store, 5)
    store.quarantine(job, [QuarantineEntry("no media", "erp.csv", 9, "image", record_key="SKU9", source="erp",
                                           severity="problem")])
    assert list(store.iter_quarantined(job, page=2)) == store.quarantined(job)
    assert [e["record_key"] for e in store.iter_quarantined(job, severity="problem", page=2)] == ["SKU9"]
    assert list(store.iter_quarantined(job + 1, page=2)) == []


BROKEN_STREAM = """
import pim.store.store as s
from pim.errors import StoreError

def broken(self, *args, **filters):
    yield from self.quarantined(*args, **{k: v for k, v in filters.items() if k != "page"})[:%d]
    raise StoreError("the database went away", hint="try again")

s.Store.iter_quarantined = broken
"""


@CLI_ONLY
def test_a_stream_failing_before_its_first_entry_prints_the_failure_document(store: Store) -> None:
    job = _job_with_entries(store, 3)
    proc = _pim("import", "errors", str(job), "--json", prelude=BROKEN_STREAM % 0)
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stdout) == {"error": "the database went away; try again", "exit_code": 4}


@CLI_ONLY
def test_a_stream_failing_half_way_adds_no_second_document(store: Store) -> None:
    """The list is cut (invalid JSON, exit 4, the message on stderr): not closed to look whole, and no failure
    document glued after it."""
    job = _job_with_entries(store, 3)
    proc = _pim("import", "errors", str(job), "--json", prelude=BROKEN_STREAM % 2)
    assert proc.returncode == 4 and "the database went away" in proc.stderr, proc.stderr
    assert proc.stdout.startswith("[") and proc.stdout.count('"record_key"') == 2
    assert '"exit_code"' not in proc.stdout and not proc.stdout.rstrip().endswith("]")


# ------------------------------------------------------------------------- the file the error is about
@CLI_ONLY
def test_a_map_that_does_not_load_is_named_beside_the_data_file(pim_env: Path, tmp_path: Path) -> None:
    """`file` named the data file while the error was about the map."""
    data = tmp_path / "data.csv"
    data.write_text("Material;EAN\nA1;1\n", encoding="utf-8")
    nope = tmp_path / "nope.yaml"
    proc = _pim("import", "erp", str(data), "--map", str(nope), "--json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["file"] == str(data) and doc["error_file"] == str(nope) and "cannot read" in doc["error"], doc


def test_error_file_only_when_the_error_names_another_file() -> None:
    data = Path("in") / "data.csv"
    for same in (str(data), "data.csv"):  # importers name the data file by its path or by its name
        assert "error_file" not in failure(InputError("the file is empty", file=same), data)
    assert failure(InputError("cannot read the profile", file="map.yaml"), data)["error_file"] == "map.yaml"
    assert failure(InputError("cannot read the profile", file="map.yaml")) == {
        "error": "cannot read the profile", "error_file": "map.yaml", "exit_code": 2}
    assert "error_file" not in failure(StoreError("the database went away"))
