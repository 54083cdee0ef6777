"""Round 33's speed work on the import paths keeps what an import does: the existence checks read raw rows in one
query, a source's association claims on products without claim rows are read without building the associations,
a partial rewrite's sources are worked out from one read of the stored provenance, and fanned-out import workers
hold the collector off their batch as the importing process does."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from sqlalchemy import event

from pim import association_claims
from pim.gc_policy import BULK_THRESHOLD
from pim.importing import GC_PER_RECORD, Parsed, run_import
from pim.merge import Merger
from pim.product import Association, Product, source_of
from pim.store import Store
from pim.withdraw import product_claims
from tests.source_data import PRECEDENCE, prov, record, seed_structure


def _statements(store: Store) -> list[str]:
    """Every SQL statement SQLite runs on the store's connections from now on."""
    seen: list[str] = []
    event.listen(store.engine, "checkout", lambda dbapi, *_: dbapi.set_trace_callback(seen.append))
    event.listen(store.engine, "checkin", lambda dbapi, *_: dbapi.set_trace_callback(None))
    return seen


def test_existing_identifiers_and_model_codes_name_only_what_is_stored(store: Store) -> None:
    """Guard (passes before and after the raw read): the answer is the stored ones among those asked."""
    seed_structure(store)
    store.upsert_products([record("erp", "E1", {"ean": "1"}, family="tool"), record("erp", "E2", {}, family="tool")])
    asked = ["E2", "nope", "E1", "E1", "e1"]
    assert store.existing_identifiers(asked) == {"E1", "E2"}
    assert store.existing_identifiers([]) == set()
    assert store.existing_model_codes(["E1", "m"]) == set()


@pytest.mark.backends("sqlite")  # the statement trace is SQLite's
def test_existing_identifiers_is_one_query_whatever_the_list_length(store: Store) -> None:
    """12,000 identifiers asked at once are one SELECT (they were chunked by 5,000 into three)."""
    seed_structure(store)
    store.upsert_products([record("erp", "E1", {"ean": "1"}, family="tool")])
    seen = _statements(store)
    assert store.existing_identifiers([f"X{n}" for n in range(12_000)] + ["E1"]) == {"E1"}
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1


def _whole_product_claims(store: Store, source: str, sku: str) -> set[str]:
    """The association types `source` claims on a product, from the whole stored product (the general rule)."""
    product = store.get_product(sku)
    assert product is not None
    with store.engine.connect() as conn:
        links = association_claims.load(conn, [sku])
    return set(association_claims.claimed_types(links.get(sku, {}), product.associations, product.source, source))


@pytest.mark.backends("sqlite")
def test_association_claims_of_products_without_claim_rows_are_the_record_level_source_s(store: Store) -> None:
    """Guard (passes before and after the shortcut): a product whose associations were written whole has no
    claim rows; only its record-level source claims what it shows, as the general rule answers."""
    seed_structure(store)
    link = {"accessories": Association(products=["B"])}
    store.upsert_products([
        Product(identifier="A", family="tool", values={"ean": "1"}, source=prov("supplier:acme"), associations=link),
        Product(identifier="B", family="tool", values={"ean": "2"}, source=prov("erp"), associations=link),
        Product(identifier="C", family="tool", values={"ean": "3"}, source=None, associations=link),
    ])
    for source in ("supplier:acme", "erp", source_of(None)):
        got = product_claims(store, source, ["A", "B", "C"])
        assert {sku: kinds for sku, (_, kinds) in got.items()} == {
            sku: _whole_product_claims(store, source, sku) for sku in ("A", "B", "C")}
    assert product_claims(store, "supplier:acme", ["A"])["A"][1] == {"accessories"}
    assert product_claims(store, "erp", ["A"])["A"][1] == set()


@pytest.mark.backends("sqlite")
def test_association_claims_with_claim_rows_follow_the_rows(store: Store) -> None:
    """Guard: once a merge kept claim rows for a product, a source's claims are read from them (a supplier
    whose association another source replaced still claims it, waiting)."""
    seed_structure(store)
    run_import(store, "supplier:acme", [Parsed(record("supplier:acme", "A", {"ean": "1"}, family="tool",
                                                      associations={"accessories": Association(products=["B"])}),
                                               "a.xml", 1)], merge=Merger(PRECEDENCE))
    run_import(store, "content", [Parsed(record("content", "A", {},
                                                associations={"accessories": Association(products=["C"])}),
                                         "c.jsonl", 1)], merge=Merger(PRECEDENCE))
    for source in ("supplier:acme", "content", "erp"):
        assert product_claims(store, source, ["A"])["A"][1] == _whole_product_claims(store, source, "A")
    assert product_claims(store, "supplier:acme", ["A"])["A"][1] == {"accessories"}


@pytest.mark.backends("sqlite")
def test_a_partial_rewrite_names_the_sources_its_stored_provenance_names(store: Store) -> None:
    """Guard: the sources a merge's partial rewrite hands the listeners (before, after) are the record-level
    source and each per-value provenance source of the stored row before and after the write."""
    seed_structure(store)
    seen: list[tuple[frozenset[str], frozenset[str]]] = []

    def listener(conn: Any, identifiers: list[str], deltas: dict[str, Any] | None = None) -> None:
        seen.extend(delta.sources for delta in (deltas or {}).values())

    store.listeners.append(listener)
    merge = Merger(PRECEDENCE)
    run_import(store, "erp", [Parsed(record("erp", "A", {"ean": "1", "weight": {"amount": "1", "unit": "KILOGRAM"}},
                                            family="tool"), "e.csv", 1)], merge=merge)
    run_import(store, "supplier:acme", [Parsed(record("supplier:acme", "A", {"material": "steel",
                                                                            "weight": {"amount": "2", "unit": "KILOGRAM"}}),
                                               "s.xml", 1)], merge=merge)
    run_import(store, "erp", [Parsed(record("erp", "A", {"ean": "2", "material": None}), "e.csv", 2)], merge=merge)
    assert len(seen) == 2, "the two later merges rewrote the product in part"
    product = store.get_product("A")
    assert product is not None
    final = {source_of(product.source), *(p.source for p in product.provenance.values())}
    assert seen[-1][1] == frozenset(final)
    assert seen[0][1] == seen[1][0] == {"erp", "supplier:acme"}  # the second starts where the first left it


def test_a_fanned_out_worker_holds_the_collector_off_its_batch(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker merging a batch (PIM_IMPORT_WORKERS > 1) runs with the importing process's threshold,
    GC_PER_RECORD per record of a batch, not the plain bulk one, and puts the old one back."""
    import pim.importing as importing

    seed_structure(store)
    during: list[int] = []

    def prepare(*args: Any) -> Any:
        during.append(gc.get_threshold()[0])
        return None

    monkeypatch.setattr(importing, "_prepare", prepare)
    monkeypatch.setattr(importing, "_WORKER", type(importing._WORKER)())
    before = gc.get_threshold()
    spec = (store.engine.url.render_as_string(hide_password=False), 2000, "erp", PRECEDENCE, True)
    importing._prepare_job(spec, [])
    importing._WORKER.store.dispose()
    assert during == [max(BULK_THRESHOLD, GC_PER_RECORD * 2000)] and during[0] > BULK_THRESHOLD
    assert gc.get_threshold() == before
