"""The full rebuild (`pim gate rescore`: bulk, and parallel through pim.executor) stores exactly the rows and
counters that incremental scoring left behind, and repairs counters that drifted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pim.product import Product
from pim.completeness_rebuild import rebuild
from pim.rescore import Rescorer
from pim.scoring_tables import COMPLETENESS, COMPLETENESS_COUNT, MISSING_COUNT, UNIQUE_VALUE
from pim.store import Store
from tests.completeness_catalog import model, save, shoe


def snapshot(store: Store) -> dict[str, list[Any]]:
    """Every row of the completeness tables, sorted, counters without their zero rows."""
    out = {}
    with store.engine.connect() as conn:
        for table in (COMPLETENESS, COMPLETENESS_COUNT, MISSING_COUNT, UNIQUE_VALUE):
            rows = [tuple(r) for r in conn.execute(select(table))]
            if table is not COMPLETENESS and table is not UNIQUE_VALUE:
                rows = [r for r in rows if any(r[len(table.primary_key.columns):])]
            out[table.name] = sorted(rows, key=repr)
    return out


def catalog(store: Store) -> None:
    """A mixed catalog scored incrementally: complete and incomplete shoes, a variant inheriting from its
    model, a bag, a product without a family, then an update and a delete."""
    save(store)
    values = shoe().values
    store.upsert_models([model("runner", **{k: v for k, v in values.items() if k != "picture"})])
    store.upsert_products(
        [shoe(f"s{i}", **({"weight": None} if i % 3 == 0 else {"name:de_DE": None} if i % 3 == 1 else {})) for i in range(30)]
        + [Product(identifier="runner-s", family="shoes", parent="runner", values={"size": "s"}),
           Product(identifier="bag", family="bags", values={"name:en_US": "Bag", "ean": "4006381333931"}),
           Product(identifier="loose", values={"name:en_US": "No family"})])
    store.upsert_products([shoe("s1"), shoe("s2", price=None)])
    store.delete_products(["s4"])


def test_parallel_rebuild_matches_incremental_scoring(store: Store) -> None:
    catalog(store)
    incremental = snapshot(store)
    assert len(incremental["completeness"]) == 31 * 3  # 31 scored products × 3 channel locales
    assert rebuild(store, workers=2, chunk=7) == 32  # small id ranges: several jobs per worker
    assert snapshot(store) == incremental


def test_single_process_rebuild_matches_incremental_scoring(store: Store) -> None:
    catalog(store)
    incremental = snapshot(store)
    with store.begin() as conn:
        assert Rescorer().rescore_families(conn, None, None) == 32
    assert snapshot(store) == incremental


def test_rebuild_repairs_drifted_counters_and_rows(store: Store) -> None:
    catalog(store)
    incremental = snapshot(store)
    with store.begin() as conn:
        conn.execute(COMPLETENESS_COUNT.update().values(products=999))
        conn.execute(COMPLETENESS.delete().where(COMPLETENESS.c.product == "s0"))
        conn.execute(MISSING_COUNT.insert().values(channel="print", locale="en_US", family="shoes", attribute="ghost", products=5))
    assert snapshot(store) != incremental
    rebuild(store, workers=2)
    assert snapshot(store) == incremental


def reject_def(conn: Any, refs: set[str]) -> set[str]:
    """An asset-validity hook for the test below: refs ending in 'def' are broken assets."""
    return {r for r in refs if r.endswith("def")}


def test_rebuild_counts_an_invalid_asset_as_missing_like_incremental_scoring(store: Store, monkeypatch: Any) -> None:
    import pim.registry

    monkeypatch.setattr(pim.registry, "ASSET_VALIDITY", [*pim.registry.ASSET_VALIDITY, "tests.test_completeness_rebuild:reject_def"])
    save(store)
    store.upsert_products([shoe(f"s{i}", picture="photos/def" if i % 2 else "photos/abc") for i in range(6)])
    incremental = snapshot(store)
    assert [r for r in incremental["completeness"] if r[0] == "s1" and r[1] == "ecommerce"][0][-1] == ["picture"]
    assert rebuild(store, workers=1) == 6
    assert snapshot(store) == incremental


def test_rebuild_decoding_only_required_keys_keeps_inheritance_and_explicit_nulls(store: Store) -> None:
    """The rebuild decodes only the keys a family checks: a variant's explicit null still hides its model's
    value, a variant without a family of its own is scored by its model's family, and a value no family
    requires (but unique-tracked, like the EAN) still reaches the unique table."""
    save(store)
    values = shoe().values
    store.upsert_models([model("runner", **{k: v for k, v in values.items() if k != "picture"})])
    store.upsert_products([
        Product(identifier="v-hides", family="shoes", parent="runner", values={"size": "m", "weight": None}),
        Product(identifier="v-plain", parent="runner", values={"size": "l", "weight": None}),
        Product(identifier="b-1", family="bags", values={"name:en_US": "Bag", "ean": "4006381333931",
                                                         "description:en_US@ecommerce": "x" * 5000}),
    ])
    incremental = snapshot(store)
    hides = {r[1:3]: r[-1] for r in incremental["completeness"] if r[0] == "v-hides"}
    assert hides[("ecommerce", "en_US")][0] == "weight" and "weight" not in hides[("print", "en_US")]
    assert any(r[0] == "v-plain" for r in incremental["completeness"])
    assert ("b-1", "ean") in {r[:2] for r in incremental["unique_value"]}
    assert rebuild(store, workers=1) == 3
    assert snapshot(store) == incremental
