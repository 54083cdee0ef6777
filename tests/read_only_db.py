"""A database that takes no writes (a demoted primary, 25006), as the worker tests set it up: a queued job for the
worker to look for, a spy on the store's pool being dropped, and the job claim refused as read-only until the
worker stops. The errors themselves (READ_ONLY, BUSY, IO_ERROR, _said) are tests/test_ops_r34.py's."""

from __future__ import annotations

import threading

import pytest

from pim import job_enqueue, job_queue, job_runners
from pim.settings import reset_settings
from pim.store import Store
from tests.test_ops_r33 import Claims
from tests.test_ops_r34 import READ_ONLY, _said


@pytest.fixture
def probe(store: Store, monkeypatch: pytest.MonkeyPatch) -> int:
    """A queued job of a kind whose runner does nothing."""
    monkeypatch.setitem(job_runners.RUNNERS, "probe", lambda _store, _job: {"ran": 1})
    return job_enqueue.enqueue(store, "probe", "somewhere", {})


class Disposals:
    """A spy on store.dispose (which still drops the pool): how many times, and the count at each `mark()`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
        self.calls, self.marks, real = 0, [], store.dispose

        def dispose() -> None:
            self.calls += 1
            real()

        monkeypatch.setattr(store, "dispose", dispose)

    def mark(self) -> None:
        self.marks.append(self.calls)


def read_only_wait(monkeypatch: pytest.MonkeyPatch, seconds: str) -> None:
    """PIM_WORKER_READ_ONLY_WAIT set to `seconds`, the settings read again."""
    monkeypatch.setenv("PIM_WORKER_READ_ONLY_WAIT", seconds)
    reset_settings()


def claims_refused_read_only(monkeypatch: pytest.MonkeyPatch, wait: str = "0.05") -> threading.Event:
    """The worker's read-only wait set to `wait` and the claims its loop makes (the `claim` it looks up in
    pim.job_queue) refused as read-only 300 times; returns the event the claims set after the last refusal (hand
    it to job_queue.work as `stop`: an old loop that never stops ends there instead of hanging)."""
    read_only_wait(monkeypatch, wait)
    stop = threading.Event()
    monkeypatch.setattr(job_queue, "claim", Claims([_said(READ_ONLY)] * 300, stop))
    return stop
