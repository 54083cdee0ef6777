"""Sign-in throttling: after too many failed sign-ins from one client address within a window, further attempts
are refused (HTTP 429 with Retry-After) until the window has moved on. Guards the staff login, the portal
sign-in page and the portal API's tokens against guessing. Each failure notes the account it named (the user
name or e-mail tried; "" for a token), and a good sign-in clears only its own account's failures: signing in
to one's own account between guesses at someone else's does not reset the address's count. The app counts in
the database (`StoredThrottle`), so several server processes behind one address share one count and a restart
does not clear it; `FailureThrottle` counts in memory (one process, or tests)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from threading import Lock

from typing import Any, Protocol

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import delete, insert, select

from pim.web.tables import SIGNIN_ACCOUNT_LENGTH as ACCOUNT_LENGTH
from pim.web.tables import SIGNIN_FAILURE as F

ATTEMPTS = 10  # failed sign-ins allowed per address and window
WINDOW_SECONDS = 300.0


class Throttle(Protocol):
    """`key` is scope:address, counted as a whole; `account` the one a failure named, or a success signed in to."""

    def wait_seconds(self, key: str) -> int: ...
    def failed(self, key: str, account: str = "") -> None: ...
    def succeeded(self, key: str, account: str = "") -> None: ...


class FailureThrottle:
    """In memory, per process."""

    def __init__(self, attempts: int = ATTEMPTS, window: float = WINDOW_SECONDS, clock=time.monotonic) -> None:
        self.attempts, self.window, self.clock = attempts, window, clock
        self._failures: dict[str, deque[tuple[float, str]]] = {}  # key → (time, account), oldest first
        self._lock = Lock()

    def wait_seconds(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        with self._lock:
            recent = self._recent(key)
            if len(recent) < self.attempts:
                return 0
            return max(1, int(recent[0][0] + self.window - self.clock()) + 1)

    def failed(self, key: str, account: str = "") -> None:
        with self._lock:
            self._recent(key).append((self.clock(), account))
            if len(self._failures) > 50_000:  # many addresses: forget those with nothing recent
                for k in [k for k, q in self._failures.items() if not q or q[-1][0] < self.clock() - self.window]:
                    del self._failures[k]

    def succeeded(self, key: str, account: str = "") -> None:
        with self._lock:
            kept = deque(f for f in self._failures.get(key, ()) if f[1] != account)
            if kept:
                self._failures[key] = kept
            else:
                self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[tuple[float, str]]:
        q = self._failures.setdefault(key, deque())
        cutoff = self.clock() - self.window
        while q and q[0][0] < cutoff:
            q.popleft()
        return q


class StoredThrottle:
    """The same rule over the `signin_failure` table: one row per failure (key, account, epoch seconds from
    `clock`: wall time, comparable across hosts). A good sign-in reads before it deletes, so signed-in API
    traffic does not write."""

    def __init__(self, store: Any, attempts: int = ATTEMPTS, window: float = WINDOW_SECONDS,
                 clock=time.time) -> None:
        self.store, self.attempts, self.window, self.clock = store, attempts, window, clock

    def wait_seconds(self, key: str) -> int:
        now = self.clock()
        with self.store.engine.connect() as conn:
            recent = list(conn.execute(select(F.c.at).where(F.c.key == key, F.c.at > now - self.window)
                                       .order_by(F.c.at.desc()).limit(self.attempts)).scalars())
        if len(recent) < self.attempts:
            return 0
        return max(1, int(recent[-1] + self.window - now) + 1)

    def failed(self, key: str, account: str = "") -> None:
        now = self.clock()
        with self.store.begin() as conn:
            conn.execute(insert(F).values(key=key, account=account[:ACCOUNT_LENGTH], at=now))
            conn.execute(delete(F).where(F.c.at < now - self.window))

    def succeeded(self, key: str, account: str = "") -> None:
        own = (F.c.key == key) & (F.c.account == account[:ACCOUNT_LENGTH])
        with self.store.engine.connect() as conn:
            if conn.execute(select(F.c.id).where(own).limit(1)).first() is None:
                return
        with self.store.begin() as conn:
            conn.execute(delete(F).where(own))


def _throttle_of(request: Request, store: Any = None) -> Throttle:
    """The app's throttle (created on first use): counts in the app's database."""
    state = request.app.state
    throttle = getattr(state, "signin_throttle", None)
    if throttle is None:
        store = store if store is not None else getattr(state, "store", None)
        throttle = state.signin_throttle = StoredThrottle(store) if store is not None else FailureThrottle()
    return throttle


@dataclass
class SignInAttempt:
    """One sign-in from one client address in one scope (staff, api, portal) naming `account` (None: a token,
    which names none): `wait` > 0 means refuse it."""

    throttle: Throttle
    key: str
    wait: int
    account: str | None = None

    def failed(self) -> None:
        self.throttle.failed(self.key, self.account or "")

    def succeeded(self) -> None:
        """Clears this account's failures from this address, no others: a good token clears none (its
        failures were guesses at other customers' tokens)."""
        if self.account is not None:
            self.throttle.succeeded(self.key, self.account)

    @property
    def message(self) -> str:
        minutes = max(1, round(self.wait / 60))
        return (f"Too many failed sign-ins from your address. Try again in about {minutes} minute"
                f"{'s' if minutes != 1 else ''}, or ask an administrator if you have lost your credentials.")

    def refused_page(self, page: Response) -> Response:
        """A sign-in page carrying `message`, answered as 429."""
        page.status_code, page.headers["Retry-After"] = 429, str(self.wait)
        return page

    def refused(self) -> HTTPException:
        return HTTPException(429, self.message, headers={"Retry-After": str(self.wait)})


def sign_in_attempt(request: Request, scope: str, store: Any = None, account: str | None = None) -> SignInAttempt:
    """`store`: where the counts live when the app holds none of its own (the portal app on its own);
    `account`: the user name or e-mail tried, as the sign-in looks it up (None for a token)."""
    throttle = _throttle_of(request, store)
    key = f"{scope}:{request.client.host if request.client else 'unknown'}"
    return SignInAttempt(throttle, key, throttle.wait_seconds(key), account)
