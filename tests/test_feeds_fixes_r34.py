"""Round 34, what a B2B customer receiving feeds found: file names sort in delivery order and every manifest and
portal entry carries its version and the one it follows; a one-piece fallback below contract tiers is labelled a
fallback in every format and warned about when it undercuts the first tier; a delta leaving the customer 0
products is held like an empty full feed; a contract another run sends names that run, not its claim's expiry;
the customer's own pruned file answers 410 with where to start again; `stock_updated_at` is an opt-in column."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from typer.testing import CliRunner

from channels.feed_bmecat import catalog_version
from pim import delivery_log as log
from pim.cli import _mount, app
from pim.contracts import load_contracts
from pim.errors import ConfigError
from pim.feed_retention import prune_feeds
from pim.feed_schedule import claim
from pim.feeds import build_feed, deliver_all, deliver_contract
from pim.portal import create_portal_app
from pim.store import Store
from tests.conftest import BMECAT_DIR
from tests.feeds_data import contract, out_dir, put_prices, put_stocks, seed_catalog, store_contract

NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}
_mount()


def _csv(path: Path | str | None) -> list[dict[str, str]]:
    assert path is not None
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8")), delimiter=";"))


def _auth(store: Store, customer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {log.issue_token(store, customer)}"}


# ---------------------------------------------------------------------------------------------- 1. order, versions
@pytest.fixture
def three_deliveries(store: Store, tmp_path: Path) -> tuple[Store, list[Any]]:
    """A delta contract delivered three times: full, a price change (delta_prices), a product delete
    (delta_products), whose old names sorted delta_prices < delta_products < full."""
    seed_catalog(store)
    store_contract(store, mode="delta", csv={"delimiter": ";"})
    sent = [deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))]
    put_prices(store, "cust_a", [("T2", "1", "7.00")])
    sent.append(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)))
    store.delete_products(["T3"])
    sent.append(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)))
    return store, sent


def test_file_names_sort_in_delivery_order_and_manifests_carry_the_version(three_deliveries: Any) -> None:
    _, sent = three_deliveries
    assert [r.kind for r in sent] == ["full", "delta_prices", "delta_products"]
    names = [Path(r.file).name for r in sent]
    assert sorted(names) == names  # replaying an SFTP folder by name applies them in delivery order
    assert names[0].startswith("acme-tools-v000001-") and names[0].endswith("Z-full.csv")
    manifests = [orjson.loads(Path(r.file + ".manifest.json").read_bytes()) for r in sent]
    assert [(m["version"], m["previous_version"]) for m in manifests] == [(1, 0), (2, 1), (3, 2)]


def test_portal_lists_and_manifests_say_version_and_previous_version(three_deliveries: Any) -> None:
    store, _ = three_deliveries
    client = TestClient(create_portal_app(store))
    headers = _auth(store, "cust_a")
    listed = client.get("/portal/feeds", headers=headers).json()["feeds"]
    assert [(f["version"], f["previous_version"]) for f in listed] == [(3, 2), (2, 1), (1, 0)]
    manifest = client.get(f"/portal/feeds/{listed[0]['id']}/manifest", headers=headers).json()
    assert (manifest["version"], manifest["previous_version"]) == (3, 2)


def test_a_delta_with_nothing_to_send_keeps_the_delivery_counter(store: Store, tmp_path: Path) -> None:
    """Versions without a file would leave the customer a gap: the next file's previous_version is the last sent."""
    seed_catalog(store)
    store_contract(store, mode="delta")
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "nothing"
    put_prices(store, "cust_a", [("T2", "1", "7.00")])
    sent = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    manifest = orjson.loads(Path(sent.file + ".manifest.json").read_bytes())
    assert (manifest["version"], manifest["previous_version"]) == (2, 1)


def test_bmecat_catalog_version_and_prev_version_count_the_same_deliveries(store: Store, tmp_path: Path) -> None:
    assert [catalog_version(v) for v in (1, 2, 999, 1000, 1001)] == ["1.001", "1.002", "1.999", "2.000", "2.001"]
    seed_catalog(store)
    store_contract(store, mode="delta", format="bmecat")
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    store.delete_products(["T3"])
    doc = etree.parse(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file)
    assert doc.findtext(".//b:CATALOG_VERSION", namespaces=NS) == "1.002"
    assert doc.find(".//b:T_UPDATE_PRODUCTS", NS).get("prev_version") == "1"


# ---------------------------------------------------------------------------------------------- 2. one-piece fallback
TIERED = [("T1", "10", "9.50"), ("T1", "50", "9.00")]  # T1 lists at 10.00


@pytest.mark.parametrize("pricing,one,source", [({"fallback": "list_price"}, "10.00", "list"),
                                                ({"fallback": "list_price_discount", "discount_percent": 10}, "9.00",
                                                 "list_discount")])
def test_one_piece_fallback_below_contract_tiers_is_labelled_a_fallback(store: Store, tmp_path: Path,
                                                                        pricing: dict[str, Any], one: str,
                                                                        source: str) -> None:
    seed_catalog(store)
    put_prices(store, "cust_a", TIERED)
    row = {r["sku"]: r for r in _csv(build_feed(store, store_contract(store, pricing=pricing, csv={"delimiter": ";"}),
                                               out_dir(tmp_path)).path)}["T1"]
    assert (row["price"], row["price_source"], row["tiers"]) == (one, source, "10:9.50|50:9.00")
    jsonl = build_feed(store, store_contract(store, code="j", pricing=pricing, format="jsonl"), out_dir(tmp_path)).path
    [doc] = [d for line in Path(jsonl).read_text().splitlines() if (d := orjson.loads(line))["sku"] == "T1"]
    assert (doc["price"]["amount"], doc["price"]["source"]) == (one, source)
    xml = build_feed(store, store_contract(store, code="x", pricing=pricing, format="bmecat"), out_dir(tmp_path)).path
    tree = etree.parse(str(xml))
    assert etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd"))).validate(tree)
    [t1] = [p for p in tree.iterfind(".//b:PRODUCT", NS) if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T1"]
    assert [(p.findtext("b:LOWER_BOUND", namespaces=NS), p.get("price_type")) for p in t1.iterfind(".//b:PRODUCT_PRICE", NS)] \
        == [("1", "net_list"), ("10", "net_customer"), ("50", "net_customer")]


def test_a_one_piece_fallback_below_the_first_tier_is_warned_about(store: Store, tmp_path: Path) -> None:
    """10 % off T1's list price (9.00 for one piece) undercuts its 10-piece contract price (9.50); the list price
    (10.00) does not."""
    seed_catalog(store)
    put_prices(store, "cust_a", TIERED)
    listed = build_feed(store, store_contract(store), out_dir(tmp_path))
    assert listed.warnings == []
    cheap = build_feed(store, store_contract(store, code="d", pricing={"fallback": "list_price_discount",
                                                                         "discount_percent": 10}), out_dir(tmp_path))
    [warning] = cheap.warnings
    assert warning.startswith("1 products of contract d cost less for one piece") and "T1" in warning
    assert "pim feeds prices" in warning


# ---------------------------------------------------------------------------------------------- 3. emptying delta
def test_a_delta_leaving_the_customer_no_products_is_held_like_an_empty_full_feed(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store_contract(store, mode="delta", assortment={"skus": ["T1", "T2"]})
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).rows == 2
    store.delete_products(["T1", "T2"])
    held = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert (held.status, held.kind, held.rows) == ("held", "delta_products", 2)
    assert "while cust_a holds 2 products from version 1" in held.error and "--allow-empty" in held.error
    assert log.get_watermark(store, "acme-tools").version == 1  # nothing sent, the customer still holds both
    sent = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path), allow_empty=True)
    assert sent.status == "delivered" and log.get_watermark(store, "acme-tools").delivered == []


def test_a_delta_leaving_some_products_is_delivered(store: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): deleting some of what the customer holds is an ordinary delta."""
    seed_catalog(store)
    store_contract(store, mode="delta", assortment={"skus": ["T1", "T2"]})
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    store.delete_products(["T1"])
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "delivered"


# ---------------------------------------------------------------------------------------------- 8. busy contract
def test_a_contract_another_run_sends_names_that_run_and_not_the_claims_expiry(store: Store) -> None:
    seed_catalog(store)
    store_contract(store)
    assert claim(store, "acme-tools", "host-b:4242:beef")
    out = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "acme-tools"])
    assert out.exit_code == 1
    text = " ".join(out.output.split())
    assert "another run is sending it: run host-b:4242:beef (since " in text
    assert "try again when that run ends" in text and "until" not in text
    skipped = orjson.loads(CliRunner().invoke(app, ["feeds", "deliver", "--contract", "acme-tools", "--json"]).stdout)
    assert skipped["skipped"][0]["holder"] == "host-b:4242:beef" and "since" in skipped["skipped"][0]


# ---------------------------------------------------------------------------------------------- 6. pruned file
def test_the_customers_own_pruned_file_answers_410_with_where_to_start_again(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store_contract(store)
    store_contract(store, code="b-feed", customer="cust_b")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    deliver_contract(store, "b-feed", out_dir=out_dir(tmp_path))
    prune_feeds(store, keep=1)
    files = {r["name"]: r for r in log.feed_files(store)}
    old = files[Path(first.file).name]
    newest = log.newest_full(store, "cust_a", "acme-tools")
    assert newest is not None and newest["id"] != old["id"]
    client = TestClient(create_portal_app(store))
    own = client.get(f"/portal/feeds/{old['id']}/download", headers=_auth(store, "cust_a"))
    assert own.status_code == 410
    assert "removed by retention" in own.text and f"start again from full feed {newest['id']}" in own.text
    other = client.get(f"/portal/feeds/{old['id']}/download", headers=_auth(store, "cust_b"))
    missing = client.get("/portal/feeds/999999/download", headers=_auth(store, "cust_b"))
    assert (other.status_code, other.json()) == (missing.status_code, missing.json()) == (404, {"detail": "no such feed"})


# ---------------------------------------------------------------------------------------------- 7. stock time
def test_stock_updated_at_is_an_opt_in_column_after_in_stock(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    put_stocks(store, {"T1": "5"})
    plain = store_contract(store, csv={"delimiter": ";"}, fields=["label"])
    dated = store_contract(store, code="dated", csv={"delimiter": ";"}, fields=["label", "stock_updated_at"])
    assert list(_csv(build_feed(store, plain, out_dir(tmp_path)).path)[0]) == [
        "sku", "action", "price", "currency", "price_source", "tiers", "stock_atp", "in_stock", "label"]
    rows = {r["sku"]: r for r in _csv(build_feed(store, dated, out_dir(tmp_path)).path)}
    assert list(rows["T1"])[6:] == ["stock_atp", "in_stock", "stock_updated_at", "label"]
    assert (rows["T1"]["stock_atp"], rows["T1"]["stock_updated_at"]) == ("5", "2024-05-01T00:00:00+00:00")
    assert contract().digest() == "a6ec7e0c5475596c0a2c759690ed56c2"  # contracts that do not ask keep their digest


def test_stock_updated_at_without_stock_is_refused_at_load(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    f = tmp_path / "c.yaml"
    f.write_text("contracts:\n  - {code: c1, customer: cust_a, locale: en_US, currency: EUR, channel: b2b, "
                 "assortment: {skus: [T1]}, include_stock: false, fields: [label, stock_updated_at], "
                 "delivery: {portal: true}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_contracts(store, [f])
    [problem] = refused.value.problems  # type: ignore[attr-defined]
    assert "include_stock is false" in problem.reason and "set include_stock: true" in problem.reason



# ---------------------------------------------------------------------------------------------- failed delivery
def test_a_failed_delivery_reports_the_file_it_built(store: Store, pim_env: Path) -> None:
    seed_catalog(store)
    store_contract(store, delivery={"sftp": {"host": "127.0.0.1", "port": 1, "user": "u", "private_key": "/nonexistent",
                                             "host_key_fingerprint": "SHA256:" + "A" * 43}})
    [failed] = deliver_all(store, retries=1, backoff=0).results
    assert failed["status"] == "failed" and "cannot reach SFTP server" in failed["error"]
    [built] = log.feed_files(store)
    assert built["status"] == "failed"
    assert (Path(failed["file"]).name, failed["rows"], failed["kind"]) == (built["name"], built["rows"], "full")


# ---------------------------------------------------------------------------------------------- 5. climbing ladder
def test_tiers_merged_across_validity_windows_into_a_climbing_ladder_are_warned_about(store: Store,
                                                                                    tmp_path: Path) -> None:
    seed_catalog(store)
    put_prices(store, "cust_a", [("T2", "100", "100.00")], valid_from=date(2020, 1, 1))
    put_prices(store, "cust_a", [("T2", "1", "90.00")], valid_from=date(2024, 1, 1))
    put_prices(store, "cust_a", [("T1", "1", "9.00"), ("T1", "100", "8.00")])  # a proper ladder: no warning
    [warning] = build_feed(store, store_contract(store), out_dir(tmp_path)).warnings
    assert warning.startswith("1 products of contract acme-tools cost more per piece at a larger quantity")
    assert ": T2;" in warning
