"""CSV records of a source file, read so that a broken quote cannot swallow rows, silently or at all.

Python's lenient reader takes an unterminated quote as a field that runs to the end of the file: every row
after it vanished into one cell, and the import said nothing. Its strict reader refuses that, but also trips on
harmless slips the lenient one reads (a space after a closing quote), so records are read strictly and:

- a record the strict reader refuses on its own line (`"x" ;y`) is read again leniently from that line;
- a quoted cell that runs over line breaks and then does not close properly (never, or with text right after
  its closing quote: `P1;"Chair` … `P4;24" Monitor`) refuses the file, naming the line the quote opened on,
  the line where it went wrong and the column. From that quote on, where rows begin is a guess: the lines it
  took in may be rows of their own (a stray quote) or the rest of a cell (a slip after a real multi-line cell),
  and either guess imports wrong data (rows merged into one cell, or a description's lines as products);
- a quoted cell over several lines that closes properly is a cell like any other.

Every importer reading CSV text (ERP, supplier, content, Akeneo) reads it here, so they all behave alike."""

from __future__ import annotations

import bisect
import csv
import re
from collections import deque
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import IO

from pim.errors import InputError
from pim.sources import decode_guard, open_text

#: The longest cell a source file may hold (Python's default, 128 KiB, failed whole files over one long
#: description, which JSON takes as it is).
FIELD_LIMIT = 64 * 1024 * 1024

if csv.field_size_limit() < FIELD_LIMIT:
    csv.field_size_limit(FIELD_LIMIT)

_QUOTE_HINT = ('a cell that starts with a quote must end with one, and a quote inside a quoted cell is doubled (""): '
               "remove or double the stray quote, then run the import again")


def csv_records(handle: IO[str], name: str, *, delimiter: str, quotechar: str = '"') -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, its cells) for each record of an open text file, header included: the line
    of its first cell, where a user looks for a record whose quoted cell runs over several lines (blank lines
    are records: [], so later records keep their file's line numbers; so is a last line holding only DOS's
    end-of-file mark, Ctrl-Z, which old exporters write)."""
    lines: list[str] = []

    def remembered() -> Iterator[str]:
        for line in handle:
            lines.append(line)
            yield line

    reader = csv.reader(remembered(), delimiter=delimiter, quotechar=quotechar, strict=True)
    ended = 0  # the line the record before ended on
    header: list[str] | None = None  # the first record, to name the column of a broken quote
    while True:
        del lines[:]
        start = ended + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells = _refused(str(exc), lines, start, reader.line_num, name, delimiter, quotechar, header)
        ended = reader.line_num
        if len(cells) == 1 and cells[0] == "\x1a":  # DOS's end-of-file mark (Ctrl-Z) on a line of its own
            cells = []
        if header is None:
            header = [c.strip() for c in cells]
        yield start, cells


def check_records(path: Path, name: str, encoding: str, delimiter: str, quotechar: str = '"') -> None:
    """Read the whole file as an import reads it (pim.sources.open_text, decode_guard, csv_records), keeping
    nothing, before its first row is taken: a file refused part-way (a quote never closed, a byte that does not
    decode, UTF-8 under a single-byte encoding, a cell over FIELD_LIMIT) is refused before its first batch is
    written, with the error and line the import would give there. A row rejected on its own (ragged, NUL) stays
    a row rejection. 50,000 rows: ~0.04 s (~0.08 s under a single-byte encoding, watched for UTF-8)."""
    with open_text(path, encoding) as handle:
        deque(decode_guard(csv_records(handle, name, delimiter=delimiter, quotechar=quotechar), str(path), encoding),
              maxlen=0)


def _refused(error: str, lines: list[str], start: int, at: int, name: str, delimiter: str, quotechar: str,
             header: list[str] | None) -> list[str]:
    """The cells of a record the strict reader refused (its physical lines `lines`, from line `start`), when a
    lenient reading of them is safe; else the InputError naming the broken quote."""
    if "field larger than field limit" in error:
        raise InputError(f"a cell is longer than {FIELD_LIMIT // (1024 * 1024)} MiB (the record starts on line "
                         f"{start}: an unclosed quote?)", file=name, line=at) from None
    text = "".join(lines)
    found = _quote_problem(text, delimiter, quotechar)
    starts = list(accumulate((len(line) for line in lines[:-1]), initial=0))

    def line_of(position: int) -> int:
        return start + bisect.bisect_right(starts, position) - 1

    def column(index: int) -> str:
        return header[index] if header and index < len(header) and header[index] else f"column {index + 1}"

    def around(position: int) -> str:
        """Line text around `position` (the opening quote): up to 40 characters either side."""
        first = starts[line_of(position) - start]
        own = lines[line_of(position) - start].rstrip("\r\n")
        at = position - first
        return repr(("…" if at > 40 else "") + own[max(0, at - 40):at + 40] + ("…" if len(own) > at + 40 else ""))

    if error == "unexpected end of data":
        opened = line_of(found[0]) if found else start
        shown = around(found[0]) if found else _shown(lines[0] if lines else "")
        raise InputError(f"a quote opened on line {opened} is never closed: the rest of the file would be one cell "
                         f"(line {opened}: {shown})", file=name, line=opened,
                         field=column(found[2]) if found else None, hint=_QUOTE_HINT) from None
    if found and found[1] is not None and line_of(found[0]) != line_of(found[1]):
        opened, closed = line_of(found[0]), line_of(found[1])
        after = text[found[1] + 1:].split("\n", 1)[0].rstrip("\r")
        raise InputError(
            f"the quote opened on line {opened} is not closed properly: the next quote, on line {closed}, is "
            f"followed by {_shown(after)} instead of '{delimiter}' or the line's end, so lines {opened}-{closed} "
            f"would be one cell (line {opened}: {around(found[0])})",
            file=name, line=opened, field=column(found[2]), hint=_QUOTE_HINT) from None
    # a slip in a cell on one line (`"x" ;y`, `"y"z`): the lenient reader reads the record from its own lines
    read = list(csv.reader(lines, delimiter=delimiter, quotechar=quotechar))
    if len(read) > 1:  # not seen: it would read the lines as several records, and only one is returned
        raise InputError(f"the record starting on line {start} is not valid CSV: {error}", file=name, line=start,
                         hint=_QUOTE_HINT) from None
    return read[0] if read else []


def _quote_problem(text: str, delimiter: str, quotechar: str) -> tuple[int, int | None, int] | None:
    """The first quoted cell of the record `text` that does not close properly, as (where its quote opens, where
    the quote that ends it is or None when none does, its column index); None when every quoted cell closes.
    Reads as the csv module does (a quote opens a cell only at its start; "" inside one is a quote)."""
    stop = re.compile(f"[{re.escape(delimiter)}\r\n]")
    pos, index, end = 0, 0, len(text)
    while pos < end:
        if text[pos] == quotechar:
            i = pos + 1
            while True:
                j = text.find(quotechar, i)
                if j < 0:
                    return pos, None, index
                if not text.startswith(quotechar, j + 1):
                    break
                i = j + 2
            after = text[j + 1:j + 2]
            if after == delimiter:
                pos, index = j + 2, index + 1
                continue
            return None if after in ("", "\r", "\n") else (pos, j, index)
        found = stop.search(text, pos)
        if found is None or found.group() != delimiter:
            return None
        pos, index = found.end(), index + 1
    return None


def _shown(text: str, width: int = 60) -> str:
    text = text.rstrip("\r\n")
    return repr(text if len(text) <= width else text[:width] + "…")
