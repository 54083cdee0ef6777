"""Round 34 review mends: the attribute code `associations` is reserved (its localizable keys would read as the
conflict log's `associations:<TYPE>`), a variant taking its family from its model is counted and listed under
that family by the to-do and its CSV, and a product model's value a family change left behind is cleared by a
PATCH to null, as a product's is, with the export's warning naming the model route."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from importers.akeneo_structure import read_structure
from pim.completeness import report
from pim.jsonl import LeftOut, export_jsonl
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import STORED, Attribute
from pim.structure_files import StructureErrors, load_structure_files
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from pim.web.attribute_form import new_attribute
from pim.web.editing import apply_model_values
from pim.web.tables import HISTORY
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values, seed_products
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


# ---------------------------------------------------------------------------------------------- 1. reserved code
def test_an_attribute_coded_associations_is_refused_saying_what_to_rename_it_to() -> None:
    with pytest.raises(ValidationError) as refused:
        Attribute(code="associations", type="text", localizable=True)
    said = str(refused.value)
    assert "'associations' is reserved" in said and "rename the attribute, e.g. to associations_text" in said
    assert Attribute(code="associations_text", type="text").code == "associations_text"  # only the exact code


def test_a_structure_file_declaring_associations_is_refused(tmp_path: Path) -> None:
    (tmp_path / "attributes.yaml").write_text("attributes:\n  - {code: sku, type: identifier}\n"
                                              "  - {code: associations, type: text, localizable: true}\n")
    with pytest.raises(StructureErrors) as refused:
        load_structure_files(tmp_path)
    assert "attributes.1.code" in refused.value.describe() and "is reserved" in refused.value.describe()


@pytest.mark.backends("sqlite")
def test_the_attribute_form_refuses_associations(store: Store) -> None:
    seed_products(store)
    attr, problems = new_attribute(store.structure(), {"code": "associations", "type": "text", "group": "general"})
    assert attr is None and len(problems) == 1 and "code:" in problems[0] and "is reserved" in problems[0]


def test_an_akeneo_export_declaring_associations_has_that_row_rejected(tmp_path: Path) -> None:
    (tmp_path / "attributes.csv").write_text("code;type;group;localizable;scopable;label-en_US\n"
                                             "sku;pim_catalog_identifier;other;0;0;SKU\n"
                                             "associations;pim_catalog_text;other;1;0;Links\n")
    read = read_structure(tmp_path)
    assert [a.code for a in read.items["attribute"]] == ["sku"]  # type: ignore[attr-defined]
    (rejected,) = read.rejects
    assert rejected.line == 3 and "is reserved" in rejected.reason


@pytest.mark.backends("sqlite")
def test_an_attribute_stored_before_the_rule_still_reads(store: Store) -> None:
    """Guard (passes before the change too): a catalog holding one still opens, so it can be moved."""
    seed_products(store)
    store.put_structure("attribute", [Attribute.model_validate({"code": "associations", "type": "text"},
                                                               context=STORED)])
    assert "associations" in store.structure().attributes


# ---------------------------------------------------------------------------------------------- 2. to-do
@pytest.fixture
def variants(store: Store) -> Store:
    """The seeded catalog with a model m2 lacking descriptions and two variants without a family of their own
    (they take shoes from m2): v-on enabled, v-off disabled."""
    seed_products(store)
    store.upsert_models([ProductModel(code="m2", family_variant="shoes_color", family="shoes", source=ERP, values={
        k: v for k, v in complete_values().items() if k not in ("ean", "sku") and not k.startswith("description")})])
    store.upsert_products([Product(identifier=sku, parent="m2", source=ERP, enabled=sku == "v-on",
                                   values={"sku": sku, "color": color, "ean": "96385074"})
                           for sku, color in (("v-on", "blue"), ("v-off", "red"))])
    return store


def test_a_disabled_variant_taking_its_family_from_its_model_is_counted_disabled(variants: Store) -> None:
    todo = {t.attribute: t for t in report(variants, "ecommerce", "en_US").todo}
    assert (todo["description"].products, todo["description"].disabled) == (2, 1)  # before: (3, 0)


def test_the_todo_csv_lists_a_variant_taking_its_family_from_its_model(variants: Store) -> None:
    add_user(variants, "ed", "correct horse", "editor")
    client = TestClient(create_app(variants))
    login(client)
    got = client.get("/dashboard/todo.csv?channel=ecommerce&locale=en_US&family=shoes&attribute=description")
    assert got.status_code == 200, got.text
    rows = list(csv.reader(io.StringIO(got.text)))
    assert rows == [["sku", "model", "description:en_US@ecommerce"], ["no-description", "", ""], ["", "m2", ""]]
    # before: no m2 row (v-on has no family of its own); v-off stays out (disabled)


# ---------------------------------------------------------------------------------------------- 3. model strays
@pytest.fixture
def stray(store: Store) -> Store:
    """The seeded catalog with `mpn` taken out of the family: runner_model and the products keep theirs."""
    seed_products(store)
    shoes = store.structure().families["shoes"]
    store.put_structure("family", [shoes.model_copy(update={"attributes": [a for a in FAMILY_ATTRS if a != "mpn"]})])
    return store


def test_a_model_value_outside_its_family_is_cleared_with_another_edit_and_a_history_row(stray: Store) -> None:
    done = apply_model_values(stray, "runner_model", {"mpn": None, "name:en_US": "Trail"}, "ed")
    assert done.errors == {} and sorted(done.changed) == ["mpn", "name:en_US"]  # before: mpn refused, nothing written
    model = stray.get_model("runner_model")
    assert model is not None and "mpn" not in model.values and "mpn" not in model.provenance
    assert model.values["name:en_US"] == "Trail"
    with stray.engine.connect() as conn:
        rows = conn.execute(select(HISTORY.c.value_key, HISTORY.c.old, HISTORY.c.new)
                            .where(HISTORY.c.product == "model:runner_model").order_by(HISTORY.c.value_key)).all()
    assert [tuple(r) for r in rows] == [("mpn", "RN-1", None), ("name:en_US", "Runner", "Trail")]


@pytest.mark.backends("sqlite")
def test_the_model_patch_clears_a_value_outside_the_family(stray: Store) -> None:
    user = add_user(stray, "ed", "correct horse", "editor")
    client = TestClient(create_app(stray))
    got = client.patch("/api/v1/models/runner_model", json={"values": {"mpn": None}},
                       headers={"Authorization": f"Bearer {create_token(stray, user)}"})
    assert got.status_code == 200, got.text  # before: 422, "'mpn' is not an attribute of family 'shoes'"
    assert got.json()["changed"] == ["mpn"] and "mpn" not in got.json()["model"]["values"]


@pytest.mark.backends("sqlite")
def test_the_export_warning_names_the_route_for_each_kind_of_record(stray: Store) -> None:
    both = LeftOut(stray.structure())
    export_jsonl(stray, io.BytesIO(), left_out=both)
    said = both.warning() or ""
    assert "PATCH /api/v1/products/{sku} for a product; PATCH /api/v1/models/{code} for a product model" in said
    models_only = LeftOut(stray.structure())
    models_only.kept(stray.get_model("runner_model"), "shoes")  # type: ignore[arg-type]
    said = models_only.warning() or ""
    assert "PATCH /api/v1/models/{code}" in said and "/products/" not in said  # before: the product route only
    products_only = LeftOut(stray.structure())
    products_only.kept(stray.get_product("complete"), "shoes")  # type: ignore[arg-type]
    assert "(PATCH /api/v1/products/{sku})" in (products_only.warning() or "")
