"""A quarantine entry's `kind` says what kind of problem it is, for code that acts on one kind: a missing-axis note
(pim.variant_levels) is of kind `missing_axis`, and a write filling the axis closes the record's notes of that
kind (pim.store.supersede.close_gaps), whatever their reason says. Migration 0038 gives the kind to the notes
written before, by their reason. tests/data/structure: shirts_color_size splits by color, then size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import event
from typer.testing import CliRunner

from pim.cli import _mount, app
from pim.store import Store
from pim.store.database import alembic_config
from pim.store.store import QuarantineEntry, now
from pim.store.supersede import MISSING_AXIS, close_gaps
from tests.test_variant_axes import _erp, _jsonl, _record, _whole, shirts  # noqa: F401  (shirts: fixture)

_mount()
runner = CliRunner()

NO_SIZE = ("variant of product model 'SHIRT-BLUE' has no value for its axis 'size': set size, or detach it from the "
           "model; the record was taken in without it")


def _entries(store: Store, key: str) -> dict[str, dict[str, Any]]:
    """The open entries of record `key`, by reason."""
    return {e["reason"]: e for e in store.quarantined() if e["record_key"] == key}


def _cli_errors() -> list[dict[str, Any]]:
    done = runner.invoke(app, ["import", "errors", "--json", "--limit", "0"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_a_missing_axis_note_is_of_its_kind_and_other_problems_of_none(shirts: Store, tmp_path: Path) -> None:  # noqa: F811
    """A catalog line of a variant without its size, giving its model's color (another one): two problems."""
    counts = _jsonl(shirts, tmp_path / "catalog.jsonl", [
        {"kind": "product", "identifier": "SHIRT-BLUE-X", "family": "shirts", "parent": "SHIRT-BLUE",
         "values": {"sku": "SHIRT-BLUE-X", "color": "red"}}])
    assert (counts.created, counts.problems) == (1, 2)
    kinds = {e["field"]: e["kind"] for e in _cli_errors()}  # `pim import errors --json` says it too
    assert kinds == {"size": MISSING_AXIS, "color": None}
    merged = _erp(shirts, _record("SHIRT-BLUE-N", family="shirts", parent="SHIRT-BLUE", values={"sku": "SHIRT-BLUE-N"}))
    assert merged.problems == 1
    assert [e["kind"] for e in _entries(shirts, "SHIRT-BLUE-N").values()] == [MISSING_AXIS]


def test_filling_the_axis_closes_the_notes_of_the_kind_whatever_their_reason(shirts: Store) -> None:  # noqa: F811
    """A note of the kind reworded closes; a problem of another kind naming the field stays, though its reason
    reads like a missing-axis note."""
    shirts.upsert_products([_whole("SHIRT-BLUE-N", "SHIRT-BLUE", None)])

    def note(reason: str, kind: str | None) -> QuarantineEntry:
        return QuarantineEntry(reason, "acme.xml", 3, "size", {}, "SHIRT-BLUE-N", "supplier:acme", "problem", kind)

    shirts.quarantine(None, [note("size is missing", MISSING_AXIS), note(f"the size of ours {NO_SIZE}", None)])
    filled = _erp(shirts, _record("SHIRT-BLUE-N", "content", values={"size": "m"}), source="content")
    assert (filled.updated, filled.problems) == (1, 0)
    assert list(_entries(shirts, "SHIRT-BLUE-N")) == [f"the size of ours {NO_SIZE}"]


# ---------------------------------------------------------------------------------------------- migration 0038
#: The quarantine's columns before 0038.
BEFORE = sa.table("quarantine", *(sa.column(c) for c in ("source", "file", "line", "field", "reason", "record_key",
                                                         "severity")),
                  *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "resolved_at")))


def test_migration_0038_gives_the_kind_to_the_missing_axis_notes_written_before(shirts: Store) -> None:  # noqa: F811
    shirts.upsert_products([_whole("SHIRT-BLUE-N", "SHIRT-BLUE", None)])
    cfg = alembic_config()
    with shirts.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0037_quarantine_resolved_index")
    stamp = now()

    def row(reason: str, severity: str = "problem", resolved: bool = False) -> dict[str, Any]:
        return {"source": "erp", "file": "erp.csv", "line": 2, "field": "size", "reason": reason,
                "record_key": "SHIRT-BLUE-N", "severity": severity, "created_at": stamp,
                "resolved_at": stamp if resolved else None}

    with shirts.begin() as conn:
        conn.execute(sa.insert(BEFORE), [row(NO_SIZE), row("closed: " + NO_SIZE, resolved=True),
                                         row("size: not a size of the list"),
                                         row("rejected: " + NO_SIZE, severity="rejected")])
    shirts.migrate()
    with shirts.engine.connect() as conn:
        kinds = dict(conn.execute(sa.text("SELECT reason, kind FROM quarantine")).all())
    assert kinds == {NO_SIZE: MISSING_AXIS, "closed: " + NO_SIZE: MISSING_AXIS,
                     "size: not a size of the list": None, "rejected: " + NO_SIZE: None}

    filled = _erp(shirts, _record("SHIRT-BLUE-N", "content", values={"size": "m"}), source="content")
    assert filled.updated == 1
    assert set(_entries(shirts, "SHIRT-BLUE-N")) == {"size: not a size of the list", "rejected: " + NO_SIZE}


def test_closing_filled_notes_searches_the_record_key_index_only(tmp_path: Path) -> None:
    """A guard (it passed before the kind too): the closing statement, as close_gaps runs it (filled axes and a
    detached record), finds the notes by the record key's index, not by `kind` or `resolved_at`. SQLite keeps no
    statistics here: an index leading with either would be taken over it, and walk every open note."""
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")  # SQLite's planner (PostgreSQL plans by its statistics)
    store.migrate()
    ran: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        ran.append((statement, parameters))

    with store.engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", note)
        close_gaps(conn, {"size": {"A", "B"}, "color": {"C"}}, {"D"}, {"size", "color"}, now())
        event.remove(conn, "before_cursor_execute", note)
        [(statement, parameters)] = ran
        plan = [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()]
        conn.rollback()
    store.dispose()
    assert "kind" in statement and "LIKE" not in statement.upper()
    searches = [p for p in plan if p.startswith(("SEARCH", "SCAN"))]
    assert searches and all(p.startswith("SEARCH quarantine USING INDEX ix_quarantine_record_key ") for p in searches)
