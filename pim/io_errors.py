"""A local file the pipeline could not write or read for a reason of the machine, not of the data: a full disk,
a quota, a read-only mount, missing permissions, a failing disk. The command line (pim.cli.main) answers such
an OSError with one line naming the path and what to do, exit code 1 (a failure) and, under --json, the usual
failure document, instead of a traceback. Network errors (also OSErrors) are not these: their callers say what
they mean (DeliveryError)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pim.errors import PimError

#: errno → what it means for the folder and what to do (`{folder}`: the folder of the path).
_ADVICE: dict[int, str] = {
    errno.ENOSPC: "the disk holding {folder} is full: free space there (`df -h {folder}`) or point the setting "
                  "at a larger disk (PIM_OUTPUT for publications, PIM_HOME for the rest), then run the command again",
    errno.EDQUOT: "this user's disk quota on {folder} is used up: free space or raise the quota, then run the "
                  "command again",
    errno.EFBIG: "the file grew past what {folder}'s file system allows: use another disk, then run the command "
                 "again",
    errno.EACCES: "this user (uid {uid}) may not read or write there: give it access to {folder} (`ls -ld {folder}`) "
                  "or point the setting at a folder it may write, then run the command again",
    errno.EPERM: "this user (uid {uid}) is not permitted to do that there: check the owner and mode of {folder}, "
                 "then run the command again",
    errno.EROFS: "{folder} is on a read-only file system: remount it read-write or point the setting at a "
                 "writable disk, then run the command again",
    errno.EIO: "the disk holding {folder} reported an I/O error: check it (`dmesg`, its SMART status) before "
               "running the command again",
}


class LocalIOError(PimError):
    """A local file operation the machine refused (see the module); `file` is the path, when known."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str, file: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.file = file


def local_io_failure(exc: BaseException, path: str | Path | None = None) -> LocalIOError | None:
    """`exc` as a LocalIOError when it is an OSError of the machine (_ADVICE), else None. An error without a path
    (a write on an open file) names `path`, the file its caller was writing, or else (no caller said) the folders
    the pipeline writes to."""
    if not isinstance(exc, OSError) or exc.errno not in _ADVICE:
        return None
    if exc.filename is not None:
        path = exc.filename
    path = None if path is None else str(path)
    folder = _nearest_folder(Path(path)) if path is not None else _default_folder()
    reason = exc.strerror or os.strerror(exc.errno)
    advice = _ADVICE[exc.errno].format(folder=folder, uid=os.getuid() if hasattr(os, "getuid") else "?")
    return LocalIOError(f"could not use {path or _folders()}: {reason} ({errno.errorcode.get(exc.errno, exc.errno)})",
                        hint=advice, file=path)


def check_folder(out: Path) -> None:
    """Refuse, before anything is written, a file whose folder does not exist: the write would end in a bare
    FileNotFoundError naming a `.part` file (exit 1, saying to create the folder)."""
    folder = out.parent
    if folder.is_dir():
        return
    what = "is a file, not a folder" if folder.exists() else "does not exist"
    raise LocalIOError(f"could not write {out}: its folder {folder} {what}",
                       hint=f"create the folder (`mkdir -p {folder}`) or name a file in an existing one, then run "
                            "the command again", file=str(out))


def _nearest_folder(path: Path) -> str:
    """The folder to look at: the path when it is one, else its nearest existing parent (what could not be
    created does not exist; what could not be written is a file in it)."""
    for folder in (path, *path.parents):
        if folder.is_dir():
            return str(folder)
    return str(path.parent)


def _folders() -> str:
    """The folders a command writes to, for an error that did not say which file (PIM_OUTPUT, PIM_HOME)."""
    try:
        from pim.settings import get_settings

        s = get_settings()
        return f"a file under PIM_OUTPUT ({s.output_dir}) or PIM_HOME ({s.home})"
    except Exception:
        return "a file (the system did not say which)"


def _default_folder() -> str:
    try:
        from pim.settings import get_settings

        return str(get_settings().output_dir)
    except Exception:
        return "the folder"
