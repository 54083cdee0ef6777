"""Round 33 review mends: a worker waits out a PostgreSQL server short of resources or timing out (as it did before
the round) and a command or request meeting one says to retry; `pim search mark-loaded` removes only the runs it
listed; each paged route's cursor refusal names where its next cursor is; resolving while paging the conflicts
through the API skips none."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import psycopg.errors
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.testing import CliRunner

from pim import job_enqueue, job_queue, job_runners
from pim.errors import InputError, StoreError
from pim.store import Store
from pim.store.database import database_failure, failure_in
from tests.source_data import seed_structure
from tests.test_conflicts_r33 import KEY, disputed
from tests.test_ops_r33 import Claims
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

SQLITE = pytest.mark.backends("sqlite")
#: Errors a PostgreSQL server gives while it cannot serve a statement now, though it will later.
BUSY = [psycopg.errors.TooManyConnections("sorry, too many clients already"),
        psycopg.errors.DiskFull("could not extend file: No space left on device"),
        psycopg.errors.OutOfMemory("out of memory"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")]


def _said(orig: Exception) -> OperationalError:
    return OperationalError("SELECT job", {}, orig)


# ---------------------------------------------------------------- 1. a busy server is waited out, not a stop
@SQLITE
def test_a_worker_waits_out_a_server_short_of_resources_or_timing_out(store: Store, monkeypatch, caplog) -> None:
    """Since the round's first stop-on-error change the worker stopped (exit 4, "run `pim init`") on these."""
    monkeypatch.setitem(job_runners.RUNNERS, "probe", lambda _store, _job: {"ran": 1})
    job_id = job_enqueue.enqueue(store, "probe", "somewhere", {})
    claims = Claims([_said(e) for e in BUSY])
    monkeypatch.setattr(job_queue, "claim", claims)
    with caplog.at_level(logging.INFO, logger="pim.job_queue"):
        result = job_queue.work(store, idle_exit=0, poll=0.001)
    assert claims.calls > len(BUSY) and [(j["id"], j["status"]) for j in result.jobs] == [(job_id, "succeeded")]
    said = [r.getMessage() for r in caplog.records if "could not look for queued jobs" in r.getMessage()]
    assert len(said) == 1 and "cannot serve it now" in said[0] and "too many clients" in said[0]


@SQLITE
@pytest.mark.parametrize("orig,driver", [
    (psycopg.errors.UndefinedTable('relation "job" does not exist'), 'relation "job" does not exist'),
    (psycopg.errors.InsufficientPrivilege("permission denied for table job"), "permission denied for table job")])
def test_a_worker_still_stops_on_a_schema_or_right_error(store: Store, monkeypatch, orig: Exception,
                                                         driver: str) -> None:
    """Guard (passes before and after): only passing failures are waited out, a missing table or right stops."""
    stop = threading.Event()
    claims = Claims([ProgrammingError("SELECT job", {}, orig)] * 3, stop)
    monkeypatch.setattr(job_queue, "claim", claims)
    with pytest.raises(StoreError) as raised:
        job_queue.work(store, poll=0.001, stop=stop)
    assert claims.calls == 1 and raised.value.exit_code == 4 and driver in raised.value.describe()
    assert "the worker stopped" in raised.value.describe()


@SQLITE
def test_a_worker_raises_an_error_that_is_no_database_error(store: Store, monkeypatch) -> None:
    """Guard (passes before and after): a bug in the claim is not waited out either."""
    stop = threading.Event()
    monkeypatch.setattr(job_queue, "claim", Claims([RuntimeError("a bug")] * 3, stop))
    with pytest.raises(RuntimeError, match="a bug"):
        job_queue.work(store, poll=0.001, stop=stop)


@pytest.mark.parametrize("orig", BUSY, ids=lambda e: e.sqlstate)
def test_a_command_or_job_meeting_a_busy_server_is_told_to_retry_not_to_migrate(orig: Exception) -> None:
    """They got no mapping: the command line showed a traceback, a job the "run `pim init` … grant" refusal."""
    found = failure_in(_said(orig))
    assert found is not None and found.busy and not (found.overtaken or found.locked)
    command = database_failure(_said(orig))
    assert command is not None and command.exit_code == 4
    assert "could not serve this command's statement now" in str(command) and str(orig) in str(command)
    assert "in a minute, run the command again" in (command.hint or "") and "pim init" not in command.describe()
    job = database_failure(_said(orig), again="run `pim jobs retry 7`")
    assert job is not None and "this job's" in str(job) and "`pim jobs retry 7`" in (job.hint or "")


@SQLITE
def test_an_api_request_meeting_a_busy_server_answers_503_with_retry_after(store: Store, monkeypatch) -> None:
    """It was a 500 with a traceback in the log."""
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    viewer = {"Authorization": f"Bearer {create_token(store, add_user(store, 'vi', 'correct horse', 'viewer'))}"}
    client = TestClient(create_app(store), raise_server_exceptions=False)

    def busy(*_args: Any, **_kwargs: Any) -> Any:
        raise _said(psycopg.errors.TooManyConnections("sorry, too many clients already"))

    monkeypatch.setattr(store.engine, "connect", busy)
    monkeypatch.setattr(store.engine, "begin", busy)
    answer = client.get("/api/v1/products", headers=viewer)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "10"  # round 34: busy, not unavailable
    assert "send it again in a moment" in answer.json()["errors"][0]["message"]


@pytest.mark.backends("postgresql")
def test_a_real_statement_timeout_is_a_busy_server(store: Store) -> None:
    """The SQLSTATE as the server sends it, not only psycopg's class: a statement past its statement_timeout."""
    with pytest.raises(OperationalError) as raised, store.engine.connect() as conn:
        conn.execute(text("SET statement_timeout = 20"))
        conn.execute(text("SELECT pg_sleep(2)"))
    found = failure_in(raised.value)
    assert found is not None and found.busy and "statement timeout" in found.said


# ---------------------------------------------------------------- 2. mark-loaded removes what it listed
@SQLITE
def test_mark_loaded_refuses_when_a_publish_lands_while_it_asks(store: Store, tmp_path: Path, monkeypatch) -> None:
    """It removed whatever manifest.json and pending/ held once confirmed: the new publish marked loaded unseen."""
    from pim.cli import _mount
    from pim.cli import app as cli
    from tests.search_data import load_catalog, publish_search, variant

    monkeypatch.delenv("MEILI_URL", raising=False)
    _mount()
    load_catalog(store)
    out = tmp_path / "out"
    publish_search(store, out)

    def a_publish_lands_meanwhile(*_args: Any, **_kwargs: Any) -> bool:
        store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
        publish_search(store, out)
        return True

    monkeypatch.setattr("typer.confirm", a_publish_lands_meanwhile)
    refused = CliRunner().invoke(cli, ["search", "mark-loaded", "--folder", str(out)])
    assert isinstance(refused.exception, InputError) and refused.exception.exit_code == 2
    assert "changed after its runs were listed" in str(refused.exception) and "nothing was marked" in str(
        refused.exception) and "again" in (refused.exception.hint or "")
    assert (out / "search" / "manifest.json").is_file() and (out / "search" / "pending").is_dir()
    monkeypatch.setattr("typer.confirm", lambda *_a, **_k: True)  # nothing lands this time
    marked = CliRunner().invoke(cli, ["search", "mark-loaded", "--folder", str(out)])
    assert marked.exit_code == 0, marked.output
    assert "2 publish(es) marked loaded" in " ".join(marked.stdout.split())
    assert not (out / "search" / "manifest.json").exists() and not (out / "search" / "pending").exists()


# ---------------------------------------------------------------- 3, 4. the conflicts' pages through the API
@pytest.fixture
def api(store: Store) -> tuple[TestClient, dict[str, dict[str, str]]]:
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    seed_structure(store)
    tokens = {role: {"Authorization": f"Bearer {create_token(store, add_user(store, name, 'correct horse', role))}"}
              for name, role in (("ed", "editor"), ("vi", "viewer"))}
    return TestClient(create_app(store)), tokens


@SQLITE
@pytest.mark.parametrize("path,where,not_there", [("/api/v1/conflicts", "`Link` header", "next_cursor"),
                                                  ("/api/v1/products", "next_cursor", "Link"),
                                                  ("/api/v1/jobs/1/errors", "next_cursor", "Link")])
def test_a_refused_cursor_says_where_that_route_gives_the_next_one(api, path: str, where: str, not_there: str) -> None:
    """All said "a next_cursor value", which /conflicts never gives (its next page is in the Link header); the
    routes whose body has `next_cursor` keep saying so (those two cases are guards)."""
    client, tokens = api
    answer = client.get(f"{path}?cursor=x", headers=tokens["viewer"])
    [error] = answer.json()["errors"]
    assert answer.status_code == 422 and error["field"] == "query.cursor"
    assert where in error["message"] and not_there not in error["message"]


@SQLITE
def test_resolving_a_listed_conflict_through_the_api_while_paging_skips_none(api, store: Store) -> None:
    client, tokens = api
    for sku in ("A1", "A2", "A3", "A4", "A5"):
        disputed(store, sku)
    every = [(c["identifier"], c["value_key"]) for c in client.get("/api/v1/conflicts", headers=tokens["viewer"]).json()]
    assert len(every) == 5
    first = client.get("/api/v1/conflicts?limit=2", headers=tokens["viewer"])
    seen = [(c["identifier"], c["value_key"]) for c in first.json()]
    picked = client.post(f"/api/v1/products/{seen[0][0]}/conflicts/{KEY}", json={"source": "erp"},
                         headers=tokens["editor"])
    assert picked.status_code == 200 and picked.json()["status"] == "resolved"
    resp = first
    while "link" in resp.headers:
        link = resp.headers["link"]
        resp = client.get(link[1:link.index(">")], headers=tokens["viewer"])
        seen += [(c["identifier"], c["value_key"]) for c in resp.json()]
    assert seen == every  # the resolved one was on the first page; nothing after it was skipped
    still = [(c["identifier"], c["value_key"]) for c in client.get("/api/v1/conflicts", headers=tokens["viewer"]).json()]
    assert still == [c for c in every if c != seen[0]]
