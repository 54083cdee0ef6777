"""Who may see which products in the search index, and what a contract change means for it.

Tenant tokens filter on each document's `customers` field, which the contracts' assortments decide
(pim.contracts.contract_customers). That field does not ride on a product's own write, so each push target
keeps the contracts it last saw. When they change, only the products that the changed contracts' old or new
assortments hold can have gained or lost a customer: those are re-sent, not the whole index. Without
contracts the price lists decide (a customer/SKU pair gained or removed moves a sequence), and a change there,
or a switch between the two, still rebuilds everything."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import select

from channels.search_settings import digest_of
from pim.contracts import Assortment, AssortmentMatcher, get_contracts, with_assortment_values
from pim.store.store import PRODUCT, Store

#: Above this share of the catalog a changed contract re-sends, the push rebuilds the index instead (a swap
#: is cleaner than re-sending most documents in place, and deletes nothing by mistake).
REBUILD_SHARE = 0.5

PAGE = 5000
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
    """The contract snapshot a push kept; empty when there was none, or a customers provider decided
    (channels.search_customers keeps a JSON object there)."""
    data = orjson.loads(text) if text else []
    return data if isinstance(data, list) else []


def changed_assortments(before: Snapshot, after: Snapshot) -> list[Assortment]:
    """The assortment of each contract entry added, removed or changed (a new customer counts), old and new
    versions both."""
    old = {orjson.dumps(entry) for entry in before}
    new = {orjson.dumps(entry) for entry in after}
    return [Assortment.model_validate(orjson.loads(entry)[2]) for entry in sorted(old ^ new)]


def products_to_revisit(store: Store, before: Snapshot, after: Snapshot) -> set[str] | None:
    """The products whose customers may differ between the two snapshots: those an added, removed or changed
    contract's assortment holds, before or after. None when there is no contract on one side (the price lists
    decide there: rebuild) or when most of the catalog would be re-sent (rebuild)."""
    if not before or not after:
        return None
    changes = changed_assortments(before, after)
    if not changes:
        return set()
    structure = store.structure()
    matchers = [AssortmentMatcher(assortment, structure) for assortment in changes]
    found: set[str] = set()
    total = 0
    for product, values in _catalog(store, needs_values=any(map(_reads_values, changes))):
        total += 1
        if any(m.matches(product, values) for m in matchers):
            found.add(product.identifier)
    return None if total and len(found) > REBUILD_SHARE * total else found


def _reads_values(assortment: Assortment) -> bool:
    """Whether membership depends on values (brands, attribute rules), not only SKU, family and categories."""
    return any(rule.brands or rule.attributes for rule in [*assortment.rules, *assortment.exclude])


def _catalog(store: Store, *, needs_values: bool) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Every product with the values an assortment sees (a variant's merged with its models'). When no rule
    reads values, only the identifier, family, categories and enabled columns are read (~10× faster)."""
    if needs_values:
        yield from with_assortment_values(store, store.iter_products())
        return
    c = PRODUCT.c
    last = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(select(c.id, c.identifier, c.family, c.categories, c.enabled)
                                .where(c.id > last).order_by(c.id).limit(PAGE)).all()
        if not rows:
            return
        for _, identifier, family, categories, enabled in rows:
            yield SimpleNamespace(identifier=identifier, family=family, categories=categories or [],
                                  enabled=enabled), {}
        last = rows[-1][0]
