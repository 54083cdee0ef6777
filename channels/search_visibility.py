"""Who may see which products in the search index, and what a contract change means for it.

Tenant tokens filter on each document's `customers` field, which the contracts' assortments decide
(pim.contracts.contract_customers). That field does not ride on a product's own write, so each push target
keeps the contracts it last saw. When they change, only the products that the changed contracts' old or new
assortments hold can have gained or lost a customer: those are re-sent, not the whole index. Without
contracts the price lists decide (a customer/SKU pair gained or removed moves a sequence), and a change there,
or a switch between the two, still rebuilds everything."""

from __future__ import annotations

from typing import Any

import orjson

from channels.search_settings import digest_of
from pim.contracts import Assortment, AssortmentMatcher, get_contracts
from pim.product import merged_values
from pim.store.store import Store

#: Above this share of the catalog a changed contract re-sends, the push rebuilds the index instead (a swap
#: is cleaner than re-sending most documents in place, and deletes nothing by mistake).
REBUILD_SHARE = 0.5

Snapshot = list[list[Any]]  # [[code, customer, assortment as JSON], …], sorted


def visibility_snapshot(store: Store) -> Snapshot:
    """Every contract's code, customer and assortment; empty when there is no contract."""
    return sorted([c.code, c.customer, c.assortment.model_dump(mode="json")] for c in get_contracts(store))


def visibility_fingerprint(store: Store, snapshot: Snapshot | None = None) -> str:
    """Changes when contracts change which customers may see which products, or, without contracts, when the
    price lists gain or lose a customer/SKU pair (the sequence pim.commerce.PAIRS_SEQ)."""
    from pim.commerce import PAIRS_SEQ

    contracts = visibility_snapshot(store) if snapshot is None else snapshot
    if contracts:
        return digest_of(contracts)
    return digest_of(["price lists", store.current_seq(PAIRS_SEQ)])


def encode(snapshot: Snapshot) -> str | None:
    return orjson.dumps(snapshot).decode() if snapshot else None


def decode(text: str | None) -> Snapshot:
    return orjson.loads(text) if text else []


def changed_contracts(before: Snapshot, after: Snapshot) -> list[tuple[str, Assortment]]:
    """The (customer, assortment) of each contract entry added, removed or changed, old and new versions both."""
    old = {orjson.dumps(entry) for entry in before}
    new = {orjson.dumps(entry) for entry in after}
    return [(entry[1], Assortment.model_validate(entry[2])) for entry in map(orjson.loads, sorted(old ^ new))]


def products_to_revisit(store: Store, before: Snapshot, after: Snapshot) -> set[str] | None:
    """The products whose customers may differ between the two snapshots: those an added, removed or changed
    contract's assortment holds, before or after. None when there is no contract on one side (the price lists
    decide there: rebuild) or when most of the catalog would be re-sent (rebuild)."""
    if not before or not after:
        return None
    changes = changed_contracts(before, after)
    if not changes:
        return set()
    structure = store.structure()
    matchers = [AssortmentMatcher(assortment, structure) for _, assortment in changes]
    found: set[str] = set()
    total = 0
    for product in store.iter_products():
        total += 1
        values = merged_values(product, store.ancestors(product)) if product.parent else product.values
        if any(m.matches(product, values) for m in matchers):
            found.add(product.identifier)
    return None if total and len(found) > REBUILD_SHARE * total else found
