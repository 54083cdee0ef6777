"""The core tables. Values live in one JSON column (JSONB on PostgreSQL); structure items in one table keyed
by kind and code. Other areas (completeness, media, feeds, ...) define their tables in their own modules and
their own Alembic migration branch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


def json_column(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSONType, nullable=nullable))


def utc_column(index: bool = False, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class StructureRow(SQLModel, table=True):
    __tablename__ = "structure"

    kind: str = Field(primary_key=True, max_length=40)
    code: str = Field(primary_key=True, max_length=255)
    data: dict[str, Any] = json_column()
    updated_at: datetime = utc_column()


class ProductRow(SQLModel, table=True):
    """One product. `seq` grows on every write: incremental exporters keep a watermark on it."""

    __tablename__ = "product"
    #: identifier, seq, parent: a merge batch's lookups by SKU read only this index (pim.batch_lookup; the seq
    #: sits after the value map in the row)
    __table_args__ = (Index("ix_product_family_enabled", "family", "enabled"),
                      Index("ix_product_identifier_seq", "identifier", "seq", "parent"))

    id: int | None = Field(default=None, primary_key=True)
    identifier: str = Field(max_length=255, unique=True, index=True)
    family: str | None = Field(default=None, max_length=100, index=True)
    parent: str | None = Field(default=None, max_length=255, index=True)
    enabled: bool = True
    categories: list[str] = json_column()
    groups: list[str] = json_column()
    value_map: dict[str, Any] = json_column()
    source: dict[str, Any] | None = json_column(nullable=True)
    provenance: dict[str, Any] = json_column()
    associations: dict[str, Any] = json_column()
    content_hash: str = Field(max_length=64)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class ProductModelRow(SQLModel, table=True):
    __tablename__ = "product_model"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=255, unique=True, index=True)
    family_variant: str = Field(max_length=100, index=True)
    family: str | None = Field(default=None, max_length=100, index=True)
    parent: str | None = Field(default=None, max_length=255, index=True)
    categories: list[str] = json_column()
    value_map: dict[str, Any] = json_column()
    source: dict[str, Any] | None = json_column(nullable=True)
    provenance: dict[str, Any] = json_column()
    associations: dict[str, Any] = json_column()
    content_hash: str = Field(max_length=64)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    updated_at: datetime = utc_column()


class DeletedProductRow(SQLModel, table=True):
    """Tombstones, so that incremental exporters can send deletes."""

    __tablename__ = "deleted_product"

    identifier: str = Field(primary_key=True, max_length=255)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    deleted_at: datetime = utc_column()


class SequenceRow(SQLModel, table=True):
    __tablename__ = "sequence"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class JobRow(SQLModel, table=True):
    """One import, publish or delivery run, with its counts; or a queued one waiting for a worker (pim.job_queue)."""

    __tablename__ = "job"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    source: str = Field(default="", max_length=1000)
    status: str = Field(default="running", max_length=20, index=True)
    counts: dict[str, Any] = json_column()
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime = utc_column(index=True)
    finished_at: datetime | None = utc_column(nullable=True)
    host: str | None = Field(default=None, max_length=255)  # where the job's process runs
    pid: int | None = Field(default=None)
    heartbeat_at: datetime | None = utc_column(nullable=True)  # stamped while running (pim.store.heartbeat)
    payload: dict[str, Any] | None = json_column(nullable=True)  # what a queued job's runner needs (pim.job_queue)
    cancel_requested_at: datetime | None = utc_column(nullable=True)  # asked to stop (pim.job_cancel)
    priority: int = Field(default=0)  # a queued job's: higher is claimed first (pim.job_enqueue.KIND_PRIORITY)


#: The rows of the quarantine's retention index (a partial index on both backends).
CLOSED = text("resolved_at IS NOT NULL")


class QuarantineRow(SQLModel, table=True):
    """A rejected row or file: where it was, why, and the raw input, so it can be fixed and re-imported."""

    __tablename__ = "quarantine"
    #: a source's open entries, found without walking its closed history (pim.store.supersede); entries closed
    #: before a cut-off, whatever their source, for retention (pim.store.quarantine_prune, migration 0037). The
    #: latter holds closed entries only: whole, a query for open ones (`resolved_at IS NULL`) would take it
    #: over the record key's index and walk every open entry.
    __table_args__ = (Index("ix_quarantine_source_open", "source", "resolved_at"),
                      Index("ix_quarantine_resolved_at", "resolved_at", sqlite_where=CLOSED, postgresql_where=CLOSED))

    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, index=True)
    source: str = Field(default="", max_length=100, index=True)
    file: str = Field(default="", max_length=1000)
    line: int | None = None
    field: str | None = Field(default=None, max_length=255)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raw: dict[str, Any] | None = json_column(nullable=True)
    record_key: str | None = Field(default=None, max_length=255, index=True)
    severity: str = Field(default="rejected", max_length=20, index=True)  # rejected | problem (value kept)
    created_at: datetime = utc_column()
    resolved_at: datetime | None = utc_column(nullable=True)
    #: The job that closed this entry without it being fixed: a newer run of the same file, or a newer
    #: rejection of the same record, which says what is wrong now (migration 0036).
    superseded_by: int | None = None
    #: What kind of problem a note is, for code that acts on one kind (pim.store.supersede.MISSING_AXIS), so no
    #: code matches the reason people read (migration 0038); None: no code needs to tell it apart. Not indexed:
    #: SQLite, which keeps no statistics here, would take an index on it over the record key's.
    kind: str | None = Field(default=None, max_length=40)
