"""Claims on contracts, so overlapping `pim feeds deliver --due` runs never both send one: one conditional
upsert decides the winner on SQLite and PostgreSQL, a lease ends a crashed run's hold, and a run lets go of a
contract as soon as its job is over, failed or not."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from typer.testing import CliRunner

from pim.contracts import put_contracts
from pim.feed_schedule import CLAIM_LEASE, DueRun, claim, claims, due_contracts, release
from pim.store import Store
from tests.feeds_data import contract, seed_catalog

NIGHTLY = "0 3 * * *"
UNREACHABLE_SFTP = {"sftp": {"host": "127.0.0.1", "port": 1, "user": "u", "private_key": "/nonexistent",
                             "host_key_fingerprint": "SHA256:" + "A" * 43}}


def test_of_runs_claiming_a_contract_at_once_exactly_one_wins(store: Store) -> None:
    runs = [f"host-{n}:1:run" for n in range(8)]
    for code in ("nightly-a", "nightly-b", "nightly-c"):
        start = threading.Barrier(len(runs))

        def race(holder: str, code: str = code, start: threading.Barrier = start) -> bool:
            start.wait()
            return claim(store, code, holder)

        with ThreadPoolExecutor(len(runs)) as pool:
            won = list(pool.map(race, runs))
        assert won.count(True) == 1, won
        assert claims(store)[code]["holder"] == runs[won.index(True)]


def test_a_claim_whose_lease_ran_out_can_be_taken_over(store: Store) -> None:
    t0 = datetime.now(UTC)
    assert claim(store, "nightly", "crashed:1:run", at=t0)
    assert not claim(store, "nightly", "next:2:run", at=t0 + CLAIM_LEASE - timedelta(seconds=1))
    assert claim(store, "nightly", "next:2:run", at=t0 + CLAIM_LEASE)
    release(store, "crashed:1:run", "nightly")  # a late release by the old holder leaves the new claim alone
    assert claims(store, t0)["nightly"]["holder"] == "next:2:run"


def test_a_released_claim_can_be_taken_at_once(store: Store) -> None:
    assert claim(store, "nightly", "first:1:run")
    release(store, "first:1:run", "nightly")
    assert claim(store, "nightly", "second:2:run")


def test_a_failed_delivery_lets_go_of_its_claim_so_the_next_tick_retries(store: Store, pim_env: Path) -> None:
    from pim.cli import _mount, app

    _mount()
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY, delivery=UNREACHABLE_SFTP)])
    out = CliRunner().invoke(app, ["feeds", "deliver", "--due", "--retries", "1", "--json"])
    assert out.exit_code == 5, out.output
    assert [r["status"] for r in orjson.loads(out.output)["results"]] == ["failed"]
    assert claims(store) == {}
    assert due_contracts(store) == ["nightly"]
    with DueRun(store) as next_tick:
        assert next_tick.take() == ["nightly"]


def test_a_contract_another_run_is_sending_is_skipped_and_the_others_go(store: Store, pim_env: Path) -> None:
    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly-a", format="jsonl", schedule=NIGHTLY),
                          contract(code="nightly-b", format="jsonl", schedule=NIGHTLY)])
    assert claim(store, "nightly-b", "other-host:4242:run")
    out = runner.invoke(app, ["feeds", "deliver", "--due", "--json"])
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.output)
    assert [(r["contract"], r["status"]) for r in body["results"]] == [("nightly-a", "delivered")]
    assert [(s["contract"], s["holder"]) for s in body["skipped"]] == [("nightly-b", "other-host:4242:run")]
    assert list(claims(store)) == ["nightly-b"]  # ours is gone, the other run's stays
    text = runner.invoke(app, ["feeds", "deliver", "--due"])
    # nightly-a is no longer due: all that was due is being sent by another run, which exits 1 (round 35)
    assert text.exit_code == 1 and "skipped nightly-b: another run is sending it" in text.output
    listed = orjson.loads(runner.invoke(app, ["feeds", "due", "--json"]).output)
    assert {d["contract"]: (d["sending"] or {}).get("holder") for d in listed} == {
        "nightly-a": None, "nightly-b": "other-host:4242:run"}


def test_a_contract_sent_by_another_run_just_before_the_claim_is_not_sent_again(store: Store, pim_env: Path,
                                                                                 monkeypatch) -> None:
    import pim.feed_schedule as schedule
    from pim.feeds import deliver_all

    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    real_claim = schedule.claim

    def other_run_finishes_first(*args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        assert deliver_all(store, contracts=["nightly"]).results[0]["status"] == "delivered"
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(schedule, "claim", other_run_finishes_first)
    with DueRun(store) as run:
        assert run.take() == []
        assert run.skipped == [{"contract": "nightly", "reason": "another run has just sent it"}]
    assert claims(store) == {}


def test_an_explicit_deliver_claims_too_and_skips_what_another_run_is_sending(store: Store, pim_env: Path) -> None:
    """`deliver` and `deliver --contract X` take the same claims as `--due`: a contract a timer run is sending is
    skipped (for that one contract alone: exit 1, try again later), the others go, and no claim is left."""
    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()
    seed_catalog(store)
    put_contracts(store, [contract(code="weekly-a", format="jsonl"), contract(code="weekly-b", format="jsonl")])
    assert claim(store, "weekly-b", "timer-host:99:run")
    one = runner.invoke(app, ["feeds", "deliver", "--contract", "weekly-b"])
    assert one.exit_code == 1 and "skipped weekly-b: another run is sending it" in one.output
    every = runner.invoke(app, ["feeds", "deliver", "--json"])
    assert every.exit_code == 0, every.output
    body = orjson.loads(every.output)
    assert [r["contract"] for r in body["results"]] == ["weekly-a"] and body["skipped"][0]["contract"] == "weekly-b"
    assert list(claims(store)) == ["weekly-b"]
    release(store, "timer-host:99:run")
    assert runner.invoke(app, ["feeds", "deliver", "--contract", "weekly-b"]).exit_code == 0
    assert runner.invoke(app, ["feeds", "deliver", "--contract", "nope"]).exit_code != 0  # unknown: the clear error
    assert claims(store) == {}
