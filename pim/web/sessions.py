"""The registry of staff browser sessions (table `web_session`), so that one session can be listed and ended on
its own ("I left myself signed in on the warehouse PC"). The signed cookie holds a random session id; the table
holds only its SHA-256, like API tokens. A session is good while its row exists and is not ended; the password
stamp in the cookie is checked as well (pim.web.deps.session_user). Bearer tokens do not use it. The portal's
browser sessions (pim.portal_sessions) keep a table of the same shape and use the helpers that take a `table`."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from pim.store.store import Store, as_utc, now
from pim.web.tables import USER
from pim.web.tables import WEB_SESSION as S

MAX_AGE = 12 * 3600  # seconds: the session cookie's max_age (pim.web.app) and how long a row lives
TOUCH_EVERY = 60  # seconds: last_seen_at is written at most this often per session
#: not seen for this long: the cookie has expired (it is re-signed on each response, at most TOUCH_EVERY after
#: the last written last_seen_at), so the session cannot come back
EXPIRED_AFTER = timedelta(seconds=MAX_AGE + TOUCH_EVERY)


@dataclass(frozen=True)
class Held:
    """An open session found by its cookie id, with its user's account (one indexed lookup)."""

    id: int
    user_id: int
    last_seen_at: datetime
    username: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class OpenSession:
    """One row of the "Your sessions" list."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    address: str
    current: bool


def digest(sid: str) -> str:
    """What a session table stores of a cookie's session id."""
    return hashlib.sha256(sid.encode()).hexdigest()


def start(store: Store, user_id: int, user_agent: str, address: str) -> str:
    """Register a new session and return its id for the cookie; rows long ended or expired go at the same time."""
    return begin(store, S, user_id=user_id, user_agent=user_agent[:200], address=address[:64])


def begin(store: Store, table: Table, **values: Any) -> str:
    """A new row of a session table (`values`: its own columns) and its id for the cookie; `table`'s rows long
    ended or expired go in the same transaction."""
    sid, at = secrets.token_urlsafe(32), now()
    with store.begin() as conn:
        prune(conn, at, table)
        conn.execute(insert(table).values(token_hash=digest(sid), created_at=at, last_seen_at=at, **values))
    return sid


def prune(conn: Connection, at: datetime, table: Table = S) -> int:
    """Delete rows ended, or last seen, longer than the cookie's max_age ago: nothing can use them any more."""
    ended, c = at - timedelta(seconds=MAX_AGE), table.c
    return conn.execute(delete(table).where(or_(c.ended_at < ended, c.last_seen_at < at - EXPIRED_AFTER))).rowcount or 0


def held(store: Store, sid: Any) -> Held | None:
    """The open session with this cookie id and its (active) user, or None."""
    if not isinstance(sid, str) or not sid:
        return None
    query = (select(S.c.id, S.c.user_id, S.c.last_seen_at, USER.c.username, USER.c.role, USER.c.password_hash)
             .join(USER, USER.c.id == S.c.user_id)
             .where(S.c.token_hash == digest(sid), S.c.ended_at.is_(None), USER.c.active.is_(True)))
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return Held(row.id, row.user_id, as_utc(row.last_seen_at), row.username, row.role, row.password_hash) if row else None


def touch(store: Store, session: Any, table: Table = S) -> None:
    """Note that the session (its `id` and `last_seen_at`) was used; writes only when the stored time is older
    than TOUCH_EVERY, and the condition is repeated in SQL so that concurrent requests write once."""
    at = now()
    cutoff = at - timedelta(seconds=TOUCH_EVERY)
    if session.last_seen_at > cutoff:
        return
    with store.begin() as conn:
        conn.execute(update(table).where(table.c.id == session.id, table.c.last_seen_at < cutoff)
                     .values(last_seen_at=at))


def _open(at: datetime) -> Any:
    return (S.c.ended_at.is_(None)) & (S.c.last_seen_at >= at - EXPIRED_AFTER)


def open_sessions(store: Store, user_id: int, current: int | None = None) -> list[OpenSession]:
    """The user's open sessions, most recently used first; `current` (this browser's) is marked."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(S).where(S.c.user_id == user_id, _open(now()))
                            .order_by(S.c.last_seen_at.desc(), S.c.id.desc())).all()
    return [OpenSession(r.id, as_utc(r.created_at), as_utc(r.last_seen_at), r.user_agent, r.address, r.id == current)
            for r in rows]


def open_counts(store: Store) -> dict[str, int]:
    """Open sessions per user name (the admins' users page)."""
    query = (select(USER.c.username, func.count()).select_from(S).join(USER, USER.c.id == S.c.user_id)
             .where(_open(now())).group_by(USER.c.username))
    with store.engine.connect() as conn:
        return {name: count for name, count in conn.execute(query).all()}


def end(store: Store, user_id: int, session_id: int) -> bool:
    """End one of the user's own open sessions; False when it is not theirs, or not open."""
    with store.begin() as conn:
        return bool(conn.execute(update(S).where(S.c.id == session_id, S.c.user_id == user_id, S.c.ended_at.is_(None))
                                 .values(ended_at=now())).rowcount)


def end_held(store: Store, sid: Any, table: Table = S) -> None:
    """End the session with this cookie id (sign-out), if it is open."""
    if isinstance(sid, str) and sid:
        with store.begin() as conn:
            conn.execute(update(table).where(table.c.token_hash == digest(sid), table.c.ended_at.is_(None))
                         .values(ended_at=now()))


def end_all(conn: Connection, user_id: int, keep: int | None = None) -> int:
    """End every open session of the user but `keep`; runs in the caller's transaction (a password change,
    disabling the account). Returns how many ended."""
    at = now()
    query = update(S).where(S.c.user_id == user_id, _open(at))
    if keep is not None:
        query = query.where(S.c.id != keep)
    return conn.execute(query.values(ended_at=at)).rowcount or 0
