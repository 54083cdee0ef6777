"""Marking an attribute internal names the stored contracts that list it (round 37, found upgrading): their next
delivery is refused and then held, which `pim feeds deliver --due` reports only once."""

from __future__ import annotations

from pim.cli.structure import internal_contract_notes
from pim.store import Store
from pim.structure import Attribute
from tests.feeds_data import product, seed_catalog, store_contract


def _catalog_with_purchase_price(store: Store, *, internal: bool) -> None:
    seed_catalog(store)
    store.put_structure("attribute", [Attribute(code="purchase_price", type="price_collection", internal=internal,
                                                labels={"en_US": "Purchase price"})])
    s = store.structure()
    store.put_structure("family", [f.model_copy(update={"attributes": [*f.attributes, "purchase_price"]})
                                   for f in s.families.values()])
    store.upsert_products([product("T1", brand="acme", purchase_price={"EUR": "198.40"})])


def test_a_contract_naming_a_newly_internal_attribute_is_named_with_the_fix(store: Store) -> None:
    _catalog_with_purchase_price(store, internal=False)
    store_contract(store, format="csv", fields=["label", "purchase_price"], assortment={"skus": ["T1"]})
    assert internal_contract_notes(store, store.structure()) == []
    marked = store.structure().attributes["purchase_price"].model_copy(update={"internal": True})
    store.put_structure("attribute", [marked])
    [note] = internal_contract_notes(store, store.structure())
    assert "purchase_price" in note and "fields" in note and "pim feeds load" in note


def test_contracts_not_naming_it_are_not_named(store: Store) -> None:
    _catalog_with_purchase_price(store, internal=True)
    store_contract(store, format="csv", fields=["label", "brand"], assortment={"skus": ["T1"]})
    assert internal_contract_notes(store, store.structure()) == []
