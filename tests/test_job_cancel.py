"""Cancelling jobs: a queued job is cancelled at once and no worker runs it; a running one is asked to stop and
its runner ends it cancelled at its next safe point — a paged job after the page under way, an import after
the batch under way (committed batches stay, a retry does the rest) — with its counts so far; a job that
ended cannot be cancelled; the CLI, the API and the job page do it with the retry's roles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, update
from typer.testing import CliRunner

from pim import job_cancel, job_claims, job_enqueue, job_queue, job_runners, job_status
from pim.cli import _mount, app as cli
from pim.errors import InputError
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import JOB
from tests.channel_data import seed_products
from tests.test_job_queue import DEAD_PID, echo  # noqa: F401  (echo: a fixture, used by name)
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

_mount()
PAGES = 5
REQUESTED = job_cancel.requested


def ask_to_stop_at(monkeypatch: pytest.MonkeyPatch, store: Store, job_id: Callable[[], int], call: int) -> list[int]:
    """Make a cancel request (through job_cancel.cancel, as the CLI or the API would) arrive just before the
    runner's `call`-th look for one — i.e. while the page or batch before it ran. Returns the looks' count."""
    real, looks = REQUESTED, [0]

    def looking(s: Any, i: int | None) -> bool:
        looks[0] += 1
        if looks[0] == call:
            asked = job_cancel.cancel(store, job_id())
            assert asked["status"] == "running" and asked["cancel_requested_at"] is not None
        return real(s, i)

    monkeypatch.setattr(job_cancel, "requested", looking)
    return looks


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A runner of kind "paged" that does PAGES pages through run_in_pages, each counted: the pages it ran."""
    ran: list[int] = []

    def run(store: Store, job: dict[str, Any]) -> dict[str, Any]:
        counts = {"pages": 0}

        def page(conn: Connection) -> bool:
            if counts["pages"] == PAGES:
                return False
            counts["pages"] += 1
            ran.append(counts["pages"])
            return True

        return job_queue.run_in_pages(store, job["id"], counts, page, "Pages done are kept.")

    monkeypatch.setitem(job_runners.RUNNERS, "paged", run)
    return ran


# ---------------------------------------------------------------------------------------------- queued
def test_a_cancelled_queued_job_is_never_claimed(store: Store, request: pytest.FixtureRequest) -> None:
    seen = request.getfixturevalue("echo")  # the jobs the runner saw
    first = job_enqueue.enqueue(store, "echo", "first", {"counts": {"read": 1}})
    second = job_enqueue.enqueue(store, "echo", "second", {"counts": {"read": 2}})
    assert job_cancel.cancellable(store.job(first))

    job = job_cancel.cancel(store, first)
    assert job["status"] == "cancelled" and job["finished_at"] is not None and job["host"] is None
    assert "nothing was done" in job["error"] and f"pim jobs retry {first}" in job["error"]
    assert not job_cancel.cancellable(job) and job_enqueue.retryable(job)
    assert job_status.queued(store) == 1 and job_status.cancelled(store) == 1

    result = job_queue.work(store, once=True)
    assert [j["source"] for j in seen] == ["second"] and [j["id"] for j in result.jobs] == [second]
    assert store.job(first)["status"] == "cancelled" and job_claims.claim(store) is None

    again = job_enqueue.retry(store, first)  # a cancelled job is queued again like a failed one
    assert again["status"] == "queued" and again["error"] is None and again["cancel_requested_at"] is None
    assert [a["status"] for a in again["payload"]["attempts"]] == ["cancelled"]
    [ran] = job_queue.work(store, once=True).jobs
    assert (ran["id"], ran["status"], ran["counts"]) == (first, "succeeded", {"read": 1})


# ---------------------------------------------------------------------------------------------- running
def test_a_running_paged_job_stops_after_the_page_under_way_keeping_its_counts(store: Store, paged,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = job_enqueue.enqueue(store, "paged", "pages")
    looks = ask_to_stop_at(monkeypatch, store, lambda: job_id, call=3)  # before page 1, page 2, page 3: after page 2
    result = job_queue.work(store, once=True)
    job = store.job(job_id)
    assert paged == [1, 2] and looks[0] == 3  # page 3 never started
    assert (job["status"], job["counts"]) == ("cancelled", {"pages": 2})
    assert job["error"] == "cancelled on request. Pages done are kept." and job["cancel_requested_at"] is not None
    assert _row_counts(store, job_id) == {"pages": 2}
    assert not result.failed  # cancelled as asked: not a failure of the worker

    monkeypatch.setattr(job_cancel, "requested", REQUESTED)  # no more requests
    job_enqueue.retry(store, job_id)
    [ran] = job_queue.work(store, once=True).jobs
    assert (ran["status"], ran["counts"], ran["cancel_requested_at"]) == ("succeeded", {"pages": PAGES}, None)


def _row_counts(store: Store, job_id: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return conn.execute(select(JOB.c.counts).where(JOB.c.id == job_id)).scalar_one()


@pytest.mark.parametrize("workers", [1, 2])  # in-process, and batches merged by workers (PIM_IMPORT_WORKERS)
def test_a_running_import_keeps_its_committed_batches_and_a_retry_imports_the_rest(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setenv("PIM_IMPORT_WORKERS", str(workers))
    reset_settings()
    seed_products(store)
    names = ["complete", "bad-gtin", "long-title", "no-description", "runner-red"]
    path = tmp_path / "names.csv"
    path.write_text("sku,name:en_US\n" + "".join(f"{n},Renamed {n}\n" for n in names))
    job_id = job_enqueue.enqueue(store, "import", "content:names.csv", {"importer": "content", "path": str(path)})
    store.batch_size = 2
    ask_to_stop_at(monkeypatch, store, lambda: job_id, call=1)  # the first look is after batch 1

    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "cancelled", ran["error"]
    assert ran["counts"]["read"] == 2 and ran["counts"]["updated"] == 2
    assert "Every batch it committed is kept (2 records read" in ran["error"]
    assert f"pim jobs retry {job_id}" in ran["error"]
    renamed = [n for n in names if store.get_product(n).values.get("name:en_US") == f"Renamed {n}"]  # type: ignore[union-attr]
    assert renamed == names[:2]  # batch 1 stays, nothing after it

    monkeypatch.setattr(job_cancel, "requested", REQUESTED)
    job_enqueue.retry(store, job_id)
    [again] = job_queue.work(store, once=True).jobs
    assert again["status"] == "succeeded" and again["counts"]["read"] == 5, again["error"]
    assert all(store.get_product(n).values["name:en_US"] == f"Renamed {n}" for n in names[:4])  # type: ignore[union-attr]
    # runner-red is a variant: its name is runner_model's (pim.variant_levels), a problem of the row, not a value
    assert "name:en_US" not in store.get_product("runner-red").values  # type: ignore[union-attr]
    assert [p["record_key"] for p in store.quarantined(again["id"], severity="problem")] == ["runner-red"]


def test_an_import_run_by_a_command_is_stopped_too_and_says_to_run_it_again(store: Store, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from importers.content import ContentImporter

    seed_products(store)
    path = tmp_path / "names.csv"
    path.write_text("sku,name:en_US\ncomplete,One\nbad-gtin,Two\nlong-title,Three\n")
    store.batch_size = 1
    ask_to_stop_at(monkeypatch, store, lambda: store.jobs(kind="import")[0]["id"], call=1)
    with pytest.raises(job_cancel.Cancelled, match="Run the same command again"):
        ContentImporter().run(path, store)
    [job] = store.jobs(kind="import")
    assert job["status"] == "cancelled" and job["counts"]["read"] == 1
    assert store.get_product("bad-gtin").values["name:en_US"] != "Two"  # type: ignore[union-attr]


def test_a_cancelled_complete_price_list_removes_nothing(store: Store, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The row imports (pim.sources.run_rows_import) stop between batches too, before the removal of what the
    file no longer holds: a part of the file must not remove the rest."""
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from tests.source_data import seed_structure
    from tests.test_erp_csv import PRICE_MAP, _tiers, write

    seed_structure(store)
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    complete = ErpCsvMap(**PRICE_MAP, complete=True)
    import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;1;5,00;01.01.2026;"]), store,
                   complete)
    store.batch_size = 1
    ask_to_stop_at(monkeypatch, store, lambda: store.jobs(kind="import")[0]["id"], call=1)
    with pytest.raises(job_cancel.Cancelled):
        import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;9,00;01.01.2026;", "C1;A1;5;8,00;01.01.2026;"]),
                       store, complete)
    job = store.jobs(kind="import")[0]
    assert job["status"] == "cancelled" and job["counts"]["read"] == 1 and "removed" not in job["counts"]
    assert _tiers(store, "C1", ["A1", "A2"]) == {"A1": [(1, 9)], "A2": [(1, 5)]}  # batch 1 in, A2 not removed


@pytest.mark.usefixtures("echo")
def test_a_job_that_ended_or_cannot_look_refuses_cancel(store: Store) -> None:
    done = job_enqueue.enqueue(store, "echo")
    failed = job_enqueue.enqueue(store, "echo", "", {"fail": "value"})
    job_queue.work(store, once=True)
    with pytest.raises(InputError, match="is succeeded: it already ended") as refused:
        job_cancel.cancel(store, done)
    assert refused.value.hint is None
    with pytest.raises(InputError, match="is failed: it already ended") as refused:
        job_cancel.cancel(store, failed)
    assert f"pim jobs retry {failed}" in refused.value.hint

    lost = job_enqueue.enqueue(store, "echo")
    job_claims.claim(store)
    with store.begin() as conn:  # its worker died
        conn.execute(update(JOB).where(JOB.c.id == lost).values(pid=DEAD_PID))
    with pytest.raises(InputError, match="is interrupted"):
        job_cancel.cancel(store, lost)

    twice = job_enqueue.enqueue(store, "echo")
    job_cancel.cancel(store, twice)
    with pytest.raises(InputError, match="is cancelled"):
        job_cancel.cancel(store, twice)

    publishing = store.start_job("publish", "storefront/ecommerce")  # `pim publish` runs it: no request is read
    with pytest.raises(InputError, match="cannot be cancelled") as refused:
        job_cancel.cancel(store, publishing)
    assert "Ctrl-C" in refused.value.hint and store.job(publishing)["cancel_requested_at"] is None
    importing = store.start_job("import", "content:by-hand.csv")  # the import loop reads it, a command's too
    assert job_cancel.cancel(store, importing)["cancel_requested_at"] is not None
    assert job_cancel.cancel(store, importing)["status"] == "running"  # asked again: nothing more to do
    with pytest.raises(InputError, match="no job"):
        job_cancel.cancel(store, 10**6)
    for job_id in (publishing, importing):
        store.finish_job(job_id, {})


@pytest.mark.usefixtures("echo")
def test_a_request_that_finds_the_job_claimed_meanwhile_asks_the_running_job(store: Store) -> None:
    job_id = job_enqueue.enqueue(store, "echo")
    real_job = store.job

    def looked_then_claimed(i: int) -> dict[str, Any] | None:
        seen = real_job(i)
        if seen["status"] == "queued":
            job_claims.claim(store)  # between our look and our update, a worker took it
        return seen

    store.job = looked_then_claimed  # type: ignore[method-assign]
    job = job_cancel.cancel(store, job_id)
    del store.job
    assert job["status"] == "running" and job["cancel_requested_at"] is not None
    assert store.job(job_id)["error"] is None


# ---------------------------------------------------------------------------------------------- CLI, API, page
@pytest.mark.usefixtures("echo")
def test_pim_jobs_cancel_and_status(store: Store) -> None:
    queued = job_enqueue.enqueue(store, "echo", "x")
    result = CliRunner().invoke(cli, ["jobs", "cancel", str(queued), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"id": queued, "kind": "echo", "source": "x", "status": "cancelled",
                                         "cancel_requested_at": json.loads(result.stdout)["cancel_requested_at"]}
    again = CliRunner().invoke(cli, ["jobs", "cancel", str(queued)])
    assert isinstance(again.exception, InputError) and again.exception.exit_code == 2

    running = store.start_job("import", "content:by-hand.csv")
    text = CliRunner().invoke(cli, ["jobs", "cancel", str(running)])
    assert text.exit_code == 0 and "cancel requested" in text.stdout
    status = CliRunner().invoke(cli, ["jobs", "status", "--json"])
    out = json.loads(status.stdout)
    assert (out["queued"], out["cancel_requested"], out["cancelled"]) == (0, [running], 1)
    listed = CliRunner().invoke(cli, ["jobs", "status"]).stdout
    assert f"job {running} (import content:by-hand.csv): cancel requested" in listed
    assert "1 cancelled job(s)" in listed
    store.finish_job(running, {})


def test_the_api_cancels_with_the_retry_roles(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    imported = job_enqueue.enqueue(store, "import", "content:x.csv", {"importer": "content", "path": "/nowhere.csv"})
    assert client.post(f"/api/v1/jobs/{imported}/cancel", headers=tokens["viewer"]).status_code == 403
    resp = client.post(f"/api/v1/jobs/{imported}/cancel", headers=tokens["editor"])
    assert resp.status_code == 202 and resp.headers["location"] == f"/api/v1/jobs/{imported}"
    assert resp.json()["status"] == "cancelled" and resp.json()["cancel_requested_at"] is not None
    ended = client.post(f"/api/v1/jobs/{imported}/cancel", headers=tokens["editor"])
    assert ended.status_code == 409 and "already ended" in ended.json()["errors"][0]["message"]
    assert client.post("/api/v1/jobs/999999/cancel", headers=tokens["editor"]).status_code == 404

    published = job_enqueue.enqueue(store, "publish", "storefront/ecommerce", {"channel": "storefront"})
    assert client.post(f"/api/v1/jobs/{published}/cancel", headers=tokens["editor"]).status_code == 403
    assert client.post(f"/api/v1/jobs/{published}/cancel", headers=tokens["admin"]).status_code == 202
    assert client.post(f"/api/v1/jobs/{published}/retry", headers=tokens["admin"]).status_code == 202
    assert store.job(published)["status"] == "queued"


def test_the_job_page_cancels_behind_its_csrf_token_and_then_offers_run_again(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    job_id = job_enqueue.enqueue(store, "import", "content:x.csv", {"importer": "content", "path": "/nowhere.csv"})
    token = login(client, "ed")
    page = client.get(f"/jobs/{job_id}").text
    assert f'action="/jobs/{job_id}/cancel"' in page and "Run again" not in page
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": "forged"}).status_code == 403
    assert store.job(job_id)["status"] == "queued"
    resp = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and store.job(job_id)["status"] == "cancelled"
    page = client.get(f"/jobs/{job_id}").text
    assert "status-cancelled" in page and "Run again" in page and f'action="/jobs/{job_id}/cancel"' not in page
    ended = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token})
    assert ended.status_code == 409 and "already ended" in ended.text

    published = job_enqueue.enqueue(store, "publish", "storefront/ecommerce", {"channel": "storefront"})
    assert f'action="/jobs/{published}/cancel"' not in client.get(f"/jobs/{published}").text  # an admin's
    assert client.post(f"/jobs/{published}/cancel", data={"csrf_token": token}).status_code == 403

    running = store.start_job("import", "content:by-hand.csv")
    client.post(f"/jobs/{running}/cancel", data={"csrf_token": token})
    page = client.get(f"/jobs/{running}").text
    assert "cancel requested" in page and f'action="/jobs/{running}/cancel"' not in page
    store.finish_job(running, {})
