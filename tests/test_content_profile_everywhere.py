"""A content profile is checked wherever it is used, not only by the import: `pim export sheet --profile` and
the grid's download (with PIM_HOME/content.profile.yaml) refuse a profile naming an attribute or channel the
catalog lacks before they write a sheet its import would refuse, with the import's own message. And a key no
content profile has (`feilds:`) is refused naming the key it likely means, wherever the profile loads."""

from __future__ import annotations

import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from importers.content import ContentProfile, import_content
from pim.errors import InputError
from pim.sources import load_profile
from pim.store import Store
from tests.test_content_sheet_formats import cli_export, drills, profile_file  # noqa: F401  (fixture: drills)
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

TYPO = {"images": ["pictrue"], "channels": ["ecommerse"]}  # tests/data/structure has `picture` and `ecommerce`


def _pim(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point (pim.cli.main), which maps an error escaping a command to its exit code."""
    return subprocess.run([sys.executable, "-c", "from pim.cli import main; main()", *args], capture_output=True,
                          text=True, check=False)


def _import_refusal(store: Store, tmp_path: Path, profile: ContentProfile) -> InputError:
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "d1"}\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_content(path, store, profile)
    return err.value


# ---------------------------------------------------------------- pim export sheet
def test_export_sheet_refuses_a_misspelt_profile_with_the_imports_message(drills: Store, tmp_path: Path) -> None:  # noqa: F811
    out, prof = tmp_path / "drills.csv", profile_file(tmp_path, **TYPO)
    result = cli_export(out, prof)
    err = result.exception
    assert isinstance(err, InputError), result.output
    assert str(err) == str(_import_refusal(drills, tmp_path, ContentProfile(**TYPO)))  # word for word the import's
    assert "`images` names 'pictrue', which is not an attribute (did you mean 'picture'?)" in str(err)
    assert "`channels` names 'ecommerse', which is not a channel (did you mean 'ecommerce'?)" in str(err)
    assert err.file == str(prof) and err.field == "images"
    assert "fix the content profile and export the sheet again (nothing was written)" in (err.hint or "")
    assert not out.exists()


def test_export_sheet_exits_with_the_bad_input_code_and_says_why(drills: Store, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "drills.xlsx"
    proc = _pim("export", "sheet", "--out", str(out), "--profile", str(profile_file(tmp_path, fields={"titel": "nmae"})))
    assert proc.returncode == InputError.exit_code == 2, proc.stderr
    said = " ".join(proc.stderr.split())
    assert "`fields` sends 'titel' to 'nmae', which is not an attribute (did you mean 'name'?)" in said
    assert not out.exists() and "Traceback" not in proc.stderr


def test_export_sheet_with_a_right_profile_still_writes_the_sheet(drills: Store, tmp_path: Path) -> None:  # noqa: F811
    """Guard (passes on the old code too): only what the catalog lacks is refused."""
    out = tmp_path / "drills.csv"
    result = cli_export(out, profile_file(tmp_path, images=["picture"], channels=["ecommerce"], fields={"titel": "name"}))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8-sig").startswith("sku,name:en_US")


# ---------------------------------------------------------------- the grid's download
def test_the_grid_download_shows_the_home_profiles_typo_instead_of_a_file(client: TestClient, pim_env: Path) -> None:  # noqa: F811
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "content.profile.yaml").write_text(yaml.safe_dump({"images": ["imgae"]}), encoding="utf-8")
    login(client)
    for kind in ("csv", "xlsx"):
        got = client.get(f"/products.{kind}?family=shoes")
        page = unescape(got.text)
        assert got.status_code == 422 and "content-disposition" not in got.headers, page[:300]
        assert ("content.profile.yaml: the content profile's `images` names 'imgae', which is not an attribute "
                "(did you mean 'image'?)") in page
        assert "download again" in page and str(pim_env) not in page


# ---------------------------------------------------------------- a key no content profile has
@pytest.mark.parametrize(("key", "meant"), [("feilds", "fields"), ("Images", "images"), ("sku-field", "sku_field"),
                                            ("chanels", "channels")])
def test_a_misspelt_key_is_refused_naming_the_key_it_means(tmp_path: Path, key: str, meant: str) -> None:
    path = tmp_path / "content.profile.yaml"
    path.write_text(f"{key}: x\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_profile(ContentProfile, path)
    assert f"'{key}' is not a key here: did you mean '{meant}'?" in str(err.value)
    assert err.value.field == key and err.value.file == str(path)


def test_a_key_like_none_lists_the_keys_a_content_profile_has(tmp_path: Path) -> None:
    path = tmp_path / "content.profile.yaml"
    path.write_text("columns: [name:en_US]\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_profile(ContentProfile, path)
    assert err.value.field == "columns"
    assert "'columns' is not a key here: remove it (the keys: " in str(err.value)
    assert "sku_field" in str(err.value) and "list_separator" in str(err.value)


def test_the_key_typo_refuses_the_import_and_the_export_alike(drills: Store, tmp_path: Path) -> None:  # noqa: F811
    prof = tmp_path / "content.profile.yaml"
    prof.write_text("feilds:\n  titel: name\n", encoding="utf-8")
    data = tmp_path / "c.jsonl"
    data.write_text('{"sku": "d1", "titel": {"en_US": "Drill"}}\n', encoding="utf-8")
    for args in (["import", "content", str(data), "--profile", str(prof)],
                 ["export", "sheet", "--out", str(tmp_path / "s.csv"), "--profile", str(prof)]):
        proc = _pim(*args)
        assert proc.returncode == 2 and "did you mean 'fields'?" in " ".join(proc.stderr.split()), (args, proc.stderr)
    assert drills.jobs() == [] and drills.get_product("d1").values["name:en_US"] == "Drill 1"  # type: ignore[union-attr]
    assert not (tmp_path / "s.csv").exists()


def test_the_other_profile_errors_say_what_they_said(tmp_path: Path) -> None:
    """Guard (passes on the old code too): an unknown key's error is reworded, no other error is."""
    path = tmp_path / "content.profile.yaml"
    path.write_text("encoding: klingon\nsheet: 'a[b'\nfeilds: {}\n", encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        ContentProfile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    by_field = {e["loc"][0]: e["msg"] for e in err.value.errors()}
    assert by_field["encoding"].startswith("Value error, unknown encoding 'klingon'")
    assert by_field["sheet"].startswith("String should match pattern")
    assert ContentProfile.model_validate({"fields": {"titel": "name"}}).model_fields_set == {"fields"}
