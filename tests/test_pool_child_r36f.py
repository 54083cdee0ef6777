"""Round 36 (F1): what a pool process starts takes SIGTERM and SIGINT as usual (pim.pool_child). The pool
process itself leaves both to its parent, but it used to ignore them (SIG_IGN), which a program it execs
inherits: a converter or `ssh` a pool child started ignored `systemctl stop` and Ctrl-C too."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from pim.executor import make_executor


def _mask(pid: int, field: str) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1], 16)


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


def _start_sleep(_: int) -> tuple[int, int]:
    """In a pool process: start a program (kept running; the test ends it) and say its pid and ours."""
    proc = subprocess.Popen(["sleep", "120"])
    return proc.pid, os.getpid()


def _fork_and_report(_: int) -> tuple[bool, bool]:
    """In a pool process: fork (no exec) and report, from the new process, its SIGTERM and SIGINT handlers."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked process
        os.close(read)
        term = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        intr = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        os.write(write, bytes([term, intr]))
        os._exit(0)
    os.close(write)
    got = os.read(read, 2)
    os.close(read)
    os.waitpid(pid, 0)
    return bool(got[0]), bool(got[1])


def _gone(pid: int, within: float = 30.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True
        if "\nState:\tZ" in state:
            return True
        time.sleep(0.1)
    return False


def test_a_program_a_pool_process_starts_takes_sigterm_and_sigint_as_usual() -> None:
    with make_executor("process", 1) as pool:
        sleeper, child = pool.submit(_start_sleep, 0).result(timeout=60)
        try:
            assert not _mask(sleeper, "SigIgn") & (_bit(signal.SIGTERM) | _bit(signal.SIGINT))
            assert _mask(child, "SigCgt") & _bit(signal.SIGTERM)  # the pool process still leaves it to us
            os.kill(sleeper, signal.SIGTERM)
            assert _gone(sleeper)  # a plain `kill` ends it
            os.kill(child, signal.SIGTERM)  # and the pool process shrugs it off: the pool still works
            assert pool.submit(_fork_and_report, 0).result(timeout=60) == (True, True)
        finally:
            try:
                os.kill(sleeper, signal.SIGKILL)
            except OSError:
                pass
