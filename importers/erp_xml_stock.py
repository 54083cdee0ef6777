"""A record's stock readings (E1MARDM-style segments), under `stock.complete` its list of warehouses, and the
times that date them: a reading's own (`stock.updated_at`), else its control record's (EDI_DC40 CREDAT/CRETIM, or
`control_time`, which also dates the record's values), else the import's. Split from importers.erp_xml, whose
reader calls these; a reading within StockLevel's bounds skips pydantic (the import's hot path)."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from datetime import time as dtime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree
from pydantic import ValidationError

from importers.erp_values import value_refusal
from importers.erp_xml_paths import Children, children, first_tag
from pim.commerce import NUMERIC_LIMIT, NUMERIC_PLACES, StockLevel, WarehouseList, atp_above_quantity
from pim.errors import InputError
from pim.product import trusted_model
from pim.values import ValueProblem

if TYPE_CHECKING:
    from importers.erp_xml import CompiledMap, ErpXmlMap


def control_moment(elem: Any, m: ErpXmlMap, c: CompiledMap, name: str) -> datetime | None:
    """The control element's time at the map's `control_time`; None when it has none."""
    try:
        text = c.control_time(elem, children(elem))  # type: ignore[misc]
        return c.moment(text) if text and text.strip() else None
    except ValueProblem as exc:  # the map's format, not this header's data, is likely wrong: every record has it
        raise InputError(f"control_time {m.control_time}: {exc}", file=name, line=elem.sourceline,
                         field="control_time", hint="set the map's `datetime_format` to how the file writes the "
                         "time (an offset at its end, +01:00 or Z, is read whatever the format)") from None


def control_stamp(elem: Any, seen: dict[str, datetime], name: str, zone: tzinfo = UTC) -> datetime | None:
    """The IDoc's creation moment; None when its control record has no CREDAT (or an empty one). A CREDAT or
    CRETIM that is no date or time refuses the file, as a `control_time` that does not read does: the import's
    time, taken quietly instead, could let this IDoc's stock win over newer readings. `seen` keeps the moments
    already read in this file (they repeat)."""
    day = time = None  # the first CREDAT / CRETIM child in any namespace, as *[local-name()='…'] finds them
    for child in elem:
        tag = child.tag
        if isinstance(tag, str):
            local = tag[tag.rfind("}") + 1:]
            if local == "CREDAT" and day is None:
                day = child
            elif local == "CRETIM" and time is None:
                time = child
    if day is None or not day.text or day.text.isspace():
        return None
    key = f"{day.text} {'' if time is None else time.text or ''}"
    stamp = seen.get(key)
    if stamp is None:
        stamp = _parse_stamp(day, time, zone, name)
        if len(seen) >= 4096:
            seen.clear()
        seen[key] = stamp
    return stamp


_DAY = "a date in the form YYYYMMDD (e.g. 20260301)"
_TIME = "a time in the form HHMMSS (e.g. 101500)"


def _parse_stamp(day: Any, time: Any | None, zone: tzinfo, name: str) -> datetime:
    """CREDAT+CRETIM (no CRETIM, or an empty one, is midnight), local time in `zone`, as an aware UTC datetime;
    InputError naming the element that is no date or time."""
    digits = day.text.strip()
    clock = (time.text or "").strip() if time is not None else ""
    if not _digits(digits, 8):
        raise _bad_stamp(day, _DAY, name)
    if clock and not _digits(clock, 6):
        raise _bad_stamp(time, _TIME, name)
    try:
        moment = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise _bad_stamp(day, _DAY, name) from None
    try:
        stamp = datetime.combine(moment, dtime(int(clock[:2]), int(clock[2:4]), int(clock[4:])) if clock else dtime(),
                                 tzinfo=zone)
    except ValueError:
        raise _bad_stamp(time, _TIME, name) from None
    return stamp if zone is UTC else stamp.astimezone(UTC)


def _digits(text: str, count: int) -> bool:
    return len(text) == count and text.isascii() and text.isdigit()


def _bad_stamp(elem: Any, expected: str, name: str) -> InputError:
    """A control record's CREDAT or CRETIM that is present but no date or time."""
    local, control = etree.QName(elem).localname, etree.QName(elem.getparent()).localname
    text = elem.text if len(elem.text) <= 40 else elem.text[:40] + "…"
    return InputError(f"<{local}> at line {elem.sourceline} (in <{control}>) is '{text}', not {expected}: the "
                      "stock of its records cannot be dated", file=name, line=elem.sourceline, field=local,
                      hint=f"fix {local} in the sending system (CREDAT YYYYMMDD, CRETIM HHMMSS, its local time) "
                      "and import the file again; a control record without CREDAT dates its stock by the import")


class StockTime(ValueProblem):
    """A stock reading's time that does not read (the quarantine names the map's `stock.updated_at`)."""

    def __init__(self, path: str, problem: ValueProblem) -> None:
        super().__init__(f"stock time: {problem}: set the map's `datetime_format` to how the file writes it (an "
                         "offset at its end, +01:00 or Z, is read whatever the format)")
        self.path = path


#: The stock elements one record may hold: a record is read whole, in memory (about 2 KB per element), so one
#: with more is rejected. A material has one E1MARDM per storage location, hundreds at most.
MAX_STOCK_ELEMENTS = 100_000


class StockCap:
    """Keeps a record's tree within MAX_STOCK_ELEMENTS while the file streams, where the map's `stock.path` is
    steps without predicates ending in one tag, or a union of such paths (E1MARDM, i:Stock, the shipped MATMAS
    map's `E1MARDM | E1MARCM/E1MARDM`): the read gets the end of each element of that tag (`tag`), and past the
    cap each is freed as it ends. read_stock then rejects the record, which still holds more. A path with a
    predicate (i:Stock[@type='on-hand']) is checked by read_stock alone: freeing elements of its tag the
    predicate would not select could drop readings it does select without the record being refused."""

    def __init__(self, m: ErpXmlMap, record: str) -> None:
        self.tag, self.routes = _cap_routes(m.stock.path if m.stock else "[", m.namespaces or None)
        self.record = record  # the record's local name: the stock elements are below it, by one of `routes`
        self.held = 0
        self.dropped: Any = None

    def _selected(self, elem: Any) -> bool:
        """Whether the path selects `elem` below a record: its ancestors are one route's steps, then the record."""
        for route in self.routes:
            node = elem.getparent()
            for tag in route:
                if node is None or node.tag != tag:
                    break
                node = node.getparent()
            else:
                if node is not None and (tag := node.tag)[tag.rfind("}") + 1:] == self.record:
                    return True
        return False

    def ended(self, elem: Any) -> None:
        """A stock element's end: counted when the path selects it (`_selected`), and past the cap freed (the
        one freed before it is removed: never an element at its own end, the parser's on it)."""
        if not self._selected(elem):
            return
        self.held += 1
        if self.held > MAX_STOCK_ELEMENTS + 1:
            elem.clear(keep_tail=False)
            if self.dropped is not None:
                self.dropped.getparent().remove(self.dropped)
            self.dropped = elem

    def record_ended(self) -> None:
        self.held, self.dropped = 0, None


def stock_field(m: ErpXmlMap) -> str | None:
    """What a record's stock refusal names: the map's `stock.path`, or for a union whose alternatives all end in
    one step (the shipped MATMAS map's `E1MARDM | E1MARCM/E1MARDM`) that step, the element a user looks for."""
    if m.stock is None:
        return None
    path = m.stock.path
    ends = {alternative.strip().rsplit("/", 1)[-1] for alternative in path.split("|")}
    return ends.pop() if "|" in path and len(ends) == 1 else path


def _cap_routes(path: str, ns: dict[str, str] | None) -> tuple[str | None, list[tuple[str, ...]]]:
    """The tag every alternative of `path` ends in, and each alternative's steps above it, innermost first (tags
    in Clark notation); (None, []) unless every step is a plain name without a predicate and all end alike."""
    if "[" in path:
        return None, []
    routes: list[tuple[str, ...]] = []
    last: set[str | None] = set()
    for alternative in path.split("|"):
        steps = [first_tag(step.strip(), ns) for step in alternative.strip().split("/")]
        if not steps or None in steps:
            return None, []
        last.add(steps[-1])
        routes.append(tuple(reversed(steps[:-1])))  # type: ignore[arg-type]
    return (last.pop(), routes) if len(last) == 1 else (None, [])


def read_stock(elem: Any, kids: Children, sku: str, c: CompiledMap, m: ErpXmlMap,
               stamp: datetime) -> list[StockLevel | WarehouseList]:
    """The record's stock readings, each at its own time (`updated_at`) where it has one, else at `stamp`. With
    the map's `stock.complete`, then the record's WarehouseList when it has a stock element: every warehouse it
    names (one without a quantity too: its reading is kept), as of `stamp` or its newest reading's time."""
    path, warehouse_of, quantity, atp, when, plant = c.stock  # type: ignore[misc]

    def warehouse(seg: Any, own: Children) -> str:
        """The reading's warehouse key: `plant/location` where the map's `plant` reads, else the location."""
        where = (warehouse_of(seg, own) or "main").strip()
        at = plant(seg, own) if plant is not None else None
        return f"{at.strip()}/{where}" if at and not at.isspace() else where

    complete = m.stock.complete  # type: ignore[union-attr]
    number = c.builder.number
    out: list[StockLevel | WarehouseList] = []
    named: set[str] = set()
    timed = False
    segments = path(elem, kids)
    if len(segments) > MAX_STOCK_ELEMENTS:
        raise ValueProblem(f"the record holds more than {MAX_STOCK_ELEMENTS:,} stock elements ({stock_field(m)}), "
                           "the most one record may hold (a record is read whole, in memory). A material has one "
                           "per storage location: check the sending system's export for a repeated segment; stock "
                           "this large streams as an ERP stock CSV (`pim import erp` with a `kind: stock` map)")
    for seg in segments:
        c.stock_hit = True
        own = children(seg)
        qty = quantity(seg, own)
        if not qty:
            if complete:
                named.add(warehouse(seg, own))
            continue
        free = atp(seg, own) if atp is not None else None
        at = stamp
        if when is not None:
            try:
                text = when(seg, own)
                if text and not text.isspace():
                    at, timed = c.moment(text), True
            except ValueProblem as exc:
                raise StockTime(m.stock.updated_at, exc) from None  # type: ignore[union-attr, arg-type]
        out.append(_stock_level(sku, warehouse(seg, own), Decimal(number(qty)),
                                Decimal(number(free)) if free else None, at, m.source))
    if when is not None and out:
        if timed:
            c.timed[0] += 1
        elif c.timed[0]:
            c.timed[1] += 1
    if complete and (out or named):
        held = frozenset(named.union(level.warehouse for level in out))  # type: ignore[union-attr]
        out.append(WarehouseList(sku, held, max([stamp, *(level.updated_at for level in out)])))  # type: ignore[union-attr]
    return out


def atp_problems(levels: list[StockLevel | WarehouseList], m: ErpXmlMap) -> list[tuple[str, str]]:
    """(the map's `stock.atp`, reason) for each reading whose ATP is above its quantity: the record's `problem`
    entries (pim.commerce.atp_above_quantity); the readings are kept as sent."""
    found = []
    for level in levels:
        if isinstance(level, StockLevel) and (reason := atp_above_quantity(level)) is not None:
            found.append((m.stock.atp or "atp", reason))  # type: ignore[union-attr]
    return found


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
