"""`pim feeds deliver --dry-run` takes no claims: it delivers nothing and keeps the watermark, so a real run started
while it builds must win the contract's claim and deliver, and a dry run may overlap a run that holds one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from typer.testing import CliRunner

from pim.contracts import put_contracts
from pim.delivery_log import CLAIM, get_watermark
from pim.feed_schedule import claim, claims
from pim.store import Store
from tests.feeds_data import contract, seed_catalog

NIGHTLY = "0 3 * * *"


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def _claim_rows(store: Store) -> int:
    """Every row of the claim table, lapsed or not: a dry run must leave none behind."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(CLAIM)).scalar_one()


def test_a_real_run_started_during_a_dry_run_build_wins_the_claim_and_delivers(store: Store, pim_env: Path,
                                                                                monkeypatch) -> None:
    import pim.feeds as feeds

    app = _cli()
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    real_build = feeds.build_feed
    seen: dict[str, Any] = {}

    def real_run_starts_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not seen:  # the dry run's build: a real run starts now, before it renders anything
            seen["claims_during_dry_build"] = _claim_rows(store)
            seen["real"] = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "nightly", "--json"])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(feeds, "build_feed", real_run_starts_meanwhile)
    dry = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "nightly", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert seen["claims_during_dry_build"] == 0
    real = seen["real"]
    assert real.exit_code == 0, real.output
    body = orjson.loads(real.output)
    assert [(r["contract"], r["status"]) for r in body["results"]] == [("nightly", "delivered")]
    assert body["skipped"] == []
    assert [r["status"] for r in orjson.loads(dry.output)["results"]] == ["dry-run"]
    assert get_watermark(store, "nightly").version == 1  # the real run's, untouched by the dry one
    assert _claim_rows(store) == 0


def test_a_dry_run_of_a_contract_another_run_holds_builds_it_and_leaves_the_claim_alone(store: Store,
                                                                                         pim_env: Path) -> None:
    app = _cli()
    seed_catalog(store)
    put_contracts(store, [contract(code="weekly", format="jsonl")])
    assert claim(store, "weekly", "timer-host:99:run")
    before = claims(store)
    out = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "weekly", "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.output)
    assert [(r["contract"], r["status"]) for r in body["results"]] == [("weekly", "dry-run")]
    assert body["skipped"] == []
    assert claims(store) == before  # same holder, same lease
    assert get_watermark(store, "weekly") is None
    text = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "weekly", "--dry-run"])
    assert text.exit_code == 0 and "skipped" not in text.output


def test_a_due_dry_run_builds_every_due_contract_without_claiming_any(store: Store, pim_env: Path) -> None:
    app = _cli()
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly-a", format="jsonl", schedule=NIGHTLY),
                          contract(code="nightly-b", format="jsonl", schedule=NIGHTLY),
                          contract(code="manual", format="jsonl")])
    assert claim(store, "nightly-b", "other-host:4242:run")
    out = CliRunner().invoke(app, ["feeds", "deliver", "--due", "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.output)
    assert [(r["contract"], r["status"]) for r in body["results"]] == [("nightly-a", "dry-run"),
                                                                        ("nightly-b", "dry-run")]
    assert body["skipped"] == []
    assert {c: h["holder"] for c, h in claims(store).items()} == {"nightly-b": "other-host:4242:run"}
    assert _claim_rows(store) == 1


def test_a_dry_run_with_nothing_due_says_so_and_claims_nothing(store: Store, pim_env: Path) -> None:
    app = _cli()
    seed_catalog(store)
    put_contracts(store, [contract(code="manual", format="jsonl")])
    out = CliRunner().invoke(app, ["feeds", "deliver", "--due", "--dry-run"])
    assert out.exit_code == 0 and "no contract is due" in out.output
    assert _claim_rows(store) == 0


def test_a_real_run_still_skips_a_contract_another_real_run_holds(store: Store, pim_env: Path) -> None:
    app = _cli()
    seed_catalog(store)
    put_contracts(store, [contract(code="weekly", format="jsonl")])
    assert claim(store, "weekly", "timer-host:99:run")
    out = CliRunner().invoke(app, ["feeds", "deliver", "--contract", "weekly"])
    assert out.exit_code == 1 and "skipped weekly: another run is sending it" in out.output
    assert get_watermark(store, "weekly") is None
