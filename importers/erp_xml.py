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
(erp_values.bad_gtins).

The read loop and the map are here; how paths are found in a record is in importers.erp_xml_paths, where map
and file do not fit in importers.erp_xml_checks, stock and its times in importers.erp_xml_stock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from lxml import etree
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Connection

from importers.erp_values import (NumberFormat, ValueBuilder, ValueRule, Zone, bad_gtins, gtin_fields, moment_parser,
                                  partial_product, problem_notes, refusal, remembered, report_unread)
from importers.erp_xml_checks import (local_name, nested_records, no_records, outer_record, refuse_unknown_units,
                                      refuse_unprefixed, unread_paths)
from importers.erp_xml_paths import children, finder, text_finder
from importers.erp_xml_stock import (MAX_STOCK_ELEMENTS, StockCap, StockTime, atp_problems, control_moment,
                                     control_stamp, read_stock, stock_field)
from importers.xml_safety import check_well_formed, guard_prologue, open_for_xml, safe_iterparse
from pim.catalog import Structure
from pim.commerce import StockLevel, WarehouseList, put_stock_in, retire_warehouses
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, run_import
from pim.product import split_key, trusted_provenance
from pim.sources import SourceProfile, job_label, merger_for
from pim.store import Store
from pim.structure import AttributeType
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

    path: XPath = Field(description=(
        "Elements holding one warehouse's stock, relative to the record. A record with more than "
        f"{MAX_STOCK_ELEMENTS:,} of them is rejected (a record is read whole, in memory)."))
    warehouse: XPath
    plant: XPath | None = Field(default=None, description=(
        "XPath of the warehouse's plant, relative to the stock element (a MATMAS E1MARDM's `../WERKS`, its "
        "E1MARCM's plant): a reading whose plant reads is keyed `plant/warehouse` (1000/0001), since storage "
        "location codes repeat across plants; one without keeps the warehouse alone."))
    quantity: XPath
    atp: XPath | None = None
    updated_at: XPath | None = Field(default=None, description=(
        "XPath of the reading's time, relative to the stock element (e.g. @asOf, or ../@changed for its record's), "
        "read with `datetime_format` and `timezone`; one that does not read rejects the record. Without it, or "
        "where it matches nothing, the reading takes the control record's time, else the import's. The file is "
        "read as it streams: beyond the record a path sees only what precedes it inside its enclosing elements "
        "since the record before (an IDoc's own header), never what follows it nor a document header, which is "
        "freed with the first record: for a header's time use `control` with `control_time`."))
    complete: bool = Field(default=False, description=(
        "A record's stock elements are every warehouse of its SKU (a MATMAS IDoc's E1MARDM segments: one per "
        "storage location the material has): once the record is in, the SKU's stored readings in warehouses it "
        "does not list are removed, except one newer than the record (its control time, or its newest "
        "reading's). A warehouse listed without a quantity keeps its reading; a record without any stock "
        "element leaves its stock alone (an IDoc reduced to leave E1MARDM out says nothing of it)."))


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
        "`timezone`; one that does not read refuses the file. Without it: CREDAT+CRETIM (yyyymmdd, hhmmss; one "
        "that is no date or time refuses the file too, a control element without CREDAT dates by the import)."))
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
            paths += [(f"stock.{f}", getattr(self.stock, f)) for f in ("path", "warehouse", "plant", "quantity", "atp",
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


class CompiledMap:
    """The map's paths and rules, compiled once per file."""

    def __init__(self, m: ErpXmlMap, builder: ValueBuilder) -> None:
        ns = m.namespaces or None
        x = lambda p: text_finder(p, ns) if p else None  # noqa: E731
        self.sku = text_finder(m.sku, ns)
        self.values = [(r, builder.setter(r), finder(r.path, ns) if r.amount_path else x(r.path), x(r.amount_path),
                        x(r.currency_path), x(r.unit_from)) for r in m.values]
        self.stock = (finder(m.stock.path, ns), x(m.stock.warehouse), x(m.stock.quantity), x(m.stock.atp),
                      x(m.stock.updated_at), x(m.stock.plant)) if m.stock else None
        self.zone = UTC if m.timezone == "UTC" else ZoneInfo(m.timezone)  # UTC: CREDAT read without a conversion
        self.moment = remembered(moment_parser(m.datetime_format, self.zone))  # stock and control times
        self.control_time = x(m.control_time)
        self.gtins = gtin_fields((r.path, r) for r in m.values)
        self.builder = builder
        self._prices: dict[tuple[int, str], Any] = {}
        self.hit = [False] * len(m.values)  # which rules matched in some record (the rest: `unread_paths`)
        self.stock_hit = False
        self.timed = [0, 0]  # records whose stock read its own time (`updated_at`); records after those that read none
        self.names: set[Any] = set()  # the tags of the records' children, to name what a missed path meant
        # (key, currency) of each fixed-currency price rule whose key other such rules fill in other currencies,
        # else None: a record without its element states only the others (`stated`)
        self.fixed = _fixed_currencies(m.values, builder)
        self.currencies: dict[str, frozenset[str]] = {}
        for found in self.fixed:
            if found is not None:
                self.currencies[found[0]] = self.currencies.get(found[0], frozenset()) | {found[1]}
        self._stated: dict[tuple[int, ...], dict[str, frozenset[str]] | None] = {}

    def price_setter(self, rule: XPathRule, currency: str) -> Any:
        """A price element's setter for its currency (`_currency_of`)."""
        key = (id(rule), currency)
        put = self._prices.get(key)
        if put is None:
            if len(self._prices) >= 256:  # currency codes come from the file: keep the cache bounded
                self._prices.clear()
            put = self._prices[key] = self.builder.price_setter(rule, currency)
        return put

    def stated(self, absent: tuple[int, ...]) -> dict[str, frozenset[str]] | None:
        """The currencies a record states of each price key whose fixed-currency elements it has only some of
        (pim.importing.Parsed.partial), given the rules (`fixed`) whose element it lacks; None when it lacks a
        key's every one (its record has no price of it: left alone). One mapping per set of absent elements."""
        known = self._stated.get(absent, self._stated)
        if known is self._stated:
            lacked: dict[str, set[str]] = {}
            for n in absent:
                key, currency = self.fixed[n]  # type: ignore[misc]
                lacked.setdefault(key, set()).add(currency)
            known = self._stated[absent] = {key: self.currencies[key] - gone for key, gone in lacked.items()
                                            if self.currencies[key] - gone} or None
        return known  # type: ignore[return-value]


def _fixed_currencies(rules: list[XPathRule], builder: ValueBuilder) -> list[tuple[str, str] | None]:
    """Per rule: (key, currency) of a price collection rule with its own currency (not read by `currency_path`)
    whose key other such rules fill in other currencies; None for the rest."""
    found: list[tuple[str, str] | None] = [
        (r.to, r.currency or "EUR") if not (r.amount_path and r.currency_path)
        and builder.types.get(split_key(r.to)[0]) == AttributeType.price_collection else None for r in rules]
    keys = [f[0] for f in found if f is not None]
    return [f if f is not None and keys.count(f[0]) > 1 else None for f in found]


def _currency_of(rule: XPathRule, currency: str | None) -> str:
    """A price element's currency: its own (trimmed, as a CSV cell is), else the rule's, else EUR."""
    return (currency.strip() if currency else None) or rule.currency or "EUR"


def read_erp_xml(path: Path, m: ErpXmlMap, structure: Structure,
                 unread: list[tuple[str, str]] | None = None) -> Iterator[Parsed | Rejected]:
    """Partial product records, each with its stock levels as `extras` (written only when it is taken in).
    Once the file is read, `unread` gets the map's value and stock paths that matched in no record."""
    name = path.name
    compiled = CompiledMap(m, ValueBuilder(structure, m))
    refuse_unknown_units(m, compiled.builder, name)
    ident_attr = structure.identifier_attribute
    stamp = started = datetime.now(UTC)
    parent, _, local = m.record.rpartition("/")
    tags = [local] + ([m.control] if m.control else [])
    cap = StockCap(m, local)
    wanted = _any_ns(tags) + ([cap.tag] if cap.tag else [])
    seen: dict[str, datetime] = {}
    zone = compiled.zone
    records = 0
    with open_for_xml(path) as handle:  # a file that breaks after some records is refused before any is written
        check_well_formed(handle, str(path), guard_prologue(handle, str(path)), _any_ns(tags))
        for _, elem in safe_iterparse(handle, str(path), events=("end",), tag=wanted):
            tag = elem.tag
            if tag == cap.tag:
                cap.ended(elem)
                continue
            if tag[tag.rfind("}") + 1:] == m.control:
                # a control record without a moment (no CREDAT, or no `control_time` text): the file's reading
                # time, never the IDoc before's (an older stamp could make its stock lose to a reading it replaces)
                stamp = (control_stamp(elem, seen, name, zone) if compiled.control_time is None else
                         control_moment(elem, m, compiled, name)) or started
                continue
            cap.record_ended()
            if parent and local_name(elem.getparent()) != parent:
                continue  # an element of the record's name elsewhere: part of a record (freed with it), or of none
            ancestors = list(elem.iterancestors())  # walked once, for the check and `_release`
            if (outer := outer_record(ancestors, local, parent)) is not None:
                raise nested_records(elem, outer, m, name)
            if not records:
                refuse_unprefixed(elem, m, name)
            records += 1
            yield _record(elem, m, compiled, ident_attr, name, stamp)
            _release(elem, ancestors)
    if not records:
        raise no_records(path, m)
    if unread is not None:
        unread.extend(unread_paths(m, compiled))


def _release(elem: Any, ancestors: list[Any]) -> None:
    """Free the record and every finished sibling on the way up (IDOC shells would pile up otherwise)."""
    elem.clear(keep_tail=False)
    for node in (elem, *ancestors):
        parent = node.getparent()
        while parent is not None and node.getprevious() is not None:
            del parent[0]


def _any_ns(tags: list[str]) -> list[str]:
    return [t for tag in tags for t in (tag, "{*}" + tag)]


def _record(elem: Any, m: ErpXmlMap, c: CompiledMap, ident_attr: str, name: str, stamp: datetime) -> Parsed | Rejected:
    line = elem.sourceline
    kids = children(elem)
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
    absent: tuple[int, ...] = ()  # the `fixed` price rules whose element the record lacks
    fixed = c.fixed
    for n, (rule, put, find, amount, currency, unit) in enumerate(c.values):
        try:
            if amount is not None:
                given: dict[str, str | None] = {}
                for el in find(elem, kids):
                    own = children(el)
                    code = _currency_of(rule, currency(el, own) if currency is not None else None)
                    text = amount(el, own)
                    if code in given:
                        raise ValueProblem(_two_prices(rule, code, given[code], text))
                    given[code] = text
                    c.price_setter(rule, code)(text, values, fields, None)
                if given:
                    c.hit[n] = True
                elif fixed[n] is not None:
                    absent += (n,)
                continue
            text = find(elem, kids)
            if text is not None:
                c.hit[n] = True
                put(text, values, fields, unit(elem, kids) if unit is not None else None)
            elif fixed[n] is not None:  # absent: left alone; an empty element ("") clears
                absent += (n,)
        except ValueProblem as exc:
            return Rejected(str(exc), name, line, rule.path, _raw(elem), sku)
    bad = bad_gtins(values, c.gtins) if c.gtins else None  # left out, the record taken in with a problem entry
    prov = trusted_provenance(m.source, f"{name}:{line}", stamp)
    try:
        record = partial_product(sku, values, prov, fields)
    except ValidationError as exc:  # an identifier over 255 characters, a family that is no code
        field, reason = refusal(exc, m.sku)
        return Rejected(reason, name, line, field, _raw(elem), sku)
    levels: list[StockLevel | WarehouseList] = []
    if c.stock:
        try:
            levels = read_stock(elem, kids, sku, c, m, stamp)
        except StockTime as exc:
            return Rejected(str(exc), name, line, exc.path, _raw(elem), sku)
        except ValueProblem as exc:
            return Rejected(str(exc), name, line, stock_field(m), _raw(elem), sku)
    found = [*(bad or ()), *atp_problems(levels, m)]
    notes = problem_notes(found, name, line, _raw(elem), sku, m.source) if found else []
    return Parsed(record, name, line, problems=notes, extras=levels, partial=c.stated(absent) if absent else None)


def _two_prices(rule: XPathRule, currency: str, first: str | None, second: str | None) -> str:
    """Why a record giving two prices in one currency is rejected: one would silently replace the other."""
    shown = " and ".join(repr((t or "").strip()) for t in (first, second))
    return (f"two {currency} prices at {rule.path} ({shown}) for the one {currency} value of '{rule.to}': one "
            "would silently replace the other. Narrow the map's path with a predicate that selects one price per "
            f"currency, as the file marks it (e.g. {rule.path}[@minQty='1']); tier prices belong in a price list")


def _raw(elem: Any) -> dict[str, Any]:
    return {"xml": etree.tostring(elem, encoding="unicode")[:4000]}


def import_erp_xml(path: Path, store: Store, m: ErpXmlMap, *, map_dir: Path | None = None,
                   precedence: Path | None = None) -> ImportCounts:
    structure = store.structure()
    written = removed = 0
    complete = m.stock is not None and m.stock.complete

    def put(conn: Connection, rows: list[StockLevel | WarehouseList]) -> None:
        nonlocal written, removed
        levels = [r for r in rows if isinstance(r, StockLevel)] if complete else rows
        written += put_stock_in(store, conn, levels)  # type: ignore[arg-type]
        if complete:  # after the readings, in the same transaction: a list's own readings are stored
            removed += retire_warehouses(store, conn, [r for r in rows if isinstance(r, WarehouseList)])

    unread: list[tuple[str, str]] = []
    counts = run_import(store, m.source, read_erp_xml(path, m, structure, unread), structure=structure,
                        label=job_label("erp_xml", path), merge=merger_for(m, map_dir, precedence), extras=put,
                        before_finish=lambda counts: report_unread(store, counts, m.source, path.name, unread))
    counts.extra["stock_levels"] = written
    if complete:
        counts.extra["stock_removed"] = removed
    return counts


class ErpXmlImporter:
    name = "erp_xml"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        map_path = Path(options["map"]) if options.get("map") else None
        m = load_xml_map(map_path)
        if not isinstance(m, ErpXmlMap):  # pragma: no cover
            raise InputError("not an ERP XML map", file=str(map_path))
        return import_erp_xml(path, store, m, map_dir=(map_path or MAPS / "x").parent).as_dict()
