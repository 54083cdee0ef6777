"""Round 35, round 34's rough edges of customer feeds: `pim feeds prices` warns only about products the contract's
feed would send (its channel's gate asked as the build asks it); a contract deleted while a run delivers it gets no
further delivery step (SFTP upload, portal); every delivered feed file gets its version (migration 0046); the
snapshot's byte limit is a setting; stock stored under a location alone and under its plant/location key is named
in the build's warnings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command

import pim.feeds as feeds
from pim import delivery_log as log
from pim.commerce import StockLevel, put_stock
from pim.contracts import delete_contract, put_contracts
from pim.feed_warnings import price_list_warnings
from pim.settings import reset_settings
from pim.store import Store
from pim.store.database import alembic_config
from pim.store.tables import JSONType
from pim.structure import Channel, GateRules
from tests.feeds_data import contract, out_dir, put_prices, seed_catalog, store_contract


# ---------------------------------------------------------------------------------------------- 1. prices and the gate
def test_feeds_prices_warnings_name_no_product_the_gate_keeps_out_of_the_feed(store: Store) -> None:
    """The channel blocks a note longer than 3 characters: T4 (a HYPERLINK note) never goes out, so its climbing
    ladder is not worth a warning; T2's is."""
    seed_catalog(store)
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(
                                                min_completeness=0, block_on=["invalid"], text_limits={"note": 3}))])
    store_contract(store)
    put_prices(store, "cust_a", [(sku, q, p) for sku in ("T2", "T4") for q, p in (("1", "90.00"), ("100", "100.00"))])
    [warning] = price_list_warnings(store, ["cust_a"])
    assert warning.startswith("1 products of contract acme-tools cost more per piece at a larger quantity in "
                              "cust_a's price list: T2;")


# ---------------------------------------------------------------------------------------------- 2. deleted mid-delivery
def _delete_after(monkeypatch: pytest.MonkeyPatch, store: Store, step: str, code: str) -> None:
    """`pim feeds delete CODE --force` right after pim.feed_delivery's `step` returns."""
    import pim.feed_delivery as delivery

    original = getattr(delivery, step)

    def then_delete(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        assert delete_contract(store, code, force=True)
        return out

    monkeypatch.setattr(delivery, step, then_delete)


def test_a_contract_deleted_after_its_build_is_recorded_is_not_published_on_the_portal(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(store)
    store_contract(store, code="gone")
    _delete_after(monkeypatch, store, "_record", "gone")
    result = feeds.deliver_contract(store, "gone", out_dir=out_dir(tmp_path))
    assert result.status == "cancelled" and "nothing was sent" in result.error
    assert log.feed_files(store, portal_only=True) == []
    [recorded] = log.feed_files(store, contract="gone")
    assert recorded["status"] == "cancelled"
    assert [p for p in out_dir(tmp_path).rglob("*") if p.is_file()] == []  # the file and its manifest are gone
    assert log.get_watermark(store, "gone") is None
    [logged] = log.deliveries(store, "gone")
    assert (logged["status"], logged["target"], logged["file_id"]) == ("cancelled", "portal", recorded["id"])


def _sftp_contract(store: Store, server: Any, code: str) -> None:
    delivery = {"portal": True, "sftp": {"host": "127.0.0.1", "port": server.port, "user": "pimfeed_a",
                                         "private_key": str(server.client_key),
                                         "host_key_fingerprint": server.host_key_fingerprint, "remote_dir": "/upload"}}
    store_contract(store, code=code, customer="pimfeed_a", delivery=delivery)


def _remote(server: Any, code: str) -> list[str]:
    return sorted(p.name for p in server.upload_dir("pimfeed_a").iterdir() if p.name.startswith(code))


@pytest.mark.sshd
def test_a_contract_deleted_before_its_upload_sends_nothing_to_sftp(store: Store, sftp_server: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(store)
    _sftp_contract(store, sftp_server, "gone-sftp")
    _delete_after(monkeypatch, store, "_record", "gone-sftp")
    result = feeds.deliver_contract(store, "gone-sftp", out_dir=out_dir(tmp_path), backoff=0.01)
    assert result.status == "cancelled" and result.locations == []
    assert _remote(sftp_server, "gone-sftp") == []
    assert log.feed_files(store, portal_only=True) == []
    assert sorted(r["status"] for r in log.deliveries(store, "gone-sftp")) == ["cancelled", "cancelled"]


@pytest.mark.sshd
def test_a_contract_deleted_during_its_upload_is_not_published_on_the_portal(
        store: Store, sftp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(store)
    _sftp_contract(store, sftp_server, "gone-mid")
    _delete_after(monkeypatch, store, "_push_sftp", "gone-mid")
    result = feeds.deliver_contract(store, "gone-mid", out_dir=out_dir(tmp_path), backoff=0.01)
    # SFTP had the whole file: delivered there, off the portal, the watermark advanced (review mend r35c)
    assert result.status == "delivered" and any("the portal does not list it" in w for w in result.warnings)
    assert log.feed_files(store, portal_only=True) == []
    assert log.get_watermark(store, "gone-mid") is not None
    by_target = {r["target"].split(":")[0]: r["status"] for r in log.deliveries(store, "gone-mid")}
    assert by_target == {"sftp": "delivered", "portal": "cancelled"}
    assert not any(name.endswith(".part") for name in _remote(sftp_server, "gone-mid"))


# ---------------------------------------------------------------------------------------------- 3. every version
FILES = sa.table("feed_file", *(sa.column(c) for c in ("id", "contract", "customer", "name", "path", "format", "kind",
                                                        "sha256", "bytes", "rows", "generated_at", "status", "portal")))
MARKS = sa.table("feed_watermark", *(sa.column(c) for c in ("contract", "seq", "prices_at", "contract_digest", "version",
                                                             "delivered_at")), sa.column("delivered", JSONType))
LOG = sa.table("feed_delivery", *(sa.column(c) for c in ("contract", "file_id", "file", "target", "checksum", "rows",
                                                         "attempts", "started", "status")))
STAMP = datetime(2026, 11, 20, tzinfo=UTC)


def _file(n: int, contract: str, status: str) -> dict[str, Any]:
    return {"id": n, "contract": contract, "customer": "c1", "name": f"{contract}-{n}.csv", "path": f"/f/{n}",
            "format": "csv", "kind": "delta_products", "sha256": "0" * 64, "bytes": 1, "rows": 1,
            "generated_at": datetime(2026, 11, n, tzinfo=UTC), "status": status, "portal": True}


def _logged(n: int, status: str) -> dict[str, Any]:
    return {"contract": "a", "file_id": n, "file": f"a-{n}.csv", "target": "portal", "checksum": "0" * 64, "rows": 1,
            "attempts": 1, "started": STAMP, "status": status}


def test_migration_0046_gives_every_delivered_file_its_version_in_delivery_order(store: Store) -> None:
    """a: delivered 1 (pruned since), 2, a failed build 3, delivered 4 and 6, a held build 7, a pruned file 8 never
    delivered, counter at 4; b: delivered files but no watermark; c: nothing delivered."""
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0045_feed_file_version-1")  # the release before round 34's feeds head
    with store.engine.begin() as conn:
        conn.execute(sa.insert(FILES), [_file(1, "a", "pruned"), _file(2, "a", "delivered"), _file(3, "a", "failed"),
                                        _file(4, "a", "delivered"), _file(5, "b", "delivered"),
                                        _file(6, "a", "delivered"), _file(7, "a", "held"), _file(8, "a", "pruned"),
                                        _file(9, "c", "built")])
        conn.execute(sa.insert(LOG), [_logged(1, "delivered"), _logged(3, "failed"), _logged(8, "failed")])
        conn.execute(sa.insert(MARKS), [{"contract": code, "seq": 1, "prices_at": STAMP, "contract_digest": "d",
                                         "version": version, "delivered": [], "delivered_at": STAMP}
                                        for code, version in (("a", 4), ("c", 2))])
    store.migrate()
    with store.engine.connect() as conn:
        got = {i: (v, p) for i, v, p in conn.execute(sa.text("SELECT id, version, previous_version FROM feed_file"))}
    assert got == {1: (1, 0), 2: (2, 1), 3: (None, None), 4: (3, 2), 5: (None, None), 6: (4, 3), 7: (None, None),
                   8: (None, None), 9: (None, None)}


def test_files_delivered_after_the_upgrade_keep_their_versions_and_older_ones_follow(store: Store) -> None:
    """A store that ran 0045 and delivered since: 0046 counts down from the oldest file that has a version."""
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0045_feed_file_version")  # before 0046
        conn.execute(sa.insert(FILES), [_file(n, "a", "delivered") for n in (1, 2, 3)])
        conn.execute(sa.text("UPDATE feed_file SET version = id + 4, previous_version = id + 3 WHERE id >= 2"))
    store.migrate()
    with store.engine.connect() as conn:
        got = {i: (v, p) for i, v, p in conn.execute(sa.text("SELECT id, version, previous_version FROM feed_file"))}
    assert got == {1: (5, 4), 2: (6, 5), 3: (7, 6)}


# ---------------------------------------------------------------------------------------------- 4. snapshot limit
def test_the_snapshot_limit_is_a_setting(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(store)
    put_contracts(store, [contract(code="slim", fields=["label", "brand"])])
    monkeypatch.setenv("PIM_FEED_SNAPSHOT_MAX_MB", "0.0001")  # ~100 bytes: less than any catalog's snapshot
    reset_settings()
    assert feeds.FeedRun(store).index(store) is None  # scanned per contract
    monkeypatch.setenv("PIM_FEED_SNAPSHOT_MAX_MB", "64")
    reset_settings()
    assert feeds.FeedRun(store).index(store) is not None


# ---------------------------------------------------------------------------------------------- 5. stock counted twice
def _stock(sku: str, warehouse: str, quantity: str, source: str) -> StockLevel:
    return StockLevel(sku=sku, warehouse=warehouse, quantity=Decimal(quantity), source=source,
                      updated_at=datetime(2026, 11, 1, tzinfo=UTC))


def _doubled_build(store: Store, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    """T1 with 5 pieces under 1000/0001 (MATMAS) and 3 under 0001 (an older stock CSV); T2's 0001 is another
    location than its 1000/00012; G1 is doubled too, but outside the contract (tools)."""
    seed_catalog(store)
    put_stock(store, [_stock("T1", "1000/0001", "5", "sap_matmas"), _stock("T1", "0001", "3", "erp_csv"),
                      _stock("T2", "1000/00012", "5", "sap_matmas"), _stock("T2", "0001", "3", "erp_csv"),
                      _stock("G1", "1000/0001", "5", "sap_matmas"), _stock("G1", "0001", "3", "erp_csv")])
    build = feeds.build_feed(store, store_contract(store, format="jsonl"), out_dir(tmp_path))
    rows = {r["sku"]: r for r in map(orjson.loads, build.path.read_bytes().splitlines())}  # type: ignore[union-attr]
    return build, {sku: Decimal(r["stock"]["atp"]) for sku, r in rows.items() if r.get("stock")}


def test_a_build_names_stock_kept_under_a_location_and_under_its_plant_and_location(store: Store,
                                                                                    tmp_path: Path) -> None:
    build, atp = _doubled_build(store, tmp_path)
    assert atp["T1"] == 8 and atp["T2"] == 8  # summed by default: the warning says why T1's is doubled
    [warning] = [w for w in build.warnings if "counted twice" in w]
    assert warning.startswith("1 products of contract acme-tools have stock under a storage location alone and "
                              "under its plant and location, so their stock is counted twice: T1 (0001 and 1000/0001);")
    assert "PIM_FEED_STOCK_KEYS" in warning


@pytest.mark.parametrize(("keep", "counted"), [("plant", 5), ("location", 3)])
def test_a_setting_picks_which_reading_of_a_doubled_location_feeds_count(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: str, counted: int) -> None:
    monkeypatch.setenv("PIM_FEED_STOCK_KEYS", keep)
    reset_settings()
    build, atp = _doubled_build(store, tmp_path)
    assert atp["T1"] == counted and atp["T2"] == 8  # T2's two codes are two locations: both count
    assert not any("counted twice" in w for w in build.warnings)
