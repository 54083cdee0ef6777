"""Running pim on one's own PostgreSQL server (round 31, found by an explorer running imports side by side): a
stock or price-list write takes the catalog's write lock before its rows, so it no longer deadlocks with an
import holding that lock; two commands starting on a fresh database migrate one after the other; a lost
connection or a deadlock met mid-run is one StoreError (exit 4, one JSON document under --json), not chained
tracebacks; `postgres://` is accepted, and a driver not installed or a database migrated by a newer pim says
what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from pim.commerce import PriceListEntry, StockLevel, put_price_list, put_price_list_in, put_stock, put_stock_in
from pim.errors import StoreError
from pim.product import Product, Provenance
from pim.store import Store
from pim.store.database import database_failure, make_engine

POSTGRES_ONLY = pytest.mark.backends("postgresql")
AT = datetime(2026, 5, 1, tzinfo=UTC)


def _until_waiting_on_a_lock(engine: Engine, what: str) -> None:
    """Wait until a session of the engine's database waits on a lock (another thread's write blocked)."""
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while True:
            waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'")).scalar_one()
            conn.rollback()  # a fresh snapshot of the activity view on the next look
            if waiting:
                return
            assert time.monotonic() < deadline, f"{what} never waited on a lock"
            time.sleep(0.01)


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


# ------------------------------------------------------------------ writers beside an import's write lock
@POSTGRES_ONLY
def test_a_stock_import_beside_an_import_writing_stock_under_the_lock_does_not_deadlock(store: Store) -> None:
    """The ERP XML import holds the catalog lock (its merge) and then writes stock; the stock CSV import locked
    its stock rows and then asked for that lock (touch_products): each waited for the other, DeadlockDetected.
    Ordered steps: the XML side holds the lock, the CSV side's write is blocked, the XML side writes the same
    stock row."""
    store.upsert_products([Product(identifier="P1", family="f", values={"name:en_US": "Drill"},
                                   source=Provenance(source="erp", ref="erp.csv:1", at=AT))])
    with store.begin() as conn:  # the ERP XML import's batch transaction, after its merge
        store.lock_writes(conn)
        thread, errors = _in_thread(lambda: put_stock(store, [StockLevel(sku="P1", quantity=Decimal(3), updated_at=AT)]))
        _until_waiting_on_a_lock(store.engine, "the stock import")
        put_stock_in(store, conn, [StockLevel(sku="P1", quantity=Decimal(7), updated_at=AT)])
    thread.join(60)
    assert not thread.is_alive() and errors == []
    with store.engine.connect() as conn:  # the CSV's reading, of the same time, came after: it wins
        assert conn.execute(text("SELECT quantity FROM stock WHERE sku = 'P1'")).scalar_one() == Decimal(3)


@POSTGRES_ONLY
def test_a_price_list_import_beside_an_import_writing_tiers_under_the_lock_does_not_deadlock(store: Store) -> None:
    """A price-list file (rows P2, P1) and a BMEcat import writing tiers (P1, then P2) under the catalog lock
    locked the same rows in opposite orders."""
    def entry(sku: str, price: str) -> PriceListEntry:
        return PriceListEntry(customer="C1", sku=sku, currency="EUR", price=Decimal(price), valid_from=date(2026, 1, 1))

    with store.begin() as conn:  # the BMEcat import's batch transaction
        store.lock_writes(conn)
        put_price_list_in(store, conn, [entry("P1", "1")])
        thread, errors = _in_thread(lambda: put_price_list(store, [entry("P2", "20"), entry("P1", "10")]))
        _until_waiting_on_a_lock(store.engine, "the price-list import")
        put_price_list_in(store, conn, [entry("P2", "2")])
    thread.join(60)
    assert not thread.is_alive() and errors == []
    with store.engine.connect() as conn:  # the file came second: its prices stand
        prices = dict(conn.execute(text("SELECT sku, price FROM price_list")).all())
    assert prices == {"P1": Decimal(10), "P2": Decimal(20)}


def test_stock_written_in_a_transaction_that_has_written_already(store: Store) -> None:
    """Guard (passes before the change too): put_stock_in now takes the write lock itself, also in an import's
    transaction that has written its records already; on SQLite that transaction holds the write lock, and a
    second BEGIN IMMEDIATE would fail ("cannot start a transaction within a transaction")."""
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sequence (name, value) VALUES ('other', 1)")
        assert put_stock_in(store, conn, [StockLevel(sku="P1", quantity=Decimal(3), updated_at=AT)]) == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT quantity FROM stock WHERE sku = 'P1'")).scalar_one() == Decimal(3)


# ------------------------------------------------------------------------ migrations started at once
@pytest.fixture
def empty_database(postgres_server: Any) -> Iterator[str]:
    """A fresh PostgreSQL database nothing has migrated yet."""
    name = f"pim_empty_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


#: A command's start (migrate) held after the first statement of its upgrade until a line comes on stdin.
HELD_MIGRATION = """
import sys
from sqlalchemy import event
from pim.store.database import make_engine, migrate

engine = make_engine(sys.argv[1])
held = []

@event.listens_for(engine, "after_cursor_execute")
def hold(_conn, _cursor, statement, *_):
    if not held and statement.lstrip().upper().startswith("CREATE"):
        held.append(statement)
        print("held", flush=True)
        sys.stdin.readline()

migrate(engine)
"""


@POSTGRES_ONLY
def test_two_commands_migrating_a_fresh_database_at_once_both_start(backend: str, empty_database: str,
                                                                   tmp_path: Path) -> None:
    """The first command's upgrade is held after its first statement (the version table, not committed); the
    second command then waits (before: on the first's uncommitted table, and once that committed it failed
    with UniqueViolation on pg_type_typname_nsp_index, a traceback, exit 1). Processes, as two commands are:
    alembic's `op` is one per process."""
    first = subprocess.Popen([sys.executable, "-c", HELD_MIGRATION, empty_database], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline() == "held\n", "the first upgrade never started"
        env = {**os.environ, "PIM_DATABASE_URL": empty_database, "PIM_HOME": str(tmp_path / "home")}
        second = subprocess.Popen([sys.executable, "-c", "from pim.cli import main; main()", "import", "jobs",
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        watcher = make_engine(empty_database)
        _until_waiting_on_a_lock(watcher, "the second command")
        watcher.dispose()
        first.communicate("go\n", timeout=120)
        out, err = second.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0
    assert second.returncode == 0 and json.loads(out) == [], err


# ------------------------------------------------------------------------- failures met mid-run
TERMINATE_IN_STOCK_WRITE = """
import pim.commerce as commerce
write = commerce.put_stock_in

def cut(store, conn, levels):
    conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")  # as `pg_ctl stop -m fast` does
    return write(store, conn, levels)

commerce.put_stock_in = cut
"""


@POSTGRES_ONLY
def test_a_connection_lost_mid_import_is_one_store_error_document(pim_env: Path, tmp_path: Path) -> None:
    """Five chained tracebacks, exit 1 and nothing on stdout under --json, before."""
    data, mapping = tmp_path / "stock.csv", tmp_path / "stock.map.yaml"
    data.write_text("sku,warehouse,quantity,updated_at\nP1,HH01,3,2026-05-01T06:00:00\n", encoding="utf-8")
    mapping.write_text("source: erp\nkind: stock\nsku_column: sku\ncolumns:\n  warehouse: warehouse\n"
                       "  quantity: quantity\n  updated_at: updated_at\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", f"{TERMINATE_IN_STOCK_WRITE}\nfrom pim.cli import main; main()",
                           "import", "erp", str(data), "--map", str(mapping), "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 4, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 4 and doc["error"].startswith("lost the connection to the database"), doc
    assert "run the command again" in doc["error"]
    assert "Traceback" not in proc.stderr and "lost the connection" in proc.stderr


@POSTGRES_ONLY
def test_a_deadlock_is_a_store_error_saying_to_run_again(store: Store) -> None:
    """Two sessions locking two counter rows in opposite orders: the one the server stops gets a message and
    what to do (the command line shows it, exit 4) instead of a DeadlockDetected traceback."""
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sequence (name, value) VALUES ('a', 0), ('b', 0)")
    lock = "SELECT value FROM sequence WHERE name = '{}' FOR UPDATE"
    second_has_b = threading.Event()

    def second() -> None:
        with store.begin() as conn:
            conn.exec_driver_sql(lock.format("b"))
            second_has_b.set()
            conn.exec_driver_sql(lock.format("a"))

    stopped: list[BaseException] = []
    try:
        with store.begin() as conn:
            conn.exec_driver_sql(lock.format("a"))
            thread, stopped = _in_thread(second)
            assert second_has_b.wait(30)
            _until_waiting_on_a_lock(store.engine, "the second session")
            conn.exec_driver_sql(lock.format("b"))
    except DBAPIError as exc:  # the server stopped this session rather than the other
        stopped.append(exc)
    thread.join(60)
    [deadlocked] = stopped
    mapped = database_failure(deadlocked)
    assert isinstance(mapped, StoreError) and mapped.exit_code == 4
    assert "another writer" in str(mapped) and "run the command again" in (mapped.hint or "")


def test_other_errors_stay_errors() -> None:
    """Guard (passes before the change too, where the mapping did not exist: a bug is shown in full)."""
    assert database_failure(ValueError("a bug")) is None


# ------------------------------------------------------------------------------ PIM_DATABASE_URL
@POSTGRES_ONLY
def test_a_postgres_scheme_url_is_pims_postgresql_driver(database_url: str) -> None:
    """libpq's and hosting providers' `postgres://` raised NoSuchModuleError."""
    engine = make_engine("postgres://" + database_url.split("://", 1)[1])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_a_driver_not_installed_says_to_use_postgresql_or_install_it() -> None:
    """`postgresql+psycopg2://` raised ModuleNotFoundError (a traceback, exit 1)."""
    with pytest.raises(StoreError) as caught:
        make_engine("postgresql+psycopg2://pim@db.example/pim")
    assert caught.value.exit_code == 4 and "psycopg2" in str(caught.value) and "not installed" in str(caught.value)
    assert "postgresql://" in (caught.value.hint or "") and "install" in (caught.value.hint or "")


def test_a_database_migrated_by_a_newer_pim_says_to_upgrade_or_restore(store: Store) -> None:
    """alembic's CommandError ("Can't locate revision") came out as a traceback, exit 1."""
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('9001_from_the_future')")
    with pytest.raises(StoreError) as caught:
        store.migrate()
    assert caught.value.exit_code == 4 and "9001_from_the_future" in str(caught.value)
    assert "newer pim release" in str(caught.value)
    assert "upgrade pim" in (caught.value.hint or "") and "restore" in (caught.value.hint or "")
