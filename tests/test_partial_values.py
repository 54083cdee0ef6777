"""Decoding only some value keys gives exactly what a full decode gives for those keys: absent stays absent,
JSON null stays None, nested values and unicode survive, and a bad document still fails clearly."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pim.partial_values import PartialDecoder

KEYS = ["ean", "weight", "name:de_DE", "price", "tags"]
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)


@given(st.dictionaries(st.sampled_from(KEYS + ["description:en_US@ecommerce", "x", "ean2"]), json_values, max_size=8))
def test_partial_decode_equals_the_full_decode_restricted_to_the_keys(values: dict) -> None:
    raw = orjson.dumps(values).decode()
    wanted = {k: v for k, v in orjson.loads(raw).items() if k in KEYS}
    decoder = PartialDecoder(KEYS)
    assert decoder.decode(raw) == wanted
    assert decoder.decode(raw.encode()) == wanted
    assert decoder.decode(orjson.loads(raw)) == wanted  # PostgreSQL hands over decoded JSON


def test_null_is_kept_apart_from_absent() -> None:
    decoded = PartialDecoder(KEYS).decode('{"weight": null, "name:de_DE": "Bohrer \\u201eX\\u201c", "other": 1}')
    assert decoded == {"weight": None, "name:de_DE": "Bohrer \u201eX\u201c"}


def test_a_broken_document_fails_like_a_full_decode() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        PartialDecoder(KEYS).decode('{"ean": "4006381333931", ')


def test_a_map_still_held_as_json_text_decodes_like_the_split_one() -> None:
    """A delta's value map arrives from a worker as JSON text; the decoder reads its keys from the text."""
    import msgspec

    from pim.partial_merge import RawValues

    text = '{"name:en_US":"Drill","weight":{"amount":"1.5","unit":"KILOGRAM"},"ean":"4006381333931"}'
    decoder = PartialDecoder(["weight", "ean", "absent"])
    unsplit = RawValues(None, text)
    assert unsplit.unsplit_text == text
    assert decoder.decode(unsplit) == {"weight": {"amount": "1.5", "unit": "KILOGRAM"}, "ean": "4006381333931"}
    split = RawValues(msgspec.json.decode(text, type=dict[str, msgspec.Raw]), text)
    assert split.unsplit_text is None and decoder.decode(split) == decoder.decode(unsplit)
