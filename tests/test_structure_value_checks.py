"""`pim structure load` (and POST /api/v1/structure) refuse an attribute change that stored values cannot follow,
and save a structure whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pim.cli import _mount, app
from pim.structure_files import StructureErrors, StructureFile, load_structure_files, save_structure
from tests.channel_data import seed_products

_mount()
runner = CliRunner()


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "change.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _load(store, path: Path) -> StructureFile:
    return load_structure_files(path, store.structure(), store)


def _attr(store, code: str):
    return store.structure().attributes[code]


def test_a_new_key_shape_is_refused_while_values_are_stored(store, tmp_path: Path) -> None:
    seed_products(store)
    path = _file(tmp_path, "attributes:\n  - code: mpn\n    type: text\n    group: general\n    localizable: true\n")
    with pytest.raises(StructureErrors) as err:
        _load(store, path)
    problem = err.value.problems[0]
    assert (problem.file, problem.line, problem.field) == (str(path), 5, "attributes.0.localizable")
    assert "mpn changes, but" in problem.reason and "'mpn' is localizable: give a locale" in problem.reason
    assert "pim structure delete attributes mpn" in problem.reason
    assert _attr(store, "mpn").localizable is False  # nothing written


def test_the_same_change_saves_when_no_value_is_stored(store, tmp_path: Path) -> None:
    seed_products(store)
    before = store.structure().attributes["mpn"]
    pg = store.engine.dialect.name == "postgresql"
    with store.begin() as conn:  # nothing holds mpn any more
        for table, key in (("product", "identifier"), ("product_model", "code")):
            for row, value_map in conn.exec_driver_sql(f"SELECT {key}, value_map FROM {table}").all():
                values = value_map if isinstance(value_map, dict) else json.loads(value_map)
                values.pop("mpn", None)
                sql = f"UPDATE {table} SET value_map = {'%s' if pg else '?'} WHERE {key} = {'%s' if pg else '?'}"
                conn.exec_driver_sql(sql, (json.dumps(values), row))
    path = _file(tmp_path, "attributes:\n  - code: mpn\n    type: text\n    group: general\n    localizable: true\n")
    save_structure(store, _load(store, path))
    assert before.localizable is False and _attr(store, "mpn").localizable is True


def test_a_narrower_setting_is_refused_with_the_value_it_would_refuse(store, tmp_path: Path) -> None:
    seed_products(store)
    path = _file(tmp_path, "attributes:\n  - code: mpn\n    type: text\n    group: general\n    max_characters: 2\n")
    with pytest.raises(StructureErrors) as err:
        _load(store, path)
    reason = err.value.problems[0].reason
    assert err.value.problems[0].field == "attributes.0.max_characters"
    assert "mpn = \"RN-1\"" in reason or 'mpn = "' in reason
    assert _attr(store, "mpn").max_characters is None


def test_a_loosened_setting_and_an_unchanged_attribute_load(store, tmp_path: Path) -> None:
    seed_products(store)
    path = _file(tmp_path, "attributes:\n  - code: mpn\n    type: text\n    group: general\n    max_characters: 200\n"
                           "  - code: ean\n    type: text\n    group: general\n    validation_regexp: '\\d{8,14}'\n")
    counts = save_structure(store, _load(store, path))
    assert counts == {"attributes": 2} and _attr(store, "mpn").max_characters == 200


def test_a_key_already_wrong_before_the_change_does_not_block_it(store, tmp_path: Path) -> None:
    """A stored value in a locale no channel has is not this change's doing: the change is judged on the rest."""
    seed_products(store)
    from pim.product import Product
    from tests.channel_data import ERP

    store.upsert_products([Product(identifier="stale", family="shoes", values={"sku": "stale", "name:fr_FR": "x"},
                                   source=ERP)])
    path = _file(tmp_path, "attributes:\n  - code: name\n    type: text\n    group: general\n    localizable: true\n"
                           "    available_locales: [en_US, de_DE]\n")
    save_structure(store, _load(store, path))
    assert _attr(store, "name").available_locales == ["en_US", "de_DE"]
    narrower = _file(tmp_path, "attributes:\n  - code: name\n    type: text\n    group: general\n    localizable: true\n"
                               "    available_locales: [en_US]\n")
    with pytest.raises(StructureErrors, match="only applies to"):  # the de_DE names were fine before
        _load(store, narrower)


def test_the_api_refuses_the_same_change(store, role_tokens) -> None:
    client, tokens = role_tokens
    headers = tokens["admin"]
    body = {"attributes": [{"code": "mpn", "type": "text", "group": "general", "scopable": True}]}
    res = client.post("/api/v1/structure", json=body, headers=headers)
    assert res.status_code == 422, res.text
    error = res.json()["errors"][0]
    assert (error["section"], error["code"], error["field"]) == ("attributes", "mpn", "scopable")
    assert "is scopable: give a channel" in error["message"]
    assert _attr(store, "mpn").scopable is False


def test_the_cli_exits_with_the_problem_and_writes_nothing(pim_env, tmp_path: Path) -> None:
    from pim.store import Store

    store = Store.from_settings()
    seed_products(store)
    path = _file(tmp_path, "attributes:\n  - code: mpn\n    type: text\n    group: general\n    localizable: true\n")
    res = runner.invoke(app, ["structure", "load", str(path)])
    assert res.exit_code != 0 and isinstance(res.exception, StructureErrors)  # pim's main prints it, exit 1
    assert "mpn changes, but" in str(res.exception) and "change.yaml:5" in str(res.exception)
    assert Store.from_settings().structure().attributes["mpn"].localizable is False


def test_a_structure_load_is_saved_whole_or_not_at_all(store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure in a later section (here a listener on families) leaves the earlier sections unsaved too."""
    seed_products(store)
    s = store.structure()
    attr = s.attributes["mpn"].model_copy(update={"labels": {"en_US": "Part number"}})
    family = s.families["shoes"].model_copy(update={"labels": {"en_US": "Shoes!"}})

    def fail_on_families(conn, kind, before, after) -> None:
        if kind == "family":
            raise RuntimeError("listener failed")

    store.structure_listeners.append(fail_on_families)
    with pytest.raises(RuntimeError):
        save_structure(store, StructureFile(attributes=[attr], families=[family]))
    store.structure_listeners.remove(fail_on_families)
    after = store.structure()
    assert after.attributes["mpn"].labels == s.attributes["mpn"].labels
    assert after.families["shoes"].labels == s.families["shoes"].labels


def test_a_used_variant_keeps_its_levels_and_an_unused_one_changes(store, tmp_path: Path) -> None:
    seed_products(store)  # shoes_color: runner_model uses it
    resplit = _file(tmp_path, "family_variants:\n  - code: shoes_color\n    family: shoes\n    levels:\n"
                              "      - {axes: [size], attributes: [size]}\n")
    with pytest.raises(StructureErrors) as err:
        _load(store, resplit)
    [problem] = err.value.problems
    assert (problem.field, problem.line) == ("family_variants.0.levels", 4)
    assert "shoes_color's levels stay while product models use it: 1 product model uses it (runner_model)" in problem.reason
    relabel = _file(tmp_path, "family_variants:\n  - code: shoes_color\n    family: shoes\n    labels: {en_US: By colour}\n"
                              "    levels:\n      - {axes: [color], attributes: [color, ean]}\n")
    save_structure(store, _load(store, relabel))
    unused = _file(tmp_path, "family_variants:\n  - code: shoes_size\n    family: shoes\n    levels:\n"
                             "      - {axes: [size], attributes: [size]}\n")
    save_structure(store, _load(store, unused))
    save_structure(store, _load(store, _file(tmp_path, "family_variants:\n  - code: shoes_size\n    family: shoes\n"
                                                       "    levels:\n      - {axes: [color], attributes: [color]}\n")))
    variants = store.structure().family_variants
    assert variants["shoes_color"].labels == {"en_US": "By colour"} and variants["shoes_size"].levels[0].axes == ["color"]
