"""Stock from the ERP, found exploring as an ERP integrator (round 31): a retired warehouse's old reading counted
for ever, a warehouse's negative ATP cancelled the others', an ATP above its quantity passed unseen, and stock
times came back without their zone on SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.erp_xml import import_erp_xml, load_xml_map
from pim.commerce import STOCK, StockLevel, put_stock, stock_all, stock_for
from pim.feeds import build_feed
from pim.importing import Parsed, run_import
from pim.merge import Merger
from pim.store import Store
from pim.store.store import PRODUCT
from tests.feeds_data import out_dir, put_stocks, seed_catalog, store_contract
from tests.source_data import PRECEDENCE, record, seed_structure, without_unknown_skus

MARCH = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STOCK_MAP = {"kind": "stock", "delimiter": ";",
             "columns": {"Lager": "warehouse", "Menge": "quantity", "ATP": "atp", "Stand": "updated_at"}}
HEAD = "sku;Lager;Menge;ATP;Stand"


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    products = [Parsed(record("erp", sku, {"name:en_US": sku}, family="tool"), "f", 1) for sku in ("A1", "A2")]
    run_import(store, "erp", products, merge=Merger(PRECEDENCE, create_missing=True))
    return store


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEAD, *lines]) + "\n", encoding="utf-8")
    return path


def readings(store: Store, sku: str) -> dict[str, tuple[Decimal, Decimal | None]]:
    """warehouse → (quantity, atp) as stored."""
    with store.engine.connect() as conn:
        return {w: (Decimal(q), None if a is None else Decimal(a)) for w, q, a in conn.execute(
            select(STOCK.c.warehouse, STOCK.c.quantity, STOCK.c.atp).where(STOCK.c.sku == sku))}


def seq(store: Store, sku: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(PRODUCT.c.seq).where(PRODUCT.c.identifier == sku)).scalar_one()


def march(store: Store, **levels: str) -> None:
    """Readings taken in March: `A1_HH="35"` is A1's stock in warehouse HH."""
    put_stock(store, [StockLevel(sku=key.split("_")[0], warehouse=key.split("_")[1], quantity=Decimal(q),
                                 updated_at=MARCH) for key, q in levels.items()])


# ---------------------------------------------------------------- a warehouse retired: ERP stock CSV, `complete`


def test_a_complete_stock_file_removes_the_warehouses_it_no_longer_holds_for_the_skus_it_names(seeded: Store,
                                                                                                tmp_path: Path):
    march(seeded, A1_HH="10", A1_MU="35", A2_MU="4")
    before = seq(seeded, "A1")
    path = write(tmp_path / "stock.csv", "A1;HH;7;7;2026-11-24T06:00:00")
    assert import_erp_csv(path, seeded, ErpCsvMap(**STOCK_MAP)).as_dict().get("removed") is None  # not complete: kept
    assert set(readings(seeded, "A1")) == {"HH", "MU"}
    counts = import_erp_csv(path, seeded, ErpCsvMap(**STOCK_MAP, complete=True))
    assert counts.as_dict()["removed"] == 1 and seeded.job(counts.job_id)["counts"]["removed"] == 1
    assert readings(seeded, "A1") == {"HH": (Decimal(7), Decimal(7))}
    assert readings(seeded, "A2") == {"MU": (Decimal(4), None)}  # a SKU the file does not name keeps its stock
    a1 = stock_for(seeded, ["A1"])["A1"]
    assert (a1.atp, a1.updated_at) == (Decimal(7), datetime(2026, 11, 24, 6, tzinfo=UTC))  # no March time: not stale
    assert seq(seeded, "A1") > before  # search and delta feeds send A1's new availability
    with seeded.engine.connect() as conn:  # the run's notes are gone
        assert conn.exec_driver_sql("SELECT count(*) FROM stock_seen").scalar_one() == 0


def test_a_complete_stock_file_with_a_rejected_row_removes_nothing_until_it_is_fixed(seeded: Store, tmp_path: Path):
    march(seeded, A1_HH="10", A1_MU="35", A2_MU="4")
    m = ErpCsvMap(**STOCK_MAP, complete=True)
    broken = write(tmp_path / "stock.csv", "A1;HH;7;7;2026-11-24T06:00:00", "A2;HH;;;2026-11-24T06:00:00")
    counts = import_erp_csv(broken, seeded, m)
    assert (counts.rejected, counts.as_dict()["removed"]) == (1, 0)
    assert set(readings(seeded, "A1")) == {"HH", "MU"}
    entries = without_unknown_skus(seeded.quarantined())
    [row] = [e for e in entries if e["severity"] == "rejected"]
    assert row["field"] == "Menge" and "no quantity" in row["reason"] and "complete: true" in row["reason"]
    [warning] = [e for e in entries if e["severity"] == "warning"]
    assert "no warehouse was removed because 1 row(s) were rejected" in warning["reason"]
    fixed = write(tmp_path / "stock.csv", "A1;HH;7;7;2026-11-24T06:00:00", "A2;HH;1;1;2026-11-24T06:00:00")
    assert import_erp_csv(fixed, seeded, m).as_dict()["removed"] == 2
    assert (set(readings(seeded, "A1")), set(readings(seeded, "A2"))) == ({"HH"}, {"HH"})
    assert without_unknown_skus(seeded.quarantined()) == []  # the clean run closed the warning and the rejection


def test_a_complete_stock_file_keeps_a_reading_taken_after_it(seeded: Store, tmp_path: Path):
    """Files arrive out of order: a warehouse read after the file was written is not retired by it."""
    put_stock(seeded, [StockLevel(sku="A1", warehouse="MU", quantity=Decimal(3), updated_at=MARCH + timedelta(days=2))])
    path = write(tmp_path / "stock.csv", "A1;HH;7;7;2026-03-02T06:00:00")
    assert import_erp_csv(path, seeded, ErpCsvMap(**STOCK_MAP, complete=True, timezone="UTC")).as_dict()["removed"] == 0
    assert set(readings(seeded, "A1")) == {"HH", "MU"}


# ---------------------------------------------------------------- a warehouse retired: MATMAS IDocs


def idoc(matnr: str, segments: str, credat: str = "20261124") -> str:
    return (f"<IDOC BEGIN=\"1\"><EDI_DC40 SEGMENT=\"1\"><IDOCTYP>MATMAS05</IDOCTYP><CREDAT>{credat}</CREDAT>"
            f"<CRETIM>060000</CRETIM></EDI_DC40><E1MARAM SEGMENT=\"1\"><MATNR>{matnr}</MATNR>{segments}"
            "</E1MARAM></IDOC>")


def mardm(warehouse: str, quantity: str = "", atp: str | None = None) -> str:
    free = "" if atp is None else f"<Z_ATP>{atp}</Z_ATP>"
    return f"<E1MARDM SEGMENT=\"1\"><LGORT>{warehouse}</LGORT><LABST>{quantity}</LABST>{free}</E1MARDM>"


def matmas(path: Path, *idocs: str) -> Path:
    path.write_text("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MATMAS05>\n" + "\n".join(idocs) + "\n</MATMAS05>\n",
                    encoding="utf-8")
    return path


def test_the_shipped_matmas_map_takes_an_idocs_storage_locations_as_every_warehouse_of_its_material(
        seeded: Store, tmp_path: Path):
    march(seeded, A1_HH01="10", A1_MU01="35", A1_ST01="2", A2_MU01="4")
    m = load_xml_map(None).model_copy(update={"family": "tool"})
    assert m.stock is not None and m.stock.complete
    # A1 lists HH01 (7) and ST01 without a quantity: MU01 is gone, ST01 keeps its reading; A2 sends no E1MARDM
    counts = import_erp_xml(matmas(tmp_path / "m.xml", idoc("A1", mardm("HH01", "7") + mardm("ST01")), idoc("A2", "")),
                            seeded, m)
    assert (counts.extra["stock_levels"], counts.extra["stock_removed"]) == (1, 1)
    assert readings(seeded, "A1") == {"HH01": (Decimal(7), None), "ST01": (Decimal(2), None)}
    assert set(readings(seeded, "A2")) == {"MU01"}
    assert stock_for(seeded, ["A1"])["A1"].atp == Decimal(9)
    # an older IDoc arriving late retires nothing read after it
    later = datetime(2026, 11, 25, tzinfo=UTC)
    put_stock(seeded, [StockLevel(sku="A2", warehouse="HH01", quantity=Decimal(1), updated_at=later)])
    late = import_erp_xml(matmas(tmp_path / "old.xml", idoc("A2", mardm("MU01", "4"), credat="20261120")), seeded, m)
    assert late.extra["stock_removed"] == 0 and set(readings(seeded, "A2")) == {"HH01", "MU01"}


def test_an_idoc_lists_its_warehouses_only_when_the_map_says_so(seeded: Store, tmp_path: Path):
    march(seeded, A1_HH01="10", A1_MU01="35")
    m = load_xml_map(None)
    assert m.stock is not None
    partial = m.model_copy(update={"family": "tool", "stock": m.stock.model_copy(update={"complete": False})})
    counts = import_erp_xml(matmas(tmp_path / "m.xml", idoc("A1", mardm("HH01", "7"))), seeded, partial)
    assert "stock_removed" not in counts.extra and set(readings(seeded, "A1")) == {"HH01", "MU01"}


# ---------------------------------------------------------------- negative stock, ATP above quantity


def test_a_warehouses_negative_stock_counts_as_none_in_the_sum_and_is_kept_as_sent(seeded: Store):
    put_stock(seeded, [
        StockLevel(sku="A1", warehouse="HH01", quantity=Decimal(-12), atp=Decimal(-12), updated_at=MARCH),
        StockLevel(sku="A1", warehouse="MU01", quantity=Decimal(5), atp=Decimal(5), updated_at=MARCH),
        StockLevel(sku="A2", warehouse="HH01", quantity=Decimal(-3), updated_at=MARCH)])
    for found in (stock_for(seeded, ["A1", "A2"]), stock_all(seeded)):
        assert (found["A1"].quantity, found["A1"].atp, found["A1"].in_stock) == (Decimal(5), Decimal(5), True)
        assert (found["A2"].quantity, found["A2"].atp, found["A2"].in_stock) == (Decimal(0), Decimal(0), False)
    assert readings(seeded, "A1")["HH01"] == (Decimal(-12), Decimal(-12))


def test_an_atp_above_the_quantity_is_a_problem_of_the_row_kept_as_sent(seeded: Store, tmp_path: Path):
    m = ErpCsvMap(**STOCK_MAP)
    rows = ["A1;HH;5;8;2026-11-20T08:00:00", "A2;HH;0;0;2026-11-20T08:00:00", "A2;MU;-5;0;2026-11-20T08:00:00"]
    counts = import_erp_csv(write(tmp_path / "stock.csv", *rows), seeded, m)  # only A1's ATP promises too much
    assert (counts.updated, counts.rejected, counts.problems) == (3, 0, 1)
    assert readings(seeded, "A1") == {"HH": (Decimal(5), Decimal(8))}
    [problem] = seeded.quarantined(counts.job_id)
    assert (problem["severity"], problem["line"], problem["field"]) == ("problem", 2, "ATP")
    assert problem["record_key"] == "A1|HH"
    assert "ATP 8 in warehouse HH is more than its quantity 5: kept as sent" in problem["reason"]
    assert "`atp` and `quantity` are not swapped" in problem["reason"]
    fixed = import_erp_csv(write(tmp_path / "stock.csv", "A1;HH;8;8;2026-11-20T09:00:00"), seeded, m)
    assert fixed.problems == 0 and seeded.quarantined() == []  # the file's next run closes it


def test_an_idocs_atp_above_its_quantity_is_a_problem_of_its_record(seeded: Store, tmp_path: Path):
    m = load_xml_map(None).model_copy(update={"family": "tool"})
    counts = import_erp_xml(matmas(tmp_path / "m.xml", idoc("A1", mardm("HH01", "5", atp="8"))), seeded, m)
    assert (counts.rejected, counts.problems, counts.extra["stock_levels"]) == (0, 1, 1)
    [problem] = seeded.quarantined(counts.job_id)
    assert (problem["severity"], problem["field"], problem["record_key"]) == ("problem", "Z_ATP", "A1")
    assert "ATP 8 in warehouse HH01 is more than its quantity 5" in problem["reason"]
    assert readings(seeded, "A1") == {"HH01": (Decimal(5), Decimal(8))}


# ---------------------------------------------------------------- stock times in UTC


def test_stock_times_read_back_in_utc_on_every_backend(seeded: Store):
    berlin = timezone(timedelta(hours=1))
    put_stock(seeded, [StockLevel(sku="A1", warehouse="HH", quantity=Decimal(1), updated_at=MARCH),
                       StockLevel(sku="A2", warehouse="HH", quantity=Decimal(1),
                                  updated_at=datetime(2026, 3, 1, 13, tzinfo=berlin))])
    for found in (stock_for(seeded, ["A1", "A2"]), stock_all(seeded)):
        assert found["A1"].updated_at == MARCH and found["A1"].updated_at.tzinfo is not None
        assert found["A2"].updated_at == MARCH and found["A2"].updated_at.utcoffset() == timedelta(0)


def test_a_jsonl_feeds_stock_time_has_its_offset(store: Store, tmp_path: Path):
    seed_catalog(store)
    put_stocks(store, {"T1": "12"})
    build = build_feed(store, store_contract(store, format="jsonl"), out_dir(tmp_path))
    t1 = next(d for d in map(json.loads, build.path.read_text().splitlines()) if d["sku"] == "T1")
    assert datetime.fromisoformat(t1["stock"]["updated_at"]) == datetime(2024, 5, 1, tzinfo=UTC)
    assert t1["stock"]["updated_at"].endswith("+00:00")
