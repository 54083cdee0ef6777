"""A running job stamps a heartbeat, so a reader on another host can tell a job whose process died from one
still working (the pid check only works on the host that ran it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from pim.store import Store
from pim.store.store import JOB, now

ROOT = Path(__file__).resolve().parent.parent
BEAT = 0.1

# Starts a job with a fast heartbeat, says its id, then works for ever (until the test kills it).
_CHILD = """
import sys, time
from pim.store import Store
store = Store(sys.argv[1], heartbeat_seconds=float(sys.argv[2]))
print(store.start_job("import", "elsewhere.csv"), flush=True)
time.sleep(600)
"""


def _heartbeat(store: Store, job_id: int):
    with store.engine.connect() as conn:
        return conn.execute(select(JOB.c.heartbeat_at).where(JOB.c.id == job_id)).scalar_one()


def _wait(predicate, seconds: float = 15.0) -> bool:
    """Poll a condition another thread or process brings about: there is no event to wait on."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_running_job_beats_until_finished(store: Store) -> None:
    store.heartbeat_seconds = BEAT
    job_id = store.start_job("import", "beat.csv")
    first = _heartbeat(store, job_id)
    assert first is not None
    assert _wait(lambda: _heartbeat(store, job_id) > first), "the heartbeat never moved while the job ran"
    store.finish_job(job_id, {"read": 1})
    time.sleep(BEAT * 2)  # a beat already under way may still land
    settled = _heartbeat(store, job_id)
    time.sleep(BEAT * 5)
    assert _heartbeat(store, job_id) == settled  # the thread stopped with the job
    assert store.job(job_id)["status"] == "succeeded"


def test_job_of_a_lost_host_shows_interrupted_once_its_heartbeat_is_old(store: Store) -> None:
    store.heartbeat_seconds = 30
    job_id = store.start_job("import", "remote.csv")
    store.heartbeat_seconds = 0  # this reader's own job keeps quiet; the rows below say what the other host did
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id)
                     .values(host="another-host", pid=4242, heartbeat_at=now() - timedelta(seconds=60)))
    assert store.job(job_id)["status"] == "running"  # heartbeats judged off: stays as stored
    store.heartbeat_seconds = 30
    assert store.job(job_id)["status"] == "running"  # 60 s silent, 4 beats of 30 s allowed
    store.heartbeat_seconds = 10
    job = store.job(job_id)
    assert job["status"] == "interrupted"
    assert "another-host" in job["error"] and "run the same command again" in job["error"]
    assert [j["status"] for j in store.jobs(kind="import") if j["id"] == job_id] == ["interrupted"]
    store.finish_job(job_id, {}, status="failed", error="given up")
    assert store.job(job_id)["status"] == "failed"  # only running jobs are judged


def test_killed_process_on_another_host_is_seen_interrupted(store: Store, tmp_path: Path) -> None:
    """A real process beats; the row says another host, so only the heartbeat can tell it died."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, store.url, str(BEAT)], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        job_id = int(child.stdout.readline())
        with store.begin() as conn:
            conn.execute(update(JOB).where(JOB.c.id == job_id).values(host="another-host"))
        store.heartbeat_seconds = BEAT
        started = _heartbeat(store, job_id)
        assert _wait(lambda: _heartbeat(store, job_id) > started)
        assert store.job(job_id)["status"] == "running"  # beating: alive, though its pid is not checkable here
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert _wait(lambda: store.job(job_id)["status"] == "interrupted"), "a dead job kept showing as running"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times are read from /proc (Linux)")
def test_a_reused_pid_does_not_keep_a_dead_job_running(store: Store) -> None:
    """The row names this host and a live pid (this test's own), but the job started before that process did:
    its pid was given to a later process, so the job's own process is gone."""
    store.heartbeat_seconds = 0
    job_id = store.start_job("import", "reused.csv")
    assert store.job(job_id)["status"] == "running"  # our pid, started before the job: alive
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(started_at=now() - timedelta(days=30)))
    job = store.job(job_id)
    assert job["status"] == "interrupted" and f"pid {os.getpid()}" in job["error"]
