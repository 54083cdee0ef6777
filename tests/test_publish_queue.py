"""Queued publications: two of one channel and scope never run at once — a claim passes over the second while
the first runs, also when two claims race in separate transactions, and takes it once the first ended (a dead
one does not hold it back); the API names a channel catalog under PIM_HOME, refused when it is a path, leads
out or is missing, and the worker publishes with it; a cancel request stops a publication before its files go
out, the old ones staying."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event, update

from pim import job_cancel, job_claims, job_enqueue, job_queue, publish_jobs
from pim.store import Store
from pim.store.store import JOB
from tests.channel_data import seed_products
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_job_cancel import REQUESTED, ask_to_stop_at
from tests.test_job_queue import DEAD_PID

PUBLISH = {"channel": "storefront", "scope": "ecommerce"}


def _publish(store: Store, source: str = "storefront/ecommerce") -> int:
    return job_enqueue.enqueue(store, "publish", source, PUBLISH)


# ---------------------------------------------------------------------------------------------- one at a time
def test_a_second_publication_of_one_channel_waits_until_the_first_ended(store: Store) -> None:
    first, second = _publish(store), _publish(store)
    other = _publish(store, "storefront/print")  # another scope: free to run
    rescore = job_enqueue.enqueue(store, "rescore", "shoes", {})
    claimed = job_claims.claim(store, ["publish", "rescore"])
    assert claimed["id"] == first

    rival = Store(store.url, heartbeat_seconds=0)  # another worker
    try:
        assert job_claims.claim(rival, ["publish", "rescore"])["id"] == other  # passes over `second`
        assert job_claims.claim(rival, ["publish", "rescore"])["id"] == rescore
        assert job_claims.claim(rival, ["publish", "rescore"]) is None
        assert store.job(second)["status"] == "queued"
        store.finish_job(first, {})
        assert job_claims.claim(rival, ["publish"])["id"] == second  # the first ended: its turn
    finally:
        rival.dispose()


def test_a_dead_publication_does_not_hold_the_next_one_back(store: Store) -> None:
    first, second = _publish(store), _publish(store)
    assert job_claims.claim(store, ["publish"])["id"] == first
    assert job_claims.claim(store, ["publish"]) is None
    with store.begin() as conn:  # its worker died: it reads interrupted and never ends by itself
        conn.execute(update(JOB).where(JOB.c.id == first).values(pid=DEAD_PID))
    assert store.job(first)["status"] == "interrupted"
    assert job_claims.claim(store, ["publish"])["id"] == second


def test_two_claims_racing_in_separate_transactions_take_one_publication(store: Store) -> None:
    """The first claim holds its transaction open after its UPDATE (not committed yet) while the second claims:
    the second must not take the other publication of the same source, then or after the first commits."""
    first, second = _publish(store), _publish(store)
    slow, fast = Store(store.url, heartbeat_seconds=0), Store(store.url, heartbeat_seconds=0)
    updated, results = threading.Event(), {}

    @event.listens_for(slow.engine, "after_cursor_execute")
    def hold(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE JOB") and "running_job" in statement:
            updated.set()
            time.sleep(1.5)  # the rival claims now, against our uncommitted claim

    def claim_slowly() -> None:
        results["slow"] = job_claims.claim(slow, ["publish"])

    thread = threading.Thread(target=claim_slowly)
    try:
        thread.start()
        assert updated.wait(30)
        results["fast"] = job_claims.claim(fast, ["publish"])
        thread.join(30)
    finally:
        slow.dispose()
        fast.dispose()
    assert results["slow"]["id"] == first and results["fast"] is None
    assert (store.job(first)["status"], store.job(second)["status"]) == ("running", "queued")


# ---------------------------------------------------------------------------------------------- catalogs
SHOP_CATALOG = """\
code: shop
renderer: storefront
fields:
  - {output: title, template: "Shop {{ identifier }}"}
"""


def test_an_api_publication_names_a_catalog_under_pim_home_and_the_worker_uses_it(role_tokens, store: Store,
                                                                                 pim_env: Path) -> None:
    client, tokens = role_tokens
    (pim_env / "catalogs").mkdir(parents=True)
    (pim_env / "catalogs" / "shop.yaml").write_text(SHOP_CATALOG)
    resp = client.post("/api/v1/publish", headers=tokens["admin"],
                       json={"channel": "storefront", "catalog": "catalogs/shop.yaml"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["payload"]["catalog"] == "catalogs/shop.yaml"
    assert resp.json()["source"] == "storefront/ecommerce"  # the default scope, resolved when queued
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "succeeded", ran["error"]
    en = orjson.loads((pim_env / "out" / "storefront" / "catalog.ecommerce.en_US.json").read_bytes())
    titles = {p["identifier"]: p["fields"]["title"] for p in en["products"]}
    assert titles["complete"] == "Shop complete"  # the named catalog's template, not the built-in one


@pytest.mark.parametrize(("name", "message"), [
    ("/etc/shop.yaml", "is not a catalog name"),
    ("../shop.yaml", "is not a catalog name"),
    ("catalogs/../../shop.yaml", "is not a catalog name"),
    ("uploads/shop.yaml", "is not a catalog name"),
    ("catalogs/shop.txt", "is not a catalog name"),
    ("catalogs/missing.yaml", "no catalog 'catalogs/missing.yaml' in PIM_HOME"),
    ("catalogs/broken.yaml", "catalog 'catalogs/broken.yaml' (line 2): not valid YAML"),
    ("catalogs/wrong.yaml", "catalog 'catalogs/wrong.yaml' (line 3, fields)"),
    ("catalogs/merchant.yaml", "is for the google_merchant channel, not storefront"),
])
def test_a_catalog_that_is_a_path_leads_out_or_is_missing_is_refused(role_tokens, store: Store, pim_env: Path,
                                                                     tmp_path: Path, name: str, message: str) -> None:
    client, tokens = role_tokens
    (pim_env / "catalogs").mkdir(parents=True)
    (pim_env / "catalogs" / "broken.yaml").write_text("code: [unclosed\n")
    (pim_env / "catalogs" / "wrong.yaml").write_text("code: shop\nrenderer: storefront\nfields: 3\n")
    (pim_env / "catalogs" / "merchant.yaml").write_text("code: gm\nrenderer: google_merchant\n")
    (pim_env / "catalogs" / "shop.txt").write_text(SHOP_CATALOG)
    (pim_env / "uploads").mkdir()
    (pim_env / "uploads" / "shop.yaml").write_text(SHOP_CATALOG)
    (tmp_path / "shop.yaml").write_text(SHOP_CATALOG)  # next to PIM_HOME: reached by "../"
    resp = client.post("/api/v1/publish", headers=tokens["admin"], json={"channel": "storefront", "catalog": name})
    assert resp.status_code == 422, resp.text
    assert message in {e.get("field"): e["message"] for e in resp.json()["errors"]}["body.catalog"]
    assert str(pim_env) not in resp.text  # where the server keeps files is not the answer's to say
    assert store.jobs(kind="publish") == []


def test_a_symlink_leading_out_of_pim_home_is_not_a_catalog(store: Store, pim_env: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text(SHOP_CATALOG)
    (pim_env / "catalogs").mkdir(parents=True)
    (pim_env / "catalogs" / "link.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(publish_jobs.InputError, match="is not a catalog name"):
        publish_jobs.catalog_file("catalogs/link.yaml")


# ---------------------------------------------------------------------------------------------- cancel
def test_a_cancelled_publication_leaves_the_old_files_and_a_retry_publishes(store: Store, pim_env: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seed_products(store)
    first = publish_jobs.enqueue(store, "storefront")
    assert job_queue.work(store, once=True).jobs[0]["status"] == "succeeded"
    out = pim_env / "out" / "storefront" / "catalog.ecommerce.en_US.json"
    before = out.read_bytes()
    product = store.get_product("complete")
    store.upsert_products([product.model_copy(update={"values": {**product.values, "name:en_US": "Renamed"}})])

    job_id = publish_jobs.enqueue(store, "storefront")
    assert job_id != first
    looks = ask_to_stop_at(monkeypatch, store, lambda: job_id, call=2)  # the look after the last product read
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "cancelled" and looks[0] == 2, ran["error"]
    assert "Nothing was published: the channel's previous output stays" in ran["error"]
    assert ran["counts"]["published"] == 0 and ran["counts"]["read"] >= 1
    assert out.read_bytes() == before  # the old output, whole
    assert not (pim_env / "out" / ".staging" / f"job-{job_id}").exists()

    monkeypatch.setattr(job_cancel, "requested", REQUESTED)
    job_enqueue.retry(store, job_id)
    [again] = job_queue.work(store, once=True).jobs
    assert again["status"] == "succeeded", again["error"]
    assert b"Renamed" in out.read_bytes()
