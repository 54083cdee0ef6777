"""`pim media ingest --refresh` on local files: the size, modification time (ns) and inode a file was read with
and change time (ns) are kept with its origin (`asset_origin.etag`, `file:<size>:<mtime_ns>:<inode>:<ctime_ns>`),
and an unchanged file is not
opened again (counted as not modified, like an HTTP 304). A changed file is read and stored anew; a file modified
in the last two seconds gets no validator (it could change again unseen within the timestamp granularity)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from media import fetch
from media.assets import ORIGIN
from media.ingest import ingest
from media.store_local import LocalAssetStore
from pim.settings import reset_settings
from pim.store import Store
from tests import images

RED, BLUE = images.jpeg(40, 30), images.jpeg(30, 40, color=(20, 20, 200))
HOUR_NS = 3600 * 10**9


def _settle(path: Path, ns: int | None = None) -> int:
    """Give the file an mtime an hour ago (or `ns`), as a file written before this run has."""
    stamp = ns if ns is not None else time.time_ns() - HOUR_NS
    os.utime(path, ns=(stamp, stamp))
    return stamp


def _origin(store: Store, ref: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(ORIGIN).where(ORIGIN.c.ref == ref)).one()._mapping)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the file reader opens."""
    paths: list[str] = []
    real = open

    def recording(path: Any, *args: Any, **kwargs: Any) -> Any:
        paths.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(fetch, "open", recording, raising=False)
    return paths


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photos" / "red.jpg"
    path.parent.mkdir()
    path.write_bytes(RED)
    _settle(path)
    return path


def test_an_unchanged_local_file_is_not_opened_on_refresh(store: Store, photo: Path, tmp_path: Path,
                                                         opened: list[str]) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    first = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent)
    assert first.valid == 1 and opened == ["red.jpg"]
    info = photo.stat()
    stored = _origin(store, "red.jpg")
    assert stored["etag"] == f"file:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}:{info.st_ctime_ns}"

    again = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent, refresh=True)
    assert opened == ["red.jpg"]  # not opened a second time
    assert (again.not_modified, again.unchanged_files, again.known, again.valid) == (1, 1, 1, 0)
    assert again.as_dict()["not modified (file unchanged)"] == 1 and "not modified (HTTP 304)" not in again.as_dict()
    assert _origin(store, "red.jpg")["sha256"] == stored["sha256"] and _origin(store, "red.jpg")["etag"] == stored["etag"]


def test_a_changed_local_file_is_read_and_stored_anew(store: Store, photo: Path, tmp_path: Path,
                                                     opened: list[str]) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent)
    before = _origin(store, "red.jpg")
    photo.write_bytes(BLUE)  # the content team replaced the picture
    _settle(photo, time.time_ns() - HOUR_NS // 2)
    changed = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent, refresh=True)
    assert opened == ["red.jpg", "red.jpg"]
    assert (changed.not_modified, changed.valid, changed.stored) == (0, 1, 1)
    after = _origin(store, "red.jpg")
    assert after["sha256"] != before["sha256"] and after["etag"] != before["etag"]
    key = f"originals/{after['sha256'][:2]}/{after['sha256']}.jpg"
    assert assets.get(key) == BLUE


def test_a_new_mtime_alone_makes_the_file_read_again(store: Store, photo: Path, tmp_path: Path,
                                                    opened: list[str]) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent)
    _settle(photo, photo.stat().st_mtime_ns + 1)  # same size, one nanosecond later
    again = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent, refresh=True)
    assert opened == ["red.jpg", "red.jpg"] and (again.not_modified, again.valid) == (0, 1)


def test_an_edit_in_place_that_puts_the_old_mtime_back_is_read_again(store: Store, photo: Path, tmp_path: Path,
                                                                      opened: list[str]) -> None:
    """Same size, same inode, the modification time restored (`touch -r`): only the change time moved."""
    assets = LocalAssetStore(tmp_path / "media")
    ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent)
    first = _origin(store, "red.jpg")["sha256"]
    old = photo.stat()
    data = bytearray(RED)
    data[-3] ^= 0xFF  # one byte of the last scan segment: another picture, same length
    with open(photo, "r+b") as fh:
        fh.write(data)
    _settle(photo, old.st_mtime_ns)
    new = photo.stat()
    assert (new.st_size, new.st_mtime_ns, new.st_ino) == (old.st_size, old.st_mtime_ns, old.st_ino)
    assert new.st_ctime_ns != old.st_ctime_ns
    again = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent, refresh=True)
    assert opened == ["red.jpg", "red.jpg"] and again.not_modified == 0
    assert _origin(store, "red.jpg")["sha256"] != first


def test_a_file_replaced_by_another_with_the_same_size_and_mtime_is_read_again(
        store: Store, photo: Path, tmp_path: Path, opened: list[str]) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent)
    old = photo.stat()
    mtime = old.st_mtime_ns
    replacement = photo.with_name("incoming.tmp")
    replacement.write_bytes(RED)
    _settle(replacement, mtime)
    os.replace(replacement, photo)  # e.g. rsync: same size and mtime, another inode
    new = photo.stat()
    assert (new.st_size, new.st_mtime_ns) == (old.st_size, old.st_mtime_ns) and new.st_ino != old.st_ino
    again = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent, refresh=True)
    assert opened == ["red.jpg", "red.jpg"] and again.not_modified == 0


def test_a_file_modified_just_now_keeps_no_validator(store: Store, tmp_path: Path, opened: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_MEDIA_ROOTS", str(tmp_path))  # an absolute ref, read from a media root
    reset_settings()
    assets = LocalAssetStore(tmp_path / "media")
    fresh = tmp_path / "fresh.jpg"
    fresh.write_bytes(RED)
    _settle(fresh, time.time_ns() + HOUR_NS)  # "now" or later: could still change within the same tick
    ingest(store, [(str(fresh), "upload")], asset_store=assets)
    assert _origin(store, str(fresh))["etag"] is None
    again = ingest(store, [(str(fresh), "upload")], asset_store=assets, refresh=True)
    assert opened == ["fresh.jpg", "fresh.jpg"] and again.not_modified == 0


def test_a_removed_file_is_unreadable_on_refresh(store: Store, photo: Path, tmp_path: Path) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent)
    photo.unlink()
    again = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=photo.parent, refresh=True)
    assert (again.not_modified, again.unreadable) == (0, 1)
    assert _origin(store, "red.jpg")["sha256"] is None


def test_the_command_reports_unchanged_files(store: Store, photo: Path, pim_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()
    args = ["media", "ingest", "red.jpg", "--base", str(photo.parent), "--json"]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--refresh"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert (counts["not modified (file unchanged)"], counts["already known"], counts["valid"]) == (1, 1, 0)
