"""`pim worker` runs the jobs the web app queues (uploaded content imports, large family rescores) outside the
web process; `pim jobs retry ID` queues a failed, interrupted or cancelled one again, `pim jobs cancel ID`
cancels a queued one or asks a running one to stop (pim.job_cancel), `pim jobs priority ID N` reorders a queued
one, `pim jobs list` lists jobs with their priority and counts, and `pim jobs status` says what waits, what is
stopping and which workers are alive (pim.job_queue and its job_* modules, pim.job_workers). `pim maintain` runs
the configured retentions once (pim.maintenance), as each worker does by itself every
PIM_MAINTENANCE_INTERVAL_HOURS.

Exit codes: 0 done (or stopped by SIGTERM/Ctrl-C, after the job under way; a job cancelled on request is not a
failure), 1 a job it ran failed (`--once` and `--idle-exit` only: a long-running worker keeps going), 2 a job
that cannot be retried (its uploaded file no longer kept, too), cancelled or reordered (or a priority out of range),
4 the database (away, with --once; taking no writes for PIM_WORKER_READ_ONLY_WAIT seconds, 10 minutes unless
set: point PIM_DATABASE_URL at the primary; or an error no wait would mend, e.g. a table missing: run `pim init`). `pim
maintain`: 1 a retention failed, 3 a retention's setting is wrong (the other retentions still ran), 75 another run
holds the maintenance lease (nothing ran; `--force` runs anyway)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from pim.cli.output import JsonOption, console, emit_json, job_table, table

jobs_app = typer.Typer(no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(maintain)
    app.add_typer(jobs_app, name="jobs", help="The job queue: what waits, which workers are alive, run a job again, "
                                              "cancel one, reorder one.")


def worker(
    once: bool = typer.Option(False, "--once", help="Run what is queued now, then exit."),
    idle_exit: float | None = typer.Option(None, "--idle-exit", min=0,
                                           help="Exit after this many seconds with nothing to do."),
    poll: float = typer.Option(1.0, "--poll", min=0.05, help="Seconds between looks at an empty queue."),
    parent: int | None = typer.Option(None, "--parent", hidden=True,
                                      help="Stop once this process is gone (how `pim serve` starts its workers)."),
    as_json: bool = JsonOption,
) -> None:
    """Run queued jobs (web uploads, family rescores) until stopped.

    SIGTERM or Ctrl-C finishes the job under way first; a second Ctrl-C abandons it (it then shows as
    interrupted, and `pim jobs retry` runs it again). A database that goes away mid-job, a deadlock, or
    another process holding SQLite's write lock fails that job saying so and how to run it again (`pim jobs
    retry`); while the database is away (or locked, busy, or failing) the worker waits, then goes on (with --once
    it exits 4 instead). A database that takes no writes (a replica) is waited for PIM_WORKER_READ_ONLY_WAIT
    seconds (default 600: 10 minutes), connecting anew at each try so a failover is followed, then the worker
    exits 4 saying to point PIM_DATABASE_URL at the primary.
    Any other database error (a table missing, a right the database user lacks, a bug) would never pass: the
    worker exits 4 saying what to check.
    Workers keep imports of one source (the provenance name of their map: erp, supplier:acme) one at a time, in
    queued order, and publications of one channel and scope one at a time: `pim jobs status` says which job
    waits for which."""
    from pim.job_queue import work
    from pim.store import Store

    store = Store.from_settings()
    stop = threading.Event()
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent, stop), daemon=True, name="pim-worker-parent").start()
    with _logging(), _stopping(stop):
        err.print(f"worker {os.getpid()}: waiting for jobs" + (" (until the queue is empty)" if once else ""))
        result = work(store, once=once, idle_exit=idle_exit, poll=poll, stop=stop, on_job=_report)
    if as_json:
        emit_json({"ran": len(result.jobs), "failed": [j["id"] for j in result.failed],
                   "jobs": [{k: j.get(k) for k in ("id", "kind", "source", "status", "counts", "error")}
                            for j in result.jobs]})
    else:
        console.print(f"ran {len(result.jobs)} job(s), {len(result.failed)} failed")
    if result.failed and (once or idle_exit is not None):
        raise typer.Exit(1)


def maintain(dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go (--json lists the upload "
                                                                   "and feed files); delete nothing; take no lease."),
             force: bool = typer.Option(False, "--force", help="Run even while another run holds the maintenance "
                                                               "lease (each retention is safe to run twice)."),
             as_json: bool = JsonOption) -> None:
    """Run each configured retention once: closed quarantine entries (PIM_QUARANTINE_RETENTION_DAYS), the
    portal's download log (PIM_DOWNLOAD_LOG_RETENTION_DAYS), uploaded files whose import job ended
    (PIM_UPLOAD_RETENTION_DAYS), feed files as `pim feeds prune --older-than` prunes them
    (PIM_FEED_RETENTION_DAYS). Always, set or not: the dirs publications killed mid-run left under
    PIM_OUTPUT/.staging (never a queued or running job's), and the web's expired drafts (unsaved value edits
    kept 12 hours across a sign-in). Each `pim worker` runs this by itself every
    PIM_MAINTENANCE_INTERVAL_HOURS; where no worker runs, run it from cron or a systemd timer. It holds the
    maintenance lease while it runs, so no worker starts the same pass meanwhile. While a worker holds it (for
    PIM_MAINTENANCE_INTERVAL_HOURS from its pass) or another `pim maintain` runs, it runs nothing, says who holds
    it and exits 75, unless --force.
    Exit 1: a retention failed; 3: a retention's setting is wrong (the others still ran)."""
    from rich.markup import escape

    from pim.maintenance import LeaseHeld, command_pass
    from pim.store import Store

    try:
        result = command_pass(Store.from_settings(), dry_run=dry_run, force=force)
    except LeaseHeld as exc:
        if as_json:
            emit_json({"dry_run": False, "ran": False, "lease": exc.held})
        err.print(f"[yellow]not run[/]: {escape(exc.describe())}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        emit_json(result.as_dict())
    else:
        verb = "would delete" if dry_run else "deleted"
        table(f"maintenance{' (dry run: nothing deleted)' if dry_run else ''}",
              ["retention", "days", "status", verb, "notes"],
              [(name, r["days"], r["status"], r.get("would_delete" if dry_run else "deleted"), _notes(r))
               for name, r in result.retentions.items()])
        for name in result.failed:
            err.print(f"[red]{name} failed[/]: {escape(result.retentions[name]['error'])}", highlight=False)
        if staged := result.staging.get("would_delete" if dry_run else "deleted"):  # what stopped publications left
            console.print(f"staging: {verb} {staged} dir(s) that stopped publications left "
                          f"({result.staging['bytes']:,} bytes)", highlight=False)
        if result.staging.get("error"):
            err.print(f"[red]staging failed[/]: {escape(result.staging['error'])}", highlight=False)
        if drafts := result.drafts.get("would_delete" if dry_run else "deleted"):  # unsaved edits past 12 h
            console.print(f"drafts: {verb} {drafts} expired web draft(s) (value edits an ended session did not "
                          f"save, kept 12 hours)", highlight=False)
        if result.drafts.get("error"):
            err.print(f"[red]drafts sweep failed[/]: {escape(result.drafts['error'])}", highlight=False)
        if not result.configured:
            err.print("[yellow]nothing is configured[/]: set the retentions you want (days); an unset one keeps "
                      "everything", highlight=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _notes(retention: dict[str, Any]) -> str:
    """The setting to set (a retention that is off), the cut-off, and for uploads the bytes freed and what was
    kept and why."""
    if retention["days"] is None:
        return f"set {retention['setting']} (days) to run it"
    notes = [f"before {retention['before'][:16].replace('T', ' ')} UTC"] if retention.get("before") else []
    if retention.get("bytes"):
        notes.append(f"{retention['bytes']:,} bytes")
    notes += [f"kept {n}: {why}" for why, n in (retention.get("kept") or {}).items()]
    return "; ".join(notes)


def _report(event: str, job: dict[str, Any]) -> None:
    from rich.markup import escape

    if event == "started":
        err.print(f"job {job['id']}: {job['kind']} {escape(str(job['source']))} …", highlight=False)
        return
    counts = " ".join(f"{k} {v}" for k, v in (job.get("counts") or {}).items() if isinstance(v, int))
    colour = {"succeeded": "green", "partial": "green", "cancelled": "yellow"}.get(job["status"], "red")
    err.print(f"job {job['id']}: [{colour}]{job['status']}[/] {counts}"
              + (f" — {escape(job['error'])}" if job.get("error") else ""), highlight=False)


@contextmanager
def _stopping(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and the first SIGINT ask the loop to stop after the job under way; a second SIGINT interrupts."""
    def ask(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, ask) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextmanager
def _logging() -> Iterator[None]:
    """The queue's and the runners' log lines (a failed job's traceback) on stderr, through rich."""
    from rich.logging import RichHandler

    handler = RichHandler(console=err, show_path=False)
    logger = logging.getLogger("pim")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _watch_parent(parent: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


@jobs_app.command("retry")
def retry(job_id: int = typer.Argument(..., help="The job's id (`pim import jobs`, the web UI's jobs page)."),
          as_json: bool = JsonOption) -> None:
    """Queue a failed, interrupted or cancelled job again; a worker runs it (safe: imports skip what they merged)."""
    from pim import job_enqueue, job_status
    from pim.store import Store

    store = Store.from_settings()
    job = job_enqueue.retry(store, job_id)
    running = job_status.worker_running(store)
    if as_json:
        emit_json({"id": job["id"], "kind": job["kind"], "source": job["source"], "status": job["status"],
                   "worker_running": running})
        return
    console.print(f"job {job_id} ({job['kind']} {job['source']}) queued again", highlight=False, markup=False)
    if not running:
        err.print(f"[yellow]{job_status.NO_WORKER}[/]", highlight=False)


@jobs_app.command("cancel")
def cancel(job_id: int = typer.Argument(..., help="The job's id (`pim jobs status`, the web UI's jobs page)."),
           as_json: bool = JsonOption) -> None:
    """Cancel a queued job, or ask a running one to stop at its next safe point (between pages or batches; what
    it committed is kept). `pim jobs retry ID` runs a cancelled job again."""
    from pim import job_cancel
    from pim.store import Store

    store = Store.from_settings()
    job = job_cancel.cancel(store, job_id)
    if as_json:
        emit_json({"id": job["id"], "kind": job["kind"], "source": job["source"], "status": job["status"],
                   "cancel_requested_at": job.get("cancel_requested_at")})
        return
    what = f"job {job_id} ({job['kind']} {job['source']})"
    if job["status"] == "running":
        console.print(f"{what}: cancel requested; it stops at its next safe point (what it committed is kept)",
                      highlight=False, markup=False)
    else:
        console.print(f"{what} {job['status']}", highlight=False, markup=False)


@jobs_app.command("priority")
def priority(job_id: int = typer.Argument(..., help="The job's id (`pim jobs list`, the web UI's jobs page)."),
             value: int = typer.Argument(..., help="The new priority: higher is claimed first.", metavar="N"),
             as_json: bool = JsonOption) -> None:
    """Give a queued job another priority (workers take the highest first, the oldest among equals); a running
    or finished job is refused. A negative one goes after `--`: `pim jobs priority 7 -- -5`."""
    from pim import job_enqueue
    from pim.store import Store

    job = job_enqueue.set_priority(Store.from_settings(), job_id, value)
    if as_json:
        emit_json({k: job[k] for k in ("id", "kind", "source", "status", "priority")})
        return
    console.print(f"job {job_id} ({job['kind']} {job['source']}): priority {job['priority']}", highlight=False,
                  markup=False)


@jobs_app.command("list")
def list_jobs(limit: int = typer.Option(20, help="At most this many jobs, newest first."),
              kind: str | None = typer.Option(None, help="Only this kind of job (import, publish, rescore, ...)."),
              as_json: bool = JsonOption) -> None:
    """List jobs, newest first: kind, status, priority, source and counts (a `pim publish` too); a queued job
    another keeps waiting says which and why (`waits_for`, `waiting_reason` in --json)."""
    from pim import job_status
    from pim.store import Store

    store = Store.from_settings()
    rows = store.jobs(kind, limit)
    waits = {w["id"]: w for w in job_status.waiting(store, rows)}
    if as_json:
        emit_json([{**r, "waits_for": waits[r["id"]]["waits_for"], "waiting_reason": waits[r["id"]]["reason"]}
                   if r["id"] in waits else r for r in rows])
        return
    job_table(rows, priority=True)
    _say_waiting(waits.values())


@jobs_app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """How many jobs wait, which running jobs were asked to stop, which workers are alive to run them, and which
    queued job waits for which other and why (`waiting` in --json, there when one does)."""
    from pim import job_status, job_workers
    from pim.store import Store

    store = Store.from_settings()
    waiting, workers = job_status.queued(store), job_workers.live(store)
    stopping, cancelled = job_status.cancelling(store), job_status.cancelled(store)
    blocked = job_status.waiting(store)
    if as_json:
        emit_json({"queued": waiting, "workers": workers, "cancel_requested": [j["id"] for j in stopping],
                   "cancelled": cancelled, **({"waiting": blocked} if blocked else {})})
        return
    table(f"{waiting} queued job(s), {len(workers)} worker(s)", ["worker", "host", "pid", "since", "jobs run"],
          [(w["id"], w["host"], w["pid"], f"{w['started_at']:%Y-%m-%d %H:%M:%S}", w["jobs"]) for w in workers])
    for job in stopping:
        console.print(f"job {job['id']} ({job['kind']} {job['source']}): cancel requested, stops at its next safe "
                      "point", highlight=False, markup=False)
    if cancelled:
        console.print(f"{cancelled} cancelled job(s): `pim jobs retry ID` queues one again", highlight=False,
                      markup=False)
    _say_waiting(blocked)
    if waiting and not workers:
        err.print(f"[yellow]{job_status.NO_WORKER}[/]", highlight=False)


def _say_waiting(blocked: Iterable[dict[str, Any]]) -> None:
    """One line per queued job another keeps waiting (pim.job_status.waiting)."""
    for w in blocked:
        console.print(f"job {w['id']} {w['reason']}", highlight=False, markup=False)
