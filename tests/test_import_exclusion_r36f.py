"""Round 36 (F1): a `pim import` from the command line is kept apart from a worker's import of the same source
(pim.import_command): it waits while one runs, or one queued earlier for a worker waits, naming it on stderr;
`--no-wait` exits 1 importing nothing; while the command imports, no worker takes an upload of that source; an
import of another source does not wait; the command's job is listed as before and only its command runs it again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from pim import job_claims, job_command, job_enqueue
from pim.cli import _mount
from pim.cli import app as cli
from pim.commerce import stock_for
from pim.errors import InputError
from pim.store import Store


@pytest.fixture(autouse=True)
def _commands() -> None:
    _mount()


def _stock_file(tmp_path: Path, name: str = "stock.csv", quantity: int = 7) -> Path:
    path = tmp_path / name
    path.write_text(f"sku;warehouse;quantity\nA1;HH;{quantity}\n", encoding="utf-8")
    return path


def _map(tmp_path: Path, source: str = "erp", name: str = "stock.map.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"kind: stock\ndelimiter: ';'\nsource: {source}\n"
                    "columns: {warehouse: warehouse, quantity: quantity}\n", encoding="utf-8")
    return path


def _worker_import(store: Store, tmp_path: Path, *, claimed: bool = True, source: str = "erp") -> int:
    """An upload's import of `source` for a worker: taken by a worker of this process (running) or still queued."""
    job_id = job_enqueue.enqueue(store, "import", "erp_csv:upload.csv", {
        "importer": "erp_csv", "path": str(_stock_file(tmp_path, "upload.csv")),
        "options": {"map": str(_map(tmp_path, source, "upload.map.yaml"))}})
    if claimed:
        assert job_claims.claim(store, ["import"])["id"] == job_id
    return job_id


def _cli_import(tmp_path: Path, *extra: str, quantity: int = 7) -> Any:
    return CliRunner().invoke(cli, ["import", "erp", str(_stock_file(tmp_path, quantity=quantity)),
                                    "--map", str(_map(tmp_path)), *extra])


def test_no_wait_exits_1_naming_the_running_import_of_its_source(store: Store, pim_env: Path, tmp_path: Path) -> None:
    holder = _worker_import(store, tmp_path)
    out = _cli_import(tmp_path, "--no-wait", "--json")  # --json: the failure document, and the exit code
    assert out.exit_code == 1, out.output
    failure = orjson.loads(out.stdout)
    assert f"job {holder} (import erp_csv:upload.csv) is running" in failure["error"] and failure["exit_code"] == 1
    assert "--no-wait" in out.output
    assert stock_for(store, ["A1"]) == {}  # nothing imported
    assert [j["id"] for j in store.jobs(kind="import")] == [holder]  # and nothing left behind
    store.finish_job(holder, {})
    done = _cli_import(tmp_path, "--no-wait", "--json")
    assert done.exit_code == 0, done.output
    assert stock_for(store, ["A1"])["A1"].quantity == 7


def test_the_command_waits_for_the_running_import_then_runs(store: Store, pim_env: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_command, "WAIT_POLL", 0.1)
    holder = _worker_import(store, tmp_path)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.setdefault("out", _cli_import(tmp_path, quantity=9)))
    thread.start()
    try:
        for _ in range(300):  # the command's held job shows up, queued, while it waits
            mine = [j for j in store.jobs(kind="import") if j["id"] != holder]
            if mine:
                break
            thread.join(0.1)
        assert mine and mine[0]["status"] == "queued", mine
        assert job_claims.claim(store, ["import"]) is None  # no worker takes the command's own job
        thread.join(1.0)
        assert thread.is_alive() and stock_for(store, ["A1"]) == {}  # still waiting: nothing imported
    finally:
        store.finish_job(holder, {})  # the worker's import ended: the command's turn
        thread.join(60)
    out = result["out"]
    assert out.exit_code == 0, out.output
    assert f"waiting for job {holder} (import erp_csv:upload.csv), running" in out.output
    assert "imports of source 'erp' run one at a time" in out.output
    assert stock_for(store, ["A1"])["A1"].quantity == 9
    job = store.job(mine[0]["id"])
    assert (job["status"], job["source"], job["counts"]["updated"]) == ("succeeded", "erp_csv:stock.csv", 1)


def test_a_queued_earlier_upload_of_its_source_goes_first(store: Store, pim_env: Path, tmp_path: Path) -> None:
    queued = _worker_import(store, tmp_path, claimed=False)
    out = _cli_import(tmp_path, "--no-wait", "--json")
    assert out.exit_code == 1 and f"job {queued} (import erp_csv:upload.csv)" in out.stdout, out.output
    assert stock_for(store, ["A1"]) == {}


def test_no_worker_takes_an_upload_of_its_source_while_the_command_imports(store: Store, pim_env: Path,
                                                                          tmp_path: Path) -> None:
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from pim.import_command import run_exclusive
    from pim.sources import load_profile

    mapping = _map(tmp_path)
    taken: list[Any] = []

    def run() -> Any:
        queued = _worker_import(store, tmp_path, claimed=False)  # an upload arrives while the command imports
        taken.append(job_claims.claim(store, ["import"]))
        taken.append(queued)
        return import_erp_csv(_stock_file(tmp_path), store, load_profile(ErpCsvMap, mapping), map_dir=tmp_path)

    counts = run_exclusive(store, "erp_csv", _stock_file(tmp_path), run, options={"map": mapping}, wait=False)
    assert taken[0] is None, taken  # the worker passed over it
    assert store.job(counts.job_id)["status"] == "succeeded"
    assert job_claims.claim(store, ["import"])["id"] == taken[1]  # once the command is done, the upload runs


def test_an_import_of_another_source_does_not_wait(store: Store, pim_env: Path, tmp_path: Path) -> None:
    _worker_import(store, tmp_path, source="erp_other")
    out = _cli_import(tmp_path, "--no-wait")
    assert out.exit_code == 0, out.output
    assert stock_for(store, ["A1"])["A1"].quantity == 7


def test_the_commands_job_is_run_again_by_its_command_not_queued(store: Store, pim_env: Path, tmp_path: Path) -> None:
    assert _cli_import(tmp_path, "--strict").exit_code == 0
    [job] = store.jobs(kind="import")
    assert job["payload"]["merge_source"] == "erp" and job["payload"]["command"].startswith("pim import erp ")
    assert not job_enqueue.retryable({**job, "status": "failed"})
    store.finish_job(job["id"], job["counts"], status="failed", error="x")
    with pytest.raises(InputError, match="did not come from the queue"):
        job_enqueue.retry(store, job["id"])


def test_a_failed_import_is_one_failed_job_with_its_reason(store: Store, pim_env: Path, tmp_path: Path) -> None:
    """As before the exclusion: the command's held job is the one the import records its failure on."""
    out = CliRunner().invoke(cli, ["import", "erp", str(tmp_path / "missing.csv"), "--map", str(_map(tmp_path))])
    assert out.exit_code != 0
    [job] = store.jobs(kind="import")
    assert job["status"] == "failed" and "missing.csv" in job["error"] and job["source"] == "erp_csv:missing.csv"
