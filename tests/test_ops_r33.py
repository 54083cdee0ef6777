"""Operations, round 33 (the rough edges round 32 left): the portal's JSON routes, and any request asking for JSON,
answer a database outage in JSON; a worker waits out only outages and stops on any other database error saying
what to check; SQLite's "database is locked" is said as another process writing (503 in the web app); a job's
error holds the mapped message and the driver's first line, never the statement or SQLAlchemy's link; reset
links are not built from a loopback Host a same-host proxy wrote."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.exc import SQLAlchemyError

from pim import delivery_log as log
from pim import job_claims, job_enqueue, job_queue, job_runners, job_status
from pim.errors import StoreError
from pim.portal import create_portal_app
from pim.store import Store
from pim.store.store import JOB
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests.test_portal_reset import Inbox, inbox  # noqa: F401  (the loopback SMTP server fixture)
from tests.test_portal_round32 import EMAIL, no_public_url, person  # noqa: F401  (fixtures)
from tests.test_round32_mends_ops import _outage
from tests.test_web_ui import cheap_argon2, csrf  # noqa: F401  (cheap_argon2: autouse)

SQLITE = pytest.mark.backends("sqlite")
AWAY = ("the database is unavailable: nothing of this request was saved; try again in a minute, and if it stays "
        "unavailable ask your administrator to check the database server (PIM_DATABASE_URL)")
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _database_away(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection the store's engine would open fails as psycopg fails on a server shut down."""
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise _outage()

    monkeypatch.setattr(store.engine, "connect", refuse)
    monkeypatch.setattr(store.engine, "begin", refuse)


# ------------------------------------------------------------------------------------ JSON while the database is away
@SQLITE
@pytest.mark.parametrize("make_app", [create_app, create_portal_app], ids=["pim serve", "portal alone"])
def test_a_script_paging_through_its_portal_files_gets_json_while_the_database_is_away(
        store: Store, monkeypatch: pytest.MonkeyPatch, make_app: Any) -> None:
    """The full app answered the portal's JSON routes with the HTML page; the portal on its own with a 500."""
    token = log.issue_token(store, "cust_a")
    client = TestClient(make_app(store), raise_server_exceptions=False)
    _database_away(store, monkeypatch)
    for path in ("/portal/feeds?limit=2", "/portal/contracts", "/portal/feeds/1/download"):
        answer = client.get(path, headers={"Authorization": f"Bearer {token}", "Accept": "*/*"})
        assert answer.status_code == 503 and answer.headers["content-type"] == "application/json", path
        assert answer.json() == {"detail": AWAY} and answer.headers["retry-after"] == "30"


@SQLITE
def test_a_page_answers_the_outage_in_json_to_a_request_asking_for_json(store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """It answered the HTML page whatever the request asked for."""
    client = TestClient(create_app(store), raise_server_exceptions=False)
    _database_away(store, monkeypatch)
    for accept, json in (("application/json", True), ("text/html;q=0.5, application/json", True), (BROWSER, False),
                         ("*/*", False), ("application/json;q=0.5, text/html", False)):
        answer = client.get("/portal/reset?token=prs_x", headers={"Accept": accept})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        if json:
            assert answer.json() == {"detail": AWAY}, accept
        else:
            assert answer.headers["content-type"].startswith("text/html"), accept
            assert "<h1>The database is unavailable</h1>" in answer.text


# ---------------------------------------------------------------------------------- the worker's claim loop
class Claims:
    """A stand-in for job_claims.claim: its first calls fail with `errors` in turn, then it claims; the call after
    the last error sets `stop` (the old loop waited out any error for ever: the test ends instead of hanging)."""

    def __init__(self, errors: list[Exception], stop: threading.Event | None = None) -> None:
        self.errors, self.stop, self.calls, self.real = errors, stop, 0, job_claims.claim

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls > len(self.errors):
            if self.stop is not None:
                self.stop.set()
            return self.real(*args, **kwargs)
        raise self.errors[self.calls - 1]


def _missing_table(store: Store) -> SQLAlchemyError:
    """What the database says to a statement on a table that is not there (a schema this pim does not expect)."""
    try:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("UPDATE no_such_table SET status = 'failed'")
    except SQLAlchemyError as exc:
        return exc
    raise AssertionError("the statement ran")


@SQLITE
def test_a_worker_waits_out_an_outage_looking_for_jobs_saying_so_once(store: Store, monkeypatch, caplog) -> None:
    """The old loop waited too, but said so at every poll (and never that the database was back)."""
    monkeypatch.setitem(job_runners.RUNNERS, "probe", lambda _store, _job: {"ran": 1})
    job_id = job_enqueue.enqueue(store, "probe", "somewhere", {})
    monkeypatch.setattr(job_queue, "claim", Claims([_outage()] * 3))
    with caplog.at_level(logging.INFO, logger="pim.job_queue"):
        result = job_queue.work(store, idle_exit=0, poll=0.001)
    assert [j["id"] for j in result.jobs] == [job_id] and result.jobs[0]["status"] == "succeeded"
    said = [r.getMessage() for r in caplog.records if "could not look for queued jobs" in r.getMessage()]
    assert len(said) == 1 and "the database is unavailable" in said[0] and "administrator command" in said[0]
    assert [r for r in caplog.records if "answers again" in r.getMessage()]


@SQLITE
def test_a_worker_stops_on_a_database_error_that_is_no_outage_saying_what_to_do(store: Store, monkeypatch,
                                                                               caplog) -> None:
    """A missing table (a schema another release migrated, a restored backup) was retried every poll, for ever."""
    stop = threading.Event()
    claims = Claims([_missing_table(store)] * 3, stop)
    monkeypatch.setattr(job_queue, "claim", claims)
    with caplog.at_level(logging.ERROR, logger="pim.job_queue"), pytest.raises(StoreError) as raised:
        job_queue.work(store, poll=0.001, stop=stop)
    assert claims.calls == 1 and raised.value.exit_code == 4
    message = raised.value.describe()
    assert "the worker stopped" in message and "no such table: no_such_table" in message
    assert "`pim init`" in message and "start the worker again" in message and "[SQL:" not in message
    assert [r for r in caplog.records if "UPDATE no_such_table" in r.getMessage()], "the full text is logged"
    assert not job_status.worker_running(store)  # its row says it stopped


@SQLITE
def test_pim_worker_on_a_database_without_the_job_table_exits_with_a_store_error(store: Store) -> None:
    """Its --once run raised the driver's error (a traceback); a long-running one retried for ever."""
    from pim.cli.worker import worker

    with store.begin() as conn:
        conn.exec_driver_sql("DROP TABLE job")
    with pytest.raises(StoreError) as raised:  # pim.cli.main prints it and exits 4
        worker(once=True, idle_exit=None, poll=0.05, parent=None, as_json=False)
    assert "no such table: job" in str(raised.value) and "pim init" in (raised.value.hint or "")


# ------------------------------------------------------------------------------------------ SQLite's write lock
@pytest.fixture
def locked(store: Store) -> Any:
    """Another process's write: a connection holding BEGIN IMMEDIATE on the store's file; the store's own
    connections wait 20 ms (not pim's 30 s) for it. `locked.rollback()` lets go."""
    @event.listens_for(store.engine, "connect")
    def _quick(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA busy_timeout=20")

    store.engine.dispose()
    holder = sqlite3.connect(store.engine.url.database, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    holder.rollback()
    holder.close()


def _write_while_locked(store: Store) -> SQLAlchemyError:
    try:
        job_enqueue.enqueue(store, "probe", "somewhere", {})
    except SQLAlchemyError as exc:
        return exc
    raise AssertionError("the write went through")


@SQLITE
def test_a_command_meeting_another_process_write_lock_says_so_and_what_to_do(store: Store, locked: Any) -> None:
    """pim.cli.main showed sqlite3's traceback: "database is locked" was no database failure."""
    from pim.cli import _database_failure

    mapped = _database_failure(_write_while_locked(store))
    assert isinstance(mapped, StoreError) and mapped.exit_code == 4
    assert str(mapped).startswith("another process is writing to the SQLite database") and "database is locked" in \
        str(mapped)
    assert "run the command again" in (mapped.hint or "") and "PostgreSQL" in (mapped.hint or "")


@SQLITE
def test_an_api_write_meeting_another_process_write_lock_answers_503_with_retry_after(store: Store,
                                                                                     locked: Any) -> None:
    locked.rollback()  # the token and the job are written first
    user = add_user(store, "ad", "correct horse", "admin")
    headers = {"Authorization": f"Bearer {create_token(store, user)}"}
    job_id = job_enqueue.enqueue(store, "import", "upload", {})
    client = TestClient(create_app(store), raise_server_exceptions=False)
    locked.execute("BEGIN IMMEDIATE")
    busy = client.post(f"/api/v1/jobs/{job_id}/priority", json={"priority": 5}, headers=headers)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    [error] = busy.json()["errors"]
    assert error["message"].startswith("the database is busy with another process's write") and \
        "PostgreSQL" in error["message"]


@SQLITE
def test_a_job_meeting_another_process_write_lock_ends_failed_saying_so(store: Store, locked: Any,
                                                                        monkeypatch) -> None:
    """The job's error was `OperationalError: (sqlite3.OperationalError) database is locked [SQL: …]`."""
    def writes(store: Store, job: dict[str, Any]) -> None:
        locked.execute("BEGIN IMMEDIATE")  # the other process starts writing while the job runs
        try:
            with store.begin() as conn:
                conn.execute(update(JOB).where(JOB.c.id == job["id"]).values(counts={"half": 1}))
        finally:
            locked.rollback()  # and ends: the failure can be recorded

    monkeypatch.setitem(job_runners.RUNNERS, "probe", writes)
    locked.rollback()
    job_id = job_enqueue.enqueue(store, "probe", "somewhere", {})
    job_queue.work(store, once=True)
    error = store.job(job_id)["error"]  # type: ignore[index]
    assert error.startswith("another process is writing to the SQLite database and kept it locked longer than "
                            "this job's write could wait (database is locked)")
    assert f"`pim jobs retry {job_id}`" in error and "[SQL:" not in error


# ------------------------------------------------------------------------------------------- jobs' error text
def test_a_job_failing_on_a_database_error_says_the_drivers_first_line_not_the_statement(store: Store,
                                                                                         monkeypatch) -> None:
    """The runner's own record (as the import loop's `repr(exc)`) stood: the SQL, its parameters, the link."""
    def broken(store: Store, job: dict[str, Any]) -> None:
        try:
            with store.engine.connect() as conn:
                conn.exec_driver_sql("UPDATE no_such_table SET status = 'failed'")
        except SQLAlchemyError as exc:
            store.finish_job(job["id"], {}, status="failed", error=repr(exc))
            raise

    monkeypatch.setitem(job_runners.RUNNERS, "probe", broken)
    job_id = job_enqueue.enqueue(store, "probe", "somewhere", {})
    job_queue.work(store, once=True)
    error = store.job(job_id)["error"]  # type: ignore[index]
    assert error.startswith("the database refused this job's statement: ") and "no_such_table" in error
    assert "pim init" in error and f"`pim jobs retry {job_id}`" in error
    for noise in ("[SQL:", "sqlalche.me", "OperationalError", "ProgrammingError", "UPDATE"):
        assert noise not in error, noise


def test_a_paged_job_failing_on_a_database_error_says_the_drivers_first_line(store: Store) -> None:
    job_id = store.start_job("rescore", "family shoes")

    def page(conn: Any) -> bool:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
        return True

    job_queue.run_in_pages(store, job_id, {"changed": 0}, page, "Pages already rescored are kept.")
    error = store.job(job_id)["error"]  # type: ignore[index]
    assert error.startswith("the database refused this job's statement: ") and "no_such_table" in error
    assert error.endswith("Pages already rescored are kept.") and "[SQL:" not in error and "sqlalche.me" not in error


# ------------------------------------------------------------------------------ reset links behind a same-host proxy
def _forgot(client: TestClient, headers: dict[str, str]):  # noqa: ANN202
    page = client.get("/portal/forgot", headers=headers)
    return client.post("/portal/forgot", data={"email": EMAIL, "csrf_token": csrf(page.text)}, headers=headers)


@SQLITE
@pytest.mark.parametrize("proxy", [{"X-Forwarded-For": "203.0.113.9"},
                                   {"Forwarded": "for=203.0.113.9;host=pim.example.com;proto=https"},
                                   {"Origin": "https://pim.example.com"}])  # a proxy adding no header (nginx's default)
def test_a_request_through_a_same_host_proxy_gets_no_link_to_loopback(person: Store, no_public_url: Inbox,  # noqa: F811
                                                                     proxy: dict[str, str]) -> None:
    """The proxy connects from 127.0.0.1 and writes Host: 127.0.0.1:8000; the link pointed there."""
    client = TestClient(create_app(person), base_url="http://127.0.0.1:8000", client=("127.0.0.1", 40000))
    answer = _forgot(client, proxy)
    assert answer.status_code == 200 and "cannot mail reset links yet" in answer.text
    assert no_public_url.mails == []
    assert 'href="/portal/forgot"' not in client.get("/portal/", headers=proxy).text


@SQLITE
def test_a_developer_on_localhost_still_gets_a_link_back_to_localhost(person: Store,  # noqa: F811
                                                                      no_public_url: Inbox) -> None:  # noqa: F811
    """Guard (true before too): the browser's own Origin on loopback is no proxy's sign."""
    client = TestClient(create_app(person), base_url="http://localhost:8733", client=("127.0.0.1", 40000))
    _forgot(client, {"Origin": "http://localhost:8733"})
    assert len(no_public_url.mails) == 1 and "http://localhost:8733/portal/reset?token=" in \
        no_public_url.mails[0][1].get_payload(decode=True).decode()
