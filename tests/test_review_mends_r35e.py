"""Round 35 review mends (e): a supplier's tier periods follow one another (importers.tier_periods). A row
restating a period that starts later than a stored open (or overlapping) one of its currency ends that one the
day before; a row restating an earlier period than a stored later one ends itself the day before. Tiers are
read per quantity by latest start, so without this a July list without the 500 tier priced 500 pieces at
today's 11.00 after July: a price no list states."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from importers.supplier_table import import_supplier_table
from pim.commerce import contract_tiers, price_list_tiers
from pim.store import Store
from tests.test_importers_r34 import sstore, table  # noqa: F401  (fixture)
from tests.test_importers_r35 import DATED_HEAD, dated, stored_tiers

TODAY = "A1;4006381333931;Relais;12,50;;500;11,00;EUR;;"  # 12.50 from 1, 11.00 from 500, no dates
JULY = "A1;4006381333931;Relais;13,50;;;;EUR;01.07.2027;"  # from 01.07.2027: 13.50, no 500 tier
JUNE_30, JULY_1, AUGUST = date(2027, 6, 30), date(2027, 7, 1), date(2027, 8, 1)


def load(store: Store, tmp_path: Path, *rows: str) -> list[dict[str, int]]:
    """Each row imported as a file of its own, in order; each import's extra counts."""
    return [import_supplier_table(table(tmp_path, row, head=DATED_HEAD, name=f"{n}.csv"), store, dated()).extra
            for n, row in enumerate(rows)]


def priced(store: Store, on: date, currency: str = "EUR") -> dict[Decimal, Decimal]:
    """A1's tiers on `on` as both readers give them (they must agree)."""
    one = {t.min_qty: t.price for t in contract_tiers(store, "acme_tiers", ["A1"], currency, on).get("A1", [])}
    every = {t.min_qty: t.price for t in price_list_tiers(store, "acme_tiers", currency, on).get("A1", [])}
    assert one == every
    return one


def test_a_later_list_ends_todays_so_500_pieces_cost_the_later_price(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    extra = load(sstore, tmp_path, TODAY, JULY)[1]
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("13.5")}  # before the fix: also {500: 11}
    assert priced(sstore, JULY_1) == {Decimal(1): Decimal("13.5")}
    assert priced(sstore, JUNE_30) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert extra["tier_prices_ended"] == 2 and "tier_prices_removed" not in extra
    assert {(q, t) for c, q, _, f, t in stored_tiers(sstore, "A1") if f == date(1900, 1, 1)} == {
        (Decimal(1), JUNE_30), (Decimal(500), JUNE_30)}


def test_todays_list_sent_again_after_the_later_one_ends_itself(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The daily file restates today's open-ended period after the July file came: it does not reopen it."""
    extras = load(sstore, tmp_path, TODAY, JULY, TODAY)
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("13.5")}
    assert priced(sstore, JUNE_30) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert "tier_prices" not in extras[2] and "tier_prices_ended" not in extras[2]  # nothing changed


def test_an_earlier_list_sent_after_a_later_one_ends_the_day_before_it(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The July file first, today's second: today's tiers are written ending 30.06.2027, July's stay as they were."""
    extras = load(sstore, tmp_path, JULY, TODAY)
    assert "tier_prices_ended" not in extras[1]
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("13.5")}
    assert priced(sstore, JUNE_30) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert {t for c, q, _, f, t in stored_tiers(sstore, "A1") if f == JULY_1} == {None}


def test_an_overlapping_earlier_period_ends_where_the_later_starts(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """Today's list stated valid to 31.12.2027 ends on 30.06.2027 once a list from July comes; one already ending
    before July is left as stated."""
    load(sstore, tmp_path, "A1;4006381333931;Relais;12,50;;500;11,00;EUR;;31.12.2027", JULY)
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("13.5")}
    assert {t for c, q, _, f, t in stored_tiers(sstore, "A1") if f != JULY_1} == {JUNE_30}


def test_a_chf_list_is_not_ended_by_an_eur_one(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    load(sstore, tmp_path, "A1;4006381333931;Relais;14,00;;500;12,00;CHF;;", TODAY, JULY)
    assert priced(sstore, AUGUST, "CHF") == {Decimal(1): Decimal(14), Decimal(500): Decimal(12)}
    assert {t for c, *_, t in stored_tiers(sstore, "A1") if c == "CHF"} == {None}
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("13.5")}


def test_a_cleared_later_period_lets_the_next_restatement_run_open(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """July's list, then today's (ending 30.06.2027), then July's row emptied (its period cleared): today's list
    runs open-ended as stated at once (round 37: the stated period is kept, importers.tier_periods; it stayed
    ended until today's list was sent again), and sending it again changes nothing."""
    extras = load(sstore, tmp_path, JULY, TODAY, "A1;4006381333931;Relais;;;;;EUR;01.07.2027;", TODAY)
    assert extras[2]["tier_prices_removed"] == 1 and "tier_prices_ended" not in extras[2]
    assert extras[2]["tier_prices_resumed"] == 2 and "tier_prices" not in extras[3]
    assert {(f, t) for c, q, _, f, t in stored_tiers(sstore, "A1")} == {(date(1900, 1, 1), None)}
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
