"""Value edits an ended or expired session did not save, kept on the server (table `web_draft`) until their person
signs in again (pim.web.signin_return). They were kept in the signed session cookie, whose ~4 KB cut off a longer
description; a row holds any text up to MAX_CHARS.

A draft is reachable only with both halves: the random id in this browser's session cookie (the row stores its
SHA-256) and the person signed in being the one the draft was typed by. Rows expire after TTL and are pruned
when a draft is kept and by every `pim maintain` pass (prune_expired); a person holds at most MAX_PER_USER
drafts (a new one replaces their oldest), so a cookie replayed many times fills no database.

Whose a draft is: the ended session's cookie still says so; once the cookie itself has expired (12 h idle) the
browser no longer sends it, so a sign-in also sets OWNER_COOKIE, a signed user id and password stamp that lives
OWNER_MAX_AGE. It lets nothing in: it only names whom a draft typed in this browser is for, and only while that
account is active and its password the one signed in with (`person`): a password change or switching the
account off revokes it."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy import delete, func, insert, select

from pim.store.store import Store, as_utc, now
from pim.web.accounts import get_user
from pim.web.sessions import MAX_AGE, digest
from pim.web.tables import WEB_DRAFT as D

TTL = timedelta(seconds=MAX_AGE)  # a draft outlives the sign-in page it leads to by the session's own lifetime
MAX_CHARS = 200_000  # characters of a draft's field names and values; a longer one is not kept, and the page says so
MAX_PER_USER = 5  # a person's drafts (one per browser is live: each browser's next draft replaces its last)
OWNER_COOKIE = "pim_draft_owner"
OWNER_MAX_AGE = 30 * 24 * 3600  # seconds: a tab left open over a long weekend still finds whose its save was
_SALT = "pim.web.drafts.owner"


def keep(store: Store, user_id: int, product: str, key: str, pairs: list[list[str]], replaces: Any = None) -> str:
    """Store a draft for `user_id` and return the id the session cookie holds; `replaces` (the id of this
    browser's earlier draft) and expired drafts go in the same transaction."""
    handle, at = secrets.token_urlsafe(32), now()
    with store.begin() as conn:
        conn.execute(delete(D).where(D.c.created_at < at - TTL))
        if isinstance(replaces, str) and replaces:
            conn.execute(delete(D).where(D.c.token_hash == digest(replaces)))
        conn.execute(insert(D).values(token_hash=digest(handle), user_id=user_id, product=product[:255],
                                      value_key=key[:255], form=json.dumps(pairs), created_at=at))
        over = conn.execute(select(D.c.id).where(D.c.user_id == user_id).order_by(
            D.c.created_at.desc(), D.c.id.desc()).offset(MAX_PER_USER)).scalars().all()
        if over:  # the person's oldest beyond MAX_PER_USER go
            conn.execute(delete(D).where(D.c.id.in_(over)))
    return handle


def prune_expired(store: Store, at: datetime | None = None, dry_run: bool = False) -> int:
    """Delete the drafts older than TTL (no one can take them any more); how many went (or would)."""
    cut = (at or now()) - TTL
    with store.begin() as conn:
        if dry_run:
            return int(conn.execute(select(func.count()).select_from(D).where(D.c.created_at < cut)).scalar_one())
        return int(conn.execute(delete(D).where(D.c.created_at < cut)).rowcount or 0)


def take(store: Store, handle: Any, user_id: int, product: str) -> list[tuple[str, str]] | None:
    """The draft's form fields, when `handle` names an unexpired draft of `user_id` on `product`; the row is
    deleted whatever it holds (a draft is shown once, and a page opened instead of its own leaves it)."""
    if not isinstance(handle, str) or not handle:
        return None
    with store.begin() as conn:
        row = conn.execute(select(D).where(D.c.token_hash == digest(handle))).first()
        if row is None:
            return None
        conn.execute(delete(D).where(D.c.id == row.id))
    if row.user_id != user_id or row.product != product or as_utc(row.created_at) < now() - TTL:
        return None
    try:
        return [(str(k), str(v)) for k, v in json.loads(row.form)]
    except (ValueError, TypeError):
        return None


def drop(store: Store, handle: Any) -> None:
    """Delete the draft with this id (another person signed in in its browser)."""
    if isinstance(handle, str) and handle:
        with store.begin() as conn:
            conn.execute(delete(D).where(D.c.token_hash == digest(handle)))


def _signer(request: Request) -> TimestampSigner | None:
    secret = getattr(request.app.state, "secret_key", None)
    return TimestampSigner(str(secret), salt=_SALT) if secret else None


def owner_of(request: Request) -> tuple[int, str] | None:
    """The user id and password stamp OWNER_COOKIE names (who last signed in in this browser), or None; whether
    they still hold is `person`'s to say."""
    signer, raw = _signer(request), request.cookies.get(OWNER_COOKIE)
    if signer is None or not raw:
        return None
    try:
        value = signer.unsign(raw, max_age=OWNER_MAX_AGE).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    uid, _, stamp = value.partition(":")
    return (int(uid), stamp) if uid.isdigit() and stamp else None  # an unstamped (older) cookie names no one


def person(store: Store, user_id: Any, stamp: Any) -> int | None:
    """`user_id` when that account is active and `stamp` is its password's (pim.web.accounts.password_stamp):
    whom a draft may be kept for. A switched-off account, or a password changed since, keeps none."""
    if not isinstance(user_id, int) or not isinstance(stamp, str) or not stamp:
        return None
    user = get_user(store, user_id)
    return user_id if user is not None and secrets.compare_digest(user.stamp, stamp) else None


def set_owner(request: Request, response: Response, user_id: int, stamp: str | None = None) -> None:
    """Name `user_id` as this browser's drafts' person (a sign-in), bound to its password stamp (`stamp`, else the
    one the new session holds)."""
    signer = _signer(request)
    stamp = stamp or request.session.get("stamp")
    if signer is not None and isinstance(stamp, str) and stamp:
        response.set_cookie(OWNER_COOKIE, signer.sign(f"{user_id}:{stamp}").decode(), max_age=OWNER_MAX_AGE,
                            path="/", httponly=True, samesite="lax",
                            secure=bool(getattr(request.app.state, "secure_cookies", False)))
