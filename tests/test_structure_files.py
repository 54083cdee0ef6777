"""Structure as code: valid files load; every bad file is reported with file, line and field, and nothing is written."""

from pathlib import Path

import jsonschema
import pytest
import yaml

from pim.schemas import load_schema
from pim.store import Store
from pim.structure_files import StructureErrors, load_structure_files, save_structure
from tests.conftest import TEST_STRUCTURE


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_reference_structure_loads_and_is_stored(store: Store) -> None:
    counts = save_structure(store, load_structure_files(TEST_STRUCTURE))
    s = store.structure()
    assert counts["attributes"] == 14 and set(s.families) == {"drills", "shirts"}
    assert s.channels["print"].locales == ["de_DE"]
    assert s.option_codes("color") == {"red", "blue"}
    assert s.category_path("drills") == ["master", "tools", "drills"]


def test_reference_structure_satisfies_the_json_schema() -> None:
    for path in TEST_STRUCTURE.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), load_schema("structure"))


def test_unknown_type_names_file_line_and_field(tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - code: sku\n    type: identifier\n  - code: name\n    type: txt\n")
    with pytest.raises(StructureErrors) as exc:
        load_structure_files(tmp_path)
    [p] = exc.value.problems
    assert (Path(p.file).name, p.line, p.field) == ("s.yaml", 5, "attributes.1.type")
    assert "text" in p.reason  # pydantic lists the allowed values


def test_unknown_field_lists_the_allowed_ones(tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - code: sku\n    type: identifier\n    localisable: true\n")
    with pytest.raises(StructureErrors) as exc:
        load_structure_files(tmp_path)
    [p] = exc.value.problems
    assert p.line == 4 and "localizable" in p.reason


def test_family_naming_an_undeclared_attribute_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - {code: sku, type: identifier}\nfamilies:\n  - code: f\n    attributes: [sku, nme]\n")
    with pytest.raises(StructureErrors) as exc:
        load_structure_files(tmp_path)
    [p] = exc.value.problems
    assert p.field == "families.0.attributes" and p.line == 5 and "nme" in p.reason


def test_references_may_span_files(tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - {code: sku, type: identifier}\n", "a.yaml")
    _write(tmp_path, "families:\n  - {code: f, attributes: [sku]}\n", "b.yaml")
    assert [f.code for f in load_structure_files(tmp_path).families] == ["f"]


def test_broken_yaml_reports_its_line(tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - code: sku\n   type: identifier\n")
    with pytest.raises(StructureErrors) as exc:
        load_structure_files(tmp_path)
    assert exc.value.problems[0].line == 3 and "YAML" in exc.value.problems[0].reason


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_bytes("attributes:\n  - {code: größe, type: text}\n".encode("latin-1"))
    with pytest.raises(StructureErrors) as exc:
        load_structure_files(tmp_path)
    assert "UTF-8" in exc.value.problems[0].reason


def test_all_problems_are_reported_and_nothing_is_written(store: Store, tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - {code: sku, type: identifier}\n  - {code: w, type: metric}\n"
                     "channels:\n  - {code: c, locales: [en_US], currencies: [EUR], category_tree: nowhere}\n")
    with pytest.raises(StructureErrors) as exc:
        save_structure(store, load_structure_files(tmp_path))
    assert len(exc.value.problems) == 1 and "metric_family" in exc.value.problems[0].reason
    assert store.structure().attributes == {}


def test_option_for_a_text_attribute_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "attributes:\n  - {code: sku, type: identifier}\nattribute_options:\n  - {attribute: sku, code: x}\n")
    with pytest.raises(StructureErrors) as exc:
        load_structure_files(tmp_path)
    assert "select" in exc.value.problems[0].reason and exc.value.problems[0].line == 4
