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

from typing import Any

from sqlalchemy import Connection, Table, delete, select

from pim.catalog import Structure
from pim.grid_rows import (_Changes, _chain, _copy_scores, _from_record, _from_row, _models, _record_sources,
                           _score_rows, _with_ancestors)
# The tables and token functions are also importable from here (pim.grid_query, tests and plugins use them).
from pim.grid_tables import (_BY_PRODUCT, _COLUMNS, GRID_CATEGORY, GRID_COMPLETENESS, GRID_MISSING, GRID_PRODUCT,
                             GRID_SOURCE, GRID_TEXT, TOKEN_LENGTH, GridCategoryRow, GridCompletenessRow,
                             GridMissingRow, GridProductRow, GridSourceRow, GridTextRow, _delete_sql, _insert_sql, _pk)
from pim.grid_text import (TextDiff, _label_change, _label_codes, _label_moved, _same_frame, _text_tokens,
                           prefix_range, query_words, tokens)
from pim.store.raw import Statements
from pim.store.store import PRODUCT, batched

__all__ = ["GRID_CATEGORY", "GRID_COMPLETENESS", "GRID_MISSING", "GRID_PRODUCT", "GRID_SOURCE", "GRID_TEXT",
           "TOKEN_LENGTH", "GridCategoryRow", "GridCompletenessRow", "GridIndex", "GridMissingRow", "GridProductRow",
           "GridSourceRow", "GridTextRow", "TextDiff", "grid_listener", "is_empty", "prefix_range", "query_words",
           "rebuild", "tokens"]


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
