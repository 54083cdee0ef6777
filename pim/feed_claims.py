"""Claims a dead run left (pim.feed_schedule's `feed_claim` rows): a `pim feeds deliver` killed (`kill -9`, the
OOM killer) or stopped by a database restart that could not let go of its claims would otherwise keep every
contract it held for the whole CLAIM_LEASE, while the next runs exited 0 and sent nothing.

A claim names its run `HOST:PID:RANDOM`. On the run's own host the pid tells at once whether it is alive, as the
job list judges a job (pim.store.store.process_alive): a process with that pid started after the run last claimed
or renewed the claim (held_until - the lease) is another one that was given the pid, so the run is dead; then
the contract is taken over, unless one of its feed jobs is still running in a live process (a pool worker that
outlived its parent still uploads: the claim waits for it). The takeover is one conditional UPDATE naming the dead holder, so two runs taking over at once cannot
both win. The dead run's `running` delivery-log rows of that contract end `interrupted`. A claim held from
another host is left to its lease, or to `pim feeds claims --release RUN` (`release_run`)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from pim.delivery_log import CLAIM, interrupt_running
from pim.store.store import JOB, Store, as_utc, now, process_alive

log = logging.getLogger(__name__)
#: How often a run tries to let go of its claims when the database does not answer, and the pause before each
#: retry (doubled each time): a restart of the server takes a few seconds.
RELEASE_ATTEMPTS = 4
RELEASE_PAUSE = 1.0


def holder_process(holder: str) -> tuple[str, int] | None:
    """The host and pid a claim's holder names (`HOST:PID:RANDOM`, pim.feed_schedule.new_holder), or None."""
    host, sep, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return (host, int(pid)) if sep and pid.isdigit() else None


def holder_state(holder: str, claimed_at: datetime | None = None) -> str:
    """`alive` or `dead` when the holder's process is on this host, else `unknown` (another host's run).
    `claimed_at`: when the run last claimed or renewed (see `claimed_at`); a process with the pid that started after
    it is not the run (the pid was reused: a reboot, a long time), so the run counts as dead."""
    named = holder_process(holder)
    if named is None or named[0] != socket.gethostname()[:200]:
        return "unknown"
    row = {"host": socket.gethostname()[:255], "pid": named[1], "started_at": claimed_at, "heartbeat_at": None}
    return "alive" if process_alive(row) else "dead"


def run_alive(store: Store, holder: str, claimed: datetime | None = None) -> bool:
    """Whether the run holding a claim is known to be alive: its process on this host (`holder_state`), or, for
    another host's run, a feed job running on that host with a fresh heartbeat (a run sends in feed jobs, maybe
    in pool processes with pids of their own, so the host is what is matched). False when nothing shows it alive:
    a lost host's claims stand until their lease ends or `pim feeds claims --release`."""
    state = holder_state(holder, claimed)
    if state != "unknown":
        return state == "alive"
    named = holder_process(holder)
    if named is None:
        return False
    q = select(JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at).where(
        JOB.c.kind == "feed", JOB.c.status == "running", JOB.c.host == named[0])
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    return any(process_alive(r, store.heartbeat_seconds) for r in rows)


def claimed_at(held_until: datetime | str | None, lease: timedelta | None = None) -> datetime | None:
    """When a claim was last taken or renewed: its `held_until` less the lease (pim.feed_schedule.CLAIM_LEASE
    unless given). The run's process started before that, whatever renewals came since."""
    if held_until is None:
        return None
    if lease is None:
        from pim.feed_schedule import CLAIM_LEASE  # feed_schedule imports this module

        lease = CLAIM_LEASE
    until = datetime.fromisoformat(held_until) if isinstance(held_until, str) else held_until
    return as_utc(until) - lease


def feed_job_alive(store: Store, contract: str) -> bool:
    """Whether a feed job of the contract is still running in a live process (a pool worker still uploading)."""
    return feed_job_pid(store, contract) is not None


def feed_job_pid(store: Store, contract: str) -> int | None:
    """The pid of a live process running a feed job of the contract (a pool worker that outlived its run still
    uploads), else None."""
    q = select(JOB.c.id, JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at).where(
        JOB.c.kind == "feed", JOB.c.source == contract, JOB.c.status == "running")
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    return next((r["pid"] for r in rows if process_alive(r, store.heartbeat_seconds)), None)


def interrupted_reason(holder: str) -> str:
    """What the delivery log says of a row the run `holder` left running."""
    return (f"the run that was sending it ({holder}) ended without finishing: nothing of it counts as delivered "
            f"(the watermark did not move) and the next delivery sends it again; a partial file (.part) may be "
            f"left at the target")


def take_over_dead(store: Store, contract: str, holder: str, *, at: datetime | None = None,
                   lease: timedelta) -> bool:
    """Take the contract's claim from a run on this host whose process is gone (none of the contract's feed jobs
    alive either); True when this call won it. The dead run's running delivery rows of it end `interrupted`."""
    with store.engine.connect() as conn:
        row = conn.execute(select(CLAIM.c.holder, CLAIM.c.held_until).where(CLAIM.c.contract == contract)).first()
    if row is None or row.holder == holder or feed_job_alive(store, contract):
        return False
    if holder_state(row.holder, claimed_at(row.held_until, lease)) != "dead":
        return False
    at = as_utc(at or now())
    with store.begin() as conn:
        won = conn.execute(update(CLAIM).where(CLAIM.c.contract == contract, CLAIM.c.holder == row.holder)
                           .values(holder=holder, held_until=at + lease)).rowcount == 1
    if won:
        gone = interrupt_running(store, contract, interrupted_reason(row.holder))
        log.warning("took over contract %s from run %s, whose process is gone (%d delivery row(s) marked "
                    "interrupted)", contract, row.holder, gone)
    return won


def release_retrying(release: Callable[[Store, str], None], store: Store, holder: str, *,
                     attempts: int = RELEASE_ATTEMPTS, pause: float | None = None) -> bool:
    """`release(store, holder)`, tried again while the database does not answer (a restart); False when every
    attempt failed: the claims then stand until the next run on this host takes them over (this process being
    gone) or `pim feeds claims --release` lets go of them. Never raises: the run's own outcome stands."""
    pause = RELEASE_PAUSE if pause is None else pause
    for n in range(attempts):
        try:
            release(store, holder)
            return True
        except Exception as exc:
            if n == attempts - 1:
                log.warning("could not let go of the claims of run %s (%s): the next `pim feeds deliver` on this "
                            "host takes them over once this process has ended, or run `pim feeds claims --release "
                            "%s`", holder, exc, holder)
                return False
            time.sleep(pause * 2 ** n)
    return False


def release_run(store: Store, holder: str) -> dict[str, Any]:
    """`pim feeds claims --release RUN`: drop every claim the run holds and end `interrupted` the running delivery
    rows of those contracts. A contract one of whose feed jobs is still running in a live process (a pool worker
    that outlived the run) keeps its claim, listed in `kept` with that pid (only when there is one): released, the
    next delivery would send it while the old job still uploads. Refused (ValueError) for a live run on this host:
    stop it first, or its contracts could go out twice. A process with the run's pid that started after the run's
    latest claim is not the run (the pid was reused): the run counts as dead. A run holding no claim releases
    nothing, whatever its pid."""
    with store.engine.connect() as conn:
        latest = conn.execute(select(func.max(CLAIM.c.held_until)).where(CLAIM.c.holder == holder)).scalar()
    state = holder_state(holder, claimed_at(latest))
    if state == "alive" and latest is not None:  # a run holding nothing: nothing to refuse (nor kill)
        pid = (holder_process(holder) or ("", 0))[1]
        raise ValueError(f"run {holder} may still be running: pid {pid} is alive; check it is this run (ps -o "
                         f"pid,lstart,args -p {pid}): a run lets go of each contract as it finishes; stop it first "
                         f"(kill {pid}) if it hangs")
    with store.engine.connect() as conn:
        held = sorted(conn.execute(select(CLAIM.c.contract).where(CLAIM.c.holder == holder)).scalars())
    kept = {c: pid for c in held if (pid := feed_job_pid(store, c)) is not None}
    with store.begin() as conn:
        contracts = [c for c in held if c not in kept]
        conn.execute(delete(CLAIM).where(CLAIM.c.holder == holder, CLAIM.c.contract.in_(contracts)))
    rows = sum(interrupt_running(store, c, interrupted_reason(holder)) for c in contracts)
    return {"holder": holder, "state": state, "released": contracts, "interrupted_rows": rows,
            **({"kept": kept} if kept else {})}
