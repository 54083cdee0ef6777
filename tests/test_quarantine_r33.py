"""A clean import of a record closes its source's rejections of it only for what it carried: a rejected price cell
of a filled to-do sheet stays open when the content team's text file (no price) comes in clean, and closes when a
fixed sheet brings the price. Whole-row rejections, and fields no attribute or record field answers to (a file's
column), close on any clean import as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importers.content import ContentProfile, import_content
from pim.importing import Parsed, run_import
from pim.merge import Merger
from pim.store import Store
from pim.store.store import QuarantineEntry
from pim.store.supersede import Carried
from tests.source_data import PRECEDENCE, record, seed_structure

PROFILE = ContentProfile()


@pytest.fixture
def shop(store: Store) -> Store:
    """Two ERP products, A1 and A2, the content team enriches (its profile quarantines unknown SKUs)."""
    seed_structure(store)
    run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1"}, family="tool"), "erp.csv", 1)
                              for sku in ("A1", "A2")], merge=Merger(PRECEDENCE))
    return store


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def texts(tmp_path: Path) -> Path:
    """The content team's file: names only, for both products."""
    return write(tmp_path / "content.jsonl", "".join(json.dumps({"sku": s, "name": {"en_US": f"Drill {s}"}}) + "\n"
                                                     for s in ("A1", "A2")))


def open_entries(store: Store) -> list[tuple[str | None, str | None]]:
    return sorted((e["record_key"], e["field"]) for e in store.quarantined(source="content", severity="rejected"))


@pytest.mark.backends("sqlite")
def test_a_clean_record_without_the_rejected_field_leaves_the_rejection_open(shop: Store, tmp_path: Path) -> None:
    todo = import_content(write(tmp_path / "todo_price.csv", "sku,price\nA1,19.99 somewhere\n"), shop, PROFILE)
    assert todo.rejected == 1 and open_entries(shop) == [("A1", "price")]
    counts = import_content(texts(tmp_path), shop, PROFILE)
    assert (counts.updated, counts.rejected) == (2, 0)
    assert open_entries(shop) == [("A1", "price")]  # A1 still has no price: the steward's error stands
    assert "price" not in shop.get_product("A1").values


@pytest.mark.backends("sqlite")
def test_a_clean_record_carrying_the_rejected_field_closes_the_rejection(shop: Store, tmp_path: Path) -> None:
    import_content(write(tmp_path / "todo_price.csv", "sku,price\nA1,19.99 somewhere\n"), shop, PROFILE)
    import_content(texts(tmp_path), shop, PROFILE)
    fixed = import_content(write(tmp_path / "todo_fixed.csv", "sku,price\nA1,EUR 19.99\n"), shop, PROFILE)
    assert fixed.rejected == 0
    assert open_entries(shop) == []
    [entry] = shop.quarantined(source="content", open_only=False)
    assert entry["resolved_at"] is not None and entry["superseded_by"] is None  # fixed, not replaced


@pytest.mark.backends("sqlite")
def test_a_whole_row_rejection_closes_on_any_clean_import(shop: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): a row rejected whole names no field, so any clean record judges it."""
    import_content(write(tmp_path / "todo.csv", "sku,price\nA1,EUR 1,extra\n"), shop, PROFILE)
    assert open_entries(shop) == [("A1", None)]
    import_content(texts(tmp_path), shop, PROFILE)
    assert open_entries(shop) == []


def test_rejections_close_by_the_field_they_name_however_it_is_written(shop: Store) -> None:
    """A value key, a model error's path, a JSON path, a record field; a column no attribute answers to closes
    as before (guarded); problems and another source's rejections are not asked."""
    named = ["price", "values.price", "name:de_DE", "description.en_US", "family", "categories.0", "Gewicht"]
    shop.quarantine(None, [QuarantineEntry("bad", "todo.csv", 2, field, record_key="A1", source="content")
                           for field in named]
                    + [QuarantineEntry("left out", "c.csv", 2, "price", record_key="A1", source="content",
                                       severity="problem"),
                       QuarantineEntry("bad", "erp.csv", 2, "name", record_key="A1", source="erp")])
    carried = Carried(lambda key: {"name", "description", "sku"} if key == "A1" else set(), shop.structure().attributes)
    assert shop.resolve_quarantine("content", ["A1", "A2"], carried=carried) == 4
    assert open_entries(shop) == [("A1", "categories.0"), ("A1", "family"), ("A1", "price"), ("A1", "values.price")]
    assert [e["field"] for e in shop.quarantined(source="erp")] == ["name"]
    assert shop.resolve_quarantine("content", ["A1"]) == 4  # without what was carried: every entry, as before
