"""Retention for the portal download log: `pim feeds downloads --prune-older-than DAYS` deletes the rows older than
DAYS in batches and says how many went; young rows and every other table stay, a dry run only counts. `--prune`
takes its age from PIM_DOWNLOAD_LOG_RETENTION_DAYS (the option wins); the setting alone never makes listing
delete."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from pim.delivery_log import FEED_FILE, record_file
from pim.errors import ConfigError
from pim.portal_downloads import DOWNLOAD, TOKEN, prune_downloads
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import now


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def _log(store: Store, ages_in_days: list[float], customer: str = "acme", file_id: int = 1) -> None:
    stamp = now()
    with store.begin() as conn:
        conn.execute(insert(DOWNLOAD), [{"file_id": file_id, "customer": customer, "person": TOKEN,
                                         "at": stamp - timedelta(days=age)} for age in ages_in_days])


def _ages(store: Store) -> list[tuple[str, int]]:
    """(customer, whole days old) of every row left, oldest first."""
    from pim.store.store import as_utc

    stamp = now()
    with store.engine.connect() as conn:
        rows = conn.execute(select(DOWNLOAD.c.customer, DOWNLOAD.c.at).order_by(DOWNLOAD.c.at)).all()
    return [(c, (stamp - as_utc(at)).days) for c, at in rows]


def _feed_file(store: Store, tmp_path: Path) -> int:
    return record_file(store, contract="acme-feed", customer="acme", name="f.jsonl", path=str(tmp_path / "f.jsonl"),
                       format="jsonl", kind="full", sha256="0" * 64, bytes=1, rows=1, generated_at=now() - timedelta(days=400),
                       status="delivered", portal=True)


def test_rows_older_than_the_age_go_in_batches_and_the_young_stay(store: Store) -> None:
    _log(store, [400, 300, 200, 100, 95, 91, 89, 30, 1])
    result = prune_downloads(store, timedelta(days=90), batch=2)  # 6 old rows: three full batches, then an empty one
    assert result.rows == 6
    assert _ages(store) == [("acme", 89), ("acme", 30), ("acme", 1)]
    assert prune_downloads(store, timedelta(days=90), batch=2).rows == 0


def test_a_batch_that_is_not_full_ends_the_prune(store: Store) -> None:
    _log(store, [400, 300, 200, 10])
    assert prune_downloads(store, timedelta(days=90), batch=2).rows == 3
    assert _ages(store) == [("acme", 10)]


def test_a_dry_run_counts_and_deletes_nothing(store: Store) -> None:
    _log(store, [400, 200, 30])
    assert prune_downloads(store, timedelta(days=90), dry_run=True).rows == 2
    assert len(_ages(store)) == 3


def test_only_the_named_customers_rows_go(store: Store) -> None:
    _log(store, [400, 10], customer="acme")
    _log(store, [400, 10], customer="bolt")
    assert prune_downloads(store, timedelta(days=90), customer="acme").rows == 1
    assert _ages(store) == [("bolt", 400), ("acme", 10), ("bolt", 10)]


def test_a_zero_or_negative_age_is_refused(store: Store) -> None:
    _log(store, [400])
    for age in (timedelta(0), timedelta(days=-1)):
        with pytest.raises(ValueError, match="positive"):
            prune_downloads(store, age)
    assert len(_ages(store)) == 1


def test_the_cli_prunes_and_reports_the_count_and_leaves_the_feed_files(store: Store, tmp_path: Path) -> None:
    app = _cli()
    file_id = _feed_file(store, tmp_path)
    _log(store, [400, 200, 100, 10], file_id=file_id)
    dry = CliRunner().invoke(app, ["feeds", "downloads", "--prune-older-than", "90", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert {k: v for k, v in orjson.loads(dry.output).items() if k != "before"} == {
        "downloads": 3, "older_than_days": 90, "customer": None, "dry_run": True}
    assert len(_ages(store)) == 4
    out = CliRunner().invoke(app, ["feeds", "downloads", "--prune-older-than", "90", "--json"])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.output)["downloads"] == 3 and orjson.loads(out.output)["dry_run"] is False
    assert _ages(store) == [("acme", 10)]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FEED_FILE)).scalar_one() == 1
    listed = CliRunner().invoke(app, ["feeds", "downloads", "--json"])
    assert [r["name"] for r in orjson.loads(listed.output)] == ["f.jsonl"]


def test_the_cli_says_what_went_in_words(store: Store) -> None:
    app = _cli()
    _log(store, [400, 10])
    dry = CliRunner().invoke(app, ["feeds", "downloads", "--prune-older-than", "90", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 1 portal download older than 90 days" in dry.output
    out = CliRunner().invoke(app, ["feeds", "downloads", "--prune-older-than", "90", "--customer", "acme"])
    assert out.exit_code == 0 and "deleted 1 portal download of 'acme' older than 90 days" in out.output
    assert _ages(store) == [("acme", 10)]


@pytest.mark.parametrize("days", ["0", "-5"])
def test_the_cli_refuses_an_age_under_a_day(store: Store, days: str) -> None:
    _log(store, [400])
    out = CliRunner().invoke(_cli(), ["feeds", "downloads", "--prune-older-than", days])
    assert out.exit_code == 2
    assert "--prune-older-than must be at least 1 day" in out.output
    assert len(_ages(store)) == 1


def test_dry_run_without_a_prune_age_is_a_usage_error(store: Store) -> None:
    out = CliRunner().invoke(_cli(), ["feeds", "downloads", "--dry-run"])
    assert out.exit_code == 2 and "--dry-run goes with --prune-older-than" in out.output


def _retention(monkeypatch: pytest.MonkeyPatch, days: str) -> None:
    monkeypatch.setenv("PIM_DOWNLOAD_LOG_RETENTION_DAYS", days)
    reset_settings()


def test_prune_takes_its_age_from_the_setting_and_the_option_wins(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _log(store, [400, 200, 100, 10])
    _retention(monkeypatch, "90")
    dry = CliRunner().invoke(_cli(), ["feeds", "downloads", "--prune", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert (orjson.loads(dry.stdout)["downloads"], orjson.loads(dry.stdout)["older_than_days"]) == (3, 90)
    given = CliRunner().invoke(_cli(), ["feeds", "downloads", "--prune", "--prune-older-than", "300", "--dry-run",
                                        "--json"])
    assert orjson.loads(given.stdout)["downloads"] == 1 and len(_ages(store)) == 4
    out = CliRunner().invoke(_cli(), ["feeds", "downloads", "--prune"])
    assert out.exit_code == 0 and "deleted 3 portal downloads older than 90 days" in out.output
    assert _ages(store) == [("acme", 10)]


def test_the_setting_alone_never_makes_listing_delete(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard: passes before and after `--prune` came."""
    _log(store, [400, 10])
    _retention(monkeypatch, "90")
    out = CliRunner().invoke(_cli(), ["feeds", "downloads", "--json"])
    assert out.exit_code == 0 and len(orjson.loads(out.stdout)) == 2 and len(_ages(store)) == 2


def test_prune_without_an_age_says_what_to_pass(store: Store) -> None:
    _log(store, [400])
    out = CliRunner().invoke(_cli(), ["feeds", "downloads", "--prune", "--json"])
    assert out.exit_code == 2
    assert "no age given: pass --prune-older-than DAYS or set PIM_DOWNLOAD_LOG_RETENTION_DAYS" \
        in orjson.loads(out.stdout)["error"]
    assert "--dry-run" in out.stderr and len(_ages(store)) == 1


def test_prune_with_a_setting_under_a_day_is_a_configuration_error(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _log(store, [400])
    _retention(monkeypatch, "0")
    out = CliRunner().invoke(_cli(), ["feeds", "downloads", "--prune"])
    assert isinstance(out.exception, ConfigError) and out.exception.exit_code == 3, out.output
    assert "PIM_DOWNLOAD_LOG_RETENTION_DAYS must be at least 1 day, not 0" in out.exception.describe()
    assert "--prune-older-than DAYS" in out.exception.describe() and len(_ages(store)) == 1
