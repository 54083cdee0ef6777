"""The content sheet in the format of the team's content profile (pim.content_sheet.SheetFormat): `pim export
sheet --profile`, and the grid's download with PIM_HOME/content.profile.yaml, write the identifier column the
profile names, its CSV delimiter and encoding, so the profile's own import reads the sheet back: unchanged it
claims nothing, an edited cell lands. A cell the encoding cannot carry, or a formula-looking one the profile
would not unescape, is refused with product and column, never written differently."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from importers.content import ContentProfile, import_content
from pim import content_sheet, job_queue
from pim.cli import _mount, app
from pim.errors import InputError
from pim.product import Product
from pim.store import Store
from tests.channel_data import ERP
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

_mount()
runner = CliRunner()
GERMAN = {"sku_field": "article", "delimiter": ";", "encoding": "cp1252"}


@pytest.fixture
def drills(tiny_store: Store) -> Store:
    """Two drills whose German names need cp1252 (or UTF-8), held by the ERP."""
    tiny_store.upsert_products([
        Product(identifier=f"d{n}", family="drills", source=ERP, values={
            "sku": f"d{n}", "name:en_US": f"Drill {n}", "name:de_DE": f"Bohrer {n} für Holz, „groß“",
            "description:en_US@ecommerce": f"A drill; model {n}.\nTwo lines.", "color": "red",
            "material": ["plastic", "steel"]}) for n in (1, 2)])
    return tiny_store


def profile_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "content.profile.yaml"
    path.write_text(yaml.safe_dump(fields), encoding="utf-8")
    return path


def cli_export(out: Path, profile: Path | None, *more: str) -> Any:
    args = ["export", "sheet", "--out", str(out), "--family", "drills", "--columns",
            "name:en_US,name:de_DE,description:en_US@ecommerce,color,material", *more]
    return runner.invoke(app, args + (["--profile", str(profile)] if profile else []))


def read_rows(path: Path, p: ContentProfile) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(p.encoding), newline=""), delimiter=p.delimiter))


def write_rows(path: Path, p: ContentProfile, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, delimiter=p.delimiter).writerows(rows)
    path.write_bytes(out.getvalue().encode(p.encoding))


def set_cell(rows: list[list[str]], sku: str, column: str, text: str) -> None:
    next(r for r in rows if r[0] == sku)[rows[0].index(column)] = text


def test_a_german_excel_profile_round_trips(drills: Store, tmp_path: Path) -> None:
    prof_path = profile_file(tmp_path, **GERMAN)
    profile = ContentProfile(**GERMAN)
    out = tmp_path / "drills.csv"
    result = cli_export(out, prof_path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["profile"] == str(prof_path)
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and "für".encode("cp1252") in raw  # cp1252: no BOM, ü as one byte
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = read_rows(out, profile)
    assert rows[0] == ["article", "name:en_US", "name:de_DE", "description:en_US@ecommerce", "color", "material", "_sheet"]
    assert rows[1][:6] == ["d1", "Drill 1", "Bohrer 1 für Holz, „groß“", "A drill; model 1.\nTwo lines.", "red",
                           "plastic,steel"]  # a multi-select's options by commas, as the import splits them

    same = import_content(out, drills, profile)
    assert (same.read, same.updated, same.unchanged, same.rejected) == (2, 0, 2, 0)
    assert drills.get_product("d1").provenance_of("name:de_DE").source == "erp"  # type: ignore[union-attr]

    set_cell(rows, "d2", "name:de_DE", "Schlagbohrer 2 – ölfest")
    set_cell(rows, "d1", "material", "steel")
    write_rows(out, profile, rows)
    edited = import_content(out, drills, profile)
    assert (edited.updated, edited.unchanged, edited.rejected) == (2, 0, 0)
    d1, d2 = drills.get_product("d1"), drills.get_product("d2")
    assert d2.values["name:de_DE"] == "Schlagbohrer 2 – ölfest" and d2.provenance_of("name:de_DE").source == "content"  # type: ignore[union-attr]
    assert d1.values["material"] == ["steel"] and d1.provenance_of("name:de_DE").source == "erp"  # type: ignore[union-attr]

    shown = cli_export(out, prof_path)
    assert shown.exit_code == 0 and f"--profile{prof_path}`" in "".join(shown.output.split())  # the import to run


def test_the_default_profile_cannot_read_a_profile_sheet_and_the_profile_cannot_read_the_default_one(
        drills: Store, tmp_path: Path) -> None:
    """Why the export follows the profile: each reading of the other's sheet fails."""
    prof = profile_file(tmp_path, **GERMAN)
    german, plain = tmp_path / "german.csv", tmp_path / "plain.csv"
    assert cli_export(german, prof).exit_code == 0 and cli_export(plain, None).exit_code == 0
    with pytest.raises(InputError, match="the file is not utf-8"):
        import_content(german, drills)
    profile_file(tmp_path, **{**GERMAN, "encoding": "utf-8"})
    assert cli_export(german, prof).exit_code == 0
    with pytest.raises(InputError, match="no 'sku' column"):
        import_content(german, drills)
    with pytest.raises(InputError, match="no 'article' column"):
        import_content(plain, drills, ContentProfile(**GERMAN))


@pytest.mark.parametrize("encoding, starts", [("utf-8-sig", b"\xef\xbb\xbfarticle"), ("utf-16", b"\xff\xfea\x00"),
                                              ("utf-8", b"\xef\xbb\xbfarticle"), ("latin-1", b"article")])
def test_each_encoding_writes_its_own_start_once(drills: Store, tmp_path: Path, encoding: str, starts: bytes) -> None:
    fields = {"sku_field": "article", "encoding": encoding, "delimiter": "\t"}
    out = tmp_path / "drills.csv"
    assert cli_export(out, profile_file(tmp_path, **fields), "--columns", "name:en_US,color").exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(starts) and raw.count(starts[:3]) == 1
    assert read_rows(out, ContentProfile(**fields))[0][0].lstrip("\ufeff") == "article"
    counts = import_content(out, drills, ContentProfile(**fields))
    assert (counts.read, counts.unchanged, counts.rejected) == (2, 2, 0)


def test_xlsx_takes_the_identifier_column_from_the_profile(drills: Store, tmp_path: Path) -> None:
    out = tmp_path / "drills.xlsx"
    assert cli_export(out, profile_file(tmp_path, **GERMAN)).exit_code == 0
    from openpyxl import load_workbook

    wb = load_workbook(out)
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]][:2] == ["article", "name:en_US"]
    assert import_content(out, drills, ContentProfile(**GERMAN)).unchanged == 2
    ws.cell(row=2, column=3, value="Bohrer eins")
    wb.save(out)
    assert import_content(out, drills, ContentProfile(**GERMAN)).updated == 1
    assert drills.get_product("d1").values["name:de_DE"] == "Bohrer eins"  # type: ignore[union-attr]


def test_a_cell_the_encoding_cannot_carry_is_refused_never_replaced(drills: Store, tmp_path: Path) -> None:
    drills.upsert_products([Product(identifier="d2", family="drills", source=ERP,
                                    values={"sku": "d2", "name:en_US": "Drill 2", "name:de_DE": "Дрель 2"})])
    out = tmp_path / "drills.csv"
    result = cli_export(out, profile_file(tmp_path, **GERMAN))
    assert isinstance(result.exception, InputError)
    message = result.exception.in_one_line()
    assert "product 'd2': column 'name:de_DE' holds 'Д' (U+0414), which cp1252 cannot carry" in message
    assert "encoding: utf-8-sig" in message
    assert not out.exists() and not out.with_name(out.name + ".part").exists()
    fine = tmp_path / "fine.xlsx"  # XLSX has no encoding: the same profile writes it
    assert cli_export(fine, profile_file(tmp_path, **GERMAN)).exit_code == 0 and fine.exists()


def test_without_formula_escapes_a_formula_looking_cell_is_refused(drills: Store, tmp_path: Path) -> None:
    prof = profile_file(tmp_path, formula_escaped=False)
    out = tmp_path / "drills.csv"
    assert cli_export(out, prof).exit_code == 0  # nothing to escape: written as the profile reads it
    assert import_content(out, drills, ContentProfile(formula_escaped=False)).unchanged == 2
    drills.upsert_products([Product(identifier="d1", family="drills", source=ERP,
                                    values={"sku": "d1", "name:en_US": "=1+1"})])
    for kind in ("csv", "xlsx"):
        result = cli_export(tmp_path / f"formula.{kind}", prof)
        assert isinstance(result.exception, InputError)
        assert "product 'd1': column 'name:en_US' starts like a formula" in str(result.exception)
        assert "formula_escaped: true" in (result.exception.hint or "")
        assert not (tmp_path / f"formula.{kind}").exists()


def test_the_profile_columns_are_no_value_columns(tiny_store: Store) -> None:
    """A profile whose identifier (or model) column is named like a value key: the key is left out, and
    refused when asked for, since the import would read that column as the product's name."""
    s = tiny_store.structure()
    fmt = content_sheet.SheetFormat(sku_column="ean", model_column="color")
    assert "ean" in content_sheet.scope(s, family="drills").keys
    chosen = content_sheet.scope(s, family="drills", fmt=fmt)
    assert "ean" not in chosen.keys and chosen.header[0] == "ean"
    for column in ("ean", "color"):
        with pytest.raises(InputError, match=f"reads a '{column}' column as its own field"):
            content_sheet.scope(s, columns=[column], fmt=fmt)
    with pytest.raises(InputError, match="the 'ean' column names the product already"):
        content_sheet.scope(s, columns=["sku"], fmt=fmt)


def test_the_fields_mapping_is_json_only_so_the_sheet_keeps_value_keys(drills: Store, tmp_path: Path) -> None:
    """`fields` maps JSON fields to attributes; a CSV column is a value key as is, whatever `fields` says, so
    the sheet of a profile with its own `fields` is the same and reads back the same."""
    fields = {"sku_field": "article", "fields": {"titel": "name", "name": "description"}}
    out = tmp_path / "drills.csv"
    assert cli_export(out, profile_file(tmp_path, **fields)).exit_code == 0
    profile = ContentProfile(**fields)
    rows = read_rows(out, profile)
    assert rows[0][1:3] == ["name:en_US", "name:de_DE"]
    assert import_content(out, drills, profile).unchanged == 2
    set_cell(rows, "d1", "name:en_US", "Drill one")
    write_rows(out, profile, rows)
    assert import_content(out, drills, profile).updated == 1
    d1 = drills.get_product("d1")
    assert d1.values["name:en_US"] == "Drill one" and d1.values["description:en_US@ecommerce"].startswith("A drill")  # type: ignore[union-attr]


def test_a_profile_no_csv_can_be_written_in_is_refused(drills: Store, tmp_path: Path) -> None:
    result = cli_export(tmp_path / "x.csv", profile_file(tmp_path, encoding="klingon"))
    assert isinstance(result.exception, InputError) and "encoding 'klingon'" in str(result.exception)
    assert result.exception.file == str(tmp_path / "content.profile.yaml")
    wrong = cli_export(tmp_path / "x.csv", profile_file(tmp_path, sku_column="article"))  # an ERP map's key
    assert isinstance(wrong.exception, InputError) and "invalid profile" in str(wrong.exception)


# ---------------------------------------------------------------- the grid's download
def _upload(web: TestClient, token: str, name: str, body: bytes, store: Store) -> dict[str, Any]:
    assert web.post("/imports", data={"csrf_token": token}, files={"file": (name, body, "text/csv")}).status_code == 200
    [ran] = job_queue.work(store, once=True).jobs
    return store.job(ran["id"])["counts"]  # type: ignore[index]


def test_the_download_follows_the_home_content_profile(client: TestClient, store: Store, pim_env: Path) -> None:  # noqa: F811
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "content.profile.yaml").write_text(yaml.safe_dump(GERMAN), encoding="utf-8")
    profile = ContentProfile(**GERMAN)
    token = login(client)
    got = client.get("/products.csv?family=shoes&locale=en_US")
    assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=cp1252"
    rows = list(csv.reader(io.StringIO(got.content.decode("cp1252"), newline=""), delimiter=";"))
    assert rows[0][:2] == ["article", "name:en_US"] and rows[0][-1] == "_sheet"

    same = _upload(client, token, "products.csv", got.content, store)  # the import page reads it with the same profile
    assert (same["read"], same["updated"], same["unchanged"], same["rejected"]) == (5, 0, 5, 0)
    set_cell(rows, "complete", "name:en_US", "Trail Läufer")
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)
    edited = _upload(client, token, "products.csv", out.getvalue().encode(profile.encoding), store)
    assert (edited["updated"], edited["unchanged"]) == (1, 4)
    complete = store.get_product("complete")
    assert complete.values["name:en_US"] == "Trail Läufer"  # type: ignore[union-attr]
    assert complete.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]


def test_the_download_says_what_the_home_profile_cannot_carry(client: TestClient, store: Store, pim_env: Path,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pim.web import ui

    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "content.profile.yaml").write_text(yaml.safe_dump({"encoding": "ascii"}), encoding="utf-8")
    store.upsert_products([Product(identifier="complete", family="shoes", source=ERP,
                                   values={"sku": "complete", "name:en_US": "Laufschuh ß"})])
    login(client, "vi")
    refused = client.get("/products.csv?family=shoes&locale=en_US", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/products?family=shoes&locale=en_US"
    from html import unescape

    grid = unescape(client.get(refused.headers["location"]).text)
    assert "Not downloaded: product 'complete': column 'name:en_US' holds 'ß' (U+00DF), which ascii cannot carry" in grid
    assert client.get("/products.xlsx?family=shoes&locale=en_US").status_code == 200  # XLSX carries any text

    monkeypatch.setattr(ui, "BULK_MAX", 1)
    over = client.get("/products.csv?family=shoes", follow_redirects=False)
    grid = unescape(client.get(over.headers["location"]).text)
    assert "pim export sheet --out products.csv --family shoes --profile $PIM_HOME/content.profile.yaml" in grid

    (pim_env / "content.profile.yaml").write_text("sku_column: x\n", encoding="utf-8")
    broken = client.get("/products.csv?family=shoes")
    assert broken.status_code == 422 and "content.profile.yaml: invalid profile" in unescape(broken.text)
    assert str(pim_env) not in broken.text  # the page names the profile, not where the server keeps it
