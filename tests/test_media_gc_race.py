"""gc and writers of asset objects at the same time never leave a row naming a missing object (media.fence), on
the local store and on S3 (moto's server mode), SQLite and PostgreSQL. Each test forces one dangerous
interleaving deterministically: a hook runs the other side at the exact point where the old code lost the object.

- gc listed and checked an old orphan; an ingest of the same bytes finds the object and records its row; then gc
  deletes (the case docs/media.md warned about);
- an ingest found the object; gc deletes it (no row yet); then the ingest records its row;
- an ingest starts between two of gc's locked turns and records after gc deleted;
- a rendition is written, gc deletes it, then its row is recorded;
- gc deleted an unused image's rows; an ingest of the same bytes records them again before gc deletes the object.
"""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from media import fence, ingest as ingest_module, renditions as renditions_module
from media.assets import ASSET, ORIGIN, RENDITION, original_key
from media.gc import GcResult, collect_garbage, sweep_orphans
from media.ingest import ingest
from media.renditions import build_renditions
from media.settings import RenditionSpec
from pim.store import Store
from pim.store.store import now
from tests import images
from tests.services.s3 import asset_store_of

SPEC = RenditionSpec(name="thumb", max_width=40, max_height=40, format="JPEG")
PHOTO = images.photo_jpeg(80, 60, 7)
KEY = original_key(hashlib.sha256(PHOTO).hexdigest(), "jpg")


@pytest.fixture(params=["local", "s3"])
def assets(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return asset_store_of(request.param, request, tmp_path)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "p.jpg").write_bytes(PHOTO)
    return folder


def _orphan(assets: Any) -> None:
    """The photo's original, stored by an ingest that died before recording its row."""
    assets.put(KEY, io.BytesIO(PHOTO), content_type="image/jpeg")


def _asset_key(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(ASSET.c.key).where(ASSET.c.key == KEY)).scalar_one_or_none()


def _assert_recorded_and_stored(store: Store, assets: Any) -> None:
    assert _asset_key(store) == KEY
    assert assets.exists(KEY) and assets.get(KEY) == PHOTO


def test_ingest_between_the_sweeps_check_and_its_delete_keeps_the_object(
        store: Store, assets: Any, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _orphan(assets)
    cutoff = now()  # the orphan is older than the grace
    seen: list[list[str]] = []
    real = fence.Deleter.delete_unnamed

    def ingest_first(self: fence.Deleter, keys: list[str], named: Any) -> list[str]:
        seen.append(list(keys))
        counts = ingest(store, [("p.jpg", "erp")], asset_store=assets, base_dir=photos)
        assert (counts.valid, counts.stored) == (1, 0)  # found the object there: not written again
        return real(self, keys, named)

    monkeypatch.setattr(fence.Deleter, "delete_unnamed", ingest_first)
    result = GcResult()
    sweep_orphans(store, assets, cutoff=cutoff, dry_run=False, result=result)
    assert seen == [[KEY]]  # the sweep had listed it and found no row
    assert result.orphans == 0
    _assert_recorded_and_stored(store, assets)


def test_sweep_between_ingests_check_and_its_row_makes_ingest_store_again(
        store: Store, assets: Any, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _orphan(assets)
    cutoff = now()
    swept: list[int] = []
    real = ingest_module._record

    def sweep_first(*args: Any, **kwargs: Any) -> Any:
        if not swept:
            result = GcResult()
            sweep_orphans(store, assets, cutoff=cutoff, dry_run=False, result=result)
            swept.append(result.orphans)
            assert not assets.exists(KEY)  # gone, and the ingest already decided not to write it
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_record", sweep_first)
    counts = ingest(store, [("p.jpg", "erp")], asset_store=assets, base_dir=photos)
    assert swept == [1]
    assert (counts.valid, counts.stored, counts.unreadable) == (1, 1, 0)  # read and stored again
    _assert_recorded_and_stored(store, assets)


def test_ingest_starting_between_two_gc_turns_stores_what_the_second_deleted(
        store: Store, assets: Any, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _orphan(assets)
    cutoff = now()
    at_record, resume = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    real_record, real_turn = ingest_module._record, fence.Deleter._turn
    turns: list[tuple[int, bool]] = []

    def paused_record(*args: Any, **kwargs: Any) -> Any:
        if not at_record.is_set():
            at_record.set()  # started (W bumped) and found the object; its row is not recorded yet
            assert resume.wait(60)
        return real_record(*args, **kwargs)

    def run_ingest() -> None:
        try:
            outcome["counts"] = ingest(store, [("p.jpg", "erp")], asset_store=assets, base_dir=photos)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            outcome["error"] = exc
            at_record.set()

    def turn(self: fence.Deleter, keys: list[str], named: Any, seen: int | None) -> tuple[int, list[str]]:
        if len(turns) == 1:  # after the first turn committed, before the second
            worker.start()
            assert at_record.wait(60)
        writes, doomed = real_turn(self, keys, named, seen)
        turns.append((len(doomed), assets.exists(KEY)))
        return writes, doomed

    worker = threading.Thread(target=run_ingest)
    monkeypatch.setattr(ingest_module, "_record", paused_record)
    monkeypatch.setattr(fence.Deleter, "_turn", turn)
    result = GcResult()
    try:
        sweep_orphans(store, assets, cutoff=cutoff, dry_run=False, result=result)
    finally:
        resume.set()
        if worker.ident:
            worker.join(60)
    assert "error" not in outcome, outcome.get("error")
    # turn 1 only bumps; turn 2 sees the writer that started and deletes nothing; turn 3 deletes (no row yet)
    assert turns == [(0, True), (0, True), (1, False)] and result.orphans == 1
    assert (outcome["counts"].valid, outcome["counts"].stored) == (1, 1)  # the ingest noticed and stored it again
    _assert_recorded_and_stored(store, assets)


def test_sweep_between_a_rendition_write_and_its_row_makes_it_render_again(
        store: Store, assets: Any, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(store, [("p.jpg", "erp")], asset_store=assets, base_dir=photos)
    swept: list[int] = []
    real = renditions_module._record

    def sweep_first(*args: Any, **kwargs: Any) -> Any:
        if not swept:
            result = GcResult()
            sweep_orphans(store, assets, cutoff=now(), dry_run=False, result=result)
            swept.append(result.orphans)
        return real(*args, **kwargs)

    monkeypatch.setattr(renditions_module, "_record", sweep_first)
    counts = build_renditions(store, [SPEC], asset_store=assets)
    assert swept == [1]  # the new rendition, its row not recorded yet; the named original stayed
    assert counts["renditions"] == 1
    with store.engine.connect() as conn:
        key = conn.execute(select(RENDITION.c.key)).scalar_one()
    assert assets.exists(key) and assets.exists(KEY)


def test_reingest_between_gcs_row_delete_and_object_delete_keeps_the_object(
        store: Store, assets: Any, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(store, [("p.jpg", "upload")], asset_store=assets, base_dir=photos)  # nothing shows it: unused
    real = fence.Deleter.delete_unnamed
    calls: list[list[str]] = []

    def ingest_first(self: fence.Deleter, keys: list[str], named: Any) -> list[str]:
        if not calls:
            assert _asset_key(store) is None  # the rows are gone already
            ingest(store, [("p.jpg", "upload")], asset_store=assets, base_dir=photos)
        calls.append(list(keys))
        return real(self, keys, named)

    monkeypatch.setattr(fence.Deleter, "delete_unnamed", ingest_first)
    result = collect_garbage(store, assets, grace=timedelta(0))
    assert result.assets == 1 and calls[0] == [KEY] and result.orphans == 0
    _assert_recorded_and_stored(store, assets)
    with store.engine.connect() as conn:
        assert conn.execute(select(ORIGIN.c.ref)).scalars().all() == ["p.jpg"]


def test_without_a_gc_meanwhile_recording_looks_nothing_up(store: Store, assets: Any, photos: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[str] = []
    real = type(assets).exists
    monkeypatch.setattr(type(assets), "exists", lambda self, key: looked.append(key) or real(self, key))
    ingest(store, [("p.jpg", "erp")], asset_store=assets, base_dir=photos)
    assert looked == [KEY]  # the ingest's own check before writing; none when recording the row


def test_a_plain_gc_still_deletes_orphans_through_the_fence(store: Store, assets: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _orphan(assets)
    turns: list[int] = []
    real = fence.Deleter._turn

    def counted(self: fence.Deleter, *args: Any) -> tuple[int, list[str]]:
        turns.append(1)
        return real(self, *args)

    monkeypatch.setattr(fence.Deleter, "_turn", counted)
    result = collect_garbage(store, assets, grace=timedelta(0))
    assert result.orphans == 1 and not assets.exists(KEY)
    assert len(turns) == 2  # one turn to read the writers' counter, one to delete



def _writer_can_lock(store: Store, wait: float = 0) -> bool:
    """Whether a writer could take the lock it records rows under, right now without waiting (or within
    `wait` seconds on SQLite, where the WAL checkpoint thread may hold the file for a moment: pim.store.wal_checkpoints)."""
    if store.dialect == "sqlite":
        import sqlite3

        conn = sqlite3.connect(store.url[len("sqlite:///"):], timeout=wait, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    with store.engine.connect() as conn:
        try:
            conn.execute(text(f"SELECT value FROM sequence WHERE name = '{fence.DELETIONS}' FOR SHARE NOWAIT"))
            return True
        except OperationalError:
            return False


def test_gc_deletes_only_while_holding_the_lock_writers_record_under(store: Store, assets: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _orphan(assets)
    fence.begin_writes(store)  # the counters exist, as after any ingest
    during: list[bool] = []
    real = assets.delete
    monkeypatch.setattr(assets, "delete", lambda key: during.append(_writer_can_lock(store)) or real(key))
    assert collect_garbage(store, assets, grace=timedelta(0)).orphans == 1
    assert during == [False]
    assert _writer_can_lock(store, wait=5)  # released: a checkpoint running under load may delay it a moment
