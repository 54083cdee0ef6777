"""Two writers merging the same products at once lose nothing: a batch checks, under the catalog's write lock,
that no product it read was written since (an edit in the web UI, another import), and merges again on what is
stored now when one was; and every merge writer takes that one lock first, so two imports walking the same
products in opposite orders never deadlock on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pim import merge as merge_module
from pim.errors import StoreError
from pim.importing import Parsed, run_import
from pim.merge import Merger
from pim.store import Store
from tests.source_data import PRECEDENCE, record, seed_structure

SKUS = [f"S{i:03}" for i in range(60)]


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1", "name:en_US": "DRILL"}, family="tool"), "erp.csv", n)
                              for n, sku in enumerate(SKUS, 1)], merge=Merger(PRECEDENCE))
    return store


def _write_between_prepare_and_apply(monkeypatch: pytest.MonkeyPatch, store: Store, times: int) -> list[int]:
    """Make the next `times` batch merges see a content edit land after they read and before they write."""
    prepare = Merger.prepare
    edits: list[int] = []

    def racing(self: Merger, st: Store, products: list[Any], models: Any = None) -> Any:
        plan = prepare(self, st, products, models)
        if self.source == "erp" and len(edits) < times:
            edits.append(1)
            monkeypatch.setattr(Merger, "prepare", prepare)  # the edit's own merge runs unraced
            run_import(st, "content", [Parsed(record("content", "S000", {"seo_title:en_US": f"typed {len(edits)}"}),
                                              "web", 1)], merge=Merger(PRECEDENCE))
            monkeypatch.setattr(Merger, "prepare", racing)
        return plan

    monkeypatch.setattr(Merger, "prepare", racing)
    return edits


def test_an_edit_between_a_batchs_read_and_its_write_is_kept(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    edits = _write_between_prepare_and_apply(monkeypatch, seeded, times=1)
    merger = Merger(PRECEDENCE)
    counts = run_import(seeded, "erp", [Parsed(record("erp", "S000", {"ean": "2"}), "erp.csv", 1)], merge=merger)
    assert edits == [1]
    p = seeded.get_product("S000")
    assert p.values["ean"] == "2" and p.values["seo_title:en_US"] == "typed 1"  # neither write lost
    assert (counts.read, counts.updated, counts.rejected) == (1, 1, 0)
    assert merger.merged_records == 1  # the batch merged again is not counted twice


def test_a_batch_that_keeps_being_overtaken_fails_the_job_with_what_to_do(seeded: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge_module, "RETRIES", 3)
    _write_between_prepare_and_apply(monkeypatch, seeded, times=3)
    with pytest.raises(StoreError) as caught:
        run_import(seeded, "erp", [Parsed(record("erp", "S000", {"ean": "2"}), "erp.csv", 1)], merge=Merger(PRECEDENCE))
    assert "kept changing" in str(caught.value) and "run this again" in (caught.value.hint or "")
    assert seeded.get_product("S000").values["ean"] == "1"  # nothing of the failed import was written
    assert seeded.get_product("S000").values["seo_title:en_US"] == "typed 3"


def test_merger_write_merges_again_when_overtaken(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web UI's edits go through Merger.write: an import landing in between is merged with, not undone."""
    prepare = Merger.prepare
    raced: list[int] = []

    def racing(self: Merger, st: Store, products: list[Any], models: Any = None) -> Any:
        plan = prepare(self, st, products, models)
        if not raced:
            raced.append(1)
            run_import(st, "erp", [Parsed(record("erp", "S001", {"ean": "7"}), "erp.csv", 1)], merge=Merger(PRECEDENCE))
        return plan

    monkeypatch.setattr(Merger, "prepare", racing)
    from pim.product import Product, Provenance
    from pim.store.store import now

    edit = Product(identifier="S001", values={"seo_title:en_US": "by hand"}, source=Provenance(source="content", at=now()))
    Merger(PRECEDENCE).bind(seeded.structure()).write(seeded, [edit])
    p = seeded.get_product("S001")
    assert raced and p.values["ean"] == "7" and p.values["seo_title:en_US"] == "by hand"


def test_two_imports_over_the_same_products_in_opposite_orders_both_land(seeded: Store) -> None:
    """Real threads, small batches: the ERP walks the SKUs forwards, the content team backwards. Every product
    ends with both sources' values, and neither import fails (no deadlock, no lost update)."""
    seeded.batch_size = 7
    results: dict[str, Any] = {}

    def run(source: str, skus: list[str], values: dict[str, str]) -> None:
        try:
            results[source] = run_import(seeded, source, [Parsed(record(source, sku, values), f"{source}.csv", n)
                                                          for n, sku in enumerate(skus, 1)], merge=Merger(PRECEDENCE))
        except Exception as exc:  # noqa: BLE001 — reported below
            results[source] = exc

    threads = [threading.Thread(target=run, args=("erp", SKUS, {"ean": "42"})),
               threading.Thread(target=run, args=("content", SKUS[::-1], {"seo_title:en_US": "both"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    assert results["erp"].updated == len(SKUS) and results["content"].updated == len(SKUS)
    for p in seeded.iter_products(identifiers=SKUS):
        assert (p.values["ean"], p.values["seo_title:en_US"]) == ("42", "both"), p.identifier
