"""Job priorities: a claim takes the highest priority first and the oldest among equals; each kind is queued
with its default (KIND_PRIORITY, read at call time) unless given one; a queued job's priority can be changed
from the CLI and the API, a running or finished one's is refused with why; the job pages show it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pim import job_claims, job_enqueue
from pim.cli import app as cli
from pim.errors import InputError
from pim.store import Store
from tests.test_job_queue import echo  # noqa: F401  (fixture: a runner of kind "echo")
from tests.test_web_ui import cheap_argon2  # noqa: F401  (autouse fixture)


def _claimed(store: Store, kinds: list[str] | None = None) -> list[int]:
    """The ids of every job claim takes, in the order it takes them."""
    order = []
    while (job := job_claims.claim(store, kinds)) is not None:
        order.append(job["id"])
    return order


@pytest.mark.usefixtures("echo")
def test_a_claim_takes_the_highest_priority_first_then_the_oldest(store: Store) -> None:
    low = job_enqueue.enqueue(store, "echo", "low", priority=-5)
    first_high = job_enqueue.enqueue(store, "echo", "high 1", priority=50)
    plain = job_enqueue.enqueue(store, "echo", "plain")  # an unknown kind's default: 0
    second_high = job_enqueue.enqueue(store, "echo", "high 2", priority=50)
    assert store.job(plain)["priority"] == 0
    assert _claimed(store, ["echo"]) == [first_high, second_high, plain, low]


def test_each_kind_is_queued_with_its_default_priority(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A person waits for an upload's import; a grid re-index is a background repair: queued in the opposite
    order, they are claimed by kind."""
    queued = {kind: job_enqueue.enqueue(store, kind, kind) for kind in ("grid_reindex", "rescore", "publish", "import")}
    assert {k: store.job(i)["priority"] for k, i in queued.items()} == job_enqueue.KIND_PRIORITY
    assert job_enqueue.KIND_PRIORITY["import"] > job_enqueue.KIND_PRIORITY["publish"] > job_enqueue.KIND_PRIORITY[
        "rescore"] > job_enqueue.KIND_PRIORITY["grid_reindex"]
    explicit = job_enqueue.enqueue(store, "grid_reindex", "urgent", priority=99)  # given: the kind's default yields
    monkeypatch.setitem(job_enqueue.KIND_PRIORITY, "rescore", 100)  # read at call time
    boosted = job_enqueue.enqueue(store, "rescore", "boosted")
    assert store.job(boosted)["priority"] == 100
    assert _claimed(store) == [boosted, explicit, queued["import"], queued["publish"], queued["rescore"],
                               queued["grid_reindex"]]


@pytest.mark.usefixtures("echo")
def test_a_queued_jobs_priority_changes_a_running_or_finished_ones_is_refused(store: Store) -> None:
    first, second = job_enqueue.enqueue(store, "echo", "a"), job_enqueue.enqueue(store, "echo", "b")
    assert job_enqueue.set_priority(store, second, 7)["priority"] == 7
    running = job_claims.claim(store, ["echo"])
    assert running["id"] == second  # reordered: it goes first now
    with pytest.raises(InputError, match=f"job {second} .* is running: a priority only orders") as refused:
        job_enqueue.set_priority(store, second, 1)
    assert refused.value.field is None and store.job(second)["priority"] == 7
    store.finish_job(second, {}, status="failed", error="boom")
    with pytest.raises(InputError, match="is failed") as ended:
        job_enqueue.set_priority(store, second, 1)
    assert f"pim jobs retry {second}" in ended.value.hint
    with pytest.raises(InputError, match="out of range") as wrong:
        job_enqueue.set_priority(store, first, job_enqueue.PRIORITY_MAX + 1)
    assert wrong.value.field == "priority" and store.job(first)["priority"] == 0
    with pytest.raises(InputError, match="no job"):
        job_enqueue.set_priority(store, 10**6, 1)


@pytest.mark.usefixtures("echo")
def test_a_commands_held_job_takes_no_priority(store: Store) -> None:
    held = job_enqueue.enqueue(store, "echo", "mine", held=True)  # `pim publish` runs it itself: no worker claims it
    with pytest.raises(InputError, match=f"job {held} .* is held by the command that queued it") as refused:
        job_enqueue.set_priority(store, held, 9)
    assert f"pim jobs cancel {held}" in refused.value.hint and store.job(held)["priority"] == 0


@pytest.mark.usefixtures("echo")
def test_pim_jobs_priority_and_list(store: Store) -> None:
    job_id = job_enqueue.enqueue(store, "echo", "waiting")
    changed = CliRunner().invoke(cli, ["jobs", "priority", str(job_id), "42", "--json"])
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout) == {"id": job_id, "kind": "echo", "source": "waiting", "status": "queued",
                                          "priority": 42}
    negative = CliRunner().invoke(cli, ["jobs", "priority", str(job_id), "--", "-3"])
    assert negative.exit_code == 0 and store.job(job_id)["priority"] == -3, negative.output
    listed = CliRunner().invoke(cli, ["jobs", "list", "--json"])
    assert [(j["id"], j["priority"]) for j in json.loads(listed.stdout)] == [(job_id, -3)]
    assert "priority" in CliRunner().invoke(cli, ["jobs", "list"]).stdout

    job_claims.claim(store, ["echo"])
    refused = CliRunner().invoke(cli, ["jobs", "priority", str(job_id), "1"])
    assert isinstance(refused.exception, InputError) and refused.exception.exit_code == 2
    assert "is running" in str(refused.exception) and store.job(job_id)["priority"] == -3


def test_the_api_changes_a_queued_jobs_priority_with_the_roles_of_retry(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    publish = job_enqueue.enqueue(store, "publish", "storefront/ecommerce", {"channel": "storefront"})
    url = f"/api/v1/jobs/{publish}/priority"
    assert client.post(url, headers=tokens["editor"], json={"priority": 5}).status_code == 403  # an admin's kind
    resp = client.post(url, headers=tokens["admin"], json={"priority": 5})
    assert resp.status_code == 202 and resp.json()["priority"] == 5, resp.text
    assert resp.headers["Location"] == f"/api/v1/jobs/{publish}"
    assert client.get(f"/api/v1/jobs/{publish}", headers=tokens["viewer"]).json()["priority"] == 5
    wrong = client.post(url, headers=tokens["admin"], json={"priority": 1000})
    assert wrong.status_code == 422 and "out of range" in wrong.json()["errors"][0]["message"]
    assert wrong.json()["errors"][0]["field"] == "body.priority"
    assert client.post("/api/v1/jobs/999999/priority", headers=tokens["admin"], json={"priority": 1}).status_code == 404

    job_claims.claim(store, ["publish"])
    running = client.post(url, headers=tokens["admin"], json={"priority": 9})
    assert running.status_code == 409 and "is running" in running.json()["errors"][0]["message"]
    assert store.job(publish)["priority"] == 5


def test_the_job_pages_show_the_priority(admin, store: Store) -> None:
    client, _ = admin
    job_id = job_enqueue.enqueue(store, "rescore", "shoes", priority=-42)
    assert '<td class="priority">-42</td>' in client.get("/jobs").text
    page = client.get(f"/jobs/{job_id}").text
    assert "Priority: <strong>-42</strong>" in page and "queued jobs run highest first" in page


def test_a_commands_held_job_says_it_waits_for_that_command(admin, store: Store) -> None:
    client, _ = admin
    held = job_enqueue.enqueue(store, "publish", "storefront/ecommerce", {"channel": "storefront"}, held=True)
    page = client.get(f"/jobs/{held}").text
    assert "waiting for its turn in the command that runs it" in page and "no worker is running" not in page
    assert "no worker is running" not in client.get("/jobs").text  # only the command takes it
    job_enqueue.enqueue(store, "rescore", "shoes")
    assert "no worker is running" in client.get("/jobs").text
