"""`pim feeds prune`: old feed files go, the newest per contract and the chain from the newest full feed
stay, the log keeps every row, and the portal stops offering what is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.feed_retention import PRUNED, prune_feeds


def _file(store, tmp_path: Path, contract: str, n: int, kind: str, status: str = "delivered",
          age: timedelta = timedelta(days=30)) -> int:
    path = tmp_path / contract / f"{contract}-{n}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"file {n}\n")
    path.with_name(path.name + ".manifest.json").write_text("{}")
    return log.record_file(store, contract=contract, customer="cust_a", name=path.name, path=str(path), format="csv",
                           kind=kind, sha256="0" * 64, bytes=7, rows=1,
                           generated_at=datetime.now(UTC) - age + timedelta(minutes=n), status=status, portal=True)


def _statuses(store, contract: str) -> list[tuple[str, str]]:
    return [(Path(r["path"]).name, r["status"]) for r in reversed(log.feed_files(store))
            if r["contract"] == contract]


def test_keeps_the_newest_and_the_chain_from_the_newest_full(store, tmp_path: Path) -> None:
    kinds = ["full", "delta_products", "full", "delta_products", "delta_products", "delta_products"]
    ids = [_file(store, tmp_path, "a", n, kind) for n, kind in enumerate(kinds)]
    _file(store, tmp_path, "a", 6, "full", status="dry-run")
    _file(store, tmp_path, "a", 7, "full", status="built", age=timedelta(hours=1))  # in flight
    _file(store, tmp_path, "b", 0, "full")
    result = prune_feeds(store, keep=2)
    assert sorted(p["name"] for p in result.pruned) == ["a-0.csv", "a-1.csv"]
    assert _statuses(store, "a")[:3] == [("a-0.csv", PRUNED), ("a-1.csv", PRUNED), ("a-2.csv", "delivered")]
    assert not (tmp_path / "a" / "a-0.csv").exists() and not (tmp_path / "a" / "a-0.csv.manifest.json").exists()
    assert (tmp_path / "a" / "a-2.csv").exists() and (tmp_path / "b" / "b-0.csv").exists()
    assert [r["id"] for r in log.feed_files(store, customer="cust_a", portal_only=True)
            if r["contract"] == "a"] == list(reversed(ids[2:]))
    assert prune_feeds(store, keep=2).files == 0  # idempotent


def test_dry_run_deletes_nothing_and_the_cli_reports(store, tmp_path: Path, pim_env: Path) -> None:
    from pim.cli import _mount, app

    for n in range(4):
        _file(store, tmp_path, "a", n, "full")
    assert prune_feeds(store, keep=1, dry_run=True).files == 3
    assert all(s == "delivered" for _, s in _statuses(store, "a"))
    _mount()
    out = CliRunner().invoke(app, ["feeds", "prune", "--keep", "1", "--json"])
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.output)
    assert (body["files"], body["dry_run"]) == (3, False)
    assert [s for _, s in _statuses(store, "a")] == [PRUNED, PRUNED, PRUNED, "delivered"]


def test_older_than_alone_prunes_by_age_and_keeps_the_chain_from_the_newest_full(store, tmp_path: Path) -> None:
    _file(store, tmp_path, "a", 0, "full", age=timedelta(days=90))
    _file(store, tmp_path, "a", 1, "delta_products", age=timedelta(days=60))
    _file(store, tmp_path, "a", 2, "full", age=timedelta(days=45))  # the newest full: old, but its chain stays
    _file(store, tmp_path, "a", 3, "delta_products", age=timedelta(days=40))
    _file(store, tmp_path, "a", 4, "delta_products", status="failed", age=timedelta(days=35))
    _file(store, tmp_path, "a", 5, "delta_products", status="failed", age=timedelta(days=5))
    result = prune_feeds(store, older_than=timedelta(days=30))
    assert sorted(p["name"] for p in result.pruned) == ["a-0.csv", "a-1.csv", "a-4.csv"]
    assert [s for _, s in _statuses(store, "a")] == [PRUNED, PRUNED, "delivered", "delivered", PRUNED, "failed"]


def test_keep_and_older_than_together_prune_only_what_both_let_go(store, tmp_path: Path, pim_env: Path) -> None:
    from pim.cli import _mount, app

    for n, days in enumerate([90, 80, 70, 20, 40]):
        _file(store, tmp_path, "a", n, "delta_products", status="failed", age=timedelta(days=days))
    # --keep 1 alone: a-0..a-3 go; --older-than 30 alone: a-0, a-1, a-2 and the newest, a-4 (40 days old)
    _mount()
    out = CliRunner().invoke(app, ["feeds", "prune", "--keep", "1", "--older-than", "30", "--json"])
    assert out.exit_code == 0, out.output
    assert sorted(p["name"] for p in orjson.loads(out.output)["pruned"]) == ["a-0.csv", "a-1.csv", "a-2.csv"]
    assert [s for _, s in _statuses(store, "a")] == [PRUNED, PRUNED, PRUNED, "failed", "failed"]
