"""Streaming reader for BMEcat 2005 catalogs: turns each PRODUCT into a plain `BmecatProduct`, whatever the
namespace URI (2005, 2005.1, 2005+onto, none). Mapping to our attributes is bmecat.py's job.

This module streams the file (memory flat in its size) and checks it; each element it hands on is read into
its record by importers.bmecat_parse, the records live in importers.bmecat_records, and the element names
(BMEcat 1.2's read as 2005's) in importers.bmecat_elements. Every name is still importable from here.

BMEcat 1.2 is read too: its ARTICLE elements carry the same content under older names (SUPPLIER_AID,
ARTICLE_DETAILS, ARTICLE_PRICE, ART_ID_TO…), read as their 2005 names (BMECAT_12), so one parser serves
both. Its files name their DTD in a DOCTYPE, accepted bare and never loaded (importers.xml_safety)."""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from lxml import etree

from importers.bmecat_elements import BMECAT_12
from importers.bmecat_elements import LOCAL_NAMES as _LOCAL
from importers.bmecat_elements import child_named as _child
from importers.bmecat_elements import children_named as _children
from importers.bmecat_elements import local_name as _local
from importers.bmecat_elements import text_of as _text
from importers.bmecat_parse import (
    DIMENSIONS,
    parse_assignment,
    parse_group,
    parse_product,
)
from importers.bmecat_records import (
    GTIN_TYPES,
    BmecatHeader,
    BmecatProduct,
    CatalogGroup,
    Feature,
    GroupAssignment,
    GtinId,
    Mime,
    Price,
)
from importers.xml_safety import (
    SAFE_OPTIONS,
    check_well_formed,
    guard_prologue,
    open_for_xml,
    safe_iterparse,
)
from pim.errors import InputError, UnsupportedInput

TRANSACTIONS = {"T_NEW_CATALOG": "new_catalog", "T_UPDATE_PRODUCTS": "update_products", "T_UPDATE_PRICES": "update_prices"}
#: What callers and tests import from here, whichever module of the split holds it (safe_iterparse and
#: check_well_formed are looked up here at each read, so a test can count them).
__all__ = ["BMECAT_12", "DIMENSIONS", "GTIN_TYPES", "TRANSACTIONS", "BmecatHeader", "BmecatProduct", "CatalogGroup",
           "Feature", "FileIdentity", "GroupAssignment", "GtinId", "Mime", "Price", "ProductModes", "check_well_formed",
           "deletes_products", "parse_assignment", "parse_group", "parse_product", "product_modes", "read_bmecat",
           "safe_iterparse"]


# Only these elements raise iterparse events (the filter runs in C): the rest of a PRODUCT is read from its
# subtree when the PRODUCT ends, so Python never sees the other ~95% of the events.
_EVENT_TAGS = ["{*}" + name for name in ("BMECAT", *TRANSACTIONS, "ARTICLE", "PRODUCT", "CATALOG", "SUPPLIER",
                                        "CATALOG_STRUCTURE", "PRODUCT_TO_CATALOGGROUP_MAP", "ARTICLE_TO_CATALOGGROUP_MAP")]


def _root(handle: IO[bytes]) -> etree._Element | None:
    """The root element's start tag (name, line, attributes), read ahead of the filtered parse: the filter would
    hide a root that is not BMECAT. None when the file breaks before its root (the real parse then reports it).
    Runs after guard_prologue, with the same parser options as safe_iterparse; rewinds the handle."""
    parser = etree.XMLPullParser(events=("start",), **SAFE_OPTIONS)
    root = None
    try:
        while root is None:
            chunk = handle.read(64 * 1024)
            if not chunk:
                break
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError:
                chunk = b""
            for _, el in parser.read_events():
                root = el
                break
            if not chunk:
                break
    finally:
        handle.seek(0)
    return root


def _check_root(root: etree._Element, path: Path, header: BmecatHeader) -> None:
    if _local(root.tag) != "BMECAT":
        raise InputError(f"root element is <{_local(root.tag)}>, not <BMECAT>", file=str(path), line=root.sourceline,
                         hint="is this a BMEcat file?")
    header.version = root.get("version")


def _group_part(el: etree._Element, name: str, header: BmecatHeader) -> InputError | None:
    """Note a group or an assignment in the header; an InputError for one that names no group or product."""
    if name == "CATALOG_STRUCTURE":
        group = parse_group(el, header.languages[0] if header.languages else "eng")
        if group is None:
            return InputError("CATALOG_STRUCTURE without GROUP_ID", line=el.sourceline, field="GROUP_ID",
                              hint="every catalog group needs a GROUP_ID; products assigned to it cannot be placed")
        header.groups[group.group_id] = group
        return None
    assignment = parse_assignment(el)
    if assignment is None:
        return InputError("PRODUCT_TO_CATALOGGROUP_MAP without PROD_ID or CATALOG_GROUP_ID", line=el.sourceline,
                          field="PRODUCT_TO_CATALOGGROUP_MAP", hint="each assignment names a supplier PID and a group")
    header.assignments.append(assignment)
    return None


def _release(el: etree._Element) -> None:
    """Free a read element and the siblings before it, so memory stays flat in the file's size."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


class FileIdentity(NamedTuple):
    """What tells a file read once from one read again (os.fstat of the open handle): another file swapped in
    under its name is another inode (or device), one rewritten or truncated in place another size or
    modification time."""

    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, handle: IO[bytes]) -> FileIdentity:
        info = os.fstat(handle.fileno())
        return cls(info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)


def read_bmecat(path: Path, header_out: BmecatHeader | None = None, *,
                groups: bool = False, checked: FileIdentity | None = None) -> Iterator[BmecatProduct | InputError]:
    """Yield products one at a time (memory stays flat whatever the catalog size). A PRODUCT that cannot be
    read is yielded as an InputError so the caller can quarantine it and go on; a broken file raises before the
    first product (xml_safety.check_well_formed), so a file truncated after some products imports none.
    `groups`: also collect the catalog group tree and the product → group assignments into the header (small:
    a few strings each); otherwise they are read past. Either way their elements are cleared as they end.
    `checked`: the identity of the file the caller has just read whole with the same parser (`product_modes` to
    its end, which raises where the file breaks), so the structure check would read it a third time for nothing.
    A file that is no longer that one (swapped or truncated between the two reads) is refused before its first
    product: unchecked, a truncated one would import the products before the cut."""
    header = header_out if header_out is not None else BmecatHeader()
    handle = open_for_xml(path)
    with handle:
        if checked is not None and FileIdentity.of(handle) != checked:
            raise InputError("the file changed while it was being imported (it was replaced, rewritten or truncated "
                             "between the first pass over its deletes and the import's read); nothing was imported",
                             file=str(path), hint="wait until the file is written completely, then run the import "
                             "again")
        bare_doctype = guard_prologue(handle, str(path), external_dtd=True)  # BMEcat 1.2 files name their DTD
        root = _root(handle)
        if root is not None:
            _check_root(root, path, header)
        if not checked:
            check_well_formed(handle, str(path), bare_doctype, _EVENT_TAGS)
        context = safe_iterparse(handle, str(path), external_dtd=True, events=("start", "end"), tag=_EVENT_TAGS)
        transaction: str | None = None
        depth_in_product = 0
        saw_root = root is not None
        for event, el in context:
            name = _LOCAL.get(el.tag) or _local(el.tag)
            if event == "start":
                if not saw_root:  # only when the read-ahead found no root
                    saw_root = True
                    _check_root(el.getroottree().getroot(), path, header)
                if name in TRANSACTIONS:
                    transaction = header.transaction = TRANSACTIONS[name]
                elif name == "PRODUCT":
                    depth_in_product += 1
                continue
            if name == "PRODUCT" and transaction:
                depth_in_product -= 1
                default_lang = header.languages[0] if header.languages else "eng"
                try:
                    yield parse_product(el, transaction, default_lang)
                except InputError as exc:
                    exc.file = str(path)
                    yield exc
                _release(el)
            elif name in ("CATALOG_STRUCTURE", "PRODUCT_TO_CATALOGGROUP_MAP") and depth_in_product == 0:
                if groups:
                    problem = _group_part(el, name, header)
                    if problem is not None:
                        problem.file = str(path)
                        yield problem
                _release(el)
            elif name == "CATALOG" and depth_in_product == 0:
                # the language a text without `lang` is in: the one marked default="true", else the first
                languages = sorted(_children(el, "LANGUAGE"), key=lambda c: c.get("default", "").lower() != "true")
                header.languages = [t.lower() for t in (_text(c) for c in languages) if t]
                header.currency = _text(_child(el, "CURRENCY"))
                header.catalog_id = _text(_child(el, "CATALOG_ID"))
            elif name == "SUPPLIER" and depth_in_product == 0:
                header.supplier = _text(_child(el, "SUPPLIER_NAME"))
        if not saw_root:
            raise InputError("the file is empty", file=str(path), hint="export the catalog again")
        if transaction is None:
            raise UnsupportedInput("no T_NEW_CATALOG, T_UPDATE_PRODUCTS or T_UPDATE_PRICES transaction found",
                                   file=str(path), hint="only BMEcat 2005 and 1.2 product transactions are supported")


#: A PRODUCT (1.2: ARTICLE) start tag, any prefix, whose `mode` says delete. The attributes before it are read
#: whole, quoted (a value may hold `>`, never `<`): a PRODUCT_TO_CATALOGGROUP_MAP's mode, escaped markup in a
#: description or the word in any text do not match; a tag inside CDATA or a comment does (it costs a pass).
_DELETE_TAG = re.compile(rb"""<(?:[^\s<>/!?:]+:)?(?:PRODUCT|ARTICLE)(?:\s+[^\s=<>/]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*?"""
                         rb"""\s+mode\s*=\s*(?:"delete"|'delete')""")


def deletes_products(path: Path) -> bool:
    """Whether the file holds a `PRODUCT mode="delete"` (1.2: ARTICLE), by a byte scan at memory speed: only
    such a file needs `product_modes`' pass. Each `delete` in the bytes is checked against the tag it stands in
    (the nearest `<` before it: no attribute value holds one), so the word in a description or a deleted group
    assignment costs no pass. A file in a wide encoding (NUL bytes at its head: UTF-16) or that cannot be
    mapped may hold one; as before, a `delete` written as character references is not seen."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if b"\x00" in mm[:512]:
                return True
            at = mm.find(b"delete")
            while at != -1:
                start = mm.rfind(b"<", 0, at)
                if start != -1 and _DELETE_TAG.match(mm, start):
                    return True
                at = mm.find(b"delete", at + 6)
    except (OSError, ValueError):  # an empty or unreadable file: the import's read reports it
        return True
    return False


def product_modes(path: Path) -> ProductModes:
    """(SUPPLIER_PID, PRODUCT@mode) of every product `read_bmecat` would yield as one, in file order, and
    nothing else: a cheap first pass (no product is mapped) that tells a product a later PRODUCT of the same
    supplier PID overrides (importers.bmecat: a file's last word on a product wins). Products without a
    SUPPLIER_PID are left out, as read_bmecat yields them as errors. A broken file raises as read_bmecat does.
    The pass notes the identity of the file it read (`ProductModes.identity`), for `read_bmecat(checked=)`."""
    return ProductModes(path)


class ProductModes:
    """`product_modes`' pass; `identity`: the file's, once the pass has opened it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity: FileIdentity | None = None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return _modes(self.path, self)


def _modes(path: Path, modes: ProductModes) -> Iterator[tuple[str, str]]:
    handle = open_for_xml(path)
    with handle:
        modes.identity = FileIdentity.of(handle)
        context = safe_iterparse(handle, str(path), external_dtd=True, events=("start", "end"), tag=_EVENT_TAGS)
        transaction = False
        depth_in_product = 0
        for event, el in context:
            name = _LOCAL.get(el.tag) or _local(el.tag)
            if event == "start":
                if name in TRANSACTIONS:
                    transaction = True
                elif name == "PRODUCT":
                    depth_in_product += 1
                continue
            if name == "PRODUCT" and transaction:
                depth_in_product -= 1
                pid = _text(_child(el, "SUPPLIER_PID"))
                if pid:
                    yield pid, el.get("mode", "new")
                _release(el)
            elif name in ("CATALOG_STRUCTURE", "PRODUCT_TO_CATALOGGROUP_MAP") and depth_in_product == 0:
                _release(el)
