"""Merge speed, round 35 (issue 3): a rewrite that changes several value keys (a content record sets ~5) splices
them all into the stored map's text in one pass (pim.partial_merge.splice_values) instead of splitting the map
into keys and encoding it whole; a key found before the text's first nested object is searched for once. The
splice must give exactly the text the whole-map encode gave; the guards (named so) pass on the code before too."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

import pim.partial_merge as partial
from pim.catalog import Structure
from pim.merge import Merger, Precedence, Ranker, candidates_for, merge_product
from pim.product import Product, Provenance
from pim.store import Store

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CONTENT = {"brand": "acme", "description:de_DE@ecommerce": "Schraube „M8“ mit \"Kopf\"\n",
           "description:en_US@ecommerce": "Bolt",
           "name:de_DE": "Schraube", "name:en_US": "Bolt", "price": {"amount": "1.50", "currency": "EUR"},
           "weight": {"amount": "2", "unit": "GRAM"}, "zeta": ["a", "b"]}


def prov(source: str, n: int = 1) -> Provenance:
    return Provenance(source=source, ref=f"{source}.jsonl:{n}", at=AT)


def _part(text: str, changed: list[str]) -> partial.StoredPart:
    """A stored product as read_parts gives it: the touched keys' raw JSON, decoded into the partial product."""
    raw = msgspec.json.decode(str.__str__(text), type=dict[str, msgspec.Raw])
    touched = {k: raw[k] for k in changed if k in raw}
    product = Product(identifier="P", values={k: msgspec.json.decode(v) for k, v in touched.items()}, source=prov("erp"))
    return partial.StoredPart(product, text, touched, "{}", {}, "", 0)


def _whole(text: str, now: dict[str, Any], gone: set[str]) -> str:
    """The text the whole-map path writes: every stored key's JSON kept, the changed ones encoded anew."""
    values = dict(msgspec.json.decode(str.__str__(text), type=dict[str, msgspec.Raw]))
    for key, value in now.items():
        values[key] = msgspec.Raw(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    for key in gone:
        values.pop(key, None)
    return partial._ENCODE.encode(values).decode()


def _rewrite(text: str, now: dict[str, Any], gone: set[str]) -> tuple[partial.StoredPart, str]:
    """row_update on a stored map whose touched keys are now's and gone's: (the part, the written text)."""
    part = _part(text, [*now, *gone])
    after_values = {k: v for k, v in part.product.values.items() if k not in gone} | now
    after = Product(identifier="P", values=after_values, source=prov("content", 2))
    done = partial.row_update(part, after)
    assert done is not None
    return part, done[0].value_map


def test_five_changed_keys_are_spliced_into_the_stored_text_not_encoded_whole() -> None:
    """A content record's five keys (escapes, unicode, a key behind nested objects) are spliced: the map is
    not split, and the text is byte for byte what encoding the whole map gives."""
    text = orjson.dumps(CONTENT).decode()
    now = {"description:de_DE@ecommerce": "Neu \"x\" ü\t", "description:en_US@ecommerce": "New",
           "name:de_DE": "Schraube M8", "name:en_US": "Hex bolt", "zeta": ["c", {"n": 1}]}
    part, out = _rewrite(text, now, set())
    assert not part.encoded_whole and part._split is None
    assert out == _whole(text, now, set())


class _CountingText(str):
    """A stored map's text that counts the searches made for key heads in it."""

    searches: list[str]

    def find(self, sub: str, *args: Any) -> int:  # type: ignore[override]
        self.searches.append(sub)
        return super().find(sub, *args)


def test_a_key_before_the_first_nested_object_is_searched_for_once() -> None:
    """Before the first nested object every key head is a top-level key: one search each (and one for the
    object's brace); a key behind it is searched for again, to be sure no nested key of its name comes first."""
    text = _CountingText(orjson.dumps(CONTENT).decode())
    text.searches = []
    now = {"brand": "b", "name:en_US": "Hex", "name:de_DE": "Sechskant", "description:en_US@ecommerce": "x"}
    out = partial.splice_values(_part(text, list(now)), list(now), now)
    assert out == _whole(text, now, set())
    heads = [s for s in text.searches if s != "{"]
    assert sorted(heads) == sorted(partial._key_head(k) for k in now)
    text.searches = []
    out = partial.splice_values(_part(text, ["zeta"]), ["zeta"], {"zeta": []})
    assert out == _whole(text, {"zeta": []}, set())
    assert text.searches.count(partial._key_head("zeta")) == 2


def test_guard_a_key_whose_name_a_nested_object_uses_first_is_not_spliced() -> None:
    """'amount' stands nested (inside price) before its own top-level entry: the splice refuses, the map is
    encoded whole, and the nested value is left alone."""
    stored = {"price": {"amount": "1"}, "amount": "5", "a": 1, "b": 2, "c": 3, "d": 4}
    text = orjson.dumps(stored).decode()
    now = {"amount": "6", "a": 2, "b": 3, "c": 4}
    assert partial.splice_values(_part(text, list(now)), list(now), now) is None
    part, out = _rewrite(text, now, set())
    assert part.encoded_whole and json.loads(out) == stored | now


keys = st.sampled_from(["a", "b", "unit", "amount", "name:en_US", "description:de_DE@ecommerce", "x\"y", "back\\slash",
                        "größe", "名前", "tab\tkey", "{brace", "k,1"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 99), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8), st.sampled_from(["\"", "\\", "\u2028", "é", "\"amount\":", "{", "}", "\n"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=250, deadline=None)
@given(stored=st.dictionaries(keys, json_values, min_size=1, max_size=12),
       now=st.dictionaries(keys, json_values, min_size=4, max_size=12), gone=st.sets(keys, max_size=4))
def test_a_many_key_rewrite_writes_exactly_the_whole_map_text(stored: dict[str, Any], now: dict[str, Any],
                                                              gone: set[str]) -> None:
    """Over key sets with JSON escapes, unicode and nested objects using top-level key names: row_update's text
    is byte for byte what the whole-map path writes. It is spliced (the map not split) unless a changed key's
    head also stands nested, two withdrawn keys are neighbours, or more keys changed than are spliced."""
    text = orjson.dumps(stored).decode()
    gone = {k for k in gone if k not in now}
    now = {k: v for k, v in now.items() if stored.get(k, partial._MISSING) != v}
    if not now and not gone & stored.keys():
        return
    part, out = _rewrite(text, now, gone)
    assert out == _whole(text, now, gone)
    changed = [*now, *(gone & stored.keys())]
    nested = any(text.count(partial._key_head(k)) > (k in stored) for k in changed)
    if not nested and len(gone & stored.keys()) < 2 and len(changed) <= 6:  # up to 6 keys are spliced
        assert not part.encoded_whole


def test_guard_a_content_merge_of_five_keys_stores_what_a_whole_merge_gives(store: Store) -> None:
    """Through the store (PostgreSQL gives jsonb's own spaced text): a record changing five keys is stored as
    merging the whole product gives it, values and each value's source."""
    precedence = Precedence(default=["content", "erp"])
    store.upsert_products([Product(identifier="C-1", values=CONTENT, source=prov("erp"))])
    record = Product(identifier="C-1", source=prov("content", 2), values={
        "description:de_DE@ecommerce": "Neu „x“", "description:en_US@ecommerce": "New \"one\"", "name:de_DE": "M8",
        "name:en_US": "Hex", "weight": {"amount": "3", "unit": "GRAM"}})
    expected = merge_product(store.get_product("C-1"), record, candidates_for(store, "C-1"), {},
                             Ranker(precedence, Structure())).product
    Merger(precedence).bind(store.structure()).write(store, [record])
    got = store.get_product("C-1")
    assert got is not None and got.values == expected.values
    assert {k: got.provenance_of(k) for k in got.values} == {k: expected.provenance_of(k) for k in expected.values}
