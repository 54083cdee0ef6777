"""The content team's spreadsheet round trip (pim.content_sheet, importers.content): products out as CSV or
XLSX in the content import's own format, edited, and back in. Unchanged, the sheet changes nothing (the
values other sources hold stay theirs); an edited cell changes exactly that value, as source `content`; an
emptied cell withdraws the content team's value; a formula-looking text comes back as the same text."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from importers.content import ContentProfile, import_content
from pim import content_sheet
from pim.cli import _mount, app
from pim.errors import InputError
from pim.product import Product
from pim.store import Store
from pim.grid_query import GridFilter, grid_pages
from tests.channel_data import ERP
from tests.conftest import ICECAT

_mount()
runner = CliRunner()


def export(store: Store, out: Path, **filters: Any) -> content_sheet.SheetScope:
    s = store.structure()
    columns = filters.pop("columns", [])
    chosen = content_sheet.scope(s, columns=columns, catalog_families=content_sheet.catalog_families(store), **filters)
    f = GridFilter(family=chosen.family, category=chosen.category, channel=chosen.channel)
    content_sheet.write_sheet(out, chosen.header, content_sheet.sheet_rows(store, s, grid_pages(store, f, s), chosen.keys))
    return chosen


def export_in(store: Store, out: Path, columns: list[str], fmt: content_sheet.SheetFormat) -> list[list[str]]:
    """The whole catalog's sheet written as CSV in a profile's format (`fmt`), and its rows read back."""
    s = store.structure()
    chosen = content_sheet.scope(s, columns=columns, fmt=fmt)
    content_sheet.write_sheet(out, chosen.header, content_sheet.sheet_rows(
        store, s, grid_pages(store, GridFilter(), s), chosen.keys), fmt)
    return list(csv.reader(io.StringIO(out.read_bytes().decode(fmt.codec), newline=""), delimiter=fmt.delimiter))


def read_sheet(path: Path) -> list[list[str]]:
    """The cells as they are in the file (still escaped)."""
    if path.suffix == ".csv":
        return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    rows = [["" if c is None else c for c in row] for row in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    return rows


def write_back(path: Path, rows: list[list[str]]) -> None:
    """The sheet as a spreadsheet saves it after an edit."""
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(rows)
        return
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(path)


def edit(path: Path, sku: str, column: str, text: str) -> None:
    rows = read_sheet(path)
    at = rows[0].index(column)
    next(r for r in rows if r[0] == sku)[at] = text
    write_back(path, rows)


def snapshot(store: Store, identifiers: list[str]) -> dict[str, tuple[dict[str, Any], dict[str, str | None]]]:
    out = {}
    for ident in identifiers:
        p = store.get_product(ident)
        assert p is not None
        out[ident] = (dict(p.values), {k: (p.provenance_of(k).source if p.provenance_of(k) else None) for k in p.values})
    return out


@pytest.fixture
def icecat(store: Store) -> Store:
    from importers.akeneo import import_akeneo

    import_akeneo(ICECAT, store)
    return store


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_icecat_round_trip_changes_exactly_the_edited_cells(icecat: Store, tmp_path: Path, kind: str) -> None:
    store = icecat
    import_content(_json(tmp_path, [{"sku": "1111111171", "values": {"name": "=SUM(1)"}}]), store)  # a formula-looking name
    out = tmp_path / f"accessories.{kind}"
    chosen = export(store, out, family="accessories", locales=["en_US", "de_DE"])
    assert chosen.channel == "ecommerce"
    assert chosen.keys[:3] == ["name", "description:en_US@ecommerce", "description:de_DE@ecommerce"]
    rows = read_sheet(out)
    assert rows[0] == ["sku", *chosen.keys, "_sheet"] == chosen.header
    skus = [r[0] for r in rows[1:]]
    assert len(skus) == len(set(skus)) > 5 and "1111111171" in skus
    bag = next(r for r in rows if r[0] == "1111111171")
    assert bag[1] == "'=SUM(1)"  # escaped in the file: a spreadsheet shows it as text
    before = snapshot(store, skus)

    same = import_content(out, store)
    assert (same.read, same.updated, same.unchanged, same.rejected) == (len(skus), 0, len(skus), 0)
    assert snapshot(store, skus) == before  # the akeneo values stay akeneo's
    assert store.get_product("1111111171").values["name"] == "=SUM(1)"  # type: ignore[union-attr]

    sku = skus[3]
    edit(out, sku, "description:de_DE@ecommerce", "Neu geschrieben.")
    one = import_content(out, store)
    assert (one.updated, one.unchanged, one.rejected) == (1, len(skus) - 1, 0)
    after = snapshot(store, skus)
    values, sources = after[sku]
    assert values["description:de_DE@ecommerce"] == "Neu geschrieben." and sources["description:de_DE@ecommerce"] == "content"
    assert {k: v for k, v in values.items() if k != "description:de_DE@ecommerce"} == \
        {k: v for k, v in before[sku][0].items() if k != "description:de_DE@ecommerce"}
    assert {k: v for k, v in after.items() if k != sku} == {k: v for k, v in before.items() if k != sku}
    assert store.get_product("1111111171").values["name"] == "=SUM(1)"  # type: ignore[union-attr]

    export(store, out, family="accessories", locales=["en_US", "de_DE"])  # a fresh sheet: the old one's version says
    edit(out, sku, "description:de_DE@ecommerce", "")  # "" was this cell's exported text; now the value is withdrawn
    cleared = import_content(out, store)
    assert (cleared.updated, cleared.rejected) == (1, 0)
    assert snapshot(store, skus) == before  # nobody else claimed it: gone again, as before the edit


def test_claim_unchanged_is_what_the_round_trip_avoids(icecat: Store, tmp_path: Path) -> None:
    """Without dropping unchanged cells, importing the untouched sheet makes the content team the source of
    every value it repeats: a later ERP or Akeneo change to those values would be outranked."""
    out = tmp_path / "a.csv"
    export(icecat, out, family="accessories", locales=["en_US"])
    taken = import_content(out, icecat, ContentProfile(claim_unchanged=True))
    assert taken.updated > 0
    assert icecat.get_product("1111111171").provenance_of("name").source == "content"  # type: ignore[union-attr]


def test_an_emptied_cell_gives_the_value_back_to_the_source_below(icecat: Store, tmp_path: Path) -> None:
    out = tmp_path / "a.xlsx"
    export(icecat, out, family="accessories", columns=["name"])
    edit(out, "1111111171", "name", "Shoulder bag")
    import_content(out, icecat)
    assert icecat.get_product("1111111171").values["name"] == "Shoulder bag"  # type: ignore[union-attr]
    export(icecat, out, family="accessories", columns=["name"])
    edit(out, "1111111171", "name", "")
    assert import_content(out, icecat).updated == 1
    bag = icecat.get_product("1111111171")
    assert bag.values["name"] == "Bag" and bag.provenance_of("name").source == "akeneo"  # type: ignore[union-attr]


def test_every_cell_type_reads_back_as_its_value(tiny_store: Store, tmp_path: Path) -> None:
    store = tiny_store
    store.upsert_products([Product(identifier="d1", family="drills", values={
        "sku": "d1", "name:en_US": "  Drill =x ", "name:de_DE": "'=quoted", "color": "red", "material": ["plastic", "steel"],
        "waterproof": False, "release_date@ecommerce": "2026-03-01", "wattage": 1200, "picture": "media/d1.jpg",
        "description:en_US@ecommerce": "Line one\nLine two, \"quoted\"\t+tab", "ean": "-5"})])
    columns = ["name:en_US,name:de_DE,color,material,waterproof,release_date@ecommerce,wattage,picture",
               "description:en_US@ecommerce,ean"]
    for kind in ("csv", "xlsx"):
        out = tmp_path / f"d.{kind}"
        export(store, out, columns=columns)
        row = read_sheet(out)[1]
        assert row[:-1] == ["d1", "  Drill =x ", "''=quoted", "red", "plastic,steel", "0", "2026-03-01", "1200",
                            "media/d1.jpg", "Line one\nLine two, \"quoted\"\t+tab", "-5"]  # a text's own quote kept
        assert row[-1].startswith("v1.")
        assert import_content(out, store).unchanged == 1
    before = store.get_product("d1")
    edit(out, "d1", "material", "steel")
    edit(out, "d1", "wattage", "1500")
    edit(out, "d1", "waterproof", "yes")
    assert import_content(out, store).updated == 1
    after = store.get_product("d1")
    assert (after.values["material"], after.values["wattage"], after.values["waterproof"]) == (["steel"], 1500, True)  # type: ignore[union-attr]
    changed = {k for k in after.values if after.values[k] != before.values.get(k)}  # type: ignore[union-attr]
    assert changed == {"material", "wattage", "waterproof"}


def test_a_number_the_spreadsheet_retyped_is_still_the_same_value(tiny_store: Store, tmp_path: Path) -> None:
    tiny_store.upsert_products([Product(identifier="d1", family="drills", source=ERP, values={"sku": "d1", "wattage": 1200})])
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["sku", "wattage", "ean"])
    wb.active.append(["d1", 1200.0, 4006381333931])  # Excel stores what looks like a number as one
    wb.save(tmp_path / "d.xlsx")
    counts = import_content(tmp_path / "d.xlsx", tiny_store)
    assert (counts.updated, counts.rejected) == (1, 0)
    d1 = tiny_store.get_product("d1")
    assert d1.values["ean"] == "4006381333931" and d1.provenance_of("wattage").source == "erp"  # type: ignore[union-attr]


@pytest.mark.parametrize("columns, message", [
    ("sku", "names the product already"), ("name", "is localizable"), ("nope:en_US", "unknown attribute"),
])
def test_columns_a_cell_cannot_carry_are_refused(tiny_store: Store, columns: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        content_sheet.scope(tiny_store.structure(), columns=[columns])


def test_the_default_columns_follow_the_family_channel_and_locales(tiny_store: Store) -> None:
    s = tiny_store.structure()
    assert content_sheet.scope(s, family="drills").keys == [
        "name:en_US", "name:de_DE", "description:en_US@ecommerce", "description:de_DE@ecommerce", "ean"]
    assert content_sheet.scope(s, family="drills", channel="print").keys == ["name:de_DE", "description:de_DE@print", "ean"]
    assert content_sheet.scope(s, family="shirts", locales=["de_DE"]).keys == ["name:de_DE", "description:de_DE@ecommerce", "ean"]
    for wrong, field in ((dict(family="nope"), "family"), (dict(channel="nope"), "channel"), (dict(category="nope"), "category"),
                         (dict(channel="print", locales=["en_US"]), "locale")):
        with pytest.raises(InputError) as exc:
            content_sheet.scope(s, **wrong)  # type: ignore[arg-type]
        assert exc.value.field == field


def test_xlsx_rejections_name_the_sheet_row(tiny_store: Store, tmp_path: Path) -> None:
    tiny_store.upsert_products([Product(identifier="d1", family="drills", values={"sku": "d1"})])
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in (["sku", "name:en_US", None], ["d1", "Drill", None], [None, None, None], ["NOPE", "x", None],
                ["d1", "Drill", "stray"]):
        ws.append(row)
    wb.save(tmp_path / "c.xlsx")
    counts = import_content(tmp_path / "c.xlsx", tiny_store)
    assert (counts.read, counts.updated, counts.rejected) == (3, 1, 2)
    entries = {e["line"]: e["reason"] for e in tiny_store.quarantined(counts.job_id, open_only=False)}
    assert sorted(entries) == [4, 5] and entries[5] == "the row has cells beyond the header's 2 columns"
    (tmp_path / "bad.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    with pytest.raises(InputError, match="not a readable XLSX workbook"):
        import_content(tmp_path / "bad.xlsx", tiny_store)
    wb = Workbook()
    wb.active.append(["name:en_US"])
    wb.save(tmp_path / "nosku.xlsx")
    with pytest.raises(InputError, match="no 'sku' column") as exc:
        import_content(tmp_path / "nosku.xlsx", tiny_store)
    assert exc.value.line == 1
    Workbook().save(tmp_path / "empty.xlsx")  # no header row at all: the same refusal, not an empty import
    with pytest.raises(InputError, match="no 'sku' column"):
        import_content(tmp_path / "empty.xlsx", tiny_store)


def test_variants_show_and_keep_their_inherited_values(store: Store, tmp_path: Path) -> None:
    from tests.channel_data import seed_products

    seed_products(store)
    out = tmp_path / "shoes.csv"
    export(store, out, family="shoes", locales=["en_US"])
    rows = read_sheet(out)
    red = dict(zip(rows[0], next(r for r in rows if r[0] == "runner-red")))
    assert red["name:en_US"] == "Runner" and red["ean"] == "96385074"  # the name from runner_model, the EAN its own
    assert import_content(out, store).updated == 0
    assert "name:en_US" not in store.get_product("runner-red").values  # type: ignore[union-attr]  still inherited
    edit(out, "runner-red", "name:en_US", "Red runner")  # the model's attribute (pim.variant_levels)
    write_back(out, [r[:-1] for r in read_sheet(out)])  # without its version (a hand-made sheet): the variant's edit
    counts = import_content(out, store)
    assert "name:en_US" not in store.get_product("runner-red").values  # type: ignore[union-attr]  still inherited
    assert store.get_model("runner_model").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    [problem] = store.quarantined(counts.job_id, severity="problem")
    assert (problem["record_key"], problem["field"]) == ("runner-red", "name:en_US")
    assert "'runner_model' is this product's model" in problem["reason"]


def test_a_variant_shows_what_its_parent_and_grandparent_give(tiny_store: Store, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from pim.product import ProductModel

    tiny_store.upsert_models([
        ProductModel(code="shirt", family_variant="shirts_color_size", family="shirts", values={"name:en_US": "Shirt"}),
        ProductModel(code="shirt-red", family_variant="shirts_color_size", family="shirts", parent="shirt",
                     values={"color": "red", "name:de_DE": "Rotes Hemd"})])
    tiny_store.upsert_products([Product(identifier=f"shirt-red-{size}", family="shirts", parent="shirt-red",
                                        values={"sku": f"shirt-red-{size}", "size": size}) for size in ("s", "m")])
    monkeypatch.setattr(content_sheet, "_MODEL_CACHE", 1)  # the cache emptied between pages: each still sees both
    s, out = tiny_store.structure(), tmp_path / "shirts.csv"
    chosen = content_sheet.scope(s, family="shirts", columns=["name:en_US,name:de_DE,color,size"])
    pages = grid_pages(tiny_store, GridFilter(family="shirts"), s, limit=1)
    content_sheet.write_sheet(out, chosen.header, content_sheet.sheet_rows(tiny_store, s, pages, chosen.keys))
    assert [r[:-1] for r in read_sheet(out)[1:]] == [["shirt-red-s", "Shirt", "Rotes Hemd", "red", "s"],
                                                     ["shirt-red-m", "Shirt", "Rotes Hemd", "red", "m"]]
    assert import_content(out, tiny_store).unchanged == 2
    assert tiny_store.get_product("shirt-red-m").values == {"sku": "shirt-red-m", "size": "m"}  # type: ignore[union-attr]


def test_the_cli_writes_the_sheet_with_its_filters(icecat: Store, tmp_path: Path) -> None:
    out = tmp_path / "cams.xlsx"
    result = runner.invoke(app, ["export", "sheet", "--out", str(out), "--family", "webcams", "--channel", "print",
                                 "--locale", "de_DE,en_US", "--columns", "name,description:de_DE@print", "--json"])
    assert result.exit_code == 0, result.output
    told = json.loads(result.output)
    assert (told["channel"], told["locales"], told["columns"]) == ("print", ["de_DE", "en_US"], ["name", "description:de_DE@print"])
    rows = read_sheet(out)
    assert rows[0] == ["sku", "name", "description:de_DE@print", "_sheet"] and len(rows) - 1 == told["products"] > 0
    webcams = {p.identifier for p in icecat.iter_products(families=["webcams"])}
    assert {r[0] for r in rows[1:]} == webcams
    assert not out.with_name(out.name + ".part").exists()
    shown = runner.invoke(app, ["export", "sheet", "--out", str(tmp_path / "all.csv"), "--category", "webcams"])
    assert shown.exit_code == 0 and "pim import content" in shown.output
    refused = runner.invoke(app, ["export", "sheet", "--out", str(tmp_path / "x.ods")])
    assert isinstance(refused.exception, InputError) and "neither .csv nor .xlsx" in str(refused.exception)
    assert not (tmp_path / "x.ods").exists()


def _json(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "set.json"
    path.write_bytes(orjson.dumps(records))
    return path
