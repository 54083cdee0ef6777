"""An import refuses a precedence file with a rule that can never apply (found exploring: `nmae`, `marketting`
and `ERP` loaded silently, and the attribute fell back to `default` while the file said otherwise)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from importers.content import ContentProfile, import_content
from pim.catalog import Structure
from pim.errors import InputError
from pim.merge import Merger, Precedence
from pim.precedence_check import check_precedence
from pim.store import Store
from tests.source_data import PRECEDENCE, seed_structure


@pytest.fixture
def structure(store: Store) -> Structure:
    seed_structure(store)
    return store.structure()


@pytest.mark.parametrize("rules, field, words", [
    ({"attributes": {"nmae": ["erp"]}}, "attributes.nmae", "did you mean 'name'?"),
    ({"groups": {"marketting": ["erp"]}}, "groups.marketting", "did you mean 'marketing'?"),
    ({"associations": {"XSELL": ["erp"]}}, "associations.XSELL", "association type 'XSELL'"),
    ({"attributes": {"name": ["ERP", "content"]}}, "attributes.name", "'ERP' is not a source name"),
    ({"default": ["Content"]}, "default", "'Content' is not a source name"),
])
def test_a_rule_that_can_never_apply_is_named(structure: Structure, rules: dict, field: str, words: str):
    with pytest.raises(InputError) as err:
        check_precedence(Precedence(**rules), structure, "p.yaml")
    assert err.value.field == field and words in err.value.describe()


def test_the_rules_an_import_can_use_pass(structure: Structure):
    check_precedence(PRECEDENCE, structure, "p.yaml")
    check_precedence(Precedence(groups={"technical": ["supplier:*", "erp"]}, attributes={"name": ["content", "supplier:ac?e"]}),
                     structure, "p.yaml")
    Merger(Precedence(attributes={"nmae": ["erp"]})).bind(structure)  # a person's edit is never stopped by one


def test_an_import_with_a_mistyped_precedence_file_changes_nothing(store: Store, structure: Structure, tmp_path: Path):
    (tmp_path / "precedence.yaml").write_text(yaml.safe_dump({"attributes": {"nmae": ["content"]}}))
    (tmp_path / "c.json").write_bytes(orjson.dumps([{"sku": "A1", "name": {"en_US": "Drill"}}]))
    profile = ContentProfile(precedence="precedence.yaml")
    with pytest.raises(InputError, match="'nmae'") as err:
        import_content(tmp_path / "c.json", store, profile, profile_dir=tmp_path)
    assert err.value.file.endswith("precedence.yaml")
    assert store.get_product("A1") is None
