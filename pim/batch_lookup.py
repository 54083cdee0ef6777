"""One read of the stored products a merge batch names, before it is merged (pim.importing._prepare). Three
questions are asked of the same SKUs there: where each product sits (its parent, for the family-variant level
guard: pim.variant_levels.LevelGuard.check), whether the source's fingerprint of it still holds (the record is
then skipped: pim.merge.Merger.drop_unchanged), and, for a skipped product under a model, its stored axis values
(the missing-axis notes that still stand: pim.variant_levels.SiblingAxes.stored_gaps). Until round 37 each was
a statement of its own over the batch's 2,000 SKUs.

On SQLite the product side is read from `ix_product_identifier_seq` (identifier, seq, parent): the seq sits
after the ~4 KB value map in the row, so reading it from the row walks the row's overflow pages. SQLite's
planner, without statistics, always takes the unique identifier index for an equality, hence the INDEXED BY."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pim.store.raw import Statements

#: The covering index of product lookups by SKU (pim.store.tables.ProductRow, migration 0051).
SEQ_INDEX = "ix_product_identifier_seq"


@dataclass
class StoredBatch:
    """What a batch's merge needs of its stored products, by SKU (absent: no such product)."""

    #: SKU → parent model code, for the stored products under a model
    parents: dict[str, str] = field(default_factory=dict)
    #: SKU → (digest, seq): the source's fingerprint, where it was taken at the product's current seq
    prints: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: the axis attributes `axis_texts` holds, in its order
    axes: tuple[str, ...] = ()
    #: SKU → (parent, stored JSON text of each axis or None), for the products under a model whose fingerprint
    #: holds (those a merge may skip): SiblingAxes.gaps_of judges them
    axis_texts: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def read_batch(conn: Any, source: str, skus: Sequence[str], axes: tuple[str, ...] = ()) -> StoredBatch:
    """The stored products among `skus` with `source`'s fingerprints of them: one statement. Axis values are
    read (from the value map) only for the products under a model whose fingerprint holds."""
    out = StoredBatch(axes=axes)
    if not skus:
        return out
    sql = Statements(conn)
    held = "f.product_seq = p.seq AND p.parent IS NOT NULL"
    texts = "".join(f", CASE WHEN {held} THEN {_extract(sql.pg, a)} END" for a in axes)
    hint = "" if sql.pg else f" INDEXED BY {SEQ_INDEX}"
    rows = sql.all(f"SELECT p.identifier, p.parent, p.seq, f.digest, f.product_seq{texts} FROM product p{hint} "
                   f"LEFT JOIN source_fingerprint f ON f.source = {sql.p} AND f.identifier = p.identifier "
                   f"WHERE p.identifier {sql.any_of}", (source, sql.bound(list(skus))))
    parents, prints, axis_texts = out.parents, out.prints, out.axis_texts
    for ident, parent, seq, digest, at, *stored in rows:
        if parent is not None:
            parents[ident] = parent
        if digest is not None and at == seq:
            prints[ident] = (digest, seq)
            if parent is not None and axes:
                axis_texts[ident] = (parent, *stored)
    return out


def product_seqs(conn: Any, skus: Sequence[str]) -> dict[str, int]:
    """SKU → the stored product's seq, for those of `skus` stored: read from the covering index on SQLite (a
    merge's check that nobody wrote its products meanwhile, and the seqs its fingerprints are taken at)."""
    if not skus:
        return {}
    sql = Statements(conn)
    hint = "" if sql.pg else f" INDEXED BY {SEQ_INDEX}"
    return dict(sql.all(f"SELECT identifier, seq FROM product{hint} WHERE identifier {sql.any_of}",
                        (sql.bound(list(skus)),)))


def _extract(pg: bool, attribute: str) -> str:
    """One axis value's JSON text (pim.variant_levels.SiblingAxes reads them the same way)."""
    from pim.variant_levels import SiblingAxes

    return SiblingAxes._extract(pg, attribute)
