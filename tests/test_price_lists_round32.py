"""Price-list checks left by round 31: the warning on prices no contract takes counts the currency, tiers of one
window are compared whether or not the file gives them on adjacent rows, and price lists loaded as JSON Lines
(`pim feeds prices`) get the checks an ERP CSV price list gets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from importers.erp_csv import EarlierTiers, ErpCsvMap, PriceChecks, import_erp_csv, import_price_list_jsonl
from pim.commerce import contract_tiers
from pim.contracts import put_contracts
from pim.store import Store
from tests.feeds_data import contract
from tests.source_data import without_unknown_skus

HEAD = "Kunde;Material;Währung;Menge;Preis;Ab;Bis"
PRICE_MAP = dict(kind="price_list", delimiter=";", decimal=",", date_format="%d.%m.%Y", sku_column="Material",
                 columns={"Kunde": "customer", "Währung": "currency", "Menge": "min_qty", "Preis": "price",
                          "Ab": "valid_from", "Bis": "valid_to"})


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else orjson.dumps(line)) + b"\n"
                              for line in lines))
    return path


def entry(sku: str, min_qty: str, price: str, customer: str = "C1", **more: str) -> dict:
    return {"customer": customer, "sku": sku, "currency": "EUR", "min_qty": min_qty, "price": price,
            "valid_from": "2026-01-01", **more}


def open_entries(store: Store, file: str, severity: str) -> list[dict]:
    return sorted((e for e in without_unknown_skus(store.quarantined()) if e["file"] == file
                   and e["severity"] == severity and e["resolved_at"] is None and e["superseded_by"] is None),
                  key=lambda e: e["line"] or 0)


def tiers(store: Store, customer: str, sku: str, currency: str = "EUR") -> list[tuple[Decimal, Decimal]]:
    return [(t.min_qty, t.price) for t in contract_tiers(store, customer, [sku], currency, on=date(2026, 6, 1)).get(sku, [])]


# ------------------------------------------------------------------------------ contracts and currencies
def test_prices_in_a_currency_no_contract_of_the_customer_uses_are_warned_about(store: Store, tmp_path: Path) -> None:
    """ACME's contract prices in EUR: its USD rows reach no feed, yet only customers no contract named were
    warned about. Each (customer, currency) pair no contract uses is named; a customer with a contract in each
    currency it is priced in is not."""
    put_contracts(store, [contract("acme-main", "ACME"),
                          contract("bolt-eu", "BOLT"), contract("bolt-uk", "BOLT", currency="GBP")])
    path = write(tmp_path / "p.csv", [HEAD, "ACME;A1;EUR;1;10;01.01.2026;", "ACME;A1;USD;1;12;01.01.2026;",
                                      "ACME;A2;USD;1;12;01.01.2026;", "BOLT;A1;GBP;1;9;01.01.2026;",
                                      "BOLT;A1;EUR;1;10;01.01.2026;", "NOBODY;A1;EUR;1;10;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.created, counts.extra["uncontracted_rows"]) == (6, 3)
    assert tiers(store, "ACME", "A1", "USD") == [(Decimal(1), Decimal(12))]  # kept
    [warning] = open_entries(store, "p.csv", "warning")
    assert warning["field"] == "Kunde"
    assert warning["reason"].startswith(
        "1 row(s) give prices to customers no contract names: NOBODY (1 row); 2 row(s) give prices in a currency no "
        "contract of their customer uses: ACME in USD (2 rows; its contracts price in EUR). They are kept but reach "
        "no feed")
    assert "in the contract's `currency`" in warning["reason"]


def test_a_price_list_named_by_a_contract_is_taken_in_that_contract_s_currency(store: Store, tmp_path: Path) -> None:
    """`pricing.price_list` names whose prices a contract takes; it takes them in its own currency only."""
    put_contracts(store, [contract("bolt-us", "BOLT", currency="USD", pricing={"price_list": "LIST7"})])
    path = write(tmp_path / "p.csv", [HEAD, "LIST7;A1;USD;1;10;01.01.2026;", "LIST7;A1;EUR;1;9;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert counts.extra["uncontracted_rows"] == 1
    [warning] = open_entries(store, "p.csv", "warning")
    assert "LIST7 in EUR (1 row; its contracts price in USD)" in warning["reason"]
    fixed = write(tmp_path / "p.csv", [HEAD, "LIST7;A1;USD;1;10;01.01.2026;"])
    assert "uncontracted_rows" not in import_erp_csv(fixed, store, ErpCsvMap(**PRICE_MAP)).extra
    assert open_entries(store, "p.csv", "warning") == []  # the clean run closed it


def test_contracts_are_read_once_per_import(store: Store, tmp_path: Path) -> None:
    """Guard (passes before and after the change): the currency check reads the contracts in the one query the
    customer check made, not per row or per batch."""
    store.batch_size = 2
    put_contracts(store, [contract("acme-main", "ACME")])
    path = write(tmp_path / "p.csv", [HEAD, *(f"ACME;A{n};USD;1;10;01.01.2026;" for n in range(7))])
    statements: list[str] = []
    listen = lambda *args: statements.append(str(args[2]))  # noqa: E731  (conn, cursor, statement, …)
    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    assert sum("feed_contract" in s for s in statements) == 1


# ------------------------------------------------------------------------------ tiers as a whole
def test_tiers_of_one_window_on_rows_apart_are_compared(store: Store, tmp_path: Path) -> None:
    """A file sorted by quantity, then SKU, gave each SKU's tiers on rows apart: only adjacent rows were compared,
    so 1:40 | 10:45 went in silently. Another window of the SKU is still not compared."""
    path = write(tmp_path / "p.csv", [HEAD,
                                      "C1;A1;EUR;1;40,00;01.01.2026;",
                                      "C1;A2;EUR;1;10,00;01.01.2026;",
                                      "C1;A1;EUR;5;41,50;01.11.2026;",   # another window: not compared
                                      "C1;A1;EUR;10;45,00;01.01.2026;",
                                      "C1;A2;EUR;10;9,00;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.created, counts.problems) == (5, 1)
    [problem] = open_entries(store, "p.csv", "problem")
    assert (problem["line"], problem["field"], problem["record_key"]) == (5, "Preis", "C1|A1|EUR|10|01.01.2026")
    assert problem["reason"].startswith("EUR 45.00 from quantity 10 is more than 40.00 from quantity 1 (line 2): "
                                        "a larger order would pay more per unit")


def test_a_cheaper_smaller_tier_read_after_a_dearer_larger_one_is_a_problem(store: Store, tmp_path: Path) -> None:
    """The dearer tier was already written when the cheaper one is read: the later row carries the problem,
    naming the earlier one, and both are kept as sent."""
    path = write(tmp_path / "p.csv", [HEAD,
                                      "C1;A1;EUR;10;45,5;01.01.2026;",
                                      "C1;A2;EUR;1;10,00;01.01.2026;",
                                      "C1;A1;EUR;1;40,00;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.created, counts.problems) == (3, 1)
    assert tiers(store, "C1", "A1") == [(Decimal(1), Decimal(40)), (Decimal(10), Decimal("45.5"))]
    [problem] = open_entries(store, "p.csv", "problem")
    assert (problem["line"], problem["record_key"]) == (4, "C1|A1|EUR|1|01.01.2026")
    assert problem["reason"].startswith("EUR 40.00 from quantity 1 is less than 45.50 from quantity 10 (line 2): "
                                        "a larger order would pay more per unit (inverted tiers)")


def test_tiers_past_the_adjacent_group_limit_are_compared_with_the_first_ones(store: Store, tmp_path: Path) -> None:
    """A window's adjacent rows are held GROUP at a time; a tier past that was compared with none before it."""
    many = PriceChecks.GROUP
    rows = [f"C1;A1;EUR;{n};{f'{1000 - n / 2:.2f}'.replace('.', ',')};01.01.2026;" for n in range(1, many + 1)]
    path = write(tmp_path / "p.csv", [HEAD, *rows, "C1;A1;EUR;5000;999,00;01.01.2026;"])
    counts = import_erp_csv(path, store, ErpCsvMap(**PRICE_MAP))
    assert (counts.rejected, counts.problems) == (0, 1)
    [problem] = open_entries(store, "p.csv", "problem")
    assert problem["line"] == many + 2
    assert problem["reason"].startswith("EUR 999.00 from quantity 5000 is more than ")


def test_earlier_tiers_give_amounts_as_stored_and_hold_at_most_cap_tiers_a_window() -> None:
    """The packed summary gives back each tier's quantity and price (the price with its currency's decimals) and
    line, and holds no more than CAP tiers of a window: memory stays bounded on any file."""
    held = EarlierTiers()
    window = ("C1", "A1", "EUR", None, None)

    def tier(qty: str, price: str, line: int) -> tuple[int, int, int]:
        return int(Decimal(qty) * EarlierTiers.UNIT), int(Decimal(price) * EarlierTiers.UNIT), line

    assert held.swap(hash(window), [tier("2.5", "45.5", 7), tier("10", "0.0123", 9)]) == b""
    before = held.swap(hash(window), [tier(str(n), "0.01", n) for n in range(100, 200)])
    assert [(str(e.min_qty), str(e.price), line) for e, line in EarlierTiers.entries(before, window)] == [
        ("2.5", "45.50", 7), ("10", "0.0123", 9)]
    assert EarlierTiers.inverted(before, [tier("20", "1", 3)])  # dearer than from 10
    assert EarlierTiers.inverted(before, [tier("5", "0.01", 3)])  # cheaper than from 10
    assert not EarlierTiers.inverted(before, [tier("20", "0.01", 3), tier("1", "50", 4)])
    assert len(held.swap(hash(window), [])) == EarlierTiers.CAP * EarlierTiers.TIER.size


# ------------------------------------------------------------------------------ JSON Lines price lists
def test_jsonl_price_list_gets_the_csv_price_list_checks(store: Store, tmp_path: Path) -> None:
    """`pim feeds prices` wrote every line (the last of a repeated key winning), inverted tiers and prices of 0
    silently, and one bad line stopped the whole load. Each now goes as an ERP CSV price list's row does."""
    path = write_jsonl(tmp_path / "prices.jsonl", [
        entry("A1", "1", "40.00"),
        entry("A1", "10", "45.00"),                   # dearer than quantity 1: a problem, kept
        entry("A1", "1", "39.00"),                    # the key of line 1 with another price: rejected
        entry("A2", "1", "0"),                        # free: a problem, kept
        "{not json",                                  # rejected, the rest still loads
        entry("A3", "1", "5.00", currency="eur"),     # no currency code: rejected
        entry("A4", "1", "5.00")])
    counts = import_price_list_jsonl(path, store)
    assert (counts.read, counts.created, counts.rejected, counts.problems) == (7, 4, 3, 2)
    assert tiers(store, "C1", "A1") == [(Decimal(1), Decimal(40)), (Decimal(10), Decimal(45))]
    refused = open_entries(store, "prices.jsonl", "rejected")
    assert [(e["line"], e["field"]) for e in refused] == [(3, "price"), (5, None), (6, "currency")]
    assert refused[0]["reason"].startswith("line 1 gives customer 'C1' a price for A1 from quantity 1")
    assert refused[0]["record_key"] == "C1|A1|EUR|1|2026-01-01"
    problems = open_entries(store, "prices.jsonl", "problem")
    assert [(e["line"], e["field"], e["raw"]["sku"]) for e in problems] == [(2, "price", "A1"), (4, "price", "A2")]
    assert problems[0]["reason"].startswith("EUR 45.00 from quantity 10 is more than 40.00 from quantity 1 (line 1)")


def test_jsonl_price_list_warns_about_prices_no_contract_takes(store: Store, tmp_path: Path) -> None:
    put_contracts(store, [contract("acme-main", "ACME")])
    path = write_jsonl(tmp_path / "prices.jsonl", [entry("A1", "1", "10", customer="ACME"),
                                                    entry("A1", "1", "12", customer="ACME", currency="USD")])
    counts = import_price_list_jsonl(path, store)
    assert (counts.created, counts.extra["uncontracted_rows"]) == (2, 1)
    [warning] = open_entries(store, "prices.jsonl", "warning")
    assert warning["reason"].startswith("1 row(s) give prices in a currency no contract of their customer uses: "
                                        "ACME in USD (1 row; its contracts price in EUR)")


def test_feeds_prices_command_reports_the_load(store: Store, tmp_path: Path, pim_env: Path) -> None:
    """The command prints the import's counts (job, quarantine) rather than stopping at the first bad line."""
    from pim.cli import _mount, app

    path = write_jsonl(tmp_path / "prices.jsonl", [entry("A1", "1", "10"), "[1, 2]", entry("A2", "1", "8")])
    _mount()
    out = CliRunner().invoke(app, ["feeds", "prices", str(path), "--json"])
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.output)
    assert (body["read"], body["created"], body["rejected"]) == (3, 2, 1)
    assert tiers(store, "C1", "A2") == [(Decimal(1), Decimal(8))]


@pytest.mark.parametrize("bad", ["{\"customer\": \"C1\"}", "{\"sku\": \"A1\", \"customer\": \"C\\u0000\"}"])
def test_a_jsonl_price_line_that_is_no_entry_is_rejected_naming_it(store: Store, tmp_path: Path, bad: str) -> None:
    path = write_jsonl(tmp_path / "prices.jsonl", [bad, entry("A1", "1", "10")])
    counts = import_price_list_jsonl(path, store)
    assert (counts.created, counts.rejected) == (1, 1)
    [refused] = open_entries(store, "prices.jsonl", "rejected")
    assert refused["line"] == 1 and refused["reason"]
