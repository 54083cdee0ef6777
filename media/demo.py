"""The demo's media step (pim.demo.DEMO_STEPS): image files for the generated catalog's image values, a
media.yaml for the demo channel, then ingest and renditions — so the storefront, Google Merchant and search
steps after it link built renditions, and `pim media problems` has something to show."""

from __future__ import annotations

from typing import Any

DEMO_MEDIA_YAML = """\
# Written by the demo (pim demo / make demo); edit freely: the demo never overwrites it.
channels:
  ecommerce:
    min_width: 500
    min_height: 500
    listing: listing
    renditions:
      - {name: listing, max_width: 400, max_height: 400, fit: fit, format: WEBP, quality: 80}
      - {name: gmc_main, max_width: 800, max_height: 800, fit: fit, format: JPEG, quality: 85}
"""
CHANNEL = "ecommerce"
_WRITTEN = ".images-written"  # marks a catalog folder whose image files are complete


def step_media(run: Any) -> dict[str, Any]:
    from media.image_index import count_catalog_images
    from media.ingest import catalog_refs, ingest, rescore_products_using
    from media.renditions import build_renditions
    from media.settings import load_media_file
    from media.storage import open_asset_store
    from pim.executor import make_executor
    from pim.generate.images import write_images
    from pim.generate.progress import progress_bar

    config = run.settings.home / "media.yaml"
    if not config.exists():
        config.write_text(DEMO_MEDIA_YAML, encoding="utf-8")
    media, store, root = load_media_file(config), run.store, run.catalog_dir
    summary: dict[str, Any] = {}
    marker = root / _WRITTEN
    if not marker.exists():
        written = write_images(root, (ref for ref, _ in catalog_refs(store)), seed=run.seed)
        marker.write_text("ok\n", encoding="utf-8")
        summary |= written.as_dict()
    assets = open_asset_store(media=media)
    with progress_bar("ingesting images", count_catalog_images(store)) as advance, \
            make_executor("thread", max(4, run.settings.workers * 4)) as pool:
        counts = ingest(store, catalog_refs(store), asset_store=assets, media=media, base_dir=root, executor=pool,
                        on_progress=advance)
    rescore_products_using(store, counts)
    summary |= {k: v for k, v in counts.as_dict().items() if v}
    if CHANNEL in media.channels:
        rules = media.channel(CHANNEL)
        with make_executor(run.settings.executor, run.settings.workers) as pool:
            built = build_renditions(store, rules.renditions, asset_store=assets, rules=rules, executor=pool)
        summary["renditions built"] = built["renditions"]
    run.outputs["media (originals and renditions)"] = assets.url("")
    summary["see"] = "pim media problems"
    return summary
