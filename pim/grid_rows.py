"""The grid index's rows of a product (pim.grid_index), computed in memory, and the writer of a batch's differences.

A product's rows come from a record in memory (`_from_record`) or its stored row (`_from_row`); a variant's
categories and label come from its models (`_models`, `_chain`). grid_missing and grid_completeness copy the
completeness rows (`_score_rows`, `_copy_scores`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, select

from pim.catalog import Structure
from pim.grid_tables import (_COLUMNS, GRID_CATEGORY, GRID_COMPLETENESS, GRID_MISSING, GRID_SOURCE, GRID_TEXT,
                             _delete_sql, _insert_sql, _pk)
from pim.store.database import json_loads
from pim.store.raw import Statements
from pim.store.store import MODEL

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


def _from_record(p: Any, pid: int) -> tuple[Any, ...]:
    """(identifier, id, family, parent, categories, values, sources) of a Product in memory."""
    return p.identifier, pid, p.family, p.parent, p.categories, p.values, _record_sources(p)


def _record_sources(p: Any) -> set[str]:
    """The record-level source and every per-value provenance source of a Product in memory."""
    sources = {p.source.source} if p.source is not None else set()
    sources.update(v.source for v in p.provenance.values())
    return sources


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
