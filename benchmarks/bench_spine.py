"""The spine end to end on a generated catalog, on SQLite: generate, structure load, JSONL import (and an
unchanged re-import), storefront publish, JSONL export. Baselines: YAML parse of the structure files,
orjson parse of the JSONL file, and a plain streaming read of the products from the store."""

from __future__ import annotations

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

    rows: list[dict[str, Any]] = []
    catalog, cached = catalog_for(profile)
    c = catalog.counts
    records = c["products"] + c["product_models"]
    rows.append({"stage": "generate", "items": c["products"], "seconds": round(catalog.seconds, 3),
                 "items_per_s": round(c["products"] / catalog.seconds) if catalog.seconds else None,
                 "peak_rss_mb": None if cached else peak_rss_mb(),
                 "note": "cached catalog: time from when it was generated" if cached else
                 f"{catalog.products_jsonl.stat().st_size / 1e6:.0f} MB JSONL"})

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

    rows.append(measure("jsonl import", records, lambda: import_jsonl(catalog.products_jsonl, store), baseline=parse,
                        note="SQLite, listeners on; baseline: orjson parse of the file"))
    again = measure("jsonl re-import (unchanged)", records, lambda: import_jsonl(catalog.products_jsonl, store),
                    baseline=parse, note="content hashes: nothing written")
    rows.append(again)

    def read_store() -> int:
        return sum(1 for _ in store.iter_products())

    result = measure("storefront publish", lambda r: r.published + len(r.blocked),
                     lambda: publish(store, settings.output_dir, channel="storefront"), baseline=read_store,
                     note="items: products through the gate; baseline: stream products from the store")
    rows.append(result)

    out = workdir / "export.jsonl"

    def export() -> int:
        with out.open("wb") as fh:
            return export_jsonl(store, fh)

    rows.append(measure("jsonl export", lambda n: n, export, baseline=read_store,
                        note="baseline: stream products from the store"))
    store.dispose()
    return rows
