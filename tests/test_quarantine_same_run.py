"""A run's own rejections stay open when a later row of the same record comes in clean: that rejected row is
still wrong in the file (its values were not taken in), and the file's next run judges it again. Entries of
earlier runs still close when the record imports cleanly."""

from __future__ import annotations

from pim.importing import Parsed, Rejected, run_import
from pim.merge import Merger
from pim.store import Store
from tests.source_data import PRECEDENCE, record, seed_structure


def _open(store: Store, source: str) -> list[tuple[str | None, int | None, str | None]]:
    return [(e["record_key"], e["line"], e["field"]) for e in store.quarantined(None) if e["source"] == source]


def test_a_rejected_row_stays_open_when_a_later_row_of_its_record_comes_in_clean(store: Store) -> None:
    seed_structure(store)
    store.upsert_products([record("erp", "A", {"sku": "A"}, family="tool")])
    items = [Rejected("weight 'heavy' is no number", "erp.csv", 2, "weight", {"sku": "A", "weight": "heavy"}, "A"),
             Parsed(record("erp", "A", {"sku": "A", "ean": "4006381333931"}), "erp.csv", 3)]
    counts = run_import(store, "erp", items, merge=Merger(PRECEDENCE))
    assert counts.rejected == 1 and counts.updated == 1
    assert _open(store, "erp") == [("A", 2, "weight")]  # the CLI's "1 rejected" and the open list agree


def test_an_earlier_runs_rejection_closes_when_its_record_comes_in_clean(store: Store) -> None:
    seed_structure(store)
    store.upsert_products([record("erp", "A", {"sku": "A"}, family="tool")])
    bad = Rejected("weight 'heavy' is no number", "erp.csv", 2, "weight", {"sku": "A", "weight": "heavy"}, "A")
    run_import(store, "erp", [bad], merge=Merger(PRECEDENCE))
    assert _open(store, "erp") == [("A", 2, "weight")]
    fixed = Parsed(record("erp", "A", {"sku": "A", "weight": {"amount": "2", "unit": "KILOGRAM"}}), "erp.csv", 2)
    run_import(store, "erp", [fixed], merge=Merger(PRECEDENCE))
    assert _open(store, "erp") == []
