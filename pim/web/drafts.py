"""Value edits an ended or expired session did not save, kept on the server (table `web_draft`) until their person
signs in again (pim.web.signin_return). They were kept in the signed session cookie, whose ~4 KB cut off a longer
description; a row holds any text up to MAX_CHARS.

A draft is reachable only with both halves: the random id in this browser's session cookie (the row stores its
SHA-256) and the person signed in being the one the draft was typed by. Rows expire after TTL and are pruned
when a draft is kept.

Whose a draft is: the ended session's cookie still says so; once the cookie itself has expired (12 h idle) the
browser no longer sends it, so a sign-in also sets OWNER_COOKIE, a signed user id that lives OWNER_MAX_AGE. It
lets nothing in: it only names whom a draft typed in this browser is for."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy import delete, insert, select

from pim.store.store import Store, as_utc, now
from pim.web.sessions import MAX_AGE, digest
from pim.web.tables import WEB_DRAFT as D

TTL = timedelta(seconds=MAX_AGE)  # a draft outlives the sign-in page it leads to by the session's own lifetime
MAX_CHARS = 200_000  # characters of a draft's fields (as JSON); a longer one is not kept, and the page says so
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
    return handle


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


def owner_of(request: Request) -> int | None:
    """The user OWNER_COOKIE names (who last signed in in this browser), or None."""
    signer, raw = _signer(request), request.cookies.get(OWNER_COOKIE)
    if signer is None or not raw:
        return None
    try:
        value = signer.unsign(raw, max_age=OWNER_MAX_AGE).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return int(value) if value.isdigit() else None


def set_owner(request: Request, response: Response, user_id: int) -> None:
    """Name `user_id` as this browser's drafts' person (a sign-in)."""
    signer = _signer(request)
    if signer is not None:
        response.set_cookie(OWNER_COOKIE, signer.sign(str(user_id)).decode(), max_age=OWNER_MAX_AGE, path="/",
                            httponly=True, samesite="lax",
                            secure=bool(getattr(request.app.state, "secure_cookies", False)))
