"""A process that forks while its WAL checkpoint thread is inside SQLite gave the child a held SQLite mutex:
the child hung on its first connect (a fan-out worker stuck in CI). pim.store.fork_guard makes the fork wait
until the thread is out of SQLite.

The loop runs in a freshly spawned interpreter: forking a long-lived pytest worker (a gigabyte of memory, its
own threads) cost most of a second per child, and a small process shows the fault more often, not less:
unguarded (`wal_checkpoints.inside_sqlite` a no-op) 8 children of 20 hung there, against 2–17 of 300 in a
worker."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pim.store import wal_checkpoints


def _child_connects(path: Path, timeout: float = 10.0) -> bool:
    """Fork a child that opens the database and reads it; False when it has not finished within `timeout`."""
    pid = os.fork()
    if pid == 0:  # the child: SQLite straight away, as a fan-out worker does
        try:
            conn = sqlite3.connect(path)
            conn.execute("SELECT count(*) FROM t").fetchone()
            conn.close()
        finally:
            os._exit(0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
        time.sleep(0.001)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return False


def forks_under_a_busy_checkpoint_thread(path: Path, forks: int = 300) -> tuple[int, int]:
    """Fork `forks` children while a thread checkpoints `path` back to back: (checkpoints made, children stuck)."""
    stop = threading.Event()
    checkpoints = 0

    def checkpoint_all_the_time() -> None:  # what the checkpoint thread does after every commit, back to back
        nonlocal checkpoints
        while not stop.is_set():
            try:
                wal_checkpoints.checkpoint(str(path))
                checkpoints += 1
            except sqlite3.OperationalError:  # a child's read holds the file for a moment
                pass

    worker = threading.Thread(target=checkpoint_all_the_time, daemon=True)
    worker.start()
    try:
        stuck = sum(not _child_connects(path) for _ in range(forks))
    finally:
        stop.set()
        worker.join(10)
    return checkpoints, stuck


def test_forks_while_the_checkpoint_thread_works_never_leave_a_child_stuck(tmp_path: Path) -> None:
    path = tmp_path / "pim.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        checkpoints, stuck = fresh.submit(forks_under_a_busy_checkpoint_thread, path).result(timeout=240)
    assert checkpoints > 300  # the thread was in SQLite throughout the forks
    assert stuck == 0
