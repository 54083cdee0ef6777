"""Completeness budgets: full scoring (2 channels × 4 locales), rescoring one product inside its write, and
the report. Products are synthetic (seeded), sized by profile: small 5k, medium 50k, large 1M, or `name:N`.
Baselines: a plain loop over the same values (scoring), the same write without the listener (rescoring).
Rebuild rows carry CPU seconds (this process plus its worker processes): the machine is often shared.
The time inside the listener during a merge import that only changes prices, with and without `before=`.
Then the same full rebuild on the generator's catalog for the profile (pim.generate, realistic families and
fill rates), imported without the listener, rebuilt single-process and with 2 worker processes."""

from __future__ import annotations

import random
import resource
import time
from pathlib import Path
from typing import Any

SIZES = {"small": 5_000, "medium": 50_000, "large": 1_000_000}
LOCALES = ["en_US", "de_DE", "fr_FR", "it_IT"]


def _size(profile: str) -> int:
    name, _, n = profile.partition(":")
    return int(n) if n else SIZES.get(name, 5_000)


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _structure() -> dict[str, list[Any]]:
    from pim.structure import Attribute, Category, Channel, Currency, Family, Locale

    attrs = [Attribute(code="sku", type="identifier"), Attribute(code="name", type="text", localizable=True),
             Attribute(code="description", type="textarea", localizable=True, scopable=True),
             Attribute(code="price", type="price_collection"),
             Attribute(code="weight", type="metric", metric_family="Weight", default_unit="KILOGRAM"),
             Attribute(code="ean", type="text"), Attribute(code="picture", type="image")]
    attrs += [Attribute(code=f"spec_{i}", type="text") for i in range(8)]
    codes = [a.code for a in attrs]
    req = ["sku", "name", "description", "price", "weight", "ean", "picture", "spec_0", "spec_1"]
    return {
        "locale": [Locale(code=c) for c in LOCALES], "currency": [Currency(code="EUR"), Currency(code="USD")],
        "attribute": attrs, "category": [Category(code="master")],
        "channel": [Channel(code="ecommerce", locales=LOCALES, currencies=["EUR", "USD"], category_tree="master"),
                    Channel(code="print", locales=LOCALES, currencies=["EUR"], category_tree="master")],
        "family": [Family(code=f"family_{i}", attributes=codes, requirements={"ecommerce": req, "print": req[:5]})
                   for i in range(10)],
    }


def _products(n: int, seed: int = 42) -> Any:
    from pim.product import Product

    rnd = random.Random(seed)
    for i in range(n):
        values: dict[str, Any] = {"price": {"EUR": "10.00", "USD": "11.00"} if rnd.random() < 0.8 else {"EUR": "10.00"},
                                  "weight": {"amount": "1.5", "unit": "KILOGRAM"}, "ean": f"{i:013d}", "picture": f"img/{i}.jpg",
                                  "spec_0": "x", "spec_1": "y" if rnd.random() < 0.7 else None}
        for loc in LOCALES:
            if rnd.random() < 0.9:
                values[f"name:{loc}"] = f"Product {i} {loc}"
            if rnd.random() < 0.6:
                values[f"description:{loc}@ecommerce"] = "Text"
        yield Product(identifier=f"p{i:07d}", family=f"family_{i % 10}", values=values)


def _row(stage: str, items: int, seconds: float, baseline: float | None = None, note: str = "",
         cpu: float | None = None) -> dict[str, Any]:
    row = {"stage": stage, "items": items, "seconds": round(seconds, 4), "items_per_s": round(items / seconds, 1) if seconds else None,
           "peak_rss_mb": round(_rss(), 1), "baseline_seconds": None if baseline is None else round(baseline, 4)}
    if cpu is not None:
        row["cpu_seconds"] = round(cpu, 4)
    if note:
        row["note"] = note
    return row


def _cpu() -> float:
    """CPU seconds of this process plus its finished children (the rebuild's worker processes)."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def _timed_rebuild(store: Any, workers: int) -> tuple[int, float, float]:
    from pim.completeness_rebuild import rebuild

    t, c = time.perf_counter(), _cpu()
    products = rebuild(store, workers=workers)
    return products, time.perf_counter() - t, _cpu() - c


def run(profile: str, workdir: Path) -> list[dict]:
    from pim.catalog import Structure
    from pim.completeness import Requirements, report
    from pim.rescore import completeness_listener
    from pim.store import Store

    n = _size(profile)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "completeness_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}", batch_size=5000)
    store.migrate()
    items = _structure()
    for kind, values in items.items():
        store.put_structure(kind, values)
    reqs = Requirements(Structure.from_items(items))
    rows = []

    start, plain = time.perf_counter(), 0.0
    scored = 0
    for p in _products(n):
        t = time.perf_counter()
        sum(1 for v in p.values.values() if v)  # plain loop over the same values
        plain += time.perf_counter() - t
        scored += len(reqs.score(p.family, p.values, p.identifier))
    rows.append(_row("completeness_score_in_memory", scored, time.perf_counter() - start, plain))

    t = time.perf_counter()
    store.upsert_products(_products(n))  # no listener yet: the plain write
    write = time.perf_counter() - t
    for workers in (1, 2):
        _, seconds, cpu = _timed_rebuild(store, workers)
        rows.append(_row(f"completeness_full_rebuild_stored_{workers}w", scored, seconds, write, cpu=cpu,
                         note="items: scores (product × channel × locale); baseline: the plain product write; "
                              "cpu: this process and its workers"))

    store.listeners.append(completeness_listener(store))
    sample = list(_products(200, seed=7))
    t = time.perf_counter()
    for i, p in enumerate(sample):
        p.values["spec_1"] = None if i % 2 else "changed"
        store.upsert_products([p.model_copy(update={"identifier": f"p{i:07d}"})])
    with_listener = time.perf_counter() - t
    store.listeners.clear()
    t = time.perf_counter()
    for i, p in enumerate(sample):
        p.values["spec_1"] = "again" if i % 2 else None
        store.upsert_products([p.model_copy(update={"identifier": f"p{i:07d}"})])
    rows.append(_row("rescore_one_product_write", len(sample), with_listener, time.perf_counter() - t))

    t = time.perf_counter()
    for _ in range(10):
        report(store, "ecommerce")
    rows.append(_row("gate_report", n, (time.perf_counter() - t) / 10))
    rows += _merge_writes(store, min(n, 5000))
    store.dispose()
    if n <= 100_000:  # the generated large catalog takes longer to generate and import than to score
        rows += _generated(profile, workdir)
    return rows


def _merge_writes(store: Any, n: int) -> list[dict[str, Any]]:
    """A merge import that only changes price amounts (still filled), n products in batches of 1000: the time
    spent inside the completeness listener when it is told nothing about the stored state (it rescores every
    product) and when it gets `before=` (it skips them). Baseline: the whole merge write."""
    from datetime import UTC, datetime

    from pim.merge import Merger
    from pim.product import Provenance
    from pim.rescore import completeness_listener

    listener = completeness_listener(store)
    spent = [0.0, 0.0]  # wall, cpu inside the listener

    def timed(with_before: bool) -> Any:
        def hook(conn: Any, identifiers: list[str], records: Any = None, before: Any = None) -> None:
            t, c = time.perf_counter(), time.process_time()
            listener(conn, identifiers, records=records, before=before if with_before else None)
            spent[0] += time.perf_counter() - t
            spent[1] += time.process_time() - c
        return hook

    products = list(_products(n))
    rows = []
    for round_, stage in enumerate(["warm-up", "merge_listener_without_before", "merge_listener_with_before"]):
        at = Provenance(source="content", at=datetime.now(UTC))  # the named owner: its values win
        batch = [p.model_copy(update={"source": at, "values": {**p.values, "price": {"EUR": f"{10 + round_}.00", "USD": "11.00"}}})
                 for p in products]
        store.listeners[:] = [timed(stage.endswith("with_before"))]
        spent[:] = [0.0, 0.0]
        t = time.perf_counter()
        for start in range(0, n, 1000):
            Merger().bind(store.structure()).write(store, batch[start:start + 1000])
        write = time.perf_counter() - t
        if stage != "warm-up":
            rows.append(_row(stage, n, spent[0], write, cpu=spent[1],
                             note=f"time inside the listener: {spent[1] / n * 1e6:.0f} µs CPU/product; baseline: the whole merge write"))
    store.listeners.clear()
    return rows


def _generated(profile: str, workdir: Path) -> list[dict[str, Any]]:
    from benchmarks.harness import catalog_for
    from pim.jsonl import import_jsonl
    from pim.scoring_tables import COMPLETENESS
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure
    from sqlalchemy import func, select

    catalog, _ = catalog_for(profile)
    db = workdir / "completeness_generated.db"
    store = Store(f"sqlite:///{db}", batch_size=5000)
    store.migrate()
    save_structure(store, load_structure_files(catalog.structure_dir, store.structure()))
    t = time.perf_counter()
    import_jsonl(catalog.products_jsonl, store)  # store.listeners is empty: the import without scoring
    write = time.perf_counter() - t
    rows = []
    for workers in (1, 2):
        products, seconds, cpu = _timed_rebuild(store, workers)
        with store.engine.connect() as conn:
            scores = conn.execute(select(func.count()).select_from(COMPLETENESS)).scalar_one()
        rows.append(_row(f"generated_full_rebuild_stored_{workers}w", scores, seconds, write, cpu=cpu,
                         note=f"{products} generated products, {products / seconds:.0f} products/s; "
                              "items: scores; baseline: the JSONL import without scoring"))
    rows.append(_aged_scan(store, products))
    store.dispose()
    return rows


def _aged_scan(store: Any, products: int) -> dict[str, Any]:
    """What an incremental search push of a channel with age rules adds: finding the products whose price or
    stock reading crossed the limit since the last push (pim.gate.aged_between), over the whole catalog."""
    from datetime import UTC, datetime, timedelta

    from pim.gate import aged_between

    s = store.structure()
    channel = next(iter(s.channels))
    s.channels[channel] = s.channels[channel].model_copy(update={"gate": s.channels[channel].gate.model_copy(
        update={"block_on": ["stale_price", "stale_stock"], "max_price_age_days": 30, "max_stock_age_days": 2})})
    until = datetime.now(UTC)
    t, cpu = time.perf_counter(), _cpu()
    found = aged_between(store, s, channel, until - timedelta(days=1), until)
    seconds = time.perf_counter() - t
    return _row("age_rule_scan (aged_between)", products, seconds, cpu=_cpu() - cpu,
                note=f"{len(found)} products crossed in a one-day window; items: products read (price provenance "
                     "times + stock times)")
