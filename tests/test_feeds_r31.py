"""Customer feeds follow what changes with no product write: a contract price whose validity begins or ends, a
structure change the gate reads, a stock reading ageing past the channel's limit. A full feed with no rows is
held while the customer holds products, and every build says what it left out and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree
from sqlalchemy import event, update
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.commerce import STOCK, CompletePriceLists, PriceListEntry, StockLevel, put_stock
from pim.contracts import get_contract
from pim.feeds import FeedRun, build_feed, deliver_all, deliver_contract
from pim.store import Store
from pim.structure import Category, Channel, Family, GateRules
from tests.feeds_data import FAMILY_ATTRS, out_dir, product, put_prices, seed_catalog, store_contract

TODAY = datetime.now(UTC).date()
NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}


def lines(path: Any) -> dict[str, dict]:
    return {d["sku"]: d for d in map(json.loads, Path(path).read_text().splitlines())}


def _delta_on(store: Store, tmp_path: Path, days: int) -> Any:
    """The contract's next feed as a run `days` after today would build it (nothing delivered)."""
    return build_feed(store, get_contract(store, "acme-tools"), out_dir(tmp_path), on=TODAY + timedelta(days=days))


def _channel(store: Store, currencies: list[str], **gate: Any) -> None:
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=currencies,
                                            category_tree="master", gate=GateRules(**gate))])


def _require(store: Store, *codes: str) -> None:
    """What family `tool` needs on channel b2b (non-localizable attributes: the products have one locale)."""
    store.put_structure("family", [Family(code="tool", attributes=FAMILY_ATTRS, attribute_as_label="name",
                                          attribute_as_image="image", requirements={"b2b": list(codes)})])


# ---------------------------------------------------------------------------------------------- 1. price windows
@pytest.fixture
def priced(store: Store, tmp_path: Path) -> Store:
    """A delta contract delivered today: T1's contract price 8.00 is valid until tomorrow (inclusive), T2's 6.00
    only from the day after tomorrow."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")], valid_from=TODAY - timedelta(days=30),
               valid_to=TODAY + timedelta(days=1))
    put_prices(store, "cust_a", [("T2", "1", "6.00")], valid_from=TODAY + timedelta(days=2))
    store_contract(store, mode="delta", format="jsonl")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.status == "delivered" and lines(first.file)["T1"]["price"]["amount"] == "8.00"
    return store


def test_a_contract_price_still_valid_on_its_last_day_sends_nothing(priced: Store, tmp_path: Path) -> None:
    """Guard (passes before the fix too): valid_to is inclusive, so the day itself changes nothing."""
    assert _delta_on(priced, tmp_path, 1).rows == 0


def test_a_delta_resends_a_contract_price_that_ended_at_its_fallback(priced: Store, tmp_path: Path) -> None:
    build = _delta_on(priced, tmp_path, 2)
    got = lines(build.path)
    assert got["T1"]["action"] == "upsert" and got["T1"]["price"]["source"] == "list"
    assert got["T1"]["price"]["amount"] == "10.00"  # the list price
    assert build.plan.kind == "delta_prices"


def test_a_delta_sends_a_contract_price_that_began(priced: Store, tmp_path: Path) -> None:
    got = lines(_delta_on(priced, tmp_path, 2).path)
    assert got["T2"]["price"] == {"currency": "EUR", "amount": "6.00", "source": "contract",
                                  "tiers": [{"min_qty": "1", "price": "6.00"}]}


def test_a_contract_price_that_ended_without_fallback_deletes_the_product(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T2", "1", "5.00")], valid_to=TODAY + timedelta(days=1))
    store_contract(store, mode="delta", format="jsonl", pricing={"fallback": "exclude"})
    assert set(lines(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file)) == {"T1", "T2"}
    build = _delta_on(store, tmp_path, 2)
    assert lines(build.path) == {"T1": {"sku": "T1", "action": "delete"}, "T2": {"sku": "T2", "action": "delete"}}
    assert build.plan.kind == "delta_products"


def test_price_windows_are_read_in_one_statement_whatever_the_list_size(priced: Store, tmp_path: Path) -> None:
    """Guard (passes before the fix too, which read no windows): the window check adds no statement per SKU."""
    put_prices(priced, "cust_a", [(f"T{n}", "1", "1.00") for n in range(1, 7)], valid_from=TODAY + timedelta(days=2))
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "price_list" in statement:
            seen.append(statement)

    event.listen(priced.engine, "before_cursor_execute", count)
    try:
        _delta_on(priced, tmp_path, 3)
    finally:
        event.remove(priced.engine, "before_cursor_execute", count)
    assert len(seen) <= 2  # what changed (with the windows), then the tiers of those SKUs


def test_a_price_change_that_removes_a_product_is_a_product_update_in_bmecat(store: Store, tmp_path: Path) -> None:
    """T_UPDATE_PRICES only re-prices products the customer holds; a price change dropping one deletes it."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T2", "1", "5.00")])
    store_contract(store, mode="delta", format="bmecat", pricing={"fallback": "exclude"})
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    lists = CompletePriceLists(store)  # cust_a's list now holds T2 only: T1 has no price left
    lists.put(store, [PriceListEntry(customer="cust_a", sku="T2", currency="EUR", price=Decimal("5.00"))])
    assert lists.finish(remove=True) == 1
    r = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    doc = etree.parse(r.file)
    assert r.kind == "delta_products" and doc.find("b:T_UPDATE_PRICES", NS) is None
    modes = {p.findtext("b:SUPPLIER_PID", namespaces=NS): p.get("mode") for p in doc.findall(".//b:PRODUCT", NS)}
    assert modes == {"T1": "delete"}


# ---------------------------------------------------------------------------------------------- 2. gate changes
@pytest.fixture
def gated(store: Store, tmp_path: Path) -> Store:
    """Tools need a price on channel b2b, whose only currency is EUR; a delta contract delivered."""
    seed_catalog(store)
    _channel(store, ["EUR"])
    _require(store, "sku", "price")
    store_contract(store, mode="delta", format="jsonl")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.kind == "full" and first.rows == 7
    return store


def test_a_structure_change_that_blocks_held_products_deletes_them(gated: Store, tmp_path: Path) -> None:
    _channel(gated, ["EUR", "USD"])  # no product has a USD price: the gate blocks every one, no seq moves
    # round 34: a delta leaving the customer 0 products is held unless sent on purpose
    r = deliver_contract(gated, "acme-tools", out_dir=out_dir(tmp_path), allow_empty=True)
    assert r.status == "delivered" and r.kind == "delta_products"
    got = lines(r.file)
    assert set(got) == {"T1", "T2", "T3", "T4", "T6", "V-red", "V-blue"}
    assert {d["action"] for d in got.values()} == {"delete"}
    assert log.get_watermark(gated, "acme-tools").delivered == []
    assert r.left_out == {"excluded": 1, "gate": 7}  # T5 is disabled


def test_a_structure_change_that_frees_products_sends_only_those(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    _require(store, "sku", "note")  # only T4 has a note
    store_contract(store, mode="delta", format="jsonl")
    assert set(lines(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file)) == {"T4"}
    _require(store, "sku")
    r = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert r.status == "delivered"
    got = lines(r.file)
    assert set(got) == {"T1", "T2", "T3", "T6", "V-red", "V-blue"}  # T4 is held and unchanged: not sent again
    assert {d["action"] for d in got.values()} == {"upsert"}


def test_after_the_gate_change_the_next_delta_is_proportional_again(gated: Store, tmp_path: Path) -> None:
    """Guard (passes before the fix too): the digest of the delivered build is kept, so the assortment is
    decided again once per change, not on every delta."""
    _channel(gated, ["EUR", "USD"])
    deliver_contract(gated, "acme-tools", out_dir=out_dir(tmp_path), allow_empty=True)  # round 34: held otherwise
    assert deliver_contract(gated, "acme-tools", out_dir=out_dir(tmp_path)).status == "nothing"


def test_the_gate_digest_ignores_categories_and_follows_the_channel(store: Store) -> None:
    from pim.gate import gate_digest

    seed_catalog(store)
    before = gate_digest(store.structure(), "b2b")
    store.put_structure("category", [Category(code="lamps", parent="master")])
    assert gate_digest(store.structure(), "b2b") == before
    _channel(store, ["EUR", "USD", "CHF"])
    assert gate_digest(store.structure(), "b2b") != before


def test_a_stock_reading_that_aged_past_the_channel_limit_deletes_the_product(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    _channel(store, ["EUR", "USD"], min_completeness=0, block_on=["stale_stock"], max_stock_age_days=30)
    read = datetime.now(UTC) - timedelta(days=29)
    put_stock(store, [StockLevel(sku=s, quantity=Decimal(5), updated_at=read) for s in ("T1", "T2")])
    store_contract(store, mode="delta", format="jsonl", assortment={"skus": ["T1", "T2"]})
    assert set(lines(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file)) == {"T1", "T2"}
    with store.begin() as conn:  # two days later: T1's reading is 31 days old (its seq did not move)
        conn.execute(update(STOCK).where(STOCK.c.sku == "T1").values(updated_at=read - timedelta(days=2)))
        conn.execute(update(log.WATERMARK).values(prices_at=datetime.now(UTC) - timedelta(days=2)))
    r = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert r.status == "delivered" and lines(r.file) == {"T1": {"sku": "T1", "action": "delete"}}


# ---------------------------------------------------------------------------------------------- 3. empty full feeds
@pytest.fixture
def full_delivered(store: Store, tmp_path: Path) -> Store:
    seed_catalog(store)
    store_contract(store, format="jsonl")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.status == "delivered" and first.rows == 7
    _require(store, "sku", "eclass_class", "note")  # only T4 has a note, and the variants lack eclass_class
    store.upsert_products([product("T4", brand="bosch")])  # T4 loses its note: nothing passes now
    return store


def test_an_empty_full_feed_is_held_while_the_customer_holds_products(full_delivered: Store, tmp_path: Path) -> None:
    s = full_delivered
    before = log.get_watermark(s, "acme-tools")
    r = deliver_contract(s, "acme-tools", out_dir=out_dir(tmp_path))
    assert (r.status, r.kind, r.rows) == ("held", "full", 0)
    assert "holds 7 products" in r.error and "--allow-empty" in r.error and "blocked by the gate" in r.error
    assert r.left_out == {"excluded": 1, "gate": 7}  # T5 is disabled
    after = log.get_watermark(s, "acme-tools")
    assert (after.version, after.delivered) == (before.version, before.delivered)
    assert log.feed_files(s)[0]["status"] == "held"
    assert [f["id"] for f in log.feed_files(s, portal_only=True)] == [log.feed_files(s)[1]["id"]]
    row = log.deliveries(s, "acme-tools")[0]
    assert (row["status"], row["target"], row["left_out"]) == ("held", "portal", r.left_out)
    assert "--allow-empty" in row["error"]


def test_allow_empty_delivers_the_empty_full_feed(full_delivered: Store, tmp_path: Path) -> None:
    r = deliver_contract(full_delivered, "acme-tools", out_dir=out_dir(tmp_path), allow_empty=True)
    assert (r.status, r.rows) == ("delivered", 0)
    assert log.get_watermark(full_delivered, "acme-tools").delivered == []


def test_a_dry_run_says_the_empty_full_feed_would_be_held(full_delivered: Store, tmp_path: Path) -> None:
    r = deliver_contract(full_delivered, "acme-tools", dry_run=True, out_dir=out_dir(tmp_path))
    assert r.status == "dry-run" and r.error.startswith("would be held: a full feed with 0 rows")


def test_a_first_full_feed_with_no_rows_is_delivered(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): the customer holds nothing yet, so nothing is emptied."""
    seed_catalog(store)
    store_contract(store, format="jsonl", assortment={"skus": ["nope"]})
    r = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert (r.status, r.rows) == ("delivered", 0)


def test_deliver_all_lists_a_held_feed_and_its_job_fails_with_the_reason(full_delivered: Store, pim_env: Path) -> None:
    summary = deliver_all(full_delivered)
    data = summary.as_dict()
    assert data["by_status"] == {"held": 1} and data["failures"] == []
    assert data["held"][0]["contract"] == "acme-tools" and "--allow-empty" in data["held"][0]["error"]
    job = full_delivered.jobs(kind="feed")[0]
    assert job["status"] == "failed" and job["error"].startswith("held: a full feed with 0 rows")


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def test_cli_exits_5_on_a_held_feed_and_allow_empty_sends_it(full_delivered: Store, pim_env: Path) -> None:
    app = _cli()
    held = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "acme-tools", "--json"])
    assert held.exit_code == 5, held.output
    body = orjson.loads(held.output)
    assert body["results"][0]["status"] == "held" and body["left_out"] == {"excluded": 1, "gate": 7}
    dry = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "acme-tools", "--allow-empty", "--dry-run",
                                   "--json"])  # round 31's review: the dry run dropped the flag
    assert dry.exit_code == 0 and orjson.loads(dry.output)["results"][0]["error"] is None, dry.output
    sent = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "acme-tools", "--allow-empty", "--json"])
    assert sent.exit_code == 0, sent.output
    assert orjson.loads(sent.output)["results"][0]["status"] == "delivered"


def test_cli_allow_empty_needs_one_contract(full_delivered: Store, pim_env: Path) -> None:
    result = CliRunner().invoke(_cli(), ["feeds", "deliver", "--allow-empty"])
    assert result.exit_code == 2 and "--allow-empty goes with --contract" in result.output


# ---------------------------------------------------------------------------------------------- left out
@pytest.fixture
def mixed(store: Store) -> Store:
    """Explicit SKUs T1 and an unknown one, the tools rules minus T2 (T5 is disabled); the gate refuses T3's
    EAN; only T1, T4 and V-red have contract prices, and there is no fallback."""
    seed_catalog(store)
    _channel(store, ["EUR", "USD"], block_on=["invalid"])
    store.upsert_products([product("T3", brand="makita", ean="4006381333932")])  # wrong check digit
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T4", "1", "8.00"), ("V-red", "1", "8.00")])
    store_contract(store, format="jsonl", pricing={"fallback": "exclude"},
                   assortment={"skus": ["T1", "nope"], "rules": [{"categories": ["tools"]}], "exclude_skus": ["T2"]})
    return store


WHY = {"unknown_sku": 1, "excluded": 2, "gate": 1, "no_price": 2}


def test_a_single_build_counts_what_it_left_out_and_why(mixed: Store, tmp_path: Path) -> None:
    build = build_feed(mixed, get_contract(mixed, "acme-tools"), out_dir(tmp_path))
    assert set(lines(build.path)) == {"T1", "T4", "V-red"}
    assert build.left_out == WHY


def test_a_build_in_a_run_counts_the_same(mixed: Store, tmp_path: Path) -> None:
    build = build_feed(mixed, get_contract(mixed, "acme-tools"), out_dir(tmp_path), run=FeedRun(mixed))
    assert build.left_out == WHY


def test_the_delivery_log_keeps_what_was_left_out(mixed: Store, tmp_path: Path) -> None:
    r = deliver_contract(mixed, "acme-tools", out_dir=out_dir(tmp_path))
    assert r.left_out == WHY and log.deliveries(mixed, "acme-tools")[0]["left_out"] == WHY
