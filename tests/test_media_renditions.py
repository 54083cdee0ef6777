"""Renditions on a real database: incremental, idempotent, keyed by asset + spec, with stable URLs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from media.assets import RENDITION
from media.ingest import ingest
from media.renditions import build_renditions, rendition_url, value_url
from media.settings import ChannelMedia, MediaFile, RenditionSpec
from media.store_local import LocalAssetStore
from pim.executor import make_executor
from pim.settings import reset_settings
from pim.store import Store
from tests import images

THUMB = RenditionSpec(name="thumb", max_width=100, max_height=100, fit="crop", format="WEBP", quality=80)
ZOOM = RenditionSpec(name="zoom", max_width=400, max_height=400, format="JPEG")
SPECS = [THUMB, ZOOM]
MEDIA = MediaFile(channels={"ecommerce": ChannelMedia(renditions=SPECS)})


@pytest.fixture
def assets(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


@pytest.fixture
def ingested(store: Store, assets: LocalAssetStore, tmp_path: Path) -> Store:
    folder = tmp_path / "in"
    folder.mkdir()
    files = {"a.jpg": images.photo_jpeg(600, 400, 1), "b.png": images.transparent_png(),
             "c.jpg": images.photo_jpeg(300, 300, 2), "bad.jpg": images.truncated_jpeg()}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    ingest(store, [(n, "erp") for n in files], asset_store=assets, base_dir=folder)
    return store


def rows(store: Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(RENDITION.c.sha256, RENDITION.c.name, RENDITION.c.key)).all())


def test_every_valid_asset_gets_every_rendition(ingested: Store, assets: LocalAssetStore) -> None:
    counts = build_renditions(ingested, SPECS, asset_store=assets)
    assert counts["assets"] == 3 and counts["renditions"] == 6
    for _, name, key in rows(ingested):
        img = Image.open(io.BytesIO(assets.get(key)))
        assert img.format == ("WEBP" if name == "thumb" else "JPEG")
        if name == "thumb":  # square crop, never upscaled (the 40×20 PNG gives 20×20)
            assert img.width == img.height and img.width in (100, 20)
        else:
            assert max(img.size) <= 400


def test_second_run_builds_nothing(ingested: Store, assets: LocalAssetStore) -> None:
    build_renditions(ingested, SPECS, asset_store=assets)
    assert build_renditions(ingested, SPECS, asset_store=assets)["renditions"] == 0


def test_changed_spec_builds_only_that_spec(ingested: Store, assets: LocalAssetStore) -> None:
    build_renditions(ingested, SPECS, asset_store=assets)
    sharper = THUMB.model_copy(update={"quality": 95})
    counts = build_renditions(ingested, [sharper, ZOOM], asset_store=assets)
    assert counts == {"assets": 3, "renditions": 3, "bytes": counts["bytes"]}


def test_new_asset_gets_renditions_on_the_next_run(ingested: Store, assets: LocalAssetStore, tmp_path: Path) -> None:
    build_renditions(ingested, SPECS, asset_store=assets)
    (tmp_path / "d.png").write_bytes(images.png(500, 500))
    ingest(ingested, [("d.png", "erp")], asset_store=assets, base_dir=tmp_path)
    counts = build_renditions(ingested, SPECS, asset_store=assets)
    assert (counts["assets"], counts["renditions"]) == (1, 2)


def test_forced_rebuild_is_idempotent(ingested: Store, assets: LocalAssetStore) -> None:
    build_renditions(ingested, SPECS, asset_store=assets)
    before = {key: assets.get(key) for _, _, key in rows(ingested)}
    build_renditions(ingested, SPECS, asset_store=assets, force=True)
    assert {key: assets.get(key) for _, _, key in rows(ingested)} == before


def test_fan_out_through_a_process_pool_gives_the_same_renditions(ingested: Store, assets: LocalAssetStore) -> None:
    with make_executor("process", 2) as pool:
        counts = build_renditions(ingested, SPECS, asset_store=assets, executor=pool)
    assert counts["renditions"] == 6 and len(rows(ingested)) == 6


def test_channel_rules_keep_unusable_images_out_of_renditions(ingested: Store, assets: LocalAssetStore) -> None:
    rules = ChannelMedia(renditions=SPECS, min_width=350)
    assert build_renditions(ingested, SPECS, asset_store=assets, rules=rules)["assets"] == 1


def test_rendition_url_is_stable_and_uses_the_cdn(ingested: Store, assets: LocalAssetStore,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_CDN_BASE_URL", "https://cdn.example.com/media/")
    reset_settings()
    url = rendition_url(ingested, "a.jpg", "thumb", "ecommerce", media=MEDIA, asset_store=assets, ensure=True)
    assert url is not None and url.startswith("https://cdn.example.com/media/renditions/") and url.endswith(".webp")
    assert rendition_url(ingested, "a.jpg", "thumb", "ecommerce", media=MEDIA, asset_store=assets) == url
    assert assets.exists(url.removeprefix("https://cdn.example.com/media/"))  # built lazily by ensure=True


def test_rendition_url_is_none_for_a_rejected_or_unknown_image(ingested: Store, assets: LocalAssetStore) -> None:
    assert rendition_url(ingested, "bad.jpg", "thumb", "ecommerce", media=MEDIA, asset_store=assets) is None
    assert rendition_url(ingested, "nope.jpg", "thumb", "ecommerce", media=MEDIA, asset_store=assets) is None


def test_value_url_finds_the_attribute_value_for_the_channel_and_locale(ingested: Store,
                                                                        assets: LocalAssetStore) -> None:
    values = {"picture:en_US": "c.jpg", "picture": "a.jpg"}
    by_locale = value_url(ingested, values, "picture", "zoom", "ecommerce", "en_US", media=MEDIA, asset_store=assets)
    default = value_url(ingested, values, "picture", "zoom", "ecommerce", "de_DE", media=MEDIA, asset_store=assets)
    assert by_locale and default and by_locale != default


def test_unknown_rendition_name_is_a_config_error_listing_the_declared_ones(ingested: Store) -> None:
    from media.errors import MediaConfigError

    with pytest.raises(MediaConfigError, match="unknown rendition 'hero'") as caught:
        rendition_url(ingested, "a.jpg", "hero", "ecommerce", media=MEDIA)
    assert caught.value.hint == "declared: thumb, zoom"
