"""`pim demo`'s warnings, grouped: the demo publishes every channel and delivers every contract of a generated
catalog, and a warning said once per publication or feed (images linked as file:// URLs or as paths) comes back
once per contract: ~140 lines that hide the report. While the demo runs, warnings are collected instead of
printed; after it, one line per kind of warning (the same message, whatever its channel, contract or example)
with how many there were, which channels or contracts said it and the first one in full. Every warning is kept in
PIM_HOME/demo-warnings.log, and printed with `pim demo --verbose`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: Subjects (channels, contracts) a group's line names before "and N more".
NAMED = 3


@dataclass
class Group:
    """One kind of warning: where it was logged and its message before its arguments were put in."""

    logger: str
    count: int = 0
    subjects: list[str] = field(default_factory=list)  # the first argument of each (a channel, a contract)
    first: str = ""

    def line(self) -> str:
        subjects = list(dict.fromkeys(self.subjects))
        named = ", ".join(subjects[:NAMED]) + (f" and {len(subjects) - NAMED} more" if len(subjects) > NAMED else "")
        said = f"{self.count} time{'s' if self.count != 1 else ''}" + (f" ({named})" if named else "")
        return f"{said}: {self.first}"


class Collector(logging.Handler):
    """Keeps WARNING and above, in order, and grouped."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []
        self.groups: dict[tuple[str, str], Group] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        self.records.append(text)
        group = self.groups.setdefault((record.name, str(record.msg)), Group(record.name, first=text))
        group.count += 1
        if isinstance(record.args, tuple) and record.args:
            group.subjects.append(str(record.args[0]))


class _Quiet(logging.Filter):
    """Keeps the other handlers from printing what the collector took."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


@contextmanager
def collected() -> Iterator[Collector]:
    """Warnings logged inside go to the Collector, not to the console (nor to Python's last-resort handler)."""
    root, collector, quiet = logging.getLogger(), Collector(), _Quiet()
    others = list(root.handlers)
    for handler in others:
        handler.addFilter(quiet)
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        for handler in others:
            handler.removeFilter(quiet)


def save(collector: Collector, path: Path) -> Path | None:
    """Every warning, one per line, in `path` (replaced at each run); None when there were none (and no file)."""
    if not collector.records:
        path.unlink(missing_ok=True)
        return None
    path.write_text("".join(f"{text}\n" for text in collector.records), encoding="utf-8")
    return path
