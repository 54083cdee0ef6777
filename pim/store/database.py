"""Engines and migrations. SQLite by default (WAL, one file in PIM_HOME), PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from pim.errors import StoreError
from pim.store import wal_checkpoints

MIGRATIONS = Path(__file__).parent / "migrations"


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_loads(value: object) -> object:
    """A JSON column's value: JSON text, or on SQLite a bare number already converted (a column declared
    JSON has NUMERIC affinity, so SQLite stores the text `0` as the integer 0)."""
    return orjson.loads(value) if isinstance(value, (str, bytes, bytearray, memoryview)) else value


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        on_disk = bool(path) and path != ":memory:"
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_dumps, json_deserializer=json_loads)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        if on_disk and not path.startswith("file:"):
            wal_checkpoints.attach(engine, path)
        return engine
    return create_engine(url, json_serializer=_dumps, json_deserializer=json_loads, pool_pre_ping=True)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade to every branch head. Safe to call on every start."""
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except OperationalError as exc:
        raise StoreError(
            f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}",
            hint="check PIM_DATABASE_URL, or unset it to use SQLite in PIM_HOME",
        ) from exc


def ping(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise StoreError(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}",
            hint="is the server running? check PIM_DATABASE_URL",
        ) from exc
