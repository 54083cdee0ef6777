"""Contracts in the store (pim.contracts): the `feed_contract` table and its reads and writes. Split from
pim.contracts, which still offers every name here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, DateTime, String, Table, delete, exists, select
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from pim.contracts_model import STORED, Contract
from pim.delivery_log import CLAIM
from pim.errors import ConfigError
from pim.store.store import Store, now
from pim.store.tables import JSONType


class ContractRow(SQLModel, table=True):
    __tablename__ = "feed_contract"

    code: str = SQLField(sa_column=Column(String(100), primary_key=True))
    customer: str = SQLField(sa_column=Column(String(100), nullable=False, index=True))
    data: dict[str, Any] = SQLField(sa_column=Column(JSONType, nullable=False))
    updated_at: Any = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


CONTRACT: Table = ContractRow.__table__  # type: ignore[assignment]


def put_contracts(store: Store, contracts: Iterable[Contract]) -> int:
    stamp = now()
    rows = [{"code": c.code, "customer": c.customer, "data": c.model_dump(mode="json"), "updated_at": stamp}
            for c in contracts]
    with store.begin() as conn:
        store.upsert_rows(conn, CONTRACT, rows, ["code"])
    return len(rows)


def delete_contract(store: Store, code: str, *, force: bool = False) -> bool:
    """Whether the contract was deleted. Unless `force`, not while a delivery run holds its claim
    (pim.feed_schedule): the check is part of the statement, so a run claiming it meanwhile cannot slip between a
    check and the delete (the caller says who holds it: pim.feed_schedule.refuse_while_sending)."""
    q = delete(CONTRACT).where(CONTRACT.c.code == code)
    if not force:
        q = q.where(~exists().where(CLAIM.c.contract == code, CLAIM.c.held_until > now()))
    with store.begin() as conn:
        return bool(conn.execute(q).rowcount)


def get_contracts(store: Store, code: str | None = None, customer: str | None = None) -> list[Contract]:
    q = select(CONTRACT.c.data).order_by(CONTRACT.c.code)
    if code is not None:
        q = q.where(CONTRACT.c.code == code)
    if customer is not None:
        q = q.where(CONTRACT.c.customer == customer)
    with store.engine.connect() as conn:
        return [Contract.model_validate(d, context=STORED) for d in conn.execute(q).scalars()]


def get_contract(store: Store, code: str) -> Contract:
    found = get_contracts(store, code=code)
    if not found:
        raise ConfigError(f"no contract '{code}'", hint="list them with: pim feeds list; load with: pim feeds load DIR")
    return found[0]
