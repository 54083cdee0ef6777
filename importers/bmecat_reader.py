"""Streaming reader for BMEcat 2005 catalogs: turns each PRODUCT into a plain `BmecatProduct`, whatever the
namespace URI (2005, 2005.1, 2005+onto, none). Mapping to our attributes is bmecat.py's job.

Real supplier files differ from the spec: the "2005+onto" dialect names features by ECLASS IRDI in
FTEMPLATE/FT_ID instead of FNAME, nests them in FEATURE_GROUP, and may send PRODUCT_PRICE with a
LOWER_BOUND but no PRICE_AMOUNT.

BMEcat 1.2 is read too: its ARTICLE elements carry the same content under older names (SUPPLIER_AID,
ARTICLE_DETAILS, ARTICLE_PRICE, ART_ID_TO…), which `_local` reads as their 2005 names (BMECAT_12), so one
parser serves both. Its files name their DTD in a DOCTYPE, accepted bare and never loaded (importers.xml_safety)."""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from lxml import etree

from importers.xml_safety import SAFE_OPTIONS, check_well_formed, guard_prologue, open_for_xml, safe_iterparse
from pim.errors import InputError, UnsupportedInput

TRANSACTIONS = {"T_NEW_CATALOG": "new_catalog", "T_UPDATE_PRODUCTS": "update_products", "T_UPDATE_PRICES": "update_prices"}


@dataclass
class Feature:
    code: str  # FNAME, or FT_ID (ECLASS/ETIM IRDI) in the ontology dialect
    name: str | None
    values: list[str]
    unit: str | None = None
    value_ref: str | None = None  # VALUE_IDREF: an ECLASS value IRDI
    value_details: str | None = None
    #: FVALUE per language (ISO 639-2, lower case; the first of each), only when an FVALUE has `lang`: one
    #: without is in the catalog's default language (`BmecatProduct.language`).
    langs: dict[str, str] | None = None
    line: int = 0
    fid: str | None = None  # FID and FPARENT_ID: the feature tree of ECLASS Advanced files (`_nest`)
    parent: str | None = None
    depth: int = 0  # levels below the top of that tree: 0 at the top, and for every feature of a file without one


@dataclass
class Price:
    price_type: str
    amount: str | None
    currency: str | None
    lower_bound: str | None
    valid_from: str | None = None
    valid_to: str | None = None
    line: int = 0  # its PRODUCT_PRICE's, for the problems that name it
    quantity: str | None = None  # PRICE_QUANTITY: how many order units the amount is for (1 when absent)


@dataclass
class Mime:
    type: str | None
    source: str | None
    purpose: str | None
    descr: str | None = None


#: INTERNATIONAL_PID types that are GTINs (the XSD names ean, gtin and upc, and allows any other word, such as
#: a supplier's own scheme, which is no GTIN). One without a type is read as a GTIN, as the EAN element it replaces.
GTIN_TYPES = frozenset({"gtin", "ean", "upc"})


class GtinId(NamedTuple):
    """One GTIN a product's details carry: an EAN (1.2, or 2005 in place of INTERNATIONAL_PID), or an
    INTERNATIONAL_PID of a GTIN type; `line` is its element's, for problems that name it."""

    text: str
    element: str
    line: int


@dataclass
class BmecatProduct:
    supplier_pid: str
    line: int
    transaction: str
    mode: str = "new"  # PRODUCT@mode: new | update | delete
    short: dict[str, str] = field(default_factory=dict)  # lang (ISO 639-2, e.g. deu) → text
    long: dict[str, str] = field(default_factory=dict)
    keywords: dict[str, list[str]] = field(default_factory=dict)
    gtins: list[GtinId] = field(default_factory=list)  # every one, in file order (importers.bmecat picks one)
    manufacturer_pid: str | None = None
    manufacturer_name: str | None = None
    manufacturer_type: str | None = None
    feature_system: str | None = None
    feature_class: str | None = None
    features: list[Feature] = field(default_factory=list)
    language: str = "eng"  # the language of its texts without `lang`: the catalog's default
    prices: list[Price] = field(default_factory=list)
    order_unit: str | None = None
    content_unit: str | None = None
    pack_size: str | None = None  # NO_CU_PER_OU
    min_quantity: str | None = None
    mime: list[Mime] = field(default_factory=list)
    #: (type, PROD_ID_TO, quantity, line of the PROD_ID_TO: what a problem about the target names)
    references: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    customs_number: str | None = None  # the first CUSTOMS_TARIFF_NUMBER/CUSTOMS_NUMBER
    country_of_origin: str | None = None  # the first COUNTRY_OF_ORIGIN
    dimensions: dict[str, str] = field(default_factory=dict)  # PRODUCT_DIMENSIONS: VOLUME, WEIGHT, LENGTH… → text

    @property
    def ean(self) -> str | None:
        """The first GTIN the details carry, valid or not."""
        return self.gtins[0].text if self.gtins else None


@dataclass(slots=True)
class CatalogGroup:
    """One CATALOG_STRUCTURE of the CATALOG_GROUP_SYSTEM: the supplier's own group tree."""

    group_id: str
    parent_id: str | None
    type: str  # root | node | leaf
    names: dict[str, str] = field(default_factory=dict)  # lang (ISO 639-2) → GROUP_NAME
    order: int | None = None
    line: int = 0


@dataclass(slots=True)
class GroupAssignment:
    """One PRODUCT_TO_CATALOGGROUP_MAP: a supplier PID in a group (mode delete: out of it, in an update)."""

    pid: str
    group_id: str
    mode: str
    line: int


@dataclass
class BmecatHeader:
    version: str | None = None
    languages: list[str] = field(default_factory=list)
    currency: str | None = None
    supplier: str | None = None
    catalog_id: str | None = None
    transaction: str | None = None  # new_catalog | update_products | update_prices, once its element starts
    #: Filled only when read_bmecat is asked for groups: GROUP_ID → group, and the assignments in file order.
    groups: dict[str, CatalogGroup] = field(default_factory=dict)
    assignments: list[GroupAssignment] = field(default_factory=list)


_LOCAL: dict[str, str] = {}
#: BMEcat 1.2 element → its BMEcat 2005 name (no 1.2 name means anything else in 2005).
BMECAT_12 = {
    "ARTICLE": "PRODUCT", "SUPPLIER_AID": "SUPPLIER_PID", "ARTICLE_DETAILS": "PRODUCT_DETAILS",
    "MANUFACTURER_AID": "MANUFACTURER_PID", "BUYER_AID": "BUYER_PID", "ARTICLE_FEATURES": "PRODUCT_FEATURES",
    "ARTICLE_ORDER_DETAILS": "PRODUCT_ORDER_DETAILS", "ARTICLE_PRICE_DETAILS": "PRODUCT_PRICE_DETAILS",
    "ARTICLE_PRICE": "PRODUCT_PRICE", "ARTICLE_REFERENCE": "PRODUCT_REFERENCE", "ART_ID_TO": "PROD_ID_TO",
    "ARTICLE_LOGISTIC_DETAILS": "PRODUCT_LOGISTIC_DETAILS", "ARTICLE_TO_CATALOGGROUP_MAP": "PRODUCT_TO_CATALOGGROUP_MAP",
    "ART_ID": "PROD_ID", "ARTICLE_TO_CATALOGGROUP_MAP_ORDER": "PRODUCT_TO_CATALOGGROUP_MAP_ORDER",
    "INTERNATIONAL_AID": "INTERNATIONAL_PID",  # in the 2005 XSD's ARTICLE_DETAILS, with the same types
}
_UNSEEN: Any = object()


def _local(tag: object) -> str:
    """Local name whatever the namespace ('{uri}NAME' → 'NAME'), BMEcat 1.2 names read as 2005's; comments and PIs have no str tag.
    Memoised: a catalog has a few dozen distinct tags and this runs for every element."""
    try:
        return _LOCAL[tag]  # type: ignore[index]
    except (KeyError, TypeError):
        if not isinstance(tag, str):
            return ""
        local = tag[tag.rfind("}") + 1:]
        local = BMECAT_12.get(local, local)
        if len(_LOCAL) < 10000:
            _LOCAL[tag] = local
        return local


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    text = el.text.strip()
    return text or None


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _firsts(el: etree._Element) -> dict[str, etree._Element]:
    """The first child of each local name, in one pass (what `_child` finds, without a scan per name)."""
    found: dict[str, etree._Element] = {}
    for c in el:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name not in found:
            found[name] = c
    return found


def _lang(el: etree._Element, default: str) -> str:
    return (el.get("lang") or default).lower()


def parse_product(el: etree._Element, transaction: str, default_lang: str) -> BmecatProduct:
    """One pass over the PRODUCT's children: the first SUPPLIER_PID, PRODUCT_DETAILS, PRODUCT_ORDER_DETAILS and
    MIME_INFO count, every PRODUCT_FEATURES, PRODUCT_PRICE_DETAILS and PRODUCT_REFERENCE does."""
    first: dict[str, etree._Element] = {}
    features: list[etree._Element] = []
    prices: list[etree._Element] = []
    references: list[etree._Element] = []
    for c in el:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name == "PRODUCT_FEATURES":
            features.append(c)
        elif name == "PRODUCT_PRICE_DETAILS":
            prices.append(c)
        elif name == "PRODUCT_REFERENCE":
            references.append(c)
        elif name not in first:
            first[name] = c
    pid = _text(first.get("SUPPLIER_PID"))
    if not pid:
        raise InputError("PRODUCT without SUPPLIER_PID", line=el.sourceline, field="SUPPLIER_PID",
                         hint="every PRODUCT needs a SUPPLIER_PID")
    p = BmecatProduct(supplier_pid=pid, line=el.sourceline or 0, transaction=transaction, mode=el.get("mode", "new"),
                      language=default_lang)
    details = first.get("PRODUCT_DETAILS")
    if details is not None:
        _details(p, details, default_lang)
    for block in features:
        _features(p, block, default_lang)
    if features:
        _nest(p.features)
    order = first.get("PRODUCT_ORDER_DETAILS")
    if order is not None:
        o = _firsts(order)
        p.order_unit = _text(o.get("ORDER_UNIT"))
        p.content_unit = _text(o.get("CONTENT_UNIT"))
        p.pack_size = _text(o.get("NO_CU_PER_OU"))
        p.min_quantity = _text(o.get("QUANTITY_MIN"))
    for block in prices:
        _prices(p, block)
    mime_info = first.get("MIME_INFO")
    if mime_info is not None:
        for m_el in _children(mime_info, "MIME"):
            m = _firsts(m_el)
            p.mime.append(Mime(_text(m.get("MIME_TYPE")), _text(m.get("MIME_SOURCE")),
                               _text(m.get("MIME_PURPOSE")), _text(m.get("MIME_DESCR"))))
    for ref in references:
        to_el = _child(ref, "PROD_ID_TO")
        to = _text(to_el)
        if to:
            p.references.append((ref.get("type", "others"), to, ref.get("quantity"), to_el.sourceline or 0))  # type: ignore[union-attr]
    logistic = first.get("PRODUCT_LOGISTIC_DETAILS")
    if logistic is not None:
        _logistics(p, logistic)
    return p


#: PRODUCT_DIMENSIONS children, in the XSD's order.
DIMENSIONS = ("VOLUME", "WEIGHT", "LENGTH", "WIDTH", "DEPTH")


def _logistics(p: BmecatProduct, block: etree._Element) -> None:
    """The first customs number and country of origin (both may repeat per territory) and the dimensions."""
    for c in block:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name == "CUSTOMS_TARIFF_NUMBER" and p.customs_number is None:
            p.customs_number = _text(_child(c, "CUSTOMS_NUMBER"))
        elif name == "COUNTRY_OF_ORIGIN" and p.country_of_origin is None:
            p.country_of_origin = _text(c)
        elif name == "PRODUCT_DIMENSIONS":
            found = _firsts(c)
            p.dimensions = {d: t for d in DIMENSIONS if (t := _text(found.get(d))) is not None}


def parse_group(el: etree._Element, default_lang: str = "eng") -> CatalogGroup | None:
    """A CATALOG_STRUCTURE; None without a GROUP_ID (nothing can name it)."""
    first: dict[str, etree._Element] = {}
    names: dict[str, str] = {}
    for c in el:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name == "GROUP_NAME":
            text = _text(c)
            if text is not None:
                names.setdefault(_lang(c, default_lang), text)
        elif name not in first:
            first[name] = c
    group_id = _text(first.get("GROUP_ID"))
    if group_id is None:
        return None
    order = _text(first.get("GROUP_ORDER"))
    return CatalogGroup(group_id, _text(first.get("PARENT_ID")), el.get("type", "node"), names,
                        int(order) if order and order.lstrip("-").isdigit() else None, el.sourceline or 0)


def parse_assignment(el: etree._Element) -> GroupAssignment | None:
    """A PRODUCT_TO_CATALOGGROUP_MAP (1.2: ARTICLE_TO_CATALOGGROUP_MAP, ART_ID); None without PID or group.
    Its mode is `new` unless an update says `delete` (a T_NEW_CATALOG allows only new)."""
    found = _firsts(el)
    pid, group_id = _text(found.get("PROD_ID")), _text(found.get("CATALOG_GROUP_ID"))
    if pid is None or group_id is None:
        return None
    return GroupAssignment(pid, group_id, el.get("mode", "new"), el.sourceline or 0)


#: The PRODUCT_DETAILS texts whose inline elements are kept as HTML (`_markup`); the others keep their text.
_DESCRIPTIONS = frozenset({"DESCRIPTION_SHORT", "DESCRIPTION_LONG"})
#: HTML elements that never have content: written `<br/>`, which HTML and XHTML read alike. Any other empty
#: element gets its end tag (`<p></p>`): HTML reads `<p/>` as a paragraph left open.
_VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


def _whole_text(el: etree._Element, name: str) -> str | None:
    """The whole content of a PRODUCT_DETAILS text that holds elements, where `_text` would stop at the
    first one: HTML for a description (`_markup`), the text alone for the others (a KEYWORD, a name)."""
    if name in _DESCRIPTIONS:
        return _markup(el)
    return "".join(el.itertext()).strip() or None


def _markup(el: etree._Element) -> str | None:
    """A description with inline elements (`Robust <b>steel</b> housing<br/>IP65`) as HTML text, because our
    description is a textarea that already holds HTML: the XSD gives DESCRIPTION_LONG simple content, so valid
    files escape their markup or wrap it in CDATA and we store it as sent. Inline elements break the XSD but
    are sent anyway; their text is kept as parsed (not escaped again), so all three forms store the same
    string, unescaped alike by the mapper. Names lose their namespace (the BMEcat one the elements inherit,
    an XHTML prefix), no declaration is written; processing instructions are dropped, their tail kept."""
    parts = [el.text or ""]
    for child in el:
        _write_markup(child, parts)
    return "".join(parts).strip() or None


def _write_markup(el: etree._Element, parts: list[str]) -> None:
    if isinstance(el.tag, str):
        name = etree.QName(el).localname
        attrs = "".join(f" {etree.QName(k).localname}={_quoted(v)}" for k, v in el.items())
        if el.text is None and not len(el) and name.lower() in _VOID:
            parts.append(f"<{name}{attrs}/>")
        else:
            parts.append(f"<{name}{attrs}>{el.text or ''}")
            for child in el:
                _write_markup(child, parts)
            parts.append(f"</{name}>")
    parts.append(el.tail or "")


def _quoted(value: str) -> str:
    """An attribute value in the quotes it does not contain (it is kept as parsed, like the text)."""
    return f"'{value}'" if '"' in value else f'"{value}"'


def _details(p: BmecatProduct, details: etree._Element, default_lang: str) -> None:
    for c in details:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        text = _text(c) if not len(c) else _whole_text(c, name)  # elements inside: rare, and slower to read
        if text is None:
            continue
        if name == "DESCRIPTION_SHORT":
            p.short.setdefault(_lang(c, default_lang), text)
        elif name == "DESCRIPTION_LONG":
            p.long.setdefault(_lang(c, default_lang), text)
        elif name == "KEYWORD":
            p.keywords.setdefault(_lang(c, default_lang), []).append(text)
        elif name == "EAN" or (name == "INTERNATIONAL_PID" and c.get("type", "gtin").lower() in GTIN_TYPES):
            p.gtins.append(GtinId(text, name, c.sourceline or p.line))
        elif name == "MANUFACTURER_PID":
            p.manufacturer_pid = text
        elif name == "MANUFACTURER_NAME":
            p.manufacturer_name = text
        elif name == "MANUFACTURER_TYPE_DESCR":
            p.manufacturer_type = text


def _features(p: BmecatProduct, block: etree._Element, default_lang: str) -> None:
    for c in block:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name == "FEATURE":
            f = _feature(c, default_lang)
            if f:
                p.features.append(f)
        elif name == "REFERENCE_FEATURE_SYSTEM_NAME":
            p.feature_system = _text(c)
        elif name == "REFERENCE_FEATURE_GROUP_ID" and p.feature_class is None:
            p.feature_class = _text(c)
        elif name == "FEATURE_GROUP":  # ontology dialect: features nested in groups
            for f_el in _children(c, "FEATURE"):
                f = _feature(f_el, default_lang)
                if f:
                    p.features.append(f)


def _feature(el: etree._Element, default_lang: str) -> Feature | None:
    first: dict[str, etree._Element] = {}
    values: list[str] = []
    localized = False
    for c in el:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name == "FVALUE":
            text = _text(c)
            if text is not None:
                values.append(text)
                if not localized and c.get("lang") is not None:
                    localized = True
        elif name not in first:
            first[name] = c
    template = first.get("FTEMPLATE")
    if template is not None:
        t = _firsts(template)
        code, name = _text(t.get("FT_ID")), _text(t.get("FT_NAME"))
    else:
        code = name = None
    fname = _text(first.get("FNAME"))
    code = code or fname
    if not code:
        return None
    # positional: a real ECLASS Advanced catalog has hundreds of features a product
    return Feature(code, name or fname, values, _text(first.get("FUNIT")), _text(first.get("VALUE_IDREF")),
                   _text(first.get("FVALUE_DETAILS")), _languages(el, default_lang) if localized else None,
                   el.sourceline or 0, _text(first.get("FID")), _text(first.get("FPARENT_ID")))


def _languages(el: etree._Element, default_lang: str) -> dict[str, str]:
    """A localized feature's FVALUEs by language, the first of each (as DESCRIPTION_SHORT's)."""
    langs: dict[str, str] = {}
    for c in el:
        if (_LOCAL.get(c.tag) or _local(c.tag)) == "FVALUE" and (text := _text(c)) is not None:
            langs.setdefault(_lang(c, default_lang), text)
    return langs


def _nest(features: list[Feature]) -> None:
    """Each feature's depth in the FID/FPARENT_ID tree. ECLASS Advanced files (the real Weidmüller ones) send
    the product's features as one flat list that is a tree: blocks (a connection, a rating, a component
    receptacle) hold features, and an accessory's block repeats the features of that accessory (its GTIN,
    MPN, product type) deeper down. A parent that names no feature (those files write -1) is the top."""
    depths: dict[str, int] = {}  # FID → depth, of the features read so far (a parent comes first in those files)
    parents: dict[str, str | None] | None = None  # FID → FPARENT_ID, made when a parent is not read yet
    for f in features:
        parent = f.parent
        if parent is not None:
            depth = depths.get(parent)
            if depth is None:
                if parents is None:
                    parents = {g.fid: g.parent for g in features if g.fid is not None}
                depth = _depth(parent, parents, depths) if parent in parents else -1
            f.depth = depth + 1
        if f.fid is not None:
            depths.setdefault(f.fid, f.depth)


def _depth(fid: str, parents: dict[str, str | None], depths: dict[str, int]) -> int:
    """The depth of feature `fid`, walking up to an ancestor whose depth is known or to the top; remembered for
    every feature on the way. A cycle (a broken file) ends the walk after as many steps as there are features."""
    path: list[str] = []
    node: str | None = fid
    while node in parents and node not in depths and len(path) <= len(parents):
        path.append(node)  # type: ignore[arg-type]
        node = parents[node]  # type: ignore[index]
    depth = depths.get(node, -1) if node is not None else -1
    for step in reversed(path):
        depth += 1
        depths[step] = depth
    return depths[fid]


def _prices(p: BmecatProduct, block: etree._Element) -> None:
    dates: dict[str | None, str | None] = {}
    prices: list[etree._Element] = []
    for c in block:
        name = _LOCAL.get(c.tag) or _local(c.tag)
        if name == "PRODUCT_PRICE":
            prices.append(c)
        elif name == "DATETIME":  # applies to every price of the block, wherever it stands; the last one wins
            dates[c.get("type")] = _text(_child(c, "DATE"))
    valid_from, valid_to = dates.get("valid_start_date"), dates.get("valid_end_date")
    for price in prices:
        amount = currency = bound = per = _UNSEEN  # the first of each counts, as with _child
        for c in price:
            name = _LOCAL.get(c.tag) or _local(c.tag)
            if name == "PRICE_AMOUNT":
                if amount is _UNSEEN:
                    amount = _text(c)
            elif name == "PRICE_CURRENCY":
                if currency is _UNSEEN:
                    currency = _text(c)
            elif name == "LOWER_BOUND" and bound is _UNSEEN:
                bound = _text(c)
            elif name == "PRICE_QUANTITY" and per is _UNSEEN:
                per = _text(c)
        p.prices.append(Price(price.get("price_type", "net_list"), None if amount is _UNSEEN else amount,
                              None if currency is _UNSEEN else currency, None if bound is _UNSEEN else bound,
                              valid_from, valid_to, price.sourceline or 0, None if per is _UNSEEN else per))


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
