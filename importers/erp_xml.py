"""ERP XML through a declarative XPath map (schemas/erp_xml_map.schema.json). Shipped with a map for SAP
IDoc MATMAS-style material master files (importers/maps/sap_matmas.yaml).

Streaming: lxml iterparse on the record element only, each record cleared after use, through
importers.xml_safety (no DTDs, no entities, no network). A path that matches nothing leaves the value
alone (a warning names it when the records hold a near-named element, or the same one in another namespace;
unprefixed paths into a default namespace are refused); an element that is present but empty clears it. Stock segments (E1MARDM-style) go to pim.commerce,
timestamped from the IDoc control record (EDI_DC40 CREDAT/CRETIM) when the map names one. A GTIN that is none
is left out and the rest of the record taken in, with a `problem` entry naming it (erp_values.bad_gtins)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from lxml import etree
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection

from importers.erp_values import (NumberFormat, ValueBuilder, ValueRule, bad_gtins, gtin_fields, partial_product,
                                  nearest, problem_notes, refusal, report_unread, value_refusal)
from importers.xml_safety import open_for_xml, safe_iterparse
from pim.catalog import Structure
from pim.commerce import NUMERIC_LIMIT, NUMERIC_PLACES, StockLevel, put_stock_in
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, run_import
from pim.product import trusted_model, trusted_provenance
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


class ErpXmlMap(SourceProfile, NumberFormat):
    """Where one product is (`record`) and where each of its values sits inside it."""

    source: str = "erp"
    record: LocalName = Field(description="Local name of the element that holds one product, e.g. E1MARAM.")
    sku: XPath = Field(description="XPath of the SKU inside the record, e.g. MATNR.")
    strip_leading_zeros: bool = Field(default=False, description="SAP pads numeric material numbers to 18 digits.")
    control: LocalName | None = Field(default=None, description="Local name of a header element with CREDAT/CRETIM.")
    family: str | None = None
    namespaces: dict[LocalName, str] = {}
    values: list[XPathRule] = []
    stock: StockRule | None = None

    @model_validator(mode="after")
    def _prefixes_declared(self) -> "ErpXmlMap":
        """Each path evaluates with the map's namespaces (an undeclared prefix fails only on evaluation)."""
        probe = etree.Element("probe")
        paths = [("sku", self.sku)] + [(f"values.{n}.{f}", getattr(r, f)) for n, r in enumerate(self.values)
                                       for f in ("path", "amount_path", "currency_path", "unit_from")]
        if self.stock:
            paths += [(f"stock.{f}", getattr(self.stock, f)) for f in ("path", "warehouse", "quantity", "atp")]
        for where, path in paths:
            if path:
                try:
                    etree.XPath(path, namespaces=self.namespaces or None)(probe)
                except (etree.XPathError, ValueError, TypeError) as exc:
                    raise ValueError(f"{where} '{path}' does not evaluate: {exc} (namespaces: "
                                     f"{self.namespaces or 'none'})") from None
        return self


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


# Steps of plain names with simple predicates (E1MAKTM[SPRAS_ISO='EN']/MAKTX) select nothing when the record
# has no child of the first step's name: XPath is evaluated only when it has.
_PREDICATE_PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\[\]|]*\])?(?:/[A-Za-z_][A-Za-z0-9_]*(?:\[[^\[\]|]*\])?)*").fullmatch


def _text_finder(path: str, ns: dict[str, str] | None) -> TextFinder:
    """The first match's text: None when nothing matched (absent), "" when the element is empty."""
    if not _CHILD_PATH(path):
        xpath = etree.XPath(path, namespaces=ns)
        steps = _PREDICATE_PATH(path)
        if steps:
            first = steps.group(1)
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
        self.stock = (_finder(m.stock.path, ns), x(m.stock.warehouse), x(m.stock.quantity), x(m.stock.atp)) if m.stock else None
        self.gtins = gtin_fields((r.path, r) for r in m.values)
        self.builder = builder
        self._prices: dict[tuple[int, str], Any] = {}
        self.hit = [False] * len(m.values)  # which rules matched in some record (the rest: `_unread_paths`)
        self.stock_hit = False
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
    tags = [m.record] + ([m.control] if m.control else [])
    seen: dict[str, datetime | bool] = {}
    records = 0
    with open_for_xml(path) as handle:
        for _, elem in safe_iterparse(handle, str(path), events=("end",), tag=_any_ns(tags)):
            tag = elem.tag
            if tag[tag.rfind("}") + 1:] == m.control:
                # a control record without a readable moment: the file's reading time, never the IDoc before's
                # (an older stamp could make this IDoc's stock lose to a reading it replaces)
                stamp = _control_stamp(elem, seen) or started
                continue
            if not records:
                _refuse_unprefixed(elem, m, name)
            records += 1
            yield _record(elem, m, compiled, ident_attr, name, stamp)
            _release(elem)
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
        steps = _PREDICATE_PATH(path)
        first = steps.group(1) if steps else None
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


#: The first step of a path: an optional prefix and a name (not a function call or an axis).
_FIRST_STEP = re.compile(r"(?:([A-Za-z_][A-Za-z0-9_.-]*):)?([A-Za-z_][A-Za-z0-9_.-]*)(?![:(A-Za-z0-9_.-])")


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
        prefix, local = step.groups()
        meant = m.namespaces.get(prefix, "") if prefix else ""
        elsewhere = sorted(ns for ns, name in seen if name == local and ns != meant)
        if elsewhere:
            where = f"the namespace '{elsewhere[0]}'" if elsewhere[0] else "no namespace"
            out.append((field, f"{what} matched in no record, but the records' <{local}> is in {where}"))
        elif near := nearest(local, spare):
            out.append((field, f"{what} matched in no record (the records have <{near}>, which no path reads)"))
    return out


def _no_records(path: Path, m: ErpXmlMap) -> InputError:
    """A map whose `record` names no element of the file would import nothing and report success: say so,
    naming the elements the file does start with (read again, the first few only: this is the error path)."""
    names: list[str] = []
    with open_for_xml(path) as handle:
        for _, elem in safe_iterparse(handle, str(path), events=("start",)):
            local = etree.QName(elem).localname
            if local not in names:
                names.append(local)
            if len(names) >= 8:
                break
    return InputError(f"no <{m.record}> element in the file, so no product was read (it starts with "
                      f"{', '.join(f'<{n}>' for n in names)})", file=path.name, field="record",
                      hint="set the map's `record` to the local name of the element that holds one product "
                           "(E1MARAM in a MATMAS IDoc)")


def _release(elem: Any) -> None:
    """Free the record and every finished sibling on the way up (IDOC shells would pile up otherwise)."""
    elem.clear(keep_tail=False)
    for node in (elem, *elem.iterancestors()):
        parent = node.getparent()
        while parent is not None and node.getprevious() is not None:
            del parent[0]


def _any_ns(tags: list[str]) -> list[str]:
    return [t for tag in tags for t in (tag, "{*}" + tag)]


def _control_stamp(elem: Any, seen: dict[str, datetime | bool]) -> datetime | None:
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
        stamp = _parse_stamp(text)
        if len(seen) >= 4096:
            seen.clear()
        seen[text] = stamp
    return stamp or None


def _parse_stamp(text: str) -> datetime | bool:
    """CREDAT+CRETIM as an aware UTC datetime; False when it is not one."""
    if len(text) == 14 and text.isdigit() and text.isascii():
        # fourteen digits of a valid moment read the same as strptime("%Y%m%d%H%M%S") reads them
        try:
            return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                            int(text[12:]), tzinfo=UTC)
        except ValueError:
            pass
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
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


def _stock(elem: Any, kids: Children, sku: str, c: _Compiled, m: ErpXmlMap, stamp: datetime) -> list[StockLevel]:
    path, warehouse, quantity, atp = c.stock  # type: ignore[misc]
    number = c.builder.number
    out = []
    for seg in path(elem, kids):
        c.stock_hit = True
        own = _children(seg)
        qty = quantity(seg, own)
        if not qty:
            continue
        free = atp(seg, own) if atp is not None else None
        out.append(_stock_level(sku, (warehouse(seg, own) or "main").strip(), Decimal(number(qty)),
                                Decimal(number(free)) if free else None, stamp, m.source))
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
