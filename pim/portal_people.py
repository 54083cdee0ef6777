"""People at a customer who sign in to the feed portal with their own e-mail and password, so that one person
can be let go (disabled) without revoking the customer's token that their scripts use, and a password is
never shared around an office. Passwords are hashed with argon2 like staff accounts (pim.web.accounts).

A portal session of a person keeps the person's id and a stamp derived from the password hash: a disabled
person, or one whose password was changed, is signed out at their next request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, insert, select, update
from sqlmodel import Field, SQLModel

from pim.errors import InputError
from pim.mail import email_key, normal_email
from pim.store.store import Store, now
from pim.web.accounts import _hasher, password_matches, password_stamp

MIN_PASSWORD = 10


class PortalPersonRow(SQLModel, table=True):
    __tablename__ = "portal_person"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True, index=True))
    customer: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    active: bool = Field(sa_column=Column(Boolean, nullable=False, default=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_sign_in_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


PERSON: Table = PortalPersonRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    customer: str
    stamp: str  # changes with the password: a session holding an old stamp is signed out


def _person(row: Any) -> Person:
    return Person(row.id, row.email, row.customer, password_stamp(row.password_hash))


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError("password too short", field="password", hint=f"use at least {MIN_PASSWORD} characters")
    return password


def check_customer(store: Store, customer: str) -> None:
    """Refuse (InputError) a customer code that no contract names and no delivered file belongs to: a token or a
    person for it would open an empty portal, most likely for a mistyped code (`CUST_0000` for `cust_0000`).
    The refusal is pim.feed_customers.check_customer_code's: its "did you mean" names every case variant and
    prefers a customer a contract names now (the admins' portal page and `pim feeds person add` say the same)."""
    from pim.feed_customers import check_customer_code  # here: feed_customers reads the tables this module does

    check_customer_code(store, customer)


def add_person(store: Store, customer: str, email: str, password: str, *, force: bool = False) -> Person:
    """A person's portal sign-in; a customer code no contract names is refused unless `force` (check_customer)."""
    email, customer = normal_email(email), customer.strip()
    if not customer:
        raise InputError("no customer given", field="customer", hint="use the customer code of the contracts")
    if not force:
        check_customer(store, customer)
    digest = _hasher().hash(_checked_password(password))
    with store.begin() as conn:
        if conn.execute(select(PERSON.c.id).where(PERSON.c.email == email)).first():
            raise InputError(f"'{email}' already has a portal account", field="email",
                             hint="`pim feeds person password EMAIL` sets a new password")
        res = conn.execute(insert(PERSON).values(email=email, customer=customer, password_hash=digest, active=True,
                                                 created_at=now()))
        return Person(int(res.inserted_primary_key[0]), email, customer, password_stamp(digest))


def set_password(store: Store, email: str, password: str) -> bool:
    """A new password; the person's open sessions end. False when there is no such person."""
    digest = hash_password(password)
    with store.begin() as conn:
        return bool(conn.execute(update(PERSON).where(PERSON.c.email == normal_email(email))
                                 .values(password_hash=digest)).rowcount)


def hash_password(password: str) -> str:
    """The stored form of a new password, refused (InputError) when too short."""
    return _hasher().hash(_checked_password(password))


def active_person(store: Store, email: str) -> Person | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(PERSON).where(PERSON.c.email == email_key(email),
                                                PERSON.c.active.is_(True))).first()
    return _person(row) if row else None


def set_active(store: Store, email: str, active: bool) -> bool:
    """Disable (sessions end at once) or enable a person. False when there is no such person."""
    with store.begin() as conn:
        return bool(conn.execute(update(PERSON).where(PERSON.c.email == normal_email(email))
                                 .values(active=active)).rowcount)


def people(store: Store, customer: str | None = None) -> list[dict[str, Any]]:
    q = select(PERSON.c.email, PERSON.c.customer, PERSON.c.active, PERSON.c.created_at, PERSON.c.last_sign_in_at)
    if customer is not None:
        q = q.where(PERSON.c.customer == customer)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(PERSON.c.customer, PERSON.c.email))]


def authenticate_person(store: Store, email: str, password: str) -> Person | None:
    """The active person with this e-mail and password, else None (the same hashing work either way)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(PERSON).where(PERSON.c.email == email_key(email),
                                                PERSON.c.active.is_(True))).first()
    if not password_matches(row.password_hash if row else None, password):
        return None
    with store.begin() as conn:
        conn.execute(update(PERSON).where(PERSON.c.id == row.id).values(last_sign_in_at=now()))
    return _person(row)


def person_for_session(store: Store, person_id: int, stamp: str) -> Person | None:
    """The person a portal session names, while active and with the password the session began with."""
    with store.engine.connect() as conn:
        row = conn.execute(select(PERSON).where(PERSON.c.id == person_id, PERSON.c.active.is_(True))).first()
    if row is None or password_stamp(row.password_hash) != stamp:
        return None
    return _person(row)
