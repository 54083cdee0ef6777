"""Operations, round 31: a publication killed mid-run leaves its staging dir, which the next publication to
local files and `pim maintain` remove (never a queued or running job's); an interrupted job's message says
what a job of its kind left and how to finish it; `--json` writes a stored time with its zone on SQLite as
PostgreSQL gives it; two workers storing the same picture count it once."""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pytest
from sqlalchemy import insert, update
from typer.testing import CliRunner

from exporters.local import LocalExporter
from media.ingest import ingest
from media.store_local import LocalAssetStore
from pim import job_enqueue, maintenance
from pim.catalog import Structure
from pim.cli.output import emit_json
from pim.portal_downloads import DOWNLOAD, TOKEN
from pim.protocols import PublishContext
from pim.store import Store
from pim.store.store import JOB, QuarantineEntry, now
from tests import images

DEAD_PID = 2**22 + 17  # no process has it
runner = CliRunner()
#: Files, the command line and the thread pool, not the database: once, on SQLite.
SQLITE = pytest.mark.backends("sqlite")


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


# ---------------------------------------------------------------------------------------------- staging
def _publish_job(store: Store, status: str, *, pid: int | None = None) -> int:
    """A publish job as it is left: queued, running (in the process `pid`, on this host), or ended."""
    job_id = job_enqueue.enqueue(store, "publish", "storefront/ecommerce", {"channel": "storefront",
                                                                            "scope": "ecommerce"})
    if status != "queued":
        stamp = now()
        with store.begin() as conn:
            conn.execute(update(JOB).where(JOB.c.id == job_id).values(
                status=status, started_at=stamp, heartbeat_at=stamp,
                host=socket.gethostname()[:255], pid=pid, finished_at=None if status == "running" else stamp))
    return job_id


def _staged(output: Path, job_id: int) -> Path:
    """What a publication renders before its files go out: a 1 kB file under .staging/job-<id>."""
    folder = output / ".staging" / f"job-{job_id}" / "storefront"
    folder.mkdir(parents=True)
    (folder / "catalog.ecommerce.en_US.json").write_bytes(b"x" * 1000)
    return folder.parent


def _jobs_with_staging(store: Store, output: Path) -> dict[str, int]:
    """A staging dir for a job of each state: killed (running, its process gone), failed, succeeded, no job
    row at all, running (this process) and queued."""
    jobs = {"killed": _publish_job(store, "running", pid=DEAD_PID), "failed": _publish_job(store, "failed"),
            "succeeded": _publish_job(store, "succeeded"), "running": _publish_job(store, "running", pid=os.getpid()),
            "queued": _publish_job(store, "queued")}
    jobs["unknown"] = max(jobs.values()) + 1000
    for job_id in jobs.values():
        _staged(output, job_id)
    return jobs


def _left(output: Path) -> set[str]:
    return {p.name for p in (output / ".staging").iterdir()}


@SQLITE
def test_a_local_publication_removes_what_killed_publications_left_in_its_output(store: Store, tmp_path: Path) -> None:
    output = tmp_path / "out"
    jobs = _jobs_with_staging(store, output)
    mine = _publish_job(store, "running", pid=os.getpid())
    _staged(output, mine)
    ctx = PublishContext(structure=Structure(), output_dir=output, channel="ecommerce", job_id=mine,
                         options={"store": store})
    LocalExporter().push([], ctx)
    assert _left(output) == {f"job-{jobs['running']}", f"job-{jobs['queued']}"}


@SQLITE
def test_pim_maintain_removes_them_with_no_retention_set_and_a_dry_run_only_counts(
        store: Store, pim_env: Path) -> None:
    output = pim_env / "out"
    jobs = _jobs_with_staging(store, output)
    ended = {f"job-{jobs[k]}" for k in ("killed", "failed", "succeeded", "unknown")}
    dry = runner.invoke(_cli(), ["maintain", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    staging = orjson.loads(dry.stdout)["staging"]
    assert (staging["status"], staging["deleted"], staging["would_delete"], set(staging["dirs"]), staging["bytes"]) \
        == ("done", 0, 4, ended, 4000)
    assert len(_left(output)) == 6
    done = runner.invoke(_cli(), ["maintain"])
    assert done.exit_code == 0, done.output
    assert "staging: deleted 4 dir(s) that stopped publications left (4,000 bytes)" in done.stdout
    assert _left(output) == {f"job-{jobs['running']}", f"job-{jobs['queued']}"}


@SQLITE
def test_the_staging_sweep_keeps_a_job_another_host_still_beats_for(store: Store, tmp_path: Path) -> None:
    """A running job on another host is judged by its heartbeat, as the job pages judge it: kept while it
    beats, swept once it went quiet."""
    output = tmp_path / "out"
    beating, quiet = _publish_job(store, "running", pid=DEAD_PID), _publish_job(store, "running", pid=DEAD_PID)
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == beating).values(host="another-host", heartbeat_at=now()))
        conn.execute(update(JOB).where(JOB.c.id == quiet).values(host="another-host",
                                                                  heartbeat_at=now() - timedelta(hours=1)))
    _staged(output, beating), _staged(output, quiet)
    assert maintenance.prune_staging(store, output)["dirs"] == [f"job-{quiet}"]
    assert _left(output) == {f"job-{beating}"}


# ------------------------------------------------------------------------------------ interrupted texts
def _killed(store: Store, kind: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A job of `kind` whose process died mid-run, as readers see it."""
    with store.begin() as conn:
        job_id = conn.execute(insert(JOB).values(
            kind=kind, source="x", status="running", counts={}, started_at=now(), heartbeat_at=now(),
            host=socket.gethostname()[:255], pid=DEAD_PID, payload=payload)).inserted_primary_key[0]
    job = store.job(job_id)
    assert job is not None and job["status"] == "interrupted"
    return job


@SQLITE
def test_an_interrupted_publication_says_what_a_publication_left_not_an_import(store: Store) -> None:
    job = _killed(store, "publish", {"channel": "storefront", "scope": "ecommerce", "command": "pim publish"})
    error = job["error"]
    assert "batch" not in error and "import" not in error and "merged" not in error, error
    assert "The channel keeps its previous output" in error
    assert f"run `pim publish` again to publish, or queue it for a worker (`pim jobs retry {job['id']}`)" in error
    assert "a publication starts over" in error and "pim maintain" in error


@SQLITE
def test_each_kind_of_interrupted_job_has_its_own_text(store: Store) -> None:
    rescore = _killed(store, "rescore", {})["error"]
    assert "scores it committed are kept" in rescore and "queue it again to finish the rescore" in rescore
    assert "a rescore starts over" in rescore and "merged" not in rescore
    grid = _killed(store, "grid_reindex", {"categories": ["tools"]})["error"]
    assert "re-filed" in grid and "to finish the re-index" in grid and "merged" not in grid
    feed = _killed(store, "feed", None)["error"]
    assert "watermark moves only after a confirmed delivery" in feed
    assert "run the same command again to deliver the feed" in feed and "merged" not in feed
    other = _killed(store, "some_new_kind", None)["error"]
    assert "What it committed before it stopped is kept" in other and "merged" not in other
    imported = _killed(store, "import", None)["error"]  # guard: as before
    assert "Every batch it committed is kept" in imported and "skips the records it already merged" in imported


# ------------------------------------------------------------------------------------------- JSON times
def test_a_naive_time_is_written_as_utc(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json({"detected_at": datetime(2026, 11, 25, 10, 16, 31, 184595)})
    assert orjson.loads(capsys.readouterr().out) == {"detected_at": "2026-11-25T10:16:31.184595+00:00"}


@SQLITE
def test_json_times_have_their_zone_on_sqlite(store: Store) -> None:
    """`pim import jobs|errors`, `pim jobs cancel` and `pim feeds downloads` with --json."""
    job = store.start_job("import", "erp.csv")
    store.quarantine(job, [QuarantineEntry("bad price", "erp.csv", 2, "price", record_key="SKU1", source="erp")])
    store.finish_job(job, {"rejected": 1})
    queued = job_enqueue.enqueue(store, "rescore", "shoes", {})
    with store.begin() as conn:
        conn.execute(insert(DOWNLOAD).values(file_id=1, customer="acme", person=TOKEN, at=now()))
    stamps = [orjson.loads(_json(["import", "jobs", "--json"]))[0]["started_at"],
              orjson.loads(_json(["import", "errors", "--json"]))[0]["created_at"],
              orjson.loads(_json(["jobs", "cancel", str(queued), "--json"]))["cancel_requested_at"],
              orjson.loads(_json(["feeds", "downloads", "--json"]))[0]["at"]]
    assert all(s.endswith("+00:00") for s in stamps), stamps


def _json(args: list[str]) -> str:
    result = runner.invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    return result.stdout


# -------------------------------------------------------------------------------------- originals stored
class _BothLook(LocalAssetStore):
    """An asset store whose first two `exists` calls wait for each other: both workers find the picture
    missing before either writes it (the race a 2-worker ingest runs into now and then)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.barrier, self.looks, self.writes = threading.Barrier(2, timeout=10), 0, 0
        self.lock = threading.Lock()

    def exists(self, key: str) -> bool:
        with self.lock:
            self.looks += 1
            first_two = self.looks <= 2
        found = super().exists(key)
        if first_two:
            self.barrier.wait()
        return found

    def put(self, key: str, data: BinaryIO, *, content_type: str, size: int | None = None) -> str:
        with self.lock:
            self.writes += 1
        return super().put(key, data, content_type=content_type, size=size)


@SQLITE
@pytest.mark.parametrize("picture", ["valid", "rejected"])
def test_two_workers_storing_the_same_picture_count_it_once(store: Store, tmp_path: Path, picture: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = images.jpeg(64, 48) if picture == "valid" else images.truncated_jpeg()  # a broken image: bytes no image at all are never kept
    folder = tmp_path / "incoming"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (folder / name).write_bytes(data)
    assets = _BothLook(tmp_path / "media")
    with ThreadPoolExecutor(2) as pool:
        counts = ingest(store, [("a.jpg", "erp"), ("b.jpg", "erp")], asset_store=assets, base_dir=folder,
                        executor=pool)
    assert assets.writes == 2  # the race happened: both wrote the same object
    if picture == "valid":
        assert (counts.valid, counts.stored) == (2, 1)
    else:
        assert (counts.rejected, counts.kept) == (2, 1)
