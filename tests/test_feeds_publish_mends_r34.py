"""Round 34 review mends, feeds and publishing: the publish guard compares only counts of one kind (and, since
round 37, of any catalog: they write the same output);
a refusal names the renderer's rule with its field; BMEcat's CATALOG_VERSION always grows and fits the schema;
a dry run never counts for the schedule and never leaves a file; one sentence names a run that is sending."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from channels.feed_bmecat import catalog_version
from pim import delivery_log as log
from pim import pipeline
from pim.feed_holds import built_from, refusal_counts
from pim.feed_schedule import DueRun, claim, last_success, schedule_of
from pim.feeds import deliver_all, deliver_contract
from pim.pipeline import DropRefused, publish, refuse_drop, top_reasons
from pim.product import Product
from pim.protocols import Artifact
from pim.store import Store
from pim.store.store import JOB
from tests.channel_data import ERP, complete_values, seed_structure
from tests.feeds_data import out_dir, seed_catalog, store_contract

SCOPE = "ecommerce"


@pytest.fixture(autouse=True)
def small_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "DROP_MIN", 3)


def _shoes(store: Store, ok: int, free: int) -> None:
    """`ok` products that pass, `free` whose list price is 0 (the storefront blocks them itself) but whose
    sale_price is fine, and the reverse for `ok`: a catalog mapping `price` to sale_price blocks those."""
    seed_structure(store)
    zero = {"EUR": "0.00", "USD": "0.00"}
    fine = {"EUR": "9.90", "USD": "10.90"}
    store.upsert_products(
        [Product(identifier=f"ok{i}", family="shoes", categories=["shoes"], source=ERP,
                 values=complete_values(sku=f"ok{i}", sale_price=zero)) for i in range(ok)]
        + [Product(identifier=f"free{i}", family="shoes", categories=["shoes"], source=ERP,
                   values=complete_values(sku=f"free{i}", price=zero, sale_price=fine)) for i in range(free)])


def _counts(store: Store, job_id: int) -> dict:
    return dict(store.job(job_id)["counts"])


# ---------------------------------------------------------------------------------------------- 1. the guard's baseline
def test_a_publish_recorded_before_round_34_is_no_baseline(store: Store, tmp_path: Path) -> None:
    _shoes(store, ok=3, free=6)
    first = publish(store, tmp_path, channel="storefront", scope=SCOPE)
    assert first.published == 3
    # as the code before round 34 recorded it: what reached the renderer, its own blocks included, and no marker
    old = {k: v for k, v in _counts(store, first.job_id).items() if k != "published_counts"} | {"published": 9}
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == first.job_id).values(counts=old))
    again = publish(store, tmp_path, channel="storefront", scope=SCOPE)  # nothing changed: not refused
    assert again.published == 3
    assert _counts(store, again.job_id)["published_counts"] == "outputs"  # the next run's baseline


def test_a_catalog_run_is_judged_against_the_channels_last_publish_of_any_catalog(store: Store,
                                                                                 tmp_path: Path) -> None:
    """Round 37: a catalog's run writes over the same files as the default catalog's, so it is judged by it."""
    _shoes(store, ok=6, free=1)
    assert publish(store, tmp_path, channel="storefront", scope=SCOPE).published == 6  # list prices: ok* pass
    sale = tmp_path / "sale.yaml"
    sale.write_text("code: storefront_sale\nrenderer: storefront\n"
                    "fields:\n  - {output: price, attribute: sale_price}\n")
    with pytest.raises(DropRefused):  # sale prices: only free0 passes, far fewer than the default catalog's 6
        publish(store, tmp_path, channel="storefront", scope=SCOPE, options={"catalog": str(sale)})
    ran = publish(store, tmp_path, channel="storefront", scope=SCOPE, options={"catalog": str(sale)}, allow_drop=True)
    assert ran.published == 1
    assert store.job(ran.job_id)["status"] == "succeeded"
    assert _counts(store, ran.job_id)["catalog"] == str(sale.resolve())
    assert "catalog" not in _counts(store, ran.job_id - 2)  # the default catalog's run


def test_the_baseline_is_the_newest_run_that_counts_outputs_of_any_catalog(store: Store, tmp_path: Path) -> None:
    whole = [Artifact(tmp_path / "d", "search/x/documents.ndjson", "application/x-ndjson", 0, {"mode": "full"})]
    source, other = f"search/{SCOPE}", "/srv/pim/catalogs/search-us.yaml"
    store.finish_job(store.start_job("publish", source), {"published": 10, "published_counts": "outputs"})
    with pytest.raises(DropRefused):
        refuse_drop(store, source, 0, {}, whole, other)  # that catalog's first publish: the same output (round 37)
    with pytest.raises(DropRefused):
        refuse_drop(store, source, 0, {}, whole)  # the default catalog's own baseline
    job = store.start_job("publish", source)
    store.finish_job(job, {"published": 10, "published_counts": "outputs", "catalog": other})
    with pytest.raises(DropRefused) as refused:
        refuse_drop(store, source, 0, {}, whole, other)
    said = refused.value.describe()
    assert f"(job {job})" in said and f"catalog {other}" in said and f"--catalog {other} --allow-drop" in said
    store.finish_job(store.start_job("publish", source), {"published": 10})  # counted as before round 34
    refuse_drop(store, source, 0, {}, whole)  # the newest default run is no measure: not judged


# ---------------------------------------------------------------------------------------------- 4. top reasons
def test_a_refusal_names_the_renderers_rule_with_its_field() -> None:
    blocked = {"a": ["google_merchant:US-en_US:missing:gtin"],
               "b": ["google_merchant:US-en_US:missing:price:USD", "google_merchant:DE-de_DE:missing:price:EUR"],
               "c": ["google_merchant:US-en_US:too_long:title:181>150"],
               "d": ["google_merchant:US-en_US:missing:gtin", "google_merchant:DE-de_DE:missing:gtin"]}
    assert dict(top_reasons(blocked, "google_merchant", n=5)) == {
        "google_merchant:missing:gtin": 2, "google_merchant:missing:price": 1, "google_merchant:too_long:title": 1}


# ---------------------------------------------------------------------------------------------- 2. CATALOG_VERSION
def test_bmecat_catalog_version_grows_with_every_delivery_and_fits_the_schema() -> None:
    versions = list(range(1, 3001)) + [9_999, 10_000, 99_999, 100_000, 998_998, 998_999]
    texts = [catalog_version(v) for v in versions]
    assert all(re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", t) for t in texts)  # bmecat_2005_1.xsd, 7 chars at most
    pairs = [tuple(map(int, t.split("."))) for t in texts]
    assert pairs == sorted(set(pairs))  # major then minor, as numbers
    assert [Decimal(t) for t in texts] == sorted(set(map(Decimal, texts)))  # or as one decimal
    assert all(int(t.replace(".", "")) - 1000 == v for t, v in zip(texts, versions))  # the counter prev_version names
    for v in range(1, 5000):  # an upgraded contract: delivery v under releases before round 34, then v + 1
        before, after = f"{(v // 1000) % 1000}.{v % 1000}", catalog_version(v + 1)
        assert Decimal(before) < Decimal(after)
        assert tuple(map(int, before.split("."))) < tuple(map(int, after.split(".")))


# ---------------------------------------------------------------------------------------------- 3. dry runs
def test_a_dry_run_never_counts_as_the_schedules_last_success(store: Store) -> None:
    seed_catalog(store)
    contract = store_contract(store, schedule="0 * * * *", mode="delta")
    assert deliver_all(store).results[0]["status"] == "delivered"
    before = last_success(store, "acme-tools")
    assert deliver_all(store, dry_run=True).results[0]["status"] == "nothing"
    newest = max(j["id"] for j in store.jobs("feed"))
    assert _counts(store, newest)["dry_run"] is True
    assert last_success(store, "acme-tools") == before
    for _ in range(60):  # a monitor's dry runs: the schedule still finds the real run behind them
        store.finish_job(store.start_job("feed", "acme-tools"), {"status": "nothing", "dry_run": True})
    refused = refusal_counts(contract, built_from(store), [], media=False) | {"dry_run": True}  # it would hold
    store.finish_job(store.start_job("feed", "acme-tools"), refused, status="failed", error="refused")
    due = schedule_of(store, contract, before)
    assert due is not None and due.last_success == before and due.on_hold is None


def test_a_dry_run_into_a_given_folder_leaves_no_file_there_nor_in_the_log(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store_contract(store)
    dry = deliver_contract(store, "acme-tools", dry_run=True, out_dir=out_dir(tmp_path))
    assert dry.status == "dry-run" and dry.rows > 0 and dry.file is None
    assert [p for p in out_dir(tmp_path).rglob("*") if p.is_file()] == []
    assert log.feed_files(store) == []


# ---------------------------------------------------------------------------------------------- 6. busy contract
def test_a_skipped_contract_and_a_refused_delete_name_the_sending_run_alike(store: Store) -> None:
    from pim.feed_schedule import ContractBusy, describe_sending, refuse_while_sending, sending

    seed_catalog(store)
    store_contract(store)
    assert claim(store, "acme-tools", "host-b:4242:beef")
    job = store.start_job("feed", "acme-tools")
    run = sending(store, "acme-tools")
    assert run is not None
    said = describe_sending(run)
    assert said.startswith(f"run host-b:4242:beef (job {job}, since ") and said.endswith(" UTC)")
    with DueRun(store) as due:
        due.take_named(["acme-tools"])
    assert f"another run is sending it: {said}; try again" in due.skipped[0]["reason"]
    with pytest.raises(ContractBusy) as busy:
        refuse_while_sending(store, "acme-tools")
    assert f"is being sent by {said}; it was not deleted" in str(busy.value)
