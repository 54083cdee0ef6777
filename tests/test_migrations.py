"""Alembic migrations and the SQLModel tables agree, on both backends."""

from sqlalchemy import inspect
from sqlmodel import SQLModel

import importlib
import pkgutil

from pim.store import Store

PACKAGES = ["pim", "importers", "channels", "exporters", "media"]


def _import_everything() -> None:
    """Tables register themselves on import: load every module so no table escapes the check."""
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)


def test_migrated_database_has_every_model_table_and_column(store: Store) -> None:
    _import_everything()
    insp = inspect(store.engine)
    tables = set(insp.get_table_names())
    for table in SQLModel.metadata.sorted_tables:
        assert table.name in tables, f"table {table.name} has no migration"
        columns = {c["name"] for c in insp.get_columns(table.name)}
        assert set(table.columns.keys()) <= columns, f"{table.name}: columns without migration: {set(table.columns.keys()) - columns}"


def test_migrate_twice_is_a_no_op(store: Store) -> None:
    store.migrate()
    store.migrate()
    assert "product" in inspect(store.engine).get_table_names()
