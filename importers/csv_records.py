"""CSV records of a source file, read so that a broken quote cannot swallow the rest of the file.

Python's lenient reader takes an unterminated quote as a field that runs to the end of the file: every row
after it vanished into one cell, and the import said nothing. Its strict reader refuses that, but also trips on
harmless slips the lenient one reads (a space after a closing quote), so records are read strictly and a
record the strict reader refuses in the middle of the file is read again leniently from its own lines."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from pim.errors import InputError

#: The longest cell a source file may hold (Python's default, 128 KiB, failed whole files over one long
#: description, which JSON takes as it is).
FIELD_LIMIT = 64 * 1024 * 1024

if csv.field_size_limit() < FIELD_LIMIT:
    csv.field_size_limit(FIELD_LIMIT)


def csv_records(handle: IO[str], name: str, *, delimiter: str, quotechar: str = '"') -> Iterator[tuple[int, list[str]]]:
    """(line the record ends on, its cells) for each record of an open text file, header included."""
    lines: list[str] = []

    def remembered() -> Iterator[str]:
        for line in handle:
            lines.append(line)
            yield line

    reader = csv.reader(remembered(), delimiter=delimiter, quotechar=quotechar, strict=True)
    ended = 0  # the line the record before ended on
    while True:
        del lines[:]
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if str(exc) == "unexpected end of data":
                raise InputError(f"a quote opened on line {ended + 1} is never closed: the rest of the file would "
                                 "be one cell", file=name, line=ended + 1,
                                 hint="close the quote (or double a quote meant as text: \"\"), then re-run") from None
            if "field larger than field limit" in str(exc):
                raise InputError(f"a cell is longer than {FIELD_LIMIT // (1024 * 1024)} MiB", file=name,
                                 line=reader.line_num) from None
            # a slip the lenient reader reads (`"x" ;`): read this record's own lines that way
            cells = next(csv.reader(lines, delimiter=delimiter, quotechar=quotechar), [])
        ended = reader.line_num
        yield ended, cells
