"""Round 32's operations changes, mended: the API's model times (JobOut, QuarantinedRow) are written with
`+00:00` as every other route writes them (pydantic wrote `Z`); a retried job's earlier attempts are stored with
their offset; a worker waiting to record a job's failure waits only while the database is away, and says it
still waits once a minute; a SQLite upgrade behind another writer says so, and gives up after a bound."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from pim import job_claims, job_enqueue, job_queue
from pim.errors import StoreError
from pim.store import Store
from pim.store import database
from pim.store.database import make_engine, migrate
from pim.store.store import JOB, QUARANTINE
from tests.test_api import api  # noqa: F401  (fixture)
from tests.test_job_queue import _content_job

SQLITE = pytest.mark.backends("sqlite")
#: A stored time with microseconds, and how the API must write it.
STAMP = datetime(2026, 5, 1, 6, 0, 0, 123456, tzinfo=UTC)
STAMP_TEXT = "2026-05-01T06:00:00.123456+00:00"


def _stamp_job(store: Store, job_id: int, **values: datetime) -> None:
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(**values))


def _failed_import(store: Store, tmp_path: Path) -> int:
    """An import job a worker ran and that failed (an empty file), so it can be retried."""
    job_id = _content_job(store, tmp_path, b"")
    job_queue.work(store, once=True)
    assert store.job(job_id)["status"] == "failed"  # type: ignore[index]
    return job_id


# ---------------------------------------------------------------------------------------- the API's times
def test_a_post_answering_a_job_writes_its_times_with_plus_00_00_as_get_does(api, store: Store,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    """POST /jobs/{id}/retry, /cancel and /priority answered JobOut with `…Z` (pydantic's UTC), GET /jobs/{id}
    with `+00:00`."""
    client, tokens = api
    job_id = _failed_import(store, tmp_path)
    retried = client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["editor"])
    assert retried.status_code == 202 and retried.json()["started_at"].endswith("+00:00"), retried.json()
    _stamp_job(store, job_id, started_at=STAMP)
    reordered = client.post(f"/api/v1/jobs/{job_id}/priority", json={"priority": 5}, headers=tokens["editor"])
    assert reordered.status_code == 202 and reordered.json()["started_at"] == STAMP_TEXT
    assert client.get(f"/api/v1/jobs/{job_id}", headers=tokens["viewer"]).json()["started_at"] == STAMP_TEXT
    cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tokens["editor"]).json()
    got = client.get(f"/api/v1/jobs/{job_id}", headers=tokens["viewer"]).json()
    assert cancelled["cancel_requested_at"] == got["cancel_requested_at"] and got["cancel_requested_at"]
    assert cancelled["cancel_requested_at"].endswith("+00:00") and cancelled["started_at"] == STAMP_TEXT


def test_quarantined_rows_times_are_written_with_plus_00_00(api, store: Store, tmp_path: Path) -> None:  # noqa: F811
    client, tokens = api
    job_id = _content_job(store, tmp_path, b"sku,name:en_US\nnope,Ghost\n")
    job_queue.work(store, once=True)
    with store.begin() as conn:
        conn.execute(update(QUARANTINE).where(QUARANTINE.c.job_id == job_id).values(created_at=STAMP,
                                                                                    resolved_at=STAMP))
    [row] = client.get(f"/api/v1/jobs/{job_id}/errors", headers=tokens["viewer"]).json()["items"]
    assert (row["created_at"], row["resolved_at"]) == (STAMP_TEXT, STAMP_TEXT)


@SQLITE
def test_openapi_still_documents_the_models_times_as_date_time(api) -> None:  # noqa: F811
    """Guard (true before the change too): a serializer returning text would have made them plain strings."""
    client, _ = api
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    for model, fields in (("JobOut", ("started_at", "finished_at", "cancel_requested_at")),
                          ("QuarantinedRow", ("created_at", "resolved_at"))):
        for name in fields:
            spec = schemas[model]["properties"][name]
            kinds = [(k.get("type"), k.get("format")) for k in spec.get("anyOf", [spec])]
            assert ("string", "date-time") in kinds, (model, name, spec)


def test_a_retried_jobs_earlier_attempt_is_stored_with_its_offset(store: Store, tmp_path: Path) -> None:
    """SQLite stored `2026-05-01T06:00:00.123456` (naive), which the API then re-read as UTC; now the payload
    holds the offset itself (`pim jobs list --json`, the job page and the API read the same). On PostgreSQL the
    stored time was aware already: a guard there."""
    job_id = _failed_import(store, tmp_path)
    _stamp_job(store, job_id, started_at=STAMP, finished_at=STAMP)
    job_enqueue.retry(store, job_id)
    [attempt] = store.job(job_id)["payload"]["attempts"]  # type: ignore[index]
    assert (attempt["started_at"], attempt["ended_at"]) == (STAMP_TEXT, STAMP_TEXT)


# ------------------------------------------------------------------------- the worker, the database away
def _held_job(store: Store) -> dict[str, Any]:
    job_id = job_enqueue.enqueue(store, "echo", "somewhere", {})
    job = job_claims.claim(store, ["echo"])
    assert job is not None and job["id"] == job_id
    return job


def _outage() -> OperationalError:
    """What psycopg raises for a server shut down under the session (SQLSTATE 57P01)."""
    import psycopg.errors

    return OperationalError("UPDATE job", {}, psycopg.errors.AdminShutdown("terminating connection due to "
                                                                           "administrator command"))


class Ends:
    """A stand-in for job_queue._end: its first calls fail with `errors` in turn, then it ends the job."""

    def __init__(self, errors: list[Exception], stop: threading.Event | None = None) -> None:
        self.errors, self.stop, self.calls, self.real = errors, stop, 0, job_queue._end

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls > len(self.errors):
            self.real(*args, **kwargs)
            return
        if self.stop is not None and self.calls == len(self.errors):
            self.stop.set()  # the old loop would go on for ever: end it, so the test fails instead of hanging
        raise self.errors[self.calls - 1]


@SQLITE
def test_a_database_error_that_is_no_outage_stops_the_wait_for_the_database(store: Store, monkeypatch,
                                                                            caplog) -> None:
    """A wrong statement (here: a table that is not there, as after a schema mismatch) was caught and tried
    again every poll, silently, for ever."""
    job = _held_job(store)
    try:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("UPDATE no_such_table SET status = 'failed'")
    except SQLAlchemyError as exc:
        wrong = exc
    stop = threading.Event()
    ends = Ends([wrong, wrong, wrong], stop)
    monkeypatch.setattr(job_queue, "_end", ends)
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"), pytest.raises(SQLAlchemyError) as raised:
        job_queue._end_once_back(store, job, "lost the connection", stop, 0.001)
    assert raised.value is wrong and ends.calls == 1
    [said] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"job {job['id']}" in said.getMessage() and "no_such_table" in said.getMessage()
    assert "not because the database is away" in said.getMessage() and f"pim jobs retry {job['id']}" in \
        said.getMessage()


@SQLITE
def test_while_the_database_is_away_the_worker_waits_and_says_it_still_waits(store: Store, monkeypatch,
                                                                             caplog) -> None:
    job = _held_job(store)
    ends = Ends([_outage()] * 3)
    monkeypatch.setattr(job_queue, "_end", ends)
    monkeypatch.setattr(job_queue, "OUTAGE_NOTICE", 0.0)  # every wait is a minute long, as far as it knows
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"):
        ended = job_queue._end_once_back(store, job, "lost the connection", threading.Event(), 0.001)
    assert ended["status"] == "failed" and ended["error"] == "lost the connection" and ends.calls == 4
    waiting = [r.getMessage() for r in caplog.records if "still waiting for the database" in r.getMessage()]
    assert len(waiting) == 3 and "terminating connection due to administrator command" in waiting[0]
    assert "PIM_DATABASE_URL" in waiting[0]


@SQLITE
def test_the_worker_says_it_still_waits_once_a_minute_not_every_poll(store: Store, monkeypatch, caplog) -> None:
    """Guard (the old loop said nothing at all while it waited): polls within the minute add no warning."""
    job = _held_job(store)
    monkeypatch.setattr(job_queue, "_end", Ends([_outage()] * 5))
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"):
        job_queue._end_once_back(store, job, "lost the connection", threading.Event(), 0.001)
    assert [r for r in caplog.records if r.levelno == logging.WARNING] and not [
        r for r in caplog.records if "still waiting" in r.getMessage()]


def test_an_invalidated_connection_counts_as_the_database_away() -> None:
    """Guard: the wait relies on failure_in for what an outage is (a connection SQLAlchemy dropped, too)."""
    dropped = DBAPIError("UPDATE job", {}, sqlite3.OperationalError("disk I/O error"), connection_invalidated=True)
    assert database.failure_in(dropped) is not None


# ------------------------------------------------------------------------------------ SQLite upgrades
def _fresh_wal_file(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "pim.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect():  # WAL mode, set by pim's pragmas: readers go on while the other process writes
        pass
    engine.dispose()
    return f"sqlite:///{path}", path


def _quick_busy_timeout(url: str) -> Any:
    """pim's engine, waiting 50 ms (not 30 s) for the write lock at each BEGIN."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _short(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    return engine


def _migrating(engine: Any) -> tuple[threading.Thread, list[BaseException | None]]:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            migrate(engine)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 — handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_an_sqlite_upgrade_behind_another_writer_gives_up_after_the_bound_saying_what_to_do(
        tmp_path: Path, monkeypatch, caplog) -> None:
    """It tried BEGIN IMMEDIATE again for ever, saying nothing."""
    url, path = _fresh_wal_file(tmp_path)
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write
    monkeypatch.setattr(database, "UPGRADE_LOCK_WAIT", 0.3)
    engine = _quick_busy_timeout(url)
    try:
        with caplog.at_level(logging.WARNING, logger="pim.store.database"):
            thread, outcome = _migrating(engine)
            thread.join(20)
        assert outcome, "still waiting after 20 s"
    finally:
        holder.rollback()
        thread.join(20)
        holder.close()
        engine.dispose()
    [error] = outcome
    assert isinstance(error, StoreError), error
    assert str(path) in str(error) and "another process" in str(error)
    assert error.hint and "fuser" in error.hint and "start this command again" in error.hint
    waits = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert waits and all(str(path) in w and "another pim process is writing" in w for w in waits)


def test_an_sqlite_upgrade_behind_another_writer_says_so_then_upgrades_once_it_commits(
        tmp_path: Path, caplog) -> None:
    url, path = _fresh_wal_file(tmp_path)
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    class LetGo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # the other writer commits once the upgrade waits
            if record.levelno == logging.WARNING and holder.in_transaction:
                holder.commit()

    engine = _quick_busy_timeout(url)
    let_go = LetGo()
    logging.getLogger("pim.store.database").addHandler(let_go)
    try:
        thread, outcome = _migrating(engine)
        thread.join(60)
        assert outcome == [None], outcome or "still waiting after 60 s"
    finally:
        logging.getLogger("pim.store.database").removeHandler(let_go)
        if holder.in_transaction:
            holder.rollback()
        thread.join(20)
        holder.close()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar_one() >= 1
    engine.dispose()
