"""Round 34 feed mends: a contract moved to another customer (or deleted) is no longer shown to its old customer
as their current feed, though their old files stay theirs, and never shows them the new customer's files; `pim
feeds prices` warns about the tier ladders a feed build warns about."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.contracts import delete_contract
from pim.feed_retention import PRUNED
from pim.feeds import deliver_contract
from pim.portal import create_portal_app
from pim.store import Store
from tests.feeds_data import out_dir, put_prices, seed_catalog, store_contract
from tests.test_portal_pages import sign_in

STARTS_FROM = "what your import starts from"


# ---------------------------------------------------------------------------------------------- 1. moved contract
@pytest.fixture
def moved(store: Store, tmp_path: Path) -> dict[str, Any]:
    """Contract `mv` delivered to cust_a, then moved to cust_b (reloaded with its new customer) and delivered
    there; cust_a's contract `gone` delivered, then deleted; cust_a's `kept` still current."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    put_prices(store, "cust_b", [("T1", "1", "7.00")])  # another file's content, another checksum
    store_contract(store, code="mv", customer="cust_a")
    store_contract(store, code="gone", customer="cust_a", format="jsonl")
    store_contract(store, code="kept", customer="cust_a", format="jsonl")
    for code in ("mv", "gone", "kept"):
        deliver_contract(store, code, out_dir=out_dir(tmp_path))
    delete_contract(store, "gone")
    store_contract(store, code="mv", customer="cust_b")
    deliver_contract(store, "mv", out_dir=out_dir(tmp_path))
    files = {(r["customer"], r["contract"]): r for r in log.feed_files(store)}
    tokens = {c: log.issue_token(store, c) for c in ("cust_a", "cust_b")}
    return {"client": TestClient(create_portal_app(store)), "files": files, "tokens": tokens}


def _section(page: str, code: str) -> str:
    """The home page's part from the heading of contract `code` to the next heading."""
    return re.search(rf"<h2>{code}\b.*?(?=<h2>|$)", page, re.S).group(0)  # type: ignore[union-attr]


def test_a_moved_contract_is_listed_apart_on_its_old_customers_home_with_only_their_files(moved) -> None:
    files, client = moved["files"], moved["client"]
    home = sign_in(client, moved["tokens"]["cust_a"]).text
    old, new = files["cust_a", "mv"], files["cust_b", "mv"]
    section = _section(home, "mv")
    assert section.startswith("<h2>mv: no longer delivered to you</h2>") and STARTS_FROM not in section
    assert f"since {new['generated_at']:%Y-%m-%d %H:%M} UTC" in section  # when it first went elsewhere
    assert old["name"] in section and f"/portal/feeds/{old['id']}/download" in section
    assert new["name"] not in home and f"/portal/feeds/{new['id']}/" not in home and new["sha256"][:16] not in home
    assert "cust_b" not in home
    assert STARTS_FROM in _section(home, "kept")  # a current contract keeps its guidance
    assert client.get(f"/portal/feeds/{old['id']}/download").status_code == 200  # still theirs
    assert client.get(f"/portal/feeds/{new['id']}/download").status_code == 404


def test_a_deleted_contract_is_listed_apart_without_a_date(moved) -> None:
    home = sign_in(moved["client"], moved["tokens"]["cust_a"]).text
    section = _section(home, "gone")
    assert section.startswith("<h2>gone: no longer delivered to you</h2>") and STARTS_FROM not in section
    assert "since" not in section and moved["files"]["cust_a", "gone"]["name"] in section


def test_the_new_customer_sees_the_moved_contract_as_current_without_the_old_files(moved) -> None:
    """A guard (passes on the old code too): the move changes nothing for the new customer's view."""
    files = moved["files"]
    home = sign_in(moved["client"], moved["tokens"]["cust_b"]).text
    section = _section(home, "mv")
    assert section.startswith("<h2>mv</h2>") and STARTS_FROM in section
    assert files["cust_b", "mv"]["name"] in section and files["cust_a", "mv"]["name"] not in home
    assert "no longer delivered" not in home


def test_a_pruned_file_of_a_moved_contract_says_no_newer_file_will_come(moved, store: Store) -> None:
    old = moved["files"]["cust_a", "mv"]
    log.set_file_status(store, old["id"], PRUNED)
    got = moved["client"].get(f"/portal/feeds/{old['id']}/download",
                              headers={"Authorization": f"Bearer {moved['tokens']['cust_a']}"})
    assert got.status_code == 410
    assert "contract mv no longer delivers to you, so no newer file of it will come" in got.json()["detail"]
    assert moved["files"]["cust_b", "mv"]["name"] not in got.json()["detail"]  # never the new customer's file


# ---------------------------------------------------------------------------------------------- 2. prices warnings
def _prices(store: Store, path: Path, entries: list[tuple[str, str, str, str, str]]) -> Any:
    """`pim feeds prices FILE --json` over (customer, sku, min_qty, price, valid_from) entries in EUR."""
    from pim.cli import _mount, app

    path.write_text("".join(orjson.dumps({"customer": c, "sku": s, "currency": "EUR", "min_qty": q, "price": p,
                                          "valid_from": f}).decode() + "\n" for c, s, q, p, f in entries))
    _mount()
    return CliRunner().invoke(app, ["feeds", "prices", str(path), "--json"])


def test_feeds_prices_warns_about_a_one_piece_fallback_below_the_first_tier(store: Store, tmp_path: Path,
                                                                           pim_env: Path) -> None:
    seed_catalog(store)  # list prices EUR 10.00
    store_contract(store, pricing={"fallback": "list_price_discount", "discount_percent": 10})
    out = _prices(store, tmp_path / "p.jsonl", [("cust_a", "T1", "10", "9.50", "2024-01-01"),  # one piece: 9.00
                                                 ("cust_a", "T2", "10", "8.50", "2024-01-01")])  # 9.00 > 8.50: fine
    assert out.exit_code == 0, out.output
    [warning] = orjson.loads(out.stdout)["warnings"]
    assert warning.startswith("1 products of contract acme-tools cost less for one piece (pricing fallback "
                              "list_price_discount) than per piece at their first contract tier: T1;")
    assert warning in " ".join(out.stderr.split())


def test_feeds_prices_warns_about_a_ladder_merged_across_windows_naming_5_skus_per_customer(
        store: Store, tmp_path: Path, pim_env: Path) -> None:
    seed_catalog(store)
    store_contract(store)
    store_contract(store, code="b-tools", customer="cust_b")
    put_prices(store, "cust_c", [("T1", "100", "100.00")], valid_from=date(2020, 1, 1))
    store_contract(store, code="c-tools", customer="cust_c")  # climbs, but this load does not touch cust_c
    climbing = ["T1", "T2", "T3", "T4", "T6", "V-red", "G1"]  # G1 is outside the assortment (garden)
    entries = [(c, s, "100", "100.00", "2020-01-01") for c in ("cust_a", "cust_b") for s in climbing]
    entries += [(c, s, "1", "90.00", "2024-01-01") for c in ("cust_a", "cust_b") for s in climbing]
    entries += [("cust_b", "V-blue", q, p, "2024-01-01") for q, p in (("1", "9.00"), ("100", "8.00"))]  # a fine ladder
    out = _prices(store, tmp_path / "p.jsonl", entries)
    assert out.exit_code == 0, out.output
    a, b = orjson.loads(out.stdout)["warnings"]
    assert a.startswith("6 products of contract acme-tools cost more per piece at a larger quantity in cust_a's "
                        "price list: T1, T2, T3, T4, T6 and 1 more;")
    assert b.startswith("6 products of contract b-tools cost more per piece at a larger quantity in cust_b's "
                        "price list: T1, T2, T3, T4, T6 and 1 more;")


def test_feeds_prices_says_nothing_of_proper_ladders(store: Store, tmp_path: Path, pim_env: Path) -> None:
    """A guard (passes on the old code too): a ladder getting cheaper per piece is not warned about."""
    seed_catalog(store)
    store_contract(store)
    out = _prices(store, tmp_path / "p.jsonl", [("cust_a", "T1", q, p, "2024-01-01")
                                                 for q, p in (("1", "9.00"), ("10", "8.50"), ("100", "8.00"))])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout).get("warnings", []) == [] and "warning" not in out.stderr
