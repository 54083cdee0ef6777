"""Whose delivery chain a contract's watermark is. A contract moved to another customer (`pim feeds load` with a
new `customer`) kept its watermark, so the new customer's first file was `v000007` following version 6, which
they never had: a buyer's importer applying a file only when its `previous_version` is the last one it applied
stalled. The version counter now runs per contract and customer: the watermark counts only while the newest file
carrying its version went to the contract's customer; otherwise the build starts afresh for this customer (a full
feed, nothing held) and numbers on from the last version this customer had of the contract (0 when none: version
1, `previous_version` 0), so a contract moved back continues its old customer's chain in order."""

from __future__ import annotations

from sqlalchemy import func, select

from pim.contracts_model import Contract
from pim.delivery_log import FEED_FILE, Watermark
from pim.store.store import Store

#: File states that went out to their customer (a pruned one did too, before retention let it go)
SENT = ("delivered", "pruned")


def chain_start(store: Store, contract: Contract, wm: Watermark | None) -> tuple[Watermark | None, int]:
    """The watermark a build goes on from (None: a fresh full feed) and the version its file follows."""
    if wm is None:
        return None, 0
    owner = _owner(store, contract.code, wm.version)
    if owner is None or owner == contract.customer:  # unknown (a watermark older than file versions): as before
        return wm, wm.version
    return None, last_version(store, contract.code, contract.customer)


def _owner(store: Store, code: str, version: int) -> str | None:
    """The customer the newest sent file carrying `version` of the contract went to."""
    q = (select(FEED_FILE.c.customer).where(FEED_FILE.c.contract == code, FEED_FILE.c.version == version,
                                            FEED_FILE.c.status.in_(SENT))
         .order_by(FEED_FILE.c.id.desc()).limit(1))
    with store.engine.connect() as conn:
        return conn.execute(q).scalar()


def last_version(store: Store, code: str, customer: str) -> int:
    """The highest version of the contract a file sent to `customer` carried, 0 when none."""
    q = select(func.max(FEED_FILE.c.version)).where(FEED_FILE.c.contract == code, FEED_FILE.c.customer == customer,
                                                   FEED_FILE.c.status.in_(SENT))
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar() or 0)
