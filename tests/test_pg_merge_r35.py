"""A merge's partial rewrite carries its change as patches (pim.partial_merge.row_update → ProductRowUpdate.patch)
and PostgreSQL applies them with jsonb operators instead of parsing each whole value map again
(pim.store.jsonb_patch). The patches must say exactly what the whole-text write says, and what PostgreSQL
stores from them must equal, as jsonb, the map that write stored."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given
from sqlalchemy import text

from pim.merge import Merger
from pim.product import Product
from pim.store import Store
from pim.store import store as store_module
from pim.store.store import ProductRowUpdate
from tests.test_partial_merge import FUZZ, PRECEDENCE, prov, records, stored_products

_ids = itertools.count()


def _capture(monkeypatch: pytest.MonkeyPatch, store: Store) -> list[ProductRowUpdate]:
    """The rows the merge hands to Store.update_product_rows (still written)."""
    seen: list[ProductRowUpdate] = []
    write = store.update_product_rows

    def spy(conn: Any, rows: list[ProductRowUpdate]) -> dict[str, int]:
        seen.extend(rows)
        return write(conn, rows)

    monkeypatch.setattr(store, "update_product_rows", spy)
    return seen


def _applied(stored: dict[str, Any], patch: str | None, removed: str | None) -> dict[str, Any]:
    out = {k: v for k, v in stored.items() if k not in (orjson.loads(removed) if removed else [])}
    out.update(orjson.loads(patch) if patch else {})
    return out


def _stored_maps(store: Store, ident: str) -> tuple[dict[str, Any], dict[str, Any]]:
    with store.engine.connect() as conn:
        values, provenance = conn.execute(text("SELECT value_map, provenance FROM product WHERE identifier = :i"),
                                          {"i": ident}).one()
    load = (lambda v: orjson.loads(v) if isinstance(v, (str, bytes)) else v)
    return load(values) or {}, load(provenance) or {}


@FUZZ
@given(stored=stored_products(), record=records())
def test_the_patch_says_what_the_whole_text_says(store: Store, stored: Product, record: Product) -> None:
    """Laid over the stored maps, each rewrite's patches (keys set, keys removed) give exactly the value map
    and provenance map whose whole text the rewrite carries, on every backend."""
    ident = f"P-{next(_ids)}"
    stored, record = (p.model_copy(update={"identifier": ident}) for p in (stored, record))
    store.upsert_products([stored])
    before_values, before_prov = _stored_maps(store, ident)
    with pytest.MonkeyPatch.context() as mp:
        seen = _capture(mp, store)
        Merger(PRECEDENCE).bind(store.structure()).write(store, [record])
    for row in seen:
        assert row.patch is not None
        value_patch, value_removed, prov_patch, prov_removed = row.patch
        assert _applied(before_values, value_patch, value_removed) == orjson.loads(row.value_map)
        assert _applied(before_prov, prov_patch, prov_removed) == orjson.loads(row.provenance)


@pytest.mark.backends("postgresql")
def test_postgresql_receives_only_the_changed_keys(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A merge that replaces one key, adds one and withdraws one sends those three (not the untouched keys'
    values) and PostgreSQL stores the map the whole-text write would have stored, compared as jsonb."""
    values = {"name:en_US": "Bolt", "name:de_DE": "Schraube „M8“", "weight": {"amount": "1.50", "unit": "KILOGRAM"},
              "tags": ["a", "b"], "color": {"name:en_US": "nested, same key as a top-level one"}, "ean": "1"}
    store.upsert_products([Product(identifier="B-1", values=values, source=prov("content"),
                                   provenance={"weight": prov("erp", 9), "ean": prov("erp", 9)})])
    sent: list[tuple[Any, ...]] = []
    patch = store_module.patch_products
    monkeypatch.setattr(store_module, "patch_products", lambda conn, rows: (sent.extend(rows), patch(conn, rows)))
    seen = _capture(monkeypatch, store)
    Merger(PRECEDENCE).bind(store.structure()).write(store, [Product(
        identifier="B-1", values={"ean": "4006381333931", "weight": None, "name:en_US": None, "tags": ["a", "b"],
                             "description:en_US@ecommerce": "M8"}, source=prov("erp", 4))])
    assert [r[0] for r in sent] == ["B-1"]
    _, value_patch, value_removed, prov_patch, prov_removed, *_ = sent[0]
    assert orjson.loads(value_patch) == {"ean": "4006381333931", "description:en_US@ecommerce": "M8"}
    assert orjson.loads(value_removed) == ["weight"]
    assert "Schraube" not in value_patch and "erp" in prov_patch and orjson.loads(prov_removed) == ["weight"]
    with store.engine.connect() as conn:
        same = conn.execute(text("SELECT value_map = CAST(:v AS jsonb) AND provenance = CAST(:p AS jsonb) "
                                 "FROM product WHERE identifier = 'B-1'"),
                            {"v": seen[0].value_map, "p": seen[0].provenance}).scalar_one()
    assert same
    got = store.get_product("B-1")
    assert got is not None and got.values == {**{k: v for k, v in values.items() if k != "weight"},
                                              "ean": "4006381333931", "description:en_US@ecommerce": "M8"}
    assert got.provenance_of("ean") == prov("erp", 4) and "weight" not in got.provenance


@pytest.mark.backends("postgresql")
def test_a_rewrite_that_only_moves_provenance_leaves_the_value_map_alone(store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A source that outranks the stored one states the same value: the row is rewritten for its provenance
    only, and the value map is neither sent nor assigned (its stored datum is kept)."""
    store.upsert_products([Product(identifier="W-1", values={"weight": {"amount": "2", "unit": "GRAM"}, "ean": "1"},
                                   source=prov("supplier:acme"))])
    sent: list[tuple[Any, ...]] = []
    patch = store_module.patch_products
    monkeypatch.setattr(store_module, "patch_products", lambda conn, rows: (sent.extend(rows), patch(conn, rows)))
    Merger(PRECEDENCE).bind(store.structure()).write(store, [Product(
        identifier="W-1", values={"weight": {"amount": "2", "unit": "GRAM"}}, source=prov("erp", 5))])
    assert len(sent) == 1
    _, value_patch, value_removed, prov_patch, prov_removed, *_ = sent[0]
    assert (value_patch, value_removed, prov_removed) == (None, None, None)
    assert set(orjson.loads(prov_patch)) == {"weight"}
    got = store.get_product("W-1")
    assert got is not None and got.values == {"weight": {"amount": "2", "unit": "GRAM"}, "ean": "1"}
    assert got.provenance_of("weight") == prov("erp", 5) and got.provenance_of("ean") == prov("supplier:acme")
