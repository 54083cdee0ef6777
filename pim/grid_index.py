"""Indexed tables behind the product grid's filters, kept current inside every product write.

Every table is keyed (filter value…, product_id), so one filter is an index range already ordered by
product.id: the grid's keyset page (`product_id > after ORDER BY product_id LIMIT n`) reads only the rows
it returns, however rare the match. A second filter probes its table's primary key per candidate.

- grid_category: a product's categories, its product models' categories (variants are classified where
  their model is), and every ancestor category of those, so a parent category finds its sub-categories.
- grid_source: the record-level source and every per-value provenance source.
- grid_text: word tokens (lowercase, split on non-word characters, ≤ 64 chars) of the identifier (locale
  "") and of the family's label attribute per locale (a variant without its own label uses its model's).
  Search is *word prefix*: every query word must start a token ("red sh" finds "Red Shoe"); an infix
  such as "hoe" does not match. That is what is indexed.
- grid_missing: (channel, locale, attribute) a product misses, copied from its completeness rows after
  the completeness listener rescored it (this listener is registered after it), or after a family's
  rescore job did (pim.rescore_jobs, `refresh_scores`).
- grid_completeness: (channel, locale, complete, product_id) with the ratio, from the same rows.
- grid_product: identifier → product_id, so a deleted product's rows can be found and removed.

`rebuild(store)` fills everything for a database written before this index existed; the grid calls it
lazily when the tables are empty but products exist, and `pim gate rescore` (a full completeness rebuild
that runs no product listeners) calls it to refresh grid_missing and grid_completeness.

The listener writes only differences: it computes a batch's rows in memory (from the written records the
store passes, or read back for model writes, deletes and structure changes), loads the stored rows in one
query per table and deletes / inserts what changed with one executemany per table. A merge's partial rewrites
(pim.store.store.ProductDelta) are diffed from the change itself: the text rows of only the locales whose
label changed, read against that locale's other label keys (and the identifier's tokens for locale "").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Index, Integer, String, Table, delete, select
from sqlmodel import Field, SQLModel

from pim.catalog import Structure
from pim.product import split_key, value_key
from pim.store.database import json_loads
from pim.store.raw import Statements
from pim.store.store import MODEL, PRODUCT, batched

TOKEN_LENGTH = 64
_WORD = re.compile(r"\w+", re.UNICODE)
#: A product's text rows a write removed and added, as (locale, token) pairs (`_label_change`).
TextDiff = tuple[set[tuple[str, str]], set[tuple[str, str]]]


def _text(length: int) -> Any:
    """Byte-order collation on PostgreSQL so a prefix range (token >= 'ab' AND token < 'ab\\U0010ffff')
    uses the btree; SQLite's default BINARY collation already is."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _key(length: int) -> Any:
    return Field(sa_column=Column(_text(length), primary_key=True))


def _product_id() -> Any:
    return Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))


class GridProductRow(SQLModel, table=True):
    __tablename__ = "grid_product"

    product: str = Field(sa_column=Column(String(255), primary_key=True))
    product_id: int = Field(sa_column=Column(Integer, nullable=False, unique=True))


class GridCategoryRow(SQLModel, table=True):
    __tablename__ = "grid_category"
    __table_args__ = (Index("ix_grid_category_product", "product_id"),)

    category: str = _key(255)
    product_id: int = _product_id()


class GridSourceRow(SQLModel, table=True):
    __tablename__ = "grid_source"
    __table_args__ = (Index("ix_grid_source_product", "product_id"),)

    source: str = _key(100)
    product_id: int = _product_id()


class GridTextRow(SQLModel, table=True):
    __tablename__ = "grid_text"
    __table_args__ = (Index("ix_grid_text_product", "product_id", "token"),)

    token: str = _key(TOKEN_LENGTH)
    product_id: int = _product_id()
    locale: str = _key(20)


class GridMissingRow(SQLModel, table=True):
    __tablename__ = "grid_missing"
    __table_args__ = (Index("ix_grid_missing_product", "product_id"),)

    channel: str = _key(100)
    locale: str = _key(20)
    attribute: str = _key(100)
    product_id: int = _product_id()


class GridCompletenessRow(SQLModel, table=True):
    """A product's completeness on a channel × locale, keyed so "complete" and "incomplete" are id-ordered
    ranges (below N % reads the incomplete range and checks the ratio)."""

    __tablename__ = "grid_completeness"
    __table_args__ = (Index("ix_grid_completeness_product", "product_id"),)

    channel: str = _key(100)
    locale: str = _key(20)
    complete: bool = Field(sa_column=Column(Boolean, primary_key=True))
    product_id: int = _product_id()
    ratio: int = Field(sa_column=Column(Integer, nullable=False))


GRID_PRODUCT: Table = GridProductRow.__table__  # type: ignore[assignment]
GRID_CATEGORY: Table = GridCategoryRow.__table__  # type: ignore[assignment]
GRID_SOURCE: Table = GridSourceRow.__table__  # type: ignore[assignment]
GRID_TEXT: Table = GridTextRow.__table__  # type: ignore[assignment]
GRID_MISSING: Table = GridMissingRow.__table__  # type: ignore[assignment]
GRID_COMPLETENESS: Table = GridCompletenessRow.__table__  # type: ignore[assignment]
_BY_PRODUCT = (GRID_CATEGORY, GRID_SOURCE, GRID_TEXT, GRID_MISSING, GRID_COMPLETENESS, GRID_PRODUCT)


def tokens(text: Any) -> set[str]:
    """The searchable words of a text, lowercase and capped in length: each whitespace-separated piece
    ("runner-red") and each run of word characters in it ("runner", "red")."""
    if not isinstance(text, str) or not text:
        return set()
    folded = text.casefold()
    pieces = folded.split()
    out = set(pieces)
    for piece in pieces:  # whitespace is never a word character: the runs of the text are its pieces' runs
        if not piece.isalnum():  # an alphanumeric piece is one run (\w is isalnum() or "_"): no regex needed
            out.update(_WORD.findall(piece))
    if len(folded) > TOKEN_LENGTH and any(len(w) > TOKEN_LENGTH for w in out):
        return {w[:TOKEN_LENGTH] for w in out}
    return out


def query_words(q: str | None) -> list[str]:
    """A search's words: its whitespace-separated pieces, lowercase, longest (likely rarest) first; every
    one must start a token of the product."""
    return sorted({w[:TOKEN_LENGTH] for w in (q or "").casefold().split()}, key=len, reverse=True)


def prefix_range(word: str) -> tuple[str, str]:
    """[low, high) of the tokens that start with `word` (code point order = byte order of UTF-8)."""
    return word, word + "\U0010ffff"


# ---------------------------------------------------------------------------------------------- listener
def grid_listener(store: Any) -> Any:
    """Registry entry (after the completeness listener): the product listener, plus a structure listener
    that re-copies the missing attributes the completeness rescoring changed, and the ones that give products
    under a moved category, leaving or joining a channel's tree, or of a family whose label or image attribute
    changed, a new seq (pim.category_moves, pim.channel_tree_moves, pim.family_role_moves)."""
    from pim.category_moves import resequence_listener
    from pim.channel_tree_moves import tree_resequence_listener
    from pim.family_role_moves import family_role_listener

    index = GridIndex()
    if hasattr(store, "structure_listeners"):
        store.structure_listeners.append(index.on_structure)
        store.structure_listeners.append(resequence_listener(store))  # reads the moved categories' own rows
        store.structure_listeners.append(tree_resequence_listener(store))  # a channel's tree: its roots' rows
        store.structure_listeners.append(family_role_listener(store))  # a family's label or image attribute
    return index.on_products


class GridIndex:
    def __init__(self) -> None:
        self._scores_changed: set[str] | None = None  # products whose completeness rows this write changed

    @staticmethod
    def structure(conn: Connection) -> Structure:
        from pim.structure_cache import cached_structure

        return cached_structure(conn)

    @staticmethod
    def requirements(conn: Connection) -> Any:
        """The completeness requirements of the current structure (to tell which writes it rescored)."""
        from pim.structure_cache import cached_requirements

        return cached_requirements(conn)

    def on_products(self, conn: Connection, identifiers: list[str], records: dict[str, Any] | None = None,
                    before: dict[str, Any] | None = None, deltas: dict[str, Any] | None = None) -> None:
        """`records`: the products just written, by identifier (the store passes them on a product write), so
        they are indexed from memory; a model write or a delete passes identifiers only. `before`: the same
        products as stored before the write (a merge import passes it), so only what changed is redone.
        `deltas`: products a merge rewrote in part (pim.store.store.ProductDelta), also redone from the
        difference."""
        from pim.rescore import SCORES_CHANGED

        noted = conn.info.pop(SCORES_CHANGED, None)  # set by the completeness listener in this same write
        self._scores_changed = noted[1] if noted is not None and noted[0].issuperset(identifiers) else None
        try:
            for chunk in batched(identifiers, 2000):
                if deltas:
                    mine = [i for i in chunk if i in deltas]
                    if mine:
                        chunk = [i for i in chunk if i not in deltas] + self._refresh_deltas(conn, mine, deltas)
                if records is not None and before is not None:
                    chunk = self.refresh_changes(conn, chunk, records, before)
                if chunk:
                    self.refresh(conn, chunk, records)
        finally:
            self._scores_changed = None

    def _refresh_deltas(self, conn: Connection, identifiers: list[str], deltas: dict[str, Any]) -> list[str]:
        """refresh_changes for partial before/after products, in one pass over the deltas. Their text rows are
        diffed over just the locales whose label changed (`_label_change`) instead of tokenising the whole label
        and the identifier on both sides: a content import changing names in two locales spent most of this
        listener's time there. Returns the products that need the full refresh (not yet indexed, another family
        or parent, or a variant whose categories or label changed: its rows depend on its models)."""
        from pim.rescore import inputs_changed

        sql = Statements(conn)
        structure = self.structure(conn)
        reqs, known = self.requirements(conn), self._scores_changed
        indexed = dict(sql.all_in("SELECT product, product_id FROM grid_product WHERE product " + sql.any_of, [identifiers]))
        full: list[str] = []
        rescored: dict[str, int] = {}
        changes = _Changes()
        for ident in identifiers:
            d = deltas[ident]
            old, new, pid = d.before, d.after, indexed.get(ident)
            if pid is None or old.family != new.family or old.parent != new.parent:
                full.append(ident)
                continue
            if new.parent:
                if old.categories != new.categories or _label_moved(d, _label_codes(structure, new.family)):
                    full.append(ident)
                    continue
            else:
                if old.categories != new.categories:
                    changes.categories(pid, old.categories, new.categories, structure)
                text = _label_change(ident, d, structure)
                if text is not None:
                    changes.texts(pid, *text)
            changes.sources(pid, *d.sources)
            if (ident in known) if known is not None else (old.values != new.values and inputs_changed(reqs, old, new)):
                rescored[ident] = pid  # its completeness rows changed: copy them again
        changes.write(sql)
        _copy_scores(sql, rescored)
        return full

    def refresh_changes(self, conn: Connection, identifiers: list[str], records: dict[str, Any],
                        before: dict[str, Any]) -> list[str]:
        """Update the rows of products whose old state is known, from the difference alone: category, text
        and source rows are diffed in memory, and completeness copies are re-read only for the products the
        completeness listener rescored (pim.rescore.inputs_changed). Returns the products this cannot handle
        (new, not yet indexed, another family or parent, or a variant whose categories or label changed:
        its rows depend on its models), which get the full refresh."""
        from pim.rescore import inputs_changed

        sql = Statements(conn)
        structure = self.structure(conn)
        reqs, known = self.requirements(conn), self._scores_changed
        indexed = dict(sql.all_in("SELECT product, product_id FROM grid_product WHERE product " + sql.any_of, [identifiers]))
        full: list[str] = []
        rescored: dict[str, int] = {}
        changes = _Changes()
        for ident in identifiers:
            old, new, pid = before.get(ident), records.get(ident), indexed.get(ident)
            if old is None or new is None or pid is None or (old.family, old.parent) != (new.family, new.parent):
                full.append(ident)
                continue
            if not _same_frame(old, new, structure):
                if new.parent:
                    full.append(ident)
                    continue
                if old.categories != new.categories:
                    changes.categories(pid, old.categories, new.categories, structure)
                changes.diff(GRID_TEXT, {(t, pid, loc) for loc, t in _text_tokens(ident, old.family, old.values, [], structure)},
                             {(t, pid, loc) for loc, t in _text_tokens(ident, new.family, new.values, [], structure)})
            changes.sources(pid, frozenset(_record_sources(old)), frozenset(_record_sources(new)))
            if (ident in known) if known is not None else (old.values != new.values and inputs_changed(reqs, old, new)):
                rescored[ident] = pid  # completeness was rescored: copy its rows again
        changes.write(sql)
        _copy_scores(sql, rescored)
        return full

    def refresh_scores(self, conn: Connection, identifiers: list[str]) -> None:
        """Copy the completeness rows of `identifiers` (just rescored) into grid_missing and grid_completeness,
        writing only the difference; their other index rows are left alone (pim.rescore_jobs)."""
        if not identifiers:
            return
        sql = Statements(conn)
        _copy_scores(sql, dict(sql.all_in("SELECT product, product_id FROM grid_product WHERE product " + sql.any_of,
                                          [identifiers])))

    def on_structure(self, conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if kind == "category":
            # A category that moved, appeared or went changes the ancestor lists of exactly the products indexed
            # under it (its sub-categories' products have a row for it too); a new category has none, so adding
            # one from the admin page does not rewrite the whole index. Inside a web move's deferral a large
            # subtree is left to a queued job recorded in this transaction (pim.grid_jobs).
            from pim.category_moves import moved
            from pim.grid_jobs import defer

            categories = moved(before, after)
            if defer(conn, categories) is not None:
                return
            for chunk in batched(categories, 1000):
                under = select(GRID_CATEGORY.c.product_id).where(GRID_CATEGORY.c.category.in_(chunk))
                self.refresh_where(conn, PRODUCT.c.id.in_(under))
            return
        if kind == "family":  # attribute_as_label may change the label tokens
            # Inside a web save's deferral, a large family's re-filing (and its re-sequencing, pim.family_role_moves)
            # is left to a queued job recorded in this transaction (pim.grid_jobs)
            from pim.family_role_moves import changed_roles
            from pim.grid_jobs import defer_families

            queued = defer_families(conn, changed_roles(before, after))
            families = {c for c in after if c not in queued and (before.get(c) or {}).get("attribute_as_label")
                        != (after.get(c) or {}).get("attribute_as_label")}
            if families:
                self.refresh_where(conn, PRODUCT.c.family.in_(sorted(families)) | PRODUCT.c.parent.is_not(None))
        from pim.rescore import affected
        from pim.rescore_jobs import kept_in_write

        for families, _channels in affected(kind, before, after, self.structure(conn)):
            kept = kept_in_write(families)
            if families and not kept:
                continue  # their rescore is a recorded job, which refreshes the score copies page by page
            families = kept
            if families is None:
                self.refresh_all(conn)
                return
            self.refresh_where(conn, PRODUCT.c.family.in_(sorted(families)) | PRODUCT.c.parent.is_not(None))

    def refresh_all(self, conn: Connection) -> int:
        return self.refresh_where(conn, None)

    def refresh_where(self, conn: Connection, condition: Any) -> int:
        last, done = 0, 0
        while True:
            q = select(PRODUCT.c.id, PRODUCT.c.identifier).where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(2000)
            page = conn.execute(q if condition is None else q.where(condition)).all()
            if not page:
                return done
            self.refresh(conn, [r[1] for r in page])
            done, last = done + len(page), page[-1][0]

    def refresh(self, conn: Connection, identifiers: list[str], records: dict[str, Any] | None = None) -> None:
        """Bring the index rows of `identifiers` (written, touched through a model, or deleted) up to date:
        compute them in memory, load what is stored (one query per table) and write only the difference."""
        sql = Statements(conn)
        if records is not None and all(i in records for i in identifiers):
            ids = dict(sql.all_in("SELECT identifier, id FROM product WHERE identifier " + sql.any_of, [identifiers]))
            items = [_from_record(records[i], ids[i]) for i in identifiers if i in ids]
        else:
            items = [_from_row(*r) for r in sql.all_in(
                "SELECT identifier, id, family, parent, categories, value_map, source, provenance FROM product "
                "WHERE identifier " + sql.any_of, [identifiers])]
        current = [it[1] for it in items]
        old: dict[Table, set[tuple[Any, ...]]] = {GRID_PRODUCT: set(sql.all_in(
            f"SELECT product, product_id FROM grid_product WHERE product {sql.any_of} OR product_id {sql.any_of}",
            [identifiers, current]))}
        every = sorted(set(current) | {r[1] for r in old[GRID_PRODUCT]})
        if not every:
            return
        for table in _BY_PRODUCT[:-1]:
            old[table] = set(sql.all_in(f"SELECT {', '.join(_COLUMNS[table])} FROM {table.name} WHERE product_id "
                                     + sql.any_of, [every]))
        new = self._rows(conn, sql, items)
        for table in _BY_PRODUCT:  # deletes first: a changed ratio or a re-created product reuses a key
            sql.many(_delete_sql(sql, table), [_pk(table, r) for r in old[table] - new[table]])
        for table in _BY_PRODUCT[::-1]:
            sql.many(_insert_sql(sql, table), sorted(new[table] - old[table]))  # key order: fewer B-tree pages touched

    def _rows(self, conn: Connection, sql: Statements, items: list[tuple[Any, ...]]) -> dict[Table, set[tuple[Any, ...]]]:
        """Every index row of `items` as column tuples in `_COLUMNS` order."""
        structure = self.structure(conn)
        models = _models(conn, {it[3] for it in items if it[3]})
        out: dict[Table, set[tuple[Any, ...]]] = {t: set() for t in _BY_PRODUCT}
        for identifier, pid, family, parent, categories, values, sources in items:
            chain = _chain(models, parent)
            out[GRID_PRODUCT].add((identifier, pid))
            cats = set(categories or [])
            for m in chain:
                cats.update(m["categories"] or [])
            out[GRID_CATEGORY].update((c, pid) for c in _with_ancestors(cats, structure))
            out[GRID_SOURCE].update((s[:100], pid) for s in sources)
            family = family or next((m["family"] for m in chain if m["family"]), None)
            out[GRID_TEXT].update((t, pid, loc) for loc, t in _text_tokens(identifier, family, values or {}, chain, structure))
        out[GRID_MISSING], out[GRID_COMPLETENESS] = _score_rows(sql, {it[0]: it[1] for it in items})
        return out


#: Each table's columns in the order its row tuples use; the key columns are all but grid_completeness' ratio.
_COLUMNS: dict[Table, tuple[str, ...]] = {
    GRID_PRODUCT: ("product", "product_id"),
    GRID_CATEGORY: ("category", "product_id"),
    GRID_SOURCE: ("source", "product_id"),
    GRID_TEXT: ("token", "product_id", "locale"),
    GRID_MISSING: ("channel", "locale", "attribute", "product_id"),
    GRID_COMPLETENESS: ("channel", "locale", "complete", "product_id", "ratio"),
}


class _Changes:
    """The category, text and source rows a batch of known before/after products removed and added, written
    with one executemany per table and kind (deletes first: an insert may reuse a deleted key)."""

    def __init__(self) -> None:
        self.gone: dict[Table, list[tuple[Any, ...]]] = {GRID_CATEGORY: [], GRID_TEXT: [], GRID_SOURCE: []}
        self.added: dict[Table, list[tuple[Any, ...]]] = {GRID_CATEGORY: [], GRID_TEXT: [], GRID_SOURCE: []}
        #: (sources before, after) → the source rows' values gone and added: an import moves a batch's
        #: products between the same few source sets (e.g. every product gains "erp")
        self._source_moves: dict[tuple[frozenset[str], frozenset[str]], tuple[list[str], list[str]]] = {}

    def diff(self, table: Table, was: set[tuple[Any, ...]], now: set[tuple[Any, ...]]) -> None:
        self.gone[table].extend(was - now)
        self.added[table].extend(now - was)

    def categories(self, pid: int, was: Iterable[str], now: Iterable[str], structure: Structure) -> None:
        self.diff(GRID_CATEGORY, {(c, pid) for c in _with_ancestors(was, structure)},
                  {(c, pid) for c in _with_ancestors(now, structure)})

    def texts(self, pid: int, lost: set[tuple[str, str]], found: set[tuple[str, str]]) -> None:
        self.gone[GRID_TEXT].extend((t, pid, loc) for loc, t in lost)
        self.added[GRID_TEXT].extend((t, pid, loc) for loc, t in found)

    def sources(self, pid: int, was: frozenset[str], now: frozenset[str]) -> None:
        if was == now:
            return
        move = self._source_moves.get((was, now))
        if move is None:
            before, after = {s[:100] for s in was}, {s[:100] for s in now}
            move = self._source_moves[(was, now)] = (sorted(before - after), sorted(after - before))
        for source in move[0]:
            self.gone[GRID_SOURCE].append((source, pid))
        for source in move[1]:
            self.added[GRID_SOURCE].append((source, pid))

    def write(self, sql: Statements) -> None:
        for table, rows in self.gone.items():
            sql.many(_delete_sql(sql, table), rows)
            sql.many(_insert_sql(sql, table), sorted(self.added[table]))  # key order: fewer B-tree pages touched


def _copy_scores(sql: Statements, rescored: dict[str, int]) -> None:
    """Bring the grid_missing and grid_completeness rows of `rescored` (identifier → product_id, indexed
    products) to their completeness rows, writing only the difference."""
    if not rescored:
        return
    pids = sorted(rescored.values())
    new_rows = dict(zip((GRID_MISSING, GRID_COMPLETENESS), _score_rows(sql, rescored)))
    for table in (GRID_MISSING, GRID_COMPLETENESS):
        stored = set(sql.all_in(f"SELECT {', '.join(_COLUMNS[table])} FROM {table.name} WHERE product_id "
                                + sql.any_of, [pids]))
        sql.many(_delete_sql(sql, table), [_pk(table, r) for r in stored - new_rows[table]])
        sql.many(_insert_sql(sql, table), sorted(new_rows[table] - stored))


def _pk(table: Table, row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row[:4] if table is GRID_COMPLETENESS else row


def _delete_sql(sql: Statements, table: Table) -> str:
    columns = _COLUMNS[table][:4] if table is GRID_COMPLETENESS else _COLUMNS[table]
    return f"DELETE FROM {table.name} WHERE " + " AND ".join(f"{c} = {sql.p}" for c in columns)


def _insert_sql(sql: Statements, table: Table) -> str:
    columns = _COLUMNS[table]
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([sql.p] * len(columns))})"


def _from_record(p: Any, pid: int) -> tuple[Any, ...]:
    """(identifier, id, family, parent, categories, values, sources) of a Product in memory."""
    return p.identifier, pid, p.family, p.parent, p.categories, p.values, _record_sources(p)


def _record_sources(p: Any) -> set[str]:
    """The record-level source and every per-value provenance source of a Product in memory."""
    sources = {p.source.source} if p.source is not None else set()
    sources.update(v.source for v in p.provenance.values())
    return sources


def _same_frame(old: Any, new: Any, structure: Structure) -> bool:
    """True when a write left a product's category and text rows as they were: same family, parent and
    categories, and the same values of its family's label attribute."""
    if (old.family, old.parent, old.categories) != (new.family, new.parent, new.categories):
        return False
    before, after = old.values, new.values
    if before is after:
        return True
    keys: Iterable[str] = _label_keys(structure, new.family)
    if len(before) + len(after) < len(keys):  # a partial record (a merge's delta): look at its own keys
        labels = _label_set(structure, new.family)
        keys = [k for k in (*before, *after) if k in labels]
    return all(before.get(k) == after.get(k) for k in keys)


def _label_set(structure: Structure, family: str | None) -> frozenset[str]:
    cache = structure.__dict__.setdefault("_grid_label_sets", {})
    hit = cache.get(family)
    if hit is None:
        hit = cache[family] = frozenset(_label_keys(structure, family))
    return hit


_ABSENT = object()


def _label_locale(key: str) -> str:
    """The text-row locale of a label value key ("" for a non-localizable label, as _text_tokens files it)."""
    return split_key(key)[1] or ""


def _keys_of(code: str, keys: Iterable[str]) -> list[str]:
    """The value keys among `keys` of attribute `code` (itself, `code:…`, `code@…`; not `code_other`)."""
    n = len(code)
    return [k for k in keys if k.startswith(code) and (len(k) == n or k[n] in ":@")]


def _label_change(identifier: str, delta: Any, structure: Structure) -> TextDiff | None:
    """The (locale, token) text rows a merge's partial rewrite (pim.store.store.ProductDelta) of a product
    without a model removed and added; None when its label did not change. Only the row locales of the label
    keys that changed are looked at: their keys the write left alone (from the delta's whole value map, still
    raw JSON: only those are decoded) and, for locale "", the identifier give the tokens both sides keep, so a
    token another key still gives is not deleted. A label key is any key _text_tokens reads (also of a locale
    or channel the structure no longer declares, which the rebuild indexes too)."""
    fam = structure.families.get(delta.after.family or "")
    code = fam.attribute_as_label if fam else None
    if not code:
        return None
    before, after = delta.before.values, delta.after.values
    changed = [k for k in _keys_of(code, before.keys() | after.keys()) if before.get(k, _ABSENT) != after.get(k, _ABSENT)]
    if not changed:
        return None
    groups: dict[str, tuple[set[str], set[str], set[str]]] = {}  # row locale → tokens before, after, kept by both
    for k in changed:
        locale = _label_locale(k)[:20]  # truncated as _text_tokens files it
        was, now, _ = groups.get(locale) or groups.setdefault(locale, (set(), set(), set()))
        if k in before:
            was |= tokens(before[k])
        if k in after:
            now |= tokens(after[k])
    if "" in groups:
        groups[""][2].update(tokens(identifier))
    whole, moved = delta.values, set(changed)
    for k in _keys_of(code, whole):  # the other keys of those locales: the same both sides
        if k not in moved:
            group = groups.get(_label_locale(k)[:20])
            if group is not None:
                group[2].update(tokens(whole[k]))
    lost = {(locale, t) for locale, (was, now, kept) in groups.items() for t in was - now - kept}
    found = {(locale, t) for locale, (was, now, kept) in groups.items() for t in now - was - kept}
    return lost, found


def _label_moved(delta: Any, codes: Iterable[str]) -> bool:
    """Whether a partial rewrite changed a value of any of the label attributes `codes` (any key _text_tokens
    reads of them)."""
    before, after = delta.before.values, delta.after.values
    keys = before.keys() | after.keys()
    return any(before.get(k, _ABSENT) != after.get(k, _ABSENT) for c in codes for k in _keys_of(c, keys))


def _label_codes(structure: Structure, family: str | None) -> frozenset[str]:
    """The label attribute a product of `family` can take its text from: its family's, or for a variant without
    a family of its own every family's (it takes its model's). Cached per structure."""
    cache = structure.__dict__.setdefault("_grid_label_codes", {})
    hit = cache.get(family)
    if hit is None:
        fams = [structure.families.get(family)] if family else list(structure.families.values())
        hit = cache[family] = frozenset(f.attribute_as_label for f in fams if f is not None and f.attribute_as_label)
    return hit


def _label_keys(structure: Structure, family: str | None) -> tuple[str, ...]:
    """Every value key the family's label attribute can have (any locale, any channel), cached per structure."""
    cache = structure.__dict__.setdefault("_grid_label_keys", {})
    hit = cache.get(family)
    if hit is None:
        fam = structure.families.get(family or "")
        code = fam.attribute_as_label if fam else None
        locales, channels = [None, *structure.locales], [None, *structure.channels]
        hit = cache[family] = tuple(value_key(code, loc, ch) for loc in locales for ch in channels) if code else ()
    return hit


def _from_row(identifier: str, pid: int, family: str | None, parent: str | None, categories: Any, values: Any,
              source: Any, provenance: Any) -> tuple[Any, ...]:
    """The same from a stored product row (JSON columns are text on SQLite)."""
    return (identifier, pid, family, parent, json_loads(categories), json_loads(values) or {},
            _sources(json_loads(source), json_loads(provenance)))


def _models(conn: Connection, codes: set[str]) -> dict[str, dict[str, Any]]:
    """The product models named and their parents (two levels at most, as in Akeneo)."""
    found: dict[str, dict[str, Any]] = {}
    wanted = set(codes)
    for _ in range(2):
        wanted -= set(found)
        if not wanted:
            break
        for m in conn.execute(select(MODEL.c.code, MODEL.c.parent, MODEL.c.family, MODEL.c.categories, MODEL.c.value_map)
                              .where(MODEL.c.code.in_(sorted(wanted)))):
            found[m.code] = {"parent": m.parent, "family": m.family, "categories": json_loads(m.categories),
                             "values": json_loads(m.value_map) or {}}
        wanted = {m["parent"] for m in found.values() if m["parent"]}
    return found


def _chain(models: dict[str, dict[str, Any]], parent: str | None) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    while parent and parent in models and len(chain) < 2:
        chain.append(models[parent])
        parent = models[parent]["parent"]
    return chain


def _with_ancestors(categories: Iterable[str], structure: Structure) -> set[str]:
    out: set[str] = set()
    for code in categories:
        out.add(code)
        out.update(structure.category_path(code))
    return {c[:255] for c in out}


def _sources(source: dict[str, Any] | None, provenance: dict[str, Any] | None) -> set[str]:
    found = {source["source"]} if source and source.get("source") else set()
    for prov in (provenance or {}).values():
        if prov and prov.get("source"):
            found.add(prov["source"])
    return found


def _text_tokens(identifier: str, family: str | None, values: dict[str, Any], chain: list[dict[str, Any]],
                 structure: Structure) -> set[tuple[str, str]]:
    out = {("", t) for t in tokens(identifier)}
    fam = structure.families.get(family or "")
    code = fam.attribute_as_label if fam else None
    if not code:
        return out
    label: dict[str, Any] = {}  # the label's keys only, a variant's own over its models'
    for source in [*(m["values"] for m in reversed(chain)), values]:
        label.update((k, source[k]) for k in _keys_of(code, source))
    for key, value in label.items():
        locale = _label_locale(key)
        out.update((locale[:20], t) for t in tokens(value))
    return out


def _score_rows(sql: Statements, ids: dict[str, int]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """grid_missing and grid_completeness rows from the products' (just rescored) completeness rows."""
    missing: set[tuple[Any, ...]] = set()
    scores: set[tuple[Any, ...]] = set()
    if not ids:
        return missing, scores
    for product, channel, locale, ratio, miss in sql.all_in(
            "SELECT product, channel, locale, ratio, missing FROM completeness WHERE product " + sql.any_of, [list(ids)]):
        pid = ids[product]
        scores.add((channel, locale, ratio >= 100, pid, ratio))
        missing.update((channel, locale, a[:100], pid) for a in json_loads(miss) or [])
    return missing, scores


# ---------------------------------------------------------------------------------------------- backfill
def rebuild(store: Any) -> int:
    """Fill the grid index from scratch for every product (one transaction); returns the product count. It
    re-files every product, so it settles the category moves' grid_reindex jobs left unsettled when it started
    (pim.grid_jobs; not a family's, which re-sequences its products too)."""
    from pim.grid_jobs import record_rebuild, unsettled_ids  # lazily: pim.grid_jobs imports this module

    with store.begin() as conn:
        settles = unsettled_ids(conn, moves_only=True)  # first: the moves of these jobs are in what it reads next
        for table in _BY_PRODUCT:
            conn.execute(delete(table))
        count = GridIndex().refresh_all(conn)
        record_rebuild(conn, settles, count)
        return count


def is_empty(conn: Connection) -> bool:
    """True when products exist but the index has none of them (a database from before the index)."""
    return (conn.execute(select(GRID_PRODUCT.c.product_id).limit(1)).first() is None
            and conn.execute(select(PRODUCT.c.id).limit(1)).first() is not None)
