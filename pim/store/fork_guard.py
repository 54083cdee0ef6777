"""Keep this process's background threads out of SQLite while it forks.

A batch fan-out forks worker processes (concurrent.futures' process pool, `fork` on Linux). A child gets a copy
of the parent's memory but only the forking thread: a mutex another thread held at that moment stays held in
the child forever. SQLite keeps process-wide mutexes (its memory allocator's, its VFS's); a fork while the WAL
checkpoint thread (pim.store.wal_checkpoints) or a job heartbeat (pim.store.heartbeat) is inside an SQLite
call left the child blocked on its first `sqlite3.connect` (seen in CI: a worker stuck in `sqlite3Malloc`).

So those threads hold `inside_sqlite()` around their SQLite work, and a fork waits for it first
(`os.register_at_fork`): the child starts with no SQLite mutex taken. The wait is as long as one checkpoint or
heartbeat write (a heartbeat waits at most the busy timeout for the write lock); forks happen between import
batches, when the forking thread holds no transaction. Other threads of a process that forks (a web server's
request threads) are not covered: pim forks from its command-line and worker processes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_GUARD = threading.Lock()


@contextmanager
def inside_sqlite() -> Iterator[None]:
    """Hold around a background thread's SQLite calls: no fork happens meanwhile."""
    with _GUARD:
        yield


def _before_fork() -> None:
    _GUARD.acquire()


def _after_fork() -> None:
    _GUARD.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
