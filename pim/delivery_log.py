"""What the feeds area remembers: per-contract watermarks (advanced only after a confirmed delivery), the
feed files built, every delivery attempt (the delivery log), and the portal's hashed customer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, String, Table, Text, insert, select, update
from sqlmodel import Field, SQLModel

from pim.store.store import Store, now
from pim.store.tables import JSONType


class WatermarkRow(SQLModel, table=True):
    __tablename__ = "feed_watermark"

    contract: str = Field(sa_column=Column(String(100), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    prices_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    contract_digest: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    delivered: list[str] = Field(sa_column=Column(JSONType, nullable=False))  # SKUs the customer now holds
    delivered_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # What the channel's gate read of the structure then (pim.gate.gate_digest); NULL before migration 0039
    gate_digest: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    # The assortment's SKUs the gate then blocked for a value another product shares (a duplicate GTIN), whose
    # verdict moves with that product's writes (pim.feed_deltas); NULL before migration 0041
    gate_held: list[str] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))


class FeedFileRow(SQLModel, table=True):
    __tablename__ = "feed_file"

    id: int | None = Field(default=None, primary_key=True)
    contract: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    customer: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(255), nullable=False))
    path: str = Field(sa_column=Column(String(1000), nullable=False))
    format: str = Field(sa_column=Column(String(20), nullable=False))
    kind: str = Field(sa_column=Column(String(30), nullable=False))  # full | delta_products | delta_prices
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    rows: int = Field(sa_column=Column(Integer, nullable=False))
    generated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False))  # built | delivered | failed | dry-run | held
    portal: bool = Field(sa_column=Column(Boolean, nullable=False, default=False))
    # The text encoding a CSV was written in (the contract's csv.encoding then), so the portal serves its charset;
    # NULL for other formats and for files recorded before migration 0042
    encoding: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    # The delivery version the file carries and the one it follows (the contract's delivery counter, as in its
    # manifest); NULL for files recorded before migration 0045
    version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    previous_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


class DeliveryRow(SQLModel, table=True):
    """The delivery log: one row per target per delivery, with its outcome."""

    __tablename__ = "feed_delivery"

    id: int | None = Field(default=None, primary_key=True)
    contract: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    file_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    file: str = Field(sa_column=Column(String(255), nullable=False))
    target: str = Field(sa_column=Column(String(500), nullable=False))
    checksum: str = Field(sa_column=Column(String(64), nullable=False))
    rows: int = Field(sa_column=Column(Integer, nullable=False))
    attempts: int = Field(sa_column=Column(Integer, nullable=False, default=0))
    started: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # running | delivered | failed | held | cancelled | interrupted (its run's process died: pim.feed_claims)
    status: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Products of the assortment the build left out, by reason (pim.feeds.LEFT_OUT): {"gate": 3, "no_price": 1}
    left_out: dict[str, int] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))


class PortalTokenRow(SQLModel, table=True):
    __tablename__ = "portal_token"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    customer: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked: bool = Field(sa_column=Column(Boolean, nullable=False, default=False))


class FeedClaimRow(SQLModel, table=True):
    """Which `pim feeds deliver --due` run is sending a contract right now (pim.feed_schedule: claim, release)."""

    __tablename__ = "feed_claim"

    contract: str = Field(sa_column=Column(String(100), primary_key=True))
    holder: str = Field(sa_column=Column(String(255), nullable=False))  # host:pid:random of the run
    held_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


WATERMARK: Table = WatermarkRow.__table__  # type: ignore[assignment]
FEED_FILE: Table = FeedFileRow.__table__  # type: ignore[assignment]
DELIVERY: Table = DeliveryRow.__table__  # type: ignore[assignment]
TOKEN: Table = PortalTokenRow.__table__  # type: ignore[assignment]
CLAIM: Table = FeedClaimRow.__table__  # type: ignore[assignment]


@dataclass
class Watermark:
    contract: str
    seq: int
    prices_at: datetime
    contract_digest: str
    version: int
    delivered: list[str]
    gate_digest: str | None = None
    gate_held: list[str] | None = None


def get_watermark(store: Store, contract: str) -> Watermark | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(WATERMARK).where(WATERMARK.c.contract == contract)).first()
    if row is None:
        return None
    m = row._mapping
    return Watermark(m["contract"], m["seq"], m["prices_at"], m["contract_digest"], m["version"], list(m["delivered"]),
                     m["gate_digest"], m["gate_held"])


def advance_watermark(store: Store, wm: Watermark) -> None:
    """Called only after every target confirmed the delivery."""
    with store.begin() as conn:
        store.upsert_rows(conn, WATERMARK, [{
            "contract": wm.contract, "seq": wm.seq, "prices_at": wm.prices_at, "contract_digest": wm.contract_digest,
            "version": wm.version, "delivered": wm.delivered, "delivered_at": now(), "gate_digest": wm.gate_digest,
            "gate_held": wm.gate_held,
        }], ["contract"])


def record_file(store: Store, **values: Any) -> int:
    with store.begin() as conn:
        return int(conn.execute(insert(FEED_FILE).values(**values)).inserted_primary_key[0])


def set_file_status(store: Store, file_id: int, status: str, *, portal: bool | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if portal is not None:
        values["portal"] = portal
    with store.begin() as conn:
        conn.execute(update(FEED_FILE).where(FEED_FILE.c.id == file_id).values(**values))


_SERVED = (FEED_FILE.c.portal.is_(True), FEED_FILE.c.status == "delivered")  # what the portal lists and serves


def feed_files(store: Store, *, customer: str | None = None, portal_only: bool = False, contract: str | None = None,
               before: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Feed files, newest first, at most `limit`: of one customer and one contract when given, only those older
    than the file id `before` (the cursor of a page), only what the portal serves with `portal_only`. Every
    condition is in the query, so a filter never works on an already cut list."""
    q = select(FEED_FILE).order_by(FEED_FILE.c.id.desc()).limit(limit)
    if customer is not None:
        q = q.where(FEED_FILE.c.customer == customer)
    if contract is not None:
        q = q.where(FEED_FILE.c.contract == contract)
    if before is not None:
        q = q.where(FEED_FILE.c.id < before)
    if portal_only:
        q = q.where(*_SERVED)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def portal_contracts(store: Store, customer: str) -> list[str]:
    """The contracts the portal serves `customer` files of (a deleted contract's files stay until pruned)."""
    q = select(FEED_FILE.c.contract).where(FEED_FILE.c.customer == customer, *_SERVED).distinct()
    with store.engine.connect() as conn:
        return sorted(conn.execute(q).scalars())


def newest_full(store: Store, customer: str, contract: str) -> dict[str, Any] | None:
    """The newest full feed of the contract the portal serves `customer`: where they start again from."""
    q = (select(FEED_FILE).where(FEED_FILE.c.customer == customer, FEED_FILE.c.contract == contract,
                                 FEED_FILE.c.kind == "full", *_SERVED).order_by(FEED_FILE.c.id.desc()).limit(1))
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def feed_file(store: Store, file_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(FEED_FILE).where(FEED_FILE.c.id == file_id)).first()
    return dict(row._mapping) if row else None


def log_start(store: Store, *, contract: str, file_id: int | None, file: str, target: str, checksum: str, rows: int,
              left_out: dict[str, int] | None = None) -> int:
    with store.begin() as conn:
        res = conn.execute(insert(DELIVERY).values(
            contract=contract, file_id=file_id, file=file, target=target, checksum=checksum, rows=rows,
            attempts=0, started=now(), status="running", left_out=left_out))
        return int(res.inserted_primary_key[0])


def log_held(store: Store, *, contract: str, file_id: int | None, file: str, targets: list[str], checksum: str,
             left_out: dict[str, int], reason: str, status: str = "held") -> None:
    """A built file not sent: one finished row per target it was for, status `held` (or `cancelled`: its contract
    was deleted meanwhile, the file is gone) with the reason, so `pim feeds log` shows why the customer got
    nothing."""
    stamp = now()
    with store.begin() as conn:
        conn.execute(insert(DELIVERY), [
            {"contract": contract, "file_id": file_id, "file": file, "target": t, "checksum": checksum, "rows": 0,
             "attempts": 0, "started": stamp, "finished": stamp, "status": status, "error": reason,
             "left_out": left_out} for t in targets])


def log_finish(store: Store, log_id: int, status: str, *, attempts: int, error: str | None = None) -> None:
    with store.begin() as conn:
        conn.execute(update(DELIVERY).where(DELIVERY.c.id == log_id)
                     .values(status=status, attempts=attempts, error=error, finished=now()))


def interrupt_running(store: Store, contract: str, reason: str) -> int:
    """End `interrupted` (with `reason`) the contract's delivery rows still `running`: called once the run that
    wrote them is known to be gone (pim.feed_claims), so they do not read as sending forever. How many."""
    with store.begin() as conn:
        return conn.execute(update(DELIVERY).where(DELIVERY.c.contract == contract, DELIVERY.c.status == "running")
                            .values(status="interrupted", error=reason, finished=now())).rowcount or 0


def deliveries(store: Store, contract: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    q = select(DELIVERY).order_by(DELIVERY.c.id.desc()).limit(limit)
    if contract is not None:
        q = q.where(DELIVERY.c.contract == contract)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------------------------------------- tokens
def hash_token(token: str) -> str:
    # Tokens are 256-bit random, so a plain SHA-256 is enough (no dictionary to defend against) and lets the
    # lookup be one indexed equality instead of a scan over salted hashes.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(store: Store, customer: str) -> str:
    """A new portal token for `customer`. Only its hash is stored: show the token once."""
    token = "pft_" + secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(insert(TOKEN).values(token_hash=hash_token(token), customer=customer, created_at=now(), revoked=False))
    return token


def revoke_tokens(store: Store, customer: str, token: str | None = None) -> int:
    """Revoke one of `customer`'s portal tokens (given as issued), or all of them. Returns how many were
    revoked; the rows stay, so the audit trail of issued tokens does.
    A token of another customer is never touched, even when it is named."""
    q = update(TOKEN).where(TOKEN.c.customer == customer, TOKEN.c.revoked.is_(False))
    if token is not None:
        q = q.where(TOKEN.c.token_hash == hash_token(token))
    with store.begin() as conn:
        return conn.execute(q.values(revoked=True)).rowcount or 0


def customer_for_token(store: Store, token: str) -> str | None:
    return customer_for_token_hash(store, hash_token(token))


def customer_for_token_hash(store: Store, digest: str) -> str | None:
    """The customer of an active (not revoked) token, by its hash (what a portal session keeps)."""
    with store.engine.connect() as conn:
        return conn.execute(select(TOKEN.c.customer).where(
            TOKEN.c.token_hash == digest, TOKEN.c.revoked.is_(False))).scalar_one_or_none()
