"""Generator extension: supplier source files for a profile, derived from the generated products so that
they overlap and conflict with them on purpose.

- `sources/supplier_acme.bmecat.xml` (BMEcat 2005, ECLASS features) + `sources/supplier_acme.map.yaml`:
  about 30% of the products, matched by GTIN; 5% of their weights disagree with the catalog (conflicts);
  1% carry a GTIN no product has (created or quarantined, as the map says).
- `sources/supplier_bolt.csv` (+ `.xlsx` up to 50k rows) + `sources/supplier_bolt.profile.yaml`: about
  20% of the products keyed by the supplier's own article number, decimal comma, German headers."""

from __future__ import annotations

import csv
import random
import re
import zipfile
from datetime import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml
from lxml import etree

from pim.generate.catalog import GeneratedCatalog
from pim.generate.profiles import ProfileSpec

NS = "http://www.bmecat.org/bmecat/2005.1"
WEIGHT_IRDI = "0173-1#02-AAF040#004"
LANG = {"en_US": "eng", "de_DE": "deu", "fr_FR": "fra", "nl_NL": "nld"}
XLSX_LIMIT = 50_000
FIXED_TIME = datetime(2020, 1, 1)


def _fix_zip_times(path: Path) -> None:
    """openpyxl stamps every zip member with the current time: rewrite them with a fixed one so the same
    seed gives the same bytes."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps `modified` at save time, whatever we set
                stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\g<2>", data)
            dst.writestr(fixed, data)
    tmp.replace(path)


def _products(catalog: GeneratedCatalog) -> Iterator[dict[str, Any]]:
    with catalog.products_jsonl.open("rb") as fh:
        for line in fh:
            record = orjson.loads(line)
            if record.get("kind", "product") == "product" and record.get("values", {}).get("ean"):
                yield record


def write_supplier(spec: ProfileSpec, seed: int, out: Path, catalog: GeneratedCatalog) -> list[Path]:
    target = out / "sources"
    target.mkdir(parents=True, exist_ok=True)
    written = [_bmecat(spec, seed, target, catalog), *_bolt(spec, seed, target, catalog)]
    written += _maps(spec, target)
    return written


def _bmecat(spec: ProfileSpec, seed: int, target: Path, catalog: GeneratedCatalog) -> Path:
    rng = random.Random(f"{seed}-acme")
    path = target / "supplier_acme.bmecat.xml"
    el = etree.Element
    with etree.xmlfile(str(path), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("BMECAT", version="2005.1", nsmap={None: NS}):
            header = el("HEADER")
            cat = etree.SubElement(header, "CATALOG")
            for locale in spec.locales:
                if locale in LANG:
                    etree.SubElement(cat, "LANGUAGE").text = LANG[locale]
            etree.SubElement(cat, "CATALOG_ID").text = "acme-1"
            etree.SubElement(cat, "CATALOG_VERSION").text = "1.0"
            etree.SubElement(cat, "CURRENCY").text = "EUR"
            etree.SubElement(etree.SubElement(header, "SUPPLIER"), "SUPPLIER_NAME").text = "ACME Components"
            xf.write("\n")
            xf.write(header, pretty_print=True)  # one element a line, as most suppliers' files: entries name real lines
            with xf.element("T_NEW_CATALOG"):
                xf.write("\n")
                for n, record in enumerate(_products(catalog)):
                    if rng.random() > 0.30:
                        continue
                    xf.write(_bmecat_product(record, n, rng, spec), pretty_print=True)
    return path


def _bmecat_product(record: dict[str, Any], n: int, rng: random.Random, spec: ProfileSpec) -> etree._Element:
    values = record["values"]
    p = etree.Element("PRODUCT")
    etree.SubElement(p, "SUPPLIER_PID").text = f"AC-{n:07d}"
    details = etree.SubElement(p, "PRODUCT_DETAILS")
    wrote = False
    for locale in spec.locales:
        name = values.get(f"name:{locale}")
        if name and locale in LANG:
            etree.SubElement(details, "DESCRIPTION_SHORT", lang=LANG[locale]).text = f"{name} (ACME)"
            wrote = True
    if not wrote:  # BMEcat requires one
        etree.SubElement(details, "DESCRIPTION_SHORT", lang="eng").text = f"ACME part {record['identifier']}"
    ean = values["ean"] if rng.random() > 0.01 else f"9{rng.randrange(10**11, 10**12)}0"
    etree.SubElement(details, "EAN").text = ean
    etree.SubElement(details, "MANUFACTURER_PID").text = f"M{n:07d}"
    weight = values.get("weight")
    if weight and weight.get("amount"):
        amount = float(weight["amount"]) * (1.1 if rng.random() < 0.05 else 1.0)  # 5% disagree with the catalog
        kg = amount / 1000 if weight.get("unit") == "GRAM" else amount
        feats = etree.SubElement(p, "PRODUCT_FEATURES")
        etree.SubElement(feats, "REFERENCE_FEATURE_SYSTEM_NAME").text = "ECLASS-9.0"
        etree.SubElement(feats, "REFERENCE_FEATURE_GROUP_ID").text = "27141141"
        f = etree.SubElement(feats, "FEATURE")
        etree.SubElement(f, "FNAME").text = WEIGHT_IRDI
        etree.SubElement(f, "FVALUE").text = f"{kg:.3f}"
        etree.SubElement(f, "FUNIT").text = "KGM"
    order = etree.SubElement(p, "PRODUCT_ORDER_DETAILS")
    etree.SubElement(order, "ORDER_UNIT").text = "C62"
    etree.SubElement(order, "CONTENT_UNIT").text = "C62"
    etree.SubElement(order, "NO_CU_PER_OU").text = str(rng.choice([1, 1, 5, 10]))
    prices = etree.SubElement(p, "PRODUCT_PRICE_DETAILS")
    base = rng.randrange(100, 50_000) / 100
    for bound, factor in ((1, 1.0), (10, 0.95), (100, 0.9)):
        pp = etree.SubElement(prices, "PRODUCT_PRICE", price_type="net_list")
        etree.SubElement(pp, "PRICE_AMOUNT").text = f"{base * factor:.2f}"
        etree.SubElement(pp, "PRICE_CURRENCY").text = "EUR"
        etree.SubElement(pp, "LOWER_BOUND").text = str(bound)
    return p


BOLT_HEADER = ["Artikelnummer", "EAN", "Bezeichnung", "Gewicht (kg)", "Verpackungseinheit"]


def _bolt_rows(seed: int, catalog: GeneratedCatalog) -> Iterator[list[Any]]:
    rng = random.Random(f"{seed}-bolt")
    for n, record in enumerate(_products(catalog)):
        if rng.random() > 0.20:
            continue
        v = record["values"]
        weight = v.get("weight") or {}
        amount = weight.get("amount")
        kg = (float(amount) / 1000 if weight.get("unit") == "GRAM" else float(amount)) if amount else None
        name = v.get("name:de_DE") or v.get("name:en_US") or ""
        yield [f"B{n:07d}", v["ean"], name, kg, rng.choice([1, 10, 50])]


def _bolt(spec: ProfileSpec, seed: int, target: Path, catalog: GeneratedCatalog) -> list[Path]:
    csv_path = target / "supplier_bolt.csv"
    count = 0
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(BOLT_HEADER)
        for row in _bolt_rows(seed, catalog):
            w.writerow([("" if c is None else f"{c:.3f}".replace(".", ",") if isinstance(c, float) else c) for c in row])
            count += 1
    paths = [csv_path]
    if count <= XLSX_LIMIT:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Artikel")
        ws.append(BOLT_HEADER)
        for row in _bolt_rows(seed, catalog):
            ws.append(row)
        wb.properties.creator = "pim generate"
        wb.properties.created = wb.properties.modified = FIXED_TIME
        xlsx = target / "supplier_bolt.xlsx"
        wb.save(xlsx)
        _fix_zip_times(xlsx)
        paths.append(xlsx)
    return paths


def _maps(spec: ProfileSpec, target: Path) -> list[Path]:
    acme = {
        "supplier": "acme", "family": None, "unmatched": "quarantine",
        "fields": {"short": "name", "ean": "ean"}, "feature_systems": ["ECLASS"],
        "features": {WEIGHT_IRDI: {"attribute": "weight", "unit": "KILOGRAM", "units": {"KGM": "KILOGRAM"}}},
        "price_type": "net_list", "price_attribute": None, "tier_price_list": "purchase_acme",
        "precedence": "precedence.yaml",
    }
    bolt = {
        "source": "supplier:bolt", "pid_column": "Artikelnummer", "gtin_column": "EAN", "decimal": ",",
        "unmatched": "quarantine", "delimiter": ";", "precedence": "precedence.yaml",
        "columns": {"EAN": "ean", "Bezeichnung": "name:de_DE" if "de_DE" in spec.locales else "name:en_US",
                    "Gewicht (kg)": {"to": "weight", "unit": "KILOGRAM"}},
    }
    paths = [target / "supplier_acme.map.yaml", target / "supplier_bolt.profile.yaml"]
    for path, data in zip(paths, (acme, bolt)):
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return paths
