"""Plain DB-API reads and writes of a table for the hot paths of imports.

SQLAlchemy Core costs more than the database on batch work: every row goes through per-column bind and result
processing, and an `IN (…)` of 2,000 keys is re-expanded and re-compiled on every call. `RawTable` builds
each statement once per dialect, binds a key list as one parameter (`json_each` on SQLite, an array on
PostgreSQL) and converts only the columns that need it, with the same type processors Core would use, so
what is stored and read back is identical to the Core path."""

from __future__ import annotations

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

    def all_in(self, statement: str, lists: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """`all` for a statement whose parameters are lists, each tested with `any_of`."""
        return self.all(statement, [list(v) if self.pg else _dumps(list(v)) for v in lists])

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.conn.exec_driver_sql(statement, tuple(params))

    def many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.conn.exec_driver_sql(statement, rows)


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
        params = tuple(list(v) if self.pg else _dumps(list(v)) for v in (values, *(also or {}).values()))
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
        conn.exec_driver_sql(sql, rows)

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
        conn.exec_driver_sql(sql, rows)

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
        conn.exec_driver_sql(sql, [tuple(r) for r in rows])

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


def raw_table(owner: Any, conn: Connection, table: Table) -> RawTable:
    """The RawTable of `table`, cached on `owner` (a Store: one engine, one dialect)."""
    cache = owner.__dict__.setdefault("_raw_tables", {})
    hit = cache.get(table.name)
    if hit is None:
        hit = cache[table.name] = RawTable(conn, table)
    return hit
