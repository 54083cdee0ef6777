"""Operations, round 32 (the rough edges round 31 left): a lost database or a deadlock met by the web app answers
503 saying so and to retry (the API's `{"errors": [...]}`, a short page elsewhere), and a job a worker ran ends
failed with the same mapped message and how to queue it again (`pim jobs retry`), not the driver's text; the
REST API's times carry their offset on SQLite as on PostgreSQL; two processes migrating one fresh SQLite file
both start; an S3 publication sweeps the staging dirs killed publications left, as a local one does."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, inspect, text

from exporters.s3 import S3Exporter
from pim import job_enqueue, job_queue
from pim.catalog import Structure
from pim.protocols import Artifact, PublishContext
from pim.settings import reset_settings
from pim.store import Store
from pim.store.database import alembic_config, make_engine, migrate
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.services.postgres import _as_postgres, find_bindir, running_server
from tests.test_api import api  # noqa: F401  (fixture)
from tests.test_job_heartbeat import _wait
from tests.test_job_queue import _content_job
from tests.test_ops_r31 import DEAD_PID, _left, _publish_job, _staged
from tests.test_postgres_ops_r31 import _in_thread, _until_waiting_on_a_lock
from tests.test_web_ui import _conflict_on_name, admin_client, cheap_argon2  # noqa: F401  (cheap_argon2: autouse)

POSTGRES_ONLY = pytest.mark.backends("postgresql")
SQLITE = pytest.mark.backends("sqlite")
LOCK = "SELECT value FROM sequence WHERE name = '{}' FOR UPDATE"


# --------------------------------------------------------------- database failures: the means, on PostgreSQL
class FirstWrite:
    """A stand-in for `store.lock_writes` whose first call (the first write transaction of a request or a job)
    meets a real failure of the server in that transaction; later calls lock as usual."""

    def __init__(self, store: Store, fail: Callable[[Connection], None]) -> None:
        self.fail, self.real, self.calls = fail, store.lock_writes, 0

    def __call__(self, conn: Connection) -> None:
        self.calls += 1
        if self.calls == 1:
            self.fail(conn)
        self.real(conn)


def terminated(conn: Connection) -> None:
    """The transaction's server process is ended, as `pg_ctl stop -m fast` or an administrator ends it."""
    conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")


def deadlocked(store: Store) -> tuple[Callable[[Connection], None], list[threading.Thread]]:
    """A real deadlock the server breaks by stopping the caller's transaction: it holds row `a` and waits for `b`,
    which another session holds and, once the caller waits, asks for `a`. The caller waits first, so its
    deadlock check runs first: it is the one stopped (after deadlock_timeout, 1 s), and the other goes on."""
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sequence (name, value) VALUES ('a', 0), ('b', 0)")
    others: list[threading.Thread] = []

    def fail(conn: Connection) -> None:
        conn.exec_driver_sql(LOCK.format("a"))
        has_b = threading.Event()

        def other() -> None:
            with store.begin() as mine:
                mine.exec_driver_sql(LOCK.format("b"))
                has_b.set()
                _until_waiting_on_a_lock(store.engine, "the caller")
                mine.exec_driver_sql(LOCK.format("a"))

        thread, _errors = _in_thread(other)
        others.append(thread)
        assert has_b.wait(30)
        conn.exec_driver_sql(LOCK.format("b"))

    return fail, others


def _bearer(store: Store, role: str = "admin") -> dict[str, str]:
    user = add_user(store, f"{role}-api", "correct horse", role)
    return {"Authorization": f"Bearer {create_token(store, user)}"}


# ------------------------------------------------------------------------------------------ the web app
@POSTGRES_ONLY
def test_an_api_request_whose_connection_is_lost_answers_503_in_the_envelope(store: Store, monkeypatch) -> None:
    """A bare 500 ("Internal Server Error", text/plain) before."""
    seed_products(store)
    headers = _bearer(store, "editor")
    client = TestClient(create_app(store), raise_server_exceptions=False)
    monkeypatch.setattr(store, "lock_writes", FirstWrite(store, terminated))
    lost = client.patch("/api/v1/products/complete", json={"values": {"name:en_US": "Lost"}}, headers=headers)
    assert lost.status_code == 503 and lost.headers["retry-after"] == "30"
    assert lost.json() == {"errors": [{"message": "the database is unavailable: nothing of this request was saved; "
                                                  "try again in a minute, and if it stays unavailable ask your "
                                                  "administrator to check the database server (PIM_DATABASE_URL)"}]}
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    again = client.patch("/api/v1/products/complete", json={"values": {"name:en_US": "Saved"}}, headers=headers)
    assert again.status_code == 200 and again.json()["product"]["values"]["name:en_US"] == "Saved"


@POSTGRES_ONLY
def test_an_api_edit_the_server_stops_to_break_a_deadlock_answers_503_saying_to_send_it_again(
        store: Store, monkeypatch) -> None:
    seed_products(store)
    headers = _bearer(store, "editor")
    client = TestClient(create_app(store), raise_server_exceptions=False)
    fail, others = deadlocked(store)
    monkeypatch.setattr(store, "lock_writes", FirstWrite(store, fail))
    stopped = client.patch("/api/v1/products/complete", json={"values": {"name:en_US": "Mine"}}, headers=headers)
    for thread in others:
        thread.join(60)
    assert stopped.status_code == 503 and stopped.headers["retry-after"] == "1"
    assert stopped.json() == {"errors": [{"message": "another write needed the same rows at the same time, and the "
                                                     "database stopped this request's to let it go on: nothing of "
                                                     "this request was saved; send it again"}]}
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    assert client.patch("/api/v1/products/complete", json={"values": {"name:en_US": "Mine"}},
                        headers=headers).status_code == 200


@pytest.fixture
def stoppable_server() -> Iterator[Any]:
    """A PostgreSQL server of the test's own, to stop mid-run."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server installed (apt-get install -y postgresql)")
    with running_server(bindir, prefix="pim-pg-stop-") as server:
        yield server


def test_pages_and_the_api_while_the_database_server_is_stopped_say_so(stoppable_server: Any, tmp_path: Path,
                                                                       monkeypatch, request) -> None:
    """The server stopped after sign-in: a page, a form post and an API call each answer 503 saying the
    database is unavailable and to retry (a bare 500 before)."""
    monkeypatch.setenv("PIM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIM_DATABASE_URL", stoppable_server.url())
    reset_settings()
    request.addfinalizer(reset_settings)
    store = Store(stoppable_server.url())
    store.migrate()
    seed_products(store)
    headers = _bearer(store)
    web, csrf = admin_client(store)
    assert web.get("/products").status_code == 200
    stoppable_server.stop()
    web = TestClient(web.app, raise_server_exceptions=False, cookies=web.cookies)

    page = web.get("/products?family=shoes")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "<h1>The database is unavailable</h1>" in page.text and "try again in a minute" in page.text
    assert '<a href="/products?family=shoes">Try again</a>' in page.text and page.headers["retry-after"] == "30"
    posted = web.post("/products/complete/values", data={"csrf_token": csrf, "name:en_US": "x"})
    assert posted.status_code == 503 and "Go back and send the form again" in posted.text
    call = web.get("/api/v1/jobs", headers=headers)
    assert call.status_code == 503 and call.headers["content-type"] == "application/json"
    [error] = call.json()["errors"]
    assert error["message"].startswith("the database is unavailable: ") and "PIM_DATABASE_URL" in error["message"]
    assert str(stoppable_server.port) not in error["message"] + page.text  # where the database is: not said
    store.dispose()


def test_other_database_errors_stay_a_500(store: Store, monkeypatch) -> None:
    """Guard (a 500 before the change too): a statement that is wrong is a bug, not the database's absence."""
    headers = _bearer(store)
    client = TestClient(create_app(store), raise_server_exceptions=False)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        with store.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT * FROM no_such_table").all()

    monkeypatch.setattr(store, "jobs", broken)
    assert client.get("/api/v1/jobs", headers=headers).status_code == 500


# ----------------------------------------------------------------------------------------------- the worker
@POSTGRES_ONLY
def test_a_job_whose_connection_is_lost_ends_failed_saying_so_and_the_worker_goes_on(
        store: Store, tmp_path: Path, monkeypatch, caplog) -> None:
    """The import loop recorded `OperationalError('terminating connection …')` (its repr) and the worker logged
    a traceback. Now the job says what happened and how to queue it again, and a retry (the queue's policy)
    finishes it."""
    seed_products(store)
    lost = _content_job(store, tmp_path, b"sku,name:en_US\ncomplete,Lost Runner\n", "lost.csv")
    after = _content_job(store, tmp_path, b"sku,name:en_US\nbad-gtin,Next Runner\n", "after.csv")
    monkeypatch.setattr(store, "lock_writes", FirstWrite(store, terminated))
    with caplog.at_level(logging.INFO, logger="pim"):
        result = job_queue.work(store, once=True)
    assert [j["id"] for j in result.jobs] == [lost, after] and [j["id"] for j in result.failed] == [lost]
    job = store.job(lost)
    assert job["status"] == "failed" and job["error"].startswith(
        "lost the connection to the database mid-run: terminating connection due to administrator command")
    assert f"queue it again to do the rest (its job page, or `pim jobs retry {lost}`)" in job["error"]
    assert "OperationalError" not in job["error"]
    assert not [r for r in caplog.records if r.exc_info], "a database failure is said, not traced back"
    assert store.job(after)["status"] == "succeeded"

    job_enqueue.retry(store, lost)
    job_queue.work(store, once=True)
    assert store.job(lost)["status"] == "succeeded"
    assert store.get_product("complete").values["name:en_US"] == "Lost Runner"  # type: ignore[union-attr]


@POSTGRES_ONLY
def test_a_job_the_server_stops_to_break_a_deadlock_ends_failed_saying_to_queue_it_again(
        store: Store, tmp_path: Path, monkeypatch) -> None:
    seed_products(store)
    job_id = _content_job(store, tmp_path, b"sku,name:en_US\ncomplete,Contested Runner\n")
    fail, others = deadlocked(store)
    monkeypatch.setattr(store, "lock_writes", FirstWrite(store, fail))
    job_queue.work(store, once=True)
    for thread in others:
        thread.join(60)
    job = store.job(job_id)
    assert job["status"] == "failed" and job["error"].startswith(
        "another writer needed the same rows at the same time, and the database stopped this job's transaction")
    assert "deadlock detected" in job["error"] and "DeadlockDetected" not in job["error"]
    assert f"nothing of that transaction was saved; queue it again to do the rest (its job page, or " \
           f"`pim jobs retry {job_id}`)" in job["error"]
    assert job_enqueue.retryable(job)


@POSTGRES_ONLY
def test_a_paged_job_whose_connection_is_lost_says_so_before_what_it_kept(store: Store) -> None:
    """Rescores and grid re-indexes (run_in_pages) recorded `OperationalError: (psycopg.errors.AdminShutdown) …`
    with SQLAlchemy's background link, then what they kept."""
    job_id = store.start_job("rescore", "family shoes")
    pages = []

    def page(conn: Connection) -> bool:
        pages.append(conn)
        if len(pages) == 2:
            terminated(conn)
        return True

    job_queue.run_in_pages(store, job_id, {"changed": 0}, page, "Pages already rescored are kept.")
    job = store.job(job_id)
    assert job["status"] == "failed" and job["error"] == (
        "lost the connection to the database mid-run: terminating connection due to administrator command. "
        "Pages already rescored are kept.")


#: A `pim worker` whose "hold" job prints its id, waits for a line on stdin, then reads the database (stopped by
#: then); "noop" jobs just succeed.
HOLDING_WORKER = """
import sys
from sqlalchemy import text
from pim import job_runners

def hold(store, job):
    print(job["id"], flush=True)
    sys.stdin.readline()
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))

job_runners.RUNNERS["hold"] = hold
job_runners.RUNNERS["noop"] = lambda store, job: {"ran": 1}
from pim.cli import main
main()
"""


def _start_again(server: Any) -> None:
    """`pg_ctl start` on the stopped server's data dir, where tests.services.postgres started it (port, socket)."""
    subprocess.run(_as_postgres([f"{server.bindir}/pg_ctl", "-D", str(server.data), "-l", str(server.root / "log"),
                                 "-w", "-t", "60", "start", "-o", f"-c listen_addresses=127.0.0.1 -p {server.port} "
                                                                  f"-k {server.root} -c fsync=off"]),
                   check=True, capture_output=True)


def test_a_worker_outlives_the_database_server_stopping_mid_job_and_records_the_job_once_it_is_back(
        stoppable_server: Any, tmp_path: Path) -> None:
    """The worker exited (4) and its job was left to read interrupted; `pim serve` does not restart a worker, so
    the web app's uploads waited for a person. Now it records the job failed, saying so, once the server is back,
    and runs the next job."""
    store = Store(stoppable_server.url())
    store.migrate()
    held = job_enqueue.enqueue(store, "hold", "held", {})
    env = {**os.environ, "PIM_DATABASE_URL": stoppable_server.url(), "PIM_HOME": str(tmp_path / "home"),
           "COLUMNS": "1000"}  # one log record per line
    said = tmp_path / "worker.log"
    with said.open("w") as stderr:
        worker = subprocess.Popen([sys.executable, "-c", HOLDING_WORKER, "worker", "--poll", "0.05"], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline() == f"{held}\n"
        with store.engine.connect() as conn:  # the claim on disk: the test server runs synchronous_commit=off
            conn.exec_driver_sql("CHECKPOINT")
        store.dispose()
        stoppable_server.stop()
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert _wait(lambda: "its failure is recorded once it is back" in said.read_text(), 60), said.read_text()
        _start_again(stoppable_server)
        assert _wait(lambda: store.job(held)["status"] == "failed"), said.read_text()  # type: ignore[index]
        error = store.job(held)["error"]  # type: ignore[index]
        assert error.startswith("lost the connection to the database mid-run: ") and "Connection refused" in error
        assert f"once the database server is running again (check PIM_DATABASE_URL), queue it again to do the " \
               f"rest (its job page, or `pim jobs retry {held}`)" in error
        after = job_enqueue.enqueue(store, "noop", "after", {})
        assert _wait(lambda: store.job(after)["status"] == "succeeded")  # type: ignore[index]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        store.dispose()


# ---------------------------------------------------------------------------------- the REST API's times
def _utc_offset(stamp: str | None) -> timedelta | None:
    assert stamp is not None
    return datetime.fromisoformat(stamp).utcoffset()


def _job_stamps(job: dict[str, Any]) -> list[str]:
    """A job's times as the API wrote them: its own and its earlier attempts'."""
    stamps = [v for k, v in job.items() if k.endswith("_at") and v is not None]
    return stamps + [a[k] for a in (job["payload"] or {}).get("attempts", []) for k in ("started_at", "ended_at")]


def test_every_time_the_api_answers_carries_its_offset(api, store: Store, tmp_path: Path) -> None:  # noqa: F811
    """SQLite gave jobs' (and their attempts'), quarantined rows', conflicts' and history's times back naive
    (`2026-05-01T06:00:00.123456`); PostgreSQL with `+00:00`."""
    client, tokens = api
    viewer, editor = tokens["viewer"], tokens["editor"]
    rows = b"sku,name:en_US\nlong-title,Queued Runner\nnope,Ghost\n"
    first = _content_job(store, tmp_path, rows)  # partial: its rejected row is superseded by the next run's
    job_queue.work(store, once=True)
    again = _content_job(store, tmp_path, b"")  # fails (an empty file), then runs again on the file's rows
    job_queue.work(store, once=True)
    (tmp_path / "content.csv").write_bytes(rows)
    job_enqueue.retry(store, again)
    job_queue.work(store, once=True)
    _conflict_on_name(store)
    assert client.patch("/api/v1/products/bad-gtin", json={"values": {"name:en_US": "Edited"}},
                        headers=editor).status_code == 200

    listed = client.get("/api/v1/jobs", headers=viewer).json()
    one = client.get(f"/api/v1/jobs/{again}", headers=viewer).json()
    assert [j["id"] for j in listed] == [again, first] and len(one["payload"]["attempts"]) == 1
    for job in (*listed, one):
        stamps = _job_stamps(job)
        assert len(stamps) >= 3 and {_utc_offset(s) for s in stamps} == {timedelta(0)}, stamps
    [superseded] = client.get(f"/api/v1/jobs/{first}/errors", headers=viewer).json()["items"]
    assert superseded["superseded_by"] == again
    assert (_utc_offset(superseded["created_at"]), _utc_offset(superseded["resolved_at"])) == (timedelta(0),) * 2

    [conflict] = client.get("/api/v1/conflicts", headers=viewer).json()
    assert (_utc_offset(conflict["detected_at"]), _utc_offset(conflict["updated_at"])) == (timedelta(0),) * 2
    picked = client.post("/api/v1/products/complete/conflicts/name:en_US", json={"source": "content"},
                         headers=editor).json()
    assert _utc_offset(picked["updated_at"]) == timedelta(0)
    [edit] = client.get("/api/v1/products/bad-gtin/history", headers=viewer).json()
    assert _utc_offset(edit["at"]) == timedelta(0)
    product = client.get("/api/v1/products/bad-gtin", headers=viewer).json()  # had its offset before too
    assert _utc_offset(product["provenance"]["name:en_US"]["at"]) == timedelta(0)


# ------------------------------------------------------------------------------------- SQLite migrations
def _migrate_when_both_ready(url: str, ready: Any, outcome: Any) -> None:
    engine = make_engine(url)
    ready.wait()
    try:
        migrate(engine)
        outcome.put("migrated")
    except Exception as exc:  # noqa: BLE001 — handed to the test
        outcome.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def test_two_processes_migrating_a_fresh_sqlite_file_at_once_both_start(tmp_path: Path) -> None:
    """One of them failed ("table alembic_version already exists", "table structure already exists" or
    "database is locked"): pysqlite ran each CREATE of the upgrade on its own, with no lock between the two.
    Processes, as two commands are (alembic's `op` is one per process); released together by a barrier."""
    url = f"sqlite:///{tmp_path / 'pim.db'}"
    spawn = multiprocessing.get_context("spawn")
    ready, outcome = spawn.Barrier(2), spawn.Queue()
    both = [spawn.Process(target=_migrate_when_both_ready, args=(url, ready, outcome)) for _ in range(2)]
    for process in both:
        process.start()
    for process in both:
        process.join(120)
    assert [outcome.get(timeout=5) for _ in both] == ["migrated", "migrated"]
    engine = create_engine(url)
    with engine.connect() as conn:
        heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert heads == set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert {"product", "job", "structure"} <= set(inspect(engine).get_table_names())
    engine.dispose()


# ------------------------------------------------------------------------------------ S3 and its staging
@SQLITE
def test_an_s3_publication_removes_what_killed_publications_left_in_its_output(store: Store, tmp_path: Path,
                                                                              s3) -> None:
    """The S3 exporter renders into the same local `.staging/job-<id>` as a local publication and removed only
    its own; a killed one's stayed until `pim maintain`. (Nothing is staged in the bucket: each file is one
    PUT to its final key.)"""
    s3.client().create_bucket(Bucket="pim-sweep")
    output = tmp_path / "out"
    killed, running = _publish_job(store, "running", pid=DEAD_PID), _publish_job(store, "running", pid=os.getpid())
    mine = _publish_job(store, "running", pid=os.getpid())
    for job_id in (killed, running, mine):
        _staged(output, job_id)
    artifact = output / ".staging" / f"job-{mine}" / "storefront" / "catalog.ecommerce.en_US.json"
    ctx = PublishContext(structure=Structure(), output_dir=output, channel="ecommerce", job_id=mine,
                         options={"store": store})
    pushed = S3Exporter(bucket="pim-sweep", endpoint_url=s3.url).push(
        [Artifact(path=artifact, name="storefront/catalog.ecommerce.en_US.json", content_type="application/json")],
        ctx)
    assert pushed == ["s3://pim-sweep/storefront/catalog.ecommerce.en_US.json"]
    assert _left(output) == {f"job-{running}"}
