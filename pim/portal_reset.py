"""Self-service password reset for portal people: "forgot your password?" mails a one-time link, valid for an
hour, that sets a new password. The links themselves (hashed, one-time, a newer one voids the older) are
pim.reset_links, shared with staff accounts; here: whose links they are, the mail's wording, and that a new
password ends the person's open sessions (their stamp changes). Whether an address has an account is never
revealed: every request gets the same answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String, Table
from sqlmodel import Field, SQLModel

from pim.mail import send_mail
from pim.portal_people import PERSON, active_person, hash_password
from pim.reset_links import VALID_FOR, ResetLinks, Send, link_to, mail_link
from pim.settings import Settings
from pim.store.store import Store

__all__ = ["RESET", "VALID_FOR", "check_token", "redeem", "request_reset"]


class PortalResetRow(SQLModel, table=True):
    __tablename__ = "portal_reset"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    person_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


RESET: Table = PortalResetRow.__table__  # type: ignore[assignment]
LINKS = ResetLinks(RESET, "person_id", "prs_", PERSON, "email")


def request_reset(store: Store, settings: Settings, email: str, base_url: str, *, send: Send = send_mail) -> bool:
    """Mail a reset link when `email` is an active person (True), else do nothing (False); the caller answers
    the same either way. Raises ConfigError when the mail cannot be sent."""
    person = active_person(store, email)
    if person is None:
        return False
    with store.begin() as conn:
        token = LINKS.issue(conn, person.id)
    mail_link(send, settings, person.email, "Set a new password for the feed portal",
              f"{person.email} on the feed portal of {person.customer}", link_to(base_url, "/portal/reset", token))
    return True


def check_token(store: Store, token: str) -> str | None:
    """The e-mail of the active person an unused, unexpired link belongs to, else None."""
    with store.engine.connect() as conn:
        return LINKS.active_name(conn, token)


def redeem(store: Store, token: str, password: str) -> str | None:
    """Set the new password of the link's person and use the link up (one transaction; a link used or expired
    meanwhile changes nothing). Returns their e-mail, or None. InputError when the password is too short."""
    digest = hash_password(password)  # refuses a short one before anything is written
    with store.begin() as conn:
        done = LINKS.set_password(conn, token, digest)
    return done[1] if done else None
