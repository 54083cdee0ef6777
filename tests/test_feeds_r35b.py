"""Round 35, feeds follow-ups: delivery lives in pim.feed_delivery (pim.feeds keeps its old names); a contract
deleted while its SFTP upload is under way leaves nothing at the server and is cancelled; PIM_FEED_STOCK_KEYS
picks the stock reading every output counts (pim.stock_sums), not only feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from pim import delivery_log as log
from pim.commerce import StockLevel, put_stock
from pim.contracts import delete_contract
from pim.settings import reset_settings
from pim.store import Store
from pim.structure import Channel, GateRules
from tests.feeds_data import out_dir, seed_catalog, store_contract
from tests.search_data import load_catalog, publish_search


# ---------------------------------------------------------------------------------------------- 1. the split
def test_delivery_has_its_own_module_and_the_old_names_still_import() -> None:
    import pim.feed_delivery as delivery
    from pim.feeds import DeliveryResult, deliver_contract, describe_left_out, feeds_dir

    assert (deliver_contract, DeliveryResult, feeds_dir, describe_left_out) == (
        delivery.deliver_contract, delivery.DeliveryResult, delivery.feeds_dir, delivery.describe_left_out)


# ---------------------------------------------------------------------------------------------- 2. deleted mid-upload
def _sftp_contract(store: Store, server: Any, code: str) -> None:
    delivery = {"portal": True, "sftp": {"host": "127.0.0.1", "port": server.port, "user": "pimfeed_a",
                                         "private_key": str(server.client_key),
                                         "host_key_fingerprint": server.host_key_fingerprint, "remote_dir": "/upload"}}
    store_contract(store, code=code, customer="pimfeed_a", delivery=delivery)


@pytest.mark.sshd
@pytest.mark.parametrize("during", [1, 2])
def test_a_contract_deleted_while_its_files_upload_leaves_nothing_at_the_server(
        store: Store, sftp_server: Any, tmp_path: Path, during: int) -> None:
    """The upload's progress callback deletes the contract once the `during`th file (1: the feed, 2: its manifest,
    after the feed took its name) started going out."""
    from pim.feeds import deliver_contract  # the old path

    seed_catalog(store)
    _sftp_contract(store, sftp_server, "gone-up")
    deleted = {"yes": False}

    def progress(done: int, total: int) -> None:
        placed = [p for p in sftp_server.upload_dir("pimfeed_a").iterdir()
                  if p.name.startswith("gone-up") and not p.name.endswith(".part")]
        if not deleted["yes"] and len(placed) + 1 == during:
            deleted["yes"] = bool(delete_contract(store, "gone-up", force=True))

    result = deliver_contract(store, "gone-up", out_dir=out_dir(tmp_path), backoff=0.01, progress=progress)
    assert deleted["yes"]
    assert result.status == "cancelled" and result.locations == [] and "nothing was sent" in result.error
    assert [p.name for p in sftp_server.upload_dir("pimfeed_a").iterdir() if p.name.startswith("gone-up")] == []
    assert [p for p in out_dir(tmp_path).rglob("*") if p.is_file()] == []
    assert log.get_watermark(store, "gone-up") is None
    [recorded] = log.feed_files(store, contract="gone-up")
    assert recorded["status"] == "cancelled" and log.feed_files(store, portal_only=True) == []
    by_target = sorted((r["target"].split(":")[0], r["status"]) for r in log.deliveries(store, "gone-up"))
    assert by_target == [("portal", "cancelled"), ("sftp", "cancelled")]


# ---------------------------------------------------------------------------------------------- 3. one stock sum
def _reading(sku: str, warehouse: str, quantity: str, stamp: datetime) -> StockLevel:
    return StockLevel(sku=sku, warehouse=warehouse, quantity=Decimal(quantity), updated_at=stamp)


@pytest.mark.parametrize(("keys", "counted"), [("plant", 5.0), ("location", 3.0)])  # both: 8
def test_search_documents_count_the_stock_reading_the_setting_picks(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: str, counted: float) -> None:
    """HP-100-BLK: 0 under `main`, 5 under 1000/0001 (SAP MATMAS) and 3 under 0001 (an older stock CSV)."""
    monkeypatch.delenv("MEILI_URL", raising=False)
    monkeypatch.setenv("PIM_FEED_STOCK_KEYS", keys)
    reset_settings()
    load_catalog(store)
    now = datetime.now(UTC)
    put_stock(store, [_reading("HP-100-BLK", "1000/0001", "5", now), _reading("HP-100-BLK", "0001", "3", now)])
    publish_search(store, tmp_path / "out")
    lines = (tmp_path / "out" / "search" / "products_ecommerce_en_US" / "documents.ndjson").read_bytes().splitlines()
    [black] = [d for d in map(orjson.loads, lines) if d["sku"] == "HP-100-BLK"]
    assert black["stock"] == counted and black["availability"] == "in_stock"


def test_a_feed_gate_judges_stock_age_by_the_reading_the_feed_counts(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """T1's plant/location reading is fresh, its location-alone one (an old stock CSV) is a year old: counting
    the plant reading only, the gate's stock age must not look at the other one and keep T1 out."""
    monkeypatch.setenv("PIM_FEED_STOCK_KEYS", "plant")
    reset_settings()
    seed_catalog(store)
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(
                                                min_completeness=0, block_on=["stale_stock"], max_stock_age_days=30))])
    now = datetime.now(UTC)
    put_stock(store, [_reading("T1", "1000/0001", "5", now), _reading("T1", "0001", "3", now - timedelta(days=365))])
    from pim.feeds import build_feed

    build = build_feed(store, store_contract(store, format="jsonl"), out_dir(tmp_path))
    assert build.path is not None
    rows = {r["sku"]: r for r in map(orjson.loads, build.path.read_bytes().splitlines())}
    assert Decimal(rows["T1"]["stock"]["atp"]) == 5
