"""The grid index's tables (pim.grid_index) and the SQL that writes their rows.

Every table is keyed (filter value…, product_id), so one filter is an index range already ordered by
product.id; row tuples use each table's `_COLUMNS` order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, String, Table
from sqlmodel import Field, SQLModel

from pim.store.raw import Statements

TOKEN_LENGTH = 64


def _text(length: int) -> Any:
    """Byte-order collation on PostgreSQL so a prefix range (token >= 'ab' AND token < 'ab\\U0010ffff')
    uses the btree; SQLite's default BINARY collation already is."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _key(length: int) -> Any:
    return Field(sa_column=Column(_text(length), primary_key=True))


def _product_id() -> Any:
    return Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))


class GridProductRow(SQLModel, table=True):
    __tablename__ = "grid_product"

    product: str = Field(sa_column=Column(String(255), primary_key=True))
    product_id: int = Field(sa_column=Column(Integer, nullable=False, unique=True))


class GridCategoryRow(SQLModel, table=True):
    __tablename__ = "grid_category"
    __table_args__ = (Index("ix_grid_category_product", "product_id"),)

    category: str = _key(255)
    product_id: int = _product_id()


class GridSourceRow(SQLModel, table=True):
    __tablename__ = "grid_source"
    __table_args__ = (Index("ix_grid_source_product", "product_id"),)

    source: str = _key(100)
    product_id: int = _product_id()


class GridTextRow(SQLModel, table=True):
    __tablename__ = "grid_text"
    __table_args__ = (Index("ix_grid_text_product", "product_id", "token"),)

    token: str = _key(TOKEN_LENGTH)
    product_id: int = _product_id()
    locale: str = _key(20)


class GridMissingRow(SQLModel, table=True):
    __tablename__ = "grid_missing"
    __table_args__ = (Index("ix_grid_missing_product", "product_id"),)

    channel: str = _key(100)
    locale: str = _key(20)
    attribute: str = _key(100)
    product_id: int = _product_id()


class GridCompletenessRow(SQLModel, table=True):
    """A product's completeness on a channel × locale, keyed so "complete" and "incomplete" are id-ordered
    ranges (below N % reads the incomplete range and checks the ratio)."""

    __tablename__ = "grid_completeness"
    __table_args__ = (Index("ix_grid_completeness_product", "product_id"),)

    channel: str = _key(100)
    locale: str = _key(20)
    complete: bool = Field(sa_column=Column(Boolean, primary_key=True))
    product_id: int = _product_id()
    ratio: int = Field(sa_column=Column(Integer, nullable=False))


GRID_PRODUCT: Table = GridProductRow.__table__  # type: ignore[assignment]
GRID_CATEGORY: Table = GridCategoryRow.__table__  # type: ignore[assignment]
GRID_SOURCE: Table = GridSourceRow.__table__  # type: ignore[assignment]
GRID_TEXT: Table = GridTextRow.__table__  # type: ignore[assignment]
GRID_MISSING: Table = GridMissingRow.__table__  # type: ignore[assignment]
GRID_COMPLETENESS: Table = GridCompletenessRow.__table__  # type: ignore[assignment]
_BY_PRODUCT = (GRID_CATEGORY, GRID_SOURCE, GRID_TEXT, GRID_MISSING, GRID_COMPLETENESS, GRID_PRODUCT)

#: Each table's columns in the order its row tuples use; the key columns are all but grid_completeness' ratio.
_COLUMNS: dict[Table, tuple[str, ...]] = {
    GRID_PRODUCT: ("product", "product_id"),
    GRID_CATEGORY: ("category", "product_id"),
    GRID_SOURCE: ("source", "product_id"),
    GRID_TEXT: ("token", "product_id", "locale"),
    GRID_MISSING: ("channel", "locale", "attribute", "product_id"),
    GRID_COMPLETENESS: ("channel", "locale", "complete", "product_id", "ratio"),
}


def _pk(table: Table, row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row[:4] if table is GRID_COMPLETENESS else row


def _delete_sql(sql: Statements, table: Table) -> str:
    columns = _COLUMNS[table][:4] if table is GRID_COMPLETENESS else _COLUMNS[table]
    return f"DELETE FROM {table.name} WHERE " + " AND ".join(f"{c} = {sql.p}" for c in columns)


def _insert_sql(sql: Statements, table: Table) -> str:
    columns = _COLUMNS[table]
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([sql.p] * len(columns))})"
