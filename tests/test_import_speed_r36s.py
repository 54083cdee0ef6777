"""Round 36 import speed (S1): closing a batch's quarantine entries asks the quarantine once, with the batch's keys
bound as one parameter, and builds its `IN (…)` statements only for the keys that have open entries; which
entries close is unchanged. A merge's source fingerprints stay what they were (a keyed hasher copied per record)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from sqlalchemy import event

from pim.importing import Parsed, run_import
from pim.merge import Merger, record_digest
from pim.product import Product
from pim.store import Store
from pim.store.store import QuarantineEntry
from pim.store.supersede import Carried
from tests.source_data import PRECEDENCE, record, seed_structure

LONG = "L" * 300  # past the record_key column's 255: entries hold it clipped
ODD = 'Ä"\\ x\u00e9'  # a quote, a backslash and non-ASCII: the key list goes as JSON text on SQLite


def _entry(source: str, key: str, field: str | None = None, severity: str = "rejected") -> QuarantineEntry:
    return QuarantineEntry(reason="bad", file="f.csv", line=1, field=field, record_key=key, source=source,
                           severity=severity)


def _open(store: Store) -> list[tuple[str, str, str | None]]:
    return sorted((e["source"], e["record_key"][:12], e["field"]) for e in store.quarantined(open_only=True))


def _statements(store: Store) -> tuple[list[str], Any]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", note)
    return seen, note


def test_resolve_quarantine_closes_exactly_the_sources_open_entries_of_the_batch(store: Store) -> None:
    running = store.start_job("import", "erp")
    store.quarantine(None, [_entry("erp", "A1"), _entry("content", "A1"), _entry("erp", "B9"), _entry("erp", LONG),
                            _entry("erp", ODD), _entry("erp", "A3", field="price"), _entry("erp", "A4", field="ean"),
                            _entry("erp", "A5", severity="problem")])
    store.quarantine(running, [_entry("erp", "A2")])  # the running job's own rejection stays open
    carried = Carried(fields=lambda key: {"ean"} if key in ("A3", "A4") else set(), attributes={"price", "ean"})

    closed = store.resolve_quarantine("erp", ["A1", "A2", LONG, ODD, "A3", "A4", "A5", "NONE"], job_id=running,
                                      carried=carried)

    assert closed == 5  # A1, the long key, the odd key, A4 (its record carried the ean) and A5's problem
    assert _open(store) == [("content", "A1", None), ("erp", "A2", None), ("erp", "A3", "price"), ("erp", "B9", None)]


def test_resolve_quarantine_without_a_job_closes_every_open_entry_of_its_keys(store: Store) -> None:
    running = store.start_job("import", "erp")
    store.quarantine(running, [_entry("erp", "A1")])
    store.quarantine(None, [_entry("erp", "A2"), _entry("supplier:x", "A2")])
    assert store.resolve_quarantine("erp", ["A1", "A2"]) == 2
    assert _open(store) == [("supplier:x", "A2", None)]


def test_a_clean_batch_with_nothing_quarantined_builds_no_quarantine_update(store: Store) -> None:
    seed_structure(store)
    store.quarantine(None, [_entry("erp", "ELSEWHERE")])
    seen, note = _statements(store)
    try:
        counts = run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1"}, family="tool"), "erp.csv", n)
                                           for n, sku in enumerate(("A1", "A2", "A3"), 1)], merge=Merger(PRECEDENCE))
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    assert counts.created == 3
    per_key = [s for s in seen if "quarantine.record_key IN" in s]  # SQLAlchemy's expanded IN (…) of the batch's keys
    assert seen and not per_key  # (its one plain question goes on the DB-API cursor, unseen here)
    assert _open(store) == [("erp", "ELSEWHERE", None)]


def test_a_clean_batch_still_closes_its_earlier_rejections(store: Store) -> None:
    seed_structure(store)
    store.quarantine(None, [_entry("erp", "A2"), _entry("content", "A2")])
    run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1"}, family="tool"), "erp.csv", n)
                              for n, sku in enumerate(("A1", "A2"), 1)], merge=Merger(PRECEDENCE))
    assert _open(store) == [("content", "A2", None)]


@pytest.mark.parametrize("salt", [b"", b"salt", bytes(range(100))])
def test_record_digest_is_the_keyed_blake2b_of_the_record_as_before(salt: bytes) -> None:
    rec = Product(identifier="A1", values={"ean": "4000000000006", "price": {"EUR": "1.50"}, "name:en_US": None})
    body = {"v": rec.values, "s": None}
    raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    expected = hashlib.blake2b(raw, digest_size=16, key=salt[:64]).hexdigest()
    assert record_digest(rec, salt) == expected
    assert record_digest(rec, salt) == expected  # the kept hasher is copied, not fed twice
    other = Product(identifier="A1", values={"ean": "4000000000013"})
    assert record_digest(other, salt) != expected
