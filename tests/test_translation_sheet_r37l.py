"""Translating into a locale a product model has no value in yet, through the content sheet (round 37, found
opening a new market): the model holds the cell by its family variant's levels, so the sheet marks it (grey, a
note naming the model) even while it is empty, and the same translation in the rows of all the model's
variants is set on the model. A variant row's clear of a value the model holds says where the value is and how
to clear it; a column renamed in a downloaded sheet is one problem naming the column it was exported as."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from importers.content import import_content
from pim.product import Product, ProductModel
from pim.store import Store
from tests.channel_data import ERP
from tests.test_content_sheet import edit, export, read_sheet, write_back
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

COLUMNS = ["name:en_US,name:de_DE,size"]
TEE = ("tee-red-s", "tee-red-m", "tee-blue-s")


@pytest.fixture
def tees(tiny_store: Store) -> Store:
    """A root model named in English only (German is the new locale), three variants under two colour
    sub-models, and a polo model with one variant."""
    models = [ProductModel(code=code, family_variant="shirts_color_size", family="shirts", source=ERP,
                           values={"name:en_US": name}) for code, name in (("tee", "Tee"), ("polo", "Polo"))]
    models += [ProductModel(code=f"{root}-{color}", family_variant="shirts_color_size", family="shirts", parent=root,
                            source=ERP, values={"color": color})
               for root, color in (("tee", "red"), ("tee", "blue"), ("polo", "red"))]
    tiny_store.upsert_models(models)
    tiny_store.upsert_products([Product(identifier=sku, family="shirts", parent=sku.rsplit("-", 1)[0], source=ERP,
                                        values={"sku": sku, "size": sku[-1]}) for sku in (*TEE, "polo-red-s")])
    return tiny_store


def model_values(store: Store, code: str) -> dict[str, Any]:
    model = store.get_model(code)
    assert model is not None
    return dict(model.values)


def own_values(store: Store, sku: str) -> set[str]:
    product = store.get_product(sku)
    assert product is not None
    return set(product.values)


def problems(store: Store, job_id: int) -> list[dict[str, Any]]:
    return store.quarantined(job_id, severity="problem")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_translation_in_every_variant_row_is_set_on_a_model_without_that_locale(tees: Store, tmp_path: Path,
                                                                                  kind: str) -> None:
    out = tmp_path / f"tees.{kind}"
    export(tees, out, family="shirts", columns=COLUMNS)
    for sku in TEE:
        edit(out, sku, "name:de_DE", "T-Shirt")
    counts = import_content(out, tees)
    assert (counts.rejected, counts.problems) == (0, 0)
    assert model_values(tees, "tee")["name:de_DE"] == "T-Shirt"
    assert "name:de_DE" not in model_values(tees, "polo")
    for sku in TEE:
        assert own_values(tees, sku) == {"sku", "size"}  # the variants inherit it
    again = import_content(out, tees)
    assert (again.rejected, again.problems) == (0, 0)


def test_the_xlsx_marks_an_empty_cell_the_model_holds_in_every_locale(tees: Store, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "tees.xlsx"
    export(tees, out, family="shirts", columns=COLUMNS)
    ws = load_workbook(out).worksheets[0]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        model = "polo" if row[0].value == "polo-red-s" else "tee"
        german, size = row[header.index("name:de_DE")], row[header.index("size")]
        assert german.value in (None, "") and german.comment is not None
        assert f"product model '{model}'" in german.comment.text and "no value here yet" in german.comment.text
        assert row[header.index("name:en_US")].comment is not None
        assert size.comment is None  # the variant's own level


def test_a_translation_in_some_of_a_models_rows_is_one_problem_naming_the_model(tees: Store, tmp_path: Path) -> None:
    out = tmp_path / "tees.xlsx"
    export(tees, out, family="shirts", columns=COLUMNS)
    edit(out, "tee-red-s", "name:de_DE", "T-Shirt")
    edit(out, "tee-red-m", "name:de_DE", "T-Shirt")  # tee-blue-s not translated
    edit(out, "polo-red-s", "name:de_DE", "Polohemd")  # polo's only row
    counts = import_content(out, tees)
    [problem] = problems(tees, counts.job_id)
    assert (problem["record_key"], problem["field"]) == ("model:tee", "name:de_DE")
    reason = problem["reason"]
    assert "model 'tee'" in reason and "'model' column" in reason and "(tee-blue-s) keeps the model's text" in reason
    assert "move the attribute" not in reason
    assert "name:de_DE" not in model_values(tees, "tee")
    assert model_values(tees, "polo")["name:de_DE"] == "Polohemd"
    for sku in TEE:
        assert own_values(tees, sku) == {"sku", "size"}


def test_a_json_variant_record_translating_a_model_value_names_the_model_and_the_model_field(
        tees: Store, tmp_path: Path) -> None:
    path = tmp_path / "it.jsonl"
    path.write_text(json.dumps({"sku": "tee-red-s", "name": {"de_DE": "T-Shirt"}}) + "\n")
    counts = import_content(path, tees)
    [problem] = problems(tees, counts.job_id)
    assert (problem["record_key"], problem["field"]) == ("tee-red-s", "name:de_DE")
    assert "set it on model 'tee'" in problem["reason"] and "'model' column" in problem["reason"]
    assert "move the attribute" not in problem["reason"]
    assert "name:de_DE" not in model_values(tees, "tee") and own_values(tees, "tee-red-s") == {"sku", "size"}


def wrong_german(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "m0.csv"
    path.write_text("model,name:de_DE\ntee,Falsches Hemd\n")
    assert import_content(path, store).problems == 0
    assert model_values(store, "tee")["name:de_DE"] == "Falsches Hemd"


@pytest.mark.parametrize("clear", [None, ""])
def test_a_variant_records_clear_of_its_models_value_says_where_it_is(tees: Store, tmp_path: Path, clear: Any) -> None:
    wrong_german(tees, tmp_path)
    path = tmp_path / "clr.jsonl"
    path.write_text(json.dumps({"sku": "tee-red-s", "name": {"de_DE": clear}}) + "\n")
    counts = import_content(path, tees)
    [problem] = problems(tees, counts.job_id)
    assert (problem["record_key"], problem["field"]) == ("tee-red-s", "name:de_DE")
    reason = problem["reason"]
    assert reason.startswith("not cleared:") and "product model 'tee'" in reason and "'model'" in reason
    assert model_values(tees, "tee")["name:de_DE"] == "Falsches Hemd"
    # as the problem says: the model's row clears it
    fix = tmp_path / "fix.jsonl"
    fix.write_text(json.dumps({"model": "tee", "name": {"de_DE": None}}) + "\n")
    assert import_content(fix, tees).problems == 0
    assert "name:de_DE" not in model_values(tees, "tee")


def test_emptying_a_models_value_in_every_variant_row_of_the_sheet_clears_it(tees: Store, tmp_path: Path) -> None:
    wrong_german(tees, tmp_path)
    out = tmp_path / "tees.xlsx"
    export(tees, out, family="shirts", columns=COLUMNS)
    for sku in TEE:
        edit(out, sku, "name:de_DE", "")
    counts = import_content(out, tees)
    assert (counts.rejected, counts.problems) == (0, 0)
    assert "name:de_DE" not in model_values(tees, "tee")


def test_a_hand_made_csv_emptying_a_models_value_is_a_problem_per_row(tees: Store, tmp_path: Path) -> None:
    wrong_german(tees, tmp_path)
    path = tmp_path / "clr3.csv"
    path.write_text("sku,name:de_DE\n" + "".join(f"{sku},\n" for sku in TEE))
    counts = import_content(path, tees)
    found = problems(tees, counts.job_id)
    assert sorted(p["record_key"] for p in found) == sorted(TEE)
    assert all("not cleared" in p["reason"] and "'tee'" in p["reason"] for p in found)
    assert model_values(tees, "tee")["name:de_DE"] == "Falsches Hemd"


@pytest.mark.parametrize(("columns", "renamed"), [("name:en_US,name:de_DE", "description:de_DE@ecommerce"),
                                                  ("name:de_DE", "name:en_US")])
def test_a_renamed_column_is_one_problem_naming_the_column_it_was_exported_as(drill_store: Store, tmp_path: Path,
                                                                                 columns: str, renamed: str) -> None:
    out = tmp_path / "drills.xlsx"
    export(drill_store, out, columns=[columns])
    rows = read_sheet(out)
    assert sum(1 for r in rows[1:] if r[rows[0].index("name:de_DE")]) >= 2
    rows[0][rows[0].index("name:de_DE")] = renamed  # the header typed over
    write_back(out, rows)
    before = {sku: drill_store.get_product(sku).values for sku in ("d1", "d2", "d3")}  # type: ignore[union-attr]
    counts = import_content(out, drill_store)
    [problem] = problems(drill_store, counts.job_id)
    assert problem["field"] == renamed
    assert "exported as 'name:de_DE'" in problem["reason"]
    after = {sku: drill_store.get_product(sku).values for sku in ("d1", "d2", "d3")}  # type: ignore[union-attr]
    assert after == before


@pytest.fixture
def drill_store(tiny_store: Store) -> Store:
    """Three drills named in both locales by the ERP."""
    tiny_store.upsert_products([
        Product(identifier=f"d{n}", family="drills", source=ERP, values={
            "sku": f"d{n}", "name:en_US": f"Drill {n}", "name:de_DE": f"Bohrer {n}"}) for n in (1, 2, 3)])
    return tiny_store


def test_the_api_refusing_a_variants_model_value_names_the_models_route(role_tokens: tuple[Any, dict[str, Any]]
                                                                         ) -> None:
    api, tokens = role_tokens
    resp = api.patch("/api/v1/products/runner-red", headers=tokens["editor"],
                        json={"values": {"name:en_US": "Red runner"}})
    assert resp.status_code == 422
    assert "PATCH /api/v1/models/runner_model" in resp.text


def test_a_header_with_the_locale_written_another_way_suggests_the_column_the_import_reads(tees: Store,
                                                                                         tmp_path: Path) -> None:
    from pim.errors import InputError

    path = tmp_path / "case.csv"
    path.write_text("sku,Name:DE_de\ntee-red-s,T-Shirt\n")
    with pytest.raises(InputError) as refused:
        import_content(path, tees)
    assert "did you mean 'name:de_DE'?" in str(refused.value)


def test_the_grids_xlsx_marks_an_empty_cell_the_model_holds(client: Any, store: Store) -> None:  # noqa: F811
    import io

    from openpyxl import load_workbook

    model = store.get_model("runner_model")
    assert model is not None
    store.upsert_models([model.model_copy(update={"values": {k: v for k, v in model.values.items()
                                                             if k != "name:de_DE"}})])  # German not written yet
    login(client)
    ws = load_workbook(io.BytesIO(client.get("/products.xlsx?family=shoes&locale=de_DE").content)).worksheets[0]
    header = [c.value for c in ws[1]]
    red = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "runner-red")
    german = red[header.index("name:de_DE")]
    assert german.value in (None, "") and german.comment is not None
    assert "'runner_model'" in german.comment.text and "no value here yet" in german.comment.text
