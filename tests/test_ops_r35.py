"""Operations, round 35 (the rough edges round 34 left): a chunked upload is capped by an ASGI middleware that
wraps `receive` (pim.web.body_cap) instead of swapping Starlette's private `Request._receive`; how long a worker
waits for a database that takes no writes is a setting (PIM_WORKER_READ_ONLY_WAIT); the portal run on its own
drops its pool on a read-only answer as the staff app does; pim.grid_index is split, its names still importable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim import delivery_log as log
from pim import job_enqueue, job_queue, job_runners
from pim.errors import ConfigError, StoreError
from pim.settings import get_settings, reset_settings
from pim.store import Store
from pim.web.body_cap import SCOPE_KEY, BodyCapMiddleware, cap_body
from pim.web.imports import FORM_ROOM
from tests import read_only_db
from tests.read_only_db import Disposals, claims_refused_read_only
from tests.test_exposure_r33 import CountingBody, _post
from tests.test_ops_r34 import READ_ONLY, _failing
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures; cheap_argon2: autouse)

SQLITE = pytest.mark.backends("sqlite")
probe = read_only_db.probe  # the fixture: a queued job whose runner does nothing


# ---------------------------------------------------------------------------------------------- the upload cap
def _capped_app(limit: int) -> FastAPI:
    """A bare app behind BodyCapMiddleware: /capped arms `limit` on its body, /free arms nothing."""
    app = FastAPI()
    app.add_middleware(BodyCapMiddleware)

    def arm(request: Request) -> None:
        cap_body(request, limit, "over the test cap")

    @app.post("/capped", dependencies=[Depends(arm)])
    async def capped(request: Request) -> dict[str, Any]:
        return {"read": len(await request.body())}

    @app.post("/free")
    async def free(request: Request) -> dict[str, Any]:
        return {"read": len(await request.body()), "counted": SCOPE_KEY in request.scope}

    return app


def test_a_chunked_body_over_an_armed_cap_is_refused_with_413_as_it_is_read() -> None:
    body = CountingBody(256 * 1024, {})
    resp = _post(_capped_app(1000), "/capped", body, {}, declared=False)
    assert resp.status_code == 413 and resp.json() == {"detail": "over the test cap"}
    assert body.sent < body.length  # refused mid-body: the rest was never pulled


def test_a_chunked_body_under_the_cap_and_one_no_route_capped_are_read_whole() -> None:
    app = _capped_app(10 * 1024 * 1024)
    small = CountingBody(128 * 1024, {})
    assert _post(app, "/capped", small, {}, declared=False).json() == {"read": small.length}
    big = CountingBody(256 * 1024, {})
    assert _post(_capped_app(1000), "/free", big, {}, declared=False).json() == {"read": big.length, "counted": True}


def test_a_body_with_a_content_length_is_counted_too() -> None:
    """Round 35 review: counted as well, as a Transfer-Encoding may override a small Content-Length (the old
    assertion, `counted: False`, pinned that bypass; tests/test_review_mends_r35a.py)."""
    body = CountingBody(128 * 1024, {})
    assert _post(_capped_app(1000), "/free", body, {}).json() == {"read": body.length, "counted": True}


def test_capping_a_chunked_body_without_the_middleware_says_how_to_mend_the_app() -> None:
    app = FastAPI()

    @app.post("/capped")
    async def capped(request: Request) -> None:
        cap_body(request, 1000, "over")

    with pytest.raises(RuntimeError, match="add pim.web.body_cap.BodyCapMiddleware"):
        _post(app, "/capped", CountingBody(1024, {}), {}, declared=False)


@pytest.fixture
def editor(client: TestClient) -> tuple[TestClient, str]:  # noqa: F811  (the fixture test_web_ui defines)
    """test_web_ui's seeded client, signed in as the editor `ed`, and its CSRF token."""
    return client, login(client)


def test_a_chunked_import_page_upload_over_the_cap_is_refused_and_not_kept(
        editor: tuple[TestClient, str], store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard (passes before and after: the cap moved from Request._receive into BodyCapMiddleware, same answer)."""
    web, token = editor
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 1000)
    body = CountingBody(1024 * 1024, {"csrf_token": token})
    resp = _post(web.app, "/imports", body, {}, web.cookies, declared=False)
    assert resp.status_code == 413 and "pim import" in resp.text
    assert body.sent <= 1000 + FORM_ROOM + 2 * 65536  # read no further than the cap, its room and a chunk
    assert store.jobs(kind="import") == [] and not (pim_env / "uploads").exists()


def test_an_import_page_upload_over_the_cap_is_refused_by_its_content_length_unread(
        editor: tuple[TestClient, str], store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard (passes before and after: the cap moved from Request._receive into BodyCapMiddleware, same answer)."""
    web, token = editor
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 1000)
    body = CountingBody(1024 * 1024, {"csrf_token": token})
    resp = _post(web.app, "/imports", body, {}, web.cookies)
    assert resp.status_code == 413 and "pim import" in resp.text and body.sent == 0
    assert store.jobs(kind="import") == []


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_an_import_page_upload_under_the_cap_is_queued_either_way(editor: tuple[TestClient, str], store: Store,
                                                                  declared: bool) -> None:
    """Guard (passes before and after: the cap moved from Request._receive into BodyCapMiddleware, same answer)."""
    web, token = editor
    body = CountingBody(128 * 1024, {"csrf_token": token})
    resp = _post(web.app, "/imports", body, {}, web.cookies, declared=declared)
    assert resp.status_code == 303 and body.sent == body.length
    [job] = store.jobs(kind="import")
    assert job["status"] == "queued"


def test_a_chunked_image_upload_over_the_cap_is_refused(editor: tuple[TestClient, str], store: Store,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard (passes before and after: the cap moved from Request._receive into BodyCapMiddleware, same answer)."""
    web, token = editor
    monkeypatch.setenv("PIM_MEDIA_UPLOAD_MAX_BYTES", "1000")
    reset_settings()
    body = CountingBody(1024 * 1024, {"key": "picture", "csrf_token": token})
    resp = _post(web.app, "/products/complete/media", body, {}, web.cookies, declared=False)
    assert resp.status_code == 413 and "PIM_MEDIA_UPLOAD_MAX_BYTES" in resp.text
    assert body.sent < body.length


# ---------------------------------------------------------------------------------------------- the read-only wait
@SQLITE
def test_a_worker_waits_for_a_read_only_database_as_long_as_its_setting_says(store: Store, probe: int, monkeypatch,
                                                                           caplog) -> None:
    """The wait was a constant (600 s): an operator could not shorten or lengthen it."""
    stop = claims_refused_read_only(monkeypatch)  # old code: ends, no stop
    with caplog.at_level(logging.WARNING, logger="pim.job_queue"), pytest.raises(StoreError) as raised:
        job_queue.work(store, idle_exit=0, poll=0.001, stop=stop)
    assert raised.value.exit_code == 4 and "has taken no writes for 0 s" in str(raised.value)
    said = [r.getMessage() for r in caplog.records if "could not look for queued jobs" in r.getMessage()]
    assert "after 0 s (PIM_WORKER_READ_ONLY_WAIT), the worker stops" in said[0]
    assert store.job(probe)["status"] == "queued"  # type: ignore[index]


def test_the_read_only_wait_is_ten_minutes_unless_set_and_never_negative(monkeypatch) -> None:
    monkeypatch.delenv("PIM_WORKER_READ_ONLY_WAIT", raising=False)
    reset_settings()
    assert get_settings().worker_read_only_wait == 600.0
    monkeypatch.setenv("PIM_WORKER_READ_ONLY_WAIT", "-1")
    reset_settings()
    with pytest.raises(ConfigError, match="PIM_WORKER_READ_ONLY_WAIT"):
        get_settings()
    reset_settings()


def test_the_worker_help_names_the_setting() -> None:
    from pim.cli import app

    shown = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "PIM_WORKER_READ_ONLY_WAIT" in shown.output


# ---------------------------------------------------------------------------------------------- the portal alone
@SQLITE
def test_the_portal_alone_drops_its_pool_on_a_read_only_answer(store: Store, pim_env: Path, monkeypatch) -> None:
    """Run without a store (as `pim serve` can run it), it kept its pooled connections to a demoted server."""
    from pim import portal

    monkeypatch.setattr(portal, "_default_store", None)
    token = log.issue_token(store, "cust_a")
    web = TestClient(portal.create_portal_app(), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    assert web.get("/portal/contracts", headers=headers).status_code == 200  # the portal's own store, made now
    own = portal._default_store
    assert own is not None and own is not store
    disposed = Disposals(monkeypatch, own)
    _failing(monkeypatch, own, READ_ONLY)
    answer = web.get("/portal/contracts", headers=headers)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "60"
    assert disposed.calls == 1
    own.dispose()


# ---------------------------------------------------------------------------------------------- the grid index split
def test_the_grid_index_names_are_importable_where_they_were_and_where_they_live() -> None:
    from pim import grid_index, grid_rows, grid_tables, grid_text

    assert grid_index.GRID_TEXT is grid_tables.GRID_TEXT and grid_index.tokens is grid_text.tokens
    assert grid_index._BY_PRODUCT is grid_tables._BY_PRODUCT and grid_index._score_rows is grid_rows._score_rows
    for name in grid_index.__all__:
        assert getattr(grid_index, name) is not None, name
    assert grid_text.tokens("Red runner-shoe") == {"red", "runner-shoe", "runner", "shoe"}


# ---------------------------------------------------------------------------------------------- the job modules
def test_pim_job_queue_names_only_the_worker_and_callers_import_from_the_defining_modules() -> None:
    """pim.job_queue re-exported the functions split into job_enqueue, job_claims, job_runners, job_status and
    job_uploads, and callers went on using them through it. Only the worker's own names are left there (it still
    imports `claim`, which its loop looks up there, and its runners'), and no module of the project reaches a moved
    name through it."""
    import re

    from pim import job_claims, job_status, job_uploads

    moved = {name: module for module, names in (
        (job_enqueue, "KIND_PRIORITY PRIORITY_MAX PRIORITY_MIN QUEUED check_priority default_priority enqueue retry "
                      "retryable set_priority"),
        (job_claims, "EXCLUSIVE claim holder"), (job_runners, "RUNNERS Runner runner_for"),
        (job_status, "NO_WORKER NO_WORKER_WEB cancelled cancelling queued worker_running"),
        (job_uploads, "UploadGone check_upload run_import")) for name in names.split()}
    assert all(hasattr(module, name) for name, module in moved.items())
    uses = {"claim", "Runner", "runner_for"}  # what the worker itself calls
    assert [n for n in moved if n not in uses and hasattr(job_queue, n)] == []
    assert not set(job_queue.__all__) & set(moved)
    through = re.compile(r"job_queue\.(" + "|".join(moved) + r")\b"
                         r"|from pim\.job_queue import [^\n]*\b(" + "|".join(moved) + r")\b")
    root = Path(__file__).parent.parent
    found = [str(p.relative_to(root)) for folder in ("pim", "importers", "channels", "exporters", "media", "tests")
             for p in (root / folder).rglob("*.py")
             if p.name != "job_queue.py" and "migrations" not in p.parts and through.search(p.read_text())]
    assert found == []
