"""One maintenance pass: each retention that is configured, in turn — closed quarantine entries
(PIM_QUARANTINE_RETENTION_DAYS, pim.store.quarantine_prune), the portal's download log
(PIM_DOWNLOAD_LOG_RETENTION_DAYS, pim.portal_downloads), uploaded files (PIM_UPLOAD_RETENTION_DAYS, here) and
feed files (PIM_FEED_RETENTION_DAYS, pim.feed_retention: `pim feeds prune --older-than DAYS`, whose rules keep
every delivered file from a contract's newest delivered full feed on). An unset setting keeps everything:
deleting history is never a default. `pim maintain` runs the pass once; every
`pim worker` runs it while idle each PIM_MAINTENANCE_INTERVAL_HOURS (`Timer`), and only the worker that takes
the interval's lease — a `feed_claim` row (pim.feed_schedule.claim) held for the interval — runs it, on any
host. A retention that fails is reported and the others still run; nothing here stops a worker. A worker asked to
stop skips the retentions not yet begun. `pim maintain` takes the lease while its pass runs (`command_pass`).

Uploads: a web or API upload is the file its import job reads (payload["path"]); a re-run (`pim jobs retry`, the
job page) reads it again, and the job's open quarantine entries name it as their file. So a file goes only when
it is older than the cut, every import job naming it ended before the cut (succeeded, partial, failed,
cancelled, or interrupted: its process gone, judged as the job pages judge it), and none of those jobs has an
open quarantine entry. A queued or running job's file never goes. A file no job names (its job was never
queued) goes by its age. The job row, its counts and its closed entries' raw rows stay; only a retry after the
cut is refused, saying the upload was deleted (pim.job_uploads.check_upload): upload the file again.

Staging: a publication renders into PIM_OUTPUT/.staging/job-<id> and its exporter removes that when the files
went out; a publication killed mid-run leaves it. Every pass, `pim maintain` even with no retention set (this
is no history), removes those of jobs no longer queued or running, judged as uploads' jobs are
(`prune_staging`); a publication to local files does the same for its output when it ends (exporters.local). A
queued or running job's directory never goes.

Drafts: value edits an ended session did not save (pim.web.drafts) are taken within drafts.TTL (12 h) or never;
every pass, set or not (no history either), deletes those older (`drafts` in the report)."""

from __future__ import annotations

import logging
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pim.errors import ConfigError, InputError, PimError
from pim.feed_retention import prune_feeds
from pim.feed_schedule import claim, claims, new_holder, release, renew
from pim.job_cancel import ENDED
from pim.portal_downloads import prune_downloads
from pim.settings import get_settings
from pim.store.store import JOB, QUARANTINE, Store, as_utc, batched, now, process_alive

log = logging.getLogger(__name__)
#: The pass's key in `feed_claim`: no contract code can be it (they are [A-Za-z0-9_-]+).
LEASE = "pim:maintenance"
#: When the lease could not be looked at (the database was away), the worker looks again this much later.
RETRY_AFTER = timedelta(minutes=5)
#: After a pass that did not do all it should (a retention failed, or the worker was asked to stop), the lease
#: stands only this long (or the interval, when shorter): the next attempt comes then, not a whole interval later.
RETRY_FAILED = timedelta(hours=1)
#: How long `pim maintain` holds the lease while its pass runs; it lets go when the pass ends, so this only
#: bounds how long a killed command keeps the workers' passes back.
COMMAND_LEASE = timedelta(hours=2)
#: `pim maintain`'s exit code when another run holds the lease (sysexits' EX_TEMPFAIL: try again later).
LEASE_HELD_EXIT = 75
OFF, DONE, FAILED, STOPPED = "off", "done", "failed", "stopped"
#: Where a publication renders before its exporter puts the files in place: `<output>/.staging/job-<id>`.
STAGING = ".staging"

Prune = Callable[[Store, int, datetime, bool], dict[str, Any]]


@dataclass
class PassResult:
    """What one pass did, per retention: `status` off (its setting unset), done (`deleted`: what went, or would
    with `dry_run`), failed (`error`: what is wrong and what to do), or stopped (not run: the worker was asked to
    stop first). `exit_code`: the highest failure's."""

    dry_run: bool
    at: datetime
    retentions: dict[str, dict[str, Any]] = field(default_factory=dict)
    exit_code: int = 0
    #: the staging sweep (`prune_staging`'s result with its status; stopped: not run), which runs unconfigured
    staging: dict[str, Any] = field(default_factory=lambda: {"status": STOPPED})
    #: the expired web drafts' sweep (`_drafts`), which runs unconfigured too
    drafts: dict[str, Any] = field(default_factory=lambda: {"status": STOPPED})

    @property
    def failed(self) -> list[str]:
        return [name for name, r in self.retentions.items() if r["status"] == FAILED]

    @property
    def stopped(self) -> list[str]:
        return [name for name, r in self.retentions.items() if r["status"] == STOPPED]

    @property
    def complete(self) -> bool:
        """Whether every configured retention ran and none failed."""
        return not self.failed and not self.stopped

    @property
    def configured(self) -> bool:
        return any(r["status"] != OFF for r in self.retentions.values())

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "at": self.at.isoformat(), "retentions": self.retentions,
                "failed": self.failed, "staging": self.staging, "drafts": self.drafts}

    def line(self) -> str:
        """One log line: each retention's count, or its status, and the staging and drafts sweeps'."""
        key = "would_delete" if self.dry_run else "deleted"
        return ", ".join(f"{name} {r[key] if r['status'] == DONE else r['status']}"
                         for name, r in [*self.retentions.items(), ("staging", self.staging), ("drafts", self.drafts)])


def _quarantine(store: Store, days: int, at: datetime, dry_run: bool) -> dict[str, Any]:
    before = at - timedelta(days=days)
    gone = store.prune_quarantine(before, dry_run=dry_run)
    return {"deleted": sum(gone.values()), "by_source": gone, "before": before.isoformat()}


def _downloads(store: Store, days: int, at: datetime, dry_run: bool) -> dict[str, Any]:
    result = prune_downloads(store, timedelta(days=days), dry_run=dry_run, at=at)
    return {"deleted": result.rows, "before": result.before.isoformat()}


def _feeds(store: Store, days: int, at: datetime, dry_run: bool) -> dict[str, Any]:
    # prune_feeds measures age from its own clock: the age that puts its cut where this pass's is
    before = at - timedelta(days=days)
    result = prune_feeds(store, older_than=now() - before, dry_run=dry_run)
    return {"deleted": result.files, "bytes": result.bytes, "before": before.isoformat(),
            "files": [f"{p['contract']}/{p['name']}" for p in result.pruned]}


def prune_uploads(store: Store, days: int, at: datetime, dry_run: bool) -> dict[str, Any]:
    """Delete the files under PIM_HOME/uploads whose time is over (the module's rule); what went (or would),
    and how many old files were kept, by why."""
    folder = get_settings().home / "uploads"
    cut = at - timedelta(days=days)
    old = sorted(p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime < cut.timestamp()) \
        if folder.is_dir() else []
    needed = _needed(store, {p.name for p in old}, cut) if old else {}
    kept: Counter[str] = Counter()
    files: list[str] = []
    size = 0
    for path in old:
        if path.name in needed:
            kept[needed[path.name]] += 1
            continue
        size += path.stat().st_size
        files.append(path.name)
        if not dry_run:
            path.unlink(missing_ok=True)
    return {"deleted": len(files), "bytes": size, "before": cut.isoformat(), "files": files, "kept": dict(kept)}


def _needed(store: Store, names: set[str], cut: datetime) -> dict[str, str]:
    """Of these upload file names, those an import job still needs, each with why. Matched by name (each upload
    has a name of its own): a moved PIM_HOME keeps more, never less."""
    q = select(JOB.c.id, JOB.c.status, JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at,
               JOB.c.finished_at, JOB.c.payload).where(JOB.c.kind == "import", JOB.c.payload.is_not(None))
    jobs: dict[str, list[dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            name = Path(str((row.payload or {}).get("path") or "")).name
            if name in names:
                jobs.setdefault(name, []).append(dict(row._mapping))
    needed: dict[str, str] = {}
    for name, rows in jobs.items():
        ends = [_ended_at(r, store.heartbeat_seconds) for r in rows]
        if any(e is None for e in ends):
            needed[name] = "its job is queued or running"
        elif max(ends) >= cut:  # type: ignore[type-var]
            needed[name] = "its job ended after the cut"
    open_jobs = _with_open_entries(store, [r["id"] for n, rows in jobs.items() if n not in needed for r in rows])
    for name, rows in jobs.items():
        if name not in needed and any(r["id"] in open_jobs for r in rows):
            needed[name] = "its job has open quarantine entries"
    return needed


def _ended_at(job: dict[str, Any], heartbeat_seconds: float) -> datetime | None:
    """When the job ended; None while it is queued or running (an unknown status counts as running)."""
    if job["status"] in ENDED:
        return as_utc(job["finished_at"] or job["heartbeat_at"] or job["started_at"])
    if job["status"] == "running" and not process_alive(job, heartbeat_seconds):  # interrupted: its last sign
        return as_utc(job["heartbeat_at"] or job["started_at"])
    return None


def _with_open_entries(store: Store, job_ids: Iterable[int]) -> set[int]:
    """Which of these jobs have an open quarantine entry: one read per 5,000 jobs."""
    found: set[int] = set()
    with store.engine.connect() as conn:
        for chunk in batched(sorted(set(job_ids)), 5000):
            found.update(conn.execute(select(QUARANTINE.c.job_id).distinct().where(
                QUARANTINE.c.job_id.in_(chunk), QUARANTINE.c.resolved_at.is_(None))).scalars())
    return found


def prune_staging(store: Store, output_dir: Path, *, dry_run: bool = False) -> dict[str, Any]:
    """Remove `output_dir`'s staging directories (`.staging/job-<id>`) whose publication is no longer queued or
    running: ended, interrupted (its process gone), or with no job row. One read for all of them, none when
    there is no such directory. What went: how many, their names and their bytes; with `dry_run` nothing goes
    (`deleted` 0) and `would_delete` counts what would, so a report read by a script never says it deleted."""
    folder = output_dir / STAGING
    dirs = {int(p.name[4:]): p for p in folder.glob("job-*")
            if p.name[4:].isdigit() and p.is_dir() and not p.is_symlink()} if folder.is_dir() else {}
    gone = [dirs[i] for i in sorted(set(dirs) - _queued_or_running(store, dirs))] if dirs else []
    size = sum(f.stat().st_size for p in gone for f in p.rglob("*") if f.is_file() and not f.is_symlink())
    if dry_run:
        return {"deleted": 0, "would_delete": len(gone), "bytes": size, "dirs": [p.name for p in gone]}
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return {"deleted": len(gone), "bytes": size, "dirs": [p.name for p in gone]}


def _queued_or_running(store: Store, job_ids: Iterable[int]) -> set[int]:
    """Which of these jobs are queued or running (an unknown status counts as running: `_ended_at`)."""
    q = select(JOB.c.id, JOB.c.status, JOB.c.host, JOB.c.pid, JOB.c.started_at, JOB.c.heartbeat_at,
               JOB.c.finished_at)
    found: set[int] = set()
    with store.engine.connect() as conn:
        for chunk in batched(sorted(set(job_ids)), 5000):
            found.update(r.id for r in conn.execute(q.where(JOB.c.id.in_(chunk)))
                         if _ended_at(dict(r._mapping), store.heartbeat_seconds) is None)
    return found


#: name → (its setting in pim.settings, the prune), in the order a pass runs them.
RETENTIONS: dict[str, tuple[str, Prune]] = {
    "quarantine": ("quarantine_retention_days", _quarantine),
    "downloads": ("download_log_retention_days", _downloads),
    "uploads": ("upload_retention_days", prune_uploads),
    "feeds": ("feed_retention_days", _feeds),
}


def setting_name(attr: str) -> str:
    return f"PIM_{attr.upper()}"


def check_days(attr: str, days: int, hint: str) -> None:
    """ConfigError when the retention setting `attr` is under a day (`hint`: what to do instead)."""
    if days < 1:
        raise ConfigError(f"{setting_name(attr)} must be at least 1 day, not {days}", hint=hint)


def command_days(attr: str, given: int | None, option: str, example: str) -> int:
    """A prune command's age: its `option` when `given`, else the retention's setting. Neither, or a setting
    under a day, is an error (deleting history is never a default); `example` is a dry run to try."""
    if given is not None:
        return given
    days, env = getattr(get_settings(), attr), setting_name(attr)
    if days is None:
        raise InputError(f"no age given: pass {option} DAYS or set {env}", hint=f"`{example}` counts what it deletes")
    check_days(attr, days, f"unset it, or pass {option} DAYS")
    return days


def configured() -> list[str]:
    """The retentions whose setting is set (a pass runs those)."""
    settings = get_settings()
    return [name for name, (attr, _) in RETENTIONS.items() if getattr(settings, attr) is not None]


def run_pass(store: Store, *, dry_run: bool = False, at: datetime | None = None,
             stop: threading.Event | None = None) -> PassResult:
    """Run each configured retention with cut-offs from `at` (now); a failure is recorded and the next runs.
    Once `stop` is set (a worker asked to stop), the retentions not yet begun are skipped: status stopped."""
    settings = get_settings()
    result = PassResult(dry_run, as_utc(at or now()))
    for name, (attr, prune) in RETENTIONS.items():
        days, env = getattr(settings, attr), setting_name(attr)
        entry: dict[str, Any] = {"setting": env, "days": days, "status": OFF}
        if days is not None and stop is not None and stop.is_set():
            entry["status"] = STOPPED
        elif days is not None:
            try:
                check_days(attr, days, "unset it to keep everything, or give a number of days (e.g. 90)")
                entry.update(_as_dry(prune(store, days, result.at, dry_run), dry_run), status=DONE)
            except Exception as exc:  # recorded; the other retentions still run
                if not isinstance(exc, PimError):
                    log.exception("maintenance: the %s retention failed", name)
                error = exc.in_one_line() if isinstance(exc, PimError) else f"{type(exc).__name__}: {exc}"
                entry.update(status=FAILED, error=error)
                result.exit_code = max(result.exit_code, exc.exit_code if isinstance(exc, PimError) else 1)
        result.retentions[name] = entry
    if stop is None or not stop.is_set():
        result.staging = _staging(store, settings.output_dir, dry_run, result)
        result.drafts = _drafts(store, dry_run, result)
    if result.stopped:
        log.warning("maintenance: asked to stop; did not run %s (the next pass does)", ", ".join(result.stopped))
    return result


def _as_dry(counts: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """A dry run's retention counts: `deleted` 0 and `would_delete` what would go, as the staging sweep's, so a
    script reading the report never takes a count for deleted rows or files."""
    return {**counts, "deleted": 0, "would_delete": counts.get("deleted", 0)} if dry_run else counts


def _staging(store: Store, output_dir: Path, dry_run: bool, result: PassResult) -> dict[str, Any]:
    """The pass's staging sweep, with its status; a failure is recorded (exit code 1) like a retention's."""
    try:
        return {"status": DONE, **prune_staging(store, output_dir, dry_run=dry_run)}
    except Exception as exc:  # recorded; the pass has run the retentions already
        log.exception("maintenance: the staging sweep failed")
        result.exit_code = max(result.exit_code, 1)
        return {"status": FAILED, "error": f"{type(exc).__name__}: {exc} (the next pass tries again; a "
                f"{STAGING}/job-<id> dir under {output_dir} whose job ended may also be deleted by hand)"}


def _drafts(store: Store, dry_run: bool, result: PassResult) -> dict[str, Any]:
    """The pass's sweep of expired web drafts (pim.web.drafts.prune_expired), with its status; a failure is
    recorded (exit code 1) like the staging sweep's."""
    # imported here: the web's modules load only when a pass runs
    from pim.web.drafts import prune_expired

    try:
        gone = prune_expired(store, result.at, dry_run=dry_run)
    except Exception as exc:  # recorded; the next pass, or the next draft kept, tries again
        log.exception("maintenance: the drafts sweep failed")
        result.exit_code = max(result.exit_code, 1)
        return {"status": FAILED, "error": f"{type(exc).__name__}: {exc}"}
    return {"status": DONE, **_as_dry({"deleted": gone}, dry_run)}


class LeaseHeld(PimError):
    """`pim maintain` found the pass's lease held by another run (a worker's, for its interval)."""

    exit_code = LEASE_HELD_EXIT

    def __init__(self, held: dict[str, Any]) -> None:
        until = held["held_until"][:19].replace("T", " ")
        super().__init__(f"the maintenance lease is held by {held['holder']} until {until} UTC: "
                         "a worker holds it for PIM_MAINTENANCE_INTERVAL_HOURS from the start of its pass, a `pim "
                         "maintain` while its pass runs, so the pass ran recently or runs now",
                         hint="leave it to the workers, or run `pim maintain --force` to run the pass now anyway "
                              "(each retention is safe to run twice)")
        self.held = held


def command_pass(store: Store, *, dry_run: bool = False, force: bool = False) -> PassResult:
    """`pim maintain`'s pass: under the lease, taken for COMMAND_LEASE and let go when the pass ends, so no worker
    starts the same pass meanwhile. LeaseHeld when another run holds it, unless `force` (then it runs without).
    A dry run deletes nothing and takes no lease."""
    if dry_run:
        return run_pass(store, dry_run=True)
    holder, at = new_holder(), now()
    won = claim(store, LEASE, holder, at=at, lease=COMMAND_LEASE)
    if not won and not force:
        held = claims(store, at).get(LEASE)
        if held is not None:
            raise LeaseHeld(held)
        won = claim(store, LEASE, holder, at=at, lease=COMMAND_LEASE)  # it ran out between the two looks
    try:
        return run_pass(store, at=at)
    finally:
        if won:
            release(store, holder, LEASE)


class Timer:
    """A worker's turn at the pass: `tick`, called while idle, runs it when the interval's lease is this
    worker's to take, and returns at once otherwise. Between looks at the lease it touches no database, so an
    idle worker's poll stays as cheap as before. A pass that did not complete (a retention failed, it raised, or
    `stop` was set midway) shortens the lease, not releases it: it then stands min(interval, RETRY_FAILED) from
    the pass's end, so the next attempt comes that much later on whichever worker is idle, rather than a whole
    interval later, or at once on every idle worker's next poll. `clock` is for tests."""

    def __init__(self, store: Store, *, interval: timedelta | None = None,
                 clock: Callable[[], datetime] = now, stop: threading.Event | None = None) -> None:
        hours = get_settings().maintenance_interval_hours
        self.interval = interval if interval is not None else timedelta(hours=hours)
        self.store, self.clock, self.holder, self.stop = store, clock, new_holder(), stop
        self.next_look: datetime | None = None

    def tick(self) -> PassResult | None:
        """The pass, when this call ran it; None otherwise (off, not due, another worker's turn, or failed)."""
        if self.interval <= timedelta(0) or not configured() or (self.stop is not None and self.stop.is_set()):
            return None
        at = as_utc(self.clock())
        if self.next_look is not None and at < self.next_look:
            return None
        try:
            if not self._my_turn(at):
                return None
        except SQLAlchemyError as exc:  # the database is away: the worker's own loop says so too
            log.warning("maintenance: could not take its turn (looking again in %s): %s", RETRY_AFTER, exc)
            self.next_look = at + RETRY_AFTER
            return None
        except Exception:
            log.exception("maintenance: could not take its turn (looking again in %s)", RETRY_AFTER)
            self.next_look = at + RETRY_AFTER
            return None
        try:
            result = run_pass(self.store, at=at, stop=self.stop)
        except Exception:
            log.exception("maintenance pass failed; the next is due in %s", self._retry_soon())
            return None
        log.log(logging.INFO if result.complete else logging.WARNING, "maintenance pass: %s", result.line())
        for name in result.failed:
            log.warning("maintenance: %s: %s", name, result.retentions[name]["error"])
        if not result.complete:
            log.warning("maintenance: the next pass is due in %s", self._retry_soon())
        return result

    def _retry_soon(self) -> timedelta:
        """Cut this worker's lease to the retry delay from now (the pass's end); when the next pass is due."""
        delay, at = min(self.interval, RETRY_FAILED), as_utc(self.clock())
        self.next_look = at + delay
        try:
            renew(self.store, self.holder, at=at, lease=delay)
        except Exception as exc:  # the database is away: the lease keeps its interval, the pass waits for it
            log.warning("maintenance: could not shorten the lease after the failed pass: %s", exc)
            return self.interval
        return delay

    def _my_turn(self, at: datetime) -> bool:
        """Take the interval's lease; lost, look again when the winner's runs out."""
        if claim(self.store, LEASE, self.holder, at=at, lease=self.interval):
            self.next_look = at + self.interval
            return True
        held = claims(self.store, at).get(LEASE)
        self.next_look = datetime.fromisoformat(held["held_until"]) if held else at
        return False
