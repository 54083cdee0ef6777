"""The portal's browser sessions (table `portal_session`, migration 0043_portal_session), so that signing out
ends a session on the server too: a copy of the cookie taken before sign-out is refused after it. Built like the
staff sessions, whose helpers do the work (pim.web.sessions): the signed cookie holds a random id, the row only
its SHA-256; a session is good while its row exists and is not ended. The person's password stamp, or the
customer's token hash, stays in the cookie and is checked as before (pim.portal_pages.session_signer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, select
from sqlmodel import Field, SQLModel

from pim.store.store import Store, as_utc
from pim.web import sessions


class PortalSessionRow(SQLModel, table=True):
    """One portal sign-in in one browser: a person's (person_id) or the customer's token's (person_id NULL)."""

    __tablename__ = "portal_session"
    __table_args__ = (Index("ix_portal_session_last_seen_at", "last_seen_at"),
                      Index("ix_portal_session_ended_at", "ended_at"))

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True, index=True))
    customer: str = Field(sa_column=Column(String(100), nullable=False))
    person_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


PORTAL_SESSION: Table = PortalSessionRow.__table__  # type: ignore[assignment]
P = PORTAL_SESSION
#: The browser session's key that holds the id of its portal session (pim.portal_pages signs in with it).
SID_KEY = "portal_sid"


@dataclass(frozen=True)
class Held:
    id: int
    customer: str
    last_seen_at: datetime


def start(store: Store, customer: str, person_id: int | None) -> str:
    """Register a portal sign-in; returns the session id for the cookie."""
    return sessions.begin(store, P, customer=customer, person_id=person_id)


def held(store: Store, sid: Any) -> Held | None:
    """The open session with this cookie id, or None; noted as used (at most once a minute)."""
    if not isinstance(sid, str) or not sid:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(select(P.c.id, P.c.customer, P.c.last_seen_at)
                           .where(P.c.token_hash == sessions.digest(sid), P.c.ended_at.is_(None))).first()
    if row is None:
        return None
    found = Held(row.id, row.customer, as_utc(row.last_seen_at))
    sessions.touch(store, found, P)
    return found


def end(store: Store, sid: Any) -> None:
    """Sign-out: the session with this cookie id ends, if it is open."""
    sessions.end_held(store, sid, P)


def end_named_in(store: Store, cookie: Mapping[str, Any]) -> None:
    """End the portal session this browser's session cookie names, if any. In the combined app the staff UI and
    the portal share one cookie, and a staff sign-in or sign-out clears it all: without this the portal's row
    outlived its cookie, and a copy of that cookie taken before still opened the portal."""
    end(store, cookie.get(SID_KEY))
