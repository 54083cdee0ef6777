"""Round 36 (B1): supplier tier periods. Days between stated periods that none covers are a gap that is reported
(round 37: a list stated open-ended resumes after an offer with its own end: importers.tier_periods); one supplier
table holds a product's tiers in several currencies and periods, one row each (importers.supplier_repeats); a BMEcat product's price blocks of different start dates are
chained as a supplier table's periods are (no mixing per quantity)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from importers.bmecat import import_bmecat, load_map
from importers.supplier_table import SupplierTiers, TierColumn, import_supplier_table
from pim.commerce import contract_tiers, price_list_tiers
from pim.store import Store
from tests.test_bmecat import MAP, PRODUCT, _xml
from tests.test_importers_r34 import sstore, table  # noqa: F401  (fixture)
from tests.test_importers_r35 import DATED_HEAD, dated, stored_tiers

TODAY = "A1;4006381333931;Relais;12,50;;500;11,00;EUR;;"
JULY_ONLY = "A1;4006381333931;Relais;9,90;;;;EUR;01.07.2027;31.07.2027"  # a July offer: 9.90, no 500 tier
AUGUST_ON = "A1;4006381333931;Relais;12,90;;;;EUR;01.08.2027;"
JUNE_30, JULY_1, AUGUST = date(2027, 6, 30), date(2027, 7, 1), date(2027, 8, 1)


def load(store: Store, tmp_path: Path, *rows: str) -> list[dict[str, int]]:
    return [import_supplier_table(table(tmp_path, row, head=DATED_HEAD, name="acme.csv"), store, dated()).extra
            for row in rows]


def priced(store: Store, on: date, currency: str = "EUR", sku: str = "A1",
           price_list: str = "acme_tiers") -> dict[Decimal, Decimal]:
    one = {t.min_qty: t.price for t in contract_tiers(store, price_list, [sku], currency, on).get(sku, [])}
    every = {t.min_qty: t.price for t in price_list_tiers(store, price_list, currency, on).get(sku, [])}
    assert one == every
    return one


def warnings(store: Store, kind: str) -> list[dict]:
    return [e for e in store.quarantined(severity="warning") if (e["record_key"] or "").startswith(kind)]


# ---------------------------------------------------------------- 1. a gap between stated periods is said
# (round 37: a list stated open-ended resumes after an offer with its own end, tests/test_supplier_periods_r37c.py;
# a gap is left only where the supplier's own periods leave days uncovered)
UNTIL_MAY = "A1;4006381333931;Relais;12,50;;500;11,00;EUR;;31.05.2027"
JUNE_ON = "A1;4006381333931;Relais;12,90;;;;EUR;01.06.2027;"


def test_a_list_ending_before_a_july_offer_leaves_a_gap_that_the_import_reports(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    extra = load(sstore, tmp_path, UNTIL_MAY, JULY_ONLY)[1]
    assert priced(sstore, date(2027, 5, 31)) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert priced(sstore, JUNE_30) == {}  # the gap: no stated period covers June
    assert priced(sstore, JULY_1) == {Decimal(1): Decimal("9.9")}
    assert priced(sstore, AUGUST) == {}  # after every period: the prices expire
    assert extra["tier_gaps"] == 1
    [warning] = warnings(sstore, "tier-gaps:")
    assert "A1 EUR from 2027-06-01" in warning["reason"] and "no period covers" in warning["reason"]
    assert warning["file"] == "acme.csv" and warning["field"] == "gültig bis"


def test_a_list_from_the_day_after_closes_the_gap_warning(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    extras = load(sstore, tmp_path, UNTIL_MAY, JULY_ONLY, JUNE_ON)
    assert extras[1]["tier_gaps"] == 1 and "tier_gaps" not in extras[2]
    assert priced(sstore, JUNE_30) == {Decimal(1): Decimal("12.9")}
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("12.9")}  # June's open list resumes after July
    assert warnings(sstore, "tier-gaps:") == []


def test_a_period_with_its_own_end_and_nothing_before_it_is_no_gap(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The supplier's prices simply expire: nothing was ended, nothing is said."""
    extra = load(sstore, tmp_path, JULY_ONLY)[0]
    assert "tier_gaps" not in extra and warnings(sstore, "tier-gaps:") == []


# ---------------------------------------------------------------- 2. several rows of one product in one file
def unmapped_prices() -> object:
    """Tier price columns that no value rule reads: a row's currency and tiers may change, nothing else."""
    m = dated()
    return m.model_copy(update={"columns": {"EAN": "ean", "Bezeichnung": "name:de_DE"}, "tiers": SupplierTiers(
        price_list="acme_tiers", currency_column="Währung", valid_from_column="gültig ab",
        valid_to_column="gültig bis", columns=[TierColumn(price="Preis", min_qty=Decimal(1)),
                                               TierColumn(price="Staffelpreis", min_qty_column="ab Menge")])})


def rejected(store: Store, job: int | None) -> list[tuple[int, str, str]]:
    return sorted((e["line"], e["field"], e["reason"]) for e in store.quarantined(job) if e["severity"] == "rejected")


def test_one_file_holds_a_products_tiers_in_two_currencies_and_two_periods(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    path = table(tmp_path, TODAY, "A1;4006381333931;Relais;14,00;;500;12,00;CHF;;",
                 "A1;4006381333931;Relais;13,50;;;;EUR;01.07.2027;", head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, unmapped_prices())
    assert (counts.created, counts.rejected) == (1, 0)
    assert priced(sstore, JUNE_30) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert priced(sstore, AUGUST) == {Decimal(1): Decimal("13.5")}  # chained: July's list alone
    assert priced(sstore, AUGUST, "CHF") == {Decimal(1): Decimal(14), Decimal(500): Decimal(12)}
    again = import_supplier_table(path, sstore, unmapped_prices())  # the same file again changes nothing
    assert (again.rejected, again.extra.get("tier_prices", 0), again.extra.get("tier_prices_removed", 0)) == (0, 0, 0)


def test_the_rows_of_a_product_in_different_batches_keep_each_others_tiers(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    sstore.batch_size = 1
    path = table(tmp_path, TODAY, "A1;4006381333931;Relais;14,00;;500;12,00;CHF;;", head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, unmapped_prices())
    assert counts.rejected == 0
    assert {c for c, *_ in stored_tiers(sstore, "A1")} == {"EUR", "CHF"}


def test_a_row_with_other_tiers_for_a_period_already_stated_is_refused_naming_the_column(sstore: Store,  # noqa: F811
                                                                                        tmp_path: Path) -> None:
    path = table(tmp_path, TODAY, "A1;4006381333931;Relais;12,50;;500;10,00;EUR;;", TODAY, head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, unmapped_prices())
    [(line, field, reason)] = rejected(sstore, counts.job_id)  # the identical third row is no contradiction
    assert (line, field) == (3, "Staffelpreis") and "line 2 too" in reason and "EUR from the start" in reason
    assert priced(sstore, JUNE_30) == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}


def test_a_later_row_with_another_value_is_still_refused(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    path = table(tmp_path, TODAY, "A1;4006381333931;Relais neu;14,00;;;;CHF;;", head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, unmapped_prices())
    [(line, field, reason)] = rejected(sstore, counts.job_id)
    assert (line, field) == (3, "Art-Nr") and "'Bezeichnung'" in reason and "line 2 too" in reason
    assert {c for c, *_ in stored_tiers(sstore, "A1")} == {"EUR"}


def test_a_tier_column_a_value_rule_also_reads_may_not_differ(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """`Preis` is the list price (EUR) as well as the first tier: a CHF row would set the EUR list price."""
    path = table(tmp_path, TODAY, "A1;4006381333931;Relais;14,00;;500;12,00;CHF;;", head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, dated())
    [(line, field, reason)] = rejected(sstore, counts.job_id)
    assert (line, field) == (3, "Art-Nr") and "'Preis'" in reason
    assert sstore.get_product("A1").values["price"] == {"EUR": "12.50"}


# ---------------------------------------------------------------- 3. BMEcat price blocks by start date
def _blocks(pid: str, *blocks: tuple[str | None, str | None, list[tuple[str, str]]]) -> str:
    """PRODUCT with one PRODUCT_PRICE_DETAILS per block: (valid_start_date, valid_end_date, [(bound, amount)])."""
    details = []
    for since, until, tiers in blocks:
        dates = "".join(f"<DATETIME type='{kind}'><DATE>{day}</DATE></DATETIME>"
                        for kind, day in (("valid_start_date", since), ("valid_end_date", until)) if day)
        prices = "".join(f"<PRODUCT_PRICE price_type='net_customer'><PRICE_AMOUNT>{amount}</PRICE_AMOUNT>"
                         f"<PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>{bound}</LOWER_BOUND></PRODUCT_PRICE>"
                         for bound, amount in tiers)
        details.append(f"<PRODUCT_PRICE_DETAILS>{dates}{prices}</PRODUCT_PRICE_DETAILS>")
    body = PRODUCT.format(pid=pid)
    start, end = body.index("<PRODUCT_PRICE_DETAILS>"), body.index("</PRODUCT_PRICE_DETAILS>") + len("</PRODUCT_PRICE_DETAILS>")
    return body[:start] + "".join(details) + body[end:]


NOW_BLOCK = (None, None, [("1", "10.50"), ("100", "9.00")])
JULY_BLOCK = ("2027-07-01", None, [("1", "11.00")])


def test_a_bmecat_block_from_july_ends_the_block_before_it(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """Two blocks of one product, the July one without the 100-piece tier: after July, 100 pieces cost July's
    price (they were priced 9.00 from the earlier block, a price no block states for that day)."""
    body = "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK, JULY_BLOCK) + "</T_NEW_CATALOG>"
    counts = import_bmecat(_xml(tmp_path, body), sstore, load_map(MAP))
    assert counts.rejected == 0
    args = {"sku": "r1", "price_list": "purchase_weidmueller"}
    assert priced(sstore, AUGUST, **args) == {Decimal(1): Decimal(11)}
    assert priced(sstore, JUNE_30, **args) == {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}


def test_a_bmecat_price_update_from_july_ends_the_stored_list(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK) + "</T_NEW_CATALOG>"), sstore, m)
    update = ("<T_UPDATE_PRICES><PRODUCT mode='update'><SUPPLIER_PID>r1</SUPPLIER_PID><PRODUCT_PRICE_DETAILS>"
              "<DATETIME type='valid_start_date'><DATE>2027-07-01</DATE></DATETIME><PRODUCT_PRICE price_type='net_customer'>"
              "<PRICE_AMOUNT>11.00</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND>"
              "</PRODUCT_PRICE></PRODUCT_PRICE_DETAILS></PRODUCT></T_UPDATE_PRICES>")
    counts = import_bmecat(_xml(tmp_path, update, name="u.xml"), sstore, m)
    assert counts.extra["tier_prices_ended"] == 2
    args = {"sku": "r1", "price_list": "purchase_weidmueller"}
    assert priced(sstore, AUGUST, **args) == {Decimal(1): Decimal(11)}
    assert priced(sstore, JUNE_30, **args) == {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}


def test_a_whole_catalog_without_the_july_block_leaves_todays_open(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """A T_NEW_CATALOG is each product's whole list: a stored July block it no longer holds goes at its end, so it
    does not end the list the catalog states."""
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK, JULY_BLOCK) + "</T_NEW_CATALOG>"), sstore, m)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK) + "</T_NEW_CATALOG>", name="n.xml"), sstore, m)
    args = {"sku": "r1", "price_list": "purchase_weidmueller"}
    assert priced(sstore, AUGUST, **args) == {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}


def test_a_bmecat_block_ending_before_the_next_reports_the_gap(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    until_may = (None, "2027-05-31", [("1", "10.50"), ("100", "9.00")])
    offer = ("2027-07-01", "2027-07-31", [("1", "9.90")])
    body = "<T_NEW_CATALOG>" + _blocks("r1", until_may, offer) + "</T_NEW_CATALOG>"
    counts = import_bmecat(_xml(tmp_path, body), sstore, load_map(MAP))
    assert counts.extra["tier_gaps"] == 1
    [warning] = warnings(sstore, "tier-gaps:")
    assert "r1 EUR from 2027-06-01" in warning["reason"] and warning["field"] == "PRODUCT_PRICE_DETAILS"
