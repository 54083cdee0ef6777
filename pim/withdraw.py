"""Withdrawing everything one source claims on some products, as if it had sent an empty value for each key.

Products are named by SKU, product models as `model:<code>` (the key their candidates and conflicts are kept
under): a model's values are withdrawn the same way, onto the model its variants inherit from.

A supplier's `PRODUCT mode="delete"` is applied by the BMEcat import the same way (importers/bmecat.py), or,
with a map's `deletes: review`, quarantined for review and applied here: the product stays (other sources still describe it), the supplier's values
leave it, and for each key the next-ranked claim takes over or, with no other claim, the value goes. The
withdrawal runs through the ordinary merge (`run_import` with a `Merger`), so candidates, the conflict log,
completeness and the grid index move exactly as for an import."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from pim import association_claims
from pim.importing import ImportCounts, Parsed, run_import
from pim.merge import MODEL_KEY, Merger, Precedence, load_candidates
from pim.product import (
    Association,
    Product,
    ProductModel,
    Provenance,
    partial_model,
    source_of,
)
from pim.store import Store
from pim.store.store import MODEL, batched


def withdraw_claims(store: Store, source: str, identifiers: Iterable[str],
                    precedence: Precedence | None = None) -> ImportCounts:
    """Withdraw `source`'s values from the products named (SKUs, or `model:<code>` for a product model).
    `precedence`: the one the imports use, which decides the claim that takes over (the default ranks the
    content team first). Products and models unknown or without a claim of `source` are left alone; counts are
    those of the merge (updated, unchanged)."""
    stamp = datetime.now(UTC)
    label = f"withdraw:{source}"
    return run_import(store, source, _records(store, source, identifiers, stamp, label), label=label,
                      merge=Merger(precedence, create_missing=False))


def claimed(store: Store, source: str, identifiers: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """identifier → (value keys, association types) `source` claims on that product, or model when the
    identifier is `model:<code>`, shown or waiting (one batch: one read of each). What withdrawing the source
    merges as empty."""
    codes = [i[len(MODEL_KEY):] for i in identifiers if i.startswith(MODEL_KEY)]
    skus = [i for i in identifiers if not i.startswith(MODEL_KEY)]
    with store.engine.connect() as conn:
        candidates = load_candidates(conn, identifiers)
        links = association_claims.load(conn, identifiers)
        shown: dict[str, Product | ProductModel] = {MODEL_KEY + r.code: store.row_to_model(r) for r in conn.execute(
            select(MODEL).where(MODEL.c.code.in_(codes)))} if codes else {}
    if skus:
        shown.update((p.identifier, p) for p in store.iter_products(identifiers=skus))
    out: dict[str, tuple[set[str], set[str]]] = {}
    for ident in identifiers:
        keys = {k for k, claims in candidates.get(ident, {}).items() if source in claims}
        product = shown.get(ident)
        kinds: set[str] = set()
        if product is not None:
            keys.update(k for k in product.values if source_of(product.provenance_of(k)) == source)
            kinds = set(association_claims.claimed_types(links.get(ident, {}), product.associations, product.source, source))
        out[ident] = (keys, kinds)
    return out


def _records(store: Store, source: str, identifiers: Iterable[str], stamp: datetime, label: str) -> Iterator[Parsed]:
    line = 0
    for chunk in batched(dict.fromkeys(identifiers), store.batch_size):
        claims = claimed(store, source, chunk)
        for ident in chunk:
            line += 1
            keys, kinds = claims[ident]
            if not (keys or kinds):
                continue
            prov, values = Provenance(source=source, ref=label, at=stamp), dict.fromkeys(sorted(keys))
            if ident.startswith(MODEL_KEY):  # a partial model record: merged onto the stored model
                record: Product | ProductModel = partial_model(ident[len(MODEL_KEY):], values, prov, withdrawn_links(kinds))
            else:
                record = Product(identifier=ident, values=values, source=prov, **withdrawn_links(kinds))
            yield Parsed(record, label, line)


def withdrawn_links(kinds: set[str]) -> dict[str, Any]:
    """The record fields that withdraw a source's claims on these association types (an empty association
    each), none when there are none: a record that states no associations leaves them alone."""
    return {"associations": {k: Association() for k in sorted(kinds)}} if kinds else {}
