"""Worker wake-ups on PostgreSQL (pim.job_wakeup): an idle worker with a long poll takes a job enqueued from
another connection at once; a retry wakes it too, a rolled-back enqueue does not; a listener whose connection
was killed comes back and asks for a look; SQLite keeps the plain poll."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from pim import job_enqueue, job_queue, job_wakeup, job_workers
from pim.store import Store
from tests.test_job_queue import echo  # noqa: F401  (fixture: a runner of kind "echo")


@pytest.fixture
def listener(store: Store) -> Any:
    line = job_wakeup.Listener(store)
    yield line
    line.close()


@pytest.mark.backends("postgresql")
@pytest.mark.usefixtures("echo")
def test_an_idle_worker_with_a_long_poll_takes_a_job_enqueued_elsewhere_at_once(store: Store) -> None:
    stop, started, ran = threading.Event(), threading.Event(), []

    def on_job(event: str, job: dict[str, Any]) -> None:
        if event == "started":
            started.set()
        else:
            ran.append(job)

    worker = threading.Thread(target=job_queue.work, args=(store,), kwargs={"poll": 30, "stop": stop,
                                                                           "on_job": on_job})
    worker.start()
    other = Store(store.url, heartbeat_seconds=0)  # another process's connection
    try:
        deadline = time.monotonic() + 10
        while not job_workers.live(store) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # it looked, found nothing, and waits its 30 s
        assert not started.is_set()
        queued_at = time.monotonic()
        job_id = job_enqueue.enqueue(other, "echo", "from elsewhere", {"counts": {"read": 1}})
        assert started.wait(2.0), "the worker did not wake within 2 s of the commit"
        assert time.monotonic() - queued_at < 2.0
    finally:
        stop.set()
        worker.join(5)
        other.dispose()
    assert not worker.is_alive()  # a stop is seen within the wait's slice, not after the 30 s poll
    assert [(j["id"], j["status"]) for j in ran] == [(job_id, "succeeded")]


@pytest.mark.backends("postgresql")
@pytest.mark.usefixtures("echo")
def test_enqueue_and_retry_notify_on_commit_only(store: Store, listener: job_wakeup.Listener) -> None:
    assert listener.listen()
    never = threading.Event()
    with pytest.raises(RuntimeError), store.begin() as conn:
        job_enqueue.enqueue(conn, "echo", "rolled back")
        raise RuntimeError("the write that needed it failed")
    assert not listener.wait(never, 0.8)  # nothing was committed: nothing announced

    with store.begin() as conn:
        job_id = job_enqueue.enqueue(conn, "echo", "committed", {"fail": "value"})
        assert not listener.wait(never, 0.3)  # not before the commit
    assert listener.wait(never, 5)
    job_queue.work(store, once=True)
    assert store.job(job_id)["status"] == "failed"
    job_enqueue.retry(store, job_id)
    assert listener.wait(never, 5)
    held = job_enqueue.enqueue(store, "echo", "a command's own", held=True)  # no worker takes it: none woken
    assert not listener.wait(never, 0.5) and store.job(held)["status"] == "queued"


@pytest.mark.backends("postgresql")
@pytest.mark.usefixtures("echo")
def test_a_listener_whose_connection_was_killed_reconnects_and_asks_for_a_look(
        store: Store, listener: job_wakeup.Listener) -> None:
    assert listener.listen()
    with store.begin() as conn:
        killed = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE query LIKE 'LISTEN pim_jobs%' AND datname = current_database()")).scalar()
    assert killed
    never = threading.Event()
    assert listener.wait(never, 5)  # the wait saw the broken line, reopened it: a look is due (nothing raised)
    job_enqueue.enqueue(store, "echo", "after the reconnect")
    assert listener.wait(never, 5)


@pytest.mark.backends("sqlite")
def test_sqlite_keeps_the_plain_poll(store: Store, listener: job_wakeup.Listener) -> None:
    assert not listener.listen()
    job_enqueue.enqueue(store, "rescore", "shoes")
    began = time.monotonic()
    assert not listener.wait(threading.Event(), 0.3)
    assert time.monotonic() - began >= 0.29
