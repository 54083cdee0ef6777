"""Round 34, round 33's rough edges of customer feeds: a run's catalog snapshot keeps only what its contracts read
and is limited in bytes; a dry run leaves no full files behind; a refusal's hold is lifted only by a change that
can matter to it; a rendition media.yaml dropped after the load holds the contract; a run notices a contract
deleted under it (`pim feeds delete --force`) and does not deliver it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pim.feed_snapshot as feed_snapshot
from pim.feeds import FeedRun, build_feed
from pim.contracts import put_contracts
from pim.store import Store
from pim.structure import Channel, GateRules
from tests.feeds_data import contract, out_dir, seed_catalog
from tests.test_feeds_r33 import refused  # noqa: F401  (fixture: a nightly cp1252 contract refused for T1's snowman)


def _lines(path: Path | None) -> list[str]:
    assert path is not None
    return path.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------------------------------------- 1. snapshot
@pytest.fixture
def two_contracts(store: Store, pim_env: Path) -> Store:
    """Tools with label and brand only, and red products by a rule on `color`: what a run's snapshot must hold."""
    seed_catalog(store)
    put_contracts(store, [contract(code="slim", fields=["label", "brand"]),
                          contract(code="red", assortment={"rules": [{"attributes": {"color": ["red"]}}]},
                                   fields=["label"])])
    return store


def test_a_runs_snapshot_keeps_only_the_values_its_contracts_read(two_contracts: Store) -> None:
    run = FeedRun(two_contracts)
    assert run.index(two_contracts) is not None
    # label (name in en_US), brand, the list price for the fallback, and color for the rule: nothing else
    assert set(run.row("T1").values) == {"name:en_US", "brand", "price"}
    assert set(run.row("V-red").values) == {"name:en_US", "brand", "price", "color"}  # inherited values kept too


def test_guard_a_feed_from_the_trimmed_snapshot_is_the_single_builds(two_contracts: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): trimming never changes a row."""
    c = contract(code="slim", fields=["label", "brand"])
    run = FeedRun(two_contracts)
    assert _lines(build_feed(two_contracts, c, out_dir(tmp_path), run=run).path) == \
        _lines(build_feed(two_contracts, c, out_dir(tmp_path)).path)


def test_a_contract_reading_more_than_the_snapshot_holds_is_built_from_full_rows(two_contracts: Store,
                                                                                 tmp_path: Path) -> None:
    """A contract loaded after the snapshot was taken, with a field no other contract reads, still gets it."""
    run = FeedRun(two_contracts)
    run.index(two_contracts)
    late = contract(code="late", fields=["note"])
    put_contracts(two_contracts, [late])
    rows = _lines(build_feed(two_contracts, late, out_dir(tmp_path), run=run).path)
    assert any(line.startswith("T4,") and "HYPERLINK" in line for line in rows)


def test_the_gate_decides_on_full_values_not_on_the_trimmed_snapshot(two_contracts: Store, tmp_path: Path) -> None:
    """The channel blocks a note longer than 3 characters; no contract renders the note, T4 is blocked anyway."""
    two_contracts.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                                    category_tree="master", gate=GateRules(
                                                        min_completeness=0, block_on=["invalid"], text_limits={"note": 3}))])
    run = FeedRun(two_contracts)
    build = build_feed(two_contracts, contract(code="slim", fields=["label", "brand"]), out_dir(tmp_path), run=run)
    skus = {line.split(",")[0] for line in _lines(build.path)[1:]}
    assert "T4" not in skus and "T2" in skus and build.left_out["gate"] >= 1


def test_the_snapshot_limit_is_an_estimate_in_bytes(two_contracts: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run = FeedRun(two_contracts)
    estimate = run.snapshot_bytes(two_contracts, None)
    trimmed = run.snapshot_bytes(two_contracts, feed_snapshot.Diet(["brand"], []))
    assert 0 < trimmed < estimate  # a lighter diet is a smaller snapshot
    monkeypatch.setattr("pim.feeds.SNAPSHOT_MAX_BYTES", 1)
    assert FeedRun(two_contracts).index(two_contracts) is None  # too large: each contract scans
    monkeypatch.setattr("pim.feeds.SNAPSHOT_MAX_BYTES", estimate)
    assert FeedRun(two_contracts).index(two_contracts) is not None


def test_a_renderer_that_does_not_say_what_it_reads_keeps_every_value(two_contracts: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from channels.feed_csv import CsvFeedRenderer

    monkeypatch.delattr(CsvFeedRenderer, "reads")
    run = FeedRun(two_contracts)
    run.index(two_contracts)
    assert run.diet is None and "note" in run.row("T4").values




# ---------------------------------------------------------------------------------------------- 2. dry run
def test_a_dry_run_leaves_no_file_among_the_delivered_ones_and_reports_as_a_run_would(store: Store,
                                                                                    pim_env: Path) -> None:
    from pim import delivery_log
    from pim.feeds import deliver_all, feeds_dir

    seed_catalog(store)
    put_contracts(store, [contract(code="slim", fields=["label", "brand"])])
    [dry] = deliver_all(store, dry_run=True).results
    assert (dry["status"], dry["kind"], dry["file"]) == ("dry-run", "full", None)
    assert [p for p in feeds_dir().rglob("*") if p.is_file()] == []  # nothing left beside real files, no scratch
    assert delivery_log.get_watermark(store, "slim") is None
    [real] = deliver_all(store).results
    assert (real["status"], real["rows"], real["left_out"]) == ("delivered", dry["rows"], dry["left_out"])
    assert len([p for p in feeds_dir().rglob("*.csv")]) == 1


# ---------------------------------------------------------------------------------------------- 3. refusal holds
NIGHTLY = "0 3 * * *"


def test_a_refusal_stays_held_through_writes_to_products_it_did_not_name(refused: Store) -> None:  # noqa: F811
    from pim.feed_schedule import due_contracts, schedules
    from tests.feeds_data import product, put_stocks

    put_stocks(refused, {"T2": "7", "T3": "9"})  # a stock import touching other products
    refused.upsert_products([product("T3", brand="makita", note="fine")])
    assert due_contracts(refused) == []
    assert "until the contract, the structure or a product it named changes" in schedules(refused)[0].on_hold
    put_stocks(refused, {"T1": "4"})  # the product it named moved (here its stock): tried again
    assert due_contracts(refused) == ["nightly"]


def test_a_refusal_is_lifted_when_a_product_it_named_is_deleted(refused: Store) -> None:  # noqa: F811
    from pim.feed_schedule import due_contracts

    refused.delete_products(["T1"])
    assert due_contracts(refused) == ["nightly"]


# ---------------------------------------------------------------------------------------------- 4. rendition held
def test_a_rendition_dropped_from_media_yaml_holds_the_contract_until_media_yaml_changes(store: Store,
                                                                                        pim_env: Path) -> None:
    import yaml

    from pim.feed_schedule import due_contracts, schedules
    from pim.feeds import deliver_all
    from tests.feeds_data import product

    def declare(*names: str) -> None:
        renditions = [{"name": n, "max_width": 400, "max_height": 400, "format": "JPEG"} for n in names]
        (pim_env / "media.yaml").write_text(yaml.safe_dump({"channels": {"b2b": {"renditions": renditions}}}))

    seed_catalog(store)
    pim_env.mkdir(parents=True, exist_ok=True)
    declare("listing")  # `zoom` was declared when the contract was loaded
    put_contracts(store, [contract(code="nightly", schedule=NIGHTLY, format="jsonl", rendition="zoom")])
    [result] = deliver_all(store, contracts=due_contracts(store)).results
    assert result["status"] == "failed"
    [view] = schedules(store)
    assert not view.due and "rendition 'zoom'" in view.on_hold and "until media.yaml or the contract changes" in view.on_hold
    store.upsert_products([product("T1", note="changed")])  # the catalog cannot bring the rendition back
    assert due_contracts(store) == []
    declare("listing", "zoom")
    assert due_contracts(store) == ["nightly"]


# ---------------------------------------------------------------------------------------------- 5. deleted in flight
def test_a_run_does_not_deliver_a_contract_deleted_while_it_built_it(store: Store, pim_env: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import pim.feeds as feeds
    from pim import delivery_log
    from pim.contracts import delete_contract

    seed_catalog(store)
    put_contracts(store, [contract(code="gone")])
    built = feeds.build_feed

    def build_then_delete(*args: Any, **kwargs: Any) -> Any:
        out = built(*args, **kwargs)
        assert delete_contract(store, "gone", force=True)  # `pim feeds delete gone --force` meanwhile
        return out

    monkeypatch.setattr(feeds, "build_feed", build_then_delete)
    [result] = feeds.deliver_all(store).results
    assert result["status"] == "cancelled" and "was deleted while this run built its feed" in result["error"]
    assert [p for p in feeds.feeds_dir().rglob("*") if p.is_file()] == []
    assert delivery_log.get_watermark(store, "gone") is None
    [logged] = delivery_log.deliveries(store, "gone")
    assert (logged["status"], logged["target"]) == ("cancelled", "portal") and "pim feeds load" in logged["error"]
