"""How the ERP XML import finds a map's paths in a record: each path compiled once per file into a finder, a
path of plain child names looked up in the element's children by tag instead of an XPath evaluation (the
import's hot path), and an element's text read as the map's value. Split from importers.erp_xml; its checks
(importers.erp_xml_checks) use `FIRST_STEP` to name what a path that read nothing meant."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from pim.values import ValueProblem

# A path of plain child names (MATNR, E1MVKEM/AUMNG) is looked up in each element's children by tag, read once
# per element, instead of an XPath evaluation per path: the same node-set, as unprefixed names match elements in
# no namespace, in document order.
_CHILD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*").fullmatch
# A plain child name of the parent (../WERKS: a MATMAS E1MARDM's plant in its E1MARCM), read the same way.
_PARENT_CHILD = re.compile(r"\.\./([A-Za-z_][A-Za-z0-9_]*)").fullmatch

Children = dict[Any, list[Any]]
Finder = Callable[[Any, Children], list[Any]]
TextFinder = Callable[[Any, Children], str | None]


def children(elem: Any) -> Children:
    """tag → child elements with that tag, in document order (callers only read the lists)."""
    kids: Children = {}
    for child in elem:
        same = kids.get(child.tag)
        if same is None:
            kids[child.tag] = [child]
        else:
            same.append(child)
    return kids


def finder(path: str, ns: dict[str, str] | None) -> Finder:
    """Every match of `path` below an element (given with its children), in document order."""
    if not _CHILD_PATH(path):
        xpath = etree.XPath(path, namespaces=ns)
        return lambda elem, kids: xpath(elem)  # type: ignore[no-any-return]
    head, *rest = path.split("/")
    if not rest:
        return lambda elem, kids: kids.get(head, [])
    inner = finder("/".join(rest), ns)
    return lambda elem, kids: [found for child in kids.get(head, ()) for found in inner(child, children(child))]


_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_PREDICATE = r"(?:\[[^\[\]|]*\])?"
#: A path's first step when it names an element: its prefix (or None) and local name, not a function call or an
#: axis. Group 3 is set when the whole path is such steps with simple predicates (E1MAKTM[SPRAS_ISO='EN']/MAKTX,
#: i:Prices/i:Price): that path selects nothing below an element without a child of the first step's name.
FIRST_STEP = re.compile(rf"(?:({_NAME}):)?({_NAME})(?![:(A-Za-z0-9_.-])"
                        rf"({_PREDICATE}(?:/(?:{_NAME}:)?{_NAME}{_PREDICATE})*\Z)?")


def first_tag(path: str, ns: dict[str, str] | None) -> str | None:
    """The tag (Clark notation) of the child that `path` selects nothing without (`FIRST_STEP`), else None."""
    step = FIRST_STEP.match(path)
    if step is None or step.group(3) is None:
        return None
    prefix, local = step.group(1, 2)
    if not prefix:
        return local
    uri = (ns or {}).get(prefix)
    return None if uri is None else f"{{{uri}}}{local}"


def text_finder(path: str, ns: dict[str, str] | None) -> TextFinder:
    """The first match's text: None when nothing matched (absent), "" when the element is empty."""
    if up := _PARENT_CHILD(path):
        name = up.group(1)

        def parent_child_text(elem: Any, kids: Children) -> str | None:
            parent = elem.getparent()
            found = None if parent is None else next((c for c in parent if c.tag == name), None)
            return None if found is None else _value_text(found)
        return parent_child_text
    if not _CHILD_PATH(path):
        xpath = etree.XPath(path, namespaces=ns)
        first = first_tag(path, ns)
        if first is not None:  # XPath is evaluated only where the element has that child
            return lambda elem, kids: _text(xpath(elem)) if first in kids else None
        return lambda elem, kids: _text(xpath(elem))
    if "/" in path:
        find = finder(path, ns)
        return lambda elem, kids: _text(find(elem, kids))

    def child_text(elem: Any, kids: Children) -> str | None:
        found = kids.get(path)
        return None if found is None else _value_text(found[0])
    return child_text


def _text(found: Any) -> str | None:
    """First match as text; None when nothing matched (absent), "" when an element is empty."""
    if isinstance(found, list):
        if not found:
            return None
        found = found[0]
    if isinstance(found, etree._Element):
        return _value_text(found)
    return str(found)


def _value_text(elem: Any) -> str:
    """An element's value: its text, "" when empty; one holding elements as `_element_text` reads it."""
    return (elem.text or "") if not len(elem) else _element_text(elem)


def _element_text(elem: Any) -> str:
    """The text of an element holding elements. Mixed content (`Drill <b>bit</b> set`) is read whole: its
    `.text` alone cut the value at the first child. One holding only elements is a container, not a value
    (`<Weight><Value>1,5</Value>…`): its blank text cleared the value, so it is refused instead."""
    if (elem.text or "").strip() or any((child.tail or "").strip() for child in elem):
        return "".join(elem.itertext())
    names = ", ".join(dict.fromkeys(f"<{etree.QName(c).localname}>" for c in elem if isinstance(c.tag, str)))
    raise ValueProblem(f"<{etree.QName(elem).localname}> holds elements ({names}), not a value: point the map's "
                       "path at the element that holds the value")
