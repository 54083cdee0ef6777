"""Which products and product models show which image refs, indexed by ref.

Media asks "who shows this image?" whenever an image's state changes: a rendition is built (its products'
links change), ingest rejects it (it stops filling its attribute). Scanning every product's value JSON for
that was a full catalog pass per question; this index answers with one indexed query. Like the GTIN index
(pim.sources), it is brought up to date from `product.seq` / `product_model.seq` and the product tombstones
just before it is read, so no write path has to know about it. A change to which attributes are images
rebuilds it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import BigInteger, Column, Index, String, Table, Text, delete, func, select, tuple_
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from pim.product import split_key
from pim.store.store import DELETED, MODEL, PRODUCT, batched, sequence_value, variants_of

PRODUCTS, MODELS = "product", "model"
PAGE = 5000


class ImageUseRow(SQLModel, table=True):
    """One image value shown by a product or model: `source` is the value's provenance (`catalog` if none)."""

    __tablename__ = "image_use"
    __table_args__ = (Index("ix_image_use_ref", "ref"),)

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    owner: str = Field(sa_column=Column(String(255), primary_key=True))
    ref: str = Field(sa_column=Column(Text, primary_key=True))
    source: str = Field(sa_column=Column(String(100), primary_key=True))


class ImageUseMarkRow(SQLModel, table=True):
    """Up to which `seq` the index of a kind is current, and for which set of image attributes."""

    __tablename__ = "image_use_mark"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    attributes: str = Field(sa_column=Column(String(64), nullable=False))


USE: Table = ImageUseRow.__table__  # type: ignore[assignment]
MARK: Table = ImageUseMarkRow.__table__  # type: ignore[assignment]


def image_attributes(store: Any) -> frozenset[str]:
    from pim.structure import AttributeType

    return frozenset(code for code, attr in store.structure().attributes.items() if attr.type == AttributeType.image)


def refresh_image_index(store: Any, conn: Connection) -> int:
    """Bring the index up to the catalog's current seq inside the caller's transaction. Returns the records
    re-read (the first call on a catalog reads every product and model once)."""
    images = image_attributes(store)
    wanted = hashlib.sha256("\n".join(sorted(images)).encode()).hexdigest()
    top = sequence_value(conn, "catalog")
    seen = 0
    for kind, table, key in ((PRODUCTS, PRODUCT, PRODUCT.c.identifier), (MODELS, MODEL, MODEL.c.code)):
        row = conn.execute(select(MARK.c.seq, MARK.c.attributes).where(MARK.c.kind == kind)).first()
        mark = row.seq if row is not None and row.attributes == wanted else 0
        if row is not None and mark == 0:  # other image attributes than when it was built: start over
            conn.execute(delete(USE).where(USE.c.kind == kind))
        if row is not None and mark >= top:
            continue
        if kind == PRODUCTS and mark:
            gone = list(conn.execute(select(DELETED.c.identifier).where(DELETED.c.seq > mark)).scalars())
            for chunk in batched(gone, 1000):
                conn.execute(delete(USE).where(USE.c.kind == kind, USE.c.owner.in_(chunk)))
        last = mark
        while rows := conn.execute(select(table.c.seq, key, table.c.value_map, table.c.provenance, table.c.source)
                                   .where(table.c.seq > last).order_by(table.c.seq).limit(PAGE)).all():
            last, seen = rows[-1][0], seen + len(rows)
            owners = [r[1] for r in rows]
            if mark:  # rows of a fresh index need no clearing
                for chunk in batched(owners, 1000):
                    conn.execute(delete(USE).where(USE.c.kind == kind, USE.c.owner.in_(chunk)))
            uses = {(owner, ref, source) for _, owner, values, provenance, record_source in rows
                    for ref, source in _image_values(images, values, provenance, record_source)}
            store.upsert_rows(conn, USE, [{"kind": kind, "owner": o, "ref": r, "source": s} for o, r, s in uses],
                              ["kind", "owner", "ref", "source"])
        store.upsert_rows(conn, MARK, [{"kind": kind, "seq": max(top, last), "attributes": wanted}], ["kind"])
    return seen


def _image_values(images: frozenset[str], values: dict[str, Any] | None, provenance: dict[str, Any] | None,
                  record_source: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
    if not images or not values:
        return
    fallback = (record_source or {}).get("source") or "catalog"
    for key, value in values.items():
        if isinstance(value, str) and value and split_key(key)[0] in images:
            prov = (provenance or {}).get(key)
            yield value[:10_000], ((prov or {}).get("source") or fallback)[:100]


def refreshed(store: Any) -> None:
    """Refresh in a transaction of its own (for readers that are not inside one)."""
    with store.begin() as conn:
        refresh_image_index(store, conn)


def owners_of(conn: Connection, refs: Iterable[str]) -> tuple[set[str], set[str]]:
    """(products, models) that show one of `refs` themselves, from an index already refreshed."""
    products: set[str] = set()
    models: set[str] = set()
    for chunk in batched(sorted(set(refs)), 1000):
        for kind, owner in conn.execute(select(USE.c.kind, USE.c.owner).where(USE.c.ref.in_(chunk))):
            (products if kind == PRODUCTS else models).add(owner)
    return products, models


def products_showing(conn: Connection, refs: Iterable[str]) -> list[str]:
    """Identifiers of products showing one of `refs`, their own or inherited from a model (a variant's parent
    or grandparent), sorted. Reads an index already refreshed (refresh_image_index)."""
    products, models = owners_of(conn, refs)
    return sorted(products | set(variants_of(conn, models))) if models else sorted(products)


def catalog_images(store: Any, page: int = PAGE) -> Iterator[tuple[str, str]]:
    """Every distinct (ref, source) the catalog shows, in ref order, streamed in pages (refreshed first)."""
    refreshed(store)
    after: tuple[str, str] | None = None
    while True:
        q = select(USE.c.ref, USE.c.source).distinct().order_by(USE.c.ref, USE.c.source).limit(page)
        if after is not None:
            q = q.where(tuple_(USE.c.ref, USE.c.source) > tuple_(*after))
        with store.engine.connect() as conn:
            rows = [(r, s) for r, s in conn.execute(q)]
        if not rows:
            return
        yield from rows
        after = rows[-1]


def count_catalog_images(store: Any) -> int:
    """How many distinct (ref, source) pairs catalog_images yields (for progress bars; refreshed first)."""
    refreshed(store)
    pairs = select(USE.c.ref, USE.c.source).distinct().subquery()
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(pairs)).scalar_one())
