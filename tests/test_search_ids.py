"""Meilisearch document ids: only a-zA-Z0-9-_, at most 511 bytes; other SKUs are encoded reversibly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from channels.search_documents import document_id
from exporters.meili_ids import decode_id, encode_id, is_valid_id

SKUS = st.text(min_size=1, max_size=255)


def test_a_safe_sku_is_its_own_id() -> None:
    assert encode_id("HP-100_red") == "HP-100_red"


def test_skus_with_other_characters_round_trip() -> None:
    for sku in ["CABLE/1 m", "Kopfhörer-ÄÖÜ", "部品-42", "a.b", "_leading-underscore", "x" * 200 + "/", "🎧" * 95, "/" * 255]:
        doc_id = encode_id(sku)
        assert is_valid_id(doc_id) and doc_id != sku
        assert decode_id(doc_id) == sku


def test_longest_ascii_sku_with_punctuation_still_round_trips() -> None:
    sku = "A/B." * 63 + "xyz"  # 255 characters
    assert decode_id(encode_id(sku)) == sku and len(encode_id(sku).encode()) <= 511


def test_a_sku_too_long_to_encode_gets_a_stable_digest_id() -> None:
    sku = "ü" * 255  # 510 bytes: base64 would be 680
    doc_id = encode_id(sku)
    assert is_valid_id(doc_id) and doc_id.startswith("_h") and doc_id == encode_id(sku)
    assert decode_id(doc_id) is None  # the document's `sku` field holds it


@given(SKUS)
def test_every_sku_gets_a_valid_id_that_decodes_back(sku: str) -> None:
    doc_id = encode_id(sku)
    assert is_valid_id(doc_id)
    assert decode_id(doc_id) in (sku, None)
    assert decode_id(doc_id) == sku or len(sku.encode()) > 381


@given(SKUS, SKUS)
def test_different_skus_never_share_an_id(a: str, b: str) -> None:
    if a != b:
        assert encode_id(a) != encode_id(b)


@given(SKUS)
def test_channel_and_exporter_encode_alike(sku: str) -> None:
    assert document_id(sku) == encode_id(sku)
