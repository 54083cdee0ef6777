"""The job page changes a queued job's priority behind its CSRF token, with the roles of its cancel and retry
buttons (pim.web.job_roles, as POST /api/v1/jobs/{id}/priority): the form shows only to those roles and only
while the job waits in the queue; a bad number and a job a worker took meanwhile are said on the page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pim import job_claims, job_enqueue
from pim.store import Store
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _import(store: Store) -> int:
    """A queued import job: an editor's (pim.web.job_roles)."""
    return job_enqueue.enqueue(store, "import", "content:x.csv", {"importer": "content", "path": "/nowhere.csv"})


def _form(web: TestClient, job_id: int) -> bool:
    return f'action="/jobs/{job_id}/priority"' in web.get(f"/jobs/{job_id}").text


def _error(html: str) -> str:
    found = re.search(r'<p class="error"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'") if found else ""


def _post(web: TestClient, job_id: int, token: str, priority: str):  # noqa: ANN202
    return web.post(f"/jobs/{job_id}/priority", data={"csrf_token": token, "priority": priority}, follow_redirects=False)


def test_a_role_that_may_run_the_job_changes_its_priority(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    job_id = _import(store)
    assert store.job(job_id)["priority"] == job_enqueue.default_priority("import")
    token = login(client, "ed")
    page = client.get(f"/jobs/{job_id}").text
    assert _form(client, job_id) and 'name="priority"' in page and 'min="-100" max="100"' in page
    moved = _post(client, job_id, token, "55")
    assert moved.status_code == 303 and moved.headers["location"] == f"/jobs/{job_id}"
    assert store.job(job_id)["priority"] == 55
    assert "Priority: <strong>55</strong>" in client.get(f"/jobs/{job_id}").text
    assert _post(client, job_id, token, "-100").status_code == 303 and store.job(job_id)["priority"] == -100


def test_other_roles_get_the_refusal_the_cancel_button_gives(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    imported = _import(store)
    published = job_enqueue.enqueue(store, "publish", "storefront/ecommerce", {"channel": "storefront"})  # an admin's
    token = login(client, "ed")
    assert not _form(client, published)
    refused, cancel = _post(client, published, token, "50"), client.post(f"/jobs/{published}/cancel", data={"csrf_token": token})
    assert refused.status_code == cancel.status_code == 403
    assert refused.json()["detail"] == "role 'editor' may not reorder publish jobs"
    assert cancel.json()["detail"] == "role 'editor' may not cancel publish jobs"
    assert store.job(published)["priority"] == job_enqueue.default_priority("publish")

    viewer = login(client, "vi")
    assert not _form(client, imported)
    assert _post(client, imported, viewer, "50").status_code == 403
    assert client.post(f"/jobs/{imported}/cancel", data={"csrf_token": viewer}).status_code == 403
    assert store.job(imported)["priority"] == job_enqueue.default_priority("import")

    admin = login(client, "ad")
    assert _form(client, published) and _post(client, published, admin, "50").status_code == 303
    assert store.job(published)["priority"] == 50


def test_a_forged_post_is_refused(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    job_id = _import(store)
    login(client, "ed")
    assert client.post(f"/jobs/{job_id}/priority", data={"csrf_token": "forged", "priority": "50"}).status_code == 403
    assert client.post(f"/jobs/{job_id}/priority", data={"priority": "50"}).status_code == 403
    assert store.job(job_id)["priority"] == job_enqueue.default_priority("import")


def test_a_bad_number_is_said_on_the_page(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    job_id = _import(store)
    token = login(client, "ed")
    for typed, said in (("500", "priority 500 is out of range; give a whole number from -100 to 100 (higher runs first)"),
                        ("soon", "priority 'soon' is not a whole number; give one from -100 to 100 (higher runs first)"),
                        ("", "priority '' is not a whole number; give one from -100 to 100 (higher runs first)")):
        bad = _post(client, job_id, token, typed)
        assert bad.status_code == 422 and _error(bad.text) == said, typed
        assert _form(client, job_id)
    assert store.job(job_id)["priority"] == job_enqueue.default_priority("import")


def test_a_running_ended_or_held_job_shows_no_form_and_a_post_is_refused_on_the_page(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    token = login(client, "ed")
    running = store.start_job("import", "content:by-hand.csv")
    assert not _form(client, running)
    refused = _post(client, running, token, "50")
    assert refused.status_code == 409
    assert _error(refused.text).startswith(f"job {running} (import content:by-hand.csv) is running: a priority only "
                                           "orders the jobs still waiting in the queue")
    store.finish_job(running, {})
    assert not _form(client, running) and _post(client, running, token, "50").status_code == 409

    held = job_enqueue.enqueue(store, "import", "content:held.csv", {"importer": "content", "path": "/x.csv"},
                               held=True)
    assert not _form(client, held)  # its command runs it: the queue's order does not reach it

    taken = _import(store)
    assert _form(client, taken)
    assert job_claims.claim(store, ["import"], job_id=taken) is not None  # a worker takes it while the page is open
    late = _post(client, taken, token, "50")
    assert late.status_code == 409 and " is running: a priority only orders" in _error(late.text)
    assert not _form(client, taken)
