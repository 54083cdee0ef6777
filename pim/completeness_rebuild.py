"""The full completeness rebuild (`pim gate rescore`): every product scored again, fanned out over id ranges
through pim.executor, the rows bulk-inserted in one transaction. pim.rescore keeps scores current write by
write; this module starts them from nothing (a database filled without listeners, a changed structure)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Connection

from pim.completeness import Requirements, Result
from pim.gc_policy import paused
from pim.rescore import Rescorer, _apply_counts, _ask_validity, _records, _unique_rows
from pim.rescore_seq import lock_catalog, remember_scores, stamp_moved
from pim.store.raw import Statements

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
    """One pass scoring the records and collecting their required asset refs; only the products holding a ref
    the validity hook reports (on every channel, or on one below its image rules) are scored again with it."""
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
    flagged = {x if isinstance(x, str) else x[0] for x in invalid}  # a ref, or (ref, channel) below its rules
    for n in with_assets if invalid else ():
        ident, family, _ = out[n]
        plan, values = plans[family], records[ident][1]
        if any(isinstance(ref, str) and ref in flagged for ref in map(values.get, plan.assets)):
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
        remember_scores(self.conn)  # what the gate read, to stamp the products that move (finish)
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
        stamp_moved(self.conn)  # a new seq for the products whose scores moved: incremental pushes send them
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
    from pim.completeness import settle_asset_rules
    from pim.executor import make_executor

    settle_asset_rules(store, everything=True)  # the image rules this rebuild scores with: no rescore jobs for them
    if workers > 1:
        with store.engine.connect() as conn:
            if len(_ranges(Statements(conn), chunk)) <= 1:
                workers = 1  # one range: starting processes would cost more than it saves
    if workers <= 1:
        with store.begin() as conn:
            lock_catalog(conn)  # it stamps the products whose scores moved (pim.rescore_seq)
            return rebuild_in(conn, Rescorer().requirements(conn))
    url = store.engine.url.render_as_string(hide_password=False)
    done = 0
    with store.begin() as conn, make_executor(executor, workers) as pool, paused():
        lock_catalog(conn)
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


