"""A merge write tells the completeness listener what was stored before (`before=`): products whose
completeness and unique-value inputs did not change are not rescored, everything else still is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from pim.completeness import Requirements
from pim.merge import Merger
from pim.product import Product, Provenance
from pim.rescore import inputs_changed
from pim.scoring_tables import COMPLETENESS, UNIQUE_VALUE
from pim.store import Store
from tests.completeness_catalog import save, shoe, structure

AT = datetime(2024, 6, 1, tzinfo=UTC)


def merge(store: Store, *products: Product) -> None:
    merger = Merger().bind(store.structure())
    merger.write(store, [p.model_copy(update={"source": Provenance(source="erp", at=AT)}) for p in products])


def mark(store: Store, identifier: str) -> None:
    """Put a marker into the product's stored rows: a rescore would replace it with the computed ratio."""
    with store.begin() as conn:
        conn.execute(COMPLETENESS.update().where(COMPLETENESS.c.product == identifier).values(ratio=1))


def ratios(store: Store, identifier: str) -> set[int]:
    with store.engine.connect() as conn:
        return {r for (r,) in conn.execute(select(COMPLETENESS.c.ratio).where(COMPLETENESS.c.product == identifier))}


def unique_values(store: Store, identifier: str) -> dict[str, str]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(UNIQUE_VALUE.c.attribute, UNIQUE_VALUE.c.value).where(UNIQUE_VALUE.c.product == identifier))
        return dict(rows.all())


def stored(store: Store, identifier: str = "shoe-1") -> Any:
    return store.get_product(identifier)


def test_price_change_that_stays_filled_is_not_rescored(store: Store) -> None:
    save(store)
    merge(store, shoe())
    assert ratios(store, "shoe-1") == {100}
    mark(store, "shoe-1")
    merge(store, shoe(price={"EUR": "45.00", "USD": "49.00"}))
    assert stored(store).values["price"] == {"EUR": "45.00", "USD": "49.00"}
    assert ratios(store, "shoe-1") == {1}  # the marker survived: no rescore


def test_emptying_a_required_value_is_rescored(store: Store) -> None:
    save(store)
    merge(store, shoe())
    mark(store, "shoe-1")
    merge(store, shoe(weight={"amount": "0.8", "unit": None}))  # a metric without unit is not filled
    assert 1 not in ratios(store, "shoe-1") and min(ratios(store, "shoe-1")) < 100


def test_price_losing_a_channel_currency_is_rescored(store: Store) -> None:
    save(store)
    merge(store, shoe())
    mark(store, "shoe-1")
    merge(store, shoe(price={"EUR": "45.00"}))  # ecommerce needs USD too
    assert 1 not in ratios(store, "shoe-1")


def test_changed_image_ref_is_rescored(store: Store) -> None:
    save(store)
    merge(store, shoe())
    mark(store, "shoe-1")
    merge(store, shoe(picture="def.jpg"))  # still filled, but validity belongs to the new ref
    assert 1 not in ratios(store, "shoe-1")


def test_value_not_required_by_the_family_is_not_rescored(store: Store) -> None:
    save(store)
    merge(store, shoe())
    mark(store, "shoe-1")
    merge(store, shoe(color="red"))
    assert ratios(store, "shoe-1") == {1}


def test_gtin_change_updates_the_unique_values(store: Store) -> None:
    save(store)
    merge(store, shoe(ean="4006381333931"))
    assert unique_values(store, "shoe-1")["ean"] == "04006381333931"
    merge(store, shoe(ean="5901234123457"))
    assert unique_values(store, "shoe-1")["ean"] == "05901234123457"


def test_family_change_is_rescored(store: Store) -> None:
    save(store)
    values = {"name:en_US": "Tote", "price": {"EUR": "20.00", "USD": "22.00"}}
    merge(store, Product(identifier="tote", family="shoes", values=values))
    mark(store, "tote")
    merge(store, Product(identifier="tote", family="bags", values=values))
    with store.engine.connect() as conn:
        families = {f for (f,) in conn.execute(select(COMPLETENESS.c.family).where(COMPLETENESS.c.product == "tote"))}
    assert families == {"bags"} and 1 not in ratios(store, "tote")


def test_variant_value_appearing_or_vanishing_counts_as_a_change() -> None:
    """A variant's own null hides its model's value; dropping the key lets the model's value through, so the
    verdict on the variant's own values alone cannot be trusted."""
    reqs = Requirements(structure())
    with_null = Product(identifier="runner-s", family="shoes", parent="runner", values={"weight": None})
    without = with_null.model_copy(update={"values": {}})
    assert inputs_changed(reqs, with_null, without)
    plain = Product(identifier="s", family="shoes", values={"weight": None})
    assert not inputs_changed(reqs, plain, plain.model_copy(update={"values": {}}))  # no model behind it


def test_unknown_old_state_is_a_change() -> None:
    reqs = Requirements(structure())
    assert inputs_changed(reqs, None, shoe())
    assert not inputs_changed(reqs, shoe(), shoe())


def test_new_product_in_a_merge_is_scored(store: Store) -> None:
    save(store)
    merge(store, shoe("shoe-2", weight=None))
    assert ratios(store, "shoe-2") and min(ratios(store, "shoe-2")) < 100
