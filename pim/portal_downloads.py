"""Who fetched which feed file from the portal, and when: a person by e-mail, or the customer's token (a
script). Suppliers are asked "did ACME pick up Monday's prices?"; the delivery log says a file was offered,
this says it was taken. Rows are written on each successful download and read by `pim feeds downloads` and the
staff portal page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, insert, select
from sqlmodel import Field, SQLModel

from pim.delivery_log import FEED_FILE
from pim.store.store import Store, now

TOKEN = "token"  # what `person` says when the customer's API token fetched the file


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
    from sqlalchemy import func

    q = select(DOWNLOAD.c.customer, DOWNLOAD.c.person, func.max(DOWNLOAD.c.at)).group_by(DOWNLOAD.c.customer, DOWNLOAD.c.person)
    if customer is not None:
        q = q.where(DOWNLOAD.c.customer == customer)
    with store.engine.connect() as conn:
        return {(c, p): at for c, p, at in conn.execute(q)}
