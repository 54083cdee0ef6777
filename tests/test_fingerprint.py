"""Per-source record fingerprints: a source row already merged, onto a product nobody has written since,
skips validation and merge; any change of the row or of the product merges it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence, candidates_for
from pim.product import Product
from pim.store import Store
from tests.source_data import PRECEDENCE, record, seed_structure

KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def erp_rows(n: int = 3, **changed: dict) -> list[Product]:
    rows = []
    for i in range(1, n + 1):
        sku = f"A{i}"
        values = {"ean": f"400{i}", "weight": KG(f"1.{i}"), "material": "steel", **changed.get(sku, {})}
        rows.append(record("erp", sku, values, family="tool"))
    return rows


def merge(store: Store, source: str, records: list[Product], precedence: Precedence = PRECEDENCE) -> tuple:
    merger = Merger(precedence)
    counts = run_import(store, source, [Parsed(r, f"{source}.csv", n) for n, r in enumerate(records, 1)], merge=merger)
    return counts, merger


def test_same_file_twice_takes_the_fast_path_and_changes_nothing(seeded: Store):
    merge(seeded, "erp", erp_rows())
    seq = seeded.current_seq()
    counts, merger = merge(seeded, "erp", erp_rows())
    assert (counts.read, counts.unchanged, counts.updated, counts.created) == (3, 3, 0, 0)
    assert (merger.skipped_records, merger.merged_records) == (3, 0)
    assert seeded.current_seq() == seq


def test_one_changed_row_is_the_only_one_merged(seeded: Store):
    merge(seeded, "erp", erp_rows())
    counts, merger = merge(seeded, "erp", erp_rows(A2={"ean": "999"}))
    assert (merger.skipped_records, merger.merged_records) == (2, 1)
    assert (counts.unchanged, counts.updated) == (2, 1)
    assert seeded.get_product("A2").values["ean"] == "999"


def test_product_edited_in_between_is_merged_again(seeded: Store):
    merge(seeded, "erp", erp_rows())
    edited = seeded.get_product("A1")
    seeded.upsert_products([edited.model_copy(update={"values": {**edited.values, "ean": "edited"}})])
    counts, merger = merge(seeded, "erp", erp_rows())
    assert (merger.skipped_records, merger.merged_records) == (2, 1)
    assert seeded.get_product("A1").values["ean"] == "4001"  # the ERP owns the EAN
    _, again = merge(seeded, "erp", erp_rows())
    assert again.skipped_records == 3  # the re-merge stored a fresh fingerprint


def test_deleted_product_is_created_again(seeded: Store):
    merge(seeded, "erp", erp_rows())
    seeded.delete_products(["A3"])
    counts, merger = merge(seeded, "erp", erp_rows())
    assert (counts.created, merger.skipped_records) == (1, 2)
    assert seeded.get_product("A3").values["ean"] == "4003"


def test_another_source_taking_over_keeps_the_old_claim_as_candidate(seeded: Store):
    merge(seeded, "erp", erp_rows())
    merge(seeded, "supplier:acme", [record("supplier:acme", "A1", {"material": "iron"})])  # suppliers own it
    counts, merger = merge(seeded, "erp", erp_rows())
    assert merger.skipped_records == 2 and merger.merged_records == 1
    product = seeded.get_product("A1")
    assert product.values["material"] == "iron"
    assert candidates_for(seeded, "A1")["material"]["erp"].value == "steel"
    merge(seeded, "supplier:acme", [record("supplier:acme", "A1", {"material": None})])  # withdraws
    assert seeded.get_product("A1").values["material"] == "steel"


def test_changed_precedence_merges_every_row_again(seeded: Store):
    merge(seeded, "erp", erp_rows())
    merge(seeded, "supplier:acme", [record("supplier:acme", "A1", {"weight": KG("9")})])
    assert seeded.get_product("A1").values["weight"] == KG("1.1")
    suppliers_first = PRECEDENCE.model_copy(update={"attributes": {"weight": ["supplier:*", "erp"]}})
    _, merger = merge(seeded, "supplier:acme", [record("supplier:acme", "A1", {"weight": KG("9")})], suppliers_first)
    assert merger.merged_records == 1
    assert seeded.get_product("A1").values["weight"] == KG("9")


def test_changed_precedence_applies_when_the_old_winner_imports_again(seeded: Store):
    """Found exploring: the winner restating its value skipped settling, so the new precedence waited for the
    other source's next import."""
    merge(seeded, "erp", erp_rows())
    merge(seeded, "supplier:acme", [record("supplier:acme", "A1", {"weight": KG("9")})])
    assert seeded.get_product("A1").values["weight"] == KG("1.1")
    suppliers_first = PRECEDENCE.model_copy(update={"attributes": {"weight": ["supplier:*", "erp"]}})
    counts, _ = merge(seeded, "erp", erp_rows(), suppliers_first)
    product = seeded.get_product("A1")
    assert product.values["weight"] == KG("9") and product.provenance_of("weight").source == "supplier:acme"
    assert candidates_for(seeded, "A1")["weight"]["erp"].value == KG("1.1")
    assert (counts.updated, counts.unchanged) == (1, 2)  # A2 and A3 have no other claims: nothing to settle
    seq = seeded.current_seq()
    again, _ = merge(seeded, "erp", erp_rows(A1={"ean": "4009"}), suppliers_first)  # A1 merged, weight as it is
    assert (again.updated, again.unchanged) == (1, 2)
    assert seeded.get_product("A1").values["weight"] == KG("9") and seeded.get_product("A1").values["ean"] == "4009"
    assert seeded.current_seq() > seq


def test_same_sku_twice_in_a_batch_is_never_skipped(seeded: Store):
    rows = [record("erp", "A1", {"ean": "1"}, family="tool"), record("erp", "A1", {"ean": "2"})]
    merge(seeded, "erp", rows)
    _, merger = merge(seeded, "erp", rows)
    assert merger.skipped_records == 0
    assert seeded.get_product("A1").values["ean"] == "2"


def test_rejected_row_is_rejected_again_not_skipped(seeded: Store):
    bad = erp_rows(A2={"weight": {"amount": "heavy", "unit": "KILOGRAM"}})
    first, _ = merge(seeded, "erp", bad)
    counts, merger = merge(seeded, "erp", bad)
    assert (first.rejected, counts.rejected, counts.unchanged) == (1, 1, 2)
    assert seeded.get_product("A2") is None


def test_erp_csv_reimport_of_the_same_file_is_all_unchanged(seeded: Store, tmp_path: Path):
    path = tmp_path / "erp.csv"
    path.write_text("sku;ean;weight\nA1;4001;1,5\nA2;4002;2\n", encoding="utf-8")
    m = ErpCsvMap(delimiter=";", decimal=",", family="tool",
                  columns={"ean": "ean", "weight": {"to": "weight", "unit": "KILOGRAM"}})
    assert import_erp_csv(path, seeded, m).created == 2
    again = import_erp_csv(path, seeded, m)
    assert (again.read, again.unchanged, again.updated) == (2, 2, 0)
    path.write_text("sku;ean;weight\nA1;4001;1,5\nA2;4002;2,5\n", encoding="utf-8")
    third = import_erp_csv(path, seeded, m)
    assert (third.unchanged, third.updated) == (1, 1)
    assert seeded.get_product("A2").values["weight"] == KG("2.5")
