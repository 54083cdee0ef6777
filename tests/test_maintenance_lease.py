"""The maintenance pass's lease: a pass that did not complete (a retention failed, the pass raised, or the worker
was asked to stop midway) holds it only min(interval, an hour), so the next attempt comes soon; `pim maintain`
holds it while it runs and lets go after, refuses with exit 75 while another run holds it, and runs anyway with
`--force`; a worker asked to stop skips the retentions still to run and says which."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pim import job_queue, maintenance
from pim.feed_schedule import claims
from pim.store import Store
from pim.store.store import now
from tests.test_maintenance import _Clock, _cli, _counts, _entry, _import_job, _set, _upload, _uploads, runner


def _broken(*_: Any) -> dict[str, Any]:
    raise OSError("disk on fire")


def _lease(store: Store) -> dict[str, Any] | None:
    return claims(store).get(maintenance.LEASE)


def test_a_failed_pass_holds_the_lease_an_hour_not_the_interval(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    monkeypatch.setitem(maintenance.RETENTIONS, "uploads", ("upload_retention_days", _broken))
    clock = _Clock()
    first, second = (maintenance.Timer(store, interval=timedelta(hours=24), clock=clock) for _ in range(2))
    result = first.tick()
    assert result is not None and result.failed == ["uploads"]
    assert claims(store, clock.at)[maintenance.LEASE]["held_until"] == (clock.at + timedelta(hours=1)).isoformat()
    clock.at += timedelta(minutes=59)
    assert second.tick() is None and first.tick() is None
    clock.at += timedelta(minutes=1, seconds=1)  # an hour after the failure, not a day
    monkeypatch.setitem(maintenance.RETENTIONS, "uploads", ("upload_retention_days", maintenance.prune_uploads))
    again = second.tick()
    assert again is not None and again.complete
    assert claims(store, clock.at)[maintenance.LEASE]["held_until"] == (clock.at + timedelta(hours=24)).isoformat()


def test_a_pass_that_raises_is_tried_again_a_retry_delay_after_it_ended(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The delay is min(interval, an hour), counted from the failure, not from the pass's start."""
    _set(monkeypatch, upload_retention_days=30)
    clock = _Clock()
    started = clock.at

    def boom(*_: Any, **__: Any) -> None:
        clock.at += timedelta(minutes=10)  # the pass ran ten minutes before it broke
        raise RuntimeError("the pass itself broke")

    monkeypatch.setattr(maintenance, "run_pass", boom)
    timer = maintenance.Timer(store, interval=timedelta(minutes=20), clock=clock)
    assert timer.tick() is None
    retry_at = started + timedelta(minutes=30)
    assert claims(store, clock.at)[maintenance.LEASE]["held_until"] == retry_at.isoformat()
    assert timer.next_look == retry_at


def test_a_worker_asked_to_stop_mid_pass_skips_the_rest_and_says_which(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _set(monkeypatch, quarantine_retention_days=90, upload_retention_days=30)
    _entry(store, "closed-long-ago")
    _import_job(store, _upload(pim_env, "old.csv", 400), ended_days_ago=400)
    stop = threading.Event()
    prune_quarantine = maintenance.RETENTIONS["quarantine"][1]

    def quarantine_then_sigterm(*args: Any) -> dict[str, Any]:
        done = prune_quarantine(*args)
        stop.set()  # as `pim worker`'s SIGTERM handler does
        return done

    monkeypatch.setitem(maintenance.RETENTIONS, "quarantine", ("quarantine_retention_days", quarantine_then_sigterm))
    job_queue.work(store, once=True, stop=stop)
    assert _counts(store)[0] == 0 and _uploads(pim_env) == ["old.csv"]  # the quarantine ran, the uploads did not
    assert "asked to stop; did not run uploads" in caplog.text
    held = _lease(store)  # the rest is left to the next pass, an hour on
    assert held is not None
    assert timedelta(minutes=59) < datetime.fromisoformat(held["held_until"]) - now() <= timedelta(hours=1)


def test_a_stop_before_the_pass_runs_no_retention(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, quarantine_retention_days=90, upload_retention_days=30)
    stop = threading.Event()
    stop.set()
    result = maintenance.run_pass(store, stop=stop)
    assert {n: r["status"] for n, r in result.retentions.items()} == {
        "quarantine": "stopped", "downloads": "off", "uploads": "stopped", "feeds": "off"}
    assert result.stopped == ["quarantine", "uploads"] and not result.complete and result.exit_code == 0


def test_pim_maintain_refuses_while_a_worker_holds_the_lease_and_force_runs_anyway(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    worker = maintenance.Timer(store)
    assert worker.tick() is not None  # a worker's pass: it holds the lease for the interval
    _import_job(store, _upload(pim_env, "old.csv", 60))
    refused = runner.invoke(_cli(), ["maintain"])
    assert refused.exit_code == maintenance.LEASE_HELD_EXIT == 75
    assert f"held by {worker.holder}" in refused.output and "--force" in refused.output
    assert _uploads(pim_env) == ["old.csv"]
    as_json = runner.invoke(_cli(), ["maintain", "--json"])
    assert as_json.exit_code == 75
    assert orjson.loads(as_json.stdout) == {"dry_run": False, "ran": False, "lease": _lease(store)}
    dry = runner.invoke(_cli(), ["maintain", "--dry-run", "--json"])  # deletes nothing: takes no lease
    assert dry.exit_code == 0 and orjson.loads(dry.stdout)["retentions"]["uploads"]["would_delete"] == 1
    forced = runner.invoke(_cli(), ["maintain", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert orjson.loads(forced.stdout)["retentions"]["uploads"]["files"] == ["old.csv"] and _uploads(pim_env) == []
    assert _lease(store)["holder"] == worker.holder  # type: ignore[index]  # left as it was


def test_pim_maintain_holds_the_lease_while_it_runs_and_lets_go_after(
        store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, upload_retention_days=30)
    seen: list[Any] = []

    def a_worker_looks_meanwhile(*args: Any) -> dict[str, Any]:
        seen.append((_lease(store), maintenance.Timer(store).tick()))
        return maintenance.prune_uploads(*args)

    monkeypatch.setitem(maintenance.RETENTIONS, "uploads", ("upload_retention_days", a_worker_looks_meanwhile))
    done = runner.invoke(_cli(), ["maintain"])
    assert done.exit_code == 0, done.output
    [(held, worker_pass)] = seen
    assert held is not None and worker_pass is None  # the worker found the command's lease and ran nothing
    assert _lease(store) is None  # let go: the next worker or cron run is not kept back
    assert runner.invoke(_cli(), ["maintain"]).exit_code == 0
