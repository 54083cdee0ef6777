"""Customer feeds on SQLite: contracted CSV feeds of 10k SKUs each fanned out over the process Executor
(a scaled number of contracts, extrapolated to 1,000 and reported as such), one BMEcat feed, and a delta
after a small change next to the full build it replaces. Own synthetic catalog: 20k products, 10 brands."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.harness import measure, peak_rss_mb

CONTRACTS = {"small": 8, "medium": 40, "large": 1000}
PRODUCTS = 20_000
BRANDS = 10


def _catalog(store: Any) -> None:
    from pim.commerce import PriceListEntry, put_price_list
    from pim.product import Product
    from tests.feeds_data import load_structure

    load_structure(store)
    store.put_structure("attribute_option", [__import__("pim.structure", fromlist=["AttributeOption"]).AttributeOption(
        attribute="brand", code=f"b{i}") for i in range(BRANDS)])

    def products():  # type: ignore[no-untyped-def]
        for i in range(PRODUCTS):
            sku = f"S{i:06d}"
            yield Product(identifier=sku, family="tool", categories=["drills"], values={
                "sku": sku, "name:en_US": f"Product {i}", "brand": f"b{i % BRANDS}", "price": {"EUR": f"{10 + i % 90}.50"},
                "weight": {"amount": "1.2", "unit": "KILOGRAM"}, "ean": f"40{i:010d}", "eclass_class": "27-11-01-01",
                "pack_size": "10", "min_order_qty": "1", "image": f"img/{sku}.jpg", "note": "=cmd" if i % 97 == 0 else "ok"})

    store.upsert_products(products())
    put_price_list(store, [PriceListEntry(customer=f"c{n}", sku=f"S{i:06d}", currency="EUR", min_qty=Decimal(q), price=Decimal("9.99"))
                           for n in range(4) for i in range(0, PRODUCTS, 10) for q in (1, 10)])


def _contract(n: int, fmt: str = "csv", mode: str = "full") -> Any:
    from tests.feeds_data import contract

    brands = [f"b{(n + k) % BRANDS}" for k in range(5)]  # 5 of 10 brands: 10k SKUs
    return contract(code=f"bench-{fmt}-{n}", customer=f"c{n % 4}", format=fmt, mode=mode,
                    assortment={"rules": [{"brands": brands}]})


def _median_of(n: int, once: Any) -> dict[str, Any]:
    """The median of n measurements by wall time, noting all of them (wall and CPU: the machine is shared)."""
    runs = sorted((once() for _ in range(n)), key=lambda r: r["seconds"])
    row = runs[n // 2]
    row["note"] = (row.get("note", "") + f"; {n} runs, wall " + "/".join(f"{r['seconds']:.3f}" for r in runs)
                   + " s, cpu " + "/".join(f"{r['cpu_seconds']:.3f}" for r in runs) + " s").lstrip("; ")
    return row


def _bmecat_in_run(store: Any, bmecat: Any, out: Path) -> list[dict[str, Any]]:
    """BMEcat inside a delivery run (snapshot, gate and price list already read), and the writer alone."""
    from datetime import date

    from channels.feed_bmecat import BmecatFeedRenderer
    from pim.contracts import AssortmentMatcher
    from pim.feeds import FeedRun, _candidates_full, _items, build_feed
    from pim.gc_policy import paused

    run = FeedRun(store)
    build = build_feed(store, bmecat, out, run=run)
    warm = _median_of(3, lambda: measure("bmecat full feed (in a run)", lambda b: b.rows,
                                         lambda: build_feed(store, bmecat, out, run=run), note="budget 20k products/s"))
    valued = ((r, r.values) for r in _candidates_full(run, store, bmecat, AssortmentMatcher(bmecat.assortment, run.structure)))
    items = [i for _, _, i in _items(store, run.structure, bmecat, valued, date.today(), lambda p, v: True, run, shared=True) if i]
    def write() -> int:
        with paused():  # as inside build_feed
            return BmecatFeedRenderer().write(iter(items), build.plan, out / "writer-only.xml")

    writer = _median_of(3, lambda: measure("bmecat writer only", lambda n: n, write))
    return [warm, writer]


def _snapshot(store: Any) -> dict[str, Any]:
    """A run's catalog snapshot, kept to what the loaded contracts read, and its size estimate (the limit is in
    bytes: pim.feed_snapshot.SNAPSHOT_MAX_BYTES)."""
    from pim.feeds import FeedRun

    run = FeedRun(store)
    row = measure("run snapshot (catalog read once per worker)", lambda index: len(index.order) if index else 0,
                  lambda: run.index(store))
    estimate = run.snapshot_bytes(store, run.diet)
    row["note"] = (f"estimated {estimate / 2**20:.1f} MB ({estimate / max(1, store.count_products()) / 1024:.2f} KB per product), "
                   f"keys kept: {', '.join(sorted(run.diet.keys)) if run.diet else 'all'}")
    return row


def run(profile: str, workdir: Path) -> list[dict[str, Any]]:
    from pim.contracts import put_contracts
    from pim.feeds import build_feed, deliver_all
    from pim.settings import reset_settings
    from pim.store import Store

    os.environ.update({"PIM_HOME": str(workdir / "home"), "PIM_DATABASE_URL": f"sqlite:///{workdir / 'feeds.db'}",
                       "PIM_EXECUTOR": "process", "PIM_WORKERS": str(os.cpu_count() or 2)})
    reset_settings()
    store = Store.from_settings()
    _catalog(store)
    count = CONTRACTS.get(profile.split(":")[0], 8)
    rows: list[dict[str, Any]] = []

    def fan_out(n: int) -> tuple[float, int, int]:
        put_contracts(store, [_contract(k) for k in range(n)])
        started = time.perf_counter()
        summary = deliver_all(store)
        return time.perf_counter() - started, summary.as_dict()["rows"], len(summary.failures)

    # Two sizes give the run's fixed cost (snapshot, gate, price lists per worker) and the cost per extra contract.
    seconds, total, failed = fan_out(count)
    more, more_total, more_failed = fan_out(4 * count)
    per = (more - seconds) / (3 * count)
    setup = max(0.0, seconds - per * count)
    for n, secs, rows_n, fails in ((count, seconds, total, failed), (4 * count, more, more_total, more_failed)):
        rows.append({"stage": f"csv feeds x{n} (10k SKUs each)", "items": rows_n, "seconds": round(secs, 3),
                     "items_per_s": round(rows_n / secs), "peak_rss_mb": peak_rss_mb(), "note": f"failures {fails}"})
    rows[-1]["note"] += (f"; model: {setup:.1f}s fixed + {per:.3f}s per contract -> 1,000 feeds ~ {setup + 1000 * per:.0f}s"
                         " (budget 300s)")

    rows.append(_snapshot(store))
    out = workdir / "out"
    bmecat = _contract(0, "bmecat")
    put_contracts(store, [bmecat])
    rows.append(_median_of(3, lambda: measure("bmecat full feed (single build, cold)", lambda b: b.rows,
                                              lambda: build_feed(store, bmecat, out),
                                              note="T_NEW_CATALOG, 10k of 20k products; budget 20k products/s")))
    rows += _bmecat_in_run(store, bmecat, out)

    delta = _contract(1, "csv", "delta")
    put_contracts(store, [delta])
    from pim.feeds import deliver_contract

    full = measure("full build (delta contract)", lambda r: r.rows, lambda: deliver_contract(store, delta.code, out_dir=out))
    store.upsert_products(p.model_copy(update={"values": {**p.values, "note": "changed"}})
                          for p in store.iter_products(identifiers=[f"S{i:06d}" for i in range(1, 2000, 20)]))
    d = measure("delta build (100 changed)", lambda r: r.rows, lambda: deliver_contract(store, delta.code, out_dir=out),
                note="proportional to the change: compare seconds with the full build")
    d["baseline_seconds"] = full["seconds"]
    rows += [full, d]
    store.dispose()
    return rows
