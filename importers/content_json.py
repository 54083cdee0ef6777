"""The content import's JSON files: an array, JSON Lines or pretty-printed objects, each record numbered by
its place (importers.content)."""

from __future__ import annotations

import io
import json
import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from importers.content_mapper import ContentMapper, _one
from pim.errors import InputError
from pim.importing import Parsed, Rejected
from pim.sources import open_text, undecodable_error

#: Why a JSON file's encoding is not the profile's: RFC 8259 has JSON in UTF-8, and the profile's `encoding` is
#: its CSV files' (one profile serves both: a `cp1252` for Excel's CSV must not misread the team's JSON).
JSON_UTF8 = "JSON files are read as UTF-8 (RFC 8259), whatever the profile's `encoding` (for CSV files) says"


def read_json(path: Path, mapper: ContentMapper, source: str) -> Iterator[Parsed | Rejected]:
    """A JSON array (loaded whole) or JSON Lines (streamed); a broken line is quarantined, a broken array
    is an InputError naming the position. JSON Lines are numbered as the file's lines, blank ones included;
    an array's records by their place in it. A byte that is no UTF-8 is named by its offset in the file,
    before any record is taken."""
    name, stamp = path.name, datetime.now(UTC)
    with open_text(path, "utf-8", fixed=JSON_UTF8) as handle:
        try:
            first, skipped = handle.read(1), []
            while first and first.isspace():
                skipped.append(first)
                first = handle.read(1)
            if first == "[":
                try:
                    records = orjson.loads(first + handle.read())
                except orjson.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON: {exc}", file=name, hint="a truncated file? export it again") from None
                lines: Iterator[tuple[int, Any]] = enumerate(records, start=1)
            else:  # the blank lines skipped before the first record count (universal newlines: \n, \r\n, \r)
                start, head = 1 + _breaks("".join(skipped)), first + handle.readline()
                lines = enumerate(chain([head], handle), start=start)
                if first == "{" and not _whole(head):  # an object over several lines: pretty-printed JSON?
                    text = head + handle.read()
                    lines = _documents(text, start, name) or enumerate(io.StringIO(text, newline=""), start=start)
                else:  # streamed: a byte further on that does not decode refuses the file now, before any batch
                    with open_text(path, "utf-8", fixed=JSON_UTF8) as whole:
                        deque(whole, maxlen=0)
            for number, raw in lines:
                if isinstance(raw, str) and not raw.strip():
                    continue
                yield _one(mapper, raw, name, number, source, stamp)
        except UnicodeDecodeError as exc:  # content JSON is UTF-8 by definition: no profile setting to change
            raise undecodable_error(name, "UTF-8", exc, path=path, hint="save the file as UTF-8 and re-run") from None


def _breaks(text: str) -> int:
    """Line breaks in `text` (\n, \r\n and \r, as a text file's lines end)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _whole(line: str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON value")


_JSON_SPACE = re.compile(r"[ \t\r\n]*")


def _documents(text: str, start: int, name: str) -> Iterator[tuple[int, Any]] | None:
    """The records of pretty-printed JSON: one object over several lines, or several one after another (as `jq`
    writes them), each numbered by the line it starts on. None when the first is no such object, so the file
    is read as JSON Lines (a broken line is rejected there); a later broken one refuses the file, as in an
    array: where the next record starts is a guess."""
    decoder, found, pos, line = json.JSONDecoder(parse_constant=_no_constant), [], 0, start
    while (at := _JSON_SPACE.match(text, pos).end()) < len(text):  # type: ignore[union-attr]
        line += _breaks(text[pos:at])
        try:
            record, pos = decoder.raw_decode(text, at)
        except ValueError as exc:
            if not found:
                return None
            where = start + exc.lineno - 1 if isinstance(exc, json.JSONDecodeError) else line
            raise InputError(f"not valid JSON at line {where}: {getattr(exc, 'msg', exc)}", file=name, line=where,
                             hint="a truncated file? export it again") from None
        if not found and not _breaks(text[at:pos]):
            return None  # one object on one line, then something else: JSON Lines with a broken line
        found.append((line, record))
        line += _breaks(text[at:pos])
    return iter(found)
