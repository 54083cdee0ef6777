"""The durable job queue: jobs are queued in a transaction, claimed by one worker only (also under
concurrency), run with their outcome recorded — failures with their reason — and a job whose worker died
shows as interrupted and is queued again for another worker to finish. `pim worker` runs it from the
command line and `pim serve` runs one beside the web server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from pim import job_claims, job_enqueue, job_queue, job_runners, job_status, job_workers
from pim.cli import _mount, app as cli
from pim.errors import ConfigError, InputError
from pim.store import Store
from pim.store.store import JOB
from pim.web.accounts import add_user
from tests.channel_data import seed_products
from tests.test_job_heartbeat import _wait
from tests.test_web_ui import cheap_argon2, csrf  # noqa: F401  (cheap_argon2: autouse fixture)

ROOT = Path(__file__).resolve().parent.parent
DEAD_PID = 2**22 + 17  # no process has it
_mount()


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A runner of kind "echo" that returns its payload's `counts` (or raises its `fail`): the jobs it saw."""
    seen: list[dict[str, Any]] = []

    def run(store: Store, job: dict[str, Any]) -> dict[str, Any]:
        seen.append(job)
        if "fail" in job["payload"]:
            raise (ConfigError if job["payload"]["fail"] == "config" else ValueError)("bad payload")
        return job["payload"].get("counts", {})

    monkeypatch.setitem(job_runners.RUNNERS, "echo", run)
    return seen


def _content_job(store: Store, tmp_path: Path, body: bytes, name: str = "content.csv") -> int:
    path = tmp_path / name
    path.write_bytes(body)
    return job_enqueue.enqueue(store, "import", f"content:{path}", {"importer": "content", "path": str(path)})


def _row(store: Store, job_id: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(JOB).where(JOB.c.id == job_id)).one()._mapping)


def test_a_queued_job_is_claimed_run_and_finished_with_its_counts(store: Store, echo) -> None:
    job_id = job_enqueue.enqueue(store, "echo", "somewhere", {"counts": {"read": 3}})
    assert store.job(job_id)["status"] == "queued" and store.job(job_id)["host"] is None
    assert job_status.queued(store) == 1
    result = job_queue.work(store, once=True)
    [seen] = echo
    assert seen["id"] == job_id and seen["status"] == "running" and seen["pid"] == os.getpid()
    job = store.job(job_id)
    assert [j["id"] for j in result.jobs] == [job_id] and not result.failed
    assert (job["status"], job["counts"], job["error"]) == ("succeeded", {"read": 3}, None)
    assert job["finished_at"] is not None and job["payload"] == {"counts": {"read": 3}}
    assert job_status.queued(store) == 0 and job_queue.work(store, once=True).jobs == []  # nothing left


def test_a_job_queued_in_a_rolled_back_transaction_never_existed(store: Store, echo) -> None:
    with pytest.raises(RuntimeError), store.begin() as conn:
        job_enqueue.enqueue(conn, "echo", "lost")
        raise RuntimeError("the write that needed it failed")
    assert store.jobs(kind="echo") == []


def test_claim_takes_the_oldest_job_a_worker_can_run(store: Store, echo) -> None:
    unknown = job_enqueue.enqueue(store, "nobody-runs-this")
    first, second = job_enqueue.enqueue(store, "echo", "1"), job_enqueue.enqueue(store, "echo", "2")
    claimed = job_claims.claim(store)
    assert claimed["id"] == first and claimed["status"] == "running"
    assert claimed["host"] == socket.gethostname()[:255] and claimed["heartbeat_at"] is not None
    assert job_claims.claim(store)["id"] == second
    assert job_claims.claim(store) is None  # the unknown kind waits for a worker that knows it
    assert store.job(unknown)["status"] == "queued"


def test_concurrent_claimers_never_take_the_same_job(store: Store, echo) -> None:
    """Separate engines (connections) claim at once from a file database or PostgreSQL."""
    claimers = 4
    ids = [job_enqueue.enqueue(store, "echo", str(n)) for n in range(60)]
    start = threading.Barrier(claimers)
    taken: list[list[int]] = [[] for _ in range(claimers)]
    errors: list[BaseException] = []

    def claim_all(mine: list[int]) -> None:
        own = Store(store.url, heartbeat_seconds=0)
        try:
            start.wait()
            while (job := job_claims.claim(own)) is not None:
                mine.append(job["id"])
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=claim_all, args=(t,)) for t in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    everything = [i for mine in taken for i in mine]
    assert sorted(everything) == ids  # each job once: none twice, none left
    assert sum(1 for mine in taken if mine) >= 2, "the claimers did not overlap; the test proved nothing"
    assert {store.job(i)["status"] for i in ids} == {"running"}


def test_a_failing_runner_records_its_reason_and_the_worker_goes_on(store: Store, echo) -> None:
    failing = job_enqueue.enqueue(store, "echo", "a", {"fail": "value"})
    config = job_enqueue.enqueue(store, "echo", "b", {"fail": "config"})
    fine = job_enqueue.enqueue(store, "echo", "c", {"counts": {"read": 1}})
    result = job_queue.work(store, once=True)
    assert [j["id"] for j in result.failed] == [failing, config]
    job = store.job(failing)
    assert job["status"] == "failed" and job["error"] == "ValueError: bad payload" and job["finished_at"]
    assert job["payload"] == {"fail": "value"}  # what it needs to run again is kept
    assert store.job(config)["error"] == "bad payload"  # a PimError is described, not repr'd
    assert store.job(fine)["status"] == "succeeded"


def test_an_import_runs_on_the_claimed_job_and_keeps_its_own_outcome(store: Store, tmp_path: Path) -> None:
    """The import loop adopts the claimed job: counts, status and quarantine land on it, not on a new job;
    a file error it records stays as it recorded it."""
    seed_products(store)
    good = _content_job(store, tmp_path, b"sku,name:en_US\ncomplete,Queued Runner\nnope,Ghost\n")
    bad = _content_job(store, tmp_path, b"", "empty.csv")
    job_queue.work(store, once=True)
    assert [j["id"] for j in store.jobs(kind="import")] == [bad, good]  # no other job was recorded
    job = store.job(good)
    assert job["status"] == "partial" and (job["counts"]["updated"], job["counts"]["rejected"]) == (1, 1)
    assert [q["line"] for q in store.quarantined(good)] == [3]
    assert store.get_product("complete").values["name:en_US"] == "Queued Runner"  # type: ignore[union-attr]
    assert store.job(bad)["status"] == "failed" and "empty" in store.job(bad)["error"]


def test_stop_ends_the_loop_after_the_job_under_way(store: Store, echo) -> None:
    first, second = job_enqueue.enqueue(store, "echo", "1"), job_enqueue.enqueue(store, "echo", "2")
    stop = threading.Event()
    result = job_queue.work(store, stop=stop, on_job=lambda event, job: stop.set() if event == "started" else None)
    assert [j["id"] for j in result.jobs] == [first]
    assert store.job(first)["status"] == "succeeded" and store.job(second)["status"] == "queued"


# Claims the one queued import, says so, then hangs in it until killed.
_HOLDING_WORKER = """
import sys, time
from pim import job_queue, job_runners
from pim.store import Store

def hold(store, job):
    print(job["id"], flush=True)
    time.sleep(600)

job_runners.RUNNERS["import"] = hold
job_queue.work(Store(sys.argv[1]), poll=0.05)
"""


def test_a_worker_killed_mid_job_leaves_it_interrupted_and_a_retry_finishes_it(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    job_id = _content_job(store, tmp_path, b"sku,name:en_US\ncomplete,Second Try\n")
    child = subprocess.Popen([sys.executable, "-c", _HOLDING_WORKER, store.url], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert int(child.stdout.readline()) == job_id  # it holds the job now
        assert store.job(job_id)["status"] == "running" and [w["pid"] for w in job_workers.live(store)] == [child.pid]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    dead = store.job(job_id)
    assert dead["status"] == "interrupted" and f"pid {child.pid}" in dead["error"]
    assert f"pim jobs retry {job_id}" in dead["error"]  # not "run the same command": there was none
    assert job_workers.live(store) == [] and not job_status.worker_running(store)

    again = job_enqueue.retry(store, job_id)
    assert again["status"] == "queued" and again["host"] is None and again["error"] is None
    assert [(a["status"], a["pid"]) for a in again["payload"]["attempts"]] == [("interrupted", child.pid)]
    with pytest.raises(InputError, match="only a failed or interrupted job"):
        job_enqueue.retry(store, job_id)  # a second click: already queued

    [done] = job_queue.work(store, once=True).jobs  # a second worker
    assert done["id"] == job_id and done["status"] == "succeeded" and done["counts"]["updated"] == 1
    assert store.get_product("complete").values["name:en_US"] == "Second Try"  # type: ignore[union-attr]


def test_retry_refuses_what_is_not_a_failed_or_interrupted_queued_job(store: Store, echo) -> None:
    done = job_enqueue.enqueue(store, "echo")
    job_queue.work(store, once=True)
    with pytest.raises(InputError, match="is succeeded"):
        job_enqueue.retry(store, done)
    cli_run = store.start_job("import", "content:by-hand.csv")  # a command's own job: no payload
    store.finish_job(cli_run, {}, status="failed", error="boom")
    with pytest.raises(InputError, match="did not come from the queue"):
        job_enqueue.retry(store, cli_run)
    with pytest.raises(InputError, match="no job"):
        job_enqueue.retry(store, 10**6)


def test_retry_leaves_a_job_claimed_meanwhile_alone(store: Store, echo) -> None:
    job_id = job_enqueue.enqueue(store, "echo")
    job_claims.claim(store)
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(pid=DEAD_PID))
    assert store.job(job_id)["status"] == "interrupted"
    real_job = store.job

    def judged_then_claimed(i: int) -> dict[str, Any] | None:  # between our look and our update, it moved on
        seen = real_job(i)
        with store.begin() as conn:
            conn.execute(update(JOB).where(JOB.c.id == i).values(pid=os.getpid()))
        return seen

    store.job = judged_then_claimed  # type: ignore[method-assign]
    with pytest.raises(InputError, match="changed meanwhile"):
        job_enqueue.retry(store, job_id)
    del store.job
    assert _row(store, job_id)["status"] == "running"


def test_a_live_worker_is_seen_and_a_dead_one_is_not(store: Store) -> None:
    assert not job_status.worker_running(store)
    with job_workers.present(store) as worker_id:
        [live] = job_workers.live(store)
        assert (live["id"], live["pid"]) == (worker_id, os.getpid()) and job_status.worker_running(store)
        with store.begin() as conn:  # as if its process had died
            conn.execute(update(job_workers.WORKER).where(job_workers.WORKER.c.id == worker_id).values(pid=DEAD_PID))
        assert job_workers.live(store) == []
        with job_workers.present(store) as second:  # a new worker forgets the dead one's row
            with store.engine.connect() as conn:
                assert conn.execute(select(job_workers.WORKER.c.id)).scalars().all() == [second]
    assert not job_status.worker_running(store)


# ---------------------------------------------------------------------------------------------- the CLI
def test_pim_worker_once_runs_the_queue_and_exits_1_when_a_job_failed(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    good = _content_job(store, tmp_path, b"sku,name:en_US\ncomplete,From The Cli\n")
    result = CliRunner().invoke(cli, ["worker", "--once", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["ran"], out["failed"], out["jobs"][0]["id"], out["jobs"][0]["status"]) == (1, [], good, "succeeded")
    assert store.get_product("complete").values["name:en_US"] == "From The Cli"  # type: ignore[union-attr]

    gone = tmp_path / "gone.csv"
    missing = job_enqueue.enqueue(store, "import", f"content:{gone}", {"importer": "content", "path": str(gone)})
    result = CliRunner().invoke(cli, ["worker", "--once", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["failed"] == [missing]
    assert "gone.csv" in store.job(missing)["error"]


def test_pim_jobs_retry_and_status(store: Store, echo) -> None:
    job_id = job_enqueue.enqueue(store, "echo", "x", {"fail": "value"})
    status = CliRunner().invoke(cli, ["jobs", "status", "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout) == {"queued": 1, "workers": [], "cancel_requested": [],
                                                                   "cancelled": 0}
    job_queue.work(store, once=True)
    retried = CliRunner().invoke(cli, ["jobs", "retry", str(job_id), "--json"])
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout) == {"id": job_id, "kind": "echo", "source": "x", "status": "queued",
                                          "worker_running": False}
    again = CliRunner().invoke(cli, ["jobs", "retry", str(job_id)])
    assert isinstance(again.exception, InputError) and again.exception.exit_code == 2


def test_pim_serve_runs_a_worker_beside_the_web_server_and_stops_it(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIM_WEB_WORKERS": "1", "PIM_JOB_HEARTBEAT_SECONDS": "1"}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "pim", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as web:
            assert _wait(lambda: _answers(web)), (tmp_path / "serve.log").read_text()
            page = web.post("/login", data={"username": "ed", "password": "correct horse", "next": "/imports",
                                            "csrf_token": csrf(web.get("/login").text)}, follow_redirects=True)
            upload = web.post("/imports", data={"csrf_token": csrf(page.text)}, follow_redirects=True,
                              files={"file": ("c.csv", b"sku,name:en_US\ncomplete,Served\n", "text/csv")})
            assert upload.status_code == 200 and "Import queued as job" in upload.text
            [job] = store.jobs(kind="import", limit=1)
            assert _wait(lambda: store.job(job["id"])["status"] == "succeeded"), store.job(job["id"])
        assert store.get_product("complete").values["name:en_US"] == "Served"  # type: ignore[union-attr]
        # the worker counts the job once its runner returns, a moment after the job shows succeeded
        assert _wait(lambda: [w["jobs"] for w in job_workers.live(store)] == [1]), job_workers.live(store)
        [worker] = job_workers.live(store)
        assert worker["jobs"] == 1 and _parent_of(worker["pid"]) == server.pid
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    with store.engine.connect() as conn:
        row = conn.execute(select(job_workers.WORKER).where(job_workers.WORKER.c.id == worker["id"])).one()
    assert row.status == "stopped"  # it stopped cleanly with the server, not killed
    assert not _alive(worker["pid"])


def _answers(web: httpx.Client) -> bool:
    try:
        return web.get("/login").status_code == 200
    except httpx.TransportError:
        return False


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
