"""Round 37 review (M) of the supplier tier periods (80b51fb): a BMEcat PRODUCT delete followed by the product
again (`fold_deletes`: its tiers not restated go, `TierRemoval`) took off the list's part resumed after an offer
(keyed by the day it resumes, not by the start the supplier stated) and put it back at once: every import of the
same file removed and rewrote those rows, noting the product removed and changed for the customers' delta feeds.
pim.price_lists.remove_price_list_entries_in keeps a resumed part with the period it resumes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from importers.bmecat import import_bmecat, load_map
from pim.commerce import price_list_changed_since
from pim.store import Store
from tests.test_bmecat import MAP, _xml
from tests.test_importers_r34 import sstore  # noqa: F401  (fixture)
from tests.test_supplier_periods_r37c import (
    APRIL, ARGS, FEBRUARY, LIST, MARCH, NOW_PRICES, OFFER, OFFER_BLOCK, THE_LIST, THE_OFFER, stored,
)
from tests.test_supplier_tiers_r36b import NOW_BLOCK, _blocks, load, priced

LISTED = "purchase_weidmueller"


def _folded(tmp_path: Path, *blocks: tuple) -> Path:
    """A T_UPDATE_PRODUCTS deleting r1, then sending it again with `blocks`: its whole tier list (fold_deletes)."""
    again = _blocks("r1", *blocks).replace("<PRODUCT>", "<PRODUCT mode='new'>", 1)
    return _xml(tmp_path, "<T_UPDATE_PRODUCTS prev_version='1'><PRODUCT mode='delete'><SUPPLIER_PID>r1</SUPPLIER_PID>"
                          f"</PRODUCT>{again}</T_UPDATE_PRODUCTS>", name="update.xml")


def test_a_product_sent_again_with_its_list_and_offer_leaves_the_resumed_list_alone(
        sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK, OFFER_BLOCK) + "</T_NEW_CATALOG>"),
                  sstore, m)
    before = stored(sstore, LISTED)
    assert priced(sstore, APRIL, **ARGS) == NOW_PRICES  # the list resumed after the offer
    since = datetime.now(UTC)
    counts = import_bmecat(_folded(tmp_path, NOW_BLOCK, OFFER_BLOCK), sstore, m)
    assert stored(sstore, LISTED) == before  # nothing removed and written again (updated_at kept)
    assert not {k: v for k, v in counts.extra.items() if k.startswith("tier_prices") and v}
    assert price_list_changed_since(sstore, LISTED, since) == []  # no delta feed resends r1
    assert (priced(sstore, FEBRUARY, **ARGS), priced(sstore, MARCH, **ARGS), priced(sstore, APRIL, **ARGS)) == (
        NOW_PRICES, THE_OFFER, NOW_PRICES)


def test_a_product_sent_again_without_its_list_loses_the_resumed_part_too(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + _blocks("r1", NOW_BLOCK, OFFER_BLOCK) + "</T_NEW_CATALOG>"),
                  sstore, m)
    import_bmecat(_folded(tmp_path, OFFER_BLOCK), sstore, m)
    assert [r[1] for r in stored(sstore, LISTED)] == [date(2026, 3, 1)]  # the offer alone
    assert (priced(sstore, FEBRUARY, **ARGS), priced(sstore, MARCH, **ARGS), priced(sstore, APRIL, **ARGS)) == (
        {}, THE_OFFER, {})


def test_a_period_starting_the_day_the_list_resumed_takes_that_day_over(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """A supplier table period from April without the 500 tier: the resumed list's 500 tier does not stay."""
    april_on = "A1;4006381333931;Relais;12,90;;;;EUR;01.04.2026;"
    load(sstore, tmp_path, LIST, OFFER, april_on)
    assert priced(sstore, FEBRUARY) == THE_LIST and priced(sstore, MARCH) == THE_OFFER
    assert priced(sstore, APRIL) == {Decimal(1): Decimal("12.9")}
