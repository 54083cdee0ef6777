"""Channel renditions: derived images keyed by asset hash + spec hash, built lazily and incrementally (only
the asset × spec pairs that do not exist yet), so running twice does nothing the second time. One worker
task per asset decodes the original once and produces every missing rendition of it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from functools import partial
from typing import Any

from PIL import Image
from sqlalchemy import select

from media.assets import ASSET, ORIGIN, RENDITION, VALID, rendition_key, resolve
from media.fence import begin_writes, vanished
from media.image_index import products_showing, refresh_image_index
from media.normalize import flatten, normalize
from media.settings import ChannelMedia, Fit, MediaFile, OutputFormat, RenditionSpec
from pim.store.store import batched, now

PAGE = 256  # assets per planning query and per executor window (bounds memory on 10k+ catalogs)
ATTEMPTS = 3  # times a rendition is rendered again when a concurrent gc deleted it before its row went in


# ---------------------------------------------------------------------------------------------- pixels
def render(data: bytes, specs: list[RenditionSpec]) -> list[tuple[RenditionSpec, bytes, tuple[int, int]]]:
    """Decode once, normalise once, then produce each spec's bytes."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            # Let libjpeg decode at a reduced scale (DCT scaling) when the largest rendition allows it.
            side = max(max(s.max_width, s.max_height) for s in specs)
            img.draft(None, (side, side))
        base = normalize(img)
    return [_encode(_resize(base, spec), spec) for spec in specs]


def _resize(img: Image.Image, spec: RenditionSpec) -> Image.Image:
    width, height = img.size
    if spec.fit == Fit.crop:
        ratio = spec.max_width / spec.max_height
        crop_w, crop_h = (width, round(width / ratio)) if width / height < ratio else (round(height * ratio), height)
        crop_w, crop_h = max(1, min(crop_w, width)), max(1, min(crop_h, height))
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        box = (left, top, left + crop_w, top + crop_h)
        scale = min(spec.max_width / crop_w, 1.0)
        size = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
        return img.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    scale = min(spec.max_width / width, spec.max_height / height, 1.0)
    if scale == 1.0:
        return img
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(img: Image.Image, spec: RenditionSpec) -> tuple[RenditionSpec, bytes, tuple[int, int]]:
    out = io.BytesIO()
    if spec.format == OutputFormat.JPEG:
        flatten(img, spec.background).save(out, "JPEG", quality=spec.quality)
    elif spec.format == OutputFormat.WEBP:
        img.save(out, "WEBP", quality=spec.quality, method=4)
    else:
        img.save(out, "PNG", compress_level=6)
    return spec, out.getvalue(), img.size


# ---------------------------------------------------------------------------------------------- worker
def render_asset(job: tuple[str, str, list[RenditionSpec]], *, asset_store: Any) -> list[dict[str, Any]]:
    """Worker task: every missing rendition of one asset, written to the asset store. Picklable in and out."""
    sha, key, specs = job
    rows = []
    for spec, body, (width, height) in render(asset_store.get(key), specs):
        target = rendition_key(sha, spec.spec_hash, spec.extension)
        asset_store.put(target, io.BytesIO(body), content_type=spec.content_type, size=len(body))
        rows.append({"sha256": sha, "spec_hash": spec.spec_hash, "name": spec.name, "key": target,
                     "format": spec.format.value, "width": width, "height": height, "bytes": len(body)})
    return rows


# ---------------------------------------------------------------------------------------------- planning
def plan(store: Any, specs: list[RenditionSpec], *, rules: ChannelMedia | None = None,
         shas: list[str] | None = None, force: bool = False) -> Iterator[tuple[str, str, list[RenditionSpec]]]:
    """(sha, original key, missing specs) for each valid asset that lacks some rendition. Streams by page."""
    by_hash = {s.spec_hash: s for s in specs}
    last = ""
    while True:
        q = select(ASSET.c.sha256, ASSET.c.key, ASSET.c.width, ASSET.c.height).where(
            ASSET.c.status == VALID, ASSET.c.sha256 > last).order_by(ASSET.c.sha256).limit(PAGE)
        if shas is not None:
            q = q.where(ASSET.c.sha256.in_(shas))
        with store.engine.connect() as conn:
            page = conn.execute(q).all()
            have = set() if force else _existing(conn, [r.sha256 for r in page], list(by_hash))
        if not page:
            return
        for row in page:
            if rules is not None and rules.problems(row.width, row.height):
                continue  # not usable on this channel: no renditions for it
            missing = [spec for h, spec in by_hash.items() if (row.sha256, h) not in have]
            if missing:
                yield row.sha256, row.key, missing
        last = page[-1].sha256


def _existing(conn: Any, shas: list[str], hashes: list[str]) -> set[tuple[str, str]]:
    if not shas or not hashes:
        return set()
    q = select(RENDITION.c.sha256, RENDITION.c.spec_hash).where(
        RENDITION.c.sha256.in_(shas), RENDITION.c.spec_hash.in_(hashes))
    return {(a, b) for a, b in conn.execute(q)}


def build_renditions(store: Any, specs: list[RenditionSpec], *, asset_store: Any, executor: Executor | None = None,
                     rules: ChannelMedia | None = None, shas: list[str] | None = None, force: bool = False,
                     on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Build the renditions that are missing (all of them with `force`). Returns counts."""
    counts = {"assets": 0, "renditions": 0, "bytes": 0}
    if not specs:
        return counts
    work = partial(render_asset, asset_store=asset_store)
    jobs = plan(store, specs, rules=rules, shas=shas, force=force)
    while window := [job for _, job in zip(range(PAGE), jobs)]:
        epoch = begin_writes(store)
        results = executor.map(work, window) if executor else map(work, window)
        rows = _record(store, [row for result in results for row in result], window, asset_store, epoch, work)
        counts["assets"] += len(window)
        counts["renditions"] += len(rows)
        counts["bytes"] += sum(r["bytes"] for r in rows)
        if on_progress:
            on_progress(len(window))
    return counts


def _record(store: Any, rows: list[dict[str, Any]], window: list[tuple[str, str, list[RenditionSpec]]],
            asset_store: Any, epoch: int, work: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Record the rendition rows; those whose object a concurrent gc deleted before the row went in
    (media.fence) are rendered again here, up to ATTEMPTS times (then left for the next run). Returns the rows
    recorded."""
    originals = {sha: key for sha, key, _ in window}
    recorded: list[dict[str, Any]] = []
    for attempt in range(1, ATTEMPTS + 1):
        stamp = now()
        with store.begin() as conn:
            gone = vanished(store, conn, epoch, asset_store, [r["key"] for r in rows])  # first: SQLite's lock
            kept = [r for r in rows if r["key"] not in gone]
            store.upsert_rows(conn, RENDITION, [r | {"created_at": stamp} for r in kept], ["sha256", "spec_hash"])
            touched = _touch_showing(store, conn, {r["sha256"] for r in kept})
        if getattr(store, "dialect", "sqlite") == "postgresql":
            with store.begin() as conn:
                _touch_showing(store, conn, {r["sha256"] for r in kept}, skip=touched)
        recorded += kept
        lost = [r for r in rows if r["key"] in gone]
        if not lost or attempt == ATTEMPTS:
            return recorded
        epoch = begin_writes(store)
        redo: dict[str, list[RenditionSpec]] = {}
        for r in lost:
            redo.setdefault(r["sha256"], []).append(_spec(window, r))
        rows = [row for sha, specs in redo.items() for row in work((sha, originals[sha], specs))]
    return recorded


def _spec(window: list[tuple[str, str, list[RenditionSpec]]], row: dict[str, Any]) -> RenditionSpec:
    return next(s for sha, _, specs in window if sha == row["sha256"] for s in specs if s.spec_hash == row["spec_hash"])


def _touch_showing(store: Any, conn: Any, shas: set[str], skip: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """The products showing these assets link their new rendition: a new seq sends them in the next
    incremental export (search, customer deltas), in the transaction that records the renditions. Returns
    the products touched.

    On PostgreSQL a product write can commit between this transaction's read of the image index and its
    commit, and a push in that gap sends the product with its plain link. So after the commit the caller
    touches again the products showing the assets that this first pass did not (`skip`): a write that
    commits later than that second read is pushed only after the renditions are visible."""
    if not shas or not hasattr(store, "touch_products"):
        return set()
    refs = {f"sha256:{sha}" for sha in shas}
    for chunk in batched(sorted(shas), 1000):
        refs.update(conn.execute(select(ORIGIN.c.ref).where(ORIGIN.c.sha256.in_(chunk))).scalars())
    refresh_image_index(store, conn)
    showing = [p for p in products_showing(conn, refs) if p not in skip]
    store.touch_products(conn, showing)
    return set(showing)


def build_for_assets(store: Any, shas: list[str], *, media: MediaFile | None = None,
                     asset_store: Any = None) -> dict[str, int]:
    """Every channel's missing renditions of these assets (on the channels whose rules they pass), built here
    and now: an image uploaded on the product page is linked by the next publish, without waiting for `pim media
    renditions` (a few renditions of one image cost well under a second). Returns counts summed over channels."""
    from media.settings import load_media_file
    from media.storage import open_asset_store

    media = media or load_media_file()
    asset_store = asset_store or open_asset_store(media=media)
    counts = {"assets": 0, "renditions": 0, "bytes": 0}
    for rules in media.channels.values():  # a spec two channels share is built once (same spec hash)
        built = build_renditions(store, rules.renditions, asset_store=asset_store, rules=rules, shas=shas)
        counts = {k: v + built[k] for k, v in counts.items()}
    return counts


def pending(store: Any, specs: list[RenditionSpec], *, rules: ChannelMedia | None = None) -> int:
    """How many assets still need at least one rendition (for progress bars)."""
    return sum(1 for _ in plan(store, specs, rules=rules))


# ---------------------------------------------------------------------------------------------- URLs
def rendition_url(store: Any, ref: str, rendition: str, channel: str, *, media: MediaFile | None = None,
                  asset_store: Any = None, spec: RenditionSpec | None = None, ensure: bool = False) -> str | None:
    """The stable URL of rendition `rendition` of the image `ref` (a path, URL or sha256:<hex>) on `channel`,
    or None when the ref is not a valid asset. With `ensure`, a missing rendition is built now (lazily).

    The URL depends only on the asset's content and the spec, so it is the same on every run; it starts
    with PIM_CDN_BASE_URL when set, else it is the asset store's own URL."""
    from pim.settings import get_settings

    from media.storage import open_asset_store

    if spec is None:
        from media.settings import load_media_file

        spec = (media or load_media_file()).channel(channel).rendition(rendition)
    sha = resolve(store, [ref]).get(ref)
    if sha is None:
        return None
    with store.engine.connect() as conn:
        asset = conn.execute(select(ASSET.c.status).where(ASSET.c.sha256 == sha)).first()
    if asset is None or asset.status != VALID:
        return None
    key = rendition_key(sha, spec.spec_hash, spec.extension)
    asset_store = asset_store or open_asset_store(media=media)
    if ensure:
        build_renditions(store, [spec], asset_store=asset_store, shas=[sha])
    return public_url(asset_store, key, get_settings().cdn_base_url)


def public_url(asset_store: Any, key: str, cdn_base_url: str | None) -> str:
    """An object's URL for the public: behind the CDN base when one is set, else the asset store's own."""
    return f"{cdn_base_url.rstrip('/')}/{key}" if cdn_base_url else asset_store.url(key)


def value_url(store: Any, values: dict[str, Any], attribute: str, rendition: str, channel: str,
              locale: str | None = None, **options: Any) -> str | None:
    """"Rendition R of the asset for attribute A": looks the value up the way values are keyed
    (channel+locale, channel, locale, plain) and returns its rendition URL."""
    from pim.product import value_key

    for key in (value_key(attribute, locale, channel), value_key(attribute, None, channel),
                value_key(attribute, locale, None), attribute):
        ref = values.get(key)
        if isinstance(ref, str) and ref:
            return rendition_url(store, ref, rendition, channel, **options)
    return None


__all__ = ["build_for_assets", "build_renditions", "pending", "plan", "public_url", "render", "rendition_url", "value_url"]
