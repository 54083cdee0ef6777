"""A precedence entry that names no source the store has seen but is close to one (found exploring as a data
steward: `suplier:*` loaded without a word, and every supplier then ranked as unnamed). An import warns
instead of refusing: a supplier not imported yet is no mistake."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from sqlalchemy import event

from importers.content import ContentProfile, import_content
from pim.importing import ImportCounts
from pim.merge import Precedence
from pim.precedence_check import seen_sources, unseen_sources
from pim.sources import put_cross_references
from pim.store import Store
from tests.source_data import seed_structure

SEEN = {"erp", "content", "supplier:acme", "supplier:bolt"}


@pytest.mark.parametrize("name, meant", [
    ("suplier:*", "supplier:*"),
    ("supplier:acmee", "supplier:acme"),
    ("suplier:acmee", "supplier:acme"),
    ("contnet", "content"),
    ("supplier", "supplier:*"),
])
def test_a_name_close_to_a_seen_source_is_named_with_what_it_likely_means(name: str, meant: str) -> None:
    found = unseen_sources(Precedence(default=["content"], attributes={"weight": ["erp", name]}), SEEN)
    assert found == {name: (meant, ["attributes.weight"])}


@pytest.mark.parametrize("name", ["supplier:*", "supplier:ac?e", "erp", "supplier:newco", "marketplace:zalando"])
def test_names_that_match_a_seen_source_or_are_close_to_none_pass(name: str) -> None:
    """A guard: these pass on the code before the check too (there was none)."""
    assert unseen_sources(Precedence(attributes={"weight": [name]}), SEEN) == {}


def test_one_misspelt_name_is_reported_once_with_every_place() -> None:
    found = unseen_sources(Precedence(groups={"technical": ["suplier:*"]}, attributes={"weight": ["erp", "suplier:*"]}),
                           SEEN)
    assert found == {"suplier:*": ("supplier:*", ["attributes.weight", "groups.technical"])}


@pytest.fixture
def structure(store: Store) -> None:
    seed_structure(store)


def _content(tmp_path: Path, store: Store, rules: dict, name: str = "Drill") -> ImportCounts:
    (tmp_path / "precedence.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "c.json").write_bytes(orjson.dumps([{"sku": "A1", "name": {"en_US": name}}]))
    profile = ContentProfile(precedence="precedence.yaml", unmatched="create")
    return import_content(tmp_path / "c.json", store, profile, profile_dir=tmp_path)


def _warnings(store: Store) -> list[dict]:
    return [e for e in store.quarantined(severity="warning") if e["record_key"].startswith("precedence-sources:")]


def test_seen_sources_are_the_merged_and_the_cross_referenced_ones_in_one_statement(store: Store, structure: None,
                                                                                  tmp_path: Path) -> None:
    _content(tmp_path, store, {"default": ["content"]})  # fingerprints of `content`
    put_cross_references(store, "supplier:bolt", [("B1", "A1")])
    put_cross_references(store, "supplier:acme", [("X1", "A1")])
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        assert seen_sources(store) == {"content", "supplier:acme", "supplier:bolt"}
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    assert len(statements) == 1


def test_an_import_warns_of_a_misspelt_source_and_still_imports(store: Store, structure: None, tmp_path: Path) -> None:
    put_cross_references(store, "supplier:acme", [("X1", "A1")])
    counts = _content(tmp_path, store, {"default": ["content"], "attributes": {"weight": ["erp", "suplier:*"]}})
    assert counts.created == 1 and store.get_product("A1").values["name:en_US"] == "Drill"
    assert counts.as_dict()["precedence_unknown_sources"] == 1
    [entry] = _warnings(store)
    assert entry["file"].endswith("precedence.yaml") and entry["field"] == "attributes.weight"
    assert entry["source"] == "content" and entry["job_id"] == counts.job_id
    assert ("attributes.weight names 'suplier:*', which matches no source imported so far (did you mean "
            "'supplier:*'?)") in entry["reason"]


def test_the_warning_is_replaced_by_the_next_run_and_closed_once_the_file_is_clean(store: Store, structure: None,
                                                                                   tmp_path: Path) -> None:
    put_cross_references(store, "supplier:acme", [("X1", "A1")])
    typo = {"default": ["content"], "attributes": {"weight": ["erp", "suplier:*"]}}
    _content(tmp_path, store, typo)
    again = _content(tmp_path, store, typo, name="Drill 2")
    assert [e["job_id"] for e in _warnings(store)] == [again.job_id]  # one open warning, the newest
    clean = _content(tmp_path, store, {"default": ["content"], "attributes": {"weight": ["erp", "supplier:*"]}},
                     name="Drill 3")
    assert _warnings(store) == [] and "precedence_unknown_sources" not in clean.as_dict()


def test_the_import_s_own_source_counts_as_seen(store: Store, structure: None, tmp_path: Path) -> None:
    """A first import of the content team, into an empty store, with a precedence naming `content`: no
    warning (a guard: nothing warned before the check either)."""
    counts = _content(tmp_path, store, {"default": ["content"], "attributes": {"name": ["content", "supplier:*"]}})
    assert _warnings(store) == [] and "precedence_unknown_sources" not in counts.as_dict()
