"""A merge import rewrites a stored product from the keys its records touch (pim.partial_merge). What it
stores must be exactly what merging the whole product would give, and the keys it did not touch must come
back byte for byte the same."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from sqlalchemy import select
from hypothesis import strategies as st

from pim.catalog import Structure
from pim.merge import Merger, Precedence, Ranker, candidates_for, merge_product
from pim.product import Product, Provenance
from pim.store import Store
from pim.store.store import PRODUCT

KEYS = ["name:en_US", "name:de_DE", "weight", "ean", "color", "description:en_US@ecommerce", "tags"]
SOURCES = ["erp", "content", "supplier:acme", "supplier:bolt"]
PRECEDENCE = Precedence(default=["content", "erp", "supplier:*"], attributes={"weight": ["erp", "supplier:*"]})
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_ids = itertools.count()

value = st.one_of(
    # no U+0000: PostgreSQL cannot store it, and validation refuses it before any write (pim.values)
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12), st.integers(-5, 10**12), st.booleans(),
    st.fixed_dictionaries({"amount": st.decimals(0, 100, places=2).map(str), "unit": st.sampled_from(["KILOGRAM", "GRAM"])}),
    st.lists(st.sampled_from(["red", "blue", "größe", "\"quoted\""]), max_size=3),
)


def prov(source: str, n: int = 1) -> Provenance:
    return Provenance(source=source, ref=f"{source}.csv:{n}", at=AT)


@st.composite
def stored_products(draw: Any) -> Product:
    values = draw(st.dictionaries(st.sampled_from(KEYS), value, max_size=len(KEYS)))
    overrides = draw(st.dictionaries(st.sampled_from(sorted(values) or ["-"]), st.sampled_from(SOURCES)))
    return Product(identifier="P", categories=draw(st.lists(st.sampled_from(["a", "b"]), unique=True)),
                   values=values, source=prov(draw(st.sampled_from(SOURCES))),
                   provenance={k: prov(s, 2) for k, s in overrides.items() if k in values})


@st.composite
def records(draw: Any) -> Product:
    values = draw(st.dictionaries(st.sampled_from(KEYS), st.one_of(st.none(), st.just(""), value), min_size=1, max_size=4))
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["categories"] = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True))
    return Product(identifier="P", values=values, source=prov(draw(st.sampled_from(SOURCES)), 3), **extra)


def _view(p: Product | None) -> Any:
    """What the store keeps of a product: values, each value's source, the structural fields."""
    assert p is not None
    return (p.values, {k: p.provenance_of(k).source for k in p.values}, p.categories, p.family, p.enabled)  # type: ignore[union-attr]


@FUZZ
@given(stored=stored_products(), first=records(), second=records())
def test_partial_rewrite_stores_what_a_whole_merge_gives(store: Store, stored: Product, first: Product,
                                                         second: Product) -> None:
    ident = f"P-{next(_ids)}"
    stored, first, second = (p.model_copy(update={"identifier": ident}) for p in (stored, first, second))
    store.upsert_products([stored])
    ranker = Ranker(PRECEDENCE, Structure())
    merger = Merger(PRECEDENCE).bind(store.structure())
    for record in (first, second):
        before = store.get_product(ident)
        expected = merge_product(before, record, candidates_for(store, ident), {}, ranker).product
        merger.write(store, [record])
        assert _view(store.get_product(ident)) == _view(expected)


def test_untouched_keys_and_provenance_come_back_unchanged(store: Store) -> None:
    values = {"name:en_US": "Bolt", "name:de_DE": "Schraube „M8“", "weight": {"amount": "1.50", "unit": "KILOGRAM"},
              "tags": ["a", "b"], "color": None}
    store.upsert_products([Product(identifier="B-1", values=values, source=prov("content"),
                                   provenance={"weight": prov("erp", 9)})])
    Merger(PRECEDENCE).bind(store.structure()).write(store, [
        Product(identifier="B-1", values={"ean": "4006381333931", "weight": None}, source=prov("erp", 4))])
    got = store.get_product("B-1")
    assert got is not None
    assert got.values == {**{k: v for k, v in values.items() if k != "weight"}, "ean": "4006381333931"}
    assert got.provenance_of("name:de_DE") == prov("content") and got.provenance_of("ean") == prov("erp", 4)
    assert "weight" not in got.provenance  # the withdrawn value's provenance went with it


def test_a_whole_write_after_a_partial_one_is_not_skipped(store: Store) -> None:
    """The chained content hash of a partial rewrite never matches a record's own hash, so writing the
    earlier whole record again restores it instead of being skipped as unchanged."""
    original = Product(identifier="H-1", values={"name:en_US": "Hex", "ean": "1"}, source=prov("content"))
    store.upsert_products([original])
    Merger(PRECEDENCE).bind(store.structure()).write(store, [
        Product(identifier="H-1", values={"ean": "2"}, source=prov("erp"))])
    assert store.get_product("H-1").values["ean"] == "1"  # type: ignore[union-attr]  # content outranks erp
    Merger(Precedence(default=["erp", "content"])).bind(store.structure()).write(store, [
        Product(identifier="H-1", values={"ean": "2"}, source=prov("erp"))])
    assert store.get_product("H-1").values["ean"] == "2"  # type: ignore[union-attr]
    counts = store.upsert_products([original])
    assert counts.updated == 1 and store.get_product("H-1").values["ean"] == "1"  # type: ignore[union-attr]


def test_a_whole_write_equal_to_what_a_merge_left_is_unchanged(store: Store) -> None:
    """A merged row's hash is chained, so the whole-record write compares it by its stored content: the record
    the merge produced, written whole, is unchanged (no new seq) and the row gets its real hash back."""
    store.upsert_products([Product(identifier="M-1", values={"name:en_US": "Hex", "ean": "1"}, source=prov("content"))])
    Merger(Precedence(default=["erp", "content"])).bind(store.structure()).write(store, [
        Product(identifier="M-1", values={"ean": "2"}, source=prov("erp"))])
    merged = store.get_product("M-1")
    assert merged is not None and merged.values["ean"] == "2"
    seq = store.current_seq()
    counts = store.upsert_products([merged])
    assert (counts.unchanged, counts.updated) == (1, 0) and store.current_seq() == seq
    with store.engine.connect() as conn:
        stored = conn.execute(select(PRODUCT.c.content_hash).where(PRODUCT.c.identifier == "M-1")).scalar_one()
    assert stored == merged.content_hash()
    changed = merged.model_copy(update={"values": {**merged.values, "ean": "3"}})
    assert store.upsert_products([changed]).updated == 1
