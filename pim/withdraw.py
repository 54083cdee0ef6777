"""Withdrawing everything one source claims on some products, as if it had sent an empty value for each key.

Products are named by SKU, product models as `model:<code>` (the key their candidates and conflicts are kept
under): a model's values are withdrawn the same way, onto the model its variants inherit from.

A supplier's `PRODUCT mode="delete"` is applied by the BMEcat import the same way (importers/bmecat.py), or,
with a map's `deletes: review`, quarantined for review and applied here: the product stays (other sources still describe it), the supplier's values
leave it, and for each key the next-ranked claim takes over or, with no other claim, the value goes. The
withdrawal runs through the ordinary merge (`run_import` with a `Merger`), so candidates, the conflict log,
completeness and the grid index move exactly as for an import.

A person's pick of the source's value (`pim import resolve`, pinned in the conflict log) ends with its claim,
as an association pick does: precedence decides again, and the source's next claim ranks as any other. The
merge ends a pin whose source sends the key empty, so a BMEcat delete and a T_NEW_CATALOG that no longer sends
the value end it the same way (pim.merge.MergeOutcome.unpinned)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select

from pim import association_claims
from pim.importing import ImportCounts, Parsed, run_import
from pim.merge import CANDIDATE, MODEL_KEY, Merger, Precedence, load_candidates
from pim.product import (
    UNKNOWN,
    Association,
    Product,
    ProductModel,
    Provenance,
    partial_model,
    source_of,
    trusted_association,
    trusted_provenance,
)
from pim.store import Store
from pim.store.raw import raw_table
from pim.store.store import MODEL, PRODUCT, batched


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
    merges as empty. Products are read in part (`product_claims`)."""
    codes = [i[len(MODEL_KEY):] for i in identifiers if i.startswith(MODEL_KEY)]
    out = product_claims(store, source, [i for i in identifiers if not i.startswith(MODEL_KEY)])
    if codes:
        out.update(_model_claims(store, source, codes))
    return {ident: out.get(ident) or (set(), set()) for ident in identifiers}


def _model_claims(store: Store, source: str, codes: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """`claimed` for product models (`model:<code>` → claims), from the whole stored models."""
    idents = [MODEL_KEY + c for c in codes]
    with store.engine.connect() as conn:
        candidates = load_candidates(conn, idents)
        links = association_claims.load(conn, idents)
        shown = {MODEL_KEY + r.code: store.row_to_model(r) for r in conn.execute(select(MODEL).where(MODEL.c.code.in_(codes)))}
    out: dict[str, tuple[set[str], set[str]]] = {}
    for ident in idents:
        keys = {k for k, claims in candidates.get(ident, {}).items() if source in claims}
        model = shown.get(ident)
        kinds: set[str] = set()
        if model is not None:
            keys.update(k for k in model.values if source_of(model.provenance_of(k)) == source)
            kinds = set(association_claims.claimed_types(links.get(ident, {}), model.associations, model.source, source))
        out[ident] = (keys, kinds)
    return out


class _SourceOnly(msgspec.Struct):
    source: str


_SOURCES = msgspec.json.Decoder(dict[str, _SourceOnly])
_KEYS = msgspec.json.Decoder(dict[str, msgspec.Raw])


def product_claims(store: Store, source: str, skus: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """SKU → (value keys, association types) `source` claims on that product, shown or waiting: `claimed`
    without reading whole products, since a BMEcat T_NEW_CATALOG asks it of every product it sends. Read: the
    source's candidate rows, each product's record-level source, provenance map (decoded to its sources only),
    associations and association claims, and — only where the source is the record-level one, whose values
    have no provenance entry — the value map's keys (no value decoded). A provenance entry always names a
    stored value (the merge drops both together). Four indexed queries at most per call."""
    out: dict[str, tuple[set[str], set[str]]] = {sku: (set(), set()) for sku in skus}
    if not skus:
        return out
    with store.engine.connect() as conn:
        for sku, key in raw_table(store, conn, CANDIDATE).select(conn, ("identifier", "value_key"), "identifier", skus,
                                                                 also={"source": [source]}):
            out[sku][0].add(key)
        rows = raw_table(store, conn, PRODUCT).select(conn, ("identifier", "source", "provenance", "associations"),
                                                      "identifier", skus, as_text=("provenance",))
        owned = [sku for sku, default, _, _ in rows if default and default.get("source") == source]
        value_keys = dict(raw_table(store, conn, PRODUCT).select(conn, ("identifier", "value_map"), "identifier", owned,
                                                                 as_text=("value_map",))) if owned else {}
        links = association_claims.load(conn, [sku for sku, *_ in rows],
                                        raw_table(store, conn, association_claims.ASSOCIATION_CLAIM))
    for sku, default, prov_text, associations in rows:
        keys, kinds = out[sku]
        overrides = _SOURCES.decode(prov_text) if prov_text and prov_text != "{}" else {}
        keys.update(k for k, p in overrides.items() if p.source == source)
        if sku in value_keys:
            keys.update(k for k in _KEYS.decode(value_keys[sku] or "{}") if k not in overrides)
        if sku in links:
            showing = {k: trusted_association(v) for k, v in (associations or {}).items()}
            prov = trusted_provenance(default["source"], default.get("ref"), default.get("at")) if default else None
            kinds.update(association_claims.claimed_types(links[sku], showing, prov, source))
        elif associations and (default["source"] if default else UNKNOWN) == source:
            kinds.update(associations)  # no claim rows: what the product shows is its record-level source's alone
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
