"""Resource limits a security reviewer found (round 31): a rejected row's raw content was quarantined whole (one
CSV row of 50 MB: 157 MB of JSON per entry, GBs to list it), one MATMAS IDoc with many E1MARDM segments took
time growing with their square (each stock chunk read every stored reading of its SKU) and all the memory it
could, and a profile name linked out of PIM_HOME was refused with a hint about '..' it did not contain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Select

import importers.erp_xml as erp_xml
import importers.erp_xml_stock as erp_xml_stock
from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.erp_xml import import_erp_xml, load_xml_map
from pim.commerce import STOCK
from pim.errors import InputError
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import RAW_ITEMS, RAW_TEXT, RAW_TOTAL, QuarantineEntry
from pim.upload_imports import UploadRefused, plan, profile_file
from tests.source_data import seed_structure

HEADER = "Material;Bezeichnung"
MAP = {"delimiter": ";", "encoding": "utf-8", "sku_column": "Material", "family": "tool",
       "columns": {"Bezeichnung": "name:de_DE"}}


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def csv_file(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def stored_raw(store: Store) -> tuple[dict[str, Any], str]:
    """The one quarantined entry's raw content and reason."""
    [entry] = store.quarantined()
    return entry["raw"], entry["reason"]


# ---------------------------------------------------------------- the quarantine keeps a capped raw row


def test_a_ragged_row_of_200k_cells_is_kept_as_its_first_cells_and_how_many_it_had(seeded: Store, tmp_path: Path):
    path = csv_file(tmp_path / "ragged.csv", "A1" + ";x" * 200_000)
    counts = import_erp_csv(path, seeded, ErpCsvMap(**MAP))
    assert counts.rejected == 1
    raw, reason = stored_raw(seeded)
    assert reason.startswith("the row has 200001 cells")  # the reason keeps its text
    cells = raw["cells"]
    assert cells[:3] == ["A1", "x", "x"] and len(cells) == RAW_ITEMS + 1
    assert cells[-1] == f"[cut: 200,001 entries in all, the first {RAW_ITEMS:,} kept]"


def test_a_5_mb_cell_is_kept_as_its_first_characters_and_its_size(seeded: Store, tmp_path: Path):
    import_erp_csv(csv_file(tmp_path / "big.csv", "B" * 5_000_000 + ";Bohrer"), seeded, ErpCsvMap(**MAP))
    raw, reason = stored_raw(seeded)
    text = orjson.dumps(raw).decode()
    assert "(it has 5000000)" in reason  # why it was rejected stays said
    assert "B" * RAW_TEXT + "… [cut: 5,000,000 characters in all, the first 4,096 kept]" in text
    assert len(text) < RAW_TEXT + 2000


@pytest.mark.parametrize("raw", [
    {f"column {n}": "C" * 10_000 for n in range(100)},  # wide: 1 MB of cells
    {"cells": [""] * 50_000},  # a ragged row of empty cells (no characters, many entries)
    {"deep": orjson.loads("[" * 500 + "]" * 500)},  # nested as deep as JSON goes
], ids=["wide", "many-empty", "deep"])
def test_the_quarantine_keeps_about_64_kib_of_any_source_raw_row(store: Store, raw: dict[str, Any]):
    store.quarantine(None, [QuarantineEntry("a reason of its own " * 100, "f.json", 1, None, raw, "K1", "erp")])
    kept, reason = stored_raw(store)
    assert reason == "a reason of its own " * 100
    assert len(orjson.dumps(kept)) < RAW_TOTAL + 8 * 1024
    assert "[cut: " in orjson.dumps(kept).decode()


# ---------------------------------------------------------------- one MATMAS IDoc, many E1MARDM segments


def idoc(matnr: str, segments: int) -> str:
    stock = "".join(f"<E1MARDM SEGMENT=\"1\"><LGORT>W{n}</LGORT><LABST>1</LABST></E1MARDM>" for n in range(segments))
    return (f"<IDOC BEGIN=\"1\"><EDI_DC40 SEGMENT=\"1\"><CREDAT>20261124</CREDAT><CRETIM>060000</CRETIM></EDI_DC40>"
            f"<E1MARAM SEGMENT=\"1\"><MATNR>{matnr}</MATNR>{stock}</E1MARAM></IDOC>")


def matmas(path: Path, *idocs: str) -> Path:
    path.write_text("<?xml version=\"1.0\"?><MATMAS05>" + "".join(idocs) + "</MATMAS05>", encoding="utf-8")
    return path


def test_an_idoc_with_thousands_of_warehouses_reads_each_stored_reading_once_per_write(
        seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each chunk of a record's readings read every stored reading of its SKU (3,000 segments in chunks of 500:
    18,000 rows for 3,000 readings), so one IDoc's time grew with the square of its segments."""
    m = load_xml_map(None).model_copy(update={"family": "tool"})
    path = matmas(tmp_path / "wide.xml", idoc("A1", 3000))
    seeded.batch_size = 500
    assert import_erp_xml(path, seeded, m).extra["stock_levels"] == 3000
    read: list[int] = []
    execute = Connection.execute

    def counting(conn: Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = execute(conn, statement, *args, **kwargs)
        if isinstance(statement, Select) and STOCK in statement.get_final_froms():
            frozen = result.freeze()
            read.append(len(frozen.data))
            return frozen()
        return result

    monkeypatch.setattr(Connection, "execute", counting)
    counts = import_erp_xml(path, seeded, m)  # the same readings again: each one read to tell it is unchanged
    assert counts.extra["stock_removed"] == 0
    assert sum(read) <= 2 * 3000  # the readings' chunks, once, and the warehouse list's check, once


def test_an_idoc_with_more_stock_segments_than_a_record_may_hold_is_rejected_and_never_held_whole(
        seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(erp_xml_stock, "MAX_STOCK_ELEMENTS", 50)
    held: list[int] = []
    read_stock = erp_xml.read_stock
    monkeypatch.setattr(erp_xml, "read_stock", lambda elem, *a: held.append(len(elem)) or read_stock(elem, *a))
    m = load_xml_map(None).model_copy(update={"family": "tool"})
    counts = import_erp_xml(matmas(tmp_path / "wide.xml", idoc("A1", 2000), idoc("A2", 3)), seeded, m)
    assert (counts.created, counts.rejected, counts.extra["stock_levels"]) == (1, 1, 3)  # A2 is taken in
    [entry] = seeded.quarantined()
    assert entry["record_key"] == "A1" and entry["field"] == "E1MARDM"
    assert entry["reason"].startswith("the record holds more than 50 stock elements (E1MARDM)")
    assert held[0] <= 1 + 50 + 2  # MATNR and the cap's segments (+ the one that tells and one freed): not 2,001


# ---------------------------------------------------------------- a profile name linked out of PIM_HOME


class Editor:
    role = "editor"

    def can(self, role: str) -> bool:
        return True


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / "maps").mkdir(parents=True)
    (home / "uploads").mkdir()
    monkeypatch.setenv("PIM_HOME", str(home))
    reset_settings()
    yield home
    reset_settings()


def test_a_profile_name_linked_out_of_pim_home_says_the_link_leads_out(home: Path, tmp_path: Path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (home / "maps" / "evil.yaml").symlink_to(tmp_path / "passwd")
    with pytest.raises(UploadRefused) as refused:
        plan("supplier", "acme.csv", "maps/evil.yaml", Editor())
    said = refused.value.errors["profile"]
    assert "'maps/evil.yaml' is not a profile name: it leads out of PIM_HOME through a symbolic link" in said
    assert "no '..'" not in said and "passwd" not in said  # nor where it leads


def test_a_profile_name_linked_into_the_uploads_says_so(home: Path):
    (home / "uploads" / "mine.yaml").write_text("source: supplier:evil\n")
    (home / "maps" / "mine.yaml").symlink_to(home / "uploads" / "mine.yaml")
    with pytest.raises(InputError, match="it leads into PIM_HOME/uploads through a symbolic link"):
        profile_file("maps/mine.yaml")
