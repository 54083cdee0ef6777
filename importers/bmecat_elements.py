"""BMEcat element names and child lookups, whatever the namespace URI (2005, 2005.1, 2005+onto, none) and
whatever the version: BMEcat 1.2's ARTICLE elements carry the same content under older names, read here as
their 2005 names (BMECAT_12), so one parser serves both."""

from __future__ import annotations

from lxml import etree

#: tag → local name, memoised by `local_name` (read directly in hot loops: `LOCAL_NAMES.get(tag) or local_name(tag)`).
LOCAL_NAMES: dict[str, str] = {}
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


def local_name(tag: object) -> str:
    """Local name whatever the namespace ('{uri}NAME' → 'NAME'), BMEcat 1.2 names read as 2005's; comments and PIs have no str tag.
    Memoised: a catalog has a few dozen distinct tags and this runs for every element."""
    try:
        return LOCAL_NAMES[tag]  # type: ignore[index]
    except (KeyError, TypeError):
        if not isinstance(tag, str):
            return ""
        local = tag[tag.rfind("}") + 1:]
        local = BMECAT_12.get(local, local)
        if len(LOCAL_NAMES) < 10000:
            LOCAL_NAMES[tag] = local
        return local


def text_of(el: etree._Element | None) -> str | None:
    """The element's stripped text; None for no element, no text or only whitespace."""
    if el is None or el.text is None:
        return None
    text = el.text.strip()
    return text or None


def children_named(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if local_name(c.tag) == name]


def child_named(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if local_name(c.tag) == name:
            return c
    return None


def first_children(el: etree._Element) -> dict[str, etree._Element]:
    """The first child of each local name, in one pass (what `child_named` finds, without a scan per name)."""
    found: dict[str, etree._Element] = {}
    for c in el:
        name = LOCAL_NAMES.get(c.tag) or local_name(c.tag)
        if name not in found:
            found[name] = c
    return found


def lang_of(el: etree._Element, default: str) -> str:
    """The element's `lang` (ISO 639-2), lower case; `default` without one."""
    return (el.get("lang") or default).lower()
