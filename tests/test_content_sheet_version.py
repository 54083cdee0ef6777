"""The content sheet's version column (`_sheet`, pim.content_sheet): each exported cell's digest, so the import
tells an untouched cell from an edited one. An untouched cell claims nothing even when another source (or
another editor) changed the value since the export; an edited cell is claimed; a sheet or row without the
column, or a column that was not exported, is compared with what the product shows, as before. Also: an
XLSX cell longer than Excel holds is refused (CSV has none), formula escaping round-trips exactly, and
`pim export sheet` does not import the web package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from importers.content import ContentProfile, import_content
from pim import content_sheet
from pim.errors import InputError
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP
from tests.test_content_sheet import edit, export, read_sheet, write_back
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

COLUMNS = ["name:en_US,name:de_DE,description:en_US@ecommerce,color"]


@pytest.fixture
def drills(tiny_store: Store) -> Store:
    """Two drills whose values the ERP holds."""
    tiny_store.upsert_products([
        Product(identifier=f"d{n}", family="drills", source=ERP, values={
            "sku": f"d{n}", "name:en_US": f"Drill {n}", "name:de_DE": f"Bohrer {n}",
            "description:en_US@ecommerce": f"A drill.\nModel {n}.", "color": "red"}) for n in (1, 2)])
    return tiny_store


def send(store: Store, tmp_path: Path, source: str, records: list[dict[str, Any]]) -> None:
    """Another source's import (JSON: no sheet comparison), after the sheet was exported."""
    path = tmp_path / f"{source}.json"
    path.write_bytes(orjson.dumps(records))
    counts = import_content(path, store, ContentProfile(source=source))
    assert counts.rejected == 0


def shows(store: Store, sku: str, key: str) -> tuple[Any, str | None]:
    p = store.get_product(sku)
    assert p is not None
    prov = p.provenance_of(key)
    return p.values.get(key), prov.source if prov else None


def drop_column(path: Path, column: str) -> None:
    rows = read_sheet(path)
    at = rows[0].index(column)
    write_back(path, [r[:at] + r[at + 1:] for r in rows])


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_untouched_sheet_keeps_what_changed_since_the_export(drills: Store, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"drills.{kind}"
    export(drills, out, columns=COLUMNS)
    assert read_sheet(out)[0][-1] == "_sheet"
    send(drills, tmp_path, "erp", [{"sku": "d1", "values": {"name:en_US": "Drill 1 Pro"}}])  # the ERP, later
    send(drills, tmp_path, "content", [{"sku": "d2", "values": {"name:de_DE": "Bohrer 2 neu"}}])  # another editor

    back = import_content(out, drills)
    assert (back.read, back.updated, back.unchanged, back.rejected) == (2, 0, 2, 0)
    assert shows(drills, "d1", "name:en_US") == ("Drill 1 Pro", "erp")
    assert shows(drills, "d2", "name:de_DE") == ("Bohrer 2 neu", "content")

    drop_column(out, "_sheet")  # the same sheet without its version (an old export, a deleted column): as before
    old = import_content(out, drills)
    assert (old.updated, old.unchanged) == (2, 0)
    assert shows(drills, "d1", "name:en_US") == ("Drill 1", "content")  # the old text claimed back over the newer
    assert shows(drills, "d2", "name:de_DE") == ("Bohrer 2", "content")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_only_the_edited_cell_is_claimed(drills: Store, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"drills.{kind}"
    export(drills, out, columns=COLUMNS)
    send(drills, tmp_path, "erp", [{"sku": "d1", "values": {"name:en_US": "Drill 1 Pro", "color": "blue"}}])
    edit(out, "d1", "name:de_DE", "Bohrer eins")
    edit(out, "d2", "name:en_US", "Drill 2")  # typed over with the same text: still untouched
    edit(out, "d2", "color", "red")
    edit(out, "d1", "color", "blue")  # edited to what the product shows now: no claim either way

    counts = import_content(out, drills)
    assert (counts.updated, counts.unchanged, counts.rejected) == (1, 1, 0)
    assert shows(drills, "d1", "name:de_DE") == ("Bohrer eins", "content")
    assert shows(drills, "d1", "name:en_US") == ("Drill 1 Pro", "erp")
    assert shows(drills, "d1", "color") == ("blue", "erp")
    assert shows(drills, "d1", "description:en_US@ecommerce") == ("A drill.\nModel 1.", "erp")


def test_a_column_the_editor_added_is_compared_with_what_the_product_shows(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=["name:en_US"])
    rows = read_sheet(out)
    rows[0].insert(2, "color")
    rows[0].insert(3, "waterproof")
    for row in rows[1:]:
        row.insert(2, "red" if row[0] == "d1" else "blue")  # d1: what it shows; d2: a change
        row.insert(3, "")  # nothing shown, nothing said
    write_back(out, rows)
    counts = import_content(out, drills)
    assert (counts.updated, counts.unchanged) == (1, 1)
    assert shows(drills, "d1", "color") == ("red", "erp") and shows(drills, "d2", "color") == ("blue", "content")
    assert "waterproof" not in drills.get_product("d2").values  # type: ignore[union-attr]


def test_claim_unchanged_claims_what_the_product_shows_but_never_the_older_text(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    send(drills, tmp_path, "erp", [{"sku": "d1", "values": {"name:en_US": "Drill 1 Pro"}}])
    import_content(out, drills, ContentProfile(claim_unchanged=True))
    assert shows(drills, "d1", "name:en_US") == ("Drill 1 Pro", "erp")  # untouched, and no longer what it shows
    assert shows(drills, "d1", "name:de_DE") == ("Bohrer 1", "content")  # untouched and still shown: claimed
    assert shows(drills, "d2", "name:en_US") == ("Drill 2", "content")


def test_a_version_vouches_only_for_its_own_row_and_text(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.csv"
    export(drills, out, columns=COLUMNS)
    rows = read_sheet(out)
    header, d1, d2 = rows[0], rows[1], rows[2]
    assert (d1[0], d2[0]) == ("d1", "d2")
    version = content_sheet.read_version(d1[-1])
    assert version is not None and len(version) == len(header) - 2  # one 64-bit digest per value column
    at = header.index("description:en_US@ecommerce")
    assert content_sheet.untouched(version, "d1", header[at], "A drill.\r\nModel 1.  ")  # as a spreadsheet saves it
    assert not content_sheet.untouched(version, "d2", header[at], "A drill.\nModel 1.")  # another row's digest
    assert not content_sheet.untouched(version, "d1", "name:de_DE", "A drill.\nModel 1.")  # another column's
    assert not content_sheet.untouched(version, "d1", header[at], "A drill.")
    for broken in ("", "v1.", "v1.abc", "v2." + d1[-1][3:], "=SUM(A1)", d1[-1][:-3], None):
        assert content_sheet.read_version(broken) is None, broken

    send(drills, tmp_path, "erp", [{"sku": "d2", "values": {"name:en_US": "Drill 2 Pro"}}])
    d2[-1] = d1[-1]  # d1's version pasted over d2's: d2's cells are compared with what it shows
    d1[-1] = "garbled"
    write_back(out, rows)
    counts = import_content(out, drills)
    assert (counts.updated, counts.unchanged, counts.rejected) == (1, 1, 0)
    assert shows(drills, "d2", "name:en_US") == ("Drill 2", "content")


def test_the_version_column_is_hidden_in_xlsx_and_last_in_csv(drills: Store, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    export(drills, tmp_path / "d.xlsx", columns=COLUMNS)
    wb = load_workbook(tmp_path / "d.xlsx")
    ws = wb.worksheets[0]
    assert ws["F1"].value == "_sheet" and ws.column_dimensions["F"].hidden
    assert not ws.column_dimensions["E"].hidden and ws["F2"].data_type == "s" and ws["F2"].value.startswith("v1.")
    export(drills, tmp_path / "d.csv", columns=COLUMNS)
    assert [r[-1] for r in read_sheet(tmp_path / "d.csv")] == ["_sheet", ws["F2"].value, ws["F3"].value]  # same text
    assert not content_sheet.value_column("_sheet")  # the importer's own column, never a value key


# ---------------------------------------------------------------- Excel's cell limit
def test_an_xlsx_cell_longer_than_excel_holds_is_refused_and_csv_carries_it(drills: Store, tmp_path: Path) -> None:
    long = "é" * (content_sheet.XLSX_CELL_MAX - 5) + " 🙂🙂🙂"  # fits in characters, not in Excel's UTF-16 units
    assert len(long) <= content_sheet.XLSX_CELL_MAX
    send(drills, tmp_path, "erp", [{"sku": "d2", "values": {"description:en_US@ecommerce": long}}])
    out = tmp_path / "drills.xlsx"
    with pytest.raises(InputError) as exc:
        export(drills, out, columns=COLUMNS)
    told = exc.value.in_one_line()
    assert "product 'd2'" in told and "'description:en_US@ecommerce'" in told and "32769 characters" in told
    assert ".csv" in told
    assert not out.exists() and not out.with_name(out.name + ".part").exists()

    fits = "x" * content_sheet.XLSX_CELL_MAX  # exactly the limit: written whole
    send(drills, tmp_path, "erp", [{"sku": "d2", "values": {"description:en_US@ecommerce": fits}}])
    export(drills, out, columns=COLUMNS)
    assert read_sheet(out)[2][3] == fits

    send(drills, tmp_path, "erp", [{"sku": "d2", "values": {"description:en_US@ecommerce": long * 2}}])
    csv_out = tmp_path / "drills.csv"
    export(drills, csv_out, columns=COLUMNS)
    assert read_sheet(csv_out)[2][3] == long * 2
    assert import_content(csv_out, drills).unchanged == 2
    edit(csv_out, "d2", "description:en_US@ecommerce", long * 2 + " More.")
    assert import_content(csv_out, drills).updated == 1
    assert shows(drills, "d2", "description:en_US@ecommerce") == (long * 2 + " More.", "content")


def test_the_grid_download_names_the_long_cell_and_csv_still_works(client: Any, store: Store) -> None:  # noqa: F811
    from html import unescape

    login(client, "vi")
    runner = store.get_product("runner-red")
    assert runner is not None
    runner.values["description:en_US@ecommerce"] = "y" * (content_sheet.XLSX_CELL_MAX + 1)
    store.upsert_products([runner])
    got = client.get("/products.xlsx?family=shoes&locale=en_US", follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == "/products?family=shoes&locale=en_US"
    grid = unescape(client.get(got.headers["location"]).text)
    assert "Not downloaded: product 'runner-red': column 'description:en_US@ecommerce' holds 32768 characters" in grid
    assert client.get("/products.csv?family=shoes&locale=en_US").status_code == 200


# ---------------------------------------------------------------- formulas
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_formula_looking_texts_are_escaped_and_come_back_exactly(drills: Store, tmp_path: Path, kind: str) -> None:
    texts = {"d1": "=HYPERLINK(\"http://x\",\"y\")", "d2": "'=already quoted"}
    drills.upsert_products([Product(identifier=sku, family="drills", source=ERP,
                                    values={"sku": sku, "name:en_US": text, "name:de_DE": "@home", "color": "red",
                                            "description:en_US@ecommerce": "-minus"}) for sku, text in texts.items()])
    out = tmp_path / f"f.{kind}"
    export(drills, out, columns=COLUMNS)
    rows = {r[0]: r for r in read_sheet(out)[1:]}
    assert rows["d1"][1:4] == ["'=HYPERLINK(\"http://x\",\"y\")", "'@home", "'-minus"]
    assert rows["d2"][1] == "''=already quoted"
    if kind == "xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(out).worksheets[0]
        assert all(c.data_type == "s" for row in ws.iter_rows() for c in row)  # text, never a formula cell
    import_content(out, drills, ContentProfile(claim_unchanged=True))  # every cell claimed, as the file reads
    for sku, text in texts.items():
        assert shows(drills, sku, "name:en_US") == (text, "content")
        assert shows(drills, sku, "name:de_DE") == ("@home", "content")
        assert shows(drills, sku, "description:en_US@ecommerce") == ("-minus", "content")


# ---------------------------------------------------------------- core, not web
def test_the_cli_sheet_export_does_not_import_the_web_package(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    code = ("import sys\nfrom pathlib import Path\nfrom pim.cli import exports\n"
            f"exports.sheet(out=Path({str(out)!r}), family='drills', category=None, channel=None, locale=[], "
            "columns=None, profile=None, as_json=True)\n"
            "print(sorted(m for m in sys.modules if m == 'pim.web' or m.startswith('pim.web.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert [r[0] for r in read_sheet(out)[1:]] == ["d1", "d2"]
