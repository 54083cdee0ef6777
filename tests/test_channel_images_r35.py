"""Round 35, channels and uploaded images (`sha256:<hex>` values): a channel whose media.yaml declares no renditions
links an upload's stored original behind the public base URL, or leaves it out; no channel output (storefront,
search, Google Merchant, customer feeds) carries the bare ref or a URL built from it; Google says when an upload's
rendition is not built. Also: the demo counts partly blocked products as `pim publish` does, and product page
uploads follow the workspace's media.yaml formats and pixel limit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from lxml import etree

from channels.google_merchant import G
from pim.feeds import build_feed
from pim.pipeline import PublishResult, publish
from pim.settings import reset_settings
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests import images
from tests.channel_data import seed_products
from tests.feeds_data import out_dir, seed_catalog, store_contract
from tests.test_web_media_r35 import _upload
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

CDN = "https://cdn.example.com"
NS = {"g": G}


def _media_yaml(home: Path, channels: dict[str, Any], **top: Any) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "media.yaml").write_text(yaml.safe_dump({**top, "channels": channels}), encoding="utf-8")


def _cdn(monkeypatch: pytest.MonkeyPatch, base: str | None) -> None:
    if base is None:
        monkeypatch.delenv("PIM_CDN_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("PIM_CDN_BASE_URL", base)
    reset_settings()


def _uploaded(store: Store, sku: str, seed: int, size: int = 600, key: str = "image") -> str:
    """A valid image taken in as an upload and set as `sku`'s `key` (as the product page sets it): its ref."""
    from media.ingest import ingest_bytes
    from media.storage import open_asset_store

    photo = images.photo_jpeg(size, size, seed)
    result = ingest_bytes(store, photo, "photo.jpg", asset_store=open_asset_store())
    assert result["problem"] is None
    ref = "sha256:" + hashlib.sha256(photo).hexdigest()
    product = store.get_product(sku)
    product.values[key] = ref
    store.upsert_products([product])
    return ref


def _original(base: str, ref: str) -> str:
    sha = ref.removeprefix("sha256:")
    return f"{base}/originals/{sha[:2]}/{sha}.jpg"


@pytest.fixture
def catalog(store: Store, pim_env: Path) -> Store:
    """The channel test catalog; media.yaml gives ecommerce size rules but no renditions."""
    _media_yaml(pim_env, {"ecommerce": {"min_width": 300, "min_height": 300}})
    seed_products(store)
    return store


def _storefront(store: Store, out: Path) -> tuple[dict[str, Any], str]:
    result = publish(store, out, channel="storefront", scope="ecommerce")
    path = Path(next(p for p in result.locations if "en_US" in p))
    return {d["identifier"]: d for d in orjson.loads(path.read_bytes())["products"]}, path.read_text(encoding="utf-8")


def _search(store: Store, out: Path) -> dict[str, Any]:
    publish(store, out, channel="search", scope="ecommerce", exporter="local")
    path = out / "search" / "products_ecommerce_en_US" / "documents.ndjson"
    return {d["sku"]: d for d in map(orjson.loads, path.read_bytes().splitlines())}


def _google(store: Store, out: Path) -> tuple[PublishResult, dict[str, etree._Element]]:
    result = publish(store, out, channel="google_merchant", scope="ecommerce")
    root = etree.parse(next(p for p in result.locations if p.endswith(".en_US.xml"))).getroot()
    return result, {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}


# ---------------------------------------------------------------------------------------------- storefront
def test_the_storefront_links_an_uploads_original_behind_the_cdn_without_renditions(
        catalog: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, CDN)
    ref = _uploaded(catalog, "complete", 1)
    docs, _ = _storefront(catalog, tmp_path / "out")
    assert docs["complete"]["image"] == _original(CDN, ref)
    assert docs["complete"]["attributes"]["image"] == _original(CDN, ref)


def test_the_storefront_leaves_out_an_upload_it_cannot_link_publicly(catalog: Store, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, None)
    ref = _uploaded(catalog, "complete", 2)
    result = publish(catalog, tmp_path / "out", channel="storefront", scope="ecommerce")
    # its family requires the image: blocked, as Google blocks it (round 36, tests/test_channels_r36g.py)
    assert ("storefront:image_link_not_public:image:set PIM_CDN_BASE_URL or the catalog's media_base_url"
            in result.blocked["complete"])
    text = Path(next(p for p in result.locations if "en_US" in p)).read_text(encoding="utf-8")
    assert ref.removeprefix("sha256:") not in text


def test_the_storefront_leaves_out_an_upload_below_the_channels_size_rules(catalog: Store, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`picture` is not required, so the product is published: without its image."""
    _cdn(monkeypatch, CDN)
    _uploaded(catalog, "complete", 13)
    ref = _uploaded(catalog, "complete", 3, size=120, key="picture")
    docs, text = _storefront(catalog, tmp_path / "out")
    assert "picture" not in docs["complete"]["attributes"] and ref.removeprefix("sha256:") not in text


# ---------------------------------------------------------------------------------------------- search
def test_search_documents_link_an_uploads_original_not_the_ref_behind_the_cdn(
        catalog: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, CDN)
    ref = _uploaded(catalog, "complete", 4)
    assert _search(catalog, tmp_path / "out")["complete"]["image"] == _original(CDN, ref)


def test_search_documents_leave_out_an_upload_without_a_public_url(catalog: Store, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, None)
    _uploaded(catalog, "complete", 5)
    docs = _search(catalog, tmp_path / "out")
    # its family requires the image: no document, as the storefront has no page for it (tests/test_channels_mends_r36.py)
    assert "complete" not in docs


# ---------------------------------------------------------------------------------------------- Google Merchant
def test_google_links_an_uploads_original_not_a_url_built_from_its_hash(catalog: Store, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, CDN)
    ref = _uploaded(catalog, "complete", 6)
    _, items = _google(catalog, tmp_path / "out")
    assert items["complete"].findtext("g:image_link", namespaces=NS) == _original(CDN, ref)


def test_google_blocks_an_upload_without_a_public_url_saying_what_to_set(catalog: Store, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, None)
    ref = _uploaded(catalog, "complete", 7)
    result, items = _google(catalog, tmp_path / "out")
    assert "complete" not in items
    assert ("google_merchant:en_US:image_link_not_public:sha256:set PIM_CDN_BASE_URL or the catalog's "
            "media_base_url") in result.blocked["complete"]
    feed = Path(next(p for p in result.locations if p.endswith(".en_US.xml"))).read_text(encoding="utf-8")
    assert ref.removeprefix("sha256:") not in feed


def test_google_says_an_uploads_rendition_is_not_built(store: Store, pim_env: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, CDN)
    _media_yaml(pim_env, {"ecommerce": {"renditions": [
        {"name": "gmc_main", "max_width": 300, "max_height": 300, "format": "JPEG"}]}})
    seed_products(store)
    ref = _uploaded(store, "complete", 8)
    result, _ = _google(store, tmp_path / "out")
    reasons = result.blocked["complete"]
    assert (f"google_merchant:en_US:image_not_rendered:{ref}:run pim media renditions --channel ecommerce and "
            "publish again") in reasons
    assert not any("unusable_image" in r for r in reasons)


# ---------------------------------------------------------------------------------------------- customer feeds
@pytest.fixture
def feed_catalog(store: Store, pim_env: Path) -> Store:
    """The feeds test catalog (channel b2b, no media.yaml renditions); T1's image is an upload."""
    seed_catalog(store)
    return store


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_feed_rows_link_an_uploads_original_behind_the_contracts_base(feed_catalog: Store, tmp_path: Path,
                                                                      fmt: str) -> None:
    ref = _uploaded(feed_catalog, "T1", 9)
    b = build_feed(feed_catalog, store_contract(feed_catalog, format=fmt), out_dir(tmp_path))
    text = b.path.read_text(encoding="utf-8")
    assert _original("https://cdn.example.com/r", ref) in text and "sha256:" not in text


def test_feed_rows_leave_out_an_upload_without_a_base_url(feed_catalog: Store, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _cdn(monkeypatch, None)
    ref = _uploaded(feed_catalog, "T1", 10)
    b = build_feed(feed_catalog, store_contract(feed_catalog, format="jsonl", media_base_url=None), out_dir(tmp_path))
    rows = {d["sku"]: d for d in map(json.loads, b.path.read_text(encoding="utf-8").splitlines())}
    assert "image" not in rows["T1"]["attributes"]
    assert ref.removeprefix("sha256:") not in b.path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- demo counts
def test_the_demos_google_step_counts_a_partly_blocked_product_as_published(monkeypatch: pytest.MonkeyPatch) -> None:
    from pim import demo_sources

    result = PublishResult(channel="google_merchant", scope="ecommerce", published=2, artifacts=[],
                           blocked={"partly": ["google_merchant:DE-EUR:missing:price:EUR"],
                                    "held": ["google_merchant:en_US:missing:image_link"], "off": ["disabled"]},
                           partly={"partly"})
    monkeypatch.setattr(demo_sources, "publish_as_job", lambda run, channel: result)
    counts = demo_sources.step_google_merchant(object())  # type: ignore[arg-type]
    assert (counts["published"], counts["blocked"], counts["partly_blocked"], counts["disabled"]) == (2, 1, 1, 1)


# ---------------------------------------------------------------------------------------------- uploads
@pytest.fixture
def strict_web(store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The product page under a media.yaml that takes JPEG only, up to 100,000 pixels."""
    _cdn(monkeypatch, CDN)
    _media_yaml(pim_env, {}, allowed_formats=["JPEG"], max_pixels=100_000)
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    login(client)
    return client


def test_an_upload_in_a_format_the_workspace_does_not_allow_is_refused(strict_web: TestClient, store: Store) -> None:
    resp = _upload(strict_web, "complete", images.png(200, 200))
    assert resp.status_code == 422 and "format" in resp.text.lower()
    assert store.get_product("complete").values["image"] == "runner.jpg"


def test_an_upload_over_the_workspaces_pixel_limit_is_refused_and_one_within_it_taken(strict_web: TestClient, store: Store) -> None:
    resp = _upload(strict_web, "complete", images.photo_jpeg(600, 600, 11))
    assert resp.status_code == 422 and "pixel" in resp.text.lower()
    assert store.get_product("complete").values["image"] == "runner.jpg"
    photo = images.photo_jpeg(300, 300, 12)  # within the limit: taken
    assert _upload(strict_web, "complete", photo).status_code == 303
    assert store.get_product("complete").values["image"] == "sha256:" + hashlib.sha256(photo).hexdigest()


def test_an_upload_under_a_media_yaml_that_cannot_be_read_is_refused_saying_so(store: Store, pim_env: Path) -> None:
    """Not taken under the default rules the workspace did not choose."""
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    login(client)
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "media.yaml").write_text("allowed_formats: [JPEG\n", encoding="utf-8")
    resp = _upload(client, "complete", images.photo_jpeg(300, 300, 14))
    assert resp.status_code == 503 and "media.yaml" in resp.text and "upload again" in resp.text
    assert store.get_product("complete").values["image"] == "runner.jpg"
