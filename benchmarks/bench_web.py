"""Web budgets: the product grid with a completeness filter (p95 under 300 ms on the large profile), every
other grid filter, deep keyset pages, and the product page (under 100 ms). Requests go through the real app
(routing, session, templates) with Starlette's test client; the baseline is the bare grid SQL query.

Catalog: the generated catalog of the profile (benchmarks.harness.catalog_for: small 5k, medium 50k,
large 1M, or `name:N`), imported from its JSONL, scored by `pim.completeness_rebuild.rebuild` and indexed by
`pim.grid_index.rebuild` (both timed). A few products then get an edit from the `content` source, as the
UI would write it, so the source filter has a rare value to find. EXPLAIN (QUERY PLAN) of each grid query is
written to <workdir>/grid_plans.txt."""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUESTS = 40
GRID = "/products?channel=ecommerce&locale=en_US"


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def _timed(fn: Any, times: int = REQUESTS) -> list[float]:
    out = []
    for _ in range(times):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _row(stage: str, items: int, seconds: float, baseline: float | None = None, note: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {"stage": stage, "items": items, "seconds": round(seconds, 4),
                           "items_per_s": round(items / seconds) if seconds else None}
    if baseline is not None:
        row["baseline_seconds"] = round(baseline, 4)
    if note:
        row["note"] = note
    return row


def _load(profile: str, workdir: Path) -> tuple[Any, list[dict[str, Any]]]:
    from benchmarks.harness import catalog_for
    from pim import grid_index
    from pim.jsonl import import_jsonl
    from pim.completeness_rebuild import rebuild
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure

    catalog, _ = catalog_for(profile)
    db = workdir / "web_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}", batch_size=5000)
    store.migrate()
    save_structure(store, load_structure_files(catalog.structure_dir, store.structure()))
    import_jsonl(catalog.products_jsonl, store)  # no listeners: scored and indexed in bulk below
    rows = []
    t = time.perf_counter()
    n = rebuild(store, workers=2)
    rows.append(_row("completeness_rebuild", n, time.perf_counter() - t, note="pim.completeness_rebuild.rebuild, 2 workers"))
    t = time.perf_counter()
    n = grid_index.rebuild(store)
    rows.append(_row("grid_index_rebuild", n, time.perf_counter() - t, note="pim.grid_index.rebuild, one transaction"))
    from pim.registry import product_listeners

    store.listeners.extend(product_listeners(store))  # from here on, writes keep both current
    _content_edits(store)
    return store, rows


def _content_edits(store: Any, count: int = 20) -> None:
    from pim.product import Provenance

    at = datetime(2026, 3, 1, tzinfo=UTC)
    edited = []
    for i, product in enumerate(store.iter_products()):
        if i % 997 == 0:
            product.values["name:en_US"] = f"Edited {i}"
            product.provenance["name:en_US"] = Provenance(source="content", ref="ui", at=at)
            edited.append(product)
        if len(edited) == count:
            break
    store.upsert_products(edited)


def _cases(store: Any) -> dict[str, str]:
    """Grid URLs per filter, with values picked from the data: the commonest and the rarest missing
    attribute, a root and a leaf category, a frequent label word, a rare identifier prefix."""
    from sqlalchemy import func, select

    from pim import grid_index as gi

    with store.engine.connect() as conn:
        M = gi.GRID_MISSING
        by_count = conn.execute(select(M.c.attribute, func.count()).where(M.c.channel == "ecommerce", M.c.locale == "en_US")
                                .group_by(M.c.attribute).order_by(func.count().desc())).all()
        C = gi.GRID_CATEGORY
        leaf = conn.execute(select(C.c.category, func.count()).group_by(C.c.category).order_by(func.count())).first()
        ident = conn.execute(select(gi.GRID_PRODUCT.c.product).order_by(gi.GRID_PRODUCT.c.product_id.desc())).first()[0]
    cases = {
        "incomplete": f"{GRID}&completeness=incomplete",
        "complete": f"{GRID}&completeness=complete",
        "below_50": f"{GRID}&completeness=below:50",
        "category_root": f"{GRID}&category=master",
        "category_leaf": f"{GRID}&category={leaf[0]}",
        "category_leaf_incomplete": f"{GRID}&category={leaf[0]}&completeness=incomplete",
        "source_rare": f"{GRID}&source=content",
        "search_word": f"{GRID}&q=helmet",
        "search_identifier": f"{GRID}&q={ident[:-1]}",
        "search_two_words_incomplete": f"{GRID}&q=steel%20lamp&completeness=incomplete",
    }
    if by_count:
        cases["missing_common"] = f"{GRID}&missing={by_count[0][0]}"
        cases["missing_rare"] = f"{GRID}&missing={by_count[-1][0]}"
    return cases


def _explain(store: Any, path: Path, cases: dict[str, str]) -> None:
    from urllib.parse import parse_qsl, urlsplit

    from pim.web.grid import GridFilter, build_query, plan

    structure = store.structure()
    lines = []
    with store.engine.connect() as conn:
        for name, url in cases.items():
            args = dict(parse_qsl(urlsplit(url).query))
            f = GridFilter(**args)
            chosen = plan(conn, f, structure)
            q = build_query(f, structure, plan=chosen)
            sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
            lines += [f"== {name}: driver={chosen.driver[0] + ':' + (chosen.driver[1] if chosen.driver[0] == 'text' else chosen.driver[1].name) if chosen.driver else 'product.id'} counts={chosen.counts}"]
            lines += ["   " + " | ".join(str(c) for c in r[1:]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    path.write_text("\n".join(lines) + "\n")


def run(profile: str, workdir: Path) -> list[dict]:
    from fastapi.testclient import TestClient

    from pim.web import accounts
    from pim.web.app import create_app
    from pim.web.grid import GridFilter, build_query, plan

    workdir.mkdir(parents=True, exist_ok=True)
    store, rows = _load(profile, workdir)
    n = store.count_products()
    accounts.HASH_PARAMS.update(time_cost=1, memory_cost=1024, parallelism=1)
    accounts.add_user(store, "bench", "bench-password", "viewer")
    client = TestClient(create_app(store))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})
    cases = _cases(store)
    _explain(store, workdir / "grid_plans.txt", cases)

    structure = store.structure()
    f = GridFilter(channel="ecommerce", locale="en_US", completeness="incomplete")

    def bare() -> None:
        with store.engine.connect() as conn:
            conn.execute(build_query(f, structure, limit=50, plan=plan(conn, f, structure))).all()

    bare_p95 = _p95(_timed(bare))
    for name, url in cases.items():
        body = client.get(url)
        assert body.status_code == 200, (url, body.status_code)
        shown = body.text.count('href="/products/')
        rows.append(_row(f"grid_{name}_p95", REQUESTS, _p95(_timed(lambda u=url: client.get(u))),
                         bare_p95 if name == "incomplete" else None, note=f"{n} products; first page links {shown}"))
    deep = max(1, n - 200)
    rows.append(_row("grid_incomplete_deep_page_p95", REQUESTS, _p95(_timed(lambda: client.get(f"{cases['incomplete']}&after={deep}")))))
    ids = [p.identifier for i, p in zip(range(n), store.iter_products()) if i % max(1, n // REQUESTS) == 0][:REQUESTS]
    assert all(client.get(f"/products/{i}").status_code == 200 for i in ids[:3])
    it = iter(ids * 2)
    rows.append(_row("product_page_p95", len(ids), _p95(_timed(lambda: client.get(f"/products/{next(it)}"), len(ids)))))
    store.dispose()
    return rows
