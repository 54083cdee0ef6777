"""Retention for the quarantine: `pim import prune --closed-older-than DAYS` deletes the entries closed more than
DAYS days ago, in batches, and says how many per source; open entries stay whatever their age, a dry run only
counts, and a job whose entries went still shows (its counts, what is left)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import event, insert, inspect, select, update
from typer.testing import CliRunner

import pim.store.quarantine_prune as quarantine_prune
from pim.errors import ConfigError
from pim.settings import reset_settings
from pim.store import Store
from pim.store.quarantine_prune import QUARANTINE
from pim.store.store import QuarantineEntry, now

runner = CliRunner()


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def _entry(store: Store, key: str, *, closed_days_ago: float | None, created_days_ago: float = 500,
           source: str = "erp", job_id: int | None = None) -> None:
    """One entry written `created_days_ago` days ago; closed that many days ago, or open (None)."""
    stamp = now()
    with store.begin() as conn:
        conn.execute(insert(QUARANTINE).values(
            job_id=job_id, source=source, file="erp.csv", line=1, field="gtin", reason="bad GTIN", raw={"sku": key},
            record_key=key, severity="rejected", created_at=stamp - timedelta(days=created_days_ago),
            resolved_at=None if closed_days_ago is None else stamp - timedelta(days=closed_days_ago)))


def _keys(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(QUARANTINE.c.record_key)).scalars())


def _mixed(store: Store) -> None:
    """Open entries old and new, and closed ones either side of a 90-day cut, from two sources."""
    _entry(store, "open-old", closed_days_ago=None, created_days_ago=1000)
    _entry(store, "open-new", closed_days_ago=None, created_days_ago=1)
    _entry(store, "erp-closed-400", closed_days_ago=400)
    _entry(store, "erp-closed-91", closed_days_ago=91)
    _entry(store, "erp-closed-89", closed_days_ago=89)
    _entry(store, "acme-closed-200", closed_days_ago=200, source="supplier:acme")
    _entry(store, "acme-closed-1", closed_days_ago=1, source="supplier:acme")


YOUNG = ["acme-closed-1", "erp-closed-89", "open-new", "open-old"]  # what a 90-day cut leaves


def _cut(days: int) -> datetime:
    return now() - timedelta(days=days)


def test_only_entries_closed_before_the_cut_go_and_open_ones_stay_whatever_their_age(store: Store) -> None:
    _mixed(store)
    assert store.prune_quarantine(_cut(90)) == {"erp": 2, "supplier:acme": 1}
    assert _keys(store) == YOUNG
    assert store.prune_quarantine(_cut(90)) == {}
    assert store.prune_quarantine(_cut(1) + timedelta(hours=1)) == {"erp": 1, "supplier:acme": 1}
    assert _keys(store) == ["open-new", "open-old"]  # open entries never go, even 1,000 days old


def test_a_dry_run_counts_the_same_and_deletes_nothing(store: Store) -> None:
    _mixed(store)
    before = _keys(store)
    counted = store.prune_quarantine(_cut(90), dry_run=True)
    assert counted == {"erp": 2, "supplier:acme": 1}
    assert _keys(store) == before
    assert store.prune_quarantine(_cut(90)) == counted


@pytest.mark.parametrize(("old", "deletes", "transactions"), [(5, 3, 3), (4, 2, 3), (1, 1, 1), (0, 0, 1)])
def test_deletes_go_a_batch_per_statement_and_transaction(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                          old: int, deletes: int, transactions: int) -> None:
    monkeypatch.setattr(quarantine_prune, "PRUNE_BATCH", 2)
    for i in range(old):
        _entry(store, f"old-{i}", closed_days_ago=100 + i, source="erp" if i % 2 else "content")
    _entry(store, "open", closed_days_ago=None)
    statements: list[str] = []
    commits: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            statements.append(statement)

    def committed(conn: Any) -> None:
        commits.append(1)

    event.listen(store.engine, "before_cursor_execute", seen)
    event.listen(store.engine, "commit", committed)
    try:
        gone = store.prune_quarantine(_cut(90))
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
        event.remove(store.engine, "commit", committed)
    assert gone == {**({"content": (old + 1) // 2} if old else {}), **({"erp": old // 2} if old > 1 else {})}
    # full batches go on until one comes back short: 5 → 2+2+1, 4 → 2+2 and a look that finds none, 1 → 1
    assert (len(statements), len(commits)) == (deletes, transactions)
    assert _keys(store) == ["open"]


def test_the_resolved_at_index_exists_for_the_cut(store: Store) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("quarantine")}
    assert indexes.get("ix_quarantine_resolved_at") == ["resolved_at"]
    assert any(i.name == "ix_quarantine_resolved_at" for i in QUARANTINE.indexes)  # the model agrees


def test_queries_for_open_entries_keep_the_record_key_index(tmp_path: Any) -> None:
    """The retention index holds closed entries only: SQLite, which keeps no statistics, would otherwise take it
    for `resolved_at IS NULL` and walk every open entry where one record's entries are wanted (the closing of
    filled axis notes, pim.store.supersede.close_gaps)."""
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")  # SQLite's planner (PostgreSQL plans by its statistics)
    store.migrate()
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN UPDATE quarantine SET resolved_at = ? WHERE field = ? AND record_key IN (?, ?) "
            "AND resolved_at IS NULL AND reason LIKE ?", ("2026-01-01", "size", "A", "B", "%axis%")).all()
        cut = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM quarantine WHERE resolved_at IS NOT NULL AND resolved_at < ? "
            "ORDER BY resolved_at LIMIT 10", ("2026-01-01",)).all()
    store.dispose()
    assert "ix_quarantine_record_key" in str(plan)
    assert "ix_quarantine_resolved_at" in str(cut)


def test_the_cli_prunes_with_json_and_a_dry_run_first(store: Store) -> None:
    _mixed(store)
    app = _cli()
    dry = runner.invoke(app, ["import", "prune", "--closed-older-than", "90", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    doc = orjson.loads(dry.stdout)
    assert datetime.fromisoformat(doc.pop("before")) < _cut(90) + timedelta(minutes=5)
    assert doc == {"entries": 3, "by_source": {"erp": 2, "supplier:acme": 1}, "closed_older_than_days": 90,
                   "dry_run": True}
    assert len(_keys(store)) == 7
    done = runner.invoke(app, ["import", "prune", "--closed-older-than", "90", "--json"])
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["entries"] == 3 and orjson.loads(done.stdout)["dry_run"] is False
    assert _keys(store) == YOUNG


def test_the_cli_says_what_went_in_words(store: Store) -> None:
    _mixed(store)
    app = _cli()
    dry = runner.invoke(app, ["import", "prune", "--closed-older-than", "90", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 3 quarantine entries closed more than 90 days ago" in dry.output
    assert "supplier:acme" in dry.output
    done = runner.invoke(app, ["import", "prune", "--closed-older-than", "1"])
    assert done.exit_code == 0 and "deleted 5 quarantine entries closed more than 1 day ago" in done.output
    again = runner.invoke(app, ["import", "prune", "--closed-older-than", "1"])
    assert again.exit_code == 0 and "deleted 0 quarantine entries" in again.output
    assert _keys(store) == ["open-new", "open-old"]


@pytest.mark.parametrize("days", ["0", "-5"])
def test_the_cli_refuses_an_age_under_a_day(store: Store, days: str) -> None:
    _mixed(store)
    out = runner.invoke(_cli(), ["import", "prune", "--closed-older-than", days])
    assert out.exit_code == 2 and "--closed-older-than" in out.output
    assert len(_keys(store)) == 7


def test_without_an_age_the_cli_says_what_to_pass(store: Store) -> None:
    _mixed(store)
    out = runner.invoke(_cli(), ["import", "prune", "--json"])
    assert out.exit_code == 2
    assert "--closed-older-than DAYS" in orjson.loads(out.stdout)["error"]
    assert "PIM_QUARANTINE_RETENTION_DAYS" in out.stderr
    assert len(_keys(store)) == 7


def test_the_setting_is_the_default_age(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _mixed(store)
    monkeypatch.setenv("PIM_QUARANTINE_RETENTION_DAYS", "90")
    reset_settings()
    out = runner.invoke(_cli(), ["import", "prune", "--json"])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout)["closed_older_than_days"] == 90 and _keys(store) == YOUNG
    given = runner.invoke(_cli(), ["import", "prune", "--closed-older-than", "1", "--dry-run", "--json"])
    assert orjson.loads(given.stdout)["entries"] == 2  # the option wins over the setting


def test_a_setting_under_a_day_is_a_configuration_error(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _mixed(store)
    monkeypatch.setenv("PIM_QUARANTINE_RETENTION_DAYS", "0")
    reset_settings()
    out = runner.invoke(_cli(), ["import", "prune"])
    exc = out.exception  # pim.cli.main prints it and exits with its code
    assert isinstance(exc, ConfigError) and exc.exit_code == 3, out.output
    assert "PIM_QUARANTINE_RETENTION_DAYS must be at least 1 day" in exc.describe()
    as_json = runner.invoke(_cli(), ["import", "prune", "--json"])
    assert as_json.exit_code == 3 and orjson.loads(as_json.stdout)["exit_code"] == 3
    assert len(_keys(store)) == 7


def _job_with_entries(store: Store) -> int:
    """A finished import with three rejections: two closed 200 days ago, one still open."""
    job_id = store.start_job("import", "erp:erp.csv")
    store.quarantine(job_id, [QuarantineEntry(reason="bad GTIN", file="erp.csv", line=n, field="gtin",
                                              record_key=f"A{n}", source="erp", raw={"sku": f"A{n}"})
                              for n in (1, 2, 3)])
    store.finish_job(job_id, {"read": 3, "created": 0, "rejected": 3})
    with store.begin() as conn:
        conn.execute(update(QUARANTINE).where(QUARANTINE.c.record_key.in_(["A1", "A2"]))
                     .values(resolved_at=now() - timedelta(days=200)))
    return job_id


def _errors(*args: str) -> Any:
    out = runner.invoke(_cli(), ["import", "errors", *args])
    assert out.exit_code == 0, out.output
    return out


def test_a_pruned_job_still_lists_what_is_left_and_keeps_its_counts(store: Store) -> None:
    from tests.test_web_ui import admin_client

    job_id = _job_with_entries(store)
    assert store.prune_quarantine(_cut(90)) == {"erp": 2}
    assert [e["record_key"] for e in orjson.loads(_errors(str(job_id), "--all", "--json").stdout)] == ["A3"]
    assert store.job(job_id)["counts"]["rejected"] == 3  # type: ignore[index]
    web, _ = admin_client(store)
    page = web.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "Quarantined rows (1)" in page.text
    assert 'class="record">A3<' in page.text and 'class="record">A1<' not in page.text


def test_a_job_whose_entries_all_went_still_shows(store: Store) -> None:
    from tests.test_web_ui import admin_client

    job_id = _job_with_entries(store)
    with store.begin() as conn:
        conn.execute(update(QUARANTINE).where(QUARANTINE.c.record_key == "A3")
                     .values(resolved_at=now() - timedelta(days=100)))
    assert store.prune_quarantine(_cut(90)) == {"erp": 3}
    assert f"Nothing in the quarantine for job {job_id}" in _errors(str(job_id), "--all").output
    assert orjson.loads(_errors(str(job_id), "--all", "--summary", "--json").stdout) == []
    jobs = orjson.loads(runner.invoke(_cli(), ["import", "jobs", "--json"]).stdout)
    assert [j["counts"]["rejected"] for j in jobs if j["id"] == job_id] == [3]
    web, _ = admin_client(store)
    page = web.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "Quarantined rows (0)" in page.text and "Nothing quarantined." in page.text
    assert "<th>rejected</th><td>3</td>" in page.text  # the counts are on the job row: they stay
