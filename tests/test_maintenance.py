"""The maintenance pass: each retention whose setting is set runs (closed quarantine entries, the portal's
download log, uploaded files, feed files), the others keep everything; an upload stays while its import job is
queued or running, ended recently or has open quarantine entries; a feed file by `pim feeds prune --older-than`'s
rules; a dry run deletes nothing; a re-run of an upload whose file went says so. `pim worker` runs the pass
while idle, one worker per interval (a lease in `feed_claim`), and a failing pass never stops it;
`pim maintain` runs it once."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from pim import job_enqueue, job_queue, job_runners, job_uploads, maintenance
from pim.delivery_log import CLAIM, FEED_FILE, record_file
from pim.feed_retention import PRUNED
from pim.portal_downloads import DOWNLOAD, TOKEN
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import JOB, QUARANTINE, now

DEAD_PID = 2**22 + 17  # no process has it
runner = CliRunner()


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def _set(monkeypatch: pytest.MonkeyPatch, **days: int) -> None:
    """Set PIM_<NAME> for each keyword (e.g. upload_retention_days=30)."""
    for name, value in days.items():
        monkeypatch.setenv(f"PIM_{name.upper()}", str(value))
    reset_settings()


def _upload(home: Path, name: str, days_old: float) -> Path:
    """A file under PIM_HOME/uploads written `days_old` days ago."""
    path = home / "uploads" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"sku;name\nA-1;one\n")
    stamp = (now() - timedelta(days=days_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _import_job(store: Store, path: Path, status: str = "succeeded", ended_days_ago: float = 40, **row: Any) -> int:
    """The upload's import job, as a worker leaves it: queued, running, or ended `ended_days_ago` days ago."""
    job_id = job_enqueue.enqueue(store, "import", f"content:{path.name}", {"importer": "content", "path": str(path)})
    if status != "queued":
        ended = now() - timedelta(days=ended_days_ago)
        values = {"status": status, "started_at": ended, "heartbeat_at": ended, "host": socket.gethostname()[:255],
                  "pid": os.getpid(), "finished_at": None if status == "running" else ended, **row}
        with store.begin() as conn:
            conn.execute(update(JOB).where(JOB.c.id == job_id).values(**values))
    return job_id


def _entry(store: Store, key: str, *, job_id: int | None = None, closed_days_ago: float | None = 400) -> None:
    """A quarantine entry, closed that many days ago or open (None)."""
    stamp = now()
    with store.begin() as conn:
        conn.execute(insert(QUARANTINE).values(
            job_id=job_id, source="content", file="c.csv", line=2, field="gtin", reason="bad GTIN", raw={"sku": key},
            record_key=key, severity="rejected", created_at=stamp - timedelta(days=500),
            resolved_at=None if closed_days_ago is None else stamp - timedelta(days=closed_days_ago)))


def _download(store: Store, days_old: float) -> None:
    with store.begin() as conn:
        conn.execute(insert(DOWNLOAD).values(file_id=1, customer="acme", person=TOKEN,
                                             at=now() - timedelta(days=days_old)))


def _counts(store: Store) -> tuple[int, int]:
    """(quarantine entries, download-log rows) left."""
    with store.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one(),
                conn.execute(select(func.count()).select_from(DOWNLOAD)).scalar_one())


def _feed_file(store: Store, home: Path, name: str, days_old: float, kind: str = "full",
               status: str = "delivered") -> Path:
    """A feed file of contract `a` (and its manifest) built `days_old` days ago, as the delivery log records it."""
    path = home / "out" / "feeds" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sku\nA-1\n")
    path.with_name(name + ".manifest.json").write_text("{}")
    record_file(store, contract="a", customer="acme", name=name, path=str(path), format="csv", kind=kind,
                sha256="0" * 64, bytes=8, rows=1, generated_at=now() - timedelta(days=days_old), status=status,
                portal=True)
    return path


def _feed_statuses(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(FEED_FILE.c.name, FEED_FILE.c.status)).all())


def _uploads(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "uploads").iterdir())


def _old_everything(store: Store, home: Path) -> None:
    """One of each retention's prey: a closed entry, a download row, an upload and a failed feed file, all 400
    days old."""
    _entry(store, "closed-long-ago")
    _download(store, 400)
    _import_job(store, _upload(home, "old.csv", 400), ended_days_ago=400)
    _feed_file(store, home, "a-old.csv", 400, status="failed")


def test_a_pass_runs_the_retentions_that_are_set_and_keeps_everything_else(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_everything(store, pim_env)
    _set(monkeypatch, upload_retention_days=30)
    result = maintenance.run_pass(store)
    assert {n: r["status"] for n, r in result.retentions.items()} == {
        "quarantine": "off", "downloads": "off", "uploads": "done", "feeds": "off"}
    assert result.retentions["uploads"]["deleted"] == 1 and result.retentions["uploads"]["files"] == ["old.csv"]
    assert _uploads(pim_env) == [] and _counts(store) == (1, 1)  # the unset retentions kept theirs
    assert _feed_statuses(store) == {"a-old.csv": "failed"}
    _set(monkeypatch, quarantine_retention_days=90, download_log_retention_days=90, feed_retention_days=90)
    result = maintenance.run_pass(store)
    assert {n: r["deleted"] for n, r in result.retentions.items()} == {"quarantine": 1, "downloads": 1, "uploads": 0,
                                                                       "feeds": 1}
    assert _counts(store) == (0, 0) and not result.failed and result.exit_code == 0
    assert _feed_statuses(store) == {"a-old.csv": PRUNED}


def test_an_upload_stays_while_its_job_is_queued_running_recent_or_has_open_entries(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    _import_job(store, _upload(pim_env, "queued.csv", 60), status="queued")
    _import_job(store, _upload(pim_env, "running.csv", 60), status="running", ended_days_ago=0)  # this process
    _import_job(store, _upload(pim_env, "recent.csv", 60), ended_days_ago=5)  # re-run five days ago
    _entry(store, "to-fix", job_id=_import_job(store, _upload(pim_env, "open.csv", 60)), closed_days_ago=None)
    _entry(store, "fixed", job_id=_import_job(store, _upload(pim_env, "fixed.csv", 60)))
    _import_job(store, _upload(pim_env, "failed.csv", 60), status="failed")
    _import_job(store, _upload(pim_env, "interrupted.csv", 60), status="running", pid=DEAD_PID)
    twice = _upload(pim_env, "twice.csv", 60)  # two jobs read it: one ended long ago, one waits
    _import_job(store, twice)
    _import_job(store, twice, status="queued")
    _upload(pim_env, "no-job.csv", 60)
    _upload(pim_env, "young.csv", 10)
    uploads = maintenance.run_pass(store).retentions["uploads"]
    assert sorted(uploads["files"]) == ["failed.csv", "fixed.csv", "interrupted.csv", "no-job.csv"]
    assert _uploads(pim_env) == ["open.csv", "queued.csv", "recent.csv", "running.csv", "twice.csv", "young.csv"]
    assert uploads["kept"] == {"its job is queued or running": 3, "its job ended after the cut": 1,
                               "its job has open quarantine entries": 1}


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_everything(store, pim_env)
    _set(monkeypatch, upload_retention_days=30, quarantine_retention_days=90, download_log_retention_days=90,
         feed_retention_days=30)
    feed = pim_env / "out" / "feeds" / "a-old.csv"
    dry = maintenance.run_pass(store, dry_run=True)
    every = {"quarantine": 1, "downloads": 1, "uploads": 1, "feeds": 1}
    assert {n: r["would_delete"] for n, r in dry.retentions.items()} == every  # round 35 g: was `deleted`
    assert {r["deleted"] for r in dry.retentions.values()} == {0}
    assert dry.retentions["feeds"]["files"] == ["a/a-old.csv"]
    assert _counts(store) == (1, 1) and _uploads(pim_env) == ["old.csv"]
    assert _feed_statuses(store) == {"a-old.csv": "failed"} and feed.exists()
    wet = maintenance.run_pass(store)
    assert {n: r["deleted"] for n, r in wet.retentions.items()} == every
    assert _counts(store) == (0, 0) and _uploads(pim_env) == []
    assert _feed_statuses(store) == {"a-old.csv": PRUNED} and not feed.exists()


def test_feed_files_go_by_age_and_the_chain_from_the_newest_delivered_full_stays(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, feed_retention_days=30)
    gone = [_feed_file(store, pim_env, "a-0.csv", 90),
            _feed_file(store, pim_env, "a-1.csv", 60, kind="delta_products")]
    _feed_file(store, pim_env, "a-2.csv", 45)  # the newest delivered full: old, but it and its deltas stay
    _feed_file(store, pim_env, "a-3.csv", 40, kind="delta_products")
    gone.append(_feed_file(store, pim_env, "a-4.csv", 35, kind="delta_products", status="failed"))
    young = _feed_file(store, pim_env, "a-5.csv", 5, kind="delta_products", status="failed")
    feeds = maintenance.run_pass(store).retentions["feeds"]
    assert (feeds["status"], feeds["deleted"], feeds["bytes"]) == ("done", 3, 24)
    assert sorted(feeds["files"]) == ["a/a-0.csv", "a/a-1.csv", "a/a-4.csv"]
    assert _feed_statuses(store) == {"a-0.csv": PRUNED, "a-1.csv": PRUNED, "a-2.csv": "delivered",
                                     "a-3.csv": "delivered", "a-4.csv": PRUNED, "a-5.csv": "failed"}
    assert not any(p.exists() or p.with_name(p.name + ".manifest.json").exists() for p in gone)
    assert young.exists() and (pim_env / "out" / "feeds" / "a-2.csv").exists()


def test_a_retry_of_an_upload_whose_file_went_is_refused_and_says_to_upload_it_again(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    job_id = _import_job(store, _upload(pim_env, "old.csv", 60), status="failed", error="bad header")
    assert maintenance.run_pass(store).retentions["uploads"]["files"] == ["old.csv"]
    with pytest.raises(job_uploads.UploadGone) as refused:
        job_enqueue.retry(store, job_id)
    assert str(refused.value) == "the uploaded file 'old.csv' is no longer kept: the upload retention deleted it " \
                                 "after its job ended (PIM_UPLOAD_RETENTION_DAYS=30)"
    assert refused.value.hint is not None and refused.value.hint.startswith("upload the file again")
    job = store.job(job_id)  # left as it was: not queued, no attempt recorded
    assert (job["status"], job["error"], job["payload"].get("attempts")) == ("failed", "bad header", None)
    cli = runner.invoke(_cli(), ["jobs", "retry", str(job_id)])  # pim.cli.main prints it and exits with its code
    assert isinstance(cli.exception, job_uploads.UploadGone) and cli.exception.exit_code == 2


def test_a_run_whose_upload_went_after_it_was_queued_says_to_upload_it_again(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard: passes before and after the change (the run keeps the message the retry now gives)."""
    _set(monkeypatch, upload_retention_days=30)
    upload = _upload(pim_env, "old.csv", 60)
    job_id = _import_job(store, upload, status="queued")
    upload.unlink()
    job_queue.work(store, once=True)
    job = store.job(job_id)
    assert job["status"] == "failed"
    assert "the uploaded file 'old.csv' is no longer kept: the upload retention deleted it after its job ended " \
           "(PIM_UPLOAD_RETENTION_DAYS=30)" in job["error"]
    assert "upload the file again" in job["error"] and "No such file" not in job["error"]


def test_a_missing_file_outside_the_uploads_is_still_the_importers_to_report(
        store: Store, pim_env: Path, tmp_path: Path) -> None:
    """A guard: passes before and after the change (non-upload imports keep their message)."""
    job_id = job_enqueue.enqueue(store, "import", "content:gone.csv",
                                 {"importer": "content", "path": str(tmp_path / "gone.csv")})
    job_queue.work(store, once=True)
    job = store.job(job_id)
    assert job["status"] == "failed" and "cannot read" in job["error"] and "No such file" in job["error"]
    assert "upload" not in job["error"]


def test_a_setting_under_a_day_fails_its_retention_alone_and_says_what_to_do(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_everything(store, pim_env)
    _set(monkeypatch, upload_retention_days=0, quarantine_retention_days=90)
    result = maintenance.run_pass(store)
    assert result.failed == ["uploads"] and result.exit_code == 3
    assert "PIM_UPLOAD_RETENTION_DAYS must be at least 1 day, not 0" in result.retentions["uploads"]["error"]
    assert "unset it" in result.retentions["uploads"]["error"]
    assert _uploads(pim_env) == ["old.csv"] and _counts(store) == (0, 1)  # the quarantine's still ran


class _Clock:
    def __init__(self) -> None:
        self.at = now()

    def __call__(self) -> datetime:
        return self.at


def test_of_two_workers_one_runs_the_pass_each_interval(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    clock = _Clock()
    first, second = (maintenance.Timer(store, interval=timedelta(hours=24), clock=clock) for _ in range(2))
    assert first.tick() is not None and second.tick() is None
    clock.at += timedelta(hours=23)
    assert first.tick() is None and second.tick() is None
    clock.at += timedelta(hours=1, seconds=1)  # the lease ran out: whoever is idle first takes the next
    assert second.tick() is not None and first.tick() is None
    clock.at += timedelta(hours=12)
    assert first.tick() is None and second.tick() is None


def test_a_worker_runs_the_pass_while_idle_and_the_next_worker_waits_for_the_interval(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    _import_job(store, _upload(pim_env, "first.csv", 60))
    job_queue.work(store, once=True)
    assert _uploads(pim_env) == []
    _import_job(store, _upload(pim_env, "second.csv", 60))
    job_queue.work(store, once=True)  # another worker: the interval's pass has run
    assert _uploads(pim_env) == ["second.csv"]


def test_an_interval_of_zero_turns_the_workers_pass_off(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30, maintenance_interval_hours=0)
    _import_job(store, _upload(pim_env, "old.csv", 60))
    job_queue.work(store, once=True)
    assert _uploads(pim_env) == ["old.csv"]


def test_a_failing_pass_is_logged_and_the_worker_goes_on(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _set(monkeypatch, upload_retention_days=30)

    def broken(*_: Any) -> dict[str, Any]:
        raise OSError("disk on fire")

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("the pass itself broke")

    monkeypatch.setitem(maintenance.RETENTIONS, "uploads", ("upload_retention_days", broken))
    monkeypatch.setitem(job_runners.RUNNERS, "echo", lambda _store, job: {"ran": 1})
    first = job_enqueue.enqueue(store, "echo", "before")
    job_queue.work(store, once=True)  # the retention fails inside the pass
    assert store.job(first)["status"] == "succeeded"
    assert "uploads: OSError: disk on fire" in caplog.text
    with store.begin() as conn:  # the next interval
        conn.execute(update(CLAIM).values(held_until=now() - timedelta(seconds=1)))
    monkeypatch.setattr(maintenance, "run_pass", boom)
    second = job_enqueue.enqueue(store, "echo", "after")
    result = job_queue.work(store, once=True)  # the whole pass raises
    assert [j["id"] for j in result.jobs] == [second] and store.job(second)["status"] == "succeeded"
    assert "maintenance pass failed" in caplog.text and "the pass itself broke" in caplog.text


def test_pim_maintain_json_says_what_each_retention_did(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_everything(store, pim_env)
    _set(monkeypatch, upload_retention_days=30, quarantine_retention_days=90)
    dry = runner.invoke(_cli(), ["maintain", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    data = orjson.loads(dry.stdout)
    assert data["dry_run"] is True and data["failed"] == []
    assert data["retentions"]["downloads"] == {"setting": "PIM_DOWNLOAD_LOG_RETENTION_DAYS", "days": None,
                                               "status": "off"}
    assert data["retentions"]["quarantine"]["would_delete"] == 1 and data["retentions"]["quarantine"]["days"] == 90
    uploads = data["retentions"]["uploads"]  # round 35 g: a dry run's `deleted` is 0, `would_delete` the count
    assert (uploads["status"], uploads["deleted"], uploads["would_delete"], uploads["files"], uploads["kept"]) == (
        "done", 0, 1, ["old.csv"], {})
    assert _uploads(pim_env) == ["old.csv"]
    done = runner.invoke(_cli(), ["maintain", "--json"])
    assert done.exit_code == 0 and orjson.loads(done.stdout)["retentions"]["uploads"]["deleted"] == 1
    assert _uploads(pim_env) == [] and _counts(store) == (0, 1)


def test_pim_maintain_exits_3_on_a_wrong_setting_after_running_the_others(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_everything(store, pim_env)
    _set(monkeypatch, download_log_retention_days=-5, quarantine_retention_days=90)
    result = runner.invoke(_cli(), ["maintain"])
    assert result.exit_code == 3
    assert "downloads failed" in result.output and "PIM_DOWNLOAD_LOG_RETENTION_DAYS must be at least 1 day" \
        in result.output
    assert _counts(store) == (0, 1)
