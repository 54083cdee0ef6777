"""Round 34, an upgrade from the previous release (FX4): a BMEcat T_UPDATE_PRODUCTS that withdraws what its PRODUCTs
no longer state says so in one warning naming the products and keys, and a map's `updates: delta` keeps the old
reading for suppliers that send partial updates; migration 0045 marks each contract's newest delivered feed file
with the watermark's version, so the chain holds across the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from alembic import command

import importers.bmecat_map_checks as checks
from importers.bmecat import load_map
from pim.errors import InputError
from pim.store import Store
from pim.store.database import alembic_config
from pim.store.tables import JSONType
from tests.test_bmecat import _our_accessory, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_complete_catalog import SUPPLIER, new_catalog, relay, relay_map, run, supplier_keys
from tests.test_importers_r34 import update

# ---------------------------------------------------------------- 1. what an update withdrew, said


def _warnings(store: Store) -> list[dict[str, Any]]:
    return store.quarantined(severity="warning", source=SUPPLIER)


def _partial(tmp_path: Path, *pids: str, name: str = "u.xml") -> Path:
    """A supplier's partial update: each PRODUCT restates its English name and EAN (no German name, height,
    image, manufacturer PID, accessory)."""
    return new_catalog(tmp_path, *(update(relay(pid, names=("eng",), height=None, image=False, accessory=False,
                                                mpn=None, price=None)) for pid in pids),
                       name=name, transaction="T_UPDATE_PRODUCTS")


@pytest.mark.backends("sqlite")
def test_an_update_that_withdraws_unrestated_values_says_which_and_what_to_do(
        supplier_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    _our_accessory(supplier_store)  # acc-1, the target of each relay's accessory reference
    run(supplier_store, new_catalog(tmp_path, relay("r1"), relay("r2", ean="4006381333931"), name="v1.xml"))
    monkeypatch.setattr(checks, "NAMED", 1)  # the list is capped: one product named, the other counted
    counts = run(supplier_store, _partial(tmp_path, "r1", "r2"))
    assert counts.extra["withdrawn_unsent"] == 2 and "height" not in supplier_store.get_product("r1").values
    [warning] = _warnings(supplier_store)
    reason = warning["reason"]
    assert (warning["file"], warning["field"], warning["job_id"]) == ("u.xml", "updates", counts.job_id)
    assert "withdrew from 2 product(s)" in reason and "r1: " in reason and "; and 1 more" in reason
    assert "height (2)" in reason and "name:de_DE (2)" in reason and "association ACCESSORY (2)" in reason
    assert reason.index("`updates: delta`") < 200 - 16  # in what `pim import errors` shows of it in its table
    assert "`updates: delta`" in reason and "T_NEW_CATALOG" in reason and "T_UPDATE_PRICES" in reason
    # the same file again withdraws nothing: the warning stays (the values are still gone)
    again = run(supplier_store, _partial(tmp_path, "r1", "r2"))
    assert "withdrawn_unsent" not in again.extra and [w["id"] for w in _warnings(supplier_store)] == [warning["id"]]


@pytest.mark.backends("sqlite")
def test_a_map_reading_updates_as_deltas_keeps_what_a_partial_update_leaves_out(
        supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    run(supplier_store, new_catalog(tmp_path, relay("r1"), name="v1.xml"))
    run(supplier_store, _partial(tmp_path, "r1"))  # restated: the warning says what went
    assert len(_warnings(supplier_store)) == 1
    delta = relay_map().model_copy(update={"updates": "delta"})
    run(supplier_store, new_catalog(tmp_path, relay("r1"), name="v1.xml"), delta)  # the catalog again: back
    counts = run(supplier_store, _partial(tmp_path, "r1"), delta)
    assert "withdrawn_unsent" not in counts.extra
    values = supplier_store.get_product("r1").values
    assert values["name:de_DE"] == "Relais" and values["picture"] == "img/r1.jpg" and "height" in values
    assert {"name:de_DE", "height", "picture"} <= supplier_keys(supplier_store, "r1")
    assert _warnings(supplier_store) == []  # the update read as a delta closed the file's warning


@pytest.mark.backends("sqlite")
def test_a_catalog_withdraws_without_the_update_warning(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """A guard (passes on the code before too): a T_NEW_CATALOG is the whole catalog by definition."""
    run(supplier_store, new_catalog(tmp_path, relay("r1"), name="v1.xml"))
    counts = run(supplier_store, new_catalog(tmp_path, relay("r1", height=None), name="v2.xml"))
    assert counts.extra["withdrawn_unsent"] == 1 and _warnings(supplier_store) == []


def test_the_map_refuses_an_unknown_reading_of_updates(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump({"supplier": "acme", "updates": "partial"}))
    with pytest.raises(InputError) as refused:
        load_map(path)
    assert refused.value.field == "updates" and "'restate' or 'delta'" in str(refused.value)
    path.write_text("supplier: acme\nupdates: delta\n")
    assert load_map(path).updates == "delta"
    schema = (Path(__file__).resolve().parents[1] / "schemas" / "bmecat_map.schema.json").read_text()
    assert '"updates"' in schema and '"delta"' in schema


# ---------------------------------------------------------------- 2. migration 0045 marks the newest delivered file

FILES = sa.table("feed_file", *(sa.column(c) for c in ("id", "contract", "customer", "name", "path", "format", "kind",
                                                        "sha256", "bytes", "rows", "generated_at", "status", "portal")))
MARKS = sa.table("feed_watermark", *(sa.column(c) for c in ("contract", "seq", "prices_at", "contract_digest", "version",
                                                             "delivered_at")), sa.column("delivered", JSONType))


def _file(n: int, contract: str, status: str) -> dict[str, Any]:
    return {"id": n, "contract": contract, "customer": "c1", "name": f"{contract}-{n}.csv", "path": f"/f/{n}",
            "format": "csv", "kind": "delta_products", "sha256": "0" * 64, "bytes": 1, "rows": 1,
            "generated_at": datetime(2026, 11, n, tzinfo=UTC), "status": status, "portal": True}


def test_migration_0045_marks_each_contracts_newest_delivered_file_with_the_watermark(store: Store) -> None:
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0045_feed_file_version-1")  # the previous release's feeds head
    stamp = datetime(2026, 11, 20, tzinfo=UTC)
    with store.engine.begin() as conn:
        # a: delivered 1-3 (one pruned), then a failed and a held build; b: no watermark; c: nothing delivered
        conn.execute(sa.insert(FILES), [_file(1, "a", "pruned"), _file(2, "a", "delivered"), _file(3, "a", "delivered"),
                                        _file(4, "a", "failed"), _file(5, "b", "delivered"), _file(6, "a", "held"),
                                        _file(7, "c", "built")])
        conn.execute(sa.insert(MARKS), [{"contract": code, "seq": 1, "prices_at": stamp, "contract_digest": "d",
                                         "version": version, "delivered": [], "delivered_at": stamp}
                                        for code, version in (("a", 4), ("c", 2))])
    store.migrate()
    with store.engine.connect() as conn:
        got = {i: (v, p) for i, v, p in conn.execute(sa.text("SELECT id, version, previous_version FROM feed_file"))}
    # migration 0046 (run by migrate too) numbers the older delivered file 2; pruned 1 has no delivery logged
    assert got == {1: (None, None), 2: (3, 2), 3: (4, 3), 4: (None, None), 5: (None, None), 6: (None, None),
                   7: (None, None)}
