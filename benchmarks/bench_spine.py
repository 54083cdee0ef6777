"""The spine end to end on a generated catalog, on SQLite: generate, structure load, JSONL import (and an
unchanged re-import), storefront publish, JSONL export. Baselines: YAML parse of the structure files,
orjson parse of the JSONL file, and a plain streaming read of the products from the store.

BENCH_SPINE_STAGES=generate,import (comma list of generate, structure, import, reimport, publish, export)
runs a subset, e.g. for the large profile. The opt-in stage `import-completeness` imports into a second, empty
database with only the completeness listener registered: it separates the import's own cost from the other
product listeners (e.g. the grid index)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import catalog_for, measure, parse_jsonl, peak_rss_mb


def run(profile: str, workdir: Path) -> list[dict[str, Any]]:
    from pim.jsonl import export_jsonl, import_jsonl
    from pim.pipeline import publish
    from pim.settings import Settings
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure

    stages = set(os.environ.get("BENCH_SPINE_STAGES", "generate,structure,import,reimport,publish,export").split(","))
    rows: list[dict[str, Any]] = []
    catalog, cached = catalog_for(profile)
    c = catalog.counts
    records = c["products"] + c["product_models"]
    if "generate" in stages:
        rows.append(_generate_row(profile, catalog, cached, workdir))
    settings = Settings(home=workdir / "home", database_url=f"sqlite:///{workdir / 'pim.db'}")
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store.from_settings(settings)

    def load_structure() -> dict[str, int]:
        return save_structure(store, load_structure_files(catalog.structure_dir, store.structure()))

    def parse_yaml() -> None:
        for path in sorted(catalog.structure_dir.glob("*.yaml")):
            yaml.safe_load(path.read_text(encoding="utf-8"))

    rows.append(measure("structure load", lambda counts: sum(counts.values()), load_structure, baseline=parse_yaml,
                        note="items: structure items; baseline: yaml.safe_load"))

    def parse() -> int:
        return parse_jsonl(catalog.products_jsonl)

    if "import" in stages:
        rows.append(measure("jsonl import", records, lambda: import_jsonl(catalog.products_jsonl, store), baseline=parse,
                            note="SQLite, listeners on; baseline: orjson parse of the file"))
    if "reimport" in stages:
        rows.append(measure("jsonl re-import (unchanged)", records, lambda: import_jsonl(catalog.products_jsonl, store),
                            baseline=parse, note="content hashes: nothing written"))

    if "import-completeness" in stages:
        rows.append(_completeness_only_import(settings, workdir, catalog, records, load_structure_files, save_structure))

    def read_store() -> int:
        return sum(1 for _ in store.iter_products())

    if "publish" in stages:
        rows.append(measure("storefront publish", lambda r: r.published + len(r.blocked),
                     lambda: publish(store, settings.output_dir, channel="storefront"), baseline=read_store,
                     note="items: products through the gate; baseline: stream products from the store"))

    out = workdir / "export.jsonl"

    def export() -> int:
        with out.open("wb") as fh:
            return export_jsonl(store, fh)

    if "export" in stages:
        rows.append(measure("jsonl export", lambda n: n, export, baseline=read_store,
                            note="baseline: stream products from the store"))
    store.dispose()
    return rows


def _generate_row(profile: str, catalog: Any, cached: bool, workdir: Path) -> dict[str, Any]:
    """Generation measured in this process: the cached catalog's own run, or a fresh one (up to 100k products)."""
    from pim.generate import generate_catalog

    if cached and catalog.products <= 100_000:
        row = measure("generate", lambda g: g.products, lambda: generate_catalog(profile, catalog.seed, workdir / "gen"))
        shutil.rmtree(workdir / "gen", ignore_errors=True)
    elif cached:
        row = {"stage": "generate", "items": catalog.products, "seconds": round(catalog.seconds, 3),
               "items_per_s": round(catalog.products / catalog.seconds), "peak_rss_mb": None,
               "note": "cached catalog: time from when it was generated"}
    else:
        row = {"stage": "generate", "items": catalog.products, "seconds": round(catalog.seconds, 3),
               "items_per_s": round(catalog.products / catalog.seconds), "peak_rss_mb": peak_rss_mb()}
    row["note"] = (row.get("note", "") + f" {catalog.products_jsonl.stat().st_size / 1e6:.0f} MB JSONL").strip()
    return row


def _completeness_only_import(settings: Any, workdir: Path, catalog: Any, records: int, load: Any, save: Any) -> dict[str, Any]:
    from pim.jsonl import import_jsonl
    from pim.rescore import completeness_listener
    from pim.store import Store

    other = Store(f"sqlite:///{workdir / 'pim-completeness-only.db'}", batch_size=settings.batch_size)
    other.migrate()
    other.listeners.append(completeness_listener(other))
    save(other, load(catalog.structure_dir, other.structure()))
    row = measure("jsonl import (completeness listener only)", records, lambda: import_jsonl(catalog.products_jsonl, other),
                  baseline=lambda: parse_jsonl(catalog.products_jsonl), note="fresh SQLite, no other product listeners")
    other.dispose()
    return row
