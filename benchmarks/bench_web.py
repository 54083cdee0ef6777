"""Web budgets: the product grid with a completeness filter (p95 under 300 ms on the large profile), deep
keyset pages, and the product page (under 100 ms). Requests go through the real app (routing, session,
templates) with Starlette's test client; the baseline is the bare grid SQL query.
Catalog: the completeness benchmark's synthetic products (small 5k, medium 50k, large 1M, or `name:N`),
scored by the same rescoring code the app uses."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_completeness import _products, _row, _size, _structure

REQUESTS = 60


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def _timed(fn: Any, times: int = REQUESTS) -> list[float]:
    out = []
    for _ in range(times):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _load(workdir: Path, n: int) -> Any:
    from pim.rescore import Rescorer
    from pim.store import Store

    db = workdir / "web_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}", batch_size=5000)
    store.migrate()
    for kind, values in _structure().items():
        store.put_structure(kind, values)
    store.upsert_products(_products(n))
    with store.begin() as conn:
        Rescorer().rescore_families(conn, None, None)
    return store


def run(profile: str, workdir: Path) -> list[dict]:
    from fastapi.testclient import TestClient

    from pim.web import accounts
    from pim.web.app import create_app
    from pim.web.grid import GridFilter, build_query

    n = _size(profile)
    workdir.mkdir(parents=True, exist_ok=True)
    store = _load(workdir, n)
    accounts.HASH_PARAMS.update(time_cost=1, memory_cost=1024, parallelism=1)
    accounts.add_user(store, "bench", "bench-password", "viewer")
    client = TestClient(create_app(store))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})
    grid = "/products?channel=ecommerce&locale=en_US&completeness=incomplete"
    assert client.get(grid).status_code == 200

    structure = store.structure()
    f = GridFilter(channel="ecommerce", locale="en_US", completeness="incomplete")

    def bare() -> None:
        with store.engine.connect() as conn:
            conn.execute(build_query(f, structure, limit=50)).all()

    bare_p95 = _p95(_timed(bare))
    rows = [_row("grid_incomplete_p95", REQUESTS, _p95(_timed(lambda: client.get(grid))), bare_p95)]
    deep = max(1, n - 200)
    rows.append(_row("grid_incomplete_deep_page_p95", REQUESTS, _p95(_timed(lambda: client.get(f"{grid}&after={deep}")))))
    rows.append(_row("grid_search_label_p95", 20, _p95(_timed(lambda: client.get("/products?q=Product%2042%20de_DE"), 20))))
    ids = [f"p{i:07d}" for i in range(0, n, max(1, n // REQUESTS))][:REQUESTS]
    assert all(client.get(f"/products/{i}").status_code == 200 for i in ids[:3])
    it = iter(ids * 2)
    rows.append(_row("product_page_p95", len(ids), _p95(_timed(lambda: client.get(f"/products/{next(it)}"), len(ids)))))
    store.dispose()
    return rows
