"""The plain DB-API path (pim.store.raw) stores and reads exactly what SQLAlchemy Core does, on both backends:
JSON in every shape, timestamps with their zone, NULLs, upsert and delete by key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from pim.merge import CANDIDATE
from pim.store import Store
from pim.store.raw import RawTable

AT = datetime(2026, 11, 23, 2, 30, 15, 123456, tzinfo=UTC)
ROWS: list[dict[str, Any]] = [
    {"identifier": "P-1", "value_key": "weight", "source": "erp", "value": {"amount": "1.5000", "unit": "KILOGRAM"},
     "ref": "erp.csv:2", "at": AT},
    {"identifier": "P-1", "value_key": "name:de_DE", "source": "content", "value": "Bohrmaschine \u201eProfi\u201c",
     "ref": None, "at": AT + timedelta(days=1)},
    {"identifier": "P-2", "value_key": "tags", "source": "erp", "value": ["a", "b"], "ref": "x", "at": AT},
    # bare numbers: SQLite stores a JSON column's `0` as an integer (NUMERIC affinity); both paths read it back
    {"identifier": "P-2", "value_key": "stock", "source": "erp", "value": 0, "ref": "x", "at": AT},
    {"identifier": "P-2", "value_key": "ratio", "source": "erp", "value": 1.5, "ref": "x", "at": AT},
]
COLUMNS = ("identifier", "value_key", "source", "value", "ref", "at")
KEYS = ("identifier", "value_key", "source")


def _as_stored(store: Store, row: dict[str, Any]) -> tuple[Any, ...]:
    """The row as the backend gives it back: SQLite keeps the wall time without its zone (as Core does; the
    store writes UTC), PostgreSQL the instant."""
    at = row["at"]
    return tuple(row[c] for c in COLUMNS[:-1]) + (at.replace(tzinfo=None) if store.dialect == "sqlite" else at,)


def _core(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*(CANDIDATE.c[c] for c in COLUMNS))))


def test_raw_writes_read_back_through_core_and_raw_reads_equal_core(store: Store) -> None:
    with store.begin() as conn:
        RawTable(conn, CANDIDATE).upsert(conn, ROWS, KEYS)
    core = _core(store)
    assert core == sorted(_as_stored(store, r) for r in ROWS)
    with store.engine.connect() as conn:
        raw = RawTable(conn, CANDIDATE).select(conn, COLUMNS, "identifier", ["P-1", "P-2", "P-9"])
    assert sorted(raw) == core


def test_core_writes_read_back_through_raw(store: Store) -> None:
    with store.begin() as conn:
        store.upsert_rows(conn, CANDIDATE, ROWS, list(KEYS))
        raw = RawTable(conn, CANDIDATE).select(conn, COLUMNS, "identifier", ["P-1"])
    assert sorted(raw) == [r for r in _core(store) if r[0] == "P-1"]


def test_raw_upsert_replaces_by_key_and_delete_removes_only_the_named_rows(store: Store) -> None:
    later = datetime(2027, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    with store.begin() as conn:
        raw = RawTable(conn, CANDIDATE)
        raw.upsert(conn, ROWS, KEYS)
        raw.upsert(conn, [{**ROWS[0], "value": {"amount": "2", "unit": "GRAM"}, "at": later}], KEYS)
        raw.delete(conn, KEYS, [("P-2", "tags", "erp"), ("P-2", "tags", "nobody")])
    rows = {(r[0], r[1]): r for r in _core(store)}
    assert set(rows) == {("P-1", "weight"), ("P-1", "name:de_DE"), ("P-2", "stock"), ("P-2", "ratio")}
    assert rows[("P-1", "weight")][3] == {"amount": "2", "unit": "GRAM"}
    assert rows[("P-1", "weight")] == _as_stored(store, {**ROWS[0], "value": {"amount": "2", "unit": "GRAM"}, "at": later})


def test_an_empty_key_list_reads_nothing(store: Store) -> None:
    with store.engine.connect() as conn:
        assert RawTable(conn, CANDIDATE).select(conn, COLUMNS, "identifier", []) == []


def test_a_key_repeated_in_one_upsert_ends_with_its_last_row(store: Store) -> None:
    later = {**ROWS[0], "value": {"amount": "3", "unit": "GRAM"}, "ref": "erp.csv:9"}
    with store.begin() as conn:
        RawTable(conn, CANDIDATE).upsert(conn, [ROWS[0], ROWS[1], later], KEYS)
    rows = {(r[0], r[1]): r for r in _core(store)}
    assert len(rows) == 2 and rows[("P-1", "weight")][3:5] == ({"amount": "3", "unit": "GRAM"}, "erp.csv:9")


def test_upsert_carries_every_column_type_both_ways(store: Store) -> None:
    """Numeric, date, timestamp, bigint and nullable columns (price lists, fingerprints) through the raw path."""
    from datetime import date
    from decimal import Decimal

    from pim.commerce import PRICE
    from pim.merge import FINGERPRINT

    price = {"customer": "ACME", "sku": "P-1", "currency": "EUR", "min_qty": Decimal("10"), "valid_from": date(2026, 1, 1),
             "valid_to": None, "price": Decimal("12.3400"), "source": "erp", "updated_at": AT}
    with store.begin() as conn:
        RawTable(conn, PRICE).upsert(conn, [price], ["customer", "sku", "currency", "min_qty", "valid_from"])
        RawTable(conn, FINGERPRINT).upsert(conn, [{"source": "erp", "identifier": "P-1", "digest": "ab" * 16,
                                                   "product_seq": 2**40}], ["source", "identifier"])
    with store.engine.connect() as conn:
        got = conn.execute(select(PRICE)).one()._mapping
        seq = conn.execute(select(FINGERPRINT.c.product_seq)).scalar_one()
    assert (got["min_qty"], got["price"], got["valid_from"], got["valid_to"]) == (Decimal("10"), Decimal("12.34"), date(2026, 1, 1), None)
    assert seq == 2**40


def test_many_row_writes_match_row_by_row_on_both_backends(store: Store) -> None:
    """Thousands of rows in one call (one statement over arrays on PostgreSQL): inserts into a C-collated key,
    deletes by a three-column key, updates of JSON and timestamps where the last row of a repeated key wins."""
    from pim.grid_index import GRID_TEXT
    from pim.store.raw import Statements

    rows = [(f"tök{i:05d}", i % 97, "de_DE" if i % 2 else "") for i in range(3000)]
    with store.begin() as conn:
        sql = Statements(conn)
        sql.many(f"INSERT INTO grid_text (token, product_id, locale) VALUES ({sql.p}, {sql.p}, {sql.p})", rows)
        sql.many(f"DELETE FROM grid_text WHERE token = {sql.p} AND product_id = {sql.p} AND locale = {sql.p}",
                 rows[::3] + [("nothing", 1, "")])
    with store.engine.connect() as conn:
        left = sorted(tuple(r) for r in conn.execute(select(GRID_TEXT.c.token, GRID_TEXT.c.product_id, GRID_TEXT.c.locale)))
    assert left == sorted(set(rows) - set(rows[::3]))

    many = [{**ROWS[0], "identifier": f"P-{i}", "value_key": "weight"} for i in range(2500)]
    later = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    with store.begin() as conn:
        raw = RawTable(conn, CANDIDATE)
        raw.upsert(conn, many, KEYS)
        raw.update(conn, ("value", "at"), "ref", [])  # nothing to do
    with store.begin() as conn:
        sql = Statements(conn)
        sql.many(f"UPDATE value_candidate SET value = {sql.json}, at = {sql.p} WHERE identifier = {sql.p}",
                 [('{"amount": "1", "unit": "GRAM"}', RawTable(conn, CANDIDATE).bind("at", later), f"P-{i}") for i in range(0, 2500, 2)]
                 + [('{"amount": "9", "unit": "GRAM"}', RawTable(conn, CANDIDATE).bind("at", later), "P-0")])
    stored = {r[0]: r for r in _core(store)}
    assert len(stored) == 2500
    assert stored["P-0"][3] == {"amount": "9", "unit": "GRAM"}  # the later row for the same key
    assert stored["P-2"][3] == {"amount": "1", "unit": "GRAM"} and stored["P-1"][3] == ROWS[0]["value"]
    assert stored["P-2"][5] == (later.replace(tzinfo=None) if store.dialect == "sqlite" else later)


def test_statements_of_another_shape_run_row_by_row() -> None:
    from pim.store.raw import _rewrite

    assert _rewrite("INSERT INTO t VALUES (%s, %s)") is None  # no column list
    assert _rewrite("UPDATE t SET a = a + %s WHERE k = %s") is None  # an expression, not a value
    assert _rewrite("DELETE FROM t WHERE a > %s") is None
    assert _rewrite("INSERT INTO t (a, b) VALUES (%s, %s::jsonb) ON CONFLICT (a) DO UPDATE SET b = excluded.b").key == (0,)
