"""A child of a product model without a value of its level's axis (pim.variant_levels): imports take it in (in a
multi-source PIM another source may still send the value) but note it as a problem of its record, closed when the
record comes in with the value; the quality check reports it as `missing_axis` (a channel may block on it); a
person's edit cannot empty an axis. tests/data/structure: shirts_color_size splits by color, then size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pim.gate import evaluate
from pim.merge import Merger, Precedence
from pim.product import ProductModel, Provenance, partial_model
from pim.quality import assess
from pim.store import Store
from pim.web.editing import apply_model_values, apply_values
from tests.test_variant_axes import AT, FV, _erp, _jsonl, _record, _sub, _variant, _whole, shirts  # noqa: F401

def _gaps(store: Store, job_id: int | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Open missing-axis problems: (record key, axis) → entry."""
    return {(e["record_key"], e["field"]): e for e in store.quarantined(job_id, severity="problem")
            if "has no value for its axis" in e["reason"]}


# ---------------------------------------------------------------------------------------------- whole records
def test_a_catalog_file_takes_in_a_child_without_its_axis_value_and_notes_it(tiny_store: Store, tmp_path: Path) -> None:
    lines = [{"kind": "product_model", "code": "TEE", "family_variant": FV, "values": {"name:en_US": "Tee"}},
             _sub("TEE-BLUE", "blue", "TEE"), _sub("TEE-RED", "red", "TEE") | {"values": {}},
             _variant("TEE-BLUE-M", "TEE-BLUE", "m"), _variant("TEE-BLUE-X", "TEE-BLUE", "m") | {"values": {"sku": "X"}}]
    path = tmp_path / "catalog.jsonl"
    counts = _jsonl(tiny_store, path, lines)
    assert (counts.created, counts.rejected, counts.problems) == (5, 0, 2)
    assert tiny_store.get_product("TEE-BLUE-X").parent == "TEE-BLUE"  # taken in as it is
    gaps = _gaps(tiny_store, counts.job_id)
    assert set(gaps) == {("TEE-BLUE-X", "size"), ("model:TEE-RED", "color")}
    x = gaps[("TEE-BLUE-X", "size")]
    assert (x["file"], x["line"], x["source"], x["raw"]["identifier"]) == ("catalog.jsonl", 5, "jsonl", "TEE-BLUE-X")
    assert x["reason"] == ("variant of product model 'TEE-BLUE' has no value for its axis 'size': set size, or detach "
                           "it from the model; the record was taken in without it")
    assert gaps[("model:TEE-RED", "color")]["reason"].startswith(
        "sub-model of product model 'TEE' has no value for its axis 'color': set color")

    again = _jsonl(tiny_store, path, lines)  # still without: still noted, as the latest run's
    assert (again.unchanged, again.problems) == (5, 2)
    assert {e["job_id"] for e in _gaps(tiny_store).values()} == {again.job_id}
    lines[2]["values"] = {"color": "red"}
    lines[4]["values"]["size"] = "s"
    fixed = _jsonl(tiny_store, path, lines)
    assert (fixed.updated, fixed.problems) == (2, 0)
    assert _gaps(tiny_store) == {}  # closed: the records came in with their axis values


# ---------------------------------------------------------------------------------------------- merged records
NO_SIZE = ("variant of product model 'SHIRT-BLUE' has no value for its axis 'size': set size, or detach it from "
           "the model; the record was taken in without it")


def _blue_m(store: Store, source: str = "erp") -> None:
    """SHIRT-BLUE-M (size m) under SHIRT-BLUE, created by `source`: its only claimant."""
    counts = _erp(store, _record("SHIRT-BLUE-M", source, family="shirts", parent="SHIRT-BLUE",
                                 values={"sku": "SHIRT-BLUE-M", "size": "m"}), source=source)
    assert (counts.created, counts.problems) == (1, 0)


def _tee_red(store: Store) -> None:
    """A root model TEE with the sub-model TEE-RED (color red), created by the content team: its only claimant."""
    store.upsert_models([ProductModel(code="TEE", family_variant=FV, values={})])
    _erp(store, ProductModel(code="TEE-RED", family_variant=FV, parent="TEE", values={"color": "red"},
                             source=Provenance(source="content", ref="m", at=AT)), source="content")
    assert store.get_model("TEE-RED").values == {"color": "red"}


def test_a_merged_record_leaving_a_variant_without_its_axis_value_is_taken_and_noted(shirts: Store) -> None:  # noqa: F811
    _blue_m(shirts)
    counts = _erp(shirts, _record("SHIRT-BLUE-M", values={"size": None, "ean": "4006381333931"}),
                  _record("SHIRT-BLUE-N", family="shirts", parent="SHIRT-BLUE", values={"sku": "SHIRT-BLUE-N"}))
    assert (counts.updated, counts.created, counts.rejected, counts.problems) == (1, 1, 0, 2)
    assert shirts.get_product("SHIRT-BLUE-M").values == {"sku": "SHIRT-BLUE-M", "ean": "4006381333931"}
    gaps = _gaps(shirts, counts.job_id)
    assert set(gaps) == {("SHIRT-BLUE-M", "size"), ("SHIRT-BLUE-N", "size")}
    entry = gaps[("SHIRT-BLUE-M", "size")]
    assert (entry["reason"], entry["file"], entry["line"], entry["raw"], entry["source"]) == (
        NO_SIZE, "erp.csv", 2, {"row": 0}, "erp")
    assert gaps[("SHIRT-BLUE-N", "size")]["line"] == 3


def test_the_note_stands_while_the_value_is_missing_and_closes_when_it_comes(shirts: Store) -> None:  # noqa: F811
    _blue_m(shirts)
    _erp(shirts, _record("SHIRT-BLUE-M", values={"size": None}))
    # a record that does not touch the axis: judged by the stored value, still missing
    other = _erp(shirts, _record("SHIRT-BLUE-M", values={"ean": "4006381333931"}))
    assert (other.updated, other.problems) == (1, 1)
    # the same record again is skipped as already merged: the product is as it was, the note stands
    skipped = _erp(shirts, _record("SHIRT-BLUE-M", values={"ean": "4006381333931"}))
    assert (skipped.unchanged, skipped.problems) == (1, 1)
    assert [e["job_id"] for e in _gaps(shirts).values()] == [skipped.job_id]
    fixed = _erp(shirts, _record("SHIRT-BLUE-M", values={"size": "m"}))
    assert (fixed.updated, fixed.problems) == (1, 0)
    assert _gaps(shirts) == {}


def test_a_value_from_another_source_fills_the_axis(shirts: Store) -> None:  # noqa: F811
    """The ERP withdraws its size while the content team's still shows: nothing is missing, nothing noted."""
    _blue_m(shirts)
    both = Precedence(attributes={"size": ["erp", "content"]})
    _erp(shirts, _record("SHIRT-BLUE-M", "content", values={"size": "s"}), source="content", merger=Merger(both))
    counts = _erp(shirts, _record("SHIRT-BLUE-M", values={"size": None}), merger=Merger(both))
    assert (counts.updated, counts.rejected, counts.problems) == (1, 0, 0)
    assert shirts.get_product("SHIRT-BLUE-M").values["size"] == "s"


def test_a_merged_sub_model_without_its_axis_value_is_noted(shirts: Store) -> None:  # noqa: F811
    _tee_red(shirts)
    prov = Provenance(source="content", ref="m", at=AT)
    counts = _erp(shirts, partial_model("TEE-RED", {"color": None}, prov, {}), source="content")
    assert (counts.updated, counts.rejected, counts.problems) == (1, 0, 1)
    assert shirts.get_model("TEE-RED").values == {}
    [(key, entry)] = _gaps(shirts, counts.job_id).items()
    assert key == ("model:TEE-RED", "color")
    assert entry["reason"].startswith("sub-model of product model 'TEE' has no value for its axis 'color': set color")


# ---------------------------------------------------------------------------------------------- quality and gate
def test_quality_finds_a_variant_without_its_own_axis_value(shirts: Store) -> None:  # noqa: F811
    shirts.upsert_products([_whole("SHIRT-RED-X", "SHIRT-RED", None)])
    s = shirts.structure()
    found = assess(shirts, s, "ecommerce", shirts.iter_products(), kinds=["missing_axis"])
    assert [(f.kind, f.attribute, f.dimension, f.code) for f in found["SHIRT-RED-X"]] == [
        ("missing_axis", "size", "consistent", "missing_axis:size")]
    assert found["SHIRT-RED-X"][0].reason == ("variant of product model 'SHIRT-RED' has no value for its axis 'size': "
                                              "set size, or detach it from the model")
    assert found["SHIRT-RED-S"] == []
    every = assess(shirts, s, "ecommerce", shirts.iter_products())  # the full report lists it too
    assert "missing_axis:size" in {f.code for f in every["SHIRT-RED-X"]}


def _gate(store: Store, block_on: list[str]) -> dict[str, list[str]]:
    s = store.structure()
    channel = s.channels["ecommerce"]
    store.put_structure("channel", [channel.model_copy(update={"gate": channel.gate.model_copy(
        update={"min_completeness": 0, "block_on": block_on})})])
    return {p.identifier: reasons for p, reasons in evaluate(store, store.structure(), "ecommerce", store.iter_products())}


def test_a_channel_blocks_on_a_missing_axis_only_when_it_says_so(shirts: Store) -> None:  # noqa: F811
    shirts.upsert_products([_whole("SHIRT-RED-X", "SHIRT-RED", None)])
    assert _gate(shirts, ["missing_axis"]) == {"SHIRT-RED-S": [], "SHIRT-RED-X": ["missing_axis:size"]}
    assert "missing_axis:size" in _gate(shirts, ["consistent"])["SHIRT-RED-X"]  # its dimension
    assert _gate(shirts, ["invalid"]) == {"SHIRT-RED-S": [], "SHIRT-RED-X": []}


# ---------------------------------------------------------------------------------------------- people's edits
def test_an_edit_cannot_empty_an_axis(shirts: Store) -> None:  # noqa: F811
    _blue_m(shirts, "content")
    result = apply_values(shirts, "SHIRT-BLUE-M", {"size": None}, "ana")
    assert result.errors == {"size": (
        "'size' is the axis this variant of product model 'SHIRT-BLUE' is told apart from its siblings by: it cannot "
        "be emptied; set another size, or detach the product from the model")}
    assert shirts.get_product("SHIRT-BLUE-M").values["size"] == "m"
    assert apply_values(shirts, "SHIRT-BLUE-M", {"size": "s"}, "ana").errors == {}  # another size is fine
    _tee_red(shirts)
    model = apply_model_values(shirts, "TEE-RED", {"color": None}, "ana")
    assert set(model.errors) == {"color"} and "sub-model of product model 'TEE'" in model.errors["color"]
    assert shirts.get_model("TEE-RED").values["color"] == "red"


def test_an_edit_may_withdraw_an_axis_claim_another_source_still_fills(shirts: Store) -> None:  # noqa: F811
    """Emptying the content team's size lets the ERP's show again: nothing is left empty, so it is taken."""
    _blue_m(shirts)
    assert apply_values(shirts, "SHIRT-BLUE-M", {"size": "s"}, "ana").errors == {}
    assert shirts.get_product("SHIRT-BLUE-M").values["size"] == "s"
    assert apply_values(shirts, "SHIRT-BLUE-M", {"size": None}, "ana").errors == {}
    assert shirts.get_product("SHIRT-BLUE-M").values["size"] == "m"


def test_an_edit_of_another_value_of_a_variant_without_its_axis_is_taken(shirts: Store) -> None:  # noqa: F811
    shirts.upsert_products([_whole("SHIRT-RED-X", "SHIRT-RED", None)])
    assert apply_values(shirts, "SHIRT-RED-X", {"ean": "4006381333931"}, "ana").errors == {}


def test_the_api_refuses_an_edit_emptying_an_axis(shirts: Store) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    _blue_m(shirts, "content")
    token = create_token(shirts, add_user(shirts, "ed", "correct horse", "editor"))
    answer = TestClient(create_app(shirts)).patch("/api/v1/products/SHIRT-BLUE-M", json={"values": {"size": None}},
                                                   headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "body.values.size" and "cannot be emptied" in error["message"]
    assert shirts.get_product("SHIRT-BLUE-M").values["size"] == "m"


def test_a_new_whole_model_record_is_not_missing_an_axis_of_a_root(tiny_store: Store, tmp_path: Path) -> None:
    """A root model has no axis; a product under no model neither."""
    counts = _jsonl(tiny_store, tmp_path / "c.jsonl", [
        {"kind": "product_model", "code": "TEE", "family_variant": FV, "values": {}},
        {"kind": "product", "identifier": "LOOSE", "family": "shirts", "values": {"sku": "LOOSE"}}])
    assert (counts.created, counts.problems) == (2, 0)
