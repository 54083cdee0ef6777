"""A retry of an import whose uploaded file the upload retention deleted is refused where it is asked for, with
the message the run would give (pim.job_uploads.check_upload): the API answers 410 Gone (no later state of the job
lets it run: upload again), the job page says it with 409; the job stays as it was."""

from __future__ import annotations

from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim import job_queue, job_status
from pim.store import Store
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_api_errors import by_field
from tests.test_job_page_priority import _error
from tests.test_maintenance import _set
from tests.test_web_ui import login

GONE = "the uploaded file 'spring.csv' is no longer kept: the upload retention deleted it after its job ended " \
       "(PIM_UPLOAD_RETENTION_DAYS=30)"


def _failed_upload(client: TestClient, headers: dict[str, str], store: Store, home: Path) -> int:
    """An API upload whose import failed, and whose kept file the retention then deleted."""
    resp = client.post("/api/v1/imports", headers=headers, data={"importer": "content"},
                       files={"file": ("spring.csv", b"", "text/csv")})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    job_queue.work(store, once=True)
    assert store.job(job_id)["status"] == "failed"  # type: ignore[index]
    [kept] = (home / "uploads").iterdir()
    kept.unlink()
    return job_id


def test_the_api_answers_410_and_says_to_upload_again(role_tokens, store: Store, pim_env: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    _set(monkeypatch, upload_retention_days=30)
    job_id = _failed_upload(client, tokens["editor"], store, pim_env)
    resp = client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["editor"])
    assert resp.status_code == 410, resp.text
    message = by_field(resp)[None]
    assert message.startswith(GONE + "; upload the file again (the import page, or POST /api/v1/imports)")
    assert str(pim_env) not in message  # where the server keeps files is not the API's to say
    assert store.job(job_id)["status"] == "failed" and job_status.queued(store) == 0  # type: ignore[index]
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["viewer"]).status_code == 403  # roles first


def test_the_job_page_says_it_and_leaves_the_job_failed(role_tokens, store: Store, pim_env: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    _set(monkeypatch, upload_retention_days=30)
    job_id = _failed_upload(client, tokens["editor"], store, pim_env)
    token = login(client, "ed")
    page = client.post(f"/jobs/{job_id}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert page.status_code == 409
    assert _error(page.text).startswith(GONE + "; upload the file again")
    assert store.job(job_id)["status"] == "failed" and job_status.queued(store) == 0  # type: ignore[index]


def test_a_kept_upload_is_still_queued_again(role_tokens, store: Store, pim_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard: passes before and after the change (a file still kept retries as before)."""
    client, tokens = role_tokens
    _set(monkeypatch, upload_retention_days=30)
    resp = client.post("/api/v1/imports", headers=tokens["editor"], data={"importer": "content"},
                       files={"file": ("spring.csv", b"", "text/csv")})
    job_queue.work(store, once=True)
    again = client.post(f"/api/v1/jobs/{resp.json()['id']}/retry", headers=tokens["editor"])
    assert again.status_code == 202 and again.json()["status"] == "queued"


def test_the_job_page_offers_no_run_again_for_an_upload_that_is_gone(role_tokens, store: Store, pim_env: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The page says why and links the import page instead of a *Run again* that would be refused."""
    client, tokens = role_tokens
    _set(monkeypatch, upload_retention_days=30)
    job_id = _failed_upload(client, tokens["editor"], store, pim_env)
    login(client, "ed")
    page = unescape(client.get(f"/jobs/{job_id}").text)
    assert f'action="/jobs/{job_id}/retry"' not in page
    assert 'class="upload-gone"' in page and GONE in page and "upload it again</a> to import it" in page
    assert 'class="upload-again"' not in page  # said once
