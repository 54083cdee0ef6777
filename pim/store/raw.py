"""Plain DB-API reads and writes of a table for the hot paths of imports.

SQLAlchemy Core costs more than the database on batch work: every row goes through per-column bind and result
processing, and an `IN (…)` of 2,000 keys is re-expanded and re-compiled on every call. `RawTable` builds
each statement once per dialect, binds a key list as one parameter (`json_each` on SQLite, an array on
PostgreSQL) and converts only the columns that need it, with the same type processors Core would use, so
what is stored and read back is identical to the Core path."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table

from pim.store.database import json_loads

Processor = Callable[[Any], Any] | None


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Statements:
    """Hand-written statements on one connection, for listeners' hot paths: the dialect's placeholder
    (`p`), JSON parameter mark (`json`) and bound-list test (`any_of`: `json_each` on SQLite, an array on
    PostgreSQL, so a statement's text is the same whatever the list's length)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.p = "%s" if self.pg else "?"
        self.json = "%s::jsonb" if self.pg else "?"
        self.any_of = "= ANY(%s)" if self.pg else "IN (SELECT value FROM json_each(?))"

    loads = staticmethod(json_loads)

    def marks(self, items: Sequence[Any]) -> str:
        return ",".join([self.p] * len(items))

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row, as plain tuples from the DB-API cursor (row objects cost more than the query on index
        tables of 50k rows)."""
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(statement, tuple(params))
            return cursor.fetchall()  # type: ignore[no-any-return]
        finally:
            cursor.close()

    def bound(self, values: Sequence[Any]) -> Any:
        return bound_list(self.pg, values)

    def all_in(self, statement: str, lists: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """`all` for a statement whose parameters are lists, each tested with `any_of`."""
        return self.all(statement, [self.bound(v) for v in lists])

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.conn.exec_driver_sql(statement, tuple(params))

    def many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        execute_many(self.conn, statement, rows)


def bound_list(pg: bool, values: Sequence[Any]) -> Any:
    """A list as the one parameter `any_of` tests against (an array on PostgreSQL, JSON text on SQLite)."""
    return list(values) if pg else _dumps(list(values))


class RawTable:
    """One table's statements for one dialect. Cheap to keep per Store (see `raw_table`)."""

    def __init__(self, conn: Connection, table: Table) -> None:
        dialect = conn.dialect
        marks = Statements(conn)
        self.table = table
        self.pg, self.p, self.any_of = marks.pg, marks.p, marks.any_of
        self.quote = dialect.identifier_preparer.quote
        self.json = {c.name for c in table.columns if isinstance(c.type.dialect_impl(dialect), JSON)}
        self._bind: dict[str, Processor] = {}
        self._result: dict[str, Processor] = {}
        for c in table.columns:
            impl = c.type.dialect_impl(dialect)
            if c.name in self.json:  # serialised here (orjson, as the engine's json_serializer), parsed on read
                self._bind[c.name] = _dumps
                self._result[c.name] = None if self.pg else json_loads
            else:  # psycopg already returns native values (datetime, Decimal, bool): no result processing
                self._bind[c.name] = impl.bind_processor(dialect)
                self._result[c.name] = None if self.pg else impl.result_processor(dialect, None)
        self._sql: dict[Any, str] = {}

    def bound(self, values: Sequence[Any]) -> Any:
        return bound_list(self.pg, values)

    # ------------------------------------------------------------------ reads
    def select(self, conn: Connection, columns: Sequence[str], key: str, values: Sequence[Any],
               *, as_text: Sequence[str] = (), also: Mapping[str, Sequence[Any]] | None = None) -> list[tuple[Any, ...]]:
        """Rows (tuples in `columns` order, values converted) whose `key` is one of `values` (and each column
        of `also` one of its values). JSON columns named in `as_text` come back as their JSON text, undecoded
        (for a reader that decodes only part)."""
        if not values:
            return []
        extra = tuple(also or ())
        sig = ("select", tuple(columns), key, tuple(as_text), extra)
        sql = self._sql.get(sig)
        if sql is None:
            cols = ", ".join(f"{self.quote(c)}::text" if self.pg and c in as_text else self.quote(c) for c in columns)
            sql = self._sql[sig] = (
                f"SELECT {cols} FROM {self.quote(self.table.name)} WHERE "
                + " AND ".join(f"{self.quote(k)} {self.any_of}" for k in (key, *extra)))
        params = tuple(self.bound(v) for v in (values, *(also or {}).values()))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        procs = [(i, self._result[c]) for i, c in enumerate(columns) if self._result[c] is not None and c not in as_text]
        if not procs:
            return rows
        out = []
        for row in rows:
            row = list(row)
            for i, proc in procs:
                if row[i] is not None:
                    row[i] = proc(row[i])  # type: ignore[misc]
            out.append(tuple(row))
        return out

    # ------------------------------------------------------------------ writes
    def upsert(self, conn: Connection, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        """INSERT … ON CONFLICT (keys) DO UPDATE for rows that share their columns."""
        if not rows:
            return
        columns = list(rows[0])
        convert = [self._converter(c) for c in columns]
        pairs = list(zip(columns, convert))
        self.write_bound(conn, columns, keys, [
            tuple([v if v is None or conv is None else conv(v) for c, conv in pairs for v in (r[c],)]) for r in rows])

    def write_bound(self, conn: Connection, columns: Sequence[str], keys: Sequence[str],
                    rows: list[tuple[Any, ...]]) -> None:
        """The same upsert for rows already in driver form: tuples in `columns` order, JSON serialised, other
        values through `bind` (the product writer builds its rows itself)."""
        if not rows:
            return
        sql = self._sql.get(("upsert", tuple(columns), tuple(keys)))
        if sql is None:
            marks = ", ".join(f"{self.p}::jsonb" if self.pg and c in self.json else self.p for c in columns)
            updates = ", ".join(f"{self.quote(c)} = excluded.{self.quote(c)}" for c in columns if c not in keys)
            sql = self._sql[("upsert", tuple(columns), tuple(keys))] = (
                f"INSERT INTO {self.quote(self.table.name)} ({', '.join(self.quote(c) for c in columns)}) "
                f"VALUES ({marks}) ON CONFLICT ({', '.join(self.quote(k) for k in keys)}) "
                + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING"))
        execute_many(conn, sql, rows)

    def update(self, conn: Connection, columns: Sequence[str], key: str, rows: list[tuple[Any, ...]]) -> None:
        """UPDATE `columns` WHERE `key` = …, for rows in driver form: tuples of `columns` then the key."""
        if not rows:
            return
        sql = self._sql.get(("update", tuple(columns), key))
        if sql is None:
            sets = ", ".join(f"{self.quote(c)} = {self.p}::jsonb" if self.pg and c in self.json
                             else f"{self.quote(c)} = {self.p}" for c in columns)
            sql = self._sql[("update", tuple(columns), key)] = (
                f"UPDATE {self.quote(self.table.name)} SET {sets} WHERE {self.quote(key)} = {self.p}")
        execute_many(conn, sql, rows)

    def bind(self, column: str, value: Any) -> Any:
        """`value` as the driver takes it for a non-JSON column (e.g. a timestamp's text on SQLite)."""
        proc = self._bind[column]
        return value if value is None or proc is None else proc(value)

    def delete(self, conn: Connection, keys: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """DELETE the rows whose `keys` columns equal each tuple."""
        if not rows:
            return
        sql = self._sql.get(("delete", tuple(keys)))
        if sql is None:
            sql = self._sql[("delete", tuple(keys))] = (
                f"DELETE FROM {self.quote(self.table.name)} WHERE "
                + " AND ".join(f"{self.quote(k)} = {self.p}" for k in keys))
        execute_many(conn, sql, [tuple(r) for r in rows])

    def _converter(self, column: str) -> Processor:
        """How one column's values become driver values: JSON serialised, timestamps through Core's bind
        processor (memoised: a batch's rows mostly share one), others as they are."""
        proc = self._bind[column]
        if proc is None or column in self.json:
            return proc
        memo: dict[Any, Any] = {}

        def bind(value: Any) -> Any:
            hit = memo.get(value)
            if hit is None:
                hit = memo[value] = proc(value)
            return hit

        return bind


# ---------------------------------------------------------------------------------------------- executemany
def execute_many(conn: Connection, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run a one-row statement for each row. On PostgreSQL the rows go as one statement over arrays (see
    `_Batched`): psycopg's executemany sends a statement per row, and the per-statement work on both sides
    was most of a merge import's time there. SQLite runs its prepared statement per row in C already."""
    if not rows:
        return
    batched = _batched(statement) if conn.dialect.name == "postgresql" else None
    if batched is None:
        conn.exec_driver_sql(statement, rows)  # type: ignore[arg-type]
    else:
        batched.run(conn, rows)


_INSERT = re.compile(r"^INSERT INTO (\S+) \(([^)]*)\) VALUES \(([^()]*)\)( ON CONFLICT \(([^)]*)\) DO (UPDATE SET .*|NOTHING))?$", re.S)
_UPDATE = re.compile(r"^UPDATE (\S+) SET (.*) WHERE (\S+) = %s$", re.S)
_DELETE = re.compile(r"^DELETE FROM (\S+) WHERE (.*)$", re.S)
_MARK = re.compile(r"^%s(::jsonb)?$")
_EQUALS = re.compile(r"^(\S+) = (%s(?:::jsonb)?)$")


class _Batched:
    """A one-row statement (INSERT … VALUES [ON CONFLICT], UPDATE … SET a = , … WHERE key = , DELETE … WHERE
    a = AND b = ) rewritten to take every row at once, one array per column:
    INSERT … SELECT * FROM unnest(…), UPDATE … FROM unnest(…), DELETE … USING unnest(…). The arrays are cast
    to the columns' own types (read once from the catalog), so the keys compare on their indexes. `key`: the
    columns identifying a row; a later row with the same key replaces an earlier one, as the one-row
    statements run in order would leave it (ON CONFLICT DO UPDATE and UPDATE … FROM refuse or leave
    undefined a key met twice in one statement)."""

    def __init__(self, table: str, columns: list[str], build: Callable[[str], str], key: tuple[int, ...] | None) -> None:
        self.table, self.columns, self.build, self.key = table, columns, build, key
        self._sql: dict[str, str] = {}  # per database: its column types

    def sql(self, conn: Connection) -> str:
        url = str(conn.engine.url)
        hit = self._sql.get(url)
        if hit is None:
            types = _column_types(conn, self.table)
            arrays = ", ".join(f"%b::{types[c.strip(chr(34))]}[]" for c in self.columns)  # binary: no text escaping
            hit = self._sql[url] = self.build(f"unnest({arrays})")
        return hit

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if self.key is not None and len(rows) > 1:
            key = self.key
            last = {tuple(r[i] for i in key): r for r in rows}
            if len(last) < len(rows):
                rows = list(last.values())
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql(conn), [list(column) for column in zip(*rows)])
        finally:
            cursor.close()


_TYPES: dict[tuple[str, str], dict[str, str]] = {}


def _column_types(conn: Connection, table: str) -> dict[str, str]:
    """column → its type's name (without length) as a cast takes it, from the catalog (cached per database)."""
    key = (str(conn.engine.url), table)
    hit = _TYPES.get(key)
    if hit is None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                           "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", [table])
            hit = _TYPES[key] = dict(cursor.fetchall())
        finally:
            cursor.close()
    return hit


_BATCHED: dict[str, _Batched | None] = {}


def _batched(statement: str) -> _Batched | None:
    """The statement's all-rows form (cached per statement text); None for a shape not recognised, which
    runs row by row."""
    if statement not in _BATCHED:
        _BATCHED[statement] = _rewrite(statement)
    return _BATCHED[statement]


def _rewrite(statement: str) -> _Batched | None:
    if m := _INSERT.match(statement):
        table, conflict = m.group(1), m.group(4) or ""
        columns = [c.strip() for c in m.group(2).split(",")]
        marks = [x.strip() for x in m.group(3).split(",")]
        if len(columns) != len(marks) or not all(_MARK.match(x) for x in marks):
            return None
        key = None
        if conflict and m.group(6) != "NOTHING":
            try:
                key = tuple(columns.index(k.strip()) for k in m.group(5).split(","))
            except ValueError:
                return None
        head = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM "
        return _Batched(table, columns, lambda source: head + source + conflict, key)
    if m := _UPDATE.match(statement):
        table, key_column = m.group(1), m.group(3)
        sets = [_EQUALS.match(a.strip()) for a in m.group(2).split(", ")]
        if not all(sets):
            return None
        columns = [a.group(1) for a in sets] + [key_column]  # type: ignore[union-attr]
        alias = ", ".join(f"c{i}" for i in range(len(columns)))
        assign = ", ".join(f"{c} = v.c{i}" for i, c in enumerate(columns[:-1]))
        last = len(columns) - 1
        return _Batched(table, columns, lambda source: f"UPDATE {table} AS t SET {assign} FROM {source} AS v({alias}) "
                        f"WHERE t.{key_column} = v.c{last}", (last,))
    if m := _DELETE.match(statement):
        table = m.group(1)
        tests = [_EQUALS.match(t.strip()) for t in m.group(2).split(" AND ")]
        if not all(tests) or any(t.group(2) != "%s" for t in tests):  # type: ignore[union-attr]
            return None
        columns = [t.group(1) for t in tests]  # type: ignore[union-attr]
        alias = ", ".join(f"c{i}" for i in range(len(columns)))
        match = " AND ".join(f"t.{c} = v.c{i}" for i, c in enumerate(columns))
        return _Batched(table, columns, lambda source: f"DELETE FROM {table} AS t USING {source} AS v({alias}) WHERE {match}",
                        None)
    return None


def raw_table(owner: Any, conn: Connection, table: Table) -> RawTable:
    """The RawTable of `table`, cached on `owner` (a Store: one engine, one dialect)."""
    cache = owner.__dict__.setdefault("_raw_tables", {})
    hit = cache.get(table.name)
    if hit is None:
        hit = cache[table.name] = RawTable(conn, table)
    return hit
