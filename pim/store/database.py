"""Engines and migrations. SQLite by default (WAL, one file in PIM_HOME), PostgreSQL by URL."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from pim.errors import StoreError
from pim.store import wal_checkpoints

MIGRATIONS = Path(__file__).parent / "migrations"
#: How long a SQLite upgrade waits for another process's write to end before it gives up (seconds).
UPGRADE_LOCK_WAIT = 600.0

log = logging.getLogger(__name__)


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_loads(value: object) -> object:
    """A JSON column's value: JSON text, or on SQLite a bare number already converted (a column declared
    JSON has NUMERIC affinity, so SQLite stores the text `0` as the integer 0)."""
    return orjson.loads(value) if isinstance(value, (str, bytes, bytearray, memoryview)) else value


#: Any pim holds this advisory lock while it migrates a PostgreSQL database ("pimmigra"; outside the int4 range
#: of the hashtext() keys pim.web takes): two commands started at once on a fresh database each ran the upgrade.
MIGRATION_LOCK = 0x70696D6D69677261


def make_engine(url: str) -> Engine:
    """An engine for PIM_DATABASE_URL. `postgres://` (libpq's and hosting providers' spelling) and `postgresql://`
    mean pim's driver, psycopg 3; a URL naming another driver or scheme this install lacks is a StoreError."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url[len(scheme):]
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        on_disk = bool(path) and path != ":memory:"
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_dumps, json_deserializer=json_loads)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _to_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        if on_disk and not path.startswith("file:"):
            wal_checkpoints.attach(engine, path)
        return engine
    try:
        return create_engine(url, json_serializer=_dumps, json_deserializer=json_loads, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
        scheme = url.partition("://")[0] if "://" in url else url.partition(":")[0]
        missing = f"its driver ({exc.name}) is not installed" if isinstance(exc, ModuleNotFoundError) else (
            "pim knows no such database or driver" if isinstance(exc, NoSuchModuleError) else "it is not a database URL")
        raise StoreError(
            f"PIM_DATABASE_URL cannot be used: {missing} (scheme '{scheme}')",
            hint="use postgresql://user:password@host:port/database (pim's PostgreSQL driver, psycopg 3) or "
                 "sqlite:///path/to/pim.db, or unset PIM_DATABASE_URL to use SQLite in PIM_HOME; to keep another "
                 "driver, install it into pim's environment",
        ) from exc


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


#: How long a connection tries to switch a fresh SQLite file to WAL while another process holds it.
WAL_SWITCH_WAIT = 30.0


def _to_wal(cur: Any) -> None:
    """PRAGMA journal_mode=WAL, tried again while another connection holds the file: SQLite answers "database is
    locked" at once there, without the busy handler, so two processes opening a fresh file together (two commands
    migrating it) failed one of them. The mode is kept in the file, so once one switched, the other's pragma finds
    WAL and needs no lock."""
    import sqlite3

    since = time.monotonic()
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() - since >= WAL_SWITCH_WAIT:
                raise
            time.sleep(0.05)


def migrate(engine: Engine) -> None:
    """Upgrade to every branch head. Safe to call on every start, also by several commands at once: the upgrade
    runs under a lock held until its transaction ends — MIGRATION_LOCK on PostgreSQL, the database's write lock
    on SQLite (`_sqlite_upgrade_lock`) —, so a command that waited for another's upgrade finds the database at
    the head (alembic reads its version after the lock) and does nothing."""
    cfg = alembic_config()
    try:
        if engine.dialect.name == "sqlite" and _at_heads(engine, cfg):
            return  # the usual start: no write lock to wait for behind another process's long write
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # held until this transaction (the whole upgrade) ends
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            else:
                _sqlite_upgrade_lock(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except OperationalError as exc:
        raise StoreError(
            f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}",
            hint="check PIM_DATABASE_URL, or unset it to use SQLite in PIM_HOME",
        ) from exc
    except CommandError as exc:
        unknown = _unknown_revisions(engine, cfg)
        if not unknown:
            raise
        raise StoreError(
            f"the database at {engine.url.render_as_string(hide_password=True)} was migrated by a newer pim release "
            f"(schema revision {', '.join(unknown)}, which this pim does not know), so this pim cannot use it",
            hint="upgrade pim to the release that migrated it (or a later one), or restore a backup of the database "
                 "taken before that upgrade",
        ) from exc


def _at_heads(engine: Engine, cfg: Config) -> bool:
    """Whether the database is at this pim's heads already (read without a lock: a stale answer only means the
    locked upgrade finds nothing to do)."""
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(ScriptDirectory.from_config(cfg).get_heads())


def _sqlite_upgrade_lock(conn: Connection) -> None:
    """Make the upgrade one SQLite write transaction from its first statement (BEGIN IMMEDIATE; in WAL mode the
    same as EXCLUSIVE: readers go on, writers wait): a second process's upgrade waits at its BEGIN, then reads
    the version the first committed. Without it pysqlite ran each CREATE on its own, so two processes migrating
    a fresh file both began the upgrade and one failed ("table alembic_version already exists", or "database is
    locked" upgrading its read to a write). The whole upgrade is thereby atomic too: SQLite's DDL is
    transactional. busy_timeout gives up after 30 s; an upgrade of a large database can take longer, so the
    BEGIN is tried again, saying so each time, for up to UPGRADE_LOCK_WAIT, then it is a StoreError (a process
    that never lets go, e.g. a stuck sqlite3 shell, is not waited for for ever)."""
    path = conn.engine.url.database
    since = time.monotonic()
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig):
                raise
            waited = time.monotonic() - since
            if waited >= UPGRADE_LOCK_WAIT:
                raise StoreError(
                    f"cannot upgrade the database {path}: it waited {waited:.0f} s for another process to end "
                    f"its write, and gave up",
                    hint=f"wait for the other pim command (an import, a worker's job, another upgrade) to end, then "
                         f"start this command again; if none should be running, find the process holding the file "
                         f"(`fuser {path}` or `lsof {path}`) and stop it") from exc
        log.warning("the database %s is locked: another pim process is writing to it (an import, a worker's job, "
                    "another upgrade); this upgrade waits for it (%.0f s so far, at most %.0f s). Let it finish, or "
                    "find the process (`fuser %s`)", path, waited, UPGRADE_LOCK_WAIT, path)


def _unknown_revisions(engine: Engine, cfg: Config) -> list[str]:
    """The revisions the database's alembic_version holds that none of this pim's migrations has."""
    script = ScriptDirectory.from_config(cfg)
    known = {s.revision for s in script.walk_revisions()}
    with engine.connect() as conn:
        return sorted(set(MigrationContext.configure(conn).get_current_heads()) - known)


#: SQLSTATEs of a transaction the server rolled back for another writer's sake: deadlock, serialization failure.
_OVERTAKEN_STATES = {"40P01", "40001"}
#: SQLSTATEs of a server ending sessions: shut down (smart/fast), crashed, starting or stopping.
_GONE_STATES = {"57P01", "57P02", "57P03"}
#: SQLSTATEs of a server that cannot serve a statement now, though it would later: a statement cancelled (its
#: statement_timeout, or an administrator) and a lock not had in time (lock_timeout); the class 53 ones, short of
#: resources (too many connections, disk full, out of memory), match by their prefix (`_BUSY_CLASS`).
_BUSY_STATES = {"57014", "55P03"}
_BUSY_CLASS = "53"
#: SQLSTATE of a write sent to a server that takes none: a replica (hot standby), a server in recovery, or one
#: set read-only (default_transaction_read_only, as some hosted servers do when their disk fills).
_READ_ONLY_STATE = "25006"
#: SQLSTATE class of an error of the server's own system, not the statement's: an I/O error (58030), a file
#: missing under its data directory (58P01). A disk or file system to look at, on the server.
_SYSTEM_CLASS = "58"


@dataclass(frozen=True)
class DatabaseFailure:
    """A database failure met mid-run (`failure_in`): the server rolled the transaction back for another writer's
    sake (`overtaken`: a deadlock, a serialization failure), another process held SQLite's write lock past the
    busy timeout (`locked`), the server could not serve the statement now (`busy`: too many connections, disk or
    memory short, a statement or lock timeout), the server takes no writes (`read_only`: a replica, a server in
    recovery), the server met an error of its own system (`system`: an I/O error), or the connection to the server
    is gone; `said` is the driver's first line. Each is one a worker waits out (a failover ends a read-only spell,
    a freed disk a system error; a read-only one only for a while: PIM_WORKER_READ_ONLY_WAIT) while saying what
    to do, and each audience is told it its own way, by `kind`: the command line (`database_failure`), a queued
    job (the same, with how to run the job again), the worker's log (`what`), a web request
    (pim.web.api_errors.unavailable)."""

    overtaken: bool
    said: str
    locked: bool = False
    busy: bool = False
    read_only: bool = False
    system: bool = False

    @property
    def kind(self) -> str:
        """Which failure: "locked", "busy", "read_only", "system", "overtaken" or "gone" (the server away), the key
        each audience's wording is looked up by."""
        return next((k for k in ("locked", "busy", "read_only", "system", "overtaken") if getattr(self, k)), "gone")

    @property
    def what(self) -> str:
        """The failure in a few words, with what to do where waiting may not be enough (the worker's log)."""
        return _WHAT[self.kind]


_WHAT = {
    "locked": "the database is busy with another process's write",
    "busy": "the database server cannot serve it now (short of connections, disk or memory, or a statement or lock "
            "timeout)",
    "read_only": "the database takes no writes: PIM_DATABASE_URL points at a replica or at a server in recovery "
                 "(point it at the primary server)",
    "system": "the database server met a system error (check the server's disk and its log)",
    "overtaken": "the database stopped a transaction to let another writer go on",
    "gone": "the database is unavailable",
}


def failure_in(exc: BaseException | None) -> DatabaseFailure | None:
    """The database failure in `exc` or the exceptions it chains; None for any other error (a bug, a schema this
    pim does not expect, a right the database user lacks: `database_refused`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DBAPIError):
            state = getattr(exc.orig, "sqlstate", None) or ""
            said = driver_said(exc)
            if state in _OVERTAKEN_STATES:
                return DatabaseFailure(True, said)
            if _sqlite_locked(exc):
                return DatabaseFailure(False, said, locked=True)
            if state in _BUSY_STATES or state.startswith(_BUSY_CLASS):
                return DatabaseFailure(False, said, busy=True)
            if state == _READ_ONLY_STATE:
                return DatabaseFailure(False, said, read_only=True)
            if state.startswith(_SYSTEM_CLASS):
                return DatabaseFailure(False, said, system=True)
            if exc.connection_invalidated or state.startswith("08") or state in _GONE_STATES or _client_side(exc):
                return DatabaseFailure(False, said)
        exc = exc.__cause__ or exc.__context__
    return None


#: SQLAlchemy's link to its error pages, which it appends to its errors' text.
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


def driver_said(exc: BaseException) -> str:
    """The first meaningful line the driver said of a database error, for messages people read: without
    SQLAlchemy's `(module.Class)` prefix, its `[SQL: …]` and `[parameters: …]` lines (the statement and its
    values, which belong in the log) and its sqlalche.me link."""
    orig = getattr(exc, "orig", None)
    text = _BACKGROUND.sub("", str(orig if orig is not None else exc))
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith(("[SQL:", "[parameters:"))]
    return lines[0] if lines else type(orig if orig is not None else exc).__name__


def database_failure(exc: BaseException, *, again: str | None = None) -> StoreError | None:
    """The StoreError for a database failure met mid-run — the server went away, it rolled this command's
    transaction back to break a deadlock, it could not serve the statement now (overloaded, a timeout), it takes
    no writes (a replica), it met a system error (I/O), or another process held SQLite's write lock too long — found in `exc` or the exceptions it chains, so the command line
    shows a message and what to do instead of chained tracebacks. None for any other error (a bug: shown in full). `again`: how to run it again, for a queued job
    a worker ran (pim.store.store.run_again, e.g. `pim jobs retry 7`), instead of the command line's "run the
    command again"; the message then says "this job's"."""
    found = failure_in(exc)
    if found is None:
        return None
    whose = "this job's" if again else "this command's"
    if found.overtaken:
        return StoreError(
            f"another writer needed the same rows at the same time, and the database stopped {whose} "
            f"transaction to let it go on ({found.said})",
            hint=f"nothing of that transaction was saved; {again}" if again else
                 "nothing of that transaction was saved; run the command again (an import skips what it already "
                 "wrote)")
    if found.locked:
        return StoreError(
            f"another process is writing to the SQLite database and kept it locked longer than {whose} write "
            f"could wait ({found.said})", hint=_LOCKED_HINT.format(again=again or "run the command again"))
    if found.busy:
        return StoreError(f"the database server could not serve {whose} statement now ({found.said})",
                          hint=_BUSY_HINT.format(again=again or "run the command again"))
    if found.read_only:
        return StoreError(f"the database refused {whose} write: it takes no writes ({found.said})",
                          hint=_READ_ONLY_HINT.format(again=again or "run the command again"))
    if found.system:
        return StoreError(f"the database server met a system error serving {whose} statement ({found.said})",
                          hint=_SYSTEM_HINT.format(again=again or "run the command again"))
    if again:
        hint = (f"the batch in progress was not saved; once the database server is running again (check "
                f"PIM_DATABASE_URL), {again}")
    else:
        hint = ("the batch in progress was not saved, and the job this command was running ends failed (or, when "
                "the database could not record that, shows as interrupted); once the database server is running "
                "again (check PIM_DATABASE_URL), run the command again (an import skips what it already wrote)")
    return StoreError(f"lost the connection to the database mid-run: {found.said}", hint=hint)


_LOCKED_HINT = ("nothing of that transaction was saved; once the other process's write is over (an import, a "
                "worker's job, a publication), {again} (an import skips what it already wrote). SQLite lets one "
                "process write at a time: where several write at once (the web app, workers, scheduled imports), "
                "use PostgreSQL (PIM_DATABASE_URL=postgresql://…)")
_BUSY_HINT = ("nothing of that transaction was saved; in a minute, {again} (an import skips what it already "
              "wrote). If it keeps happening, ask the database's administrator to check the server: its "
              "connections (max_connections, or a pooler in front), free disk and memory, and the "
              "statement_timeout and lock_timeout this work runs under")
_READ_ONLY_HINT = ("nothing of that transaction was saved. PIM_DATABASE_URL points at a server that takes no writes: "
                   "a replica (hot standby), a server still in recovery, or one set read-only "
                   "(default_transaction_read_only, which some hosted servers set when their disk is full); point "
                   "PIM_DATABASE_URL at the primary server (after a failover: the new primary), then {again}")
_SYSTEM_HINT = ("nothing of that transaction was saved. The error is the server's own, not this statement's (an I/O "
                "error, a file missing under its data directory): ask the database's administrator to check the "
                "server's disk and file system and its log; once that is mended, {again}")


def read_only_too_long(found: DatabaseFailure, seconds: float, again: str) -> StoreError:
    """The StoreError that stops a worker whose database has taken no writes for `seconds` though it reconnected
    at each try (a failover that moved the server's name would have been followed by then): PIM_DATABASE_URL
    names a replica, which no wait mends. `again`: how to go on once it names the primary."""
    return StoreError(f"the database has taken no writes for {spell_length(seconds)}, though the worker connected "
                      f"anew at each try ({found.said}): waiting longer would not mend that, so the worker stopped",
                      hint=_READ_ONLY_HINT.format(again=again))


def spell_length(seconds: float) -> str:
    """A wait as the worker says it: whole minutes from two minutes on ("10 min"), else seconds ("45 s")."""
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def database_refused(exc: BaseException, what: str, *, again: str | None = None) -> StoreError:
    """The StoreError for a database error that is no failure to wait out (`failure_in` finds none): a table or
    column this pim expects is missing, the database user lacks a right, a constraint or a statement is wrong (a
    bug). `what` says what was refused ("this job's statement"); `again`: how to go on once it is mended. Waiting
    would not help, so the message says what to check; the full error (with the statement) is the log's."""
    then = f"; then {again}" if again else ""
    return StoreError(
        f"the database refused {what}: {driver_said(exc)}",
        hint="if the database is not at this pim release's schema (a table or column missing: restored from an "
             "older backup, or migrated by another pim release), run `pim init` with this release: it migrates "
             "the database, or says which release migrated it; if the database user lacks a right (permission "
             f"denied), grant it; otherwise report this error with the log, which has it in full{then}")


def _sqlite_locked(exc: DBAPIError) -> bool:
    """SQLite's "database is locked": another connection held the write lock past the busy timeout (or a read
    could not become a write under another's commit)."""
    return isinstance(exc.orig, sqlite3.OperationalError) and str(exc.orig).startswith("database is locked")


def _client_side(exc: DBAPIError) -> bool:
    """psycopg's own OperationalError, with no SQLSTATE from a server: the connection failed or was lost (SQLite's
    errors have no `sqlstate`: its "database is locked" is not taken for a lost server)."""
    return isinstance(exc, OperationalError) and hasattr(exc.orig, "sqlstate") and not exc.orig.sqlstate


def ping(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise StoreError(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}",
            hint="is the server running? check PIM_DATABASE_URL",
        ) from exc
