"""Publishing on a generated catalog, on SQLite: the gate alone, then `pim publish` for the storefront,
Google Merchant and search channels (local files). Items are products through the gate (published +
blocked); each channel writes one file (or index) per locale of the scope. Baseline: a plain streaming read
of the products from the store.

BENCH_PUBLISH_CHANNELS=storefront,google_merchant,search,gate selects stages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.harness import catalog_for, measure


def run(profile: str, workdir: Path) -> list[dict[str, Any]]:
    from pim.gate import evaluate
    from pim.jsonl import import_jsonl
    from pim.pipeline import default_scope, publish
    from pim.settings import Settings
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure

    wanted = os.environ.get("BENCH_PUBLISH_CHANNELS", "gate,storefront,google_merchant,search").split(",")
    catalog, _ = catalog_for(profile)
    settings = Settings(home=workdir / "home", database_url=f"sqlite:///{workdir / 'pim.db'}")
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store.from_settings(settings)
    save_structure(store, load_structure_files(catalog.structure_dir, store.structure()))
    import_jsonl(catalog.products_jsonl, store)
    structure = store.structure()
    scope = default_scope(structure)
    locales = len(structure.channels[scope].locales)

    def read_store() -> int:
        return sum(1 for _ in store.iter_products())

    rows = []
    if "gate" in wanted:
        rows.append(measure("gate (evaluate, no publish)", lambda n: n,
                            lambda: sum(1 for _ in evaluate(store, structure, scope, store.iter_products())),
                            baseline=read_store, note=f"scope {scope}; baseline: stream products from the store"))
    for channel in [c for c in wanted if c != "gate"]:
        exporter = "local"
        rows.append(measure(f"{channel} publish", lambda r: r.published + len(r.blocked),
                            lambda ch=channel, ex=exporter: publish(store, settings.output_dir, channel=ch, exporter=ex),
                            baseline=read_store,
                            note=f"{locales} locale files; items: products through the gate; baseline: stream from the store"))
    store.dispose()
    return rows
