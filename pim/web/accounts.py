"""Users, roles and API tokens. Passwords are hashed with argon2; API tokens are random and stored as their
SHA-256 only. Roles, from least to most: viewer (reads), editor (edits values, picks conflict winners),
admin (also structure and users). An account may have an e-mail address (unique, any case): where a
password-reset link goes (pim.web.staff_reset)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pim.errors import InputError
from pim.mail import email_key, normal_email
from pim.store.store import Store, now
from pim.web import sessions
from pim.web.tables import TOKEN, USER, WEB_RESET

ROLES = ("viewer", "editor", "admin")
ROLE_LABELS = {"viewer": "viewer", "editor": "content editor", "admin": "catalog admin"}
MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    stamp: str = ""  # changes with the password: a session begun under another one is over


    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


#: argon2 cost parameters; argon2-cffi's defaults (RFC 9106 low-memory profile) unless changed. Tests lower them.
HASH_PARAMS: dict[str, int] = {}


def _hasher():  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    return PasswordHasher(**HASH_PARAMS)


def hash_password(password: str) -> str:
    """The stored form of a new staff password, refused (InputError) when too short."""
    if len(password) < MIN_PASSWORD:
        raise InputError("password too short", field="password", hint=f"use at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def _email_or_none(email: str | None) -> str | None:
    return normal_email(email) if email and email.strip() else None


def _email_is_free(conn: Any, email: str | None, username: str) -> None:
    if email and conn.execute(select(USER.c.username).where(USER.c.email == email,
                                                            USER.c.username != username)).first():
        raise InputError(f"'{email}' is the e-mail of another user", field="email",
                         hint="each address belongs to one account; `pim users list` shows whose it is")


def add_user(store: Store, username: str, password: str, role: str = "editor", email: str | None = None) -> User:
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'", field="role", hint=f"use one of: {', '.join(ROLES)}")
    address, digest = _email_or_none(email), hash_password(password)
    try:
        with store.begin() as conn:
            if conn.execute(select(USER.c.id).where(USER.c.username == username)).first():
                raise InputError(f"user '{username}' exists", field="username")
            _email_is_free(conn, address, username)
            res = conn.execute(insert(USER).values(username=username, password_hash=digest, role=role, active=True,
                                                   created_at=now(), email=address))
            return User(int(res.inserted_primary_key[0]), username, role)
    except IntegrityError:  # the same name or address, added at the same moment elsewhere
        taken = f"user '{username}' or the address '{address}'" if address else f"user '{username}'"
        raise InputError(f"{taken} exists", field="username") from None


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from; None (no such account) costs the same
    hashing work, so a sign-in does not tell which accounts exist. Staff and portal accounts share it."""
    from argon2.exceptions import VerificationError

    if password_hash is None:
        _hasher().hash(password)
        return False
    try:
        return bool(_hasher().verify(password_hash, password))
    except VerificationError:
        return False


def password_stamp(password_hash: str) -> str:
    """Changes with the password: a session that began under another one is over."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def authenticate(store: Store, username: str, password: str) -> User | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(USER).where(USER.c.username == username, USER.c.active.is_(True))).first()
    if not password_matches(row.password_hash if row else None, password):
        return None
    return User(row.id, row.username, row.role, password_stamp(row.password_hash))


def get_user(store: Store, user_id: int) -> User | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(USER).where(USER.c.id == user_id, USER.c.active.is_(True))).first()
    return User(row.id, row.username, row.role, password_stamp(row.password_hash)) if row else None


def list_users(store: Store) -> list[dict[str, object]]:
    """Every account with its role, whether it may sign in, and how many API tokens it holds."""
    from sqlalchemy import func

    with store.engine.connect() as conn:
        tokens = dict(conn.execute(select(TOKEN.c.user_id, func.count()).group_by(TOKEN.c.user_id)).all())
        rows = conn.execute(select(USER.c.id, USER.c.username, USER.c.email, USER.c.role, USER.c.active,
                                   USER.c.created_at).order_by(USER.c.username)).all()
    return [{"username": r.username, "email": r.email, "role": r.role, "active": r.active,
             "created_at": r.created_at, "tokens": tokens.get(r.id, 0)} for r in rows]


def active_by_email(store: Store, email: str) -> tuple[int, str, str] | None:
    """(id, user name, address) of the active account with this e-mail (any case), else None."""
    with store.engine.connect() as conn:
        row = conn.execute(select(USER.c.id, USER.c.username, USER.c.email).where(
            USER.c.email == email_key(email), USER.c.active.is_(True))).first()
    return (row.id, row.username, row.email) if row else None


def _account(conn: Any, username: str) -> Any:
    row = conn.execute(select(USER).where(USER.c.username == username)).first()
    if row is None:
        raise InputError(f"no user '{username}'", field="username", hint="`pim users list` shows the accounts")
    return row


def _keeps_an_admin(conn: Any, username: str) -> None:
    """Refuse to leave the catalog without an active admin (no one could manage users any more)."""
    from sqlalchemy import func

    others = conn.execute(select(func.count()).select_from(USER).where(
        USER.c.role == "admin", USER.c.active.is_(True), USER.c.username != username)).scalar_one()
    if not others:
        raise InputError(f"'{username}' is the last active admin", field="username",
                         hint="make another user admin first")


def set_password(store: Store, username: str, password: str) -> None:
    """A new password: every session the user has open ends (their API tokens stay)."""
    digest = hash_password(password)
    with store.begin() as conn:
        row = _account(conn, username)
        conn.execute(update(USER).where(USER.c.username == username).values(password_hash=digest))
        sessions.end_all(conn, row.id)


def set_email(store: Store, username: str, email: str | None) -> str | None:
    """Set, change or (None, empty) remove the user's address; returns it as stored. Reset links already sent,
    to the old address, stop working."""
    address = _email_or_none(email)
    try:
        with store.begin() as conn:
            row = _account(conn, username)
            _email_is_free(conn, address, username)
            conn.execute(update(USER).where(USER.c.id == row.id).values(email=address))
            if address != row.email:
                conn.execute(delete(WEB_RESET).where(WEB_RESET.c.user_id == row.id))
    except IntegrityError:  # taken at the same moment elsewhere
        raise InputError(f"'{address}' is the e-mail of another user", field="email") from None
    return address


def set_role(store: Store, username: str, role: str) -> None:
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'", field="role", hint=f"use one of: {', '.join(ROLES)}")
    with store.begin() as conn:
        row = _account(conn, username)
        if row.role == "admin" and role != "admin" and row.active:
            _keeps_an_admin(conn, username)
        conn.execute(update(USER).where(USER.c.username == username).values(role=role))


def set_active(store: Store, username: str, active: bool) -> None:
    """Disable (sessions and API tokens stop working at once) or enable an account."""
    with store.begin() as conn:
        row = _account(conn, username)
        if not active and row.role == "admin" and row.active:
            _keeps_an_admin(conn, username)
        conn.execute(update(USER).where(USER.c.username == username).values(active=active))
        if not active:
            sessions.end_all(conn, row.id)
            conn.execute(delete(WEB_RESET).where(WEB_RESET.c.user_id == row.id))  # no link revives on enabling


def end_sessions(store: Store, username: str) -> int:
    """End every open browser session of the user (they sign in again; API tokens stay); returns how many."""
    with store.begin() as conn:
        return sessions.end_all(conn, _account(conn, username).id)


def revoke_tokens(store: Store, username: str) -> int:
    """Delete every API token of the user; returns how many there were."""
    with store.begin() as conn:
        row = _account(conn, username)
        return conn.execute(delete(TOKEN).where(TOKEN.c.user_id == row.id)).rowcount or 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, user: User, label: str = "") -> str:
    token = "pim_" + secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(insert(TOKEN).values(token_hash=_digest(token), user_id=user.id, label=label, created_at=now()))
    return token


def user_for_token(store: Store, token: str) -> User | None:
    digest = _digest(token)
    with store.begin() as conn:
        row = conn.execute(select(TOKEN.c.user_id).where(TOKEN.c.token_hash == digest)).first()
        if row is None:
            return None
        conn.execute(update(TOKEN).where(TOKEN.c.token_hash == digest).values(last_used_at=now()))
    return get_user(store, row.user_id)
