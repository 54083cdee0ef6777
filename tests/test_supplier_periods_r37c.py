"""Round 37 (C): a supplier's list stated open-ended resumes the day after an offer with its own end (it was ended
the day before the offer and stayed ended: no tier price after the offer, only a `tier_gaps` warning). The rows keep
the period the supplier stated (price_list.stated_from/stated_to, migration 0052), so every import works the days
out again from what the supplier said (importers.tier_periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from importers.bmecat import import_bmecat, load_map
from importers.supplier_table import import_supplier_table
from pim.commerce import PRICE, price_list_changed_since
from pim.store import Store
from tests.test_bmecat import MAP, _xml
from tests.test_importers_r34 import sstore, table  # noqa: F401  (fixture)
from tests.test_importers_r35 import DATED_HEAD
from tests.test_supplier_tiers_r36b import NOW_BLOCK, _blocks, load, priced, unmapped_prices, warnings

LIST = "A1;4006381333931;Relais;12,50;;500;11,00;EUR;01.01.2026;"  # the list, open-ended
OFFER = "A1;4006381333931;Relais;9,90;;;;EUR;01.03.2026;31.03.2026"  # a March offer: 9.90, no 500 tier
LIST_NEW = "A1;4006381333931;Relais;13,00;;500;11,50;EUR;01.01.2026;"  # the same list restated, dearer
FEBRUARY, MARCH, APRIL = date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 1)
THE_LIST = {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
THE_OFFER = {Decimal(1): Decimal("9.9")}


def stored(store: Store, price_list: str = "acme_tiers") -> list[tuple]:
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(
            PRICE.c.min_qty, PRICE.c.valid_from, PRICE.c.valid_to, PRICE.c.price, PRICE.c.updated_at).where(
            PRICE.c.customer == price_list)))


# ---------------------------------------------------------------- supplier tables
def test_the_list_applies_again_after_an_offer_with_its_own_end(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    extras = load(sstore, tmp_path, LIST, OFFER)
    assert priced(sstore, FEBRUARY) == THE_LIST
    assert priced(sstore, MARCH) == THE_OFFER
    assert priced(sstore, APRIL) == THE_LIST  # contract_tiers and price_list_tiers alike (priced)
    assert "tier_gaps" not in extras[1] and warnings(sstore, "tier-gaps:") == []
    assert extras[1]["tier_prices_resumed"] == 2 and extras[1]["tier_prices_ended"] == 2


def test_an_offer_before_the_list_in_the_file_resumes_it_too(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    path = table(tmp_path, OFFER, LIST, head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, unmapped_prices())
    assert counts.rejected == 0 and "tier_gaps" not in counts.extra
    assert (priced(sstore, FEBRUARY), priced(sstore, MARCH), priced(sstore, APRIL)) == (THE_LIST, THE_OFFER, THE_LIST)
    before = stored(sstore)
    again = import_supplier_table(path, sstore, unmapped_prices())  # the same file again changes nothing
    assert again.rejected == 0 and stored(sstore) == before
    assert not {k for k in again.extra if k.startswith("tier_prices")}


def test_a_restated_list_resumes_with_its_new_prices(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The resumed part is worked out from what the supplier said, not kept as a copy of the old list."""
    load(sstore, tmp_path, LIST, OFFER, LIST_NEW)
    dearer = {Decimal(1): Decimal(13), Decimal(500): Decimal("11.5")}
    assert (priced(sstore, FEBRUARY), priced(sstore, MARCH), priced(sstore, APRIL)) == (dearer, THE_OFFER, dearer)


def test_a_new_list_after_the_offer_takes_over_from_the_resumed_one(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """A list from May without the 500 tier: 500 pieces in May cost its price, not the resumed January list's."""
    may = "A1;4006381333931;Relais;12,90;;;;EUR;01.05.2026;"
    load(sstore, tmp_path, LIST, OFFER, may)
    assert priced(sstore, APRIL) == THE_LIST
    assert priced(sstore, date(2026, 5, 1)) == {Decimal(1): Decimal("12.9")}


def test_an_offer_taken_back_leaves_the_list_open(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The offer's row with its tier cells emptied clears its period: the list runs through March again."""
    cleared = "A1;4006381333931;Relais;;;;;EUR;01.03.2026;31.03.2026"
    load(sstore, tmp_path, LIST, OFFER, cleared)
    assert priced(sstore, MARCH) == THE_LIST and priced(sstore, APRIL) == THE_LIST


def test_a_delta_feed_resends_the_product_the_day_the_list_resumes(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    load(sstore, tmp_path, LIST, OFFER)
    after = datetime.now(UTC)
    assert price_list_changed_since(sstore, "acme_tiers", after, (MARCH, APRIL)) == ["A1"]


def test_a_gap_the_supplier_left_is_still_reported(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    until_february = "A1;4006381333931;Relais;12,50;;500;11,00;EUR;01.01.2026;28.02.2026"
    april_on = "A1;4006381333931;Relais;12,90;;;;EUR;01.05.2026;"
    extras = load(sstore, tmp_path, until_february, april_on)
    assert extras[1]["tier_gaps"] == 1
    [warning] = warnings(sstore, "tier-gaps:")
    assert "A1 EUR from 2026-03-01" in warning["reason"]
    assert priced(sstore, APRIL) == {} and priced(sstore, date(2026, 5, 1)) == {Decimal(1): Decimal("12.9")}


# ---------------------------------------------------------------- BMEcat
OFFER_BLOCK = ("2026-03-01", "2026-03-31", [("1", "9.90")])
NOW_PRICES = {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}
ARGS = {"sku": "r1", "price_list": "purchase_weidmueller"}


def test_a_bmecat_list_block_resumes_after_an_offer_block(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK, OFFER_BLOCK) + "</T_NEW_CATALOG>")
    counts = import_bmecat(path, sstore, m)
    assert counts.rejected == 0 and "tier_gaps" not in counts.extra
    assert priced(sstore, FEBRUARY, **ARGS) == NOW_PRICES
    assert priced(sstore, MARCH, **ARGS) == THE_OFFER
    assert priced(sstore, APRIL, **ARGS) == NOW_PRICES
    before = stored(sstore, "purchase_weidmueller")
    again = import_bmecat(path, sstore, m)  # unchanged: nothing written, nothing removed
    assert stored(sstore, "purchase_weidmueller") == before
    assert not {k: v for k, v in again.extra.items() if k.startswith("tier_prices") and v}


def test_a_bmecat_price_update_with_an_offer_resumes_the_stored_list(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK) + "</T_NEW_CATALOG>"), sstore, m)
    update = ("<T_UPDATE_PRICES><PRODUCT mode='update'><SUPPLIER_PID>r1</SUPPLIER_PID><PRODUCT_PRICE_DETAILS>"
              "<DATETIME type='valid_start_date'><DATE>2026-03-01</DATE></DATETIME>"
              "<DATETIME type='valid_end_date'><DATE>2026-03-31</DATE></DATETIME>"
              "<PRODUCT_PRICE price_type='net_customer'><PRICE_AMOUNT>9.90</PRICE_AMOUNT><PRICE_CURRENCY>EUR"
              "</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE></PRODUCT_PRICE_DETAILS></PRODUCT>"
              "</T_UPDATE_PRICES>")
    counts = import_bmecat(_xml(tmp_path, update, name="u.xml"), sstore, m)
    assert "tier_gaps" not in counts.extra and counts.extra["tier_prices_resumed"] == 2
    assert priced(sstore, MARCH, **ARGS) == THE_OFFER
    assert priced(sstore, APRIL, **ARGS) == NOW_PRICES


# ---------------------------------------------------------------- upgrade (migration 0052)
def test_tiers_stored_before_the_upgrade_keep_their_dates_until_the_list_is_imported_again(
        sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """Round 36 stored the list ended the day before the offer, with no stated period: after the upgrade its dates
    count as stated (nothing is guessed), and importing the supplier's list again lets it resume."""
    import sqlalchemy as sa
    from alembic import command

    from pim.store.database import alembic_config

    cfg = alembic_config()
    with sstore.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0047_publish_baseline")
        assert "stated_from" not in {c["name"] for c in sa.inspect(conn).get_columns("price_list")}
        old = sa.table("price_list", *(sa.column(n, sa.String) for n in ("customer", "sku", "currency", "source")),
                       *(sa.column(n, sa.Date) for n in ("valid_from", "valid_to")), sa.column("min_qty", sa.Numeric),
                       sa.column("price", sa.Numeric), sa.column("updated_at", sa.DateTime(timezone=True)))
        row = {"customer": "acme_tiers", "sku": "A1", "currency": "EUR", "source": "supplier:acme",
               "updated_at": datetime.now(UTC)}
        conn.execute(sa.insert(old), [
            {**row, "min_qty": Decimal(1), "valid_from": date(2026, 1, 1), "valid_to": FEBRUARY, "price": Decimal("12.5")},
            {**row, "min_qty": Decimal(500), "valid_from": date(2026, 1, 1), "valid_to": FEBRUARY, "price": Decimal(11)},
            {**row, "min_qty": Decimal(1), "valid_from": date(2026, 3, 1), "valid_to": MARCH, "price": Decimal("9.9")}])
    sstore.migrate()
    assert priced(sstore, FEBRUARY) == THE_LIST and priced(sstore, APRIL) == {}
    load(sstore, tmp_path, LIST)
    assert (priced(sstore, FEBRUARY), priced(sstore, MARCH), priced(sstore, APRIL)) == (THE_LIST, THE_OFFER, THE_LIST)
