"""Content-team files (JSON, CSV, the spreadsheet) have their GTINs checked as the ERP's and suppliers' are: a
bad one (a typo in the sheet) is left out, the stored GTIN stays, the rest of the record is taken in, and the
record carries a `problem` naming the key and the expected check digit."""

from __future__ import annotations

from pathlib import Path

from importers.content import import_content
from pim.merge import candidates_for
from pim.store import Store
from tests.test_content_import import seeded, write_json  # noqa: F401  (seeded: fixture)

GOOD, BAD = "4006381333931", "4006381333932"


def _problems(store: Store) -> list[tuple[str, str, str | None]]:
    return sorted((p["record_key"], p["field"], p["file"]) for p in store.quarantined(severity="problem"))


def test_a_bad_gtin_in_a_content_csv_is_left_out_and_noted(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    sheet = tmp_path / "content.csv"
    sheet.write_text(f"sku,name:en_US,ean\nA1,Drill,{BAD}\nA2,Driver,{GOOD}\n", encoding="utf-8")
    counts = import_content(sheet, seeded, precedence=None)
    assert (counts.read, counts.updated, counts.rejected) == (2, 2, 0)
    a1 = seeded.get_product("A1")
    assert a1 is not None and a1.values["name:en_US"] == "Drill"  # the rest of the row is in
    assert a1.values["ean"] == "1"  # the ERP's stays: the bad one is not even a waiting claim
    assert "content" not in candidates_for(seeded, "A1").get("ean", {})
    assert seeded.get_product("A2").values["ean"] == GOOD  # type: ignore[union-attr]
    [entry] = seeded.quarantined(severity="problem")
    assert (entry["record_key"], entry["field"], entry["line"], entry["file"]) == ("A1", "ean", 2, "content.csv")
    assert "check digit" in entry["reason"] and "expected 1" in entry["reason"]
    assert "correct it in the file" in entry["reason"] and len(entry["reason"]) <= 200


def test_json_content_too_and_a_fixed_file_closes_the_problem(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    path = write_json(tmp_path / "c.json", [{"sku": "A1", "values": {"ean": BAD, "name:en_US": "Drill"}}])
    import_content(path, seeded, precedence=None)
    assert _problems(seeded) == [("A1", "ean", "c.json")]
    again = import_content(path, seeded, precedence=None)
    assert again.unchanged == 1 and _problems(seeded) == [("A1", "ean", "c.json")]  # still wrong: still noted
    import_content(write_json(path, [{"sku": "A1", "values": {"ean": GOOD, "name:en_US": "Drill"}}]), seeded,
                   precedence=None)
    assert _problems(seeded) == []
    assert seeded.get_product("A1").values["name:en_US"] == "Drill"  # type: ignore[union-attr]


def test_an_empty_gtin_cell_still_clears_the_content_claim(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    sheet = tmp_path / "content.csv"
    sheet.write_text(f"sku,ean\nA1,{GOOD}\n", encoding="utf-8")
    import_content(sheet, seeded, precedence=None)
    assert seeded.get_product("A1").values["ean"] == GOOD  # type: ignore[union-attr]  # content wins by default
    sheet.write_text("sku,ean\nA1,\n", encoding="utf-8")
    import_content(sheet, seeded, precedence=None)
    assert _problems(seeded) == []  # an empty cell is a clear, not a bad GTIN
    assert "content" not in candidates_for(seeded, "A1").get("ean", {})
    assert seeded.get_product("A1").values["ean"] == "1"  # type: ignore[union-attr]  # the ERP's claim shows again
