"""ERP XML through a declarative XPath map (schemas/erp_xml_map.schema.json). Shipped with a map for SAP
IDoc MATMAS-style material master files (importers/maps/sap_matmas.yaml).

Streaming: lxml iterparse on the record element only, each record cleared after use, through
importers.xml_safety (no DTDs, no entities, no network). A path that matches nothing leaves the value
alone; an element that is present but empty clears it. Stock segments (E1MARDM-style) go to pim.commerce,
timestamped from the IDoc control record (EDI_DC40 CREDAT/CRETIM) when the map names one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from importers.erp_values import NumberFormat, ValueBuilder, ValueRule
from importers.xml_safety import open_for_xml, safe_iterparse
from pim.catalog import Structure
from pim.commerce import StockLevel, put_stock
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, run_import
from pim.product import Product, trusted_provenance
from pim.sources import SourceProfile, merger_for
from pim.store import Store
from pim.values import ValueProblem

MAPS = Path(__file__).parent / "maps"


class XPathRule(ValueRule):
    path: str = Field(description="XPath relative to the record element; the first match's text is the value.")
    amount_path: str | None = Field(default=None, description="Price collections: `path` selects one element per "
                                    "price, this path (relative to it) its amount…")
    currency_path: str | None = Field(default=None, description="…and this one its currency.")


class StockRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Elements holding one warehouse's stock, relative to the record.")
    warehouse: str
    quantity: str
    atp: str | None = None


class ErpXmlMap(SourceProfile, NumberFormat):
    """Where one product is (`record`) and where each of its values sits inside it."""

    source: str = "erp"
    record: str = Field(description="Local name of the element that holds one product, e.g. E1MARAM.")
    sku: str = Field(description="XPath of the SKU inside the record, e.g. MATNR.")
    strip_leading_zeros: bool = Field(default=False, description="SAP pads numeric material numbers to 18 digits.")
    control: str | None = Field(default=None, description="Local name of a header element with CREDAT/CRETIM.")
    family: str | None = None
    namespaces: dict[str, str] = {}
    values: list[XPathRule] = []
    stock: StockRule | None = None


def load_xml_map(path: Path | None) -> ErpXmlMap:
    from pim.sources import load_profile

    return load_profile(ErpXmlMap, path or MAPS / "sap_matmas.yaml")


class _Compiled:
    def __init__(self, m: ErpXmlMap) -> None:
        ns = m.namespaces or None
        x = lambda p: etree.XPath(p, namespaces=ns) if p else None  # noqa: E731
        self.sku = x(m.sku)
        self.values = [(r, x(r.path), x(r.amount_path), x(r.currency_path), x(r.unit_from)) for r in m.values]
        self.stock = (x(m.stock.path), x(m.stock.warehouse), x(m.stock.quantity), x(m.stock.atp)) if m.stock else None


def _text(found: Any) -> str | None:
    """First match as text; None when nothing matched (absent), "" when an element is empty."""
    if isinstance(found, list):
        if not found:
            return None
        found = found[0]
    if isinstance(found, etree._Element):
        return found.text or ""
    return str(found)


def read_erp_xml(path: Path, m: ErpXmlMap, structure: Structure, stock: list[StockLevel]) -> Iterator[Parsed | Rejected]:
    """Partial product records; stock levels are appended to `stock` for the caller to write."""
    name = path.name
    compiled = _Compiled(m)
    builder = ValueBuilder(structure, m)
    ident_attr = structure.identifier_attribute
    stamp = datetime.now(UTC)
    tags = [m.record] + ([m.control] if m.control else [])
    with open_for_xml(path) as handle:
        for _, elem in safe_iterparse(handle, str(path), events=("end",), tag=_any_ns(tags)):
            if etree.QName(elem).localname == m.control:
                stamp = _control_stamp(elem) or stamp
                continue
            yield _record(elem, m, compiled, builder, ident_attr, name, stamp, stock)
            _release(elem)


def _release(elem: Any) -> None:
    """Free the record and every finished sibling on the way up (IDOC shells would pile up otherwise)."""
    elem.clear(keep_tail=False)
    for node in (elem, *elem.iterancestors()):
        parent = node.getparent()
        while parent is not None and node.getprevious() is not None:
            del parent[0]


def _any_ns(tags: list[str]) -> list[str]:
    return [t for tag in tags for t in (tag, "{*}" + tag)]


def _control_stamp(elem: Any) -> datetime | None:
    day, time = _text(elem.xpath("*[local-name()='CREDAT']")), _text(elem.xpath("*[local-name()='CRETIM']"))
    try:
        return datetime.strptime(f"{day}{time or '000000'}", "%Y%m%d%H%M%S").replace(tzinfo=UTC) if day else None
    except ValueError:
        return None


def _record(elem: Any, m: ErpXmlMap, c: _Compiled, builder: ValueBuilder, ident_attr: str, name: str,
            stamp: datetime, stock: list[StockLevel]) -> Parsed | Rejected:
    line = elem.sourceline
    sku = (_text(c.sku(elem)) or "").strip()
    if m.strip_leading_zeros and sku.isdigit():
        sku = sku.lstrip("0") or "0"
    if not sku:
        return Rejected(f"no SKU at {m.sku}", name, line, m.sku, _raw(elem))
    values: dict[str, Any] = {ident_attr: sku}
    fields: dict[str, Any] = {"family": m.family} if m.family else {}
    for rule, path, amount, currency, unit in c.values:
        try:
            if amount is not None:
                _prices(rule, path(elem), amount, currency, builder, values, fields)
                continue
            text = _text(path(elem))
            if text is not None:
                builder.apply(rule, text, values, fields, _text(unit(elem)) if unit is not None else None)
        except ValueProblem as exc:
            return Rejected(str(exc), name, line, rule.path, _raw(elem), sku)
    if c.stock:
        try:
            stock.extend(_stock(elem, sku, c, m, stamp))
        except ValueProblem as exc:
            return Rejected(str(exc), name, line, m.stock.path if m.stock else None, _raw(elem), sku)
    prov = trusted_provenance(m.source, f"{name}:{line}", stamp)
    return Parsed(Product(identifier=sku, values=values, source=prov, **fields), name, line)


def _prices(rule: XPathRule, found: list[Any], amount: Any, currency: Any, builder: ValueBuilder,
            values: dict[str, Any], fields: dict[str, Any]) -> None:
    for el in found:
        per = rule.model_copy(update={"currency": (_text(currency(el)) if currency is not None else None) or rule.currency})
        builder.apply(per, _text(amount(el)), values, fields)


def _stock(elem: Any, sku: str, c: _Compiled, m: ErpXmlMap, stamp: datetime) -> list[StockLevel]:
    path, warehouse, quantity, atp = c.stock  # type: ignore[misc]
    out = []
    for seg in path(elem):
        qty = _text(quantity(seg))
        if not qty:
            continue
        free = _text(atp(seg)) if atp is not None else None
        out.append(StockLevel(sku=sku, warehouse=(_text(warehouse(seg)) or "main").strip(), quantity=Decimal(m.number(qty)),
                              atp=Decimal(m.number(free)) if free else None, updated_at=stamp, source=m.source))
    return out


def _raw(elem: Any) -> dict[str, Any]:
    return {"xml": etree.tostring(elem, encoding="unicode")[:4000]}


def import_erp_xml(path: Path, store: Store, m: ErpXmlMap, *, map_dir: Path | None = None,
                   precedence: Path | None = None) -> ImportCounts:
    structure = store.structure()
    stock: list[StockLevel] = []
    written = 0

    def items() -> Iterator[Parsed | Rejected]:
        nonlocal written
        for item in read_erp_xml(path, m, structure, stock):
            yield item
            if len(stock) >= store.batch_size:
                written += put_stock(store, stock)
                stock.clear()

    counts = run_import(store, m.source, items(), structure=structure, label=f"erp-xml:{path}",
                        merge=merger_for(m, map_dir, precedence))
    if stock:
        written += put_stock(store, stock)
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
