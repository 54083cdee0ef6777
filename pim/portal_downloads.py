"""Who fetched which feed file from the portal, and when: a person by e-mail, or the customer's token (a
script). Suppliers are asked "did ACME pick up Monday's prices?"; the delivery log says a file was offered,
this says it was taken. A row is written for each response that carried a file's last byte (a full body, or the
range that ends it: pim.portal_serve) and read by `pim feeds downloads` and the staff portal page;
`prune_downloads` (`pim feeds downloads --prune-older-than DAYS`) keeps the log from growing for ever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, delete, func, insert, select
from sqlmodel import Field, SQLModel

from pim.delivery_log import FEED_FILE
from pim.store.store import Store, now

TOKEN = "token"  # what `person` says when the customer's API token fetched the file
PRUNE_BATCH = 5000  # rows deleted per transaction: short locks on a busy portal, bounded memory


class PortalDownloadRow(SQLModel, table=True):
    __tablename__ = "portal_download"
    __table_args__ = (Index("ix_portal_download_customer_at", "customer", "at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    file_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    customer: str = Field(sa_column=Column(String(100), nullable=False))
    person: str = Field(sa_column=Column(String(254), nullable=False))  # e-mail, or TOKEN
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


DOWNLOAD: Table = PortalDownloadRow.__table__  # type: ignore[assignment]


def record_download(store: Store, file_id: int, customer: str, person: str | None) -> None:
    with store.begin() as conn:
        conn.execute(insert(DOWNLOAD).values(file_id=file_id, customer=customer, person=person or TOKEN, at=now()))


def downloads(store: Store, *, customer: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest downloads first, with the file's contract and name."""
    q = (select(DOWNLOAD.c.at, DOWNLOAD.c.customer, DOWNLOAD.c.person, DOWNLOAD.c.file_id, FEED_FILE.c.contract,
                FEED_FILE.c.name)
         .join(FEED_FILE, FEED_FILE.c.id == DOWNLOAD.c.file_id, isouter=True)
         .order_by(DOWNLOAD.c.at.desc(), DOWNLOAD.c.id.desc()).limit(limit))
    if customer is not None:
        q = q.where(DOWNLOAD.c.customer == customer)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def last_downloads(store: Store, customer: str | None = None) -> dict[tuple[str, str], datetime]:
    """(customer, person: e-mail or TOKEN) → their latest download."""
    q = select(DOWNLOAD.c.customer, DOWNLOAD.c.person, func.max(DOWNLOAD.c.at)).group_by(DOWNLOAD.c.customer, DOWNLOAD.c.person)
    if customer is not None:
        q = q.where(DOWNLOAD.c.customer == customer)
    with store.engine.connect() as conn:
        return {(c, p): at for c, p, at in conn.execute(q)}


@dataclass(frozen=True)
class DownloadPrune:
    rows: int  # deleted, or that a dry run would delete
    before: datetime  # rows older than this went

    def as_dict(self) -> dict[str, Any]:
        return {"downloads": self.rows, "before": self.before.isoformat()}


def prune_downloads(store: Store, older_than: timedelta, *, customer: str | None = None, dry_run: bool = False,
                    at: datetime | None = None, batch: int = PRUNE_BATCH) -> DownloadPrune:
    """Delete log rows older than `older_than` (one customer's, or everyone's), `batch` rows per transaction, so
    neither memory nor a lock grows with the log. A dry run only counts them."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be a positive age")
    before = (at or now()) - older_than
    old = [DOWNLOAD.c.at < before, *([DOWNLOAD.c.customer == customer] if customer is not None else [])]
    if dry_run:
        with store.engine.connect() as conn:
            return DownloadPrune(conn.execute(select(func.count()).select_from(DOWNLOAD).where(*old)).scalar_one(), before)
    # The oldest ids first: old rows sit at the start of the primary key, so a batch is found there, never sorted.
    # They are read, then deleted by primary key: as a subquery of the delete, PostgreSQL may hash it against a
    # scan of the whole log, every batch (as pim.store.quarantine_prune found).
    oldest = select(DOWNLOAD.c.id).where(*old).order_by(DOWNLOAD.c.id).limit(batch)
    total = 0
    while True:
        with store.begin() as conn:
            ids = conn.execute(oldest).scalars().all()
            if ids:
                conn.execute(delete(DOWNLOAD).where(DOWNLOAD.c.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return DownloadPrune(total, before)
