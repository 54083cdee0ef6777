"""Supplier imports on the generated profile: BMEcat (streaming lxml) and supplier CSV, each merged onto
the generated catalog, beside the plain parse of the same file (lxml iterparse / csv.reader)."""

from __future__ import annotations

import csv
from pathlib import Path

from lxml import etree

from benchmarks.harness import BMECAT, CSV_JSON, catalog_for, measure


def _parse_bmecat(path: Path) -> int:
    n = 0
    for _, el in etree.iterparse(str(path), events=("end",), resolve_entities=False, no_network=True):
        if etree.QName(el).localname == "PRODUCT":
            n += 1
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
    return n


def _parse_csv(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.reader(fh, delimiter=";")) - 1


def run(profile: str, workdir: Path) -> list[dict]:
    from importers.bmecat import import_bmecat, load_map
    from importers.supplier_table import import_supplier_table, load_supplier_map
    from benchmarks.bench_importers import catalog_stores
    from pim.sources import refresh_gtin_index

    catalog, _ = catalog_for(profile)
    src = Path(catalog.out) / "sources"
    workdir.mkdir(parents=True, exist_ok=True)
    store, bare = catalog_stores(workdir, catalog, "supplier")
    bmecat, bmap = src / "supplier_acme.bmecat.xml", load_map(src / "supplier_acme.map.yaml")
    table, tmap = src / "supplier_bolt.csv", load_supplier_map(src / "supplier_bolt.profile.yaml")
    rows = [
        measure("gtin index (first use: reads the catalog once)", lambda n: n,
                lambda: refresh_gtin_index(store, "ean")),
        measure("bmecat import (merge)", lambda c: c.read, lambda: import_bmecat(bmecat, store, bmap),
                baseline=lambda: _parse_bmecat(bmecat), budget=BMECAT),
        measure("bmecat import (merge, no listener)", lambda c: c.read, lambda: import_bmecat(bmecat, bare, bmap),
                baseline=lambda: _parse_bmecat(bmecat), note="store without the completeness listener; includes the first GTIN index fill"),
        measure("bmecat re-import (unchanged)", lambda c: c.read, lambda: import_bmecat(bmecat, store, bmap),
                baseline=lambda: _parse_bmecat(bmecat), budget=BMECAT),
        measure("supplier csv import (merge)", lambda c: c.read, lambda: import_supplier_table(table, store, tmap),
                baseline=lambda: _parse_csv(table), budget=CSV_JSON),
        measure("supplier csv import (merge, no listener)", lambda c: c.read, lambda: import_supplier_table(table, bare, tmap),
                baseline=lambda: _parse_csv(table), note="store without the completeness listener"),
        measure("supplier csv re-import (unchanged)", lambda c: c.read, lambda: import_supplier_table(table, store, tmap),
                baseline=lambda: _parse_csv(table), budget=CSV_JSON),
    ]
    store.dispose()
    bare.dispose()
    return rows
