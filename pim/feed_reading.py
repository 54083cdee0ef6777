"""How a feed build reads products: light rows (identity, family, parent, enabled, categories, seq and values,
the JSON decoded with orjson only for the rows kept) with inherited values merged, by identifier or by a keyset
scan; full records for deltas. A run's snapshot reads through a `Diet` (pim.feed_snapshot) and keeps only the
value keys its contracts read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from sqlalchemy import Text, cast, select

from pim.feed_snapshot import Diet
from pim.gate import member_of
from pim.product import Product, ProductModel, merged_values
from pim.store.store import MODEL, PRODUCT, Store, batched

CHUNK = 1000


def _product(m: Any) -> Product:
    # Rows in the store were validated on write; constructing skips re-validating 10k rows per feed.
    return Product.model_construct(identifier=m["identifier"], family=m["family"], parent=m["parent"],
                                   enabled=m["enabled"], categories=m["categories"] or [], groups=m["groups"] or [],
                                   values=m["value_map"] or {}, associations={})


class _Row:
    """A product as a feed sees it (no pydantic): what assortment, gate, pricing and rendering read."""

    __slots__ = ("identifier", "family", "parent", "enabled", "categories", "values", "seq")

    def __init__(self, identifier: str, family: str | None, parent: str | None, enabled: bool, categories: list[str],
                 seq: int, values: dict[str, Any]) -> None:
        self.identifier, self.family, self.parent, self.enabled = identifier, family, parent, enabled
        self.categories, self.seq, self.values = categories, seq, values


# What a feed reads of a product, with the JSON columns as text: decoded here with orjson, and only for the rows
# a build keeps (SQLAlchemy's JSON type would decode every column of every row it fetches).
_LIGHT = (PRODUCT.c.id, PRODUCT.c.identifier, PRODUCT.c.family, PRODUCT.c.parent, PRODUCT.c.enabled, PRODUCT.c.seq,
          cast(PRODUCT.c.categories, Text), cast(PRODUCT.c.value_map, Text))
SCAN_PAGE = 5000
#: A run's snapshot reads smaller pages: a page's JSON texts are transient, and fewer of them at once leave
#: less freed memory the process keeps (~30 MB less RSS on the medium catalog).
SNAPSHOT_PAGE = 1000


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


class _Reader:
    """Streams product rows from the store and merges inherited values (models cached per build); with a `diet`,
    light rows keep only the value keys it names (a run's snapshot: pim.feed_snapshot)."""

    def __init__(self, store: Store, diet: Diet | None = None) -> None:
        self.store, self.diet = store, diet
        self.models: dict[str, ProductModel | None] = {}

    def _among(self, identifiers: list[str]) -> Any:
        return member_of(PRODUCT.c.identifier, identifiers, self.store.engine.dialect.name)

    def by_ids(self, ids: Iterable[str]) -> Iterator[Product]:
        for chunk in batched(ids, CHUNK):
            with self.store.engine.connect() as conn:
                rows = conn.execute(select(PRODUCT).where(self._among(chunk)).order_by(PRODUCT.c.identifier)).all()
            yield from (_product(r._mapping) for r in rows)

    def scan(self, families: list[str] | None = None, since_seq: int | None = None) -> Iterator[Product]:
        """Keyset paging: by seq (index) for deltas, else by id."""
        key = PRODUCT.c.seq if since_seq is not None else PRODUCT.c.id
        last = since_seq or 0
        while True:
            q = select(PRODUCT).where(key > last).order_by(key).limit(CHUNK)
            if families is not None:
                q = q.where(PRODUCT.c.family.in_(families))
            with self.store.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            yield from (_product(r._mapping) for r in rows)
            last = rows[-1]._mapping["seq" if since_seq is not None else "id"]

    def rows(self, ids: Iterable[str] | None = None, *, where: list[Any] | None = None,
             page: int = SCAN_PAGE) -> Iterator[_Row]:
        """Light rows with inherited values merged: the given identifiers, or the whole catalog by id (narrowed
        by the `where` clauses)."""
        if ids is not None:
            for chunk in batched(ids, CHUNK):
                with self.store.engine.connect() as conn:
                    found = conn.execute(select(*_LIGHT).where(self._among(chunk)).order_by(PRODUCT.c.identifier)).all()
                yield from (self._row(t) for t in found)
            return
        last = 0
        while True:
            q = select(*_LIGHT).where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(page)
            with self.store.engine.connect() as conn:
                found = conn.execute(q.where(*where or ())).all()
            if not found:
                return
            yield from (self._row(t) for t in found)
            last = found[-1][0]

    def _row(self, t: Any) -> _Row:
        _, identifier, family, parent, enabled, seq, categories, values = t
        row = _Row(identifier, family, parent, enabled, _json(categories) or [], seq, _json(values) or {})
        if parent:
            chain = []
            while parent and len(chain) < 2 and (model := self._model(parent)) is not None:
                chain.append(model)
                parent = model.parent
            row.values = merged_values(row, chain)  # type: ignore[arg-type]
        if self.diet is not None:
            row.values = self.diet(row.values)
        return row

    def _model(self, code: str) -> ProductModel | None:
        if code not in self.models:
            with self.store.engine.connect() as conn:
                row = conn.execute(select(MODEL).where(MODEL.c.code == code)).first()
            self.models[code] = Store.row_to_model(row) if row else None
        return self.models[code]

    def values(self, p: Product) -> dict[str, Any]:
        if not p.parent:
            return p.values
        chain, parent = [], p.parent
        while parent and len(chain) < 2 and (model := self._model(parent)) is not None:
            chain.append(model)
            parent = model.parent
        return merged_values(p, chain)
