"""Records are held to their family variant's levels (pim.variant_levels): a variant never stores a value of its
model's level (it would hide the model's), a model never stores one of its variants' level. tests/data/structure:
shirts_color_size keeps name, description and price on the root model, color and picture on the colour
sub-model, size, sku and ean on the variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from importers.content import import_content
from pim.importing import Parsed, run_import
from pim.jsonl import import_jsonl
from pim.merge import Merger, Precedence
from pim.product import Product, ProductModel, Provenance, merged_values, partial_model
from pim.store import Store
from pim.structure import FamilyVariant, VariantLevel

AT = "2026-01-01T00:00:00Z"
ERP_FIRST = Precedence(default=["erp", "content"])


@pytest.fixture
def shirts(tiny_store: Store) -> Store:
    tiny_store.upsert_models([ProductModel(code="SHIRT", family_variant="shirts_color_size",
                                           values={"name:en_US": "Shirt", "price": {"EUR": "19.00"}})])
    tiny_store.upsert_models([ProductModel(code="SHIRT-RED", family_variant="shirts_color_size", parent="SHIRT",
                                           values={"color": "red"})])
    tiny_store.upsert_products([Product(identifier="SHIRT-RED-S", family="shirts", parent="SHIRT-RED",
                                        values={"sku": "SHIRT-RED-S", "size": "s"})])
    return tiny_store


def _erp(store: Store, *records: Product | ProductModel, file: str = "erp.csv",
         precedence: Precedence | None = ERP_FIRST) -> Any:
    """An ERP merge; by default the ERP outranks the fixture's models (stored without a source), so a misplaced
    value of its would have shown on the model: a problem to note."""
    items = [Parsed(r, file, n + 2, raw={"row": n}) for n, r in enumerate(records)]
    return run_import(store, "erp", items, merge=Merger(precedence, create_missing=False))


def _variant(**values: Any) -> Product:
    return Product(identifier="SHIRT-RED-S", values=values, source=Provenance(source="erp", ref="erp.csv", at=AT))


def _level_problems(store: Store, job_id: int | None = None) -> list[dict[str, Any]]:
    return [p for p in store.quarantined(job_id, severity="problem") if "the value was not stored" in p["reason"]]


def test_a_variant_keeps_its_levels_values_and_the_rest_of_the_record(shirts: Store) -> None:
    counts = _erp(shirts, _variant(ean="4006381333931", **{"name:en_US": "Red shirt S", "price": {"EUR": "24.90"}}))
    assert (counts.updated, counts.rejected, counts.problems) == (1, 0, 2)
    variant = shirts.get_product("SHIRT-RED-S")
    assert variant.values == {"sku": "SHIRT-RED-S", "size": "s", "ean": "4006381333931"}
    shown = merged_values(variant, shirts.ancestors(variant))
    assert (shown["name:en_US"], shown["price"]) == ("Shirt", {"EUR": "19.00"})  # the model's, not hidden
    problems = {p["field"]: p for p in _level_problems(shirts, counts.job_id)}
    assert set(problems) == {"name:en_US", "price"}
    assert problems["name:en_US"]["reason"] == (
        "'name' is held by the root product model in family variant 'shirts_color_size' ('SHIRT', the parent of this "
        "product's model 'SHIRT-RED'): set it on the model, or move the attribute to this level in the family variant; "
        "the value was not stored")
    assert (problems["price"]["file"], problems["price"]["line"], problems["price"]["record_key"]) == (
        "erp.csv", 2, "SHIRT-RED-S")
    assert problems["price"]["raw"] == {"row": 0}


def test_a_value_the_model_shows_as_it_is_is_dropped_quietly(shirts: Store) -> None:
    # an ERP restating the model's text, an export repeating it: nothing is lost, nothing to report
    counts = _erp(shirts, _variant(**{"name:en_US": "Shirt", "price": {"EUR": "19"}, "color": "red"}))
    assert (counts.problems, _level_problems(shirts)) == (0, [])
    assert shirts.get_product("SHIRT-RED-S").values == {"sku": "SHIRT-RED-S", "size": "s"}


def test_the_problem_stands_on_an_unchanged_reimport_and_closes_when_the_attribute_moves(shirts: Store) -> None:
    record = _variant(**{"name:en_US": "Red shirt S"})
    first = _erp(shirts, record)
    again = _erp(shirts, _variant(**{"name:en_US": "Red shirt S"}))
    assert again.unchanged == 1 and again.problems == 1
    assert [p["job_id"] for p in _level_problems(shirts)] == [again.job_id]  # the latest run's, still open
    assert first.job_id != again.job_id

    # the catalog decides the name is the variant's own: the same file now stores it and closes the problem
    shirts.put_structure("family_variant", [FamilyVariant(
        code="shirts_color_size", family="shirts",
        levels=[VariantLevel(axes=["color"], attributes=["color", "picture"]),
                VariantLevel(axes=["size"], attributes=["size", "sku", "ean", "name"])])])
    third = _erp(shirts, _variant(**{"name:en_US": "Red shirt S"}))
    assert third.updated == 1 and third.problems == 0
    assert shirts.get_product("SHIRT-RED-S").values["name:en_US"] == "Red shirt S"
    assert _level_problems(shirts) == []


def test_a_source_may_clear_a_stray_value(shirts: Store) -> None:
    """Values stored before the check can still be removed by the source that gave them."""
    with_stray = shirts.get_product("SHIRT-RED-S").model_copy(update={
        "values": {"sku": "SHIRT-RED-S", "size": "s", "name:en_US": "Stray"},
        "provenance": {"name:en_US": Provenance(source="erp", ref="old.csv:2", at=AT)}})
    shirts.upsert_products([with_stray])
    counts = _erp(shirts, _variant(**{"name:en_US": None}))
    assert counts.problems == 0
    assert "name:en_US" not in shirts.get_product("SHIRT-RED-S").values


def test_model_records_are_held_to_their_level(shirts: Store) -> None:
    prov = Provenance(source="erp", ref="m", at=AT)
    sub = partial_model("SHIRT-RED", {"picture": "red.jpg", "name:en_US": "Red"}, prov, {})
    root = partial_model("SHIRT", {"size": "m", "description:en_US@ecommerce": "Cotton"}, prov, {})
    counts = _erp(shirts, sub, root)
    assert shirts.get_model("SHIRT-RED").values == {"color": "red", "picture": "red.jpg"}
    assert shirts.get_model("SHIRT").values["description:en_US@ecommerce"] == "Cotton"
    assert "size" not in shirts.get_model("SHIRT").values
    problems = {(p["record_key"], p["field"]): p["reason"] for p in _level_problems(shirts, counts.job_id)}
    assert set(problems) == {("model:SHIRT-RED", "name:en_US"), ("model:SHIRT", "size")}
    assert problems[("model:SHIRT", "size")] == ("'size' belongs to level 2 of family variant 'shirts_color_size', "
                                                  "below this model: set it on its variants; the value was not stored")


def test_whole_records_of_a_catalog_file_are_held_to_their_levels(tiny_store: Store, tmp_path: Path) -> None:
    lines = [{"kind": "product_model", "code": "TEE", "family_variant": "shirts_color_size",
              "values": {"name:en_US": "Tee"}},
             {"kind": "product_model", "code": "TEE-BLUE", "family_variant": "shirts_color_size", "parent": "TEE",
              "values": {"color": "blue", "name:en_US": "Tee"}},  # the root's value repeated: dropped quietly
             {"kind": "product", "identifier": "TEE-BLUE-M", "family": "shirts", "parent": "TEE-BLUE",
              "values": {"sku": "TEE-BLUE-M", "size": "m", "color": "red"}}]  # not the sub-model's colour
    path = tmp_path / "catalog.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    counts = import_jsonl(path, tiny_store)
    assert (counts.created, counts.rejected, counts.problems) == (3, 0, 1)
    assert tiny_store.get_model("TEE-BLUE").values == {"color": "blue"}
    assert tiny_store.get_product("TEE-BLUE-M").values == {"sku": "TEE-BLUE-M", "size": "m"}
    [problem] = _level_problems(tiny_store, counts.job_id)
    assert (problem["record_key"], problem["field"], problem["line"]) == ("TEE-BLUE-M", "color", 3)
    assert problem["reason"].startswith("'color' is held by the level-1 product model")


def test_content_team_names_on_variants_go_to_the_quarantine(shirts: Store, tmp_path: Path) -> None:
    path = tmp_path / "content.jsonl"
    path.write_text(json.dumps({"sku": "SHIRT-RED-S", "name": {"en_US": "Red tee", "de_DE": "Rotes Shirt"}}) + "\n"
                    + json.dumps({"model": "SHIRT", "name": {"de_DE": "Hemd"}}) + "\n")
    counts = import_content(path, shirts)
    assert (counts.rejected, counts.problems) == (0, 2)
    assert {(p["record_key"], p["field"], p["line"]) for p in _level_problems(shirts, counts.job_id)} == {
        ("SHIRT-RED-S", "name:en_US", 1), ("SHIRT-RED-S", "name:de_DE", 1)}
    assert shirts.get_model("SHIRT").values["name:de_DE"] == "Hemd"
    assert "name:de_DE" not in shirts.get_product("SHIRT-RED-S").values


def test_a_value_the_models_own_outranks_is_held_back_without_a_problem(shirts: Store) -> None:
    """A supplier naming each article of a model the catalog names: on the model its name would lose too (ranked
    level with the model's source: the shown value stays), so there is nothing to set there. Not stored, not a
    problem, counted as `held_by_model` on every run."""
    counts = _erp(shirts, _variant(**{"name:en_US": "Red shirt S (ERP)"}), precedence=None)
    assert (counts.rejected, counts.problems) == (0, 0)
    assert counts.extra.get("held_by_model") == 1 and _level_problems(shirts) == []
    assert "name:en_US" not in shirts.get_product("SHIRT-RED-S").values
    again = _erp(shirts, _variant(**{"name:en_US": "Red shirt S (ERP)"}), precedence=None)
    assert (again.unchanged, again.problems, again.extra.get("held_by_model")) == (1, 0, 1)


def test_a_value_ranked_below_the_models_source_is_held_back(shirts: Store) -> None:
    model = shirts.get_model("SHIRT")
    shirts.upsert_models([model.model_copy(update={"source": Provenance(source="content", ref="c.json", at=AT)})])
    counts = _erp(shirts, _variant(**{"name:en_US": "Red shirt S"}), precedence=Precedence(default=["content", "erp"]))
    assert (counts.problems, counts.extra.get("held_by_model")) == (0, 1)
    # ranked above it, the same value would have shown on the model: a problem, as before
    counts = _erp(shirts, _variant(**{"name:en_US": "Red shirt S"}), precedence=Precedence(default=["erp", "content"]))
    assert (counts.problems, counts.extra.get("held_by_model")) == (1, None)


def test_a_source_contradicting_what_it_set_on_the_model_is_noted_whatever_its_rank(shirts: Store) -> None:
    model = shirts.get_model("SHIRT")
    shirts.upsert_models([model.model_copy(update={"source": Provenance(source="erp", ref="m.csv", at=AT)})])
    counts = _erp(shirts, _variant(**{"name:en_US": "Red shirt S"}), precedence=Precedence(default=["content", "erp"]))
    assert (counts.problems, counts.extra.get("held_by_model")) == (1, None)
    [problem] = _level_problems(shirts, counts.job_id)
    assert problem["field"] == "name:en_US"


def test_the_held_back_count_survives_a_batch_merged_again(shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch overtaken by another writer is prepared again from its records, which the level check already
    emptied of the held values: the job still counts them (found running two imports at once)."""
    prepare = Merger.prepare
    raced: list[int] = []

    def racing(self: Merger, st: Store, products: list[Any], models: Any = None, **kw: Any) -> Any:
        plan = prepare(self, st, products, models, **kw)
        if self.source == "erp" and not raced:
            raced.append(1)
            monkeypatch.setattr(Merger, "prepare", prepare)
            edit = Product(identifier="SHIRT-RED-S", values={"ean": "4006381333931"},
                           source=Provenance(source="content", ref="web", at=AT))
            run_import(st, "content", [Parsed(edit, "web", 1)], merge=Merger(create_missing=False))
            monkeypatch.setattr(Merger, "prepare", racing)
        return plan

    monkeypatch.setattr(Merger, "prepare", racing)
    counts = _erp(shirts, _variant(**{"name:en_US": "Red shirt S (ERP)"}), precedence=None)
    assert raced and counts.extra.get("held_by_model") == 1 and counts.problems == 0
