"""Hypothesis-generated broken rows and files: the importers never crash with anything but a clear
InputError, every rejected row is in the quarantine with a reason, and the counts add up."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importers.content import import_content
from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.errors import InputError
from pim.store import Store
from tests.source_data import seed_structure


CELL = st.one_of(st.text(alphabet=string.printable + "äöü€;\"", max_size=12), st.sampled_from(["", "1,5", "x", "A1"]))
ROW = st.lists(CELL, min_size=0, max_size=7)
MAP = ErpCsvMap(delimiter=";", decimal=",", sku_column="sku", family="tool",
                columns={"ean": "ean", "w": {"to": "weight", "unit": "KILOGRAM"}, "p": {"to": "price", "currency": "EUR"},
                         "moq": "min_order_qty", "name": "name:en_US"})
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def seeded(sqlite_template: Path, tmp_path: Path):
    """SQLite only: this fuzzes the parsers and the bookkeeping, not the database."""
    path = tmp_path / "fuzz.db"
    shutil.copyfile(sqlite_template, path)
    store = Store(f"sqlite:///{path}")
    seed_structure(store)
    yield store
    store.dispose()


def _check(store: Store, counts) -> None:
    assert counts.read == counts.created + counts.updated + counts.unchanged + counts.rejected
    entries = store.quarantined(counts.job_id, open_only=False)
    assert len(entries) == counts.rejected
    assert all(e["reason"] for e in entries)


@FUZZ
@given(rows=st.lists(ROW, max_size=12))
def test_broken_erp_rows_never_crash_and_counts_add_up(seeded: Store, tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("fuzz") / "erp.csv"
    lines = ["sku;ean;w;p;moq;name"] + [";".join(r) for r in rows]
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        counts = import_erp_csv(path, seeded, MAP)
    except InputError as exc:
        assert exc.describe()
        return
    _check(seeded, counts)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_erp_csv_give_input_errors_only(seeded: Store, tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "erp.csv"
    path.write_bytes(b"sku;ean;w\n" + data)
    try:
        counts = import_erp_csv(path, seeded, MAP)
    except InputError as exc:
        assert str(exc)
        return
    _check(seeded, counts)


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
                           ["sku", "name", "en_US", "bullets", "images", "associations", "values", "x"]), inner, max_size=4)),
                       max_leaves=12)


@FUZZ
@given(records=st.lists(JSONISH, max_size=8))
def test_broken_content_records_never_crash(seeded: Store, tmp_path_factory, records):
    import orjson

    path = tmp_path_factory.mktemp("fuzz") / "content.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n{broken\n")
    try:
        counts = import_content(path, seeded)
    except InputError as exc:
        assert str(exc)
        return
    _check(seeded, counts)
