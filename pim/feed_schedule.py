"""When a contract's feed is due, from its `schedule` (5-field cron or @daily, in UTC) and its last successful
delivery run. A system timer (cron, a systemd timer, a Kubernetes CronJob) runs `pim feeds deliver --due`
every few minutes; each contract goes out once per scheduled time, and a failed run is tried again at the
next tick rather than waiting for the next scheduled time.

"Successful" means a feed job that delivered a file or found nothing to send (a delta with no change);
dry runs do not count. The time that counts is when that run started, so a run that took twenty minutes
does not push the next one back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import select

from pim.contracts import Contract, get_contracts
from pim.errors import ConfigError
from pim.store.store import JOB, Store, as_utc

SUCCESS = frozenset({"delivered", "nothing"})


@dataclass(frozen=True)
class Due:
    contract: str
    schedule: str
    last_success: datetime | None
    next_run: datetime  # the first scheduled time after the last success (or now, when never delivered)
    due: bool

    def as_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "schedule": self.schedule, "due": self.due,
                "last_success": self.last_success.isoformat() if self.last_success else None,
                "next_run": self.next_run.isoformat()}


def next_run(schedule: str, after: datetime) -> datetime:
    try:
        return croniter(schedule.strip(), as_utc(after)).get_next(datetime)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"schedule '{schedule}' cannot be read: {exc}",
                          hint="use 5 fields (minute hour day month weekday), e.g. '0 3 * * 1-5', or @daily") from exc


def last_success(store: Store, contract: str) -> datetime | None:
    """When the contract's latest successful (not dry) delivery run started."""
    q = (select(JOB.c.started_at, JOB.c.counts).where(JOB.c.kind == "feed", JOB.c.source == contract,
                                                      JOB.c.status == "succeeded").order_by(JOB.c.id.desc()).limit(50))
    with store.engine.connect() as conn:
        for started, counts in conn.execute(q):
            if (counts or {}).get("status") in SUCCESS:
                return as_utc(started)
    return None


def schedule_of(store: Store, contract: Contract, at: datetime) -> Due | None:
    if not contract.schedule:
        return None
    last = last_success(store, contract.code)
    upcoming = next_run(contract.schedule, last) if last is not None else at
    return Due(contract.code, contract.schedule, last, upcoming, upcoming <= at)


def schedules(store: Store, at: datetime | None = None) -> list[Due]:
    """Every scheduled contract with its last success, next run and whether it is due at `at` (now)."""
    at = as_utc(at or datetime.now(UTC))
    return [d for c in get_contracts(store) if (d := schedule_of(store, c, at)) is not None]


def due_contracts(store: Store, at: datetime | None = None) -> list[str]:
    return [d.contract for d in schedules(store, at) if d.due]
