"""Self-service password reset for portal people: "forgot your password?" mails a one-time link, valid for an
hour, that sets a new password. Only the link's SHA-256 is stored; a link works once, a newer one voids the
older ones, and a new password ends the person's open sessions (their stamp changes). Whether an address has
an account is never revealed: every request gets the same answer."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table, delete, insert, select, update
from sqlmodel import Field, SQLModel

from pim.mail import send_mail
from pim.portal_people import PERSON, active_person, hash_password
from pim.settings import Settings
from pim.store.store import Store, as_utc, now

VALID_FOR = timedelta(hours=1)


class PortalResetRow(SQLModel, table=True):
    __tablename__ = "portal_reset"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    person_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


RESET: Table = PortalResetRow.__table__  # type: ignore[assignment]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(store: Store, settings: Settings, email: str, base_url: str, *, send: Any = send_mail) -> bool:
    """Mail a reset link when `email` is an active person (True), else do nothing (False); the caller answers
    the same either way. Raises ConfigError when the mail cannot be sent."""
    person = active_person(store, email)
    if person is None:
        return False
    token = "prs_" + secrets.token_urlsafe(32)
    at = now()
    with store.begin() as conn:
        conn.execute(delete(RESET).where(RESET.c.person_id == person.id))  # a newer link voids the older ones
        conn.execute(insert(RESET).values(token_hash=_digest(token), person_id=person.id, created_at=at,
                                          expires_at=at + VALID_FOR))
    link = f"{base_url.rstrip('/')}/portal/reset?token={token}"
    send(settings, person.email, "Set a new password for the feed portal",
         f"Someone (hopefully you) asked to set a new password for {person.email} on the feed portal of "
         f"{person.customer}.\n\nOpen this link within an hour to choose one:\n{link}\n\n"
         "If you did not ask for it, ignore this mail: your password stays as it is.\n")
    return True


def check_token(store: Store, token: str) -> str | None:
    """The e-mail of the person an unused, unexpired link belongs to, else None."""
    with store.engine.connect() as conn:
        row = conn.execute(select(RESET.c.expires_at, PERSON.c.email).join(PERSON, PERSON.c.id == RESET.c.person_id)
                           .where(RESET.c.token_hash == _digest(token), RESET.c.used_at.is_(None),
                                  PERSON.c.active.is_(True))).first()
    if row is None or as_utc(row.expires_at) <= now():
        return None
    return str(row.email)


def redeem(store: Store, token: str, password: str) -> str | None:
    """Set the new password of the link's person and use the link up (one transaction; a link used or expired
    meanwhile changes nothing). Returns their e-mail, or None. InputError when the password is too short."""
    digest = hash_password(password)  # refuses a short one before anything is written
    at = now()
    with store.begin() as conn:
        row = conn.execute(select(RESET.c.person_id, RESET.c.expires_at).where(
            RESET.c.token_hash == _digest(token), RESET.c.used_at.is_(None))).first()
        if row is None or as_utc(row.expires_at) <= at:
            return None
        taken = conn.execute(update(RESET).where(RESET.c.token_hash == _digest(token), RESET.c.used_at.is_(None))
                             .values(used_at=at).execution_options(preserve_rowcount=True)).rowcount
        if taken != 1:
            return None
        email = conn.execute(update(PERSON).where(PERSON.c.id == row.person_id, PERSON.c.active.is_(True))
                             .values(password_hash=digest).returning(PERSON.c.email)).scalar()
        conn.execute(delete(RESET).where(RESET.c.person_id == row.person_id, RESET.c.token_hash != _digest(token)))
        return str(email) if email else None
