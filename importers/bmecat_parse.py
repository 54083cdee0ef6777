"""One BMEcat element read into its record (importers.bmecat_records): a PRODUCT (parse_product), a
CATALOG_STRUCTURE (parse_group), a PRODUCT_TO_CATALOGGROUP_MAP (parse_assignment). importers.bmecat_reader
streams the file and hands each element here once it ends.

Real supplier files differ from the spec: the "2005+onto" dialect names features by ECLASS IRDI in
FTEMPLATE/FT_ID instead of FNAME, nests them in FEATURE_GROUP, and may send PRODUCT_PRICE with a
LOWER_BOUND but no PRICE_AMOUNT."""

from __future__ import annotations

from typing import Any

from lxml import etree

from importers.bmecat_elements import LOCAL_NAMES as _LOCAL
from importers.bmecat_elements import child_named as _child
from importers.bmecat_elements import children_named as _children
from importers.bmecat_elements import first_children as _firsts
from importers.bmecat_elements import lang_of as _lang
from importers.bmecat_elements import local_name as _local
from importers.bmecat_elements import text_of as _text
from importers.bmecat_records import (
    GTIN_TYPES,
    BmecatProduct,
    CatalogGroup,
    Feature,
    GroupAssignment,
    GtinId,
    Mime,
    Price,
)
from pim.errors import InputError

_UNSEEN: Any = object()


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
