"""ERP and content-team imports on the generated profile, each merged onto the generated catalog, beside
the plain parse of the same file (csv.reader / lxml iterparse / orjson per line)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from benchmarks.harness import CSV_JSON, XML, catalog_for, measure, peak_rss_mb
from benchmarks.storage_floor import narrow_floor, rewrite_floor


def _parse_csv(path: Path, encoding: str = "utf-8") -> int:
    with path.open(encoding=encoding, newline="") as fh:
        return sum(1 for _ in csv.reader(fh, delimiter=";")) - 1


def _parse_xml(path: Path) -> int:
    n = 0
    for _, el in etree.iterparse(str(path), events=("end",), tag="E1MARAM", resolve_entities=False, no_network=True):
        n += 1
        el.clear()
        for node in (el, *el.iterancestors()):
            while node.getprevious() is not None:
                del node.getparent()[0]
    return n


def _parse_jsonl(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if orjson.loads(line) is not None)


def run(profile: str, workdir: Path) -> list[dict]:
    from importers.content import ContentProfile, import_content
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from importers.erp_xml import import_erp_xml, load_xml_map
    from pim.sources import load_profile

    catalog, _ = catalog_for(profile)
    src = Path(catalog.out) / "sources"
    if not (src / "erp_products.csv").is_file():  # a catalog cached before the sources writer existed
        from pim.generate import get_profile
        from pim.generate.sources import write_sources

        write_sources(get_profile(profile), catalog.seed, Path(catalog.out), catalog)
    workdir.mkdir(parents=True, exist_ok=True)
    store, bare = catalog_stores(workdir, catalog, "importers")
    fanned = _copy_store(store, workdir / "importers-fanout.db")
    empty = _empty_store(workdir / "importers-empty.db", catalog)
    loaded = Path(fanned.engine.url.database)  # still the loaded catalog: no import has run on it yet
    erp, erp_map = src / "erp_products.csv", load_profile(ErpCsvMap, src / "erp_products.map.yaml")
    xml, xml_map = src / "erp_matmas.xml", load_xml_map(None)
    content, profile_ = src / "content.jsonl", load_profile(ContentProfile, src / "content.profile.yaml")
    prec = src / "precedence.yaml"
    stock, stock_map = src / "erp_stock.csv", load_profile(ErpCsvMap, src / "erp_stock.map.yaml")
    no_listener = "same import, store without the completeness listener"
    floor_note = ("no merge, validation or listeners: each product row read, 5 keys spliced in, written back "
                  "(benchmarks/storage_floor.py) — the ceiling of any merge import on this storage")
    rows = [
        _floor_row("storage floor: product rows rewritten + 5 candidate rows each", loaded, erp, workdir, floor_note),
        _floor_row("storage floor: product rows rewritten", loaded, erp, workdir, floor_note, with_candidates=False),
        _narrow_row(loaded, erp, workdir),
        measure("erp csv import into an empty catalog (creates)", lambda c: c.read,
                lambda: import_erp_csv(erp, empty, erp_map, map_dir=src), baseline=lambda: _parse_csv(erp, "cp1252"),
                budget=CSV_JSON, note="structure only, listeners on: every product created, nothing to merge against"),
        measure("erp csv import (merge)", lambda c: c.read, lambda: import_erp_csv(erp, store, erp_map, map_dir=src),
                baseline=lambda: _parse_csv(erp, "cp1252"), budget=CSV_JSON),
        measure("erp csv import (merge, no listener)", lambda c: c.read,
                lambda: import_erp_csv(erp, bare, erp_map, map_dir=src), baseline=lambda: _parse_csv(erp, "cp1252"),
                note=no_listener),
        measure("erp csv re-import (unchanged)", lambda c: c.read, lambda: import_erp_csv(erp, store, erp_map, map_dir=src),
                baseline=lambda: _parse_csv(erp, "cp1252"), budget=CSV_JSON),
        measure("erp csv import (merge, 2 import workers)", lambda c: c.read,
                lambda: _with_import_workers(2, lambda: import_erp_csv(erp, fanned, erp_map, map_dir=src)),
                baseline=lambda: _parse_csv(erp, "cp1252"), budget=CSV_JSON,
                note="PIM_IMPORT_WORKERS=2: batches merged in 2 processes, written here; wall time is the point"),
        measure("erp xml (MATMAS) import (merge)", lambda c: c.read,
                lambda: import_erp_xml(xml, store, xml_map, precedence=prec), baseline=lambda: _parse_xml(xml),
                budget=XML),
        measure("erp stock csv import", lambda c: c.read, lambda: import_erp_csv(stock, store, stock_map),
                baseline=lambda: _parse_csv(stock), budget=CSV_JSON),
        measure("content jsonl import (merge)", lambda c: c.read,
                lambda: import_content(content, store, profile_, profile_dir=src), baseline=lambda: _parse_jsonl(content),
                budget=CSV_JSON),
        measure("content jsonl re-import (unchanged)", lambda c: c.read,
                lambda: import_content(content, store, profile_, profile_dir=src), baseline=lambda: _parse_jsonl(content),
                budget=CSV_JSON),
        measure("content jsonl import (merge, no listener)", lambda c: c.read,
                lambda: import_content(content, bare, profile_, profile_dir=src), baseline=lambda: _parse_jsonl(content),
                note=no_listener),
    ]
    store.dispose()
    bare.dispose()
    fanned.dispose()
    empty.dispose()
    return rows


def _floor_row(stage: str, loaded: Path, erp: Path, workdir: Path, note: str, *, with_candidates: bool = True
               ) -> dict[str, Any]:
    """A rewrite floor row, timed inside (benchmarks/storage_floor.py, rewrite_floor): the store copy it works
    on is not part of the floor (before round 16 it was, which understated the floor by up to a third)."""
    n, seconds = rewrite_floor(loaded, erp, workdir, with_candidates=with_candidates)
    started = time.perf_counter()
    _parse_csv(erp, "cp1252")
    return {"stage": stage, "items": n, "seconds": round(seconds, 3), "items_per_s": round(n / seconds),
            "peak_rss_mb": peak_rss_mb(), "baseline_seconds": round(time.perf_counter() - started, 3), "note": note}


def _narrow_row(loaded: Path, erp: Path, workdir: Path) -> dict[str, Any]:
    """The floor on one row per claim (benchmarks/storage_floor.py, narrow_floor); the table's fill is not timed."""
    n, seconds = narrow_floor(loaded, erp, workdir)
    return {"stage": "storage floor, one row per claim (prototype): shown claims read, 5 claims upserted, losers demoted",
            "items": n, "seconds": round(seconds, 3), "items_per_s": round(n / seconds), "peak_rss_mb": peak_rss_mb(),
            "note": "a storage redesign's ceiling: no merge, validation or listeners; the fill from the JSON rows is not timed"}


def _empty_store(path: Path, catalog: Any) -> Any:
    """The catalog's structure and nothing else, listeners registered: a first import creates every product."""
    from pim.registry import product_listeners
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure

    path.unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.listeners.extend(product_listeners(store))
    save_structure(store, load_structure_files(Path(catalog.structure_dir)))
    return store


def _copy_store(store: Any, path: Path) -> Any:
    """Another copy of a loaded catalog store (a file copy, listeners registered): a second first import."""
    import shutil

    from pim.registry import product_listeners
    from pim.store import Store

    store.engine.dispose()  # checkpoints the WAL into the file
    path.unlink(missing_ok=True)
    shutil.copyfile(store.engine.url.database, path)
    copy = Store(f"sqlite:///{path}")
    copy.listeners.extend(product_listeners(copy))
    return copy


def _with_import_workers(workers: int, fn: Any) -> Any:
    import os

    from pim.settings import reset_settings

    os.environ["PIM_IMPORT_WORKERS"] = str(workers)
    reset_settings()
    try:
        return fn()
    finally:
        del os.environ["PIM_IMPORT_WORKERS"]
        reset_settings()


def catalog_stores(workdir: Path, catalog: Any, name: str, *, bare: bool = True) -> tuple[Any, Any]:
    """Two copies of the generated catalog in SQLite: one with the registered product listeners (the
    completeness listener, as `pim` runs), one without, so the listener's share of an import can be read off
    (`bare=False`: the first only, the second is None)."""
    from pim.jsonl import import_jsonl
    from pim.registry import product_listeners
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure

    stores = []
    for suffix, listen in (("", True), ("-bare", False))[:2 if bare else 1]:
        db = workdir / f"{name}{suffix}.db"
        db.unlink(missing_ok=True)
        store = Store(f"sqlite:///{db}")
        store.migrate()
        if listen:
            store.listeners.extend(product_listeners(store))
        save_structure(store, load_structure_files(Path(catalog.structure_dir)))
        import_jsonl(Path(catalog.products_jsonl), store)
        stores.append(store)
    return stores[0], (stores[1] if bare else None)
