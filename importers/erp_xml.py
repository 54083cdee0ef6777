"""ERP XML through a declarative XPath map (schemas/erp_xml_map.schema.json). Shipped with a map for SAP
IDoc MATMAS-style material master files (importers/maps/sap_matmas.yaml).

Streaming: lxml iterparse on the record element only, each record cleared after use, through
importers.xml_safety (no DTDs, no entities, no network). A path that matches nothing leaves the value
alone (a warning names it when the records hold a near-named element, or the same one in another namespace;
unprefixed paths into a default namespace are refused); an element that is present but empty clears it. Two
rules filling one value refuse the map, records nested in records of their name refuse the file. Stock
segments (E1MARDM-style) go to pim.commerce, timestamped by their own time (`stock.updated_at`), else by the
control record's (EDI_DC40 CREDAT/CRETIM, or `control_time`) when the map names one, else by the import's. A
GTIN that is none is left out and the rest of the record taken in, with a `problem` entry naming it
(erp_values.bad_gtins)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from lxml import etree
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Connection

from importers.erp_values import (NumberFormat, ValueBuilder, ValueRule, Zone, bad_gtins, gtin_fields, moment_parser,
                                  nearest, partial_product, problem_notes, refusal, remembered, report_unread,
                                  value_refusal)
from importers.xml_safety import open_for_xml, safe_iterparse
from pim.catalog import Structure
from pim.commerce import NUMERIC_LIMIT, NUMERIC_PLACES, StockLevel, put_stock_in
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, run_import
from pim.product import split_key, trusted_model, trusted_provenance
from pim.sources import SourceProfile, merger_for
from pim.store import Store
from pim.values import ValueProblem

MAPS = Path(__file__).parent / "maps"


def _xpath(text: str) -> str:
    """An XPath lxml compiles and can evaluate (its namespace prefixes are checked with the map's namespaces)."""
    if not text.strip():
        raise ValueError("an empty path selects nothing; give the XPath or leave the field out")
    try:
        etree.XPath(text)
    except (etree.XPathError, ValueError) as exc:
        raise ValueError(f"'{text}' is not an XPath: {exc}") from None
    return text


XPath = Annotated[str, AfterValidator(_xpath)]
#: An element's local name (the record and control elements are found by it, in any namespace).
LocalName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
#: The record element: its local name, or its parent's and its own (Items/ITEM) where elements of its name nest.
RecordName = Annotated[str, Field(pattern=r"^(?:[A-Za-z_][A-Za-z0-9_.-]*/)?[A-Za-z_][A-Za-z0-9_.-]*$")]


class XPathRule(ValueRule):
    path: XPath = Field(description="XPath relative to the record element; the first match's text is the value.")
    amount_path: XPath | None = Field(default=None, description="Price collections: `path` selects one element per "
                                      "price, this path (relative to it) its amount…")
    currency_path: XPath | None = Field(default=None, description="…and this one its currency.")
    unit_from: XPath | None = Field(default=None, description="XPath of the unit's code, relative to the record.")


class StockRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: XPath = Field(description="Elements holding one warehouse's stock, relative to the record.")
    warehouse: XPath
    quantity: XPath
    atp: XPath | None = None
    updated_at: XPath | None = Field(default=None, description=(
        "XPath of the reading's time, relative to the stock element (e.g. @asOf, or ../@changed for its record's), "
        "read with `datetime_format` and `timezone`; one that does not read rejects the record. Without it, or "
        "where it matches nothing, the reading takes the control record's time, else the import's. The file is "
        "read as it streams: beyond the record a path sees only what precedes it inside its enclosing elements "
        "since the record before (an IDoc's own header), never what follows it nor a document header, which is "
        "freed with the first record: for a header's time use `control` with `control_time`."))


class ErpXmlMap(SourceProfile, NumberFormat):
    """Where one product is (`record`) and where each of its values sits inside it."""

    source: str = "erp"
    record: RecordName = Field(description=(
        "Local name of the element that holds one product, e.g. E1MARAM. Where elements of that name hold "
        "elements of that name (a kit's parts), its parent's local name first says which are the products: "
        "Items/ITEM (a file with nested records is refused otherwise)."))
    sku: XPath = Field(description="XPath of the SKU inside the record, e.g. MATNR.")
    strip_leading_zeros: bool = Field(default=False, description="SAP pads numeric material numbers to 18 digits.")
    control: LocalName | None = Field(default=None, description=(
        "Local name of a header element whose time stamps the stock of the records after it, e.g. EDI_DC40 "
        "(its CREDAT and CRETIM) or a document's Header (with `control_time`)."))
    control_time: XPath | None = Field(default=None, description=(
        "XPath of the control element's time, relative to it (e.g. Created), read with `datetime_format` and "
        "`timezone`; one that does not read refuses the file. Without it: CREDAT+CRETIM (yyyymmdd, hhmmss)."))
    timezone: Zone = Field(default="UTC", description=(
        "The time zone of stock and control times written without an offset (CREDAT/CRETIM too), e.g. "
        "Europe/Berlin; an offset at the end of a time (+01:00, Z) is read whatever `datetime_format` says."))
    family: str | None = None
    namespaces: dict[LocalName, str] = {}
    values: list[XPathRule] = []
    stock: StockRule | None = None

    @field_validator("values")
    @classmethod
    def _one_rule_per_value(cls, rules: list[XPathRule]) -> list[XPathRule]:
        """Two rules filling one value (key, or price currency): in a record holding both, the later one silently
        replaced the first, an empty element clearing it. A price rule reading its currencies from the file
        (`currency_path`) may fill any currency of its key."""
        filled: dict[tuple[str, str | None, str | None], list[tuple[int, str | None]]] = {}
        for n, rule in enumerate(rules):
            currency = None if rule.amount_path and rule.currency_path else rule.currency or "EUR"
            key = split_key(rule.to)
            for first, other in filled.get(key, ()):
                if currency is None or other is None or currency == other:
                    raise ValueError(_two_rules(rules[first], first, rule, n, currency and other))
            filled.setdefault(key, []).append((n, currency))
        return rules

    @model_validator(mode="after")
    def _prefixes_declared(self) -> "ErpXmlMap":
        """Each path evaluates with the map's namespaces (an undeclared prefix fails only on evaluation)."""
        probe = etree.Element("probe")
        paths = [("sku", self.sku), ("control_time", self.control_time)] + [
            (f"values.{n}.{f}", getattr(r, f)) for n, r in enumerate(self.values)
            for f in ("path", "amount_path", "currency_path", "unit_from")]
        if self.stock:
            paths += [(f"stock.{f}", getattr(self.stock, f)) for f in ("path", "warehouse", "quantity", "atp",
                                                                      "updated_at")]
        for where, path in paths:
            if path:
                try:
                    etree.XPath(path, namespaces=self.namespaces or None)(probe)
                except (etree.XPathError, ValueError, TypeError) as exc:
                    raise ValueError(f"{where} '{path}' does not evaluate: {exc} (namespaces: "
                                     f"{self.namespaces or 'none'})") from None
        return self


def _two_rules(first: XPathRule, at: int, second: XPathRule, then: int, currency: str | None) -> str:
    """Why a map with two rules for one value is refused, and the one rule to write instead."""
    priced = any(r.currency or r.amount_path for r in (first, second))
    or_currency = "; or give each price rule its own `currency`" if priced else ""
    return (f"values[{at}] (path {first.path}) and values[{then}] (path {second.path}) both fill '{second.to}'"
            f"{f' in {currency}' if currency and priced else ''}: in a record holding both, the later one would "
            "silently replace the first (an empty element clearing it). Make them one rule whose path is an XPath "
            f"union, `path: \"{first.path} | {second.path}\"`: the first match in the record is read (narrow a path "
            f"with a predicate where the other must win){or_currency}")


def load_xml_map(path: Path | None) -> ErpXmlMap:
    from pim.sources import load_profile

    return load_profile(ErpXmlMap, path or MAPS / "sap_matmas.yaml")


# A path of plain child names (MATNR, E1MVKEM/AUMNG) is looked up in each element's children by tag, read once
# per element, instead of an XPath evaluation per path: the same node-set, as unprefixed names match elements in
# no namespace, in document order.
_CHILD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*").fullmatch

Children = dict[Any, list[Any]]
Finder = Callable[[Any, Children], list[Any]]
TextFinder = Callable[[Any, Children], str | None]


def _children(elem: Any) -> Children:
    """tag → child elements with that tag, in document order (callers only read the lists)."""
    kids: Children = {}
    for child in elem:
        same = kids.get(child.tag)
        if same is None:
            kids[child.tag] = [child]
        else:
            same.append(child)
    return kids


def _finder(path: str, ns: dict[str, str] | None) -> Finder:
    """Every match of `path` below an element (given with its children), in document order."""
    if not _CHILD_PATH(path):
        xpath = etree.XPath(path, namespaces=ns)
        return lambda elem, kids: xpath(elem)  # type: ignore[no-any-return]
    head, *rest = path.split("/")
    if not rest:
        return lambda elem, kids: kids.get(head, [])
    inner = _finder("/".join(rest), ns)
    return lambda elem, kids: [found for child in kids.get(head, ()) for found in inner(child, _children(child))]


_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_PREDICATE = r"(?:\[[^\[\]|]*\])?"
#: A path's first step when it names an element: its prefix (or None) and local name, not a function call or an
#: axis. Group 3 is set when the whole path is such steps with simple predicates (E1MAKTM[SPRAS_ISO='EN']/MAKTX,
#: i:Prices/i:Price): that path selects nothing below an element without a child of the first step's name.
_FIRST_STEP = re.compile(rf"(?:({_NAME}):)?({_NAME})(?![:(A-Za-z0-9_.-])"
                         rf"({_PREDICATE}(?:/(?:{_NAME}:)?{_NAME}{_PREDICATE})*\Z)?")


def _first_tag(path: str, ns: dict[str, str] | None) -> str | None:
    """The tag (Clark notation) of the child that `path` selects nothing without (`_FIRST_STEP`), else None."""
    step = _FIRST_STEP.match(path)
    if step is None or step.group(3) is None:
        return None
    prefix, local = step.group(1, 2)
    if not prefix:
        return local
    uri = (ns or {}).get(prefix)
    return None if uri is None else f"{{{uri}}}{local}"


def _text_finder(path: str, ns: dict[str, str] | None) -> TextFinder:
    """The first match's text: None when nothing matched (absent), "" when the element is empty."""
    if not _CHILD_PATH(path):
        xpath = etree.XPath(path, namespaces=ns)
        first = _first_tag(path, ns)
        if first is not None:  # XPath is evaluated only where the element has that child
            return lambda elem, kids: _text(xpath(elem)) if first in kids else None
        return lambda elem, kids: _text(xpath(elem))
    if "/" in path:
        find = _finder(path, ns)
        return lambda elem, kids: _text(find(elem, kids))

    def child_text(elem: Any, kids: Children) -> str | None:
        found = kids.get(path)
        return None if found is None else _value_text(found[0])
    return child_text


class _Compiled:
    """The map's paths and rules, compiled once per file."""

    def __init__(self, m: ErpXmlMap, builder: ValueBuilder) -> None:
        ns = m.namespaces or None
        x = lambda p: _text_finder(p, ns) if p else None  # noqa: E731
        self.sku = _text_finder(m.sku, ns)
        self.values = [(r, builder.setter(r), _finder(r.path, ns) if r.amount_path else x(r.path), x(r.amount_path),
                        x(r.currency_path), x(r.unit_from)) for r in m.values]
        self.stock = (_finder(m.stock.path, ns), x(m.stock.warehouse), x(m.stock.quantity), x(m.stock.atp),
                      x(m.stock.updated_at)) if m.stock else None
        self.zone = UTC if m.timezone == "UTC" else ZoneInfo(m.timezone)  # UTC: CREDAT read without a conversion
        self.moment = remembered(moment_parser(m.datetime_format, self.zone))  # stock and control times
        self.control_time = x(m.control_time)
        self.gtins = gtin_fields((r.path, r) for r in m.values)
        self.builder = builder
        self._prices: dict[tuple[int, str], Any] = {}
        self.hit = [False] * len(m.values)  # which rules matched in some record (the rest: `_unread_paths`)
        self.stock_hit = False
        self.timed = [0, 0]  # records whose stock read its own time (`updated_at`); records after those that read none
        self.names: set[Any] = set()  # the tags of the records' children, to name what a missed path meant

    def price_setter(self, rule: XPathRule, currency: str) -> Any:
        """A price element's setter for its currency (`_currency_of`)."""
        key = (id(rule), currency)
        put = self._prices.get(key)
        if put is None:
            if len(self._prices) >= 256:  # currency codes come from the file: keep the cache bounded
                self._prices.clear()
            put = self._prices[key] = self.builder.price_setter(rule, currency)
        return put


def _currency_of(rule: XPathRule, currency: str | None) -> str:
    """A price element's currency: its own (trimmed, as a CSV cell is), else the rule's, else EUR."""
    return (currency.strip() if currency else None) or rule.currency or "EUR"


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


def read_erp_xml(path: Path, m: ErpXmlMap, structure: Structure,
                 unread: list[tuple[str, str]] | None = None) -> Iterator[Parsed | Rejected]:
    """Partial product records, each with its stock levels as `extras` (written only when it is taken in).
    Once the file is read, `unread` gets the map's value and stock paths that matched in no record."""
    name = path.name
    compiled = _Compiled(m, ValueBuilder(structure, m))
    ident_attr = structure.identifier_attribute
    stamp = started = datetime.now(UTC)
    parent, _, local = m.record.rpartition("/")
    tags = [local] + ([m.control] if m.control else [])
    seen: dict[str, datetime | bool] = {}
    zone = compiled.zone
    records = 0
    with open_for_xml(path) as handle:
        for _, elem in safe_iterparse(handle, str(path), events=("end",), tag=_any_ns(tags)):
            tag = elem.tag
            if tag[tag.rfind("}") + 1:] == m.control:
                # a control record without a readable moment: the file's reading time, never the IDoc before's
                # (an older stamp could make this IDoc's stock lose to a reading it replaces)
                stamp = (_control_stamp(elem, seen, zone) if compiled.control_time is None else
                         _control_moment(elem, m, compiled, name)) or started
                continue
            if parent and _local(elem.getparent()) != parent:
                continue  # an element of the record's name elsewhere: part of a record (freed with it), or of none
            ancestors = list(elem.iterancestors())  # walked once, for the check and `_release`
            if (outer := _outer_record(ancestors, local, parent)) is not None:
                raise _nested(elem, outer, m, name)
            if not records:
                _refuse_unprefixed(elem, m, name)
            records += 1
            yield _record(elem, m, compiled, ident_attr, name, stamp)
            _release(elem, ancestors)
    if not records:
        raise _no_records(path, m)
    if unread is not None:
        unread.extend(_unread_paths(m, compiled))


def _relative_paths(m: ErpXmlMap) -> list[tuple[str, str]]:
    """(map field, path) of the paths evaluated on the record element itself."""
    paths = [("sku", m.sku)] + [(f"values.{n}.{f}", getattr(r, f)) for n, r in enumerate(m.values)
                                for f in ("path", "unit_from") if getattr(r, f)]
    return paths + ([("stock.path", m.stock.path)] if m.stock else [])


def _refuse_unprefixed(elem: Any, m: ErpXmlMap, name: str) -> None:
    """A file with a default namespace (xmlns="…") and a map writing its paths without a prefix: XPath names
    without a prefix match only elements in no namespace, so every such path read nothing and the import
    reported success. Refused at the first record whose child the path names in a namespace."""
    spaced = {}  # local name → namespace of the record's namespaced children
    for child in elem:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith("{"):
            spaced.setdefault(tag[tag.rfind("}") + 1:], tag[1:tag.rfind("}")])
    if not spaced:
        return
    plain = {child.tag for child in elem if isinstance(child.tag, str)}
    for where, path in _relative_paths(m):
        first = _first_tag(path, None)  # None for a prefixed path
        if first is not None and first not in plain and first in spaced:
            uri = spaced[first]
            prefix = next((p for p, u in m.namespaces.items() if u == uri), None)
            hint = (f"write it with the prefix the map declares for that namespace: {prefix}:{first}" if prefix else
                    f"declare the namespace in the map (namespaces: {{x: '{uri}'}}) and write each name in the path "
                    f"with its prefix: x:{first}")
            raise InputError(f"{where} '{path}' names <{first}> in no namespace, but the file's <{first}> is in the "
                             f"namespace '{uri}': a name without a prefix in an XPath matches only elements in no "
                             "namespace, so this path would read nothing", file=name, line=elem.sourceline,
                             field=where, hint=hint)


def _unread_paths(m: ErpXmlMap, c: _Compiled) -> list[tuple[str, str]]:
    """(map field, note) of the value and stock paths that matched in no record of the file while the records
    hold what the path likely meant: its element in another namespace, or an element no path reads whose name
    is spelled nearly alike (a typo). An element the file simply lacks is no mistake: MATMAS segments are
    optional, and a map reads the superset."""
    seen = [(tag[1:tag.rfind("}")] if tag.startswith("{") else "", tag[tag.rfind("}") + 1:]) for tag in c.names
            if isinstance(tag, str)]
    firsts = {step.group(2) for _, path in _relative_paths(m) if (step := _FIRST_STEP.match(path))}
    spare = sorted({local for _, local in seen} - firsts)
    missed = [(f"values.{n}.path", f"values[{n}] path '{r.path}' (to {r.to})", r.path)
              for n, (r, hit) in enumerate(zip(m.values, c.hit)) if not hit]
    if m.stock and not c.stock_hit:
        missed.append(("stock.path", f"stock path '{m.stock.path}'", m.stock.path))
    out = []
    for field, what, path in missed:
        step = _FIRST_STEP.match(path)
        if step is None:
            continue
        prefix, local = step.group(1, 2)
        meant = m.namespaces.get(prefix, "") if prefix else ""
        elsewhere = sorted(ns for ns, name in seen if name == local and ns != meant)
        if elsewhere:
            where = f"the namespace '{elsewhere[0]}'" if elsewhere[0] else "no namespace"
            out.append((field, f"{what} matched in no record, but the records' <{local}> is in {where}"))
        elif near := nearest(local, spare):
            out.append((field, f"{what} matched in no record (the records have <{near}>, which no path reads)"))
    timed, after = c.timed
    if m.stock and m.stock.updated_at and ((timed == 0 and c.stock_hit) or (timed == 1 and after)):
        out.append(("stock.updated_at", _untimed(m.stock.updated_at, after)))
    return out


def _untimed(path: str, after: int) -> str:
    """Stock times read in no record, or in a file's first record only (most likely a path up to a document
    header, which the streaming read frees with the first record): the readings took the import's time."""
    if not after:
        return (f"stock updated_at '{path}' matched in no record, so the readings took the control record's time or "
                "the import's (the path is relative to the stock element)")
    return (f"stock updated_at '{path}' read a time in the first record only, and none in the {after} after it, "
            "whose readings took the control record's time or the import's: a path out of the record sees a "
            "document header only until the first record is freed (the file is read as it streams); for a "
            "header's time use `control` with `control_time`")


def _no_records(path: Path, m: ErpXmlMap) -> InputError:
    """A map whose `record` names no element of the file would import nothing and report success: say so,
    naming the elements the file does start with (read again, the first few only: this is the error path)."""
    names: list[str] = []
    with open_for_xml(path) as handle:
        for _, elem in safe_iterparse(handle, str(path), events=("start",)):
            if (name := etree.QName(elem).localname) not in names:
                names.append(name)
            if len(names) >= 8:
                break
    parent, _, local = m.record.rpartition("/")
    return InputError(f"no <{local}> element {f'inside a <{parent}> ' if parent else ''}in the file, so no product "
                      f"was read (it starts with {', '.join(f'<{n}>' for n in names)})", file=path.name, field="record",
                      hint="set the map's `record` to the local name of the element that holds one product "
                           "(E1MARAM in a MATMAS IDoc)")


def _release(elem: Any, ancestors: list[Any]) -> None:
    """Free the record and every finished sibling on the way up (IDOC shells would pile up otherwise)."""
    elem.clear(keep_tail=False)
    for node in (elem, *ancestors):
        parent = node.getparent()
        while parent is not None and node.getprevious() is not None:
            del parent[0]


def _any_ns(tags: list[str]) -> list[str]:
    return [t for tag in tags for t in (tag, "{*}" + tag)]


def _local(elem: Any) -> str | None:
    """An element's local name; None for no element (the root's parent)."""
    return None if elem is None else etree.QName(elem).localname


def _outer_record(ancestors: list[Any], local: str, parent: str) -> Any | None:
    """The record an element is inside of, if any: one of its `ancestors` with the record's local name, and the
    record's parent when `record` names one."""
    for node in ancestors:
        tag = node.tag
        if tag.endswith(local) and tag[tag.rfind("}") + 1:] == local and (
                not parent or _local(node.getparent()) == parent):
            return node
    return None


def _nested(inner: Any, outer: Any, m: ErpXmlMap, name: str) -> InputError:
    """A record inside a record: read first and freed, the inner one would take the outer one's elements before
    it along, so the outer product would be rejected for want of a SKU or imported without them. Which of them
    are the products the file cannot say: the map names their parent element."""
    local = etree.QName(inner).localname
    steps = [local]  # the inner record's path from the outer one
    for node in inner.iterancestors():
        if node is outer:
            break
        steps.insert(0, etree.QName(node).localname)
    around_outer, around_inner = _local(outer.getparent()), steps[-2] if len(steps) > 1 else local
    ways = []
    if around_outer and around_outer != around_inner:
        ways.append(f"`record: {around_outer}/{local}` reads the outer ones as products (the inner ones are then "
                    f"part of them, for paths such as {'/'.join(steps)}/…)")
    if around_inner != around_outer:
        ways.append(f"`record: {around_inner}/{local}` reads the inner ones")
    hint = ("say which are the products by their parent element: " + "; ".join(ways) if ways else
            f"both sit in <{around_inner}> elements, so `record` cannot tell them apart: export them under different "
            "names")
    return InputError(f"<{local}> at line {inner.sourceline} is inside the <{local}> of line {outer.sourceline}: "
                      f"`record: {m.record}` takes both for products, and the inner one is read first: freeing it "
                      "frees the outer one's elements before it, so the outer product would be read without them "
                      "(or rejected for want of its SKU)",
                      file=name, line=inner.sourceline, field="record", hint=hint)


def _control_moment(elem: Any, m: ErpXmlMap, c: _Compiled, name: str) -> datetime | None:
    """The control element's time at the map's `control_time`; None when it has none."""
    try:
        text = c.control_time(elem, _children(elem))  # type: ignore[misc]
        return c.moment(text) if text and text.strip() else None
    except ValueProblem as exc:  # the map's format, not this header's data, is likely wrong: every record has it
        raise InputError(f"control_time {m.control_time}: {exc}", file=name, line=elem.sourceline,
                         field="control_time", hint="set the map's `datetime_format` to how the file writes the "
                         "time (an offset at its end, +01:00 or Z, is read whatever the format)") from None


def _control_stamp(elem: Any, seen: dict[str, datetime | bool], zone: tzinfo = UTC) -> datetime | None:
    """The IDoc's creation moment; `seen` keeps the ones already read in this file (they repeat)."""
    day = time = None  # the first CREDAT / CRETIM child in any namespace, as *[local-name()='…'] finds them
    for child in elem:
        tag = child.tag
        if isinstance(tag, str):
            local = tag[tag.rfind("}") + 1:]
            if local == "CREDAT" and day is None:
                day = child.text or ""
            elif local == "CRETIM" and time is None:
                time = child.text or ""
    if not day:
        return None
    text = f"{day}{time or '000000'}"
    stamp = seen.get(text)
    if stamp is None:
        stamp = _parse_stamp(text, zone)
        if len(seen) >= 4096:
            seen.clear()
        seen[text] = stamp
    return stamp or None


def _parse_stamp(text: str, zone: tzinfo = UTC) -> datetime | bool:
    """CREDAT+CRETIM, local time in `zone`, as an aware UTC datetime; False when it is not one."""
    if len(text) == 14 and text.isdigit() and text.isascii():
        # fourteen digits of a valid moment read the same as strptime("%Y%m%d%H%M%S") reads them
        try:
            stamp = datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                             int(text[12:]), tzinfo=zone)
            return stamp if zone is UTC else stamp.astimezone(UTC)
        except ValueError:
            pass
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        return False


def _record(elem: Any, m: ErpXmlMap, c: _Compiled, ident_attr: str, name: str, stamp: datetime) -> Parsed | Rejected:
    line = elem.sourceline
    kids = _children(elem)
    if len(c.names) < 4096:  # bounded: the names come from the file
        c.names.update(kids)
    try:
        sku = (c.sku(elem, kids) or "").strip()
    except ValueProblem as exc:  # the path names a container element
        return Rejected(f"no SKU at {m.sku}: {exc}", name, line, m.sku, _raw(elem))
    if m.strip_leading_zeros and sku.isdigit():
        sku = sku.lstrip("0") or "0"
    if not sku:
        return Rejected(f"no SKU at {m.sku}", name, line, m.sku, _raw(elem))
    values: dict[str, Any] = {ident_attr: sku}
    fields: dict[str, Any] = {"family": m.family} if m.family else {}
    for n, (rule, put, find, amount, currency, unit) in enumerate(c.values):
        try:
            if amount is not None:
                given: dict[str, str | None] = {}
                for el in find(elem, kids):
                    own = _children(el)
                    code = _currency_of(rule, currency(el, own) if currency is not None else None)
                    text = amount(el, own)
                    if code in given:
                        raise ValueProblem(_two_prices(rule, code, given[code], text))
                    given[code] = text
                    c.price_setter(rule, code)(text, values, fields, None)
                if given:
                    c.hit[n] = True
                continue
            text = find(elem, kids)
            if text is not None:
                c.hit[n] = True
                put(text, values, fields, unit(elem, kids) if unit is not None else None)
        except ValueProblem as exc:
            return Rejected(str(exc), name, line, rule.path, _raw(elem), sku)
    bad = bad_gtins(values, c.gtins) if c.gtins else None  # left out, the record taken in with a problem entry
    prov = trusted_provenance(m.source, f"{name}:{line}", stamp)
    try:
        record = partial_product(sku, values, prov, fields)
    except ValidationError as exc:  # an identifier over 255 characters, a family that is no code
        field, reason = refusal(exc, m.sku)
        return Rejected(reason, name, line, field, _raw(elem), sku)
    levels: list[StockLevel] = []
    if c.stock:
        try:
            levels = _stock(elem, kids, sku, c, m, stamp)
        except _StockTime as exc:
            return Rejected(str(exc), name, line, exc.path, _raw(elem), sku)
        except ValueProblem as exc:
            return Rejected(str(exc), name, line, m.stock.path if m.stock else None, _raw(elem), sku)
    notes = problem_notes(bad, name, line, _raw(elem), sku, m.source) if bad else []
    return Parsed(record, name, line, problems=notes, extras=levels)


def _two_prices(rule: XPathRule, currency: str, first: str | None, second: str | None) -> str:
    """Why a record giving two prices in one currency is rejected: one would silently replace the other."""
    shown = " and ".join(repr((t or "").strip()) for t in (first, second))
    return (f"two {currency} prices at {rule.path} ({shown}) for the one {currency} value of '{rule.to}': one "
            "would silently replace the other. Narrow the map's path with a predicate that selects one price per "
            f"currency, as the file marks it (e.g. {rule.path}[@minQty='1']); tier prices belong in a price list")


class _StockTime(ValueProblem):
    """A stock reading's time that does not read (the quarantine names the map's `stock.updated_at`)."""

    def __init__(self, path: str, problem: ValueProblem) -> None:
        super().__init__(f"stock time: {problem}: set the map's `datetime_format` to how the file writes it (an "
                         "offset at its end, +01:00 or Z, is read whatever the format)")
        self.path = path


def _stock(elem: Any, kids: Children, sku: str, c: _Compiled, m: ErpXmlMap, stamp: datetime) -> list[StockLevel]:
    """The record's stock readings, each at its own time (`updated_at`) where it has one, else at `stamp`."""
    path, warehouse, quantity, atp, when = c.stock  # type: ignore[misc]
    number = c.builder.number
    out = []
    timed = False
    for seg in path(elem, kids):
        c.stock_hit = True
        own = _children(seg)
        qty = quantity(seg, own)
        if not qty:
            continue
        free = atp(seg, own) if atp is not None else None
        at = stamp
        if when is not None:
            try:
                text = when(seg, own)
                if text and not text.isspace():
                    at, timed = c.moment(text), True
            except ValueProblem as exc:
                raise _StockTime(m.stock.updated_at, exc) from None  # type: ignore[union-attr, arg-type]
        out.append(_stock_level(sku, (warehouse(seg, own) or "main").strip(), Decimal(number(qty)),
                                Decimal(number(free)) if free else None, at, m.source))
    if when is not None and out:
        if timed:
            c.timed[0] += 1
        elif c.timed[0]:
            c.timed[1] += 1
    return out


_STOCK_FIELDS = frozenset(StockLevel.model_fields)


def _stock_level(sku: str, warehouse: str, quantity: Decimal, atp: Decimal | None, at: datetime, source: str) -> StockLevel:
    """StockLevel(...), without pydantic when the reading is plainly within StockLevel's bounds (the SKU is the
    record's, valid or the record was rejected; the quantities are finite Decimals from the number parser);
    otherwise through it, so its bounds and messages stay the model's."""
    data = {"sku": sku, "warehouse": warehouse, "quantity": quantity, "atp": atp, "updated_at": at, "source": source}
    if 0 < len(warehouse) <= 100 and all(a is None or (-NUMERIC_LIMIT < a < NUMERIC_LIMIT and a.as_tuple().exponent >= -NUMERIC_PLACES)  # type: ignore[operator]
                                         for a in (quantity, atp)):
        return trusted_model(StockLevel, data, set(_STOCK_FIELDS))  # type: ignore[no-any-return]
    try:
        return StockLevel(**data)
    except ValidationError as exc:
        raise ValueProblem(f"stock {value_refusal(exc, clip=40)}") from None


def _raw(elem: Any) -> dict[str, Any]:
    return {"xml": etree.tostring(elem, encoding="unicode")[:4000]}


def import_erp_xml(path: Path, store: Store, m: ErpXmlMap, *, map_dir: Path | None = None,
                   precedence: Path | None = None) -> ImportCounts:
    structure = store.structure()
    written = 0

    def put(conn: Connection, levels: list[StockLevel]) -> None:
        nonlocal written
        written += put_stock_in(store, conn, levels)

    unread: list[tuple[str, str]] = []
    counts = run_import(store, m.source, read_erp_xml(path, m, structure, unread), structure=structure,
                        label=f"erp-xml:{path}", merge=merger_for(m, map_dir, precedence), extras=put,
                        before_finish=lambda counts: report_unread(store, counts, m.source, path.name, unread))
    counts.extra["stock_levels"] = written
    return counts


class ErpXmlImporter:
    name = "erp_xml"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        map_path = Path(options["map"]) if options.get("map") else None
        m = load_xml_map(map_path)
        if not isinstance(m, ErpXmlMap):  # pragma: no cover
            raise InputError("not an ERP XML map", file=str(map_path))
        return import_erp_xml(path, store, m, map_dir=(map_path or MAPS / "x").parent).as_dict()
