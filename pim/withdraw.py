"""Withdrawing everything one source claims on some products, as if it had sent an empty value for each key.

A supplier's `PRODUCT mode="delete"` is applied by the BMEcat import the same way (importers/bmecat.py), or,
with a map's `deletes: review`, quarantined for review and applied here: the product stays (other sources still describe it), the supplier's values
leave it, and for each key the next-ranked claim takes over or, with no other claim, the value goes. The
withdrawal runs through the ordinary merge (`run_import` with a `Merger`), so candidates, the conflict log,
completeness and the grid index move exactly as for an import."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from pim.importing import ImportCounts, Parsed, run_import
from pim.merge import UNKNOWN, Merger, Precedence, load_candidates
from pim.product import Product, Provenance
from pim.store import Store
from pim.store.store import batched


def withdraw_claims(store: Store, source: str, identifiers: Iterable[str],
                    precedence: Precedence | None = None) -> ImportCounts:
    """Withdraw `source`'s values from the products named. `precedence`: the one the imports use, which
    decides the claim that takes over (the default ranks the content team first). Products unknown or without
    a claim of `source` are left alone; counts are those of the merge (updated, unchanged)."""
    stamp = datetime.now(UTC)
    label = f"withdraw:{source}"
    return run_import(store, source, _records(store, source, identifiers, stamp, label), label=label,
                      merge=Merger(precedence, create_missing=False))


def claimed_keys(store: Store, source: str, identifiers: list[str]) -> dict[str, set[str]]:
    """identifier → every value key `source` claims on that product, shown or as a losing candidate (one
    batch of products: one read of each). What withdrawing the source merges as empty."""
    with store.engine.connect() as conn:
        candidates = load_candidates(conn, identifiers)
    shown = {p.identifier: p for p in store.iter_products(identifiers=identifiers)}
    out: dict[str, set[str]] = {}
    for ident in identifiers:
        keys = {k for k, claims in candidates.get(ident, {}).items() if source in claims}
        product = shown.get(ident)
        if product is not None:
            keys.update(k for k in product.values if _source_of(product, k) == source)
        out[ident] = keys
    return out


def _records(store: Store, source: str, identifiers: Iterable[str], stamp: datetime, label: str) -> Iterator[Parsed]:
    line = 0
    for chunk in batched(dict.fromkeys(identifiers), store.batch_size):
        claimed = claimed_keys(store, source, chunk)
        for ident in chunk:
            line += 1
            keys = claimed[ident]
            if keys:
                record = Product(identifier=ident, values=dict.fromkeys(sorted(keys)),
                                 source=Provenance(source=source, ref=label, at=stamp))
                yield Parsed(record, label, line)


def _source_of(product: Product, key: str) -> str:
    prov = product.provenance_of(key)
    return prov.source if prov is not None else UNKNOWN
