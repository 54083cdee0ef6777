"""What each process of a process pool (pim.executor.make_executor) does first, before any task.

The pool forks its processes from the one fanning work out (`pim import`, `pim worker`, `pim feeds deliver`,
`pim gate rescore`), so each starts as a copy of it: its open sockets, its signal handlers, its SQLAlchemy
engines and their pooled connections. Left so, a `kill -9` of the parent (the OOM killer, an operator) leaves
the children running for ever (parent pid 1, ~100 MB each), and since they still hold the parent's PostgreSQL
socket the server never sees the client go: the killed process's transaction stays open with the catalog
write lock, and the re-run hangs. So each child, as it starts (`start`):

- dies when its parent dies: Linux's `prctl(PR_SET_PDEATHSIG, SIGKILL)`, elsewhere a thread watching
  `os.getppid()` (`WATCH_INTERVAL`). The kernel sends the signal when the *thread* that forked the child
  ends; make_executor's pools are made, used and shut down inside one `with` block, so that thread outlives them;
- shrugs off SIGTERM and SIGINT: `systemctl stop` (KillMode=control-group, the default) sends SIGTERM to every
  process of the unit, and a Ctrl-C at the terminal reaches the whole process group; the parent decides what
  either means (`pim worker` finishes the job under way), and a child that died of it would break the pool and
  fail that job. The children end with the parent's pool, or with the parent (above); `kill -9` ends one.
  They are caught by a handler that does nothing (with SA_RESTART: no system call is cut short), not ignored
  (SIG_IGN): an ignored signal stays ignored across exec, so every program a pool child started (a converter,
  `ssh`) ignored `systemctl stop` and Ctrl-C too, while a caught one is back to its default in anything that
  execs (POSIX), and `fork` without exec restores the defaults in the new process (`os.register_at_fork`);
- forgets the connections its engines pooled in the parent (what `Engine.dispose(close=False)` does: closing
  them would end the parent's sessions), so a task that uses an inherited engine opens its own."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)
#: prctl(2) option: the signal the kernel sends this process when its parent (thread) ends.
PR_SET_PDEATHSIG = 1
#: Seconds between looks at the parent where prctl is not available (not Linux).
WATCH_INTERVAL = 1.0
#: The signals a pool process leaves to its parent (caught, doing nothing).
PARENT_DECIDES = (signal.SIGTERM, signal.SIGINT)


def start(parent: int | None) -> None:
    """A pool process's initializer; `parent`: the pid of the process that made the pool (None: this process is
    a forkserver's child, and only asks for the parent-death signal)."""
    _die_with(parent)
    for signum in PARENT_DECIDES:  # the parent decides what a stop means; what this process starts does not
        signal.signal(signum, _parent_decides)
        signal.siginterrupt(signum, False)
    os.register_at_fork(after_in_child=restore_defaults)
    forget_inherited_connections()


def _parent_decides(signum: int, frame: object) -> None:
    """SIGTERM or SIGINT reached this pool process (a stop sent to the whole unit or process group): nothing to
    do, the parent that made the pool decides."""


def restore_defaults() -> None:
    """In a process a pool process forked: SIGTERM and SIGINT as Python starts with them (what an exec gets from
    the kernel anyway): whatever a pool process starts can be stopped as usual."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _die_with(parent: int | None) -> None:
    """SIGKILL this process once `parent` is gone; at once if it is gone already (it died before we asked)."""
    if not _parent_death_signal(signal.SIGKILL) and parent is not None:
        threading.Thread(target=_watch, args=(parent,), daemon=True, name="pim-pool-parent").start()
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def _parent_death_signal(signum: int) -> bool:
    """Ask Linux to send `signum` when the parent ends; False where that cannot be asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    """The portable fallback: a daemon thread that kills this process once it has another parent."""
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)


def forget_inherited_connections() -> int:
    """Drop, without closing, the pooled connections of every SQLAlchemy engine this process inherited; how many
    engines. Each keeps working: its next checkout connects anew. psycopg leaves a connection made by another
    process alone when it is freed, so the parent's sessions are untouched. The pool is replaced as
    `Engine.dispose(close=False)` replaces it, but without its `engine_disposed` event: listeners assume this
    process's threads (pim.store.wal_checkpoints waits for its checkpoint thread, which a child does not have:
    a fork while that thread was about to checkpoint left the child waiting for ever)."""
    base = sys.modules.get("sqlalchemy.engine.base")
    if base is None:  # nothing imported SQLAlchemy: no engine to forget
        return 0
    engines = [obj for obj in gc.get_objects() if type(obj) is base.Engine]  # an OptionEngine shares its pool
    for engine in engines:
        try:
            engine.pool = engine.pool.recreate()
        except Exception:  # noqa: BLE001 - one odd engine must not stop the pool from starting
            log.warning("could not drop the connections inherited by %r", engine, exc_info=True)
    return len(engines)
