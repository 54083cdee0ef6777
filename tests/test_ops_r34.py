"""Round-34 operations and web security mends: a busy, read-only or failing database server is said as such (web
pages, portal, API, command line, worker); a staff sign-in or sign-out in the combined app ends the portal session
its cookie held; an anonymous POST is refused before its body is read; an upload sent without a Content-Length is
read only up to its cap."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg.errors
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError

from pim import delivery_log, job_enqueue, job_queue, job_runners
from pim.portal_sessions import PORTAL_SESSION
from pim.store import Store
from pim.store.database import database_failure, failure_in
from pim.web.app import create_app
from pim.web.tables import WEB_SESSION
from tests.conftest import module_home
from tests.test_ops_r33 import Claims
from tests.test_security_r33 import portal_sign_in, staff_sign_in, staff_sign_out

SQLITE = pytest.mark.backends("sqlite")
READ_ONLY = psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
IO_ERROR = psycopg.errors.IoError("could not read block 7 in file \"base/16384/2619\": Input/output error")
BUSY = psycopg.errors.TooManyConnections("sorry, too many clients already")


def _said(orig: Exception) -> DBAPIError:
    return OperationalError("UPDATE job", {}, orig)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def home(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One SQLite catalog for the module's web tests: an editor `ed` and a portal token of `cust_a`."""
    from pim.web.accounts import add_user

    with module_home(sqlite_template, tmp_path_factory.mktemp("ops_r34")) as (store, mp):
        mp.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
        store.editor = add_user(store, "ed", "editor pass 123", "editor")  # type: ignore[attr-defined]
        store.portal_token = delivery_log.issue_token(store, "cust_a")  # type: ignore[attr-defined]
        yield store


@pytest.fixture
def web(home: Store) -> TestClient:
    return TestClient(create_app(home), raise_server_exceptions=False)


# ------------------------------------------------------------------ 1. busy, read-only and failing servers
@pytest.mark.parametrize("orig,flag,told", [
    (READ_ONLY, "read_only", "point PIM_DATABASE_URL at the primary server"),
    (IO_ERROR, "system", "check the server's disk and file system and its log"),
    (psycopg.errors.UndefinedFile("could not open file \"base/1/2\""), "system", "disk")], ids=["25006", "58030", "58P01"])
def test_a_read_only_or_failing_server_is_a_database_failure_saying_what_to_do(orig: Exception, flag: str,
                                                                               told: str) -> None:
    """They were no failure (None): the command line showed a traceback, a job "run `pim init` … grant"."""
    found = failure_in(_said(orig))
    assert found is not None and getattr(found, flag) and not (found.busy or found.locked or found.overtaken)
    command = database_failure(_said(orig))
    assert command is not None and command.exit_code == 4 and str(orig) in str(command)
    assert told in (command.hint or "") and "run the command again" in (command.hint or "")
    assert "pim init" not in command.describe()
    job = database_failure(_said(orig), again="run `pim jobs retry 7`")
    assert job is not None and "this job's" in str(job) and "`pim jobs retry 7`" in (job.hint or "")


@SQLITE
def test_a_worker_waits_out_a_read_only_or_failing_server_saying_what_to_do(store: Store, monkeypatch,
                                                                           caplog) -> None:
    """It stopped (exit 4, "run `pim init` … grant") on a replica's refusal or an I/O error."""
    monkeypatch.setitem(job_runners.RUNNERS, "probe", lambda _store, _job: {"ran": 1})
    job_id = job_enqueue.enqueue(store, "probe", "somewhere", {})
    monkeypatch.setattr(job_queue, "OUTAGE_NOTICE", 0.0)  # each wait is said
    monkeypatch.setattr(job_queue, "claim", Claims([_said(READ_ONLY), _said(IO_ERROR)]))
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"):
        result = job_queue.work(store, idle_exit=0, poll=0.001)
    assert [(j["id"], j["status"]) for j in result.jobs] == [(job_id, "succeeded")]
    said = [r.getMessage() for r in caplog.records if "could not look for queued jobs" in r.getMessage()]
    assert len(said) == 2 and "point it at the primary server" in said[0] and "read-only transaction" in said[0]
    assert "check the server's disk and its log" in said[1]


def _failing(monkeypatch: pytest.MonkeyPatch, store: Store, orig: Exception) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise _said(orig)

    monkeypatch.setattr(store.engine, "connect", fail)
    monkeypatch.setattr(store.engine, "begin", fail)


@SQLITE
@pytest.mark.parametrize("orig,heading,told,wait", [
    (BUSY, "The database server is busy", "send it again in a moment", "10"),
    (READ_ONLY, "The database takes no writes", "point PIM_DATABASE_URL at the primary database server", "60"),
    (IO_ERROR, "The database server has a fault", "check the database server&#x27;s disk and its log", "60")],
    ids=["busy", "read-only", "system"])
def test_a_page_says_a_busy_read_only_or_failing_server_as_such(home: Store, web: TestClient, monkeypatch,
                                                               orig: Exception, heading: str, told: str,
                                                               wait: str) -> None:
    """A busy server was "The database is unavailable … try again in a minute" (Retry-After 30); a read-only or
    failing one a bare 500."""
    staff_sign_in(web, "ed", "editor pass 123")
    _failing(monkeypatch, home, orig)
    page = web.get("/products")
    assert page.status_code == 503 and page.headers["retry-after"] == wait
    assert f"<h1>{heading}</h1>" in page.text and told in page.text and "unavailable" not in page.text


@SQLITE
def test_the_portal_says_a_busy_server_is_busy(home: Store, web: TestClient, monkeypatch) -> None:
    """Its pages and its JSON said "unavailable", as for a server that is down."""
    assert portal_sign_in(web, token=home.portal_token).status_code == 303  # type: ignore[attr-defined]
    _failing(monkeypatch, home, BUSY)
    page = web.get("/portal/")
    assert page.status_code == 503 and page.headers["retry-after"] == "10"
    assert "The database server is busy" in page.text
    answer = web.get("/portal/feeds", headers={"Authorization": f"Bearer {home.portal_token}",  # type: ignore[attr-defined]
                                               "Accept": "application/json"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "10"
    assert "too busy" in answer.json()["detail"] and "unavailable" not in answer.json()["detail"]


@SQLITE
def test_a_lost_server_is_still_said_unavailable(home: Store, web: TestClient, monkeypatch) -> None:
    """Guard (passes before and after): an outage keeps its own words and its minute."""
    assert portal_sign_in(web, token=home.portal_token).status_code == 303  # type: ignore[attr-defined]
    _failing(monkeypatch, home, psycopg.errors.AdminShutdown("terminating connection due to administrator command"))
    page = web.get("/portal/")
    assert page.status_code == 503 and page.headers["retry-after"] == "30"
    assert "The database is unavailable" in page.text


@pytest.mark.backends("postgresql")
def test_a_real_read_only_transaction_is_a_read_only_server(store: Store) -> None:
    """The SQLSTATE as a server sends it (25006): a write in a read-only transaction, as on a replica."""
    with pytest.raises(InternalError) as raised, store.engine.connect() as conn:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        conn.execute(text("CREATE TABLE r34_probe (id int)"))
    found = failure_in(raised.value)
    assert found is not None and found.read_only and "read-only transaction" in found.said
    said = database_failure(raised.value)
    assert said is not None and "primary" in (said.hint or "")


# ------------------------------------------------------------------ 2. the portal session goes with the cookie
def _open_portal_sessions(store: Store) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(PORTAL_SESSION.c.id).where(PORTAL_SESSION.c.ended_at.is_(None))).all())


def _end_this_browser(web: TestClient, store: Store) -> None:
    with store.engine.connect() as conn:
        mine = conn.execute(select(WEB_SESSION.c.id).where(WEB_SESSION.c.ended_at.is_(None))
                            .order_by(WEB_SESSION.c.id.desc())).scalars().first()
    page = web.get("/account/sessions").text
    web.post(f"/account/sessions/{mine}/end", data={"csrf_token": _csrf(page)}, follow_redirects=False)


@SQLITE
@pytest.mark.parametrize("how", ["staff sign-in", "staff sign-out", "ending this browser's session"])
def test_a_staff_sign_in_or_out_ends_the_portal_session_its_cookie_held(home: Store, how: str) -> None:
    """The cookie lost its portal keys but the portal_session row stayed open: a copy of the cookie taken
    before still opened the portal for 12 hours."""
    web = TestClient(create_app(home))
    if how != "staff sign-in":
        assert staff_sign_in(web, "ed", "editor pass 123").status_code == 303
    assert portal_sign_in(web, token=home.portal_token).status_code == 303  # type: ignore[attr-defined]
    copied, before = web.cookies.get("pim_session"), _open_portal_sessions(home)
    assert TestClient(web.app, cookies={"pim_session": copied}).get("/portal/feeds").status_code == 200
    if how == "staff sign-in":
        assert staff_sign_in(web, "ed", "editor pass 123").status_code == 303
    elif how == "staff sign-out":
        staff_sign_out(web)
    else:
        _end_this_browser(web, home)
    assert _open_portal_sessions(home) == before - 1
    assert TestClient(web.app, cookies={"pim_session": copied}).get("/portal/feeds").status_code == 401


# ------------------------------------------------------------------ 3, 4. bodies read only as far as needed
BOUNDARY = "r34boundary"
CHUNK = 16 * 1024


def _multipart(fields: dict[str, str], file_chunks: int) -> Iterator[bytes]:
    """A multipart form with `fields` and a file of `file_chunks` CHUNK-sized pieces, piece by piece."""
    for name, value in fields.items():
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
           f"Content-Type: text/csv\r\n\r\n").encode()
    for _ in range(file_chunks):
        yield b"x" * CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _post_chunked(app: Any, path: str, pieces: Iterator[bytes], cookie: str | None = None,
                  headers: dict[str, str] | None = None) -> tuple[httpx.Response, int]:
    """POST `pieces` with no Content-Length (chunked), straight to the ASGI app; the answer and how many pieces
    the app read."""
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for piece in pieces:
            pulled += 1
            yield piece

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     cookies={"pim_session": cookie} if cookie else None) as client:
            return await client.post(path, content=body(), headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})})

    with ThreadPoolExecutor(1) as thread:  # a loop of its own: another test may have left one running here
        return thread.submit(asyncio.run, send()).result(), pulled


@SQLITE
@pytest.mark.parametrize("who", ["no session", "not signed in"])
def test_an_anonymous_post_is_refused_before_its_body_is_read(home: Store, web: TestClient, who: str) -> None:
    """check_csrf parsed the form (spooling its file) before the session was looked at."""
    cookie = None
    if who == "not signed in":
        token = _csrf(web.get("/login").text)  # a session with a CSRF token, and no sign-in
        cookie = web.cookies.get("pim_session")
    else:
        token = "guessed"
    answer, pulled = _post_chunked(web.app, "/imports", _multipart({"csrf_token": token}, 8), cookie)
    assert pulled == 0
    if who == "no session":
        assert answer.status_code == 403 and "CSRF token missing or wrong" in answer.json()["detail"]
    else:
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


class _Spooled:
    """Every file the form parser spooled, to check none is left open (a rolled-over one is a temp file)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from tempfile import SpooledTemporaryFile

        import starlette.formparsers

        self.files: list[Any] = []
        spooled = self

        class Tracked(SpooledTemporaryFile):  # type: ignore[type-arg]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                spooled.files.append(self)

        monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", Tracked)


@SQLITE
@pytest.mark.parametrize("route", ["import page", "product image", "api import"])
def test_a_chunked_upload_is_read_only_up_to_its_cap(home: Store, web: TestClient, monkeypatch, route: str) -> None:
    """Sent without a Content-Length, the whole body was spooled to disk before the 413."""
    from pim.settings import get_settings, reset_settings

    cap = 256 * 1024
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", cap)
    monkeypatch.setenv("PIM_MEDIA_UPLOAD_MAX_BYTES", str(cap))
    reset_settings()
    uploads = get_settings().home / "uploads"
    spooled = _Spooled(monkeypatch)
    cookie, headers, fields = None, None, {}
    if route == "api import":
        from pim.web.accounts import create_token

        headers = {"Authorization": f"Bearer {create_token(home, home.editor)}"}  # type: ignore[attr-defined]
        fields = {"importer": "content"}
        path = "/api/v1/imports"
    else:
        staff_sign_in(web, "ed", "editor pass 123")
        fields = {"csrf_token": _csrf(web.get("/account/sessions").text)}
        cookie = web.cookies.get("pim_session")
        path = "/imports" if route == "import page" else "/products/X/media"
    over = 4 * cap // CHUNK  # four times the cap
    answer, pulled = _post_chunked(web.app, path, _multipart(fields, over), cookie, headers)
    reset_settings()
    assert answer.status_code == 413 and "over" in answer.text and ("pim import" in answer.text or
                                                                    "PIM_MEDIA_UPLOAD_MAX_BYTES" in answer.text)
    assert pulled <= len(fields) + 2 + (cap + 64 * 1024) // CHUNK  # the fields, the file's head, the cap and room
    assert spooled.files and all(f.closed for f in spooled.files)
    assert not uploads.exists() or not list(uploads.iterdir())
