"""Writing price-list entries: an entry already stored as it is keeps its `updated_at`, so delta feeds see
only prices that changed, and a key given twice in one batch ends with its last entry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from pim.commerce import PRICE, PriceListEntry, contract_tiers, price_list_changed_since, put_price_list
from pim.store import Store


def entries(price_b: str = "9.50") -> list[PriceListEntry]:
    return [
        PriceListEntry(customer="acme", sku="A", currency="EUR", price=Decimal("12.50")),
        PriceListEntry(customer="acme", sku="A", currency="EUR", price=Decimal("11"), min_qty=Decimal("10")),
        PriceListEntry(customer="acme", sku="B", currency="EUR", price=Decimal(price_b), valid_to=date(2099, 1, 1)),
        PriceListEntry(customer="bolt", sku="A", currency="EUR", price=Decimal("13")),
    ]


def stamps(store: Store) -> dict[tuple[str, str, Decimal], datetime]:
    with store.engine.connect() as conn:
        return {(r.customer, r.sku, Decimal(r.min_qty)): r.updated_at for r in conn.execute(select(PRICE))}


def test_unchanged_entries_keep_their_stamp_and_a_changed_one_is_rewritten(store: Store) -> None:
    assert put_price_list(store, entries()) == 4
    first = stamps(store)
    mark = datetime.now(UTC) - timedelta(microseconds=1)
    assert put_price_list(store, entries()) == 0  # every entry given, none written
    assert stamps(store) == first
    assert price_list_changed_since(store, "acme", mark) == []
    put_price_list(store, entries(price_b="9.5000"))  # the same amount written differently: no change
    assert stamps(store) == first
    put_price_list(store, entries(price_b="8.90"))
    after = stamps(store)
    assert [k for k in after if after[k] != first[k]] == [("acme", "B", Decimal(1))]
    assert price_list_changed_since(store, "acme", mark) == ["B"]
    assert contract_tiers(store, "acme", ["B"], "EUR")["B"][0].price == Decimal("8.90")


def test_a_key_given_twice_in_a_batch_ends_with_its_last_entry(store: Store) -> None:
    put_price_list(store, entries())
    again = [PriceListEntry(customer="acme", sku="A", currency="EUR", price=Decimal("1")),
             PriceListEntry(customer="acme", sku="A", currency="EUR", price=Decimal("12.50"))]  # back to the stored one
    put_price_list(store, again)
    assert contract_tiers(store, "acme", ["A"], "EUR")["A"][0].price == Decimal("12.50")
