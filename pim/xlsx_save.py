"""Saving an openpyxl workbook so that a save refused midway (a full disk, a quota) leaves nothing open:
openpyxl's own save leaves its zip open on failure, and the garbage collector's close, failing again on the
same disk, printed "Exception ignored in: ZipFile.__del__" tracebacks after the command's one-line error."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any


def save_workbook(wb: Any, target: Path | IO[bytes]) -> None:
    """`wb.save(target)`, closing the archive (quietly: the error being raised is the one to report) when the
    save fails; the caller discards the workbook's sheets (their temporary files)."""
    from zipfile import ZIP_DEFLATED, ZipFile

    from openpyxl.writer.excel import ExcelWriter

    archive = ZipFile(target, "w", ZIP_DEFLATED, allowZip64=True)
    wb.properties.modified = datetime.now(tz=timezone.utc).replace(tzinfo=None)  # as openpyxl's save does
    try:
        ExcelWriter(wb, archive).save()
    except BaseException:
        try:
            archive.close()  # its file is closed even when this raises, so nothing is left for the collector
        except (OSError, ValueError):
            pass
        raise
