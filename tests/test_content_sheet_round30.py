"""The content sheet's round trip when the sheet and the catalog part ways (pim.content_sheet, importers.content
keep_edits): an edited cell whose value changed since the download is not written over the newer value but
noted as a problem of its row; a cell a variant shows from its model is marked in the XLSX, and an edit of it
goes to the model when every variant row of the model says the same, else one problem names the rows."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from importers.content import import_content
from pim import content_sheet, job_queue
from pim.product import Product, ProductModel
from pim.store import Store
from pim.web.editing import apply_values
from tests.channel_data import ERP
from tests.test_content_sheet import edit, export, read_sheet, write_back
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

DRILL_COLUMNS = ["name:en_US,name:de_DE,description:en_US@ecommerce"]
SHIRT_COLUMNS = ["name:en_US,name:de_DE,size"]


@pytest.fixture
def drills(tiny_store: Store) -> Store:
    """Two drills whose values the ERP holds."""
    tiny_store.upsert_products([
        Product(identifier=f"d{n}", family="drills", source=ERP, values={
            "sku": f"d{n}", "name:en_US": f"Drill {n}", "name:de_DE": f"Bohrer {n}",
            "description:en_US@ecommerce": f"A drill.\nModel {n}."}) for n in (1, 2)])
    return tiny_store


@pytest.fixture
def shirts(tiny_store: Store) -> Store:
    """Two root models whose names their variants inherit (through a color sub-model): tee (three variants
    under tee-red and tee-blue) and polo (one)."""
    models = [ProductModel(code="tee", family_variant="shirts_color_size", family="shirts", source=ERP,
                           values={"name:en_US": "Tee", "name:de_DE": "Hemd"}),
              ProductModel(code="polo", family_variant="shirts_color_size", family="shirts", source=ERP,
                           values={"name:en_US": "Polo", "name:de_DE": "Polohemd"})]
    models += [ProductModel(code=f"{root}-{color}", family_variant="shirts_color_size", family="shirts", parent=root,
                            source=ERP, values={"color": color})
               for root, color in (("tee", "red"), ("tee", "blue"), ("polo", "red"))]
    tiny_store.upsert_models(models)
    tiny_store.upsert_products([Product(identifier=sku, family="shirts", parent=sku.rsplit("-", 1)[0], source=ERP,
                                        values={"sku": sku, "size": sku[-1]})
                                for sku in ("tee-red-s", "tee-red-m", "tee-blue-s", "polo-red-s")])
    return tiny_store


def product(store: Store, sku: str) -> Product:
    found = store.get_product(sku)
    assert found is not None
    return found


def model_value(store: Store, code: str, key: str) -> tuple[Any, str | None]:
    model = store.get_model(code)
    assert model is not None
    prov = model.provenance_of(key)
    return model.values.get(key), prov.source if prov else None


def rows_of(path: Path) -> dict[str, dict[str, Any]]:
    rows = read_sheet(path)
    return {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}


# ---------------------------------------------------------------- a value changed since the download
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_edit_of_a_value_changed_since_the_download_is_a_problem_not_a_write(drills: Store, tmp_path: Path,
                                                                                 kind: str) -> None:
    out = tmp_path / f"drills.{kind}"
    export(drills, out, columns=DRILL_COLUMNS)  # Anna downloads
    ben = apply_values(drills, "d1", {"name:en_US": "Drill 1 by Ben"}, "ben")  # Ben, on the product page
    assert not ben.errors
    edit(out, "d1", "name:en_US", "Drill 1 by Anna")  # Anna edits the same cell from the older text
    edit(out, "d1", "name:de_DE", "Bohrer eins")  # … and one nobody changed
    edit(out, "d2", "name:en_US", "Drill two")

    counts = import_content(out, drills)
    assert (counts.updated, counts.rejected, counts.problems) == (2, 0, 1)
    d1 = product(drills, "d1")
    assert d1.values["name:en_US"] == "Drill 1 by Ben"  # the newer value stays
    assert d1.values["name:de_DE"] == "Bohrer eins"  # the rest of the row is taken in
    assert product(drills, "d2").values["name:en_US"] == "Drill two"
    [problem] = drills.quarantined(counts.job_id, severity="problem")
    assert (problem["record_key"], problem["field"]) == ("d1", "name:en_US")
    reason = problem["reason"]
    assert reason.startswith("not stored: the value changed since the sheet was downloaded")
    assert "download the sheet again and re-apply the edit, or edit it on the product page" in reason
    assert '"Drill 1 by Ben"' in reason and '"Drill 1 by Anna"' in reason


def test_an_emptied_cell_whose_value_changed_since_is_not_cleared(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=DRILL_COLUMNS)
    assert not apply_values(drills, "d2", {"name:de_DE": "Bohrer 2 neu"}, "ben").errors
    edit(out, "d2", "name:de_DE", "")
    counts = import_content(out, drills)
    assert product(drills, "d2").values["name:de_DE"] == "Bohrer 2 neu"
    [problem] = drills.quarantined(counts.job_id, severity="problem")
    assert problem["field"] == "name:de_DE" and "the sheet says nothing" in problem["reason"]


def test_a_sheet_of_one_row_still_tells_an_edit_of_a_changed_value(drills: Store, tmp_path: Path) -> None:
    """No other row proves the column exported: the row's version names a cell its row does not account for."""
    out = tmp_path / "drills.csv"
    export(drills, out, columns=DRILL_COLUMNS)
    write_back(out, [r for r in read_sheet(out) if r[0] != "d2"])
    assert not apply_values(drills, "d1", {"description:en_US@ecommerce": "Newer."}, "ben").errors
    edit(out, "d1", "description:en_US@ecommerce", "Anna's text.")
    counts = import_content(out, drills)
    assert product(drills, "d1").values["description:en_US@ecommerce"] == "Newer."
    [problem] = drills.quarantined(counts.job_id, severity="problem")
    assert problem["field"] == "description:en_US@ecommerce"


def test_an_edit_in_a_column_the_editor_added_is_taken_in(drills: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): no version names the added column, so its edit is no stale one."""
    out = tmp_path / "drills.csv"
    export(drills, out, columns=["name:en_US"])
    rows = read_sheet(out)
    rows[0].insert(2, "name:de_DE")
    for row in rows[1:]:
        row.insert(2, "Bohrer neu")
    write_back(out, rows)
    counts = import_content(out, drills)
    assert (counts.updated, counts.problems) == (2, 0)
    assert product(drills, "d1").values["name:de_DE"] == "Bohrer neu"


# ---------------------------------------------------------------- inherited cells
def test_the_xlsx_marks_the_cells_a_variant_shows_from_its_model(shirts: Store, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "shirts.xlsx"
    export(shirts, out, family="shirts", columns=SHIRT_COLUMNS)
    ws = load_workbook(out).worksheets[0]
    header = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "tee-red-s")
    name, size = row[header.index("name:en_US")], row[header.index("size")]
    assert name.value == "Tee" and name.comment is not None
    assert "Inherited from product model 'tee'" in name.comment.text
    assert name.fill.fgColor.rgb == content_sheet.INHERITED_FILL  # grey
    assert size.value == "s" and size.comment is None and size.fill.fgColor.rgb != content_sheet.INHERITED_FILL
    csv_out = tmp_path / "shirts.csv"  # the CSV holds the same texts (and has no place for a mark)
    export(shirts, csv_out, family="shirts", columns=SHIRT_COLUMNS)
    assert [r[:-1] for r in read_sheet(csv_out)] == [[c.value or "" for c in r][:-1] for r in ws.iter_rows()]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_same_edit_in_every_variant_row_goes_to_the_model(shirts: Store, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"shirts.{kind}"
    export(shirts, out, family="shirts", columns=SHIRT_COLUMNS)
    for sku in ("tee-red-s", "tee-red-m", "tee-blue-s"):
        edit(out, sku, "name:en_US", "Tee 2025")
    edit(out, "polo-red-s", "name:de_DE", "Polo-Hemd")  # the only variant of polo in the sheet
    counts = import_content(out, shirts)
    assert (counts.rejected, counts.problems) == (0, 0)
    assert model_value(shirts, "tee", "name:en_US") == ("Tee 2025", "content")
    assert model_value(shirts, "tee", "name:de_DE") == ("Hemd", "erp")
    assert model_value(shirts, "polo", "name:de_DE") == ("Polo-Hemd", "content")
    for sku in ("tee-red-s", "tee-red-m", "tee-blue-s", "polo-red-s"):
        assert set(product(shirts, sku).values) == {"sku", "size"}  # still inherited
    again = import_content(out, shirts)  # the same sheet again: the model already says so
    assert (again.rejected, again.problems) == (0, 0)


def test_differing_edits_of_a_model_s_value_are_one_problem_naming_the_rows(shirts: Store, tmp_path: Path) -> None:
    out = tmp_path / "shirts.csv"
    export(shirts, out, family="shirts", columns=SHIRT_COLUMNS)
    edit(out, "tee-red-s", "name:en_US", "Red tee")
    edit(out, "tee-red-m", "name:en_US", "Red tee M")  # tee-blue-s left as it is
    edit(out, "tee-red-s", "name:de_DE", "Hemd 2025")  # and one value each row of it edits alike …
    edit(out, "tee-red-m", "name:de_DE", "Hemd 2025")
    edit(out, "tee-blue-s", "name:de_DE", "Hemd 2025")
    edit(out, "polo-red-s", "name:en_US", "Polo 2025")  # … and another model's
    counts = import_content(out, shirts)
    assert (counts.rejected, counts.problems) == (0, 1)
    [problem] = shirts.quarantined(counts.job_id, severity="problem")
    assert (problem["record_key"], problem["field"]) == ("model:tee", "name:en_US")
    reason = problem["reason"]
    assert "inherited from model 'tee'" in reason and "give them all the same text to change the model" in reason
    assert "(tee-red-s) says \"Red tee\"" in reason and "(tee-red-m) says \"Red tee M\"" in reason
    assert "(tee-blue-s) keeps the model's text" in reason
    assert model_value(shirts, "tee", "name:en_US") == ("Tee", "erp")  # left as it is
    assert model_value(shirts, "tee", "name:de_DE") == ("Hemd 2025", "content")  # the rest of the model taken in
    assert model_value(shirts, "polo", "name:en_US") == ("Polo 2025", "content")
    assert set(product(shirts, "tee-red-s").values) == {"sku", "size"}


def test_an_edit_in_a_sheet_made_before_the_model_changed_is_a_problem(shirts: Store, tmp_path: Path) -> None:
    out = tmp_path / "shirts.csv"
    export(shirts, out, family="shirts", columns=SHIRT_COLUMNS)
    from pim.web.editing import apply_model_values

    assert not apply_model_values(shirts, "polo", {"name:en_US": "Polo by Ben"}, "ben").errors
    edit(out, "polo-red-s", "name:en_US", "Polo by Anna")
    counts = import_content(out, shirts)
    assert model_value(shirts, "polo", "name:en_US")[0] == "Polo by Ben"
    [problem] = shirts.quarantined(counts.job_id, severity="problem")
    assert (problem["record_key"], problem["field"]) == ("polo-red-s", "name:en_US")
    assert "changed since the sheet was downloaded" in problem["reason"]


def test_the_grid_s_xlsx_marks_inherited_cells_and_its_edit_reaches_the_model(client: TestClient,  # noqa: F811
                                                                               store: Store) -> None:
    from openpyxl import load_workbook

    token = login(client)
    body = client.get("/products.xlsx?family=shoes&locale=en_US").content
    wb = load_workbook(io.BytesIO(body))
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    red = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "runner-red")
    name = red[header.index("name:en_US")]
    assert name.value == "Runner" and name.comment is not None and "'runner_model'" in name.comment.text
    assert red[header.index("ean")].comment is None  # its own value
    name.value = "Runner 2025"
    edited = io.BytesIO()
    wb.save(edited)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    posted = client.post("/imports", data={"csrf_token": token},
                         files={"file": ("products.xlsx", edited.getvalue(), xlsx)})
    assert posted.status_code == 200
    [ran] = job_queue.work(store, once=True).jobs
    counts = store.job(ran["id"])["counts"]  # type: ignore[index]
    assert (counts["rejected"], counts["problems"]) == (0, 0)
    assert model_value(store, "runner_model", "name:en_US") == ("Runner 2025", "content")
    assert "name:en_US" not in product(store, "runner-red").values


def test_one_variant_row_edited_of_several_changes_nothing_and_says_so(shirts: Store, tmp_path: Path) -> None:
    """The only edit of a model's value is one row of its three: the others still say the model's text."""
    out = tmp_path / "shirts.csv"
    export(shirts, out, family="shirts", columns=SHIRT_COLUMNS)
    edit(out, "tee-blue-s", "name:en_US", "Blue tee")
    counts = import_content(out, shirts)
    assert (counts.rejected, counts.problems) == (0, 1)
    [problem] = shirts.quarantined(counts.job_id, severity="problem")
    assert (problem["record_key"], problem["field"]) == ("model:tee", "name:en_US")
    assert "rows 2, 3 (tee-red-s, tee-red-m) keep the model's text" in problem["reason"]
    assert model_value(shirts, "tee", "name:en_US") == ("Tee", "erp")
    assert "name:en_US" not in product(shirts, "tee-blue-s").values
