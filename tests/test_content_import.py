"""Content-team enrichment from JSON and CSV: localized copy, bullets, SEO, images, associations; the
content team wins by default; unknown SKUs are quarantined; re-imports change nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from importers.content import ContentProfile, import_content
from pim.conflicts import open_conflicts
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger
from pim.store import Store
from tests.source_data import PRECEDENCE, record, seed_structure

DRILL = {
    "sku": "A1",
    "name": {"en_US": "Cordless drill X100", "de_DE": "Akku-Bohrschrauber X100"},
    "description": {"en_US": "Drills holes."},
    "bullets": {"en_US": ["18 V", "2 batteries"]},
    "seo_title": {"en_US": "Buy the X100"},
    "images": ["media/a1-front.jpg"],
    "associations": {"accessories": ["A2"]},
}


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1", "name:en_US": "DRILL"}, family="tool"), "erp.csv", 1)
                              for sku in ("A1", "A2")], merge=Merger(PRECEDENCE))
    return store


def write_json(path: Path, records: list, lines: bool = False) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) if lines else orjson.dumps(records))
    return path


def test_json_enrichment_sets_localized_copy_seo_images_and_associations(seeded: Store, tmp_path: Path):
    counts = import_content(write_json(tmp_path / "content.json", [DRILL]), seeded, precedence=None)
    assert (counts.read, counts.updated, counts.rejected) == (1, 1, 0)
    p = seeded.get_product("A1")
    assert p.values["name:de_DE"] == "Akku-Bohrschrauber X100"
    assert p.values["description:en_US@ecommerce"] == "Drills holes."  # scopable: every channel
    assert p.values["bullets:en_US"] == "18 V\n2 batteries"
    assert p.values["seo_title:en_US"] == "Buy the X100"
    assert p.values["image"] == "media/a1-front.jpg"
    assert p.associations["accessories"].products == ["A2"]
    assert p.values["ean"] == "1"  # the ERP's values stay
    assert p.provenance_of("name:en_US").source == "content"


def test_content_team_wins_over_the_erp_name_by_default(seeded: Store, tmp_path: Path):
    import_content(write_json(tmp_path / "c.json", [DRILL]), seeded)
    assert seeded.get_product("A1").values["name:en_US"] == "Cordless drill X100"
    assert open_conflicts(seeded) == []  # the ERP does not own names under this precedence


def test_null_clears_and_absent_field_keeps(seeded: Store, tmp_path: Path):
    import_content(write_json(tmp_path / "c.json", [DRILL]), seeded)
    import_content(write_json(tmp_path / "d.jsonl", [{"sku": "A1", "seo_title": {"en_US": None}}], lines=True), seeded)
    p = seeded.get_product("A1")
    assert "seo_title:en_US" not in p.values
    assert p.values["name:de_DE"] == "Akku-Bohrschrauber X100"


def test_withdrawing_the_content_name_brings_back_the_erp_name(seeded: Store, tmp_path: Path):
    import_content(write_json(tmp_path / "c.json", [DRILL]), seeded)
    import_content(write_json(tmp_path / "d.json", [{"sku": "A1", "name": {"en_US": None}}]), seeded)
    p = seeded.get_product("A1")
    assert p.values["name:en_US"] == "DRILL" and p.provenance_of("name:en_US").source == "erp"


def test_unknown_sku_is_quarantined_and_bad_lines_are_kept(seeded: Store, tmp_path: Path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "NOPE", "name": {"en_US": "x"}}\n{"sku": "A1", "name": \n[1]\n{"name": {"en_US": "x"}}\n')
    counts = import_content(path, seeded)
    assert (counts.read, counts.rejected) == (4, 4)
    reasons = [e["reason"] for e in seeded.quarantined(counts.job_id)]
    assert "unmatched: quarantine" in reasons[3] or any("unmatched: quarantine" in r for r in reasons)
    assert any(r.startswith("not valid JSON") for r in reasons)
    assert "a record must be a JSON object" in reasons and "no 'sku'" in reasons


def test_csv_enrichment_with_value_key_columns(seeded: Store, tmp_path: Path):
    path = tmp_path / "content.csv"
    path.write_text("sku,name:en_US,bullets:en_US,images,associations:accessories,seo_title:en_US\n"
                    "A1,Drill,18 V|2 batteries,media/a.jpg,A2,\n", encoding="utf-8")
    counts = import_content(path, seeded)
    assert (counts.updated, counts.rejected) == (1, 0)
    p = seeded.get_product("A1")
    assert (p.values["name:en_US"], p.values["bullets:en_US"], p.values["image"]) == ("Drill", "18 V\n2 batteries", "media/a.jpg")
    assert p.associations["accessories"].products == ["A2"]
    assert import_content(path, seeded).unchanged == 1


def test_bullets_can_spread_over_one_attribute_each(seeded: Store, tmp_path: Path):
    profile = ContentProfile(bullets=["seo_title", "seo_description"])
    import_content(write_json(tmp_path / "c.json", [{"sku": "A1", "bullets": {"en_US": ["one", "two"]}}]), seeded, profile)
    p = seeded.get_product("A1")
    assert (p.values["seo_title:en_US"], p.values["seo_description:en_US"]) == ("one", "two")


@pytest.mark.parametrize("record, words", [
    ({"associations": {"accessories": "A2"}}, "must be a JSON array of SKUs"),  # was read as ["A", "2"]
    ({"associations": {"accessories": [2]}}, "must be a JSON array of SKUs"),
    ({"images": ["a.jpg", "b.jpg"]}, "2 images, but the profile places 1 (image)"),  # b.jpg was dropped
    ({"bullets": {"en_US": ["one", "two", "three"]}}, "3 bullets, but the profile places 2"),
    ({"material": {"en_US": "Steel", "de_DE": "Stahl"}}, "'material' is not localizable"),  # only Stahl was kept
])
def test_content_that_would_be_misread_or_partly_dropped_is_rejected(seeded: Store, tmp_path: Path, record: dict,
                                                                     words: str):
    profile = ContentProfile(bullets=["seo_title", "seo_description"], fields={"material": "material"})
    before = seeded.get_product("A1")
    counts = import_content(write_json(tmp_path / "c.json", [{"sku": "A1", **record}]), seeded, profile)
    assert (counts.read, counts.rejected) == (1, 1)
    [entry] = seeded.quarantined()
    assert words in entry["reason"] and entry["record_key"] == "A1"
    assert seeded.get_product("A1") == before


def test_a_non_localizable_field_takes_one_value(seeded: Store, tmp_path: Path):
    profile = ContentProfile(fields={"material": "material"})
    counts = import_content(write_json(tmp_path / "c.json", [{"sku": "A1", "material": "Steel"}]), seeded, profile)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert seeded.get_product("A1").values["material"] == "Steel"


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"), (b'[{"sku": "A1", "name"', "not valid JSON"), (b'[{"sku": "\xe4"}]', "not UTF-8"),
])
def test_broken_json_files_get_a_clear_message(seeded: Store, tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        import_content(path, seeded)


def test_text_is_stored_trimmed_and_in_nfc_whatever_the_source_wrote(seeded: Store, tmp_path: Path):
    """Found exploring: JSON text kept its edge blanks (CSV cells were trimmed) and a decomposed `Müller` (NFD, as
    macOS writes it) was stored as given, so it differed from the ERP's composed spelling and conflicted."""
    decomposed = "  Mu\u0308ller Akku-Bohrer\n"
    image = "media/mu\u0308ller.jpg"  # a file name: the bytes on disk, left as written
    import_content(write_json(tmp_path / "c.json", [{**DRILL, "name": {"de_DE": decomposed}, "images": [image]}]),
                   seeded)
    p = seeded.get_product("A1")
    assert p.values["name:de_DE"] == "M\u00fcller Akku-Bohrer" and p.values["image"] == image
    again = import_content(write_json(tmp_path / "d.json", [{"sku": "A1", "name": {"de_DE": "M\u00fcller Akku-Bohrer"}}]),
                           seeded)
    assert (again.updated, again.unchanged) == (0, 1)  # the same text, spelt the other way: no change
    blank = import_content(write_json(tmp_path / "e.json", [{"sku": "A1", "seo_title": {"en_US": " \t "}}]), seeded)
    assert blank.updated == 1 and "seo_title:en_US" not in seeded.get_product("A1").values  # blanks clear
