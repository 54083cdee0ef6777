"""The default asset store: files under the workspace (PIM_HOME/media). Writes are atomic (temp file +
rename), so a crash never leaves a half-written asset under its final key."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from media.errors import StoreUnavailable
from pim.protocols import StoredObject


class LocalAssetStore:
    """AssetStore on the local filesystem. `base_url` (e.g. a CDN in front of the folder) makes URLs public."""

    def __init__(self, root: Path, base_url: str | None = None) -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/") if base_url else None

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StoreUnavailable(f"asset key '{key}' escapes the media folder")
        return path

    def put(self, key: str, data: BinaryIO, *, content_type: str, size: int | None = None) -> str:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(data, out, 1024 * 1024)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {target}: {exc}", retryable=False) from exc
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StoreUnavailable(f"no asset '{key}' in {self.root}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot delete {self._path(key)}: {exc}", retryable=False) from exc

    def url(self, key: str) -> str:
        if self.base_url:
            return f"{self.base_url}/{key}"
        return self._path(key).as_uri()

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Walk the folder under `prefix`. Regular files only: a symlink is nothing we wrote, and following one
        could lead gc outside the media folder. Temp files of a crashed write (`.part-*`) are listed too."""
        root = self.root.resolve()
        for entry in _files(self._path(prefix.rpartition("/")[0])):
            key = Path(entry.path).relative_to(root).as_posix()
            if key.startswith(prefix):
                info = entry.stat(follow_symlinks=False)
                yield StoredObject(key, datetime.fromtimestamp(info.st_mtime, UTC), info.st_size)


def _files(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Regular files under `folder`, depth first. Each directory is read whole before its files are yielded,
    so a caller may delete what it was given while the walk goes on."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise StoreUnavailable(f"cannot list {folder}: {exc}", retryable=False) from exc
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _files(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield entry
