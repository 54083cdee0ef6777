"""Media: renditions/s for ~1-megapixel JPEG inputs into three renditions (the full pipeline: read the
original from the asset store, normalise, resize, encode, write, record), side by side with a plain Pillow
loop (open, thumbnail, save) over the same files on the same two worker processes. Then peak RSS over
many assets (ingest + renditions), measured after the first 10% and at the end: it should stay flat. Last,
on the generated catalog of the profile: the image index's first build, and "which products show these
images?" through it against the catalog scan it replaced (the baseline).

Profiles: small = 120 photos / 2,000 assets, medium = 400 / 10,000, large = 1,000 / 10,000;
`small:N` sets the photo count."""

from __future__ import annotations

import io
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.harness import peak_rss_mb

SIZES = {"small": (120, 2000), "medium": (400, 10000), "large": (1000, 10000)}
WORKERS = 2


def _specs() -> list[Any]:
    from media.settings import RenditionSpec

    return [RenditionSpec(name="thumb", max_width=150, max_height=150, fit="crop", format="WEBP", quality=80),
            RenditionSpec(name="medium", max_width=600, max_height=600, format="JPEG", quality=85),
            RenditionSpec(name="large", max_width=1200, max_height=1200, format="JPEG", quality=85)]


def _photo(path: Path, seed: int) -> None:
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((1200, 834))
    noise = Image.effect_noise((1200, 834), 30 + seed % 40)
    Image.merge("RGB", (gradient, noise, gradient.rotate(seed % 360))).save(path, "JPEG", quality=88)


def _tiny(path: Path, i: int) -> None:
    from PIL import Image

    img = Image.new("RGB", (96, 64), (i % 256, (i // 256) % 256, (i // 65536) % 256))
    img.putpixel((i % 96, 0), (255 - i % 256, 0, 0))
    img.save(path, "JPEG", quality=80)


def _plain(path: Path) -> int:
    """The baseline: what a developer would write with Pillow alone (same sizes and formats)."""
    from PIL import Image, ImageOps

    for size, fmt, crop in (((150, 150), "WEBP", True), ((600, 600), "JPEG", False), ((1200, 1200), "JPEG", False)):
        with Image.open(path) as img:
            out = ImageOps.fit(img, size) if crop else img
            if not crop:
                out.thumbnail(size)
            out.save(io.BytesIO(), fmt, quality=85)
    return 3


def _store(workdir: Path, name: str) -> tuple[Any, Any]:
    from media.store_local import LocalAssetStore
    from pim.store import Store

    db = workdir / f"{name}.db"
    db.unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}")
    store.migrate()
    return store, LocalAssetStore(workdir / f"{name}-media")


def _throughput(workdir: Path, photos: int) -> dict[str, Any]:
    from media.ingest import ingest
    from media.renditions import build_renditions

    folder = workdir / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i}.jpg" for i in range(photos)]
    for i, path in enumerate(paths):
        _photo(path, i)
    store, assets = _store(workdir, "throughput")
    ingest(store, [(p.name, "bench") for p in paths], asset_store=assets, base_dir=folder)
    with ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(abs, range(WORKERS)))  # start the workers outside the timed part, for both sides
        started = time.perf_counter()
        counts = build_renditions(store, _specs(), asset_store=assets, executor=pool)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(_plain, paths, chunksize=4))
        baseline = time.perf_counter() - started
    n = counts["renditions"]
    return {"stage": "renditions (1 MP JPEG → 3)", "items": n, "seconds": round(seconds, 3),
            "items_per_s": round(n / seconds, 1), "peak_rss_mb": peak_rss_mb(), "baseline_seconds": round(baseline, 3),
            "note": f"{photos} photos, {WORKERS} processes; baseline: Pillow open+thumbnail/fit+save, same pool"}


def _flat_memory(workdir: Path, count: int) -> list[dict[str, Any]]:
    from media.ingest import ingest
    from media.renditions import build_renditions
    from pim.executor import make_executor

    folder = workdir / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        _tiny(folder / f"{i}.jpg", i)
    store, assets = _store(workdir, "rss")
    rows = []
    for stage, work in (("ingest", lambda pool, tick: ingest(store, [(f"{i}.jpg", "bench") for i in range(count)],
                                                              asset_store=assets, base_dir=folder, executor=pool,
                                                              on_progress=tick)),
                        ("renditions (many assets)", lambda pool, tick: build_renditions(
                            store, _specs()[:2], asset_store=assets, executor=pool, on_progress=tick))):
        done, early = [0], [0.0]

        def tick(n: int) -> None:
            done[0] += n
            if not early[0] and done[0] >= count // 10:
                early[0] = peak_rss_mb()

        with make_executor("thread", WORKERS) as pool:
            started = time.perf_counter()
            work(pool, tick)
            seconds = time.perf_counter() - started
        end = peak_rss_mb()
        rows.append({"stage": stage, "items": count, "seconds": round(seconds, 3),
                     "items_per_s": round(count / seconds, 1), "peak_rss_mb": end,
                     "note": f"peak RSS after 10%: {early[0]} MB, at the end: {end} MB (threads, in-process)"})
    return rows


def run(profile: str, workdir: Path) -> list[dict]:
    name, _, override = profile.partition(":")
    photos, many = SIZES.get(name, SIZES["small"])
    if override.isdigit():
        photos = int(override)
    workdir.mkdir(parents=True, exist_ok=True)
    return [_throughput(workdir, photos), *_flat_memory(workdir, many), *_image_index(workdir, name)]


def _image_index(workdir: Path, profile: str) -> list[dict[str, Any]]:
    from benchmarks.harness import catalog_for, measure
    from media.image_index import USE, refreshed
    from media.ingest import products_using
    from pim.jsonl import import_jsonl
    from pim.structure_files import load_structure_files, save_structure

    catalog, _ = catalog_for(profile)
    store, _ = _store(workdir, "image-index")
    save_structure(store, load_structure_files(Path(catalog.structure_dir)))
    import_jsonl(Path(catalog.products_jsonl), store)
    records = store.count_products() + sum(1 for _ in store.iter_models())
    build = measure("image index: first build over the catalog", records, lambda: refreshed(store),
                    note="every product and model read once (products/s); later refreshes read only what was written")
    with store.engine.connect() as conn:
        refs = [r for (r,) in conn.execute(select(USE.c.ref).distinct().order_by(USE.c.ref).limit(100))]
    found: list[str] = []

    def scan() -> None:  # what products_using did before the index: every model and product, every time
        wanted, parents, showing = set(refs), {}, set()
        for m in store.iter_models():
            parents[m.code] = m.parent
            if any(v in wanted for v in m.values.values() if isinstance(v, str)):
                showing.add(m.code)
        inherited = {code for code, parent in parents.items() if code in showing or parent in showing}
        found.extend(p.identifier for p in store.iter_products()
                     if p.parent in inherited or any(v in wanted for v in p.values.values() if isinstance(v, str)))

    shown: list[str] = []
    lookup = measure("products showing 100 images (indexed lookup)", records,
                     lambda: shown.extend(products_using(store, set(refs))), baseline=scan,
                     note=f"{len(refs)} refs; baseline: the catalog scan it replaced; items = catalog size")
    lookup["note"] += f"; {len(shown)} products found, {len(set(found))} by the scan"
    store.dispose()
    return [build, lookup]
