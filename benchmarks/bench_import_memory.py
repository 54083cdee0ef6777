"""Each importer in a process of its own, one after the other, on one loaded catalog: its rate and its own
peak RSS. The other importer benchmarks run every stage in one process, so their peak RSS is the largest of
the catalog load and every import before; the large profile's memory budget (< 1 GiB per importer) is read
here. Stages run in the order a day of imports would: ERP, stock, MATMAS, content, supplier files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness import ROOT, catalog_for, peak_rss_mb

#: The imports, in the order they run (what each reads: `_import`).
STAGES = ("erp csv import (merge)", "erp stock csv import", "erp xml (MATMAS) import (merge)",
          "content jsonl import (merge)", "bmecat import (merge)", "supplier csv import (merge)")


def run(profile: str, workdir: Path) -> list[dict[str, Any]]:
    from benchmarks.bench_importers import catalog_stores

    catalog, _ = catalog_for(profile)
    src = Path(catalog.out) / "sources"
    workdir.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    store, bare = catalog_stores(workdir, catalog, "memory", bare=False)
    loaded = {"stage": "catalog load (products.jsonl, listeners on)", "items": catalog.products,
              "seconds": round(time.perf_counter() - started, 3), "cpu_seconds": round(time.process_time() - cpu, 3),
              "peak_rss_mb": peak_rss_mb()}
    loaded["items_per_s"] = round(loaded["items"] / loaded["seconds"])
    db = Path(store.engine.url.database)
    store.dispose()
    rows = [loaded]
    for stage in STAGES:
        rows.append(_in_child(stage, db, src))
    return rows


def _in_child(stage: str, db: Path, src: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_import_memory", stage, str(db), str(src)],
                          cwd=ROOT.parent, env=env, capture_output=True)
    if proc.returncode != 0:
        return {"stage": stage, "items": 0, "seconds": None, "items_per_s": None, "peak_rss_mb": None,
                "note": "failed: " + proc.stderr.decode(errors="replace")[-300:]}
    return orjson.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _import(stage: str, db: Path, src: Path) -> dict[str, Any]:
    """In the child: open the loaded store with the registered listeners, run one import, time it."""
    from importers.bmecat import import_bmecat, load_map
    from importers.content import ContentProfile, import_content
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from importers.erp_xml import import_erp_xml, load_xml_map
    from importers.supplier_table import import_supplier_table, load_supplier_map
    from pim.registry import product_listeners
    from pim.sources import load_profile
    from pim.store import Store

    store = Store(f"sqlite:///{db}")
    store.listeners.extend(product_listeners(store))
    runs = {
        "erp csv import (merge)": lambda: import_erp_csv(
            src / "erp_products.csv", store, load_profile(ErpCsvMap, src / "erp_products.map.yaml"), map_dir=src),
        "erp stock csv import": lambda: import_erp_csv(
            src / "erp_stock.csv", store, load_profile(ErpCsvMap, src / "erp_stock.map.yaml")),
        "erp xml (MATMAS) import (merge)": lambda: import_erp_xml(
            src / "erp_matmas.xml", store, load_xml_map(None), precedence=src / "precedence.yaml"),
        "content jsonl import (merge)": lambda: import_content(
            src / "content.jsonl", store, load_profile(ContentProfile, src / "content.profile.yaml"), profile_dir=src),
        "bmecat import (merge)": lambda: import_bmecat(
            src / "supplier_acme.bmecat.xml", store, load_map(src / "supplier_acme.map.yaml")),
        "supplier csv import (merge)": lambda: import_supplier_table(
            src / "supplier_bolt.csv", store, load_supplier_map(src / "supplier_bolt.profile.yaml")),
    }
    before = own_peak_mb()
    started, cpu = time.perf_counter(), time.process_time()
    counts = runs[stage]()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.dispose()
    return {"stage": stage, "items": counts.read, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "items_per_s": round(counts.read / seconds) if seconds else None, "peak_rss_mb": own_peak_mb(),
            "note": f"own process (RSS {before} MB before the import); "
                    f"{counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged"}


def own_peak_mb() -> float:
    """This process's peak RSS since it started (VmHWM). ru_maxrss is no use in a child: Linux carries the
    parent's high-water mark through fork and exec, so every child would report at least the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return peak_rss_mb()  # not Linux: the best there is


if __name__ == "__main__":
    print(orjson.dumps(_import(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))).decode())
