"""Delta feeds since the last confirmed delivery, the watermark, and the one-job-per-contract fan-out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from pim import delivery_log as log
from pim.feeds import build_feed, deliver_all, deliver_contract
from tests.conftest import BMECAT_DIR
from tests.feeds_data import out_dir, product, put_prices, seed_catalog, store_contract

NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}


@pytest.fixture
def delivered(store, tmp_path: Path):
    """A delta contract whose first (full) feed was delivered."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    store_contract(store, mode="delta", format="jsonl")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.kind == "full" and first.status == "delivered"
    return store


def lines(path: str) -> dict[str, dict]:
    return {d["sku"]: d for d in map(json.loads, Path(path).read_text().splitlines())}


def test_delta_holds_changes_price_moves_and_removals_only(delivered, tmp_path: Path) -> None:
    s = delivered
    s.upsert_products([product("T2", brand="bosch", note="new note"),           # changed
                       product("T3", brand="makita", categories=["garden"]),    # left the assortment
                       product("T9", brand="acme")])                            # new in the assortment
    s.delete_products(["T6"])                                                   # deleted
    put_prices(s, "cust_a", [("T1", "1", "7.00")])                              # price change only
    r = deliver_contract(s, "acme-tools", out_dir=out_dir(tmp_path))
    got = lines(r.file)
    assert set(got) == {"T1", "T2", "T3", "T6", "T9"}
    assert got["T2"]["action"] == "upsert" and got["T2"]["attributes"]["note"] == "new note"
    assert got["T1"]["price"]["amount"] == "7.00"
    assert got["T3"] == {"sku": "T3", "action": "delete"} and got["T6"] == {"sku": "T6", "action": "delete"}
    assert got["T9"]["action"] == "upsert"


def test_product_failing_the_gate_is_removed(delivered, tmp_path: Path) -> None:
    delivered.upsert_products([product("T2", brand="bosch", enabled=False)])
    got = lines(deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path)).file)
    assert got == {"T2": {"sku": "T2", "action": "delete"}}


def test_nothing_changed_means_nothing_delivered(delivered, tmp_path: Path) -> None:
    r = deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path))
    assert r.status == "nothing" and r.rows == 0


def test_a_stock_change_alone_reaches_the_delta(delivered, tmp_path: Path) -> None:
    from tests.feeds_data import put_stocks

    put_stocks(delivered, {"T2": "0"})
    got = lines(deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path)).file)
    assert set(got) == {"T2"} and got["T2"]["action"] == "upsert"
    assert got["T2"]["stock"]["atp"] == "0" and got["T2"]["stock"]["in_stock"] is False


def test_unrelated_changes_do_not_reach_the_customer(delivered, tmp_path: Path) -> None:
    delivered.upsert_products([product("G1", family="plant", categories=["garden"], note="x")])
    assert deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path)).status == "nothing"


def test_watermark_advances_only_after_confirmed_delivery(delivered, tmp_path: Path) -> None:
    before = log.get_watermark(delivered, "acme-tools")
    delivered.upsert_products([product("T2", brand="bosch", note="again")])
    dry = deliver_contract(delivered, "acme-tools", dry_run=True, out_dir=out_dir(tmp_path))
    assert dry.status == "dry-run" and dry.rows == 1  # T2 (the dry run's file is gone with its scratch folder)
    assert log.get_watermark(delivered, "acme-tools").seq == before.seq
    real = deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path))
    assert "T2" in lines(real.file)  # the dry run did not swallow the change
    assert log.get_watermark(delivered, "acme-tools").seq > before.seq


def test_bmecat_delta_uses_update_transactions_and_validates(store, tmp_path: Path) -> None:
    seed_catalog(store)
    store_contract(store, mode="delta", format="bmecat")
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    xsd = etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd")))

    put_prices(store, "cust_a", [("T1", "1", "7.00"), ("T1", "5", "6.50")])
    prices = etree.parse(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file)
    assert xsd.validate(prices), xsd.error_log
    assert prices.find("b:T_UPDATE_PRICES", NS).get("prev_version") == "1"
    assert [p.findtext("b:LOWER_BOUND", namespaces=NS) for p in prices.findall(".//b:PRODUCT_PRICE", NS)] == ["1", "5"]

    store.delete_products(["T3"])
    store.upsert_products([product("T2", brand="bosch", note="n")])
    update = etree.parse(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file)
    assert xsd.validate(update), xsd.error_log
    modes = {p.findtext("b:SUPPLIER_PID", namespaces=NS): p.get("mode") for p in update.findall(".//b:T_UPDATE_PRODUCTS/b:PRODUCT", NS)}
    assert modes == {"T2": "update", "T3": "delete"}


def test_delta_reads_only_what_changed(delivered, tmp_path: Path) -> None:
    """Proportional to the change: a delta's candidates are the changed rows, not the catalog."""
    from pim import feeds

    seen: list[str] = []
    original = feeds._Reader.scan

    def counting(self, *a, **kw):
        for p in original(self, *a, **kw):
            seen.append(p.identifier)
            yield p

    feeds._Reader.scan = counting  # type: ignore[method-assign]
    try:
        delivered.upsert_products([product("T2", brand="bosch", note="only me")])
        from pim.contracts import get_contract

        build_feed(delivered, get_contract(delivered, "acme-tools"), out_dir(tmp_path))
    finally:
        feeds._Reader.scan = original  # type: ignore[method-assign]
    assert seen == ["T2"]


def test_contract_change_resends_a_full_feed(delivered, tmp_path: Path) -> None:
    store_contract(delivered, mode="delta", format="jsonl", fields=["label"])
    r = deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path))
    assert r.kind == "full" and len(lines(r.file)) == 7


def test_one_failing_contract_does_not_stop_the_others(store, pim_env: Path) -> None:
    seed_catalog(store)
    store_contract(store, code="good-1")
    store_contract(store, code="good-2", format="jsonl")
    store_contract(store, code="bad", delivery={"sftp": {"host": "127.0.0.1", "port": 1, "user": "u",
                   "private_key": "/nonexistent", "host_key_fingerprint": "SHA256:" + "A" * 43}})
    summary = deliver_all(store, retries=1, backoff=0)
    by = {r["contract"]: r["status"] for r in summary.results}
    assert by == {"bad": "failed", "good-1": "delivered", "good-2": "delivered"}
    assert [f["contract"] for f in summary.as_dict()["failures"]] == ["bad"]
    assert "cannot reach SFTP server" in summary.failures[0]["error"]
    jobs = {j["source"]: j["status"] for j in store.jobs(kind="feed")}
    assert jobs == {"bad": "failed", "good-1": "succeeded", "good-2": "succeeded"}


def test_a_contract_price_removed_by_a_complete_price_list_is_resent_at_its_fallback_price(delivered, tmp_path: Path) -> None:
    from decimal import Decimal

    from pim.commerce import CompletePriceLists, PriceListEntry

    lists = CompletePriceLists(delivered)  # cust_a's list now holds T2 only: T1's contract price goes
    lists.put(delivered, [PriceListEntry(customer="cust_a", sku="T2", currency="EUR", price=Decimal("3.00"))])
    assert lists.finish(remove=True) == 1
    got = lines(deliver_contract(delivered, "acme-tools", out_dir=out_dir(tmp_path)).file)
    assert set(got) == {"T1", "T2"}
    assert got["T1"]["action"] == "upsert" and got["T1"]["price"]["amount"] != "8"
