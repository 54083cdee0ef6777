"""Round 35 review mends (b): a supplier table's tier row restates only its own currency and validity period
(importers.supplier_tiers), a `currency_column` the file lacks is one file warning, and a `pid_slash` SKU is
paired with the PID it was made from, so a later file's other PID making the same SKU is refused
(importers.bmecat_matching.refuse_pid_twins)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from importers.supplier_table import import_supplier_table
from pim.sources import cross_references
from pim.store import Store
from tests.test_bmecat import supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_complete_catalog import SUPPLIER, new_catalog, relay, run
from tests.test_importers_r34 import sstore, table  # noqa: F401  (fixture)
from tests.test_importers_r35 import DATED_HEAD, dated, delete, pid_skus, stored_tiers

# ---------------------------------------------------------------- 1. a tier row restates its currency and period

EUR_NOW = "A1;4006381333931;Relais;12,50;;500;11,00;EUR;;"  # 12.50 from 1, 11.00 from 500, no dates


def tiers(store: Store) -> set[tuple[str, Decimal, Decimal, date]]:
    """A1's stored tiers as (currency, min_qty, price, valid_from)."""
    return {(c, q, p, f) for c, q, p, f, _ in stored_tiers(store, "A1")}


def test_a_file_of_later_prices_keeps_todays_tiers(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """Today's tiers, then the supplier's prices from 01.07.2027: both periods stay (the latest started is read
    on each day), nothing is removed."""
    import_supplier_table(table(tmp_path, EUR_NOW, head=DATED_HEAD), sstore, dated())
    later = "A1;4006381333931;Relais;13,50;;;;EUR;01.07.2027;"
    counts = import_supplier_table(table(tmp_path, later, head=DATED_HEAD, name="from-july.csv"), sstore, dated())
    assert (counts.rejected, "tier_prices_removed" in counts.extra) == (0, False)
    assert tiers(sstore) == {("EUR", Decimal(1), Decimal("12.5"), date(1900, 1, 1)),
                             ("EUR", Decimal(500), Decimal(11), date(1900, 1, 1)),
                             ("EUR", Decimal(1), Decimal("13.5"), date(2027, 7, 1))}


def test_a_file_in_another_currency_keeps_the_first_currencys_tiers(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    import_supplier_table(table(tmp_path, EUR_NOW, head=DATED_HEAD), sstore, dated())
    chf = "A1;4006381333931;Relais;13,50;;;;CHF;;"
    counts = import_supplier_table(table(tmp_path, chf, head=DATED_HEAD, name="chf.csv"), sstore, dated())
    assert "tier_prices_removed" not in counts.extra
    assert {(c, q) for c, q, _, _ in tiers(sstore)} == {("EUR", Decimal(1)), ("EUR", Decimal(500)), ("CHF", Decimal(1))}


def test_an_emptied_tier_goes_from_its_own_period_only(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The 500 tier emptied in today's row is removed; the July period and the CHF tiers stay."""
    for n, row in enumerate((EUR_NOW, "A1;4006381333931;Relais;13,50;;500;12,00;EUR;01.07.2027;",
                             "A1;4006381333931;Relais;14,00;;;;CHF;;")):
        import_supplier_table(table(tmp_path, row, head=DATED_HEAD, name=f"{n}.csv"), sstore, dated())
    emptied = "A1;4006381333931;Relais;12,50;;;;EUR;;"
    counts = import_supplier_table(table(tmp_path, emptied, head=DATED_HEAD, name="b.csv"), sstore, dated())
    assert counts.extra["tier_prices_removed"] == 1
    assert tiers(sstore) == {("EUR", Decimal(1), Decimal("12.5"), date(1900, 1, 1)),
                             ("EUR", Decimal(1), Decimal("13.5"), date(2027, 7, 1)),
                             ("EUR", Decimal(500), Decimal(12), date(2027, 7, 1)),
                             ("CHF", Decimal(1), Decimal(14), date(1900, 1, 1))}


def test_a_row_without_tiers_clears_its_currency_only(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """A CHF row whose tier cells are empty takes the CHF tiers off; the EUR ones stay."""
    import_supplier_table(table(tmp_path, EUR_NOW, head=DATED_HEAD), sstore, dated())
    import_supplier_table(table(tmp_path, "A1;4006381333931;Relais;14,00;;;;CHF;;", head=DATED_HEAD, name="chf.csv"),
                          sstore, dated())
    counts = import_supplier_table(table(tmp_path, "A1;4006381333931;Relais;;;;;CHF;;", head=DATED_HEAD, name="b.csv"),
                                   sstore, dated())
    assert (counts.rejected, counts.extra["tier_prices_removed"]) == (0, 1)
    assert {c for c, *_ in tiers(sstore)} == {"EUR"}


def test_a_currency_column_the_file_lacks_is_one_warning_not_every_row_refused(sstore: Store,  # noqa: F811
                                                                               tmp_path: Path) -> None:
    """No `currency` to fall back on: the rows are imported without tiers (the stored ones stay), and one
    warning names the missing column; the column back, the warning closes."""
    import_supplier_table(table(tmp_path, EUR_NOW, head=DATED_HEAD), sstore, dated())
    head = DATED_HEAD.replace(";Währung", "")
    rows = ("A1;4006381333931;Relais X;12,50;;500;10,00;;", "A2;4012345678901;Relais;13,00;;;;;")
    counts = import_supplier_table(table(tmp_path, *rows, head=head, name="b.csv"), sstore, dated())
    assert (counts.rejected, counts.created, counts.extra["tier_currency_missing"]) == (0, 1, 1)
    assert "tier_prices_removed" not in counts.extra and len(tiers(sstore)) == 2
    [warning] = [e for e in sstore.quarantined() if e["severity"] != "problem"]
    assert (warning["severity"], warning["field"]) == ("warning", "Währung")
    assert "'Währung', which is not in this file" in warning["reason"] and "`currency`" in warning["reason"]
    import_supplier_table(table(tmp_path, EUR_NOW, head=DATED_HEAD, name="b.csv"), sstore, dated())
    assert not [e for e in sstore.quarantined() if e["severity"] == "warning"]


# ---------------------------------------------------------------- 2. a `pid_slash` twin in a later file


def pairs(store: Store) -> dict[str, str]:
    return {r["source_pid"]: r["sku"] for r in cross_references(store, SUPPLIER)}


def test_a_pid_making_another_pids_sku_in_a_later_file_is_refused(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = pid_skus(pid_slash="-")
    first = new_catalog(tmp_path, relay("r-1"), name="a.xml")
    assert run(supplier_store, first, m).created == 1
    assert pairs(supplier_store) == {"r-1": "WM-r-1"}
    counts = run(supplier_store, new_catalog(tmp_path, relay("r/1", ean="4006381333931"), name="b.xml"), m)
    assert (counts.rejected, counts.updated) == (1, 0)
    [refused] = [e for e in supplier_store.quarantined(counts.job_id) if e["severity"] == "rejected"]
    assert (refused["record_key"], refused["field"]) == ("r/1", "SUPPLIER_PID")
    assert "PID 'r/1' makes SKU 'WM-r-1'" in refused["reason"] and "product 'r-1'" in refused["reason"]
    assert supplier_store.get_product("WM-r-1").values["name:en_US"] == "Relay r-1"
    assert pairs(supplier_store) == {"r-1": "WM-r-1"}
    assert run(supplier_store, first, m).rejected == 0  # its own PID again: no clash


def test_the_slashed_pid_first_refuses_the_plain_one_later(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = pid_skus(pid_slash="-")
    run(supplier_store, new_catalog(tmp_path, relay("r/1"), name="a.xml"), m)
    counts = run(supplier_store, new_catalog(tmp_path, relay("r-1", ean="4006381333931"), name="b.xml"), m)
    assert counts.rejected == 1
    assert supplier_store.get_product("WM-r-1").values["name:en_US"] == "Relay r/1"
    assert pairs(supplier_store) == {"r/1": "WM-r-1"}


def test_a_delete_of_a_pid_making_another_pids_sku_is_refused(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """A delete of r/1 would withdraw what r-1 gave WM-r-1."""
    m = pid_skus(pid_slash="-")
    run(supplier_store, new_catalog(tmp_path, relay("r-1"), name="a.xml"), m)
    counts = run(supplier_store, new_catalog(tmp_path, delete("r/1"), name="d.xml", transaction="T_UPDATE_PRODUCTS"), m)
    assert counts.rejected == 1 and "withdrawn" not in counts.extra
    p = supplier_store.get_product("WM-r-1")
    assert p.enabled and p.values["name:en_US"] == "Relay r-1"
