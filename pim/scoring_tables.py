"""Tables of the completeness and gate area. Completeness is stored per product × channel × locale and kept
current by a product listener; the report reads small counter tables maintained by diffing old and new rows,
so it never scans the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table
from sqlmodel import Field, SQLModel

from pim.store.tables import JSONType


def _key(length: int = 100) -> Any:
    return Field(sa_column=Column(String(length), primary_key=True))


class CompletenessRow(SQLModel, table=True):
    """One product's completeness on one channel and locale."""

    __tablename__ = "completeness"
    __table_args__ = {"sqlite_with_rowid": False}  # looked up by product only (migration 0012)

    product: str = _key(255)
    channel: str = _key()
    locale: str = _key(20)
    family: str = Field(sa_column=Column(String(100), nullable=False))
    ratio: int = Field(sa_column=Column(Integer, nullable=False))
    required: int = Field(sa_column=Column(Integer, nullable=False))
    missing_count: int = Field(sa_column=Column(Integer, nullable=False))
    missing: list[str] = Field(default=[], sa_column=Column(JSONType, nullable=False))


class CompletenessCountRow(SQLModel, table=True):
    """How many products of a family are scored, and complete (100 %), on a channel × locale."""

    __tablename__ = "completeness_count"

    channel: str = _key()
    locale: str = _key(20)
    family: str = _key()
    products: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    complete: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class MissingCountRow(SQLModel, table=True):
    """How many products of a family miss an attribute on a channel × locale: the content team's to-do list."""

    __tablename__ = "completeness_missing"

    channel: str = _key()
    locale: str = _key(20)
    family: str = _key()
    attribute: str = _key()
    products: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class UniqueValueRow(SQLModel, table=True):
    """Values of unique attributes (identifier, GTINs, unique=True), normalised, for duplicate detection."""

    __tablename__ = "unique_value"
    __table_args__ = (Index("ix_unique_value_value", "attribute", "value"), {"sqlite_with_rowid": False})

    product: str = _key(255)
    attribute: str = _key()
    value: str = Field(sa_column=Column(String(255), nullable=False))


class GateDecisionRow(SQLModel, table=True):
    """The last gate decision for a product on a channel, with its reasons (the UI and search read it)."""

    __tablename__ = "gate_decision"

    product: str = _key(255)
    channel: str = _key()
    passed: bool = Field(sa_column=Column(Boolean, nullable=False))
    reasons: list[str] = Field(default=[], sa_column=Column(JSONType, nullable=False))
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class GateCountRow(SQLModel, table=True):
    """Blocked products per channel and reason kind ('*' = blocked at all), from the stored decisions."""

    __tablename__ = "gate_count"

    channel: str = _key()
    kind: str = _key(120)
    products: int = Field(default=0, sa_column=Column(Integer, nullable=False))


COMPLETENESS: Table = CompletenessRow.__table__  # type: ignore[assignment]
COMPLETENESS_COUNT: Table = CompletenessCountRow.__table__  # type: ignore[assignment]
MISSING_COUNT: Table = MissingCountRow.__table__  # type: ignore[assignment]
UNIQUE_VALUE: Table = UniqueValueRow.__table__  # type: ignore[assignment]
GATE_DECISION: Table = GateDecisionRow.__table__  # type: ignore[assignment]
GATE_COUNT: Table = GateCountRow.__table__  # type: ignore[assignment]
