"""First-merge speed (issue 3): a merge reads only the keys its records touch from a stored value map's JSON
text and splices the changed ones back into it (pim.partial_merge.splice_values), instead of splitting the
whole map into keys and encoding it again. The guards (named so) pin what the splice must keep; they pass on
the code before it too."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pim.partial_merge as partial
from pim.catalog import Structure
from pim.merge import Merger, Precedence, Ranker, candidates_for, merge_product
from pim.product import Product, Provenance
from pim.store import Store

PRECEDENCE = Precedence(default=["erp", "content"])
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MAP = {"name:en_US": "Bolt", "name:de_DE": "Schraube „M8“", "unit": "GRAM",
       "weight": {"amount": "1.50", "unit": "GRAM"}, "tags": ["a", "\"b\""], "ean": "1", "color": None}


def prov(source: str, n: int = 1) -> Provenance:
    return Provenance(source=source, ref=f"{source}.csv:{n}", at=AT)


def _merge(store: Store, ident: str, values: dict[str, Any], source: str = "erp") -> Product:
    """Merge one record; returns what merging it onto the whole stored product gives."""
    record = Product(identifier=ident, values=values, source=prov(source, 2))
    expected = merge_product(store.get_product(ident), record, candidates_for(store, ident), {},
                             Ranker(PRECEDENCE, Structure())).product
    Merger(PRECEDENCE).bind(store.structure()).write(store, [record])
    return expected


def _stored_text(store: Store, ident: str) -> str:
    """The value map's JSON text as the database returns it (PostgreSQL: jsonb's own text)."""
    pg = store.dialect == "postgresql"
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT value_map{'::text' if pg else ''} FROM product WHERE identifier = "
                                    f"{'%s' if pg else '?'}", (ident,)).scalar_one()  # type: ignore[no-any-return]


def test_guard_spliced_keys_store_what_a_whole_merge_gives(store: Store) -> None:
    """A key whose name a nested object also uses ("unit"), neighbouring keys withdrawn together, the first and
    last keys withdrawn, keys new to the map: each stored as merging the whole product would store it."""
    steps = [
        {"unit": "KILOGRAM"},  # "unit" also inside weight: its place is not certain, the map is encoded whole
        {"name:en_US": "Hex bolt", "ean": "2", "sku": "S-1"},  # replaced in place, and a key new to the map
        {"name:en_US": "Bolt", "ean": "3", "tags": [], "pack": 2},  # more keys than are spliced: encoded whole
        {"name:de_DE": None, "unit": None},  # two neighbours withdrawn at once
        {"name:en_US": None, "sku": None, "size": "M8"},  # the first and the last key, and one more new one
        {"tags": ["c"], "weight": {"amount": "2", "unit": "KILOGRAM"}, "color": "red"},
    ]
    store.upsert_products([Product(identifier="G-1", values=MAP, source=prov("content"))])
    for values in steps:
        expected = _merge(store, "G-1", values)
        got = store.get_product("G-1")
        assert got is not None and got.values == expected.values
        assert json.loads(_stored_text(store, "G-1")) == expected.values
        assert {k: got.provenance_of(k) for k in got.values} == {k: expected.provenance_of(k) for k in expected.values}


@pytest.mark.backends("sqlite")
def test_a_merge_keeps_the_stored_text_of_the_keys_it_does_not_change(store: Store) -> None:
    """Only the changed key's JSON is written anew: the others stay as the stored text has them, even when
    that text is not the compact form this code writes (here a map written with spaces)."""
    store.upsert_products([Product(identifier="T-1", values=MAP, source=prov("content"))])
    spaced = json.dumps(MAP, ensure_ascii=False)
    with store.begin() as conn:
        conn.exec_driver_sql("UPDATE product SET value_map = ? WHERE identifier = 'T-1'", (spaced,))
    _merge(store, "T-1", {"ean": "4006381333931"})
    assert _stored_text(store, "T-1") == spaced.replace('"ean": "1"', '"ean":"4006381333931"')


@pytest.mark.backends("sqlite")
def test_a_merge_that_changes_no_value_reads_only_the_touched_keys(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that repeats the stored values under its own source changes only provenance: the value map's
    text is neither split into keys nor encoded again, and is stored as it was."""
    store.upsert_products([Product(identifier="R-1", values=MAP, source=prov("content"))])
    before = _stored_text(store, "R-1")
    split: list[str] = []
    decoder = partial._RAW_MAP

    class Counting:
        def decode(self, text: Any) -> Any:
            split.append(text if isinstance(text, str) else bytes(text).decode())
            return decoder.decode(text)

    monkeypatch.setattr(partial, "_RAW_MAP", Counting())
    _merge(store, "R-1", {"ean": "1", "name:en_US": "Bolt"})
    got = store.get_product("R-1")
    assert got is not None and got.provenance_of("ean") == prov("erp", 2)
    assert before not in split and _stored_text(store, "R-1") == before


keys = st.sampled_from(["a", "b", "unit", "amount", "name:en_US", "x\"y", "größe"])
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 99), st.text(max_size=6)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(stored=st.dictionaries(keys, json_values, max_size=6), now=st.dictionaries(keys, json_values, max_size=6),
       gone=st.sets(keys, max_size=3), spaced=st.booleans())
def test_a_spliced_map_is_the_map_updated_in_place(stored: dict[str, Any], now: dict[str, Any], gone: set[str],
                                                   spaced: bool) -> None:
    """splice_values gives the stored map with the changed keys set or removed, in a dict update's key order,
    for compact text (byte for byte what encoding the whole map gives) and PostgreSQL's spaced text; or None
    (the caller encodes the whole map) — never a wrong map."""
    text = json.dumps(stored, ensure_ascii=False) if spaced else orjson.dumps(stored).decode()
    now = {k: v for k, v in now.items() if k not in gone}
    changed = list(dict.fromkeys([*now, *gone]))
    raw = msgspec.json.decode(text, type=dict[str, msgspec.Raw])
    touched = {k: raw[k] for k in changed if k in raw}
    part = partial.StoredPart(Product(identifier="P"), text, touched, "{}", {}, "", 0)
    expected = dict(stored)
    for key in changed:
        if key in now:
            expected[key] = now[key]
        else:
            expected.pop(key, None)
    out = partial.splice_values(part, changed, now)
    if out is None:  # only for a key's name also written nested in the text, or two neighbours removed at once
        nested = [k for k in changed if text.count(orjson.dumps(k).decode() + ":") > (k in stored)]
        assert nested or len(gone & stored.keys()) > 1
        return
    assert list(json.loads(out).items()) == list(expected.items())
    if not spaced and not gone & stored.keys():  # as the whole map encoded again gives it
        raw.update({k: msgspec.Raw(orjson.dumps(v)) for k, v in now.items()})
        assert out == partial._ENCODE.encode(raw).decode()
