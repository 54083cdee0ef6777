"""`pim feeds deliver --due`: a scheduled contract goes out once per scheduled time, counted from its last
successful run; a failed or dry run does not count, and unscheduled contracts are left to explicit runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from pim.contracts import put_contracts
from pim.errors import ConfigError
from pim.feed_schedule import due_contracts, next_run, schedules
from pim.store.store import JOB
from tests.feeds_data import contract, seed_catalog

NIGHTLY = "0 3 * * *"


def _ran_at(store, code: str, when: datetime) -> None:
    """Move the contract's feed jobs back in time, as if its last run started `when`."""
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.kind == "feed", JOB.c.source == code).values(started_at=when))


def test_next_run_follows_the_cron_expression_in_utc() -> None:
    assert next_run("0 3 * * 1-5", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert next_run("@daily", datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="cannot be read"):
        next_run("0 25 * * *", datetime(2026, 11, 23, tzinfo=UTC))


def test_a_scheduled_contract_is_due_once_per_scheduled_time(store, pim_env: Path) -> None:
    from pim.feeds import deliver_all

    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY),
                          contract(code="manual", format="jsonl")])
    assert due_contracts(store) == ["nightly"]  # never delivered: due at once; unscheduled: never
    assert [r["status"] for r in deliver_all(store, contracts=due_contracts(store)).results] == ["delivered"]
    _ran_at(store, "nightly", datetime(2026, 11, 23, 3, 0, 40, tzinfo=UTC))  # the 03:00 run, started late
    [view] = schedules(store, at=datetime(2026, 11, 24, 2, 59, tzinfo=UTC))
    assert (view.contract, view.due, view.next_run) == ("nightly", False, datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    assert due_contracts(store, at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)) == ["nightly"]
    assert due_contracts(store, at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC)) == ["nightly"]  # missed days: once


def test_dry_and_failed_runs_do_not_count_as_delivered(store, pim_env: Path) -> None:
    from pim.feeds import deliver_all

    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    assert deliver_all(store, contracts=["nightly"], dry_run=True).results[0]["status"] == "dry-run"
    assert due_contracts(store) == ["nightly"]
    job = store.start_job("feed", "nightly")
    store.finish_job(job, {}, status="failed", error="sftp down")
    assert due_contracts(store) == ["nightly"]  # tried again at the next tick


def test_deliver_due_from_the_command_line(store, pim_env: Path) -> None:
    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY), contract(code="manual")])
    first = runner.invoke(app, ["feeds", "deliver", "--due", "--json"])
    assert first.exit_code == 0, first.output
    assert [r["contract"] for r in orjson.loads(first.output)["results"]] == ["nightly"]
    again = runner.invoke(app, ["feeds", "deliver", "--due"])
    assert again.exit_code == 0 and "no contract is due" in again.output
    listed = orjson.loads(runner.invoke(app, ["feeds", "due", "--json"]).output)
    assert [(d["contract"], d["due"]) for d in listed] == [("nightly", False)]
    both = runner.invoke(app, ["feeds", "deliver", "--due", "--contract", "manual"])
    assert both.exit_code == 2


def test_a_held_feed_waits_for_the_next_scheduled_time(store, pim_env: Path) -> None:
    """Found in round 31's review: a full feed held for having no rows failed its job, so `--due` built it, held
    it and logged it again at every tick."""
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    job = store.start_job("feed", "nightly")
    store.finish_job(job, {"rows": 0, "kind": "full", "status": "held"}, status="failed", error="held: 0 rows")
    _ran_at(store, "nightly", datetime(2026, 11, 23, 3, 0, 40, tzinfo=UTC))
    assert due_contracts(store, at=datetime(2026, 11, 23, 3, 5, tzinfo=UTC)) == []
    assert due_contracts(store, at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)) == ["nightly"]
