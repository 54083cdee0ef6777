"""A record's stock readings (E1MARDM-style segments) and the times that date them: a reading's own
(`stock.updated_at`), else its control record's (EDI_DC40 CREDAT/CRETIM, or `control_time`, which also dates the
record's values), else the import's. Split from importers.erp_xml, whose reader calls these; a reading within
StockLevel's bounds skips pydantic (the import's hot path)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from importers.erp_values import value_refusal
from importers.erp_xml_paths import Children, children
from pim.commerce import NUMERIC_LIMIT, NUMERIC_PLACES, StockLevel
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


def control_stamp(elem: Any, seen: dict[str, datetime | bool], zone: tzinfo = UTC) -> datetime | None:
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


class StockTime(ValueProblem):
    """A stock reading's time that does not read (the quarantine names the map's `stock.updated_at`)."""

    def __init__(self, path: str, problem: ValueProblem) -> None:
        super().__init__(f"stock time: {problem}: set the map's `datetime_format` to how the file writes it (an "
                         "offset at its end, +01:00 or Z, is read whatever the format)")
        self.path = path


def read_stock(elem: Any, kids: Children, sku: str, c: CompiledMap, m: ErpXmlMap, stamp: datetime) -> list[StockLevel]:
    """The record's stock readings, each at its own time (`updated_at`) where it has one, else at `stamp`."""
    path, warehouse, quantity, atp, when = c.stock  # type: ignore[misc]
    number = c.builder.number
    out = []
    timed = False
    for seg in path(elem, kids):
        c.stock_hit = True
        own = children(seg)
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
                raise StockTime(m.stock.updated_at, exc) from None  # type: ignore[union-attr, arg-type]
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
