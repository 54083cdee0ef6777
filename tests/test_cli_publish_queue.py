"""`pim publish` through the queue's exclusion (pim.publish_jobs.publish_here, pim.job_command): it records a
publish job that shows in `pim jobs list` with its counts; it waits while a publication of the same channel and
scope runs — and no worker takes its job meanwhile — or with `--no-wait` exits 1 naming the job that holds it,
leaving nothing behind; `pim jobs cancel` stops it before the swap (the old files stay) or while it waits; a
command that died while waiting leaves a job the next claim ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from pim import job_cancel, job_claims, job_command, job_enqueue, job_status, publish_jobs
from pim.cli import app as cli
from pim.store import Store
from pim.store.store import JOB
from pim.web.api_models import job_json
from tests.channel_data import seed_products
from tests.test_job_cancel import ask_to_stop_at
from tests.test_job_queue import DEAD_PID, ROOT

SOURCE = "storefront/ecommerce"


def _output(home: Path) -> Path:
    return home / "out" / "storefront" / "catalog.ecommerce.en_US.json"


def _rename(store: Store, name: str) -> None:
    product = store.get_product("complete")
    store.upsert_products([product.model_copy(update={"values": {**product.values, "name:en_US": name}})])


def _running_publication(store: Store) -> int:
    """A publication of SOURCE running now (a worker of this process took it)."""
    job_id = job_enqueue.enqueue(store, "publish", SOURCE, {"channel": "storefront", "scope": "ecommerce"})
    assert job_claims.claim(store, ["publish"])["id"] == job_id
    return job_id


def test_a_cli_publication_is_a_job_with_its_counts(store: Store, pim_env: Path, tmp_path: Path) -> None:
    seed_products(store)
    catalog = tmp_path / "anywhere" / "shop.yaml"  # any path: only the API keeps catalogs under PIM_HOME
    catalog.parent.mkdir()
    catalog.write_text("code: shop\nrenderer: storefront\nfields:\n  - {output: title, template: \"Shop {{ identifier }}\"}\n")
    result = CliRunner().invoke(cli, ["publish", "--channel", "storefront", "--catalog", str(catalog), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"channel", "scope", "published", "blocked", "files", "locations", "blocked_products"} <= set(out)
    job_id = out["job_id"]
    assert out["scope"] == "ecommerce" and out["published"] >= 1

    listed = CliRunner().invoke(cli, ["jobs", "list", "--kind", "publish", "--json"])
    [job] = json.loads(listed.stdout)
    assert (job["id"], job["kind"], job["source"], job["status"]) == (job_id, "publish", SOURCE, "succeeded")
    assert job["counts"]["published"] == out["published"] and job["counts"]["blocked"] == out["blocked"]
    assert job["counts"]["locations"] == out["locations"] and job["priority"] == job_enqueue.KIND_PRIORITY["publish"]
    assert job["payload"]["command"] == "pim publish" and job["payload"]["catalog_path"] == str(catalog.resolve())
    assert job["pid"] == os.getpid()
    assert job_json(store.job(job_id))["payload"]["catalog_path"] == "shop.yaml"  # the API says no server path
    titles = {p["identifier"]: p["fields"]["title"] for p in orjson.loads(_output(pim_env).read_bytes())["products"]}
    assert titles["complete"] == "Shop complete"  # the catalog it was given

    table = CliRunner().invoke(cli, ["publish", "--channel", "storefront"])
    assert table.exit_code == 0, table.output
    assert "job" in table.stdout and str(job_id + 1) in table.stdout and "products published" in table.stdout
    assert "published" in CliRunner().invoke(cli, ["jobs", "list"]).stdout


def test_a_cli_publication_waits_while_one_of_its_channel_and_scope_runs(store: Store, pim_env: Path) -> None:
    seed_products(store)
    holder = _running_publication(store)
    waited_for, ended, results = threading.Event(), threading.Event(), {}

    def on_wait(job: dict[str, Any] | None) -> None:
        results["holder"] = job
        waited_for.set()

    def command() -> None:
        try:
            results["job"], results["result"] = publish_jobs.publish_here(store, "storefront", on_wait=on_wait)
        finally:
            ended.set()

    thread = threading.Thread(target=command)
    thread.start()
    try:
        assert waited_for.wait(30)
        assert results["holder"]["id"] == holder
        [mine] = [j for j in store.jobs(kind="publish") if j["id"] != holder]
        assert (mine["status"], mine["pid"]) == ("queued", os.getpid())
        assert job_claims.claim(store) is None  # a worker passes over the command's own job
        assert job_status.queued(store) == 0  # nor does it count as waiting for a worker
        assert not ended.wait(1.5) and not _output(pim_env).exists()  # still waiting: nothing published
    finally:
        store.finish_job(holder, {})  # the first ended: the command's turn
        thread.join(30)
    assert ended.is_set() and results["job"]["id"] == mine["id"], results
    assert results["job"]["status"] == "succeeded" and results["result"].job_id == mine["id"]
    assert _output(pim_env).exists()


def test_no_wait_exits_1_naming_the_job_that_holds_it(store: Store, pim_env: Path, database_url: str) -> None:
    seed_products(store)
    holder = _running_publication(store)
    with pytest.raises(job_command.Busy, match=f"job {holder} \\(publish {SOURCE}\\) is running") as busy:
        publish_jobs.publish_here(store, "storefront", wait=False)
    assert busy.value.exit_code == 1 and busy.value.holder["id"] == holder
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIM_HOME": str(pim_env), "PIM_DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "pim", "publish", "--channel", "storefront", "--no-wait"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"job {holder} (publish {SOURCE}) is running" in done.stderr and "--no-wait" in done.stderr
    assert [j["id"] for j in store.jobs(kind="publish")] == [holder]  # nothing ran: nothing left to show
    assert not _output(pim_env).exists()
    store.finish_job(holder, {})
    free = publish_jobs.publish_here(store, "storefront", wait=False)[0]  # nothing runs now: no wait needed
    assert free["status"] == "succeeded" and _output(pim_env).exists()


def test_pim_jobs_cancel_stops_a_cli_publication_before_the_swap(store: Store, pim_env: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seed_products(store)
    assert CliRunner().invoke(cli, ["publish"]).exit_code == 0
    before = _output(pim_env).read_bytes()
    _rename(store, "Renamed")
    looks = ask_to_stop_at(monkeypatch, store, lambda: store.jobs(kind="publish")[0]["id"], call=2)  # after the last
    result = CliRunner().invoke(cli, ["publish", "--json"])
    assert isinstance(result.exception, job_cancel.Cancelled) and looks[0] == 2, result.output
    [job, _first] = store.jobs(kind="publish")
    assert job["status"] == "cancelled" and job["counts"]["published"] == 0
    assert "Nothing was published: the channel's previous output stays" in job["error"]
    assert "Run `pim publish` again to publish" in str(result.exception)
    assert _output(pim_env).read_bytes() == before  # the old output, whole
    assert not (pim_env / "out" / ".staging" / f"job-{job['id']}").exists()


def test_a_cli_publication_cancelled_while_it_waits_stops_without_publishing(store: Store, pim_env: Path) -> None:
    seed_products(store)
    holder = _running_publication(store)
    seen: list[int] = []

    def cancel_mine(job: dict[str, Any] | None) -> None:  # as `pim jobs cancel ID` from another terminal
        [mine] = [j for j in store.jobs(kind="publish") if j["id"] != holder]
        seen.append(job_cancel.cancel(store, mine["id"])["id"])

    with pytest.raises(job_cancel.Cancelled, match="cancelled before it ran"):
        publish_jobs.publish_here(store, "storefront", on_wait=cancel_mine)
    assert store.job(seen[0])["status"] == "cancelled"  # kept: someone asked for it
    assert not _output(pim_env).exists()
    store.finish_job(holder, {})


def test_an_interrupted_wait_leaves_nothing_and_a_dead_commands_job_is_ended(store: Store) -> None:
    seed_products(store)
    holder = _running_publication(store)

    def interrupt(job: dict[str, Any] | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish_jobs.publish_here(store, "storefront", on_wait=interrupt)
    assert [j["id"] for j in store.jobs(kind="publish")] == [holder]

    orphan = job_enqueue.enqueue(store, "publish", SOURCE, {"channel": "storefront"}, held=True)
    with store.begin() as conn:  # the command that held it died
        conn.execute(update(JOB).where(JOB.c.id == orphan).values(pid=DEAD_PID))
    assert job_claims.claim(store, ["rescore"]) is None  # any worker's next look
    ended = store.job(orphan)
    assert ended["status"] == "cancelled" and "ended before it ran" in ended["error"]
    store.finish_job(holder, {})
