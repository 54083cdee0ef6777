"""A local disk that fills at a known point, for the tests of what an export or a publication says then: a file
handle whose writes past `room` bytes raise ENOSPC (as os.write does), openers that hand it out for the files a
test names, and `pim ARGS` run through pim.cli.main, which turns the error into its message and exit code (as
CliRunner does not)."""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


class FullDisk:
    """A file handle on a disk that fills after `room` bytes: writes past it raise ENOSPC, as os.write does."""

    def __init__(self, fh: Any, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.fh.close()


def fill_path_open(monkeypatch: pytest.MonkeyPatch, room: int, where: Callable[[Path], bool]) -> Callable[..., Any]:
    """Path.open hands out a FullDisk of `room` bytes for each file `where` names opened for writing; returns
    the real Path.open (to put back)."""
    real_open = Path.open

    def filling(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(self, mode, *args, **kwargs)
        return FullDisk(fh, room) if where(self) and "w" in mode else fh

    monkeypatch.setattr(Path, "open", filling)
    return real_open


def fill_io_open(monkeypatch: pytest.MonkeyPatch, room: int, where: Callable[[str], bool]) -> None:
    """io.open (which zipfile opens its file with) hands out a FullDisk of `room` bytes for each file `where`
    names opened for writing."""
    real_open = io.open

    def filling(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(file, mode, *args, **kwargs)
        return FullDisk(fh, room) if where(str(file)) and "w" in mode else fh

    monkeypatch.setattr(io, "open", filling)


def pim_main(args: list[str], monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`pim ARGS` through pim.cli.main, which turns errors into messages and exit codes (CliRunner does not):
    the exit code, stdout and stderr."""
    from pim.cli import main, output

    monkeypatch.setattr(sys, "argv", ["pim", *args])
    monkeypatch.setattr(output, "json_begun", False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        main()
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out, err
