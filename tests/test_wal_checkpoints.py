"""SQLite WAL checkpoints run on the process's checkpoint thread (pim.store.wal_checkpoints), not in commits."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from pim.store import Store, wal_checkpoints
from tests.source_data import record, seed_structure


def _idle(timeout: float = 10.0) -> None:
    """Wait until the checkpoint thread has nothing left to do."""
    cp = wal_checkpoints._CHECKPOINTER
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with cp.lock:
            if not cp.dirty and cp.busy is None:
                return
        time.sleep(0.01)
    raise AssertionError("the checkpoint thread did not settle")


def _rows_in_main_file(db: Path, tmp: Path) -> int:
    """Products in the database file alone, as if the WAL were lost: only what a checkpoint copied back."""
    alone = tmp / "alone.db"
    shutil.copyfile(db, alone)
    conn = sqlite3.connect(alone)
    try:
        return conn.execute("SELECT count(*) FROM product").fetchone()[0]
    finally:
        conn.close()


def _file_store(tmp_path: Path) -> tuple[Store, Path]:
    db = tmp_path / "pim.db"
    store = Store(f"sqlite:///{db}")
    store.migrate()
    seed_structure(store)
    return store, db


def test_a_small_commit_reaches_the_database_file_without_the_writer_checkpointing(tmp_path: Path) -> None:
    store, db = _file_store(tmp_path)
    _idle()
    before = _rows_in_main_file(db, tmp_path)
    store.upsert_products([record("erp", f"SKU-{n}", {}) for n in range(5)])
    _idle()
    # a few pages: far below any connection's automatic checkpoint, so only the thread can have copied them
    assert _rows_in_main_file(db, tmp_path) == before + 5
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == wal_checkpoints.SAFETY_PAGES
    store.dispose()


def test_dispose_still_folds_the_wal_into_one_file(tmp_path: Path) -> None:
    store, db = _file_store(tmp_path)
    store.upsert_products([record("erp", f"SKU-{n}", {}) for n in range(20)])
    store.dispose()
    wal = Path(str(db) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert _rows_in_main_file(db, tmp_path) == 20


@pytest.mark.parametrize("limit", [256 * 1024, -1])
def test_a_grown_wal_is_cut_back_once_a_writer_starts_it_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              limit: int) -> None:
    """A reader holding its snapshot keeps the checkpoint from finishing while a large write grows the WAL;
    once the reader is gone and a checkpoint completes, the next write starts the WAL over and truncates it to
    the limit (-1: SQLite's default, no limit, shows the file would have kept its size)."""
    monkeypatch.setattr(wal_checkpoints, "WAL_SIZE_LIMIT", limit)
    store, db = _file_store(tmp_path)
    wal = Path(str(db) + "-wal")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM product").fetchone()  # a snapshot the checkpoint must not pass
    text = "x" * 2000
    for n in range(4):
        store.upsert_products([record("erp", f"SKU-{n}-{i}", {"name:en_US": f"{text}{i}"}) for i in range(200)])
    _idle()
    grown = wal.stat().st_size
    assert grown > 1024 * 1024  # ~1.6 MB of records, none of it copied back past the reader
    reader.execute("COMMIT")
    reader.close()
    wal_checkpoints.checkpoint(str(db))  # now complete: every frame is in the database file
    store.upsert_products([record("erp", "SKU-after", {})])  # the writer starts the WAL over
    _idle()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == limit
    if limit > 0:
        assert wal.stat().st_size <= limit
    else:
        assert wal.stat().st_size == grown
    assert store.get_product("SKU-3-199") is not None
    store.dispose()


def test_a_checkpoint_of_a_missing_file_is_skipped_quietly(tmp_path: Path) -> None:
    wal_checkpoints._CHECKPOINTER.poke(str(tmp_path / "gone" / "pim.db"))
    _idle()  # the thread survives and settles: the next poke still works
    store, db = _file_store(tmp_path)
    store.upsert_products([record("erp", "SKU-1", {})])
    _idle()
    assert _rows_in_main_file(db, tmp_path) >= 1
    store.dispose()


def _write_in_child(db: str, tmp: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(f"sqlite:///{db}")
    store.upsert_products([record("erp", "SKU-CHILD", {})])
    _idle()
    out.put(_rows_in_main_file(Path(db), Path(tmp)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_process_starts_its_own_checkpoint_thread(tmp_path: Path) -> None:
    store, db = _file_store(tmp_path)
    store.upsert_products([record("erp", "SKU-PARENT", {})])
    _idle()  # the parent's thread exists now; a forked child does not inherit it
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_write_in_child, args=(str(db), str(tmp_path / "child"), out))
    (tmp_path / "child").mkdir()
    child.start()
    found = out.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert found == 2
    store.dispose()
