"""When a contract's feed is due, from its `schedule` (5-field cron or @daily, in UTC) and its last successful
delivery run. A system timer (cron, a systemd timer, a Kubernetes CronJob) runs `pim feeds deliver --due`
every few minutes; each contract goes out once per scheduled time, and a failed run is tried again at the
next tick rather than waiting for the next scheduled time.

"Successful" means a feed job that delivered a file or found nothing to send (a delta with no change);
dry runs (their jobs say `dry_run: true`; `dry-run` as status before round 34) never count, whatever they found,
nor does their refusal hold the contract. A full feed held for having no rows counts too (it waits for the next
scheduled time rather than being built and held again at every tick). The time that counts is when that run started, so a run that took twenty minutes
does not push the next one back.

A run refused for its data (REFUSED: a cp1252 feed whose products hold text cp1252 lacks) or for media.yaml (the
contract's rendition is no longer declared) would fail the same way at every tick, so `--due` holds the contract
until something that can matter to the refusal changes (pim.feed_holds); a failed delivery (SFTP down) is tried
again at the next tick as before.

Runs may overlap (a slow run and the next tick, or timers on two hosts), so a run sends a contract only while it
holds the contract's claim: a `feed_claim` row taken by one conditional upsert (whoever's statement changes the
row wins), dropped when that contract's job is over, and void after `CLAIM_LEASE` so a crashed run blocks
nothing for long. A claim whose run's process is gone on this host is taken over at once (pim.feed_claims). The
loser skips the contract; it is not an error, unless every contract the run was asked for was skipped so
(`DueRun.all_busy`: the command exits 1 naming the run and how to release it). A `--due` tick whose skipped
contracts are all held by runs known to be alive (`DueRun.senders_alive`: on this host, or another host running
feed jobs) exits 0 instead: ticks overlapping a long run are what a timer does, and that run sends them."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from croniter import croniter
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pim.contracts import Contract, get_contracts
from pim.delivery_log import CLAIM
from pim.errors import ConfigError, PimError
from pim.feed_claims import release_retrying, take_over_dead
from pim.feed_holds import REFUSED, built_from, lifted, why_held
from pim.store.store import JOB, Store, as_utc, now

SUCCESS = frozenset({"delivered", "nothing"})
#: A full feed held for having no rows (pim.feeds: its job failed, `held: …`) waits for the next scheduled time
#: like a success: every tick would build it again, hold it again and log it again until someone fixes the cause.
HELD = "held"
#: How long a claim stands without news from its run. Every contract the run finishes renews the rest, so this
#: only has to outlast the longest stretch in which none finishes (about the slowest single contract's build
#: and upload); a crashed run's contracts go out again at the first tick after it.
CLAIM_LEASE = timedelta(hours=2)


@dataclass(frozen=True)
class Due:
    contract: str
    schedule: str
    last_success: datetime | None  # or the last held run's (a full feed of 0 rows): it waits for its next time too
    next_run: datetime  # the first scheduled time after the last success (or now, when never delivered)
    due: bool
    on_hold: str | None = None  # why `--due` does not try it (its last run was refused) and what to do

    def as_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "schedule": self.schedule, "due": self.due,
                "last_success": self.last_success.isoformat() if self.last_success else None,
                "next_run": self.next_run.isoformat(), "on_hold": self.on_hold}


def next_run(schedule: str, after: datetime) -> datetime:
    try:
        return croniter(schedule.strip(), as_utc(after)).get_next(datetime)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"schedule '{schedule}' cannot be read: {exc}",
                          hint="use 5 fields (minute hour day month weekday), e.g. '0 3 * * 1-5', or @daily") from exc


def last_success(store: Store, contract: str) -> datetime | None:
    """When the contract's latest successful (not dry) delivery run started, or its latest held one (HELD)."""
    return _history(store, contract)[0]


def _history(store: Store, contract: str) -> tuple[datetime | None, dict[str, Any] | None]:
    """The contract's last success (or hold) and, when its newest run since then (dry runs aside) was refused for
    its data, that refusal: the job's counts with `error` and `at`. Dry runs are left out by the query, so that
    however many a monitor runs, the window still reaches the real ones."""
    q = (select(JOB.c.started_at, JOB.c.counts, JOB.c.error).where(JOB.c.kind == "feed", JOB.c.source == contract,
                                                                   JOB.c.status.in_(("succeeded", "failed")),
                                                                   JOB.c.counts["dry_run"].as_boolean().is_not(True))
         .order_by(JOB.c.id.desc()).limit(50))
    refusal: dict[str, Any] | None = None
    newest = True
    with store.engine.connect() as conn:
        for started, counts, error in conn.execute(q):
            status = (counts or {}).get("status")
            if status in SUCCESS or status == HELD:
                return as_utc(started), refusal
            if status == "dry-run":  # a dry run recorded before round 34
                continue
            if newest and status == REFUSED:
                refusal = {**counts, "error": error, "at": as_utc(started)}
            newest = False
    return None, refusal


def _on_hold(store: Store, refusal: dict[str, Any] | None, contract: Contract, mark: dict[str, int]) -> str | None:
    """Why `--due` leaves the contract alone (its refusal stands: nothing that matters to it changed), or None."""
    if refusal is None or lifted(store, refusal, contract, mark):
        return None
    return why_held(refusal, contract)


def schedule_of(store: Store, contract: Contract, at: datetime, mark: dict[str, int] | None = None) -> Due | None:
    """`mark`: built_from(store), read once by a caller looking at many contracts."""
    if not contract.schedule:
        return None
    last, refusal = _history(store, contract.code)
    upcoming = next_run(contract.schedule, last) if last is not None else at
    held = _on_hold(store, refusal, contract, mark or built_from(store)) if refusal is not None else None
    return Due(contract.code, contract.schedule, last, upcoming, upcoming <= at and held is None, held)


def schedules(store: Store, at: datetime | None = None) -> list[Due]:
    """Every scheduled contract with its last success, next run, whether it is due at `at` (now) and, when its
    last run was refused for its data and nothing changed since, why it is on hold."""
    at = as_utc(at or datetime.now(UTC))
    mark = built_from(store)
    return [d for c in get_contracts(store) if (d := schedule_of(store, c, at, mark)) is not None]


def due_contracts(store: Store, at: datetime | None = None) -> list[str]:
    return [d.contract for d in schedules(store, at) if d.due]


# ---------------------------------------------------------------------------------------------- claims
def new_holder() -> str:
    """Names one run in the claim table: host and pid for whoever reads it, a random tail so it is unique."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{secrets.token_hex(4)}"


def claim(store: Store, contract: str, holder: str, *, at: datetime | None = None,
          lease: timedelta = CLAIM_LEASE) -> bool:
    """Take the contract's claim when nobody holds it or the holder's lease ran out; True when this call won.
    One statement, so two runs racing for it cannot both win: the database serialises the upserts."""
    at = as_utc(at or now())
    ins = (postgresql.insert if store.dialect == "postgresql" else sqlite.insert)(CLAIM)
    stmt = ins.values(contract=contract, holder=holder, held_until=at + lease).on_conflict_do_update(
        index_elements=[CLAIM.c.contract], set_={"holder": ins.excluded.holder, "held_until": ins.excluded.held_until},
        where=CLAIM.c.held_until <= at).execution_options(preserve_rowcount=True)  # else -1 for an INSERT on psycopg
    with store.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def release(store: Store, holder: str, contract: str | None = None) -> None:
    """Drop the holder's claim on `contract` (all of its claims when None); a claim taken over is left alone."""
    q = delete(CLAIM).where(CLAIM.c.holder == holder)
    with store.begin() as conn:
        conn.execute(q if contract is None else q.where(CLAIM.c.contract == contract))


def renew(store: Store, holder: str, *, at: datetime | None = None, lease: timedelta = CLAIM_LEASE) -> None:
    """Push the holder's remaining claims out by a fresh lease: the run is alive and still owes them."""
    with store.begin() as conn:
        conn.execute(update(CLAIM).where(CLAIM.c.holder == holder).values(held_until=as_utc(at or now()) + lease))


def claims(store: Store, at: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The standing claims by contract: which run holds each, and until when."""
    q = select(CLAIM.c.contract, CLAIM.c.holder, CLAIM.c.held_until).where(CLAIM.c.held_until > as_utc(at or now()))
    with store.engine.connect() as conn:
        return {r.contract: {"holder": r.holder, "held_until": as_utc(r.held_until).isoformat()} for r in conn.execute(q)}


class ContractBusy(PimError):
    """A contract a delivery run is sending cannot be changed under it (`pim feeds delete` without --force); try
    again once the run is done."""


def sending(store: Store, contract: str, at: datetime | None = None) -> dict[str, Any] | None:
    """The run holding the contract's claim now (`claims`' entry) with `since`: when that run's job for the
    contract started, else when it last claimed or renewed the claim; None when nobody holds it."""
    held = claims(store, at).get(contract)
    if held is None:
        return None
    q = (select(JOB.c.id, JOB.c.started_at).where(JOB.c.kind == "feed", JOB.c.source == contract,
                                                  JOB.c.status == "running").order_by(JOB.c.id.desc()).limit(1))
    with store.engine.connect() as conn:
        job = conn.execute(q).first()
    since = as_utc(job.started_at) if job else datetime.fromisoformat(held["held_until"]) - CLAIM_LEASE
    return held | {"since": since.isoformat(), "job": job.id if job else None}


def describe_sending(run: dict[str, Any]) -> str:
    """A `sending` entry as messages name it: `run HOST:PID:… (job N, since … UTC)`, the job when there is one."""
    job = f"job {run['job']}, " if run.get("job") else ""
    return f"run {run['holder']} ({job}since {datetime.fromisoformat(run['since']):%Y-%m-%d %H:%M:%S} UTC)"


def refuse_while_sending(store: Store, contract: str) -> None:
    """For `pim feeds delete`: ContractBusy naming the run that holds the contract's claim, and since when;
    nothing when none does."""
    run = sending(store, contract)
    if run is None:
        return
    raise ContractBusy(f"contract '{contract}' is being sent by {describe_sending(run)}; it was not deleted",
                       hint=f"try again once that run is done (`pim feeds due` shows who is sending), or delete it "
                            f"anyway: pim feeds delete {contract} --force (the file being built may still go out)")


@dataclass
class DueRun:
    """One `deliver --due` run's claims: `take` claims every due contract it can, `done` lets one go as its job
    ends, leaving the `with` block lets go of the rest (after a failure too)."""

    store: Store
    at: datetime | None = None
    holder: str = field(default_factory=new_holder)
    codes: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # the skipped contracts another run holds

    def take(self) -> list[str]:
        for d in schedules(self.store, self.at):
            if d.on_hold:
                self.skipped.append({"contract": d.contract, "reason": "on hold: " + d.on_hold})
            if not d.due:
                continue
            if not self._claim(d.contract):
                self.skipped.append(self._busy(d.contract))
            elif not _still_due(self.store, d, self.at):  # that other run finished just before we claimed
                release(self.store, self.holder, d.contract)
                self.skipped.append({"contract": d.contract, "reason": "another run has just sent it"})
            else:
                self.codes.append(d.contract)
        return self.codes

    def take_named(self, codes: list[str]) -> list[str]:
        """Claim the contracts named (an explicit `deliver`, due or not); those another run holds are skipped."""
        for code in codes:
            if self._claim(code):
                self.codes.append(code)
            else:
                self.skipped.append(self._busy(code))
        return self.codes

    def _claim(self, contract: str) -> bool:
        """The contract's claim: free, its lease over, or its holder's process gone from this host."""
        return (claim(self.store, contract, self.holder, at=self.at)
                or take_over_dead(self.store, contract, self.holder, at=self.at, lease=CLAIM_LEASE))

    @property
    def all_busy(self) -> bool:
        """Whether nothing was claimed and some contract was skipped because another run holds it: the run did
        nothing that was asked of it, and the caller should not exit 0 — unless, for a `--due` tick, the runs holding
        them are alive (`senders_alive`)."""
        return not self.codes and bool(self.busy)

    def senders_alive(self) -> bool:
        """Whether every run holding a skipped contract's claim is known to be alive (pim.feed_claims.run_alive):
        then a `--due` tick that could take none of them overlaps a run that sends them, not a lost one."""
        from pim.feed_claims import claimed_at, run_alive

        held = {s["contract"]: s for s in self.skipped if s.get("holder")}
        return all(c in held and run_alive(self.store, held[c]["holder"], claimed_at(held[c].get("held_until")))
                   for c in self.busy)

    def _busy(self, contract: str) -> dict[str, Any]:
        """The skipped entry of a contract another run holds: which run, since when, and that it is free again as
        soon as that run's job for it ends (the claim's `held_until` is only how long a crashed run blocks it)."""
        self.busy.append(contract)
        run = sending(self.store, contract, self.at) or {}
        who = f": {describe_sending(run)}" if run else ""
        free = (f"; if that run is gone (its host lost), `pim feeds claims --release {run['holder']}` frees it"
                if run else "")
        return {"contract": contract, "reason": f"another run is sending it{who}; try again when that run ends "
                                                f"(`pim feeds due` shows who is sending){free}", **run}

    def done(self, contract: str) -> None:
        release(self.store, self.holder, contract)
        renew(self.store, self.holder, at=self.at)

    def __enter__(self) -> DueRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        release_retrying(release, self.store, self.holder)  # the database may be restarting: tried again


def _still_due(store: Store, d: Due, at: datetime | None) -> bool:
    last = last_success(store, d.contract)
    if last is None or last == d.last_success:
        return True
    return next_run(d.schedule, last) <= as_utc(at or datetime.now(UTC))
