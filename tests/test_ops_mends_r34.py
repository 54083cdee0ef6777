"""Round-34 review mends of the ops commit: a database that takes no writes (25006) has its pool dropped at each
such failure, so a worker or the web app follows a failover whose name moved to the new primary; a worker stops
(exit 4, saying what to do) once it has taken none for the read-only wait, while a server's system error (class 58)
is still waited out; one function (pim.web.api_errors.unavailable) words every 503 answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg.errors
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from pim import job_claims, job_queue
from pim.errors import StoreError
from pim.store import Store
from pim.store.database import failure_in
from pim.web import api_errors
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests import read_only_db
from tests.conftest import module_home
from tests.read_only_db import Disposals, claims_refused_read_only, read_only_wait
from tests.test_ops_r33 import Claims
from tests.test_ops_r34 import BUSY, IO_ERROR, READ_ONLY, _failing, _said
from tests.test_round32_mends_ops import Ends

SQLITE = pytest.mark.backends("sqlite")
probe = read_only_db.probe  # the fixture: a queued job whose runner does nothing


# ------------------------------------------------------------------ the worker, looking for jobs
@SQLITE
def test_a_worker_stops_once_the_database_has_taken_no_writes_for_the_wait(store: Store, probe: int, monkeypatch,
                                                                         caplog) -> None:
    """It waited for ever, saying every minute to point PIM_DATABASE_URL at the primary (which a running worker
    never reads again)."""
    stop = claims_refused_read_only(monkeypatch)  # old code: ends, no stop
    disposed = Disposals(monkeypatch, store)
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"), pytest.raises(StoreError) as raised:
        job_queue.work(store, idle_exit=0, poll=0.001, stop=stop)
    said = raised.value
    assert said.exit_code == 4 and "has taken no writes for" in str(said) and "so the worker stopped" in str(said)
    assert "read-only transaction" in str(said)
    assert "point PIM_DATABASE_URL at the primary server" in (said.hint or "")
    assert "start the worker again" in (said.hint or "")
    assert disposed.calls >= 1 and store.job(probe)["status"] == "queued"  # type: ignore[index]
    assert any(r.levelno == logging.ERROR and "has taken no writes" in r.getMessage() for r in caplog.records)


@SQLITE
def test_a_worker_drops_the_pool_at_each_read_only_failure_and_goes_on_once_writes_are_taken(
        store: Store, probe: int, monkeypatch, caplog) -> None:
    """Pooled connections to a demoted server pass pool_pre_ping: kept, they refused every write for ever. A busy
    or failing server keeps its connections (they are not the trouble)."""
    monkeypatch.setattr(job_queue, "OUTAGE_NOTICE", 0.0)  # each wait is said
    monkeypatch.setattr(job_queue, "claim", Claims([_said(READ_ONLY), _said(BUSY), _said(READ_ONLY),
                                                    _said(IO_ERROR)]))
    disposed = Disposals(monkeypatch, store)
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"):
        result = job_queue.work(store, idle_exit=0, poll=0.001)
    assert [(j["id"], j["status"]) for j in result.jobs] == [(probe, "succeeded")]
    assert disposed.calls == 2
    said = [r.getMessage() for r in caplog.records if "could not look for queued jobs" in r.getMessage()]
    assert "connecting anew each time" in said[0] and "the worker stops" in said[0]
    assert "connecting anew" not in said[1] and "connecting anew" not in said[3]


@SQLITE
def test_a_failing_server_is_still_waited_out_past_the_read_only_wait(store: Store, probe: int,
                                                                      monkeypatch) -> None:
    """Guard (passes before and after): class 58 is waited out however long it lasts — a disk may come back —
    and drops no pool."""
    read_only_wait(monkeypatch, "0.0")
    monkeypatch.setattr(job_queue, "claim", Claims([_said(IO_ERROR)] * 3))
    disposed = Disposals(monkeypatch, store)
    result = job_queue.work(store, idle_exit=0, poll=0.001)
    assert [(j["id"], j["status"]) for j in result.jobs] == [(probe, "succeeded")] and disposed.calls == 0


# ------------------------------------------------------------------ the worker, recording a job's end
def _running(store: Store, probe: int) -> dict[str, Any]:
    job = job_claims.claim(store, ["probe"])
    assert job is not None and job["id"] == probe
    return job


@SQLITE
def test_a_job_end_refused_by_a_read_only_server_stops_the_worker_saying_how_to_run_the_job_again(
        store: Store, probe: int, monkeypatch) -> None:
    """The worker waited for ever to record the job's failure, taking no other job."""
    job = _running(store, probe)
    read_only_wait(monkeypatch, "0.05")
    stop = threading.Event()
    monkeypatch.setattr(job_queue, "_end", Ends([_said(READ_ONLY)] * 300, stop))  # old code: records it, returns
    disposed = Disposals(monkeypatch, store)
    with pytest.raises(StoreError) as raised:
        job_queue._end_once_back(store, job, "the database refused this job's write", stop, 0.001)
    assert raised.value.exit_code == 4 and "has taken no writes" in str(raised.value)
    assert f"start the worker again and run `pim jobs retry {probe}`" in (raised.value.hint or "")
    assert disposed.calls >= 1


@SQLITE
def test_a_job_met_by_a_read_only_server_reconnects_before_its_end_is_first_tried(store: Store, probe: int,
                                                                                  monkeypatch) -> None:
    """The first try used the pooled connection that had just refused the job's write."""
    job = _running(store, probe)
    disposed = Disposals(monkeypatch, store)
    ends = Ends([])

    def end(*args: Any, **kwargs: Any) -> None:
        disposed.mark()
        ends(*args, **kwargs)

    monkeypatch.setattr(job_queue, "_end", end)
    ended = job_queue._end_once_back(store, job, "refused", threading.Event(), 0.001, cause=_said(READ_ONLY))
    assert ended["status"] == "failed" and disposed.marks == [1]


# ------------------------------------------------------------------ the web app
@pytest.fixture(scope="module")
def home(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One SQLite catalog for the module's web tests, with an editor's API token."""
    with module_home(sqlite_template, tmp_path_factory.mktemp("ops_mends_r34")) as (store, mp):
        mp.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
        editor = add_user(store, "ed", "editor pass 123", "editor")
        store.token = create_token(store, editor)  # type: ignore[attr-defined]
        yield store


@SQLITE
@pytest.mark.parametrize("orig,wait,told,dropped", [
    (READ_ONLY, "60", "point PIM_DATABASE_URL at the primary database server", 1),
    (IO_ERROR, "60", "check the database server's disk and its log", 0),
    (BUSY, "10", "send it again in a moment", 0)], ids=["read-only", "system (guard)", "busy (guard)"])
def test_a_read_only_answer_drops_the_web_apps_pool_so_the_next_request_connects_anew(
        home: Store, monkeypatch, orig: Exception, wait: str, told: str, dropped: int) -> None:
    """A read-only answer kept the pooled connections to the demoted server: every write refused, for ever. The
    API's words and Retry-After are api_errors.unavailable's, as they were answer_to's (guards for the others)."""
    web = TestClient(create_app(home), raise_server_exceptions=False)
    disposed = Disposals(monkeypatch, home)
    _failing(monkeypatch, home, orig)
    answer = web.get("/api/v1/products", headers={"Authorization": f"Bearer {home.token}"})  # type: ignore[attr-defined]
    assert answer.status_code == 503 and answer.headers["retry-after"] == wait
    assert told in answer.json()["errors"][0]["message"] and disposed.calls == dropped


def test_one_function_words_every_503_answer() -> None:
    """Guard (a move): every failure failure_in finds has its heading, message and wait in api_errors.unavailable,
    as the page, the portal and the API answered them."""
    gone = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    deadlock = psycopg.errors.DeadlockDetected("deadlock detected")
    expected = {READ_ONLY: ("The database takes no writes", 60), IO_ERROR: ("The database server has a fault", 60),
                BUSY: ("The database server is busy", 10), gone: ("The database is unavailable", 30),
                deadlock: ("Another change got in the way", 1)}
    for orig, (heading, wait) in expected.items():
        found = failure_in(_said(orig))
        assert found is not None
        answer = api_errors.unavailable(found)
        assert (answer.heading, answer.retry_after, answer.headers) == (heading, wait, {"Retry-After": str(wait)})
        assert "nothing of this request was saved" in answer.message


# ------------------------------------------------------------------ PostgreSQL: a real demoted connection
@pytest.mark.backends("postgresql")
def test_a_worker_follows_a_failover_its_pooled_connections_did_not(store: Store, probe: int, monkeypatch,
                                                                    caplog) -> None:
    """A connection pooled before a failover answers pool_pre_ping and refuses every write (25006, as a demoted
    server does): the worker looked for jobs through it for ever. Dropping the pool, it connects anew — here
    to a writable session, as a name moved to the new primary would give — and runs the job."""
    demoted = {"now": False}

    @event.listens_for(store.engine, "connect")
    def _to(dbapi_connection: Any, _record: Any) -> None:
        if demoted["now"]:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    stop, real, calls = threading.Event(), job_claims.claim, [0]

    def claim(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:  # the failover: the pool now holds a connection to the demoted server
            demoted["now"] = True
            store.engine.dispose()
            with store.engine.connect():
                pass
            demoted["now"] = False
        if calls[0] > 50:
            stop.set()  # the old loop would go on for ever: end it, so the test fails instead of hanging
        return real(*args, **kwargs)

    monkeypatch.setattr(job_queue, "claim", claim)
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"):
        result = job_queue.work(store, idle_exit=0, poll=0.001, stop=stop)
    said = [r.getMessage() for r in caplog.records if "could not look for queued jobs" in r.getMessage()]
    assert len(said) == 1 and "read-only transaction" in said[0]
    assert [(j["id"], j["status"]) for j in result.jobs] == [(probe, "succeeded")]
