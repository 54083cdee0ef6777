"""Round 36 (F1): the doubled-stock pairing rule has one source of truth (pim.stock_sums.pairs_with): the pairs a
feed build warns about (pim.feed_stock_keys.doubled_stock, in SQL) are exactly the readings PIM_FEED_STOCK_KEYS
drops (pim.stock_sums.one_reading_each), on SQLite and PostgreSQL, whatever the warehouse codes hold (`%`, `_`,
`\\`, case, several `/`). PostgreSQL took a `\\` in a location code as LIKE's escape: `a\\b` beside `1000/a\\b`
was summed once by the feeds' sums but not warned, and a code ending in `\\` failed the build."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from pim.commerce_tables import STOCK
from pim.feed_stock_keys import doubled_stock
from pim.stock_sums import one_reading_each
from pim.store import Store

STAMP = datetime(2026, 1, 1, tzinfo=UTC)
PART = st.text(alphabet="0aA_%\\/ ", min_size=0, max_size=4)
CODE = st.one_of(PART, st.tuples(st.sampled_from(["1000", "2000", "x%"]), PART).map("/".join))
READINGS = st.dictionaries(st.tuples(st.sampled_from(["S1", "S2"]), CODE), st.integers(0, 9), max_size=8)


def _stored(store: Store, readings: dict[tuple[str, str], int]) -> list[tuple]:
    rows = [(sku, code, Decimal(q), None, STAMP) for (sku, code), q in sorted(readings.items())]
    with store.begin() as conn:
        conn.execute(delete(STOCK))
        if rows:
            conn.execute(insert(STOCK), [{"sku": s, "warehouse": w, "quantity": q, "atp": a, "updated_at": t,
                                          "source": "erp"} for s, w, q, a, t in rows])
    return rows


def _dropped(rows: list[tuple], keep: str) -> set[tuple[str, str]]:
    kept = {(r[0], r[1]) for r in one_reading_each(rows, keep)}
    return {(r[0], r[1]) for r in rows} - kept


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readings=READINGS)
def test_the_pairs_a_build_warns_about_are_the_readings_the_setting_drops(store: Store, readings) -> None:
    rows = _stored(store, readings)
    warned = doubled_stock(store)
    pairs = {(sku, location, keyed) for sku, found in warned.items() for location, keyed in found}
    assert {(s, keyed) for s, _, keyed in pairs} == _dropped(rows, "location")
    assert {(s, location) for s, location, _ in pairs} == _dropped(rows, "plant")


def test_the_rule_itself() -> None:
    from pim.stock_sums import pairs_with

    assert pairs_with("0001", "1000/0001") and pairs_with("a\\b", "1000/a\\b") and pairs_with("", "1000/")
    assert not pairs_with("0001", "1000/00012") and not pairs_with("0001", "1000/a/0001")
    assert not pairs_with("a/b", "1000/a/b") and not pairs_with("ab", "1000/AB") and not pairs_with("0001", "0001")


def test_a_location_code_with_a_backslash_pairs_and_does_not_fail_the_build(store: Store) -> None:
    rows = _stored(store, {("S1", "a\\b"): 1, ("S1", "1000/a\\b"): 2, ("S2", "b\\"): 1, ("S2", "2000/b\\"): 3})
    assert doubled_stock(store) == {"S1": [("a\\b", "1000/a\\b")], "S2": [("b\\", "2000/b\\")]}
    assert _dropped(rows, "plant") == {("S1", "a\\b"), ("S2", "b\\")}
