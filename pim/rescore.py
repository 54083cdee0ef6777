"""Keeping stored completeness current, inside the write that changed things.

- A product write (or a model write, which touches its variants, or a delete) rescores those products in
  the same transaction: `completeness_listener` is registered in pim.registry.PRODUCT_LISTENERS.
- A structure write is diffed against what was stored: a family's requirements, a channel's locales or
  currencies, an attribute's scope/localizable/locale/type flags. Only the affected families, and only the
  affected channels' rows, are rescored — never a full rebuild.
- The report's counters (per channel × locale × family, and per missing attribute) move by the difference
  between the old and new rows, so they never need a scan.

Asset validity hook: pim.registry.ASSET_VALIDITY names callables `(conn, refs: set[str]) -> set[str]`
returning the refs that are not valid assets; an image or file value pointing at one is not filled.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from pim.catalog import Structure
from pim.completeness import Requirements, Result
from pim.gc_policy import paused
from pim.partial_values import PartialDecoder
from pim.store.raw import Statements
from pim.store.store import MODEL, PRODUCT, STRUCTURE, batched
from pim.structure import STRUCTURE_KINDS

_ATTRIBUTE_FLAGS = ("type", "localizable", "scopable", "available_locales")


def completeness_listener(store: Any) -> Any:
    """Registry entry: returns the product listener and hooks the structure listener onto the store."""
    rescorer = Rescorer()
    if hasattr(store, "structure_listeners"):
        store.structure_listeners.append(rescorer.on_structure)
    return rescorer.on_products


def increment(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """Add each row's counts to the stored counters (insert when absent)."""
    if not rows:
        return
    ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    counts = [c for c in rows[0] if c not in keys]
    conn.execute(ins.on_conflict_do_update(index_elements=keys, set_={c: table.c[c] + ins.excluded[c] for c in counts}), rows)


def load_structure(conn: Connection) -> Structure:
    """The structure as this transaction sees it (including a structure write not yet committed)."""
    items: dict[str, list[Any]] = {kind: [] for kind in STRUCTURE_KINDS}
    for kind, data in conn.execute(select(STRUCTURE.c.kind, STRUCTURE.c.data).order_by(STRUCTURE.c.code)):
        if kind in STRUCTURE_KINDS:
            items[kind].append(STRUCTURE_KINDS[kind].model_validate(data))
    return Structure.from_items(items)


class Rescorer:
    def __init__(self) -> None:
        self._fingerprint: Any = None
        self._requirements: Requirements | None = None

    # ------------------------------------------------------------------ structure
    def requirements(self, conn: Connection) -> Requirements:
        fingerprint = tuple(conn.execute(select(func.count(), func.max(STRUCTURE.c.updated_at)).select_from(STRUCTURE)).one())
        if self._requirements is None or fingerprint != self._fingerprint:
            self._requirements = Requirements(load_structure(conn))
            self._fingerprint = fingerprint
        return self._requirements

    def on_structure(self, conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        self._requirements = None  # same-second writes would keep the fingerprint
        reqs = self.requirements(conn)
        for families, channels in affected(kind, before, after, reqs.structure):
            self.rescore_families(conn, families, channels)

    def rescore_families(self, conn: Connection, families: set[str] | None, channels: set[str] | None) -> int:
        """Rescore the products of `families` (None: all) on `channels` (None: all), paging by id. Everything
        (None, None) is a rebuild from scratch in this transaction (see `rebuild` for the parallel one)."""
        if families is None and channels is None:
            return rebuild_in(conn, self.requirements(conn))
        last, done = 0, 0
        while True:
            q = select(PRODUCT.c.id, PRODUCT.c.identifier).where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(2000)
            if families is not None:
                q = q.where(PRODUCT.c.family.in_(sorted(families)))
            page = conn.execute(q).all()
            if not page:
                return done
            self.rescore(conn, [r[1] for r in page], channels)
            done += len(page)
            last = page[-1][0]

    # ------------------------------------------------------------------ products
    def on_products(self, conn: Connection, identifiers: list[str], records: dict[str, Any] | None = None,
                    before: dict[str, Any] | None = None, deltas: dict[str, Any] | None = None) -> None:
        """`records`: the products just written, by identifier (the store passes them), so they are scored
        from memory instead of being read back. `before`: the products as stored before this write (None:
        new), when the writer knows them; products whose completeness and unique-value inputs did not
        change are then skipped (their stored rows are already right). `deltas`: products a merge rewrote
        in part (pim.store.store.ProductDelta): skipped the same way, else scored from the stored row."""
        if deltas or (before is not None and records is not None):
            reqs = self.requirements(conn)
            deltas, records = deltas or {}, dict(records or {})
            identifiers = [i for i in identifiers if (inputs_changed(reqs, deltas[i].before, deltas[i].after)
                                                      if i in deltas else inputs_changed(reqs, (before or {}).get(i), records.get(i)))]
            for i in identifiers:
                if i in deltas:
                    records[i] = _DeltaRecord(reqs, deltas[i])
        for chunk in batched(identifiers, 2000):
            self.rescore(conn, chunk, records=records)

    def rescore(self, conn: Connection, identifiers: list[str], channels: set[str] | None = None,
                records: dict[str, Any] | None = None) -> None:
        reqs = self.requirements(conn)
        sql = Statements(conn)
        if records is not None and all(i in records for i in identifiers):
            rows = [(i, records[i].family, records[i].parent, records[i].values) for i in identifiers]
        else:
            rows = sql.all(f"SELECT identifier, family, parent, value_map FROM product WHERE identifier IN "
                           f"({sql.marks(identifiers)})", identifiers)
        scored = _records(conn, rows, reqs.structure)
        new = dict(_scores(reqs, scored, _invalid_assets(conn, scored, reqs), channels))
        _replace(conn, sql, identifiers, new, channels)
        _unique_values(conn, sql, identifiers, scored, reqs)
        gone = [i for i in identifiers if i not in scored]
        if gone:
            from pim.gate import forget_decisions

            forget_decisions(conn, gone)


_MISSING = object()


class _DeltaRecord:
    """What scoring reads of a product a merge rewrote in part: its family and parent, and the values its
    family checks, decoded from the delta's whole value map (all of it for a variant without a family of
    its own: its plan comes from its model)."""

    __slots__ = ("identifier", "family", "parent", "values")

    def __init__(self, reqs: Requirements, delta: Any) -> None:
        after = delta.after
        self.identifier, self.family, self.parent = after.identifier, after.family, after.parent
        decoder = _decoder(reqs, after.family, after.parent)
        self.values = decoder.decode(delta.values) if decoder is not None else dict(delta.values)


def inputs_changed(reqs: Requirements, old: Any, new: Any) -> bool:
    """Whether a write from product `old` to `new` may change its completeness rows or unique values. When
    in doubt, True: a new product, another family or parent, a changed value of a unique-tracked attribute,
    of a required image/file (its validity depends on the ref), a required value appearing or vanishing on
    a variant (it shadows what the model gives), or a required value whose filled verdict changed. A value
    the family does not require (and that is not unique-tracked) changes nothing, so only the keys the
    family checks and the unique attributes are compared (not the whole value map)."""
    if old is None or new is None or old.family != new.family or old.parent != new.parent:
        return True
    before, after = old.values, new.values
    if not new.family and new.parent:
        return before != after  # a variant may take its family from its model: any change counts
    watched, plan, watched_set = _watched(reqs, new.family)
    if len(before) + len(after) < len(watched):  # partial products (a merge's delta): look at their own keys
        watched = [k for k in {*before, *after} if k in watched_set]
    changed = [k for k in watched if before.get(k, _MISSING) != after.get(k, _MISSING)]
    if not changed:
        return False
    if any(k in reqs.unique_tracked for k in changed):
        return True
    if plan is None:
        return False  # no family, or an unknown one: it scores nothing
    if any(k in plan.assets for k in changed):
        return True
    if new.parent and any((k in before) != (k in after) for k in changed):
        return True
    return plan.unfilled(before, new.identifier) != plan.unfilled(after, new.identifier)


def _watched(reqs: Requirements, family: str | None) -> tuple[tuple[str, ...], Any, frozenset[str]]:
    """The value keys whose change can move a product of `family`: its plan's checks and the unique
    attributes (global values: their key is the attribute code). Cached per family on `reqs`."""
    cache = reqs.__dict__.setdefault("_watched", {})
    hit = cache.get(family)
    if hit is None:
        plan = reqs.plan(family) if family else None
        keys = set(reqs.unique_tracked) | (set(plan.keys) if plan is not None else set())
        hit = cache[family] = (tuple(sorted(keys)), plan, frozenset(keys))
    return hit


def _insert_scores(sql: Statements, rows: list[tuple[Any, ...]]) -> None:
    p = sql.p
    sql.many("INSERT INTO completeness (product, channel, locale, family, ratio, required, missing_count, missing) "
             f"VALUES ({p},{p},{p},{p},{p},{p},{p},{sql.json})", rows)


def _insert_unique(sql: Statements, rows: list[tuple[str, str, str]]) -> None:
    sql.many(f"INSERT INTO unique_value (product, attribute, value) VALUES ({sql.p},{sql.p},{sql.p})", rows)


def _scores(reqs: Requirements, records: dict[str, tuple[str | None, dict[str, Any]]], invalid: set[str],
            channels: set[str] | None) -> Iterator[tuple[tuple[str, str, str], Result]]:
    for ident, (family, values) in records.items():
        plan = reqs.plan(family)
        if plan is not None:
            for r in plan.results(values, ident, invalid, channels):
                yield (ident, r.channel, r.locale), r


def _decoder(reqs: Requirements, family: str | None, parent: str | None) -> PartialDecoder | None:
    """The partial decoder for a stored product of `family`: the keys its plan checks and the unique
    attributes, which is all a rebuild reads. None (decode everything) for a variant that takes its family
    from its model: its plan is not known yet."""
    if family is None and parent:
        return None
    cache = reqs.__dict__.setdefault("_partial_decoders", {})
    hit = cache.get(family)
    if hit is None:
        hit = cache[family] = PartialDecoder(_watched(reqs, family)[0])
    return hit


def _records(conn: Connection, rows: list[Any], structure: Structure,
             reqs: Requirements | None = None) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """(identifier, family, parent, value_map) rows → identifier → (family, values with inheritance from
    product models). With `reqs`, value maps are decoded only for the keys scoring reads (the rebuild)."""
    loads = Statements.loads
    models: dict[str, tuple[str | None, str | None, str, dict[str, Any]]] = {}
    wanted = {r[2] for r in rows if r[2]}
    for _ in range(2):  # parent, then grandparent
        wanted -= set(models)
        if not wanted:
            break
        for code, parent, fam, fv, values in conn.execute(
            select(MODEL.c.code, MODEL.c.parent, MODEL.c.family, MODEL.c.family_variant, MODEL.c.value_map)
            .where(MODEL.c.code.in_(sorted(wanted)))
        ):
            models[code] = (parent, fam, fv, values or {})
        wanted = {m[0] for m in models.values() if m[0]}
    out = {}
    for ident, family, parent, raw in rows:
        partial = _decoder(reqs, family, parent) if reqs is not None and raw else None
        values = partial.decode(raw) if partial is not None else loads(raw) if raw else {}
        if parent:
            chain = []
            code = parent
            while code and code in models and len(chain) < 2:
                chain.append(models[code])
                code = models[code][0]
            merged: dict[str, Any] = {}
            for model in reversed(chain):
                merged.update(model[3])
            merged.update(values)
            values = merged
            if not family and chain:
                family = chain[0][1] or structure.family_of_variant(chain[0][2])
        out[ident] = (family, values)
    return out


def _invalid_assets(conn: Connection, records: dict[str, Any], reqs: Requirements) -> set[str]:
    """The invalid refs among the records' *required* image/file values: one hook call per batch."""
    refs: set[str] = set()
    for family, values in records.values():
        plan = reqs.plan(family)
        for key in plan.assets if plan is not None else ():
            ref = values.get(key)
            if ref and isinstance(ref, str):
                refs.add(ref)
    return _ask_validity(conn, refs)


def _ask_validity(conn: Connection, refs: set[str]) -> set[str]:
    """The refs the pim.registry.ASSET_VALIDITY hooks report as not valid."""
    from pim.registry import ASSET_VALIDITY, load

    invalid: set[str] = set()
    for ref in ASSET_VALIDITY if refs else ():
        invalid |= set(load(ref)(conn, refs))
    return invalid


def _replace(conn: Connection, sql: Statements, identifiers: list[str], new: dict[tuple[str, str, str], Result],
             channels: set[str] | None) -> None:
    """Store the new rows of `identifiers` (on `channels`) and move the counters by the difference."""
    where = f"product IN ({sql.marks(identifiers)})"
    params = list(identifiers)
    if channels is not None:
        where += f" AND channel IN ({sql.marks(sorted(channels))})"
        params += sorted(channels)
    old = {(p, ch, loc): (fam, rto, req, tuple(sql.loads(miss)))
           for p, ch, loc, fam, rto, req, miss in sql.all(
               f"SELECT product, channel, locale, family, ratio, required, missing FROM completeness WHERE {where}", params)}
    fresh = {k: (r.family, r.ratio, r.required, r.missing) for k, r in new.items()}
    stale = [k for k in old if old[k] != fresh.get(k)]
    added = [k for k in fresh if old.get(k) != fresh[k]]
    if not stale and not added:
        return
    counts: Counter[tuple[str, str, str, str]] = Counter()  # (channel, locale, family, products|complete)
    missing: Counter[tuple[str, str, str, str]] = Counter()
    for keys, source, sign in ((stale, old, -1), (added, fresh, 1)):
        for key in keys:
            family, rto, _, miss = source[key]
            counts[(key[1], key[2], family, "products")] += sign
            counts[(key[1], key[2], family, "complete")] += sign * (rto == 100)
            for attr in miss:
                missing[(key[1], key[2], family, attr)] += sign
    touched = sorted({k[0] for k in stale} | {k[0] for k in added})
    where = f"product IN ({sql.marks(touched)})" + (f" AND channel IN ({sql.marks(sorted(channels))})" if channels is not None else "")
    sql.run(f"DELETE FROM completeness WHERE {where}", touched + (sorted(channels) if channels is not None else []))
    keep = set(touched)
    _insert_scores(sql, [_score_row(k[0], r) for k, r in new.items() if k[0] in keep])
    _apply_counts(sql, counts, missing)


def _score_row(product: str, r: Result) -> tuple[Any, ...]:
    return (product, *r.tail)


def _apply_counts(sql: Statements, counts: Counter[Any], missing: Counter[Any]) -> None:
    merged: dict[tuple[str, str, str], list[int]] = {}
    for (ch, loc, fam, col), n in counts.items():
        merged.setdefault((ch, loc, fam), [0, 0])[col == "complete"] += n
    p = sql.p
    sql.many("INSERT INTO completeness_count (channel, locale, family, products, complete) "
             f"VALUES ({p},{p},{p},{p},{p}) ON CONFLICT (channel, locale, family) DO UPDATE SET "
             "products = completeness_count.products + excluded.products, "
             "complete = completeness_count.complete + excluded.complete",
             [(*k, n, c) for k, (n, c) in sorted(merged.items()) if n or c])
    sql.many("INSERT INTO completeness_missing (channel, locale, family, attribute, products) "
             f"VALUES ({p},{p},{p},{p},{p}) ON CONFLICT (channel, locale, family, attribute) DO UPDATE SET "
             "products = completeness_missing.products + excluded.products",
             [(*k, n) for k, n in sorted(missing.items()) if n])
    if any(n < 0 for n in missing.values()):
        sql.run("DELETE FROM completeness_missing WHERE products <= 0")


def _unique_rows(identifiers: Iterable[str], records: dict[str, Any], reqs: Requirements) -> list[tuple[str, str, str]]:
    from pim.quality import is_gtin_attribute, unique_attributes, unique_form

    attrs = reqs.__dict__.get("_unique_attrs")
    if attrs is None:  # a scan of every attribute: once per structure, not per page
        attrs = reqs.__dict__["_unique_attrs"] = [(code, is_gtin_attribute(code)) for code in unique_attributes(reqs.structure)
                                                  if code != reqs.identifier]
    rows = []
    for ident in identifiers:
        if ident not in records:
            continue
        values = records[ident][1]
        rows.append((ident, reqs.identifier, unique_form(ident)[:255]))
        for code, gtin in attrs:
            if values.get(code) not in (None, "", []):
                rows.append((ident, code, unique_form(values[code], gtin)[:255]))
    return rows


def _unique_values(conn: Connection, sql: Statements, identifiers: list[str], records: dict[str, Any], reqs: Requirements) -> None:
    sql.run(f"DELETE FROM unique_value WHERE product IN ({sql.marks(identifiers)})", identifiers)
    _insert_unique(sql, _unique_rows(identifiers, records, reqs))


# ---------------------------------------------------------------------------------------------- full rebuild
_TABLES = ("completeness", "completeness_count", "completeness_missing", "unique_value")
_SCORE_COLUMNS = "product, channel, locale, family, ratio, required, missing_count, missing"
#: A scored product in a rebuild: (identifier, family, bitmask of unfilled checks). Its rows are the family
#: plan's shared results for that mask, so workers return three small values per product, not 8 rows.
Scored = tuple[str, str, int]


def score_range(conn: Connection, reqs: Requirements, lo: int, hi: int, page: int = 5000) -> tuple[int, list[Scored], list[Any]]:
    """Score the products with lo <= id < hi: (products read, scored products, unique-value rows)."""
    sql = Statements(conn)
    scored: list[Scored] = []
    unique: list[tuple[str, str, str]] = []
    done, last = 0, lo - 1
    while True:
        got = sql.all(f"SELECT id, identifier, family, parent, value_map FROM product WHERE id > {sql.p} AND id < {sql.p} "
                      f"ORDER BY id LIMIT {int(page)}", (last, hi))
        if not got:
            return done, scored, unique
        last = got[-1][0]
        records = _records(conn, [r[1:] for r in got], reqs.structure, reqs)
        scored.extend(_score_page(conn, reqs, records))
        unique.extend(_unique_rows(records, records, reqs))
        done += len(got)


def _score_page(conn: Connection, reqs: Requirements, records: dict[str, tuple[str | None, dict[str, Any]]]) -> list[Scored]:
    """One pass scoring the records and collecting their required asset refs; only when the validity hook
    reports an invalid ref (rare) are the products holding one scored again with it."""
    plans: dict[str | None, Any] = {}
    out: list[Scored] = []
    refs: set[str] = set()
    with_assets: list[int] = []
    for ident, (family, values) in records.items():
        plan = plans.get(family, False)
        if plan is False:
            plan = plans[family] = reqs.plan(family)
        if plan is None:
            continue
        if plan.assets:
            with_assets.append(len(out))
            refs.update(ref for ref in map(values.get, plan.assets) if ref and isinstance(ref, str))
        out.append((ident, plan.family, plan.unfilled(values, ident)))
    invalid = _ask_validity(conn, refs)
    for n in with_assets if invalid else ():
        ident, family, _ = out[n]
        plan, values = plans[family], records[ident][1]
        if any(isinstance(ref, str) and ref in invalid for ref in map(values.get, plan.assets)):
            out[n] = (ident, family, plan.unfilled(values, ident, invalid))
    return out


class _Writer:
    """Writes a rebuild's rows inside the caller's transaction and counts each (family, mask) pattern, so
    the counters are expanded once at the end. Binding 8 values per score row was most of a rebuild, so
    SQLite gets one JSON document per range, expanded by `json_each` against a temp table of the distinct
    results; PostgreSQL gets COPY."""

    def __init__(self, conn: Connection, reqs: Requirements) -> None:
        self.conn, self.reqs, self.sql = conn, reqs, Statements(conn)
        self.patterns: Counter[tuple[str, int]] = Counter()
        self._ids: dict[Result, int] = {}  # result → row of the temp result table (SQLite)
        self._rows: dict[tuple[str, int], list[int]] = {}  # (family, mask) → result ids

    def clear(self) -> None:
        for table in _TABLES:
            self.sql.run(f"TRUNCATE {table}" if self.sql.pg else f"DELETE FROM {table}")
        self.sql.run("DROP INDEX IF EXISTS ix_unique_value_value")  # values come in random order: index once at the end
        if not self.sql.pg:
            self.sql.run("CREATE TEMP TABLE IF NOT EXISTS rebuild_result (id INTEGER PRIMARY KEY, channel, locale, "
                         "family, ratio, required, missing_count, missing)")
            self.sql.run("DELETE FROM temp.rebuild_result")

    def add(self, scored: list[Scored], unique: list[tuple[str, str, str]]) -> None:
        self.patterns.update([(family, mask) for _, family, mask in scored])
        if self.sql.pg:
            self._copy("completeness", _SCORE_COLUMNS, (
                (ident, *r.tail) for ident, family, mask in scored for r in self._results(family, mask)))
            self._copy("unique_value", "product, attribute, value", unique)
            return
        new: list[tuple[Any, ...]] = []
        ids, known = self._ids, self._rows
        rows = []
        for ident, family, mask in scored:
            key = (family, mask)
            rids = known.get(key)
            if rids is None:
                rids = known[key] = []
                for r in self._results(family, mask):
                    if r not in ids:
                        ids[r] = len(ids)
                        new.append((ids[r], *r.tail))
                    rids.append(ids[r])
            rows.append((ident, rids))
        self.sql.many("INSERT INTO temp.rebuild_result VALUES (?,?,?,?,?,?,?,?)", new)
        self.sql.run("WITH p AS MATERIALIZED (SELECT json_extract(value, '$[0]') AS product, json_extract(value, '$[1]') AS rids "
                     f"FROM json_each(?)) INSERT INTO completeness ({_SCORE_COLUMNS}) SELECT p.product, r.channel, r.locale, "
                     "r.family, r.ratio, r.required, r.missing_count, r.missing FROM p, json_each(p.rids) j "
                     "JOIN temp.rebuild_result r ON r.id = j.value", (orjson.dumps(rows).decode(),))
        self.sql.run("INSERT INTO unique_value (product, attribute, value) SELECT json_extract(value, '$[0]'), "
                     "json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)", (orjson.dumps(unique).decode(),))

    def _results(self, family: str, mask: int) -> tuple[Result, ...]:
        plan = self.reqs.plan(family)
        assert plan is not None
        return plan.for_mask(mask)

    def _copy(self, table: str, columns: str, rows: Iterable[tuple[Any, ...]]) -> None:
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        """Write the counters once, from how often each pattern occurred."""
        counts: Counter[tuple[str, str, str, str]] = Counter()
        missing: Counter[tuple[str, str, str, str]] = Counter()
        for (family, mask), n in self.patterns.items():
            for r in self._results(family, mask):
                counts[(r.channel, r.locale, r.family, "products")] += n
                counts[(r.channel, r.locale, r.family, "complete")] += n * (not r.missing)
                for attr in r.missing:
                    missing[(r.channel, r.locale, r.family, attr)] += n
        _apply_counts(self.sql, counts, missing)
        self.sql.run("CREATE INDEX ix_unique_value_value ON unique_value (attribute, value)")
        if not self.sql.pg:
            self.sql.run("DROP TABLE IF EXISTS temp.rebuild_result")


def _ranges(sql: Statements, size: int) -> list[tuple[int, int]]:
    lo, hi = sql.all("SELECT min(id), max(id) FROM product")[0]
    if lo is None:
        return []
    return [(start, min(start + size, hi + 1)) for start in range(lo, hi + 1, size)]


def rebuild_in(conn: Connection, reqs: Requirements) -> int:
    """Every product rescored from scratch inside `conn`'s transaction, single process: clear the rows and
    counters, stream products in id order, bulk-insert, write the counters once."""
    writer = _Writer(conn, reqs)
    writer.clear()
    done = 0
    with paused():
        for lo, hi in _ranges(writer.sql, 20_000):
            n, scored, unique = score_range(conn, reqs, lo, hi)
            writer.add(scored, unique)
            done += n
    writer.finish()
    return done


_WORKER: dict[str, Any] = {}


def _score_job(url: str, lo: int, hi: int) -> tuple[int, list[Scored], list[Any]]:
    """In a worker process: its own engine (kept per process) and structure, one id range."""
    from pim.store.database import make_engine

    if _WORKER.get("url") != url:
        _WORKER.update(url=url, engine=make_engine(url), rescorer=Rescorer())
    with _WORKER["engine"].connect() as conn, paused():
        return score_range(conn, _WORKER["rescorer"].requirements(conn), lo, hi)


def rebuild(store: Any, *, workers: int = 2, executor: str = "process", chunk: int = 20_000) -> int:
    """The full rebuild (`pim gate rescore`): id ranges are scored by `workers` processes through
    pim.executor (each reads its own pages of committed products), while this process bulk-inserts the
    rows in one transaction and writes the counters once. Same rows and counters as incremental scoring.
    Workers and this process must see the same structure (it is not written during a rebuild)."""
    from pim.executor import make_executor

    if workers > 1:
        with store.engine.connect() as conn:
            if len(_ranges(Statements(conn), chunk)) <= 1:
                workers = 1  # one range: starting processes would cost more than it saves
    if workers <= 1:
        with store.begin() as conn:
            return rebuild_in(conn, Rescorer().requirements(conn))
    url = store.engine.url.render_as_string(hide_password=False)
    done = 0
    with store.begin() as conn, make_executor(executor, workers) as pool, paused():
        writer = _Writer(conn, Rescorer().requirements(conn))
        writer.clear()
        pending: deque[Any] = deque()
        ranges = iter(_ranges(writer.sql, chunk))
        for lo, hi in islice(ranges, workers + 1):  # a bounded window keeps memory flat
            pending.append(pool.submit(_score_job, url, lo, hi))
        while pending:
            n, scored, unique = pending.popleft().result()
            for lo, hi in islice(ranges, 1):
                pending.append(pool.submit(_score_job, url, lo, hi))
            writer.add(scored, unique)
            done += n
        writer.finish()
    return done


# ---------------------------------------------------------------------------------------------- structure diff
def affected(kind: str, before: dict[str, Any], after: dict[str, Any], structure: Structure) -> Iterable[tuple[set[str] | None, set[str] | None]]:
    """(families, channels) to rescore after a structure write; None means all."""
    changed = [code for code in after if (before.get(code) or None) != (after.get(code) or None)]
    if kind == "family":
        for code in changed:
            old, new = before.get(code) or {}, after.get(code) or {}
            old_req, new_req = old.get("requirements", {}), new.get("requirements", {})
            channels = {ch for ch in set(old_req) | set(new_req) if sorted(old_req.get(ch, [])) != sorted(new_req.get(ch, []))}
            if not old or not new:
                channels = None  # a family appeared or went: all its channels
            if channels is None or channels:
                yield {code}, channels
    elif kind == "channel":
        for code in changed:
            old, new = before.get(code) or {}, after.get(code) or {}
            if not old or not new or old.get("locales") != new.get("locales"):
                yield None, {code}
            elif old.get("currencies") != new.get("currencies"):
                prices = {a for a, attr in structure.attributes.items() if attr.type == "price_collection"}
                fams = {f for f, fam in structure.families.items() if prices & set(fam.requirements.get(code, []))}
                if fams:
                    yield fams, {code}
    elif kind == "attribute":
        for code in changed:
            old, new = before.get(code) or {}, after.get(code) or {}
            if any(old.get(flag) != new.get(flag) for flag in _ATTRIBUTE_FLAGS):
                for fam_code, fam in structure.families.items():
                    channels = {ch for ch, req in fam.requirements.items() if code in req}
                    if channels:
                        yield {fam_code}, channels
    elif kind == "family_variant" and changed:
        fams = {(after.get(c) or before.get(c) or {}).get("family") for c in changed}
        yield {f for f in fams if f}, None
