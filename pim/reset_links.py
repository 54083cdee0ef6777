"""The shared core of mailed password resets, for portal people (pim.portal_reset) and staff
(pim.web.staff_reset): a one-time link, valid for an hour, of which only the SHA-256 is stored; a newer link
voids the older ones of the same account; taking a link uses it up inside the caller's transaction, so the new
password and the used link are written together. Each area keeps its own table with the same columns
(token_hash, the account's id, created_at, expires_at, used_at) and says which column names the account."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from pim.mail import mail_configured
from pim.settings import Settings, get_settings
from pim.store.store import as_utc, now

if TYPE_CHECKING:
    from starlette.requests import Request

VALID_FOR = timedelta(hours=1)
log = logging.getLogger(__name__)

#: pim.mail.send_mail's shape, so tests and callers can swap the sender
Send = Callable[[Settings, str, str, str], None]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ResetLinks:
    """The reset links of one kind of account: `table` holds them, `owner` is its column with the account's id,
    `prefix` starts every token (so a token pasted somewhere says what it is for)."""

    table: Table
    owner: str
    prefix: str
    accounts: Table  #: whose links they are: `id`, `active` and `password_hash` columns
    name: str  #: the accounts' column a page names the account by (an e-mail, a user name)

    def active_name(self, conn: Connection, token: str) -> str | None:
        """The name of the active account an unused, unexpired link belongs to, else None."""
        owner = self.holder(conn, token)
        if owner is None:
            return None
        a = self.accounts
        name = conn.execute(select(a.c[self.name]).where(a.c.id == owner, a.c.active.is_(True))).scalar()
        return str(name) if name else None

    def set_password(self, conn: Connection, token: str, digest: str) -> tuple[int, str] | None:
        """Use the link up and give its active account the new password hash, in the caller's transaction;
        (account id, name), or None when the link or the account does not serve."""
        owner = self.take(conn, token)
        if owner is None:
            return None
        a = self.accounts
        name = conn.execute(update(a).where(a.c.id == owner, a.c.active.is_(True))
                            .values(password_hash=digest).returning(a.c[self.name])).scalar()
        return (owner, str(name)) if name else None

    def issue(self, conn: Connection, owner_id: int) -> str:
        """A new link's token for the account; the account's older links stop working."""
        t, token, at = self.table, self.prefix + secrets.token_urlsafe(32), now()
        conn.execute(delete(t).where(t.c[self.owner] == owner_id))
        conn.execute(insert(t).values({"token_hash": _digest(token), self.owner: owner_id, "created_at": at,
                                       "expires_at": at + VALID_FOR}))
        return token

    def holder(self, conn: Connection, token: str) -> int | None:
        """The account id of an unused, unexpired link, else None (whether the account may still sign in is the
        caller's question)."""
        t = self.table
        row = conn.execute(select(t.c[self.owner].label("owner"), t.c.expires_at)
                           .where(t.c.token_hash == _digest(token), t.c.used_at.is_(None))).first()
        if row is None or as_utc(row.expires_at) <= now():
            return None
        return int(row.owner)

    def take(self, conn: Connection, token: str) -> int | None:
        """Use the link up and return its account id; None when it is unknown, used or expired (also when a
        concurrent request took it first). The account's other links go as well."""
        owner = self.holder(conn, token)
        if owner is None:
            return None
        t = self.table
        taken = conn.execute(update(t).where(t.c.token_hash == _digest(token), t.c.used_at.is_(None))
                             .values(used_at=now()).execution_options(preserve_rowcount=True)).rowcount
        if taken != 1:
            return None
        conn.execute(delete(t).where(t.c[self.owner] == owner, t.c.token_hash != _digest(token)))
        return owner


def mail_link(send: Send, settings: Settings, to: str, subject: str, what: str, link: str) -> None:
    """The reset mail: `what` names the account and the place ("ana@x.example on the feed portal of ACME").
    Raises ConfigError when the mail cannot be sent."""
    send(settings, to, subject,
         f"Someone (hopefully you) asked to set a new password for {what}.\n\n"
         f"Open this link within an hour to choose one:\n{link}\n\n"
         "If you did not ask for it, ignore this mail: your password stays as it is.\n")


def link_to(base_url: str, path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{path}?token={token}"


# A Host header naming this machine, and nothing else: no user part, path or backslash can ride along into the link
_LOOPBACK_HOST = re.compile(r"(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?", re.IGNORECASE)
#: Headers a reverse proxy adds: a request carrying one came through a proxy, whatever Host it shows.
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")
NO_PUBLIC_URL = ("PIM_PUBLIC_URL is not set, so no password-reset mail is sent (except to requests made on this "
                 "machine to localhost, not through a proxy): a link built from the request's Host header would "
                 "point wherever the asker or the proxy says. Set PIM_PUBLIC_URL to the address people reach this "
                 "server at, e.g. https://pim.example.com")


def reset_base(settings: Settings, request: Request) -> str | None:
    """The base URL of a mailed reset link: PIM_PUBLIC_URL, never the request's Host header, which anyone can set
    (a link to their own server would hand them the token). Without it, only a request from this machine to a
    loopback name (a developer's own machine) gets a link, back to that loopback address; else None: no mail.
    A reverse proxy on the same host also connects from loopback, and often rewrites Host to 127.0.0.1 (nginx's
    `proxy_pass http://127.0.0.1:8000` does): a request carrying a proxy's header, or whose browser page
    (`Origin`, else `Referer`) is not on a loopback name, gets None too, not a link to the server's loopback."""
    if settings.public_url:
        return settings.public_url
    host, client = request.headers.get("host", ""), request.client.host if request.client else ""
    if _LOOPBACK_HOST.fullmatch(host) and _is_loopback(client) and not _proxied(request):
        return f"{request.url.scheme}://{host}"
    return None


def _proxied(request: Request) -> bool:
    """Whether the request shows signs of a proxy in front: its headers, or a page on another host than loopback."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return True
    page = request.headers.get("origin") or request.headers.get("referer")
    if not page or page == "null":
        return False
    return not _LOOPBACK_HOST.fullmatch(urlsplit(page).netloc)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def warn_without_public_url(settings: Settings) -> None:
    """Say once per process, in the server log, that reset mails need PIM_PUBLIC_URL (when mail is set up)."""
    if mail_configured(settings) and not settings.public_url:
        _warn_once()


@cache
def _warn_once() -> None:
    log.warning(NO_PUBLIC_URL)


@asynccontextmanager
async def warn_at_start(_app: Any) -> AsyncIterator[None]:
    """A router lifespan: the server says at start-up, not at a customer's first request, what reset mails lack."""
    warn_without_public_url(get_settings())
    yield
