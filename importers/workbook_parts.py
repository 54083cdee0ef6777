"""The parts of an XLSX package (a ZIP archive of XML parts) found as Excel finds them: through the package's
relationships, not by their usual names, since a part may be named anything. Shared by the workbook's guard and
sheet reads (importers.workbook) and the sheet layout scan (importers.workbook_layout)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import Any
from zipfile import ZipFile

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
#: How much of a part is read at a time where one is scanned as bytes.
CHUNK = 1024 * 1024


def sheet_part(archive: ZipFile, title: str, name: str) -> str:
    """The zip member of sheet `title`: _rels/.rels names the workbook, whose <sheet r:id> its rels resolve."""
    book = part_target(archive, "", "_rels/.rels", lambda rel: rel.get("Type", "").endswith("/officeDocument"), name)
    rid = next((_rel_id(s) for s in part_elements(archive, book, f"{MAIN}sheet", name) if s.get("name") == title), None)
    folder, file = posixpath.split(book)
    rels = posixpath.join(folder, "_rels", f"{file}.rels")
    return part_target(archive, book, rels, lambda rel: rel.get("Id") == rid, name)


def _rel_id(sheet: Any) -> str | None:
    return next((value for key, value in sheet.attrib.items() if key.endswith("}id")), None)


def part_target(archive: ZipFile, source: str, rels: str, wanted: Callable[[Any], bool], name: str) -> str:
    """The part the first relationship in `rels` that is `wanted` points at, resolved against `source`."""
    for rel in part_elements(archive, rels, RELATIONSHIP, name):
        if wanted(rel) and (target := rel.get("Target")):
            if target.startswith("/"):
                return target[1:]
            return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    raise KeyError(f"{rels} names no part for the sheet")


def part_elements(archive: ZipFile, part: str, tag: str, name: str) -> Iterator[Any]:
    """The `tag` elements of `part`, streamed through the XML guard (importers.xml_safety)."""
    from importers.xml_safety import safe_iterparse

    with archive.open(part) as handle:
        for _, element in safe_iterparse(handle, f"{name}:{part}", events=("end",), tag=tag):
            yield element
