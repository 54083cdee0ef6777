"""Tables of the web area: users, API tokens, and the history of value changes (who or what changed each
value, and when), failed sign-ins, staff browser sessions and staff password-reset links. Migrations:
0007_web, 0018_signin_failure, 0022_web_session, 0025_staff_email, 0044_signin_failure_account, 0048_web_draft
(value edits an ended session did not save, pim.web.drafts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table, Text
from sqlmodel import Field, SQLModel

from pim.store.tables import JSONType


class UserRow(SQLModel, table=True):
    __tablename__ = "web_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)  # viewer | editor | admin
    active: bool = True
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    #: optional, stored in lower case and unique: where a password-reset link goes (pim.web.staff_reset)
    email: str | None = Field(default=None, sa_column=Column(String(254), nullable=True, unique=True, index=True))


class ApiTokenRow(SQLModel, table=True):
    """Only the token's SHA-256 is stored; the token itself is shown once, when it is made."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(index=True)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class ValueHistoryRow(SQLModel, table=True):
    """One value change of one product: old and new data, who (user or source) and when."""

    __tablename__ = "value_history"
    __table_args__ = (Index("ix_value_history_product", "product", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    product: str = Field(sa_column=Column(String(255), nullable=False))
    value_key: str = Field(sa_column=Column(String(255), nullable=False))
    old: Any = Field(default=None, sa_column=Column(JSONType, nullable=True))
    new: Any = Field(default=None, sa_column=Column(JSONType, nullable=True))
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    source: str = Field(sa_column=Column(String(100), nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


SIGNIN_ACCOUNT_LENGTH = 254  # an e-mail address at most


class SignInFailureRow(SQLModel, table=True):
    """One failed sign-in (scope:address key, the account it named, epoch seconds): the throttle's counts,
    shared by every web process of a deployment and kept over restarts. Rows older than the throttle's window
    are deleted; a good sign-in deletes its own account's."""

    __tablename__ = "signin_failure"
    __table_args__ = (Index("ix_signin_failure_key_at", "key", "at"), Index("ix_signin_failure_at", "at"))

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(300), nullable=False))
    #: the user name or e-mail tried, "" for a token (pim.web.throttle)
    account: str = Field(default="", sa_column=Column(String(SIGNIN_ACCOUNT_LENGTH), nullable=False, server_default=""))
    at: float = Field(sa_column=Column(Float, nullable=False))


class WebSessionRow(SQLModel, table=True):
    """One staff browser session (pim.web.sessions): the cookie holds a random id, the row only its SHA-256.
    A session is good while its row exists and is not ended; rows are pruned at sign-in."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_last_seen_at", "last_seen_at"),
                      Index("ix_web_session_ended_at", "ended_at"))

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    user_agent: str = Field(default="", sa_column=Column(String(200), nullable=False))
    address: str = Field(default="", sa_column=Column(String(64), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class WebResetRow(SQLModel, table=True):
    """One mailed password-reset link of a staff user (pim.reset_links): only its SHA-256 is stored."""

    __tablename__ = "web_reset"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class WebDraftRow(SQLModel, table=True):
    """A value edit an ended or expired session did not save (pim.web.drafts): the form's fields as JSON, for its
    person only; the cookie holds a random id, the row its SHA-256. Rows expire after drafts.TTL."""

    __tablename__ = "web_draft"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(index=True)
    product: str = Field(sa_column=Column(String(255), nullable=False))
    value_key: str = Field(sa_column=Column(String(255), nullable=False))
    form: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


USER: Table = UserRow.__table__  # type: ignore[assignment]
TOKEN: Table = ApiTokenRow.__table__  # type: ignore[assignment]
HISTORY: Table = ValueHistoryRow.__table__  # type: ignore[assignment]
SIGNIN_FAILURE: Table = SignInFailureRow.__table__  # type: ignore[assignment]
WEB_SESSION: Table = WebSessionRow.__table__  # type: ignore[assignment]
WEB_RESET: Table = WebResetRow.__table__  # type: ignore[assignment]
WEB_DRAFT: Table = WebDraftRow.__table__  # type: ignore[assignment]
