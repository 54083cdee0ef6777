"""No two children of one product model share their level's axis values (pim.variant_levels.SiblingAxes), as in
Akeneo: two `color=red` sub-models of one root model, or two `size=m` variants of one red sub-model, could not be
told apart. Whole records (JSONL, Akeneo export) and merged ones (ERP, content; checked once merged) are refused
with the parent, the values and the sibling holding them; people's edits too. tests/data/structure:
shirts_color_size splits by color, then size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pim.importing import Parsed, run_import
from pim.jsonl import import_jsonl
from pim.merge import Merger, Precedence
from pim.product import Product, ProductModel, Provenance, partial_model
from pim.store import Store
from pim.structure import FamilyVariant, VariantLevel
from pim.web.editing import apply_model_values, apply_values

AT = "2026-01-01T00:00:00Z"
FV = "shirts_color_size"


def seed_shirts(store: Store) -> Store:
    """SHIRT with sub-models SHIRT-RED and SHIRT-BLUE; SHIRT-RED-S (size s) under SHIRT-RED."""
    store.upsert_models([ProductModel(code="SHIRT", family_variant=FV, values={"name:en_US": "Shirt"})])
    store.upsert_models([ProductModel(code=f"SHIRT-{c.upper()}", family_variant=FV, parent="SHIRT",
                                      values={"color": c}) for c in ("red", "blue")])
    store.upsert_products([_whole("SHIRT-RED-S", "SHIRT-RED", "s")])
    return store


@pytest.fixture
def shirts(tiny_store: Store) -> Store:
    return seed_shirts(tiny_store)


def _whole(sku: str, parent: str, size: str | None) -> Product:
    return Product(identifier=sku, family="shirts", parent=parent,
                   values={"sku": sku, **({"size": size} if size else {})})


def _erp(store: Store, *records: Product | ProductModel, source: str = "erp", merger: Merger | None = None,
         **options: Any) -> Any:
    items = [Parsed(r, "erp.csv", n + 2, raw={"row": n}) for n, r in enumerate(records)]
    return run_import(store, source, items, merge=merger or Merger(), **options)


def _record(sku: str, source: str = "erp", **fields: Any) -> Product:
    values = fields.pop("values", {})
    return Product(identifier=sku, values=values, source=Provenance(source=source, ref="erp.csv", at=AT), **fields)


def _jsonl(store: Store, path: Path, lines: list[dict[str, Any]]) -> Any:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return import_jsonl(path, store)


def _rejected(store: Store, job_id: int | None) -> dict[str, dict[str, Any]]:
    return {e["record_key"]: e for e in store.quarantined(job_id, severity="rejected")}


def _sub(code: str, color: str, parent: str = "SHIRT") -> dict[str, Any]:
    return {"kind": "product_model", "code": code, "family_variant": FV, "parent": parent, "values": {"color": color}}


def _variant(sku: str, parent: str, size: str) -> dict[str, Any]:
    return {"kind": "product", "identifier": sku, "family": "shirts", "parent": parent,
            "values": {"sku": sku, "size": size}}


# ---------------------------------------------------------------------------------------------- whole records
def test_a_catalog_file_giving_two_siblings_the_same_axis_values_is_refused_record_by_record(
        tiny_store: Store, tmp_path: Path) -> None:
    """Within one batch: the first holder stays, the later one is rejected whole, the rest is written; fixed, the
    same file takes it in."""
    lines = [{"kind": "product_model", "code": "TEE", "family_variant": FV, "values": {"name:en_US": "Tee"}},
             _sub("TEE-BLUE", "blue", "TEE"), _sub("TEE-NAVY", "blue", "TEE"),
             _variant("TEE-BLUE-M", "TEE-BLUE", "m"), _variant("TEE-BLUE-M2", "TEE-BLUE", "m"),
             _variant("TEE-BLUE-S", "TEE-BLUE", "s")]
    path = tmp_path / "catalog.jsonl"
    counts = _jsonl(tiny_store, path, lines)
    assert (counts.created, counts.rejected) == (4, 2)
    rejected = _rejected(tiny_store, counts.job_id)
    navy, m2 = rejected["model:TEE-NAVY"], rejected["TEE-BLUE-M2"]
    assert (navy["field"], navy["line"], navy["file"]) == ("color", 3, "catalog.jsonl")
    assert navy["reason"] == (
        "product model 'TEE' already has a sub-model with color=blue: 'TEE-BLUE'; the sub-models of one model need "
        "distinct values of color: change color of this model, or attach it to another parent")
    assert (m2["field"], m2["line"], m2["raw"]["identifier"]) == ("size", 5, "TEE-BLUE-M2")
    assert m2["reason"] == (
        "product model 'TEE-BLUE' already has a variant with size=m: 'TEE-BLUE-M'; the variants of one model need "
        "distinct values of size: change size of this product, or attach it to another model")
    assert tiny_store.get_model("TEE-NAVY") is None and tiny_store.get_product("TEE-BLUE-M2") is None

    lines[2]["values"]["color"] = "red"
    lines[4]["parent"] = "TEE-NAVY"  # the other fix: another parent
    again = _jsonl(tiny_store, path, lines)
    assert (again.created, again.unchanged, again.rejected) == (2, 4, 0)
    assert _rejected(tiny_store, None) == {}  # the earlier rejections are closed
    assert tiny_store.get_product("TEE-BLUE-M2").parent == "TEE-NAVY"


def test_a_catalog_file_is_checked_against_the_stored_siblings(shirts: Store, tmp_path: Path) -> None:
    """Across batches: a sibling stored before; a record re-imported as it is does not collide with itself."""
    counts = _jsonl(shirts, tmp_path / "c.jsonl", [_variant("SHIRT-RED-S2", "SHIRT-RED", "s"),
                                                   _variant("SHIRT-RED-S", "SHIRT-RED", "s"),
                                                   _sub("SHIRT-CRIMSON", "red")])
    assert (counts.rejected, counts.updated) == (2, 1)
    assert set(_rejected(shirts, counts.job_id)) == {"SHIRT-RED-S2", "model:SHIRT-CRIMSON"}
    assert "'SHIRT-RED-S'" in _rejected(shirts, counts.job_id)["SHIRT-RED-S2"]["reason"]


def test_whole_records_may_move_and_swap_free_values(shirts: Store, tmp_path: Path) -> None:
    """A child that leaves a model frees its values for a later record of the batch; moving to a model where the
    value is free is taken in."""
    counts = _jsonl(shirts, tmp_path / "c.jsonl", [_variant("SHIRT-RED-S", "SHIRT-BLUE", "s"),
                                                   _variant("SHIRT-RED-S2", "SHIRT-RED", "s")])
    assert (counts.created, counts.updated, counts.rejected) == (1, 1, 0)
    assert shirts.get_product("SHIRT-RED-S").parent == "SHIRT-BLUE"


# ---------------------------------------------------------------------------------------------- merged records
def test_a_merged_source_cannot_create_or_turn_a_variant_into_a_siblings_twin(shirts: Store) -> None:
    new = _record("SHIRT-RED-X", family="shirts", parent="SHIRT-RED", values={"sku": "SHIRT-RED-X", "size": "s"})
    twin = _record("SHIRT-RED-M", family="shirts", parent="SHIRT-RED", values={"sku": "SHIRT-RED-M", "size": "m"})
    twin2 = _record("SHIRT-RED-M2", family="shirts", parent="SHIRT-RED", values={"sku": "SHIRT-RED-M2", "size": "m"})
    counts = _erp(shirts, new, twin, twin2)
    assert (counts.created, counts.rejected) == (1, 2)
    rejected = _rejected(shirts, counts.job_id)
    assert set(rejected) == {"SHIRT-RED-X", "SHIRT-RED-M2"}
    assert (rejected["SHIRT-RED-M2"]["field"], rejected["SHIRT-RED-M2"]["line"]) == ("size", 4)
    assert "size=m: 'SHIRT-RED-M'" in rejected["SHIRT-RED-M2"]["reason"]  # the earlier record of the batch
    assert rejected["SHIRT-RED-M2"]["raw"] == {"row": 2}
    assert shirts.get_product("SHIRT-RED-X") is None

    # a stored variant's axis value: to a taken one refused (nothing of the record stored), to a free one taken
    counts = _erp(shirts, _record("SHIRT-RED-M", values={"size": "s", "ean": "4006381333931"}))
    assert counts.rejected == 1
    assert shirts.get_product("SHIRT-RED-M").values == {"sku": "SHIRT-RED-M", "size": "m"}
    shirts.delete_products(["SHIRT-RED-S"])
    _erp(shirts, _record("SHIRT-RED-S", family="shirts", parent="SHIRT-RED", values={"sku": "SHIRT-RED-S", "size": "s"}))
    counts = _erp(shirts, _record("SHIRT-RED-S", values={"size": "m"}), _record("SHIRT-RED-M", values={"size": "s"}))
    assert (counts.updated, counts.rejected) == (0, 2)  # record by record: each still collides with the other
    counts = _erp(shirts, _record("SHIRT-RED-M", values={"size": None}), _record("SHIRT-RED-S", values={"size": "m"}))
    assert (counts.updated, counts.rejected) == (2, 0)  # a cleared value frees it for a later record
    assert shirts.get_product("SHIRT-RED-S").values["size"] == "m"


def test_a_merged_record_that_names_a_parent_is_checked_with_its_stored_axis_value(shirts: Store) -> None:
    """The record does not restate its size: the stored one counts, where it goes."""
    shirts.upsert_products([_whole("SHIRT-BLUE-S", "SHIRT-BLUE", "s"), _whole("SHIRT-BLUE-M", "SHIRT-BLUE", "m")])
    counts = _erp(shirts, _record("SHIRT-BLUE-S", parent="SHIRT-RED"))
    assert counts.rejected == 1
    assert "product model 'SHIRT-RED' already has a variant with size=s: 'SHIRT-RED-S'" in (
        _rejected(shirts, counts.job_id)["SHIRT-BLUE-S"]["reason"])
    assert shirts.get_product("SHIRT-BLUE-S").parent == "SHIRT-BLUE"
    counts = _erp(shirts, _record("SHIRT-BLUE-M", parent="SHIRT-RED"))
    assert (counts.updated, counts.rejected) == (1, 0)
    assert shirts.get_product("SHIRT-BLUE-M").parent == "SHIRT-RED"


def test_an_unchanged_merged_reimport_is_taken(shirts: Store) -> None:
    record = _record("SHIRT-RED-S", parent="SHIRT-RED", values={"size": "s", "ean": "4006381333931"})
    first = _erp(shirts, record)
    again = _erp(shirts, _record("SHIRT-RED-S", parent="SHIRT-RED", values={"size": "s", "ean": "4006381333931"}))
    assert (first.updated, first.rejected, again.unchanged, again.rejected) == (1, 0, 1, 0)


def test_the_axis_value_a_merge_shows_is_checked_not_the_one_a_record_claims(shirts: Store) -> None:
    """The content team owns size: an ERP's size that loses shows nowhere, so it collides with nothing."""
    shirts.upsert_products([_whole("SHIRT-RED-M", "SHIRT-RED", "m")])
    merger = Merger(Precedence(attributes={"size": ["content", "erp"]}))
    _erp(shirts, _record("SHIRT-RED-M", "content", values={"size": "m"}), source="content", merger=merger)
    counts = _erp(shirts, _record("SHIRT-RED-M", values={"size": "s"}),
                  merger=Merger(Precedence(attributes={"size": ["content", "erp"]})))
    assert (counts.updated, counts.rejected) == (1, 0)
    assert shirts.get_product("SHIRT-RED-M").values["size"] == "m"


def test_merged_model_records_are_held_apart_by_their_axis(shirts: Store) -> None:
    prov = Provenance(source="content", ref="m", at=AT)
    counts = _erp(shirts, partial_model("SHIRT-BLUE", {"color": "red"}, prov, {}), source="content")
    assert counts.rejected == 1
    entry = _rejected(shirts, counts.job_id)["model:SHIRT-BLUE"]
    assert (entry["field"], entry["line"]) == ("color", 2)
    assert "sub-model with color=red: 'SHIRT-RED'" in entry["reason"]
    assert shirts.get_model("SHIRT-BLUE").values["color"] == "blue"


def test_a_fanned_out_import_sees_a_sibling_another_batch_writes(shirts: Store) -> None:
    """Batches merged in parallel: a later batch placing a record under a model an earlier one wrote a child of
    is merged again on what is stored."""
    shirts.batch_size = 1
    records = [_record(f"SHIRT-BLUE-{n}", family="shirts", parent="SHIRT-BLUE",
                       values={"sku": f"SHIRT-BLUE-{n}", "size": "m"}) for n in range(3)]
    counts = _erp(shirts, *records, workers=2, executor="thread")
    assert (counts.created, counts.rejected) == (1, 2)
    assert set(_rejected(shirts, counts.job_id)) == {"SHIRT-BLUE-1", "SHIRT-BLUE-2"}


# ---------------------------------------------------------------------------------------------- values compared
def test_metric_axes_compare_quantities(tiny_store: Store, tmp_path: Path) -> None:
    tiny_store.put_structure("family_variant", [FamilyVariant(
        code="drills_weight", family="drills", levels=[VariantLevel(axes=["weight"], attributes=["weight", "sku"])])])
    lines = [{"kind": "product_model", "code": "DRILL", "family_variant": "drills_weight", "values": {}}] + [
        {"kind": "product", "identifier": sku, "family": "drills", "parent": "DRILL",
         "values": {"sku": sku, "weight": weight}}
        for sku, weight in (("D-1KG", {"amount": "1", "unit": "KILOGRAM"}), ("D-1000G", {"amount": "1000", "unit": "GRAM"}),
                            ("D-2KG", {"amount": "2.0", "unit": "KILOGRAM"}))]
    counts = _jsonl(tiny_store, tmp_path / "drills.jsonl", lines)
    assert (counts.created, counts.rejected) == (3, 1)
    assert "weight=1000 GRAM: 'D-1KG'" in _rejected(tiny_store, counts.job_id)["D-1000G"]["reason"]


def test_children_without_an_axis_value_do_not_collide(shirts: Store, tmp_path: Path) -> None:
    """Two children without an axis value do not collide: both are taken in (each noted as missing its axis)."""
    counts = _jsonl(shirts, tmp_path / "c.jsonl", [_variant("SHIRT-RED-X", "SHIRT-RED", "s") | {"values": {"sku": "X"}},
                                                   _variant("SHIRT-RED-Y", "SHIRT-RED", "s") | {"values": {"sku": "Y"}}])
    assert (counts.created, counts.rejected) == (2, 0)


def test_a_collision_stored_before_the_check_does_not_block_unchanged_records(shirts: Store, tmp_path: Path) -> None:
    shirts.upsert_products([_whole("SHIRT-RED-S2", "SHIRT-RED", "s")])  # written past the check
    counts = _jsonl(shirts, tmp_path / "c.jsonl", [_variant("SHIRT-RED-S", "SHIRT-RED", "s"),
                                                   _variant("SHIRT-RED-S2", "SHIRT-RED", "s")])
    assert (counts.updated, counts.rejected) == (2, 0)
    assert _erp(shirts, _record("SHIRT-RED-S2", values={"ean": "4006381333931"})).rejected == 0


# ---------------------------------------------------------------------------------------------- people's edits
def test_an_edit_cannot_give_a_variant_or_a_sub_model_a_siblings_axis_values(shirts: Store) -> None:
    shirts.upsert_products([_whole("SHIRT-RED-M", "SHIRT-RED", "m")])
    result = apply_values(shirts, "SHIRT-RED-M", {"size": "s"}, "ana")
    assert set(result.errors) == {"size"} and "'SHIRT-RED-S'" in result.errors["size"]
    assert shirts.get_product("SHIRT-RED-M").values["size"] == "m"
    model = apply_model_values(shirts, "SHIRT-BLUE", {"color": "red"}, "ana")
    assert set(model.errors) == {"color"} and "'SHIRT-RED'" in model.errors["color"]
    assert apply_values(shirts, "SHIRT-RED-M", {"ean": "4006381333931"}, "ana").errors == {}
