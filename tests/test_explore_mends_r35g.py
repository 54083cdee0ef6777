"""Explore mends, round 35 (g): a JSONL import whose left-out file lies beside it but was not written with it is
refused before its first batch (it used to run, deleting the left-out values from the store); `pim maintain
--dry-run` reports `deleted: 0` and `would_delete` for every retention; `pim feeds claims` shows the whole run
(JSON key `run`) and judges its process by the claim time; `--release` keeps the claims of contracts whose feed
job still runs in a live process, naming its pid."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import JOB, now
from tests.test_maintenance import _old_everything, _uploads
from tests.test_mends_r33_b import moved  # noqa: F401  (fixture)

runner = CliRunner()
DEAD_PID = 2**22 + 17  # no process has it


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def _here(pid: int) -> str:
    return f"{socket.gethostname()[:200]}:{pid}:r35g"


# ---------------------------------------------------------------------------------------------- 1. left-out file
@pytest.mark.backends("sqlite")
def test_a_copied_left_out_file_that_looks_older_than_its_export_stops_the_import(
        moved: Store, tmp_path: Path) -> None:  # noqa: F811
    """`cp catalog.left-out.jsonl catalog.jsonl copy/` in that order: the export looks newer than its left-out
    file. Before: the import ran, exit 0, and the whole-record import deleted `mpn` (the left-out value)."""
    out = tmp_path / "catalog.jsonl"
    assert runner.invoke(_cli(), ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    side = tmp_path / "catalog.left-out.jsonl"
    later = side.stat().st_mtime_ns + 10**9
    os.utime(out, ns=(later, later))
    from pim.errors import InputError

    p = moved.get_product("complete")  # round 36: a copy is taken while the catalog holds its values as it says
    moved.upsert_products([p.model_copy(update={"values": {**p.values, "mpn": "RN-2"}})])  # type: ignore[union-attr]
    done = runner.invoke(_cli(), ["import", "jsonl", str(out)])  # pim.cli.main maps the InputError to exit 2
    assert isinstance(done.exception, InputError) and done.exception.exit_code == 2, done.output
    said = str(done.exception)
    assert "catalog.left-out.jsonl is older than catalog.jsonl" in said, said
    assert "delete catalog.left-out.jsonl" in said and "--include-left-out" in said and "Nothing was imported" in said
    assert moved.get_product("complete").values["mpn"] == "RN-2"  # type: ignore[union-attr]
    side.unlink()  # the first way out: import without the left-out values (they go, as asked)
    assert runner.invoke(_cli(), ["import", "jsonl", str(out)]).exit_code == 0
    assert "mpn" not in moved.get_product("complete").values  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_a_left_out_file_of_another_export_stops_the_import_before_any_batch(
        moved: Store, tmp_path: Path) -> None:  # noqa: F811
    from pim.errors import InputError
    from pim.jsonl import import_jsonl

    out = tmp_path / "catalog.jsonl"
    assert runner.invoke(_cli(), ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    p = moved.get_product("complete")
    moved.upsert_products([p.model_copy(update={"values": {**p.values, "name:en_US": "Edited"}})])  # type: ignore[union-attr]
    out.write_bytes(out.read_bytes().replace(b'"Runner"', b'"Runner 2"'))  # another export's content
    jobs = len(moved.jobs("import"))
    with pytest.raises(InputError, match="belongs to another export") as refused:
        import_jsonl(out, moved)
    assert refused.value.exit_code == 2
    kept = moved.get_product("complete")
    assert kept.values["mpn"] == "RN-1" and kept.values["name:en_US"] == "Edited"  # type: ignore[union-attr]
    assert len(moved.jobs("import")) == jobs  # refused before the import began


# ---------------------------------------------------------------------------------------------- 2. maintain dry run
@pytest.mark.backends("sqlite")
def test_pim_maintain_dry_run_json_never_reports_a_retention_as_deleted(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_everything(store, pim_env)
    for name in ("upload", "quarantine", "download_log", "feed"):
        monkeypatch.setenv(f"PIM_{name.upper()}_RETENTION_DAYS", "30")
    reset_settings()
    dry = runner.invoke(_cli(), ["maintain", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    body = orjson.loads(dry.stdout)["retentions"]
    assert {n: (r["deleted"], r["would_delete"]) for n, r in body.items()} == {
        "quarantine": (0, 1), "downloads": (0, 1), "uploads": (0, 1), "feeds": (0, 1)}
    text = runner.invoke(_cli(), ["maintain", "--dry-run"])
    assert "would delete" in text.output and "uploads" in text.output
    assert _uploads(pim_env) == ["old.csv"]
    done = orjson.loads(runner.invoke(_cli(), ["maintain", "--json"]).stdout)["retentions"]
    assert done["uploads"]["deleted"] == 1 and "would_delete" not in done["uploads"]


# ---------------------------------------------------------------------------------------------- 3. claims list
@pytest.fixture
def later_process() -> Any:
    """A process started now: after a claim made a minute ago, so it cannot be that claim's run."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_pim_feeds_claims_shows_the_whole_run_under_run(store: Store, pim_env: Path) -> None:
    from pim.feed_schedule import claim

    run = "a-long-host-name.eu-central-1.compute.internal:2119400:274bc0de"
    assert claim(store, "cust_0000-main", run)
    listed = orjson.loads(runner.invoke(_cli(), ["feeds", "claims", "--json"]).stdout)
    assert [(c["contract"], c["run"], c["holder"]) for c in listed] == [("cust_0000-main", run, run)]
    shown = runner.invoke(_cli(), ["feeds", "claims"])
    assert shown.exit_code == 0 and run in shown.output, shown.output  # before: cut to `a-long-host-…`


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process start times come from /proc")
def test_pim_feeds_claims_judges_the_process_by_the_claim_time(
        store: Store, pim_env: Path, later_process: Any) -> None:
    """The run's pid now belongs to a process started after the claim: the run is dead, as the takeover says."""
    from pim.feed_schedule import claim

    assert claim(store, "nightly", _here(later_process.pid), at=now() - timedelta(minutes=1))
    listed = orjson.loads(runner.invoke(_cli(), ["feeds", "claims", "--json"]).stdout)
    assert [(c["contract"], c["process"]) for c in listed] == [("nightly", "dead")]  # before: alive


# ---------------------------------------------------------------------------------------------- 4. release
def _running_feed_job(store: Store, contract: str, pid: int) -> int:
    job_id = store.start_job("feed", contract)
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(pid=pid, host=socket.gethostname()[:255]))
    return job_id


def test_release_keeps_the_claim_of_a_contract_an_orphaned_feed_job_still_sends(store: Store, pim_env: Path) -> None:
    """The run is dead, but a pool child of it (this process here) still runs the `child` contract's feed job:
    that claim stays, named with the pid; the other contract is released. Before: both were released, and the next
    delivery sent `child` while the old job still uploaded."""
    from pim.feed_claims import release_run
    from pim.feed_schedule import claim, claims

    dead = _here(DEAD_PID)
    assert claim(store, "child", dead) and claim(store, "free", dead)
    _running_feed_job(store, "child", os.getpid())
    lid = log.log_start(store, contract="child", file_id=None, file="f", target="t", checksum="c", rows=1)
    done = release_run(store, dead)
    assert (done["released"], done["kept"]) == (["free"], {"child": os.getpid()})
    assert {c: h["holder"] for c, h in claims(store).items()} == {"child": dead}
    assert [r["status"] for r in log.deliveries(store) if r["id"] == lid] == ["running"]


def test_pim_feeds_claims_release_refuses_when_every_contract_is_still_being_sent(
        store: Store, pim_env: Path) -> None:
    from pim.feed_schedule import claim, claims

    dead = _here(DEAD_PID)
    assert claim(store, "child", dead)
    _running_feed_job(store, "child", os.getpid())
    refused = runner.invoke(_cli(), ["feeds", "claims", "--release", dead])
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert f"child (feed job pid {os.getpid()} alive)" in said, said
    assert list(claims(store)) == ["child"]
