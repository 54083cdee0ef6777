"""Safe XML input for every XML importer (BMEcat, ERP XML). Supplier files are untrusted: any DOCTYPE (entity
declarations, "billion laughs" bombs, external DTD references) is refused before the parser sees it — catalog
and IDoc files never need one — and the parser runs with entity resolution, DTD loading and network off."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from pim.errors import InputError

PROLOGUE_BYTES = 64 * 1024
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


def open_for_xml(path: Path) -> IO[bytes]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", file=str(path)) from exc
    return handle


def guard_prologue(handle: IO[bytes], name: str) -> None:
    """Refuse empty files, DOCTYPEs that declare entities, and undecodable prologues; rewinds the handle."""
    head = handle.read(PROLOGUE_BYTES)
    handle.seek(0)
    if not head.strip(b" \t\r\n\xef\xbb\xbf\x00"):
        raise InputError("the file is empty", file=name, hint="export it again; an XML file starts with <?xml or its root element")
    probe = head
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        probe = head.decode("utf-16", errors="ignore").encode("utf-8")
    found = _DOCTYPE.search(probe) or _ENTITY.search(probe)
    if found:
        line = probe[: found.start()].count(b"\n") + 1
        what = "declares entities (external entities or an entity bomb)" if _ENTITY.search(probe) else "has a DOCTYPE (an external DTD)"
        raise InputError(
            f"the document {what}; refused for safety",
            file=name, line=line, field="DOCTYPE",
            hint="remove the DOCTYPE/ENTITY declarations; supplier catalogs and IDocs do not need them",
        )


def safe_iterparse(handle: IO[bytes], name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """lxml iterparse with every dangerous feature off; XML errors become InputError with the line."""
    guard_prologue(handle, name)
    options = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)
    options.update(kwargs)
    try:
        yield from etree.iterparse(handle, **options)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc.msg}", file=name, line=exc.lineno,
                         hint="the file may be truncated, not XML, or in another encoding than it declares") from None
