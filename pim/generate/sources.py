"""Generator extension: ERP and content-team source files for a profile, derived from the generated products
so that they overlap and conflict with them and with each other on purpose.

Into `out/sources/`:
- `erp_products.csv` + `erp_products.map.yaml`: every product; semicolons, cp1252, decimal comma, German
  headers; SKU, EAN, weight, EUR/USD list prices. 3% of weights differ from the catalog's; 5% carry an
  ERP short name that disagrees with the content team's (both own `name`: logged conflicts).
- `erp_matmas.xml`: SAP IDoc MATMAS-style material master for every 10th product with two storage-location
  stock segments each, storage location 0001 in plants 1000 and 2000 (E1MARDM inside its plant's E1MARCM, as
  MATMAS05 nests them); imported with the shipped map, which keys them `1000/0001` and `2000/0001`. One ERP exports one truth: its EAN and prices are the
  CSV's, and its stock is the stock CSV's reading (same quantity, the IDoc's CRETIM the reading's time) without
  ATP, which E1MARDM does not carry: the stored ATP of that reading stays (pim.commerce._keep_atp), so a rerun
  of all ERP files changes nothing.
- `erp_prices.csv` + map: three customers' contract prices with two quantity tiers and validity dates.
- `erp_stock.csv` + map: stock and ATP per product × two warehouses (`1000/0001`, `2000/0001`), with timestamps.
- `content.jsonl` (+ `content.profile.yaml`): the content team's copy for 30% of the products that are no
  variants (names, descriptions, SEO title, bullets: a variant shows its model's); 1% name SKUs that do not exist (quarantined); then bullets for 30% of
  the root product models (`model` records: every variant below inherits them).
- `precedence.yaml`: the precedence every source import uses.
The ERP files name only attributes the generated structure has (ERP units, pack sizes and lifecycle
status are not in it, so the generated map does not send them)."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import yaml

from pim.generate.catalog import GeneratedCatalog
from pim.generate.profiles import ProfileSpec

#: The generated warehouses, as the shipped MATMAS map keys them (plant/storage location): one storage location code
#: in two plants, the collision a key of LGORT alone could not tell apart.
WAREHOUSES = ("1000/0001", "2000/0001")

PRECEDENCE = {
    "default": ["content"],
    "groups": {"erp": ["erp"], "technical": ["supplier:*", "erp"], "marketing": ["content", "supplier:*"]},
    "attributes": {"weight": ["erp", "supplier:*"], "name": ["content", "erp"], "ean": ["erp", "supplier:*"]},
}
ERP_MAP = {
    "source": "erp", "precedence": "precedence.yaml", "delimiter": ";", "encoding": "cp1252", "decimal": ",",
    "sku_column": "Artikelnummer",
    "columns": {
        "EAN": "ean", "Kurztext": "name:en_US",
        "Gewicht": {"to": "weight", "unit_from": "Gewichtseinheit", "unit_map": {"KGM": "KILOGRAM", "GRM": "GRAM"}},
        "Listenpreis EUR": {"to": "price", "currency": "EUR"}, "Listenpreis USD": {"to": "price", "currency": "USD"},
    },
}
PRICE_MAP = {"source": "erp", "kind": "price_list", "delimiter": ";", "decimal": ",", "date_format": "%d.%m.%Y",
             "sku_column": "Artikelnummer", "defaults": {"currency": "EUR"},
             "columns": {"Kunde": "customer", "Ab Menge": "min_qty", "Preis": "price", "Gueltig ab": "valid_from",
                         "Gueltig bis": "valid_to"}}
STOCK_MAP = {"source": "erp", "kind": "stock", "sku_column": "sku",
             "columns": {"warehouse": "warehouse", "quantity": "quantity", "atp": "atp", "updated_at": "updated_at"}}
CONTENT_PROFILE = {"source": "content", "unmatched": "quarantine", "precedence": "precedence.yaml",
                   "bullets": "description", "images": ["image"]}


def _products(catalog: GeneratedCatalog, kind: str = "product") -> Iterator[dict[str, Any]]:
    with catalog.products_jsonl.open("rb") as handle:
        for line in handle:
            record = orjson.loads(line)
            if record.get("kind", "product") == kind:
                yield record


def write_sources(spec: ProfileSpec, seed: int, out: Path, catalog: GeneratedCatalog) -> list[Path]:
    folder = out / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:sources")
    written = [_yaml(folder / "precedence.yaml", PRECEDENCE)]
    written += _erp_csv(folder, catalog, rng)
    stock_seed = rng.random()  # the stock CSV and the IDocs replay one stream: the same readings in both
    written += _erp_xml(folder, catalog, stock_seed)
    written += _prices_and_stock(folder, catalog, stock_seed)
    written += _content(folder, catalog, spec, rng)
    return written


def _yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _de(amount: str | Decimal) -> str:
    return str(amount).replace(".", ",")


def _erp_csv(folder: Path, catalog: GeneratedCatalog, rng: random.Random) -> list[Path]:
    path = folder / "erp_products.csv"
    with path.open("w", encoding="cp1252", errors="replace", newline="") as handle:
        w = csv.writer(handle, delimiter=";")
        w.writerow(["Artikelnummer", "EAN", "Kurztext", "Gewicht", "Gewichtseinheit", "Listenpreis EUR", "Listenpreis USD"])
        for p in _products(catalog):
            v = p.get("values", {})
            weight = (v.get("weight") or {}).get("amount") or ""
            if weight and rng.random() < 0.03:
                weight = str(Decimal(weight) + Decimal("0.25"))  # disagrees with supplier and catalog
            price = v.get("price") or {}
            short = v.get("name:en_US", "").upper()[:40] if rng.random() < 0.05 else ""
            w.writerow([p["identifier"], v.get("ean", ""), short, _de(weight), "KGM" if weight else "",
                        _de(price.get("EUR", "")), _de(price.get("USD", ""))])
    return [path, _yaml(folder / "erp_products.map.yaml", ERP_MAP)]


def _stock(catalog: GeneratedCatalog, seed: float) -> Iterator[tuple[int, dict[str, Any], list[tuple[str, int, int]]]]:
    """(n, product, [(warehouse, quantity, ATP)]) per product, the same for every pass with the same seed; the
    reading's time is _stock_hour(n) o'clock on 2026-03-01 (UTC)."""
    rng = random.Random(seed)
    for n, p in enumerate(_products(catalog)):
        readings = []
        for wh in WAREHOUSES:
            qty = rng.randint(0, 400)
            readings.append((wh, qty, max(0, qty - rng.randint(0, 20))))
        yield n, p, readings


def _plant_segment(warehouse: str, quantity: int) -> str:
    """One plant's E1MARCM with its storage location's E1MARDM, for a `plant/location` warehouse (`WAREHOUSES`)."""
    plant, location = warehouse.split("/")
    return (f'<E1MARCM SEGMENT="1"><WERKS>{plant}</WERKS><E1MARDM SEGMENT="1"><LGORT>{location}</LGORT>'
            f"<LABST>{quantity}</LABST></E1MARDM></E1MARCM>")


def _stock_hour(n: int) -> int:
    return 6 + n % 12


def _erp_xml(folder: Path, catalog: GeneratedCatalog, stock_seed: float) -> list[Path]:
    from xml.sax.saxutils import escape

    path = folder / "erp_matmas.xml"
    with path.open("w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<MATMAS05>\n')
        for n, p, readings in _stock(catalog, stock_seed):
            if n % 10:
                continue
            v = p.get("values", {})
            price = v.get("price") or {}
            segs = "".join(f"<Z1PRICE><KONWA>{c}</KONWA><KBETR>{a}</KBETR></Z1PRICE>" for c, a in sorted(price.items()))
            stock = "".join(_plant_segment(wh, qty) for wh, qty, _atp in readings)
            handle.write(
                f'<IDOC BEGIN="1"><EDI_DC40 SEGMENT="1"><IDOCTYP>MATMAS05</IDOCTYP><CREDAT>20260301</CREDAT>'
                f'<CRETIM>{_stock_hour(n):02d}0000</CRETIM></EDI_DC40><E1MARAM SEGMENT="1"><MATNR>{escape(p["identifier"])}</MATNR>'
                f'<EAN11>{escape(v.get("ean", ""))}</EAN11>{segs}{stock}</E1MARAM></IDOC>\n'
            )
        handle.write("</MATMAS05>\n")
    return [path]


def _prices_and_stock(folder: Path, catalog: GeneratedCatalog, stock_seed: float) -> list[Path]:
    prices, stock = folder / "erp_prices.csv", folder / "erp_stock.csv"
    start = date(2026, 1, 1)
    with prices.open("w", encoding="utf-8", newline="") as ph, stock.open("w", encoding="utf-8", newline="") as sh:
        pw, sw = csv.writer(ph, delimiter=";"), csv.writer(sh)
        pw.writerow(["Kunde", "Artikelnummer", "Ab Menge", "Preis", "Gueltig ab", "Gueltig bis"])
        sw.writerow(["sku", "warehouse", "quantity", "atp", "updated_at"])
        for n, p, readings in _stock(catalog, stock_seed):
            sku = p["identifier"]
            eur = (p.get("values", {}).get("price") or {}).get("EUR")
            if eur and n % 10 == 3:
                for customer in ("CUST_A", "CUST_B", "CUST_C")[: 1 + n % 3]:
                    base = Decimal(eur) * Decimal("0.9")
                    until = (start + timedelta(days=365)).strftime("%d.%m.%Y") if n % 2 else ""
                    for qty, factor in ((1, Decimal(1)), (100, Decimal("0.92"))):
                        pw.writerow([customer, sku, qty, _de((base * factor).quantize(Decimal("0.01"))),
                                     start.strftime("%d.%m.%Y"), until])
            for wh, qty, atp in readings:
                sw.writerow([sku, wh, qty, atp, f"2026-03-01T{_stock_hour(n):02d}:00:00"])
    return [prices, _yaml(folder / "erp_prices.map.yaml", PRICE_MAP), stock,
            _yaml(folder / "erp_stock.map.yaml", STOCK_MAP)]


def _content(folder: Path, catalog: GeneratedCatalog, spec: ProfileSpec, rng: random.Random) -> list[Path]:
    path = folder / "content.jsonl"
    with path.open("wb") as handle:
        for p in _products(catalog):
            if rng.random() >= 0.30:
                continue
            v = p.get("values", {})
            name = {loc: f"{v.get(f'name:{loc}') or p['identifier']} – {loc[:2]} edition" for loc in spec.locales[:2]}
            record: dict[str, Any] = {"sku": p["identifier"], "name": name,
                                      "bullets": {loc: [f"{name[loc]} feature {i}" for i in range(1, 4)] for loc in name}}
            if not p.get("parent"):  # a variant's name and copy are its model's (pim.variant_levels)
                handle.write(orjson.dumps(record) + b"\n")
            if rng.random() < 0.033:
                handle.write(orjson.dumps({"sku": "X" + p["identifier"], "name": {"en_US": "unknown product"}}) + b"\n")
        models = random.Random(f"{rng.random()}:models")  # its own stream: the product records stay as they were
        for n, m in enumerate(_products(catalog, "product_model")):
            picked = models.random() < 0.30 or n == 0  # the first always: a tiny catalog has two models
            if picked and not m.get("parent"):  # bullets are the root model's (a sub-model holds its level only)
                bullets = {loc: [f"{m['code']} shared feature {i}" for i in range(1, 3)] for loc in spec.locales[:2]}
                handle.write(orjson.dumps({"model": m["code"], "bullets": bullets}) + b"\n")
    return [path, _yaml(folder / "content.profile.yaml", CONTENT_PROFILE)]
