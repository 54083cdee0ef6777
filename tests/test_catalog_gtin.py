"""Whole-record catalog loads (JSONL, Akeneo CSV) check GTINs as the partial importers do: a bad one is left
out with a `problem` naming file, line, field and the expected check digit, the rest of the record is taken
in, and — though a whole record would clear what it leaves out — the product keeps the GTIN it had."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pytest

from importers.akeneo import import_akeneo
from pim.generate import generate_catalog
from pim.jsonl import import_jsonl
from pim.merge import Merger
from pim.quality import gtin_problem
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.conftest import ICECAT
from tests.test_akeneo import STRUCTURE as AKENEO_STRUCTURE
from tests.test_jsonl import with_structure

GOOD, OTHER_GOOD, BAD = "4006381333931", "4000000000006", "4006381333932"  # BAD: check digit 2, expected 1

STRUCTURE = """
locales: [{code: en_US}]
currencies: [{code: EUR}]
categories: [{code: master}]
channels:
  - {code: ecommerce, locales: [en_US], currencies: [EUR], category_tree: master}
attributes:
  - {code: sku, type: identifier}
  - {code: name, type: text, localizable: true}
  - {code: ean, type: text}
  - {code: pack_gtin, type: text, scopable: true}
families:
  - {code: tools, attributes: [sku, name, ean, pack_gtin]}
"""


@pytest.fixture
def loaded(store: Store, tmp_path: Path) -> Store:
    return with_structure(store, tmp_path, STRUCTURE)


def _tool(sku: str, **values: Any) -> dict[str, Any]:
    return {"identifier": sku, "family": "tools", "values": {"sku": sku, **values}}


def _write(path: Path, *records: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _problems(store: Store) -> list[tuple[str, str, int, str]]:
    return sorted((p["record_key"], p["field"], p["line"], p["file"]) for p in store.quarantined(severity="problem"))


# ---------------------------------------------------------------------------------------------- JSONL
def test_a_bad_gtin_is_left_out_the_stored_one_kept_and_the_rest_taken_in(loaded: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "catalog.jsonl", _tool("T-1", ean=GOOD, **{"name:en_US": "Hammer"}))
    import_jsonl(path, loaded)
    _write(path, _tool("T-0", ean=GOOD), _tool("T-1", ean=BAD, **{"name:en_US": "Mallet"}))
    counts = import_jsonl(path, loaded)
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (1, 1, 0, 1)
    t1 = loaded.get_product("T-1")
    assert t1 is not None and t1.values["name:en_US"] == "Mallet"  # the rest of the record is in
    assert t1.values["ean"] == GOOD  # a whole record, yet the bad GTIN did not clear the stored one
    [entry] = loaded.quarantined(severity="problem")
    assert (entry["record_key"], entry["field"], entry["line"], entry["file"]) == ("T-1", "ean", 2, "catalog.jsonl")
    assert (entry["source"], entry["job_id"]) == ("jsonl", counts.job_id)
    assert f"GTIN {BAD} has check digit 2, expected 1" in entry["reason"] and len(entry["reason"]) <= 200
    assert "correct it in the file" in entry["reason"]
    assert entry["raw"]["values"]["ean"] == BAD  # the line as given, bad value and all


def test_the_same_bad_line_again_changes_nothing_and_a_good_one_closes_the_problem(loaded: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", _tool("T-1", ean=GOOD))
    import_jsonl(path, loaded)
    _write(path, _tool("T-1", ean=BAD))
    import_jsonl(path, loaded)
    seq = loaded.current_seq()
    again = import_jsonl(path, loaded)
    assert (again.unchanged, again.problems) == (1, 1) and loaded.current_seq() == seq  # kept GTIN: unchanged
    assert _problems(loaded) == [("T-1", "ean", 1, "c.jsonl")]  # still wrong: still noted, once
    import_jsonl(_write(path, _tool("T-1", ean=OTHER_GOOD)), loaded)
    assert _problems(loaded) == []
    assert loaded.get_product("T-1").values["ean"] == OTHER_GOOD  # type: ignore[union-attr]


def test_a_new_product_with_a_bad_gtin_is_created_without_one(loaded: Store, tmp_path: Path) -> None:
    counts = import_jsonl(_write(tmp_path / "n.jsonl", _tool("N-1", ean="40063813339", **{"name:en_US": "Saw"})), loaded)
    assert (counts.created, counts.rejected, counts.problems) == (1, 0, 1)
    n1 = loaded.get_product("N-1")
    assert n1 is not None and "ean" not in n1.values and n1.values["name:en_US"] == "Saw"
    [entry] = loaded.quarantined(severity="problem")
    assert "'40063813339' is not a GTIN" in entry["reason"]


def test_a_whole_record_without_a_gtin_still_clears_it(loaded: Store, tmp_path: Path) -> None:
    """Only a refused value keeps the stored GTIN: a record that leaves the key out, or gives null, clears it."""
    path = _write(tmp_path / "c.jsonl", _tool("T-1", ean=GOOD), _tool("T-2", ean=GOOD))
    import_jsonl(path, loaded)
    import_jsonl(_write(path, _tool("T-1"), _tool("T-2", ean=None)), loaded)
    assert "ean" not in loaded.get_product("T-1").values  # type: ignore[union-attr]
    assert loaded.get_product("T-2").values["ean"] is None  # type: ignore[union-attr]  # stored as given
    assert _problems(loaded) == []


def test_a_repeated_line_keeps_what_the_line_before_it_gave(loaded: Store, tmp_path: Path) -> None:
    """A later line replaces an earlier one of the same file (written first, as its own batch): its bad GTIN
    keeps the earlier line's GTIN, or its absence, not what was stored before the file."""
    path = _write(tmp_path / "c.jsonl", _tool("T-1", ean=GOOD), _tool("T-2", ean=GOOD))
    import_jsonl(path, loaded)
    counts = import_jsonl(_write(path, _tool("T-1", ean=OTHER_GOOD), _tool("T-2"), _tool("T-1", ean=BAD),
                                 _tool("T-2", ean=BAD)), loaded)
    assert (counts.updated, counts.unchanged, counts.problems) == (2, 2, 2)
    assert loaded.get_product("T-1").values["ean"] == OTHER_GOOD  # type: ignore[union-attr]
    assert "ean" not in loaded.get_product("T-2").values  # type: ignore[union-attr]


def test_the_line_before_counts_when_it_was_passed_on_unwritten(loaded: Store, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Two items are held at a time: the OTHER_GOOD line is passed on with B-1, and is not written yet (one
    batch) when the later T-1 line's GTIN is put back, while what is stored is still GOOD."""
    monkeypatch.setattr("pim.catalog_gtins.HOLD", 2)
    path = _write(tmp_path / "c.jsonl", _tool("T-1", ean=GOOD))
    import_jsonl(path, loaded)
    _write(path, _tool("B-1", ean=BAD), _tool("T-1", ean=OTHER_GOOD), _tool("T-1", ean=BAD), _tool("C-1"))
    counts = import_jsonl(path, loaded)
    assert (counts.rejected, counts.problems) == (0, 2)
    assert loaded.get_product("T-1").values["ean"] == OTHER_GOOD  # type: ignore[union-attr]
    assert "ean" not in loaded.get_product("B-1").values  # type: ignore[union-attr]


def test_the_line_before_counts_once_written_too(loaded: Store, tmp_path: Path) -> None:
    """Batches of two: the repeated A-1 shifts them; the OTHER_GOOD line is written (and let go) before the
    later T-1 line is read, so the stored record is what it replaces."""
    loaded.batch_size = 2
    path = _write(tmp_path / "c.jsonl", _tool("T-1", ean=GOOD))
    import_jsonl(path, loaded)
    _write(path, _tool("A-1"), _tool("A-1"), _tool("T-1", ean=OTHER_GOOD), _tool("C-1"), _tool("D-1"),
           _tool("T-1", ean=BAD))
    counts = import_jsonl(path, loaded)
    assert (counts.rejected, counts.problems) == (0, 1)
    assert loaded.get_product("T-1").values["ean"] == OTHER_GOOD  # type: ignore[union-attr]


def test_the_stored_gtins_provenance_stays_with_it(loaded: Store, tmp_path: Path) -> None:
    erp = {"source": "erp", "ref": "erp.csv:7", "at": "2026-03-01T06:00:00Z"}
    path = _write(tmp_path / "c.jsonl", {**_tool("T-1", ean=GOOD), "provenance": {"ean": erp}})
    import_jsonl(path, loaded)
    other = {"source": "typo", "ref": "x:1", "at": "2026-03-02T06:00:00Z"}
    import_jsonl(_write(path, {**_tool("T-1", ean=BAD), "provenance": {"ean": other}}), loaded)
    t1 = loaded.get_product("T-1")
    assert t1 is not None and t1.values["ean"] == GOOD and t1.provenance["ean"].source == "erp"


def test_a_scoped_gtin_key_is_checked_too(loaded: Store, tmp_path: Path) -> None:
    counts = import_jsonl(_write(tmp_path / "s.jsonl", _tool("S-1", **{"pack_gtin@ecommerce": BAD}),
                                 _tool("S-2", **{"pack_gtin@ecommerce": GOOD})), loaded)
    assert (counts.created, counts.problems) == (2, 1)
    assert "pack_gtin@ecommerce" not in loaded.get_product("S-1").values  # type: ignore[union-attr]
    assert loaded.get_product("S-2").values["pack_gtin@ecommerce"] == GOOD  # type: ignore[union-attr]
    assert _problems(loaded) == [("S-1", "pack_gtin@ecommerce", 1, "s.jsonl")]


def test_a_merged_catalog_leaves_a_bad_gtin_alone(loaded: Store, tmp_path: Path) -> None:
    """Merged (as the demo loads its catalog), a record is partial: the bad GTIN is no claim, the earlier stays."""
    path = _write(tmp_path / "m.jsonl", _tool("M-1", ean=GOOD, **{"name:en_US": "Drill"}))
    import_jsonl(path, loaded, merge=Merger(None))
    counts = import_jsonl(_write(path, _tool("M-1", ean=BAD, **{"name:en_US": "Driver"})), loaded, merge=Merger(None))
    assert (counts.updated, counts.rejected, counts.problems) == (1, 0, 1)
    m1 = loaded.get_product("M-1")
    assert m1 is not None and m1.values["ean"] == GOOD and m1.values["name:en_US"] == "Driver"
    assert _problems(loaded) == [("M-1", "ean", 1, "m.jsonl")]


def test_the_generated_catalog_notes_exactly_its_planted_bad_eans(store: Store, tmp_path: Path) -> None:
    """The generator plants a few wrong check digits (its `invalid_eans`): each is one problem, nothing else."""
    catalog = generate_catalog("tiny", 7, tmp_path / "catalog")
    save_structure(store, load_structure_files(catalog.structure_dir))
    counts = import_jsonl(catalog.products_jsonl, store)
    planted = catalog.counts["invalid_eans"]
    assert planted > 0 and counts.rejected == 0 and counts.problems == planted
    assert {p["field"] for p in store.quarantined(severity="problem")} == {"ean"}


# ---------------------------------------------------------------------------------------------- Akeneo
_ATTRIBUTES = AKENEO_STRUCTURE["attributes.csv"] + "ean;pim_catalog_text;other;0;0;;;EAN;0\n"
_FAMILIES = "code;attributes;attribute_as_label;requirements-ecommerce\nshirts;sku,name,color,weight,photo,size,ean;name;sku,name\n"
_HEADER = "sku;family;name-en_US;ean\n"


def _akeneo(tmp_path: Path, rows: str, models: str = "code;family_variant\n") -> Path:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    files = {**AKENEO_STRUCTURE, "attributes.csv": _ATTRIBUTES, "families.csv": _FAMILIES,
             "product_models.csv": models, "products.csv": _HEADER + rows}
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def test_akeneo_bad_ean_is_left_out_with_a_problem_naming_its_column(store: Store, tmp_path: Path) -> None:
    import_akeneo(_akeneo(tmp_path, f"A1;shirts;One;{GOOD}\n"), store)
    counts = import_akeneo(_akeneo(tmp_path, f"A0;shirts;Zero;{GOOD}\nA1;shirts;Uno;{BAD}\nA2;shirts;Two;{BAD}\n"), store)
    assert (counts["created"], counts["updated"], counts["rejected"], counts["problems"]) == (2, 1, 0, 2)
    a1, a2 = store.get_product("A1"), store.get_product("A2")
    assert a1 is not None and a1.values["name:en_US"] == "Uno" and a1.values["ean"] == GOOD  # kept, not cleared
    assert a2 is not None and a2.values["name:en_US"] == "Two" and "ean" not in a2.values  # nothing to keep
    assert _problems(store) == [("A1", "ean", 3, "products.csv"), ("A2", "ean", 4, "products.csv")]
    entry = store.quarantined(severity="problem")[0]
    assert "expected 1" in entry["reason"] and "correct it in Akeneo" in entry["reason"] and entry["source"] == "akeneo"
    assert entry["raw"] == {"sku": "A1", "family": "shirts", "name-en_US": "Uno", "ean": BAD}


def test_akeneo_fixed_export_closes_the_problem(store: Store, tmp_path: Path) -> None:
    import_akeneo(_akeneo(tmp_path, f"A1;shirts;One;{BAD}\n"), store)
    again = import_akeneo(_akeneo(tmp_path, f"A1;shirts;One;{BAD}\n"), store)
    assert (again["unchanged"], again["problems"]) == (1, 1) and len(_problems(store)) == 1
    fixed = import_akeneo(_akeneo(tmp_path, f"A1;shirts;One;{GOOD}\n"), store)
    assert (fixed["updated"], fixed["problems"]) == (1, 0) and _problems(store) == []
    assert store.get_product("A1").values["ean"] == GOOD  # type: ignore[union-attr]


def test_akeneo_a_models_bad_ean_keeps_the_models_stored_one(store: Store, tmp_path: Path) -> None:
    import_akeneo(_akeneo(tmp_path, "", f"code;family_variant;color;ean\nshirt;shirt_size;red;{GOOD}\n"), store)
    counts = import_akeneo(_akeneo(tmp_path, "", f"code;family_variant;color;ean\nshirt;shirt_size;blue;{BAD}\n"), store)
    assert (counts["updated"], counts["rejected"], counts["problems"]) == (1, 0, 1)
    shirt = store.get_model("shirt")
    assert shirt is not None and shirt.values["color"] == "blue" and shirt.values["ean"] == GOOD
    assert _problems(store) == [("model:shirt", "ean", 2, "product_models.csv")]


def _icecat_eans() -> list[str]:
    with (ICECAT / "products.csv").open(encoding="utf-8", newline="") as handle:
        return [row["ean"] for row in csv.DictReader(handle, delimiter=";") if row["ean"]]


def test_icecat_demo_has_105_bad_eans_of_115_and_still_imports_every_product(store: Store) -> None:
    """Akeneo's demo EANs count up from 1234567890xxx, so only one in ten has its check digit right (a guard:
    if the fixture changes, this says how the import's problem count moves)."""
    eans = _icecat_eans()
    bad = [e for e in eans if gtin_problem(e)]
    assert (len(eans), len(bad)) == (115, 105)
    counts = import_akeneo(ICECAT, store)
    assert (counts["created"], counts["rejected"]) == (1239 + 81, 0)
    noted = [p for p in store.quarantined(severity="problem") if p["field"] == "ean"]
    assert len(noted) == 105 and {p["file"] for p in noted} == {"products.csv"}
    assert sum("ean" in p.values for p in store.iter_products()) == 10
