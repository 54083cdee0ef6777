"""ERP customer price lists checked at import (found by an explorer acting as an ERP integrator): a key given
twice in one file with another price, inverted quantity tiers, prices of 0, and customers no contract names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from importers.erp_csv import ErpCsvMap, FirstRows, import_erp_csv
from pim.commerce import contract_tiers
from pim.contracts import put_contracts
from pim.store import Store
from tests.feeds_data import contract
from tests.source_data import without_unknown_skus

HEAD = "Kunde;Material;Menge;Preis;Ab;Bis"
PRICE_MAP = dict(kind="price_list", delimiter=";", decimal=",", date_format="%d.%m.%Y", sku_column="Material",
                 columns={"Kunde": "customer", "Menge": "min_qty", "Preis": "price", "Ab": "valid_from",
                          "Bis": "valid_to"}, defaults={"currency": "EUR"})


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def open_entries(store: Store, file: str, severity: str) -> list[dict]:
    return sorted((e for e in without_unknown_skus(store.quarantined()) if e["file"] == file
                   and e["severity"] == severity and e["resolved_at"] is None and e["superseded_by"] is None),
                  key=lambda e: e["line"] or 0)


def tiers(store: Store, customer: str, sku: str, on: date = date(2026, 6, 1)) -> list[tuple[Decimal, Decimal]]:
    return [(t.min_qty, t.price) for t in contract_tiers(store, customer, [sku], "EUR", on=on).get(sku, [])]


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_a_key_given_again_with_another_price_rejects_the_later_row_naming_the_first(store: Store, tmp_path: Path,
                                                                                      batch_size: int) -> None:
    """The last row silently won and the file counted `unchanged: 1`. The later row is refused naming the first
    row's line, whether the two share a batch or not; a repeat giving the same price changes nothing."""
    store.batch_size = batch_size
    path = write(tmp_path / "p.csv", [HEAD,
                                      "C1;A1;1;20,00;01.01.2026;",
                                      "C1;A1;1,00;25,00;01.01.2026;",      # 1,00 is quantity 1: the same key
                                      "C1;A1;1;20;01.01.2026;",            # the same price again: taken
                                      "C1;A1;1;20,00;01.01.2026;31.12.2026",  # another end date: refused
                                      "C1;A1;1;25,00;01.11.2026;"])        # another valid_from: another key
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.read, counts.created, counts.unchanged, counts.rejected) == (5, 2, 1, 2)
    assert tiers(store, "C1", "A1") == [(Decimal(1), Decimal(20))]
    assert tiers(store, "C1", "A1", on=date(2026, 12, 1)) == [(Decimal(1), Decimal(25))]
    refused = open_entries(store, "p.csv", "rejected")  # still open: the clean rows of the key do not close them
    assert [(e["line"], e["field"]) for e in refused] == [(3, "Preis"), (5, "Preis")]
    assert refused[0]["reason"].startswith("line 2 gives customer 'C1' a price for A1 from quantity 1")
    assert "this later row was not imported, line 2's price stands" in refused[0]["reason"]


def test_first_rows_finds_a_repeat_among_many_keys() -> None:
    """The key table keeps the first line of each of many keys."""
    firsts = FirstRows()
    assert all(firsts.earlier(("C", f"P{n}"), n + 2, (n,)) is None for n in range(5000))
    assert firsts.earlier(("C", "P4321"), 9000, (4321,)) is None  # the same values again
    assert firsts.earlier(("C", "P4321"), 9001, (1,)) == 4323
    assert firsts.earlier(("C", "P5000"), 9002, (1,)) is None


def test_a_tier_dearer_than_a_lower_quantity_one_is_a_problem_and_kept(store: Store, tmp_path: Path) -> None:
    """1:40 | 10:45 | 100:30 went in silently: an order of 10 paid more per unit than one of 1."""
    path = write(tmp_path / "p.csv", [HEAD,
                                      "C1;A1;100;30,00;01.01.2026;",
                                      "C1;A1;1;40,00;01.01.2026;",
                                      "C1;A1;10;45,00;01.01.2026;",
                                      "C1;A1;10;50,00;01.11.2026;",   # another window: not compared
                                      "C1;A2;1;10,00;01.01.2026;",
                                      "C1;A2;10;9,00;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.created, counts.rejected, counts.problems) == (6, 0, 1)
    assert tiers(store, "C1", "A1") == [(Decimal(1), Decimal(40)), (Decimal(10), Decimal(45)),
                                        (Decimal(100), Decimal(30))]  # kept as sent
    [problem] = open_entries(store, "p.csv", "problem")
    assert (problem["line"], problem["field"], problem["record_key"]) == (4, "Preis", "C1|A1|EUR|10|01.01.2026")
    assert problem["reason"].startswith("EUR 45.00 from quantity 10 is more than 40.00 from quantity 1 (line 3): "
                                        "a larger order would pay more per unit")


def test_a_price_of_zero_is_a_problem_and_kept(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [HEAD, "C1;A1;1;0,00;01.01.2026;", "C1;A2;1;0,01;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.created, counts.problems) == (2, 1)
    assert tiers(store, "C1", "A1") == [(Decimal(1), Decimal(0))]
    [problem] = open_entries(store, "p.csv", "problem")
    assert (problem["line"], problem["field"]) == (2, "Preis")
    assert problem["reason"].startswith("price 0 EUR from quantity 1: feeds send A1 to customer C1 for nothing")
    import_erp_csv(write(tmp_path / "p.csv", [HEAD, "C1;A1;1;5,00;01.01.2026;"]), store, ErpCsvMap(**PRICE_MAP))
    assert open_entries(store, "p.csv", "problem") == []  # the fixed row closes it


def test_prices_of_customers_no_contract_names_get_one_warning_per_file(store: Store, tmp_path: Path) -> None:
    """Stored silently, they reached no feed. Contracts compare customers exactly, so `acme` is not `ACME`: the
    warning names the contract customer it may mean. A contract with `pricing.price_list` prices from that list."""
    put_contracts(store, [contract("acme-main", "ACME"),
                          contract("bolt-main", "BOLT", pricing={"price_list": "LIST7"})])
    path = write(tmp_path / "p.csv", [HEAD, "ACME;A1;1;10;01.01.2026;", "LIST7;A1;1;10;01.01.2026;",
                                      "acme;A1;1;10;01.01.2026;", "BOLT;A1;1;10;01.01.2026;",
                                      "NOBODY;A1;1;10;01.01.2026;", "NOBODY;A2;1;10;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.created, counts.extra["uncontracted_rows"]) == (6, 4)
    assert tiers(store, "acme", "A1") == [(Decimal(1), Decimal(10))]  # kept
    [warning] = open_entries(store, "p.csv", "warning")
    assert warning["field"] == "Kunde"
    assert warning["reason"].startswith("4 row(s) give prices to customers no contract names: NOBODY (2 rows), "
                                        "acme (1 row; a contract has 'ACME'), BOLT (1 row). They are kept but reach "
                                        "no feed")
    fixed = write(tmp_path / "p.csv", [HEAD, "ACME;A1;1;10;01.01.2026;", "LIST7;A1;1;10;01.01.2026;"])
    assert "uncontracted_rows" not in import_erp_csv(fixed, store, ErpCsvMap(**PRICE_MAP)).extra
    assert open_entries(store, "p.csv", "warning") == []  # the clean run closed it


def test_without_contracts_no_customer_is_warned_about(store: Store, tmp_path: Path) -> None:
    """Guard (passes before and after the change): with no contract at all, the search index takes a product's
    customers from the price lists, so every customer of the file counts."""
    path = write(tmp_path / "p.csv", [HEAD, "NOBODY;A1;1;10;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert "uncontracted_rows" not in counts.extra and open_entries(store, "p.csv", "warning") == []
