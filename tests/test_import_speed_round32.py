"""Round 32's speed work on the merge and re-import paths keeps what an import does: each shortcut gives what
the general path gives (a JSON line is searched for U+0000 only when it holds the escape, GTIN keys are
remembered per key, ranks are kept per attribute, a product new to the catalog is merged without diffing
claims it cannot have), and an import keeps the cyclic collector off the batch it holds in memory."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from importers.content import ContentMapper, ContentProfile, _one
from importers.gtin_check import gtin_keys
from pim.catalog import Structure
from pim.gc_policy import BULK_THRESHOLD
from pim.importing import GC_PER_RECORD, Parsed, Rejected, run_import
from pim.merge import Merger, Ranker, candidates_for
from pim.product import split_key
from pim.quality import is_gtin_attribute
from pim.store import Store
from pim.structure import Channel, Currency, Locale
from tests.source_data import ATTRIBUTES, PRECEDENCE, record, seed_structure

AT = datetime(2026, 3, 1, tzinfo=UTC)
STRUCTURE = Structure.from_items({
    "attribute": ATTRIBUTES, "locale": [Locale(code="en_US"), Locale(code="de_DE")],
    "currency": [Currency(code="EUR")],
    "channel": [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR"], category_tree="master")],
})
MAPPER = ContentMapper(ContentProfile(), STRUCTURE)

# texts that may hold U+0000, or a backslash and `u0000` that JSON escapes without being one
text = st.text(st.sampled_from(["a", "é", "\x00", "\\", "u", "0", " "]), max_size=8)
content_records = st.fixed_dictionaries({"sku": text}, optional={
    "name": st.dictionaries(st.sampled_from(["en_US", "de_DE"]), text, max_size=2),
    "values": st.dictionaries(st.sampled_from(["ean", "material", "na\x00me"]), text, max_size=2),
    "bullets": st.dictionaries(st.sampled_from(["en_US", "de\x00DE"]), st.lists(text, max_size=2), max_size=2),
})


def _seen(item: Parsed | Rejected) -> Any:
    if isinstance(item, Rejected):
        return ("rejected", item.reason, item.field, item.record_key, item.raw)
    return ("parsed", item.record.model_dump(), item.raw)


@settings(max_examples=300, deadline=None)
@given(data=content_records)
@example(data={"sku": "A1", "name": {"en_US": "a\x00b"}})
@example(data={"sku": "A1", "name": {"en_US": "a\\u0000b"}})  # the text \u0000, which is no NUL
def test_a_json_line_is_read_as_the_record_it_holds(data: dict[str, Any]) -> None:
    """Guard: a JSON line is searched for U+0000 only when it holds the `\\u0000` escape; what it gives is what
    the record it holds gives when read as an already parsed record (an array's), which is always searched."""
    line = orjson.dumps(data).decode()
    assert _seen(_one(MAPPER, line, "c.jsonl", 3, "content", AT)) == _seen(_one(MAPPER, data, "c.jsonl", 3, "content", AT))


def test_a_json_line_with_an_escaped_nul_is_refused_naming_where() -> None:
    """Guard: the escape JSON writes U+0000 as still refuses the record, naming the field."""
    got = _one(MAPPER, '{"sku": "A1", "name": {"de_DE": "ok", "en_US": "a\\u0000b"}}', "c.jsonl", 7, "content", AT)
    assert isinstance(got, Rejected) and got.field == "name.en_US" and "NUL character (U+0000)" in got.reason


keys = st.builds(lambda a, loc, ch: a + (f":{loc}" if loc else "") + (f"@{ch}" if ch else ""),
                 st.sampled_from(["ean", "EAN", "gtin", "case_gtin", "pack_ean", "upc", "name", "sku", "eans"]),
                 st.sampled_from(["", "en_US"]), st.sampled_from(["", "ecommerce"]))


@settings(max_examples=200, deadline=None)
@given(targets=st.lists(st.tuples(st.sampled_from(["col A", "col B"]), keys), max_size=6))
def test_gtin_keys_are_the_keys_of_gtin_attributes_asked_again_or_not(targets: list[tuple[str, str]]) -> None:
    """Guard: the GTIN keys of a record, remembered per key, are those whose attribute holds GTINs, the last
    field filling a key named, however often the keys were asked before."""
    expected: dict[str, str] = {}
    for field, key in targets:
        if is_gtin_attribute(split_key(key)[0]):
            expected[key] = field
    assert gtin_keys(targets) == expected
    assert gtin_keys(iter(targets)) == expected


@settings(max_examples=100, deadline=None)
@given(asked=st.lists(st.tuples(st.sampled_from(["erp", "content", "supplier:acme", "supplier:bolt", "x"]),
                                st.sampled_from(["weight", "name", "ean", "material", "image", "nope"])), max_size=20))
def test_a_rank_is_the_same_whatever_was_ranked_before(asked: list[tuple[str, str]]) -> None:
    """Guard: ranks kept per attribute answer as a ranker asked nothing before does."""
    ranker = Ranker(PRECEDENCE, STRUCTURE)
    for source, attribute in asked:
        assert ranker.rank(source, attribute) == Ranker(PRECEDENCE, STRUCTURE).rank(source, attribute)
        assert ranker.ranks(attribute)[source] == ranker.rank(source, attribute)


def test_a_new_product_named_twice_in_one_merge_keeps_the_losing_claim(store: Store) -> None:
    """Guard: the first record of a product new to the catalog is merged without diffing claims (it has none);
    a second record naming it in the same merge still leaves its losing claim, and its winning one shows."""
    seed_structure(store)
    merger = Merger(PRECEDENCE).bind(store.structure())
    counts, rejects = merger.write(store, [
        record("supplier:acme", "N1", {"ean": "4006381333931", "material": "steel"}, family="tool"),
        record("erp", "N2", {"ean": "4006381333948"}, family="tool"),
        record("erp", "N1", {"ean": "4006381333955", "material": "brass"})])
    assert rejects == [] and counts.created == 2
    n1 = store.get_product("N1")
    assert n1 is not None and n1.values["ean"] == "4006381333955"  # the ERP owns ean: it takes over
    assert n1.values["material"] == "steel"  # suppliers outrank the ERP on technical attributes
    kept = candidates_for(store, "N1")
    assert {k: {s: c.value for s, c in claims.items()} for k, claims in kept.items()} == {
        "ean": {"supplier:acme": "4006381333931"}, "material": {"erp": "brass"}}
    assert candidates_for(store, "N2") == {}


def test_an_import_keeps_the_collector_off_a_batch_in_flight(store: Store) -> None:
    """While an import runs, the collector's threshold is GC_PER_RECORD per record of a batch (a merge batch
    holds its records, stored rows and merge state until written); it is put back afterwards."""
    seed_structure(store)
    store.batch_size = 2000
    before = gc.get_threshold()
    during: list[int] = []
    counts = run_import(store, "erp", [Parsed(record("erp", f"G{n}", {"ean": "1"}, family="tool"), "erp.csv", n)
                                       for n in range(3)], merge=Merger(PRECEDENCE),
                        on_batch=lambda size: during.append(gc.get_threshold()[0]))
    assert counts.created == 3
    assert during == [max(BULK_THRESHOLD, GC_PER_RECORD * 2000)] and during[0] > BULK_THRESHOLD
    assert gc.get_threshold() == before


def test_a_whole_content_line_with_a_nul_in_a_key_is_refused(tmp_path: Any, store: Store) -> None:
    """Guard: an escaped U+0000 in a key of a JSON line refuses its record through a whole import, as before."""
    from importers.content import import_content

    seed_structure(store)
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "A1", "values": {"mat\\u0000erial": "x"}}\n{"sku": "A2", "values": {"material": "\\\\u0000"}}\n')
    counts = import_content(path, store, ContentProfile(unmatched="create"))
    assert (counts.read, counts.rejected, counts.created) == (2, 1, 1)
    [refused] = store.quarantined(counts.job_id)
    assert (refused["record_key"], refused["field"], refused["line"]) == ("A1", "values.mat\\u0000erial", 1)
    assert "NUL character (U+0000)" in refused["reason"]
    assert store.get_product("A2").values["material"] == "\\u0000"  # type: ignore[union-attr]
