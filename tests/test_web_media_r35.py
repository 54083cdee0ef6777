"""Round 35, the product page's image upload: it writes where the value's text form writes (a variant's model when
the model holds the image), refuses what cannot take an image on the page, has the text form's stale check, and
builds the image's renditions at once, so the next publish links it; a channel never links a bare `sha256:` ref."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from lxml import etree

from media.assets import RENDITION
from pim.pipeline import publish
from pim.settings import reset_settings
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests import images
from tests.channel_data import seed_products
from tests.test_web_ui import cheap_argon2, csrf, login  # noqa: F401  (cheap_argon2: autouse fixture)

CDN = "https://cdn.example.com"


@pytest.fixture
def media_home(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PIM_HOME with a media.yaml that gives ecommerce a listing and a Google rendition, served behind a CDN."""
    monkeypatch.setenv("PIM_CDN_BASE_URL", CDN)
    reset_settings()
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "media.yaml").write_text(yaml.safe_dump({"channels": {"ecommerce": {
        "listing": "listing",
        "renditions": [{"name": "listing", "max_width": 100, "max_height": 100, "format": "WEBP"},
                       {"name": "gmc_main", "max_width": 300, "max_height": 300, "format": "JPEG"}]}}}),
        encoding="utf-8")
    return pim_env


@pytest.fixture
def web(store: Store, media_home: Path) -> TestClient:
    """The seeded catalog (runner-red is a variant of runner_model, which holds its image); editors ed and al."""
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    add_user(store, "al", "correct horse", "editor")
    return TestClient(create_app(store))


def _upload(web: TestClient, sku: str, photo: bytes, key: str = "image", page: str | None = None) -> object:
    """Posts the product page's media form as the page wrote it (its hidden fields), with `photo` for `key`."""
    html = page if page is not None else web.get(f"/products/{sku}?channel=ecommerce&locale=en_US").text
    form = re.search(r'<form method="post" action="/products/[^"]+/media".*?</form>', html, re.S).group(0)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value=\'?"?([^\'"]*)', form))
    shown = {name: value for name, value in re.findall(r'name="(shown\[[^\]]+\])" value=\'([^\']*)\'', form)}
    return web.post(f"/products/{sku}/media", data={**hidden, **shown, "key": key},
                    files={"file": ("photo.jpg", photo, "image/jpeg")}, follow_redirects=False)


def _ref(photo: bytes) -> str:
    return "sha256:" + hashlib.sha256(photo).hexdigest()


def test_an_upload_on_a_variant_goes_to_the_model_that_holds_the_image(web: TestClient, store: Store) -> None:
    login(web)
    photo = images.photo_jpeg(600, 600, 1)
    resp = _upload(web, "runner-red", photo)
    assert resp.status_code == 303
    assert store.get_model("runner_model").values["image"] == _ref(photo)
    assert "image" not in store.get_product("runner-red").values
    history = web.get("/products/runner-red").text.split('<table class="history">')[1]
    assert f"<code>image</code> <small>(on model runner_model)</small></td><td>runner.jpg → {_ref(photo)}" in history


def test_an_upload_for_an_attribute_that_takes_no_image_is_refused_on_the_page(web: TestClient, store: Store) -> None:
    login(web)
    resp = _upload(web, "complete", images.photo_jpeg(600, 600, 2), key="mpn")
    assert resp.status_code == 422
    assert "Not saved" in resp.text and "&#39;mpn&#39; is a text attribute, not an image" in resp.text
    assert store.get_product("complete").values["mpn"] == "RN-1"


def test_an_upload_from_a_page_another_upload_changed_since_is_refused_with_who_did_it(web: TestClient,
                                                                                      store: Store) -> None:
    other = TestClient(web.app)
    login(web)
    login(other, "al")
    stale_page = web.get("/products/runner-red?channel=ecommerce&locale=en_US").text
    theirs, mine = images.photo_jpeg(600, 600, 3), images.photo_jpeg(600, 600, 4)
    assert _upload(other, "runner-red", theirs).status_code == 303
    resp = _upload(web, "runner-red", mine, page=stale_page)
    assert resp.status_code == 409
    assert "image: changed by <strong>al</strong> since you opened the page" in resp.text
    assert store.get_model("runner_model").values["image"] == _ref(theirs)


def test_an_uploaded_image_has_its_channel_renditions_at_once(web: TestClient, store: Store) -> None:
    login(web)
    photo = images.photo_jpeg(600, 600, 5)
    assert _upload(web, "complete", photo).status_code == 303
    with store.engine.connect() as conn:
        built = set(conn.execute(RENDITION.select().with_only_columns(RENDITION.c.name)
                                 .where(RENDITION.c.sha256 == _ref(photo).removeprefix("sha256:"))).scalars())
    assert built == {"listing", "gmc_main"}


def test_the_storefront_links_an_upload_by_its_rendition_with_no_admin_step(web: TestClient, store: Store,
                                                                            tmp_path: Path) -> None:
    login(web)
    photo = images.photo_jpeg(600, 600, 6)
    assert _upload(web, "complete", photo).status_code == 303
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    catalog = orjson.loads(Path(next(p for p in result.locations if "en_US" in p)).read_bytes())
    image = {p["identifier"]: p["image"] for p in catalog["products"]}["complete"]
    sha = _ref(photo).removeprefix("sha256:")
    assert image.startswith(f"{CDN}/renditions/{sha[:2]}/{sha}/") and image.endswith(".webp")


def _unbuilt_upload(store: Store) -> str:
    """A valid image taken in as an upload, set on `complete`, whose renditions were never built (an upload
    before round 35, or one whose renditions failed): its `sha256:` ref."""
    from media.ingest import ingest_bytes
    from media.storage import open_asset_store
    from pim.web.editing import apply_values

    photo = images.photo_jpeg(600, 600, 7)
    assert ingest_bytes(store, photo, "photo.jpg", asset_store=open_asset_store())["problem"] is None
    assert not apply_values(store, "complete", {"image": _ref(photo)}, "ed").errors
    return _ref(photo)


def test_the_storefront_leaves_out_an_upload_whose_rendition_is_not_built(web: TestClient, store: Store,
                                                                         tmp_path: Path) -> None:
    _unbuilt_upload(store)
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    catalog = orjson.loads(Path(next(p for p in result.locations if "en_US" in p)).read_bytes())
    # its family requires the image: blocked rather than published without it (round 36, test_channels_r36g)
    assert "complete" not in {p["identifier"] for p in catalog["products"]}
    assert any(r.startswith("storefront:image_") for r in result.blocked["complete"])


def test_google_blocks_an_upload_whose_rendition_is_not_built_instead_of_a_dead_link(web: TestClient, store: Store,
                                                                                    tmp_path: Path) -> None:
    ref = _unbuilt_upload(store)
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    feed = etree.tostring(etree.parse(next(p for p in result.locations if p.endswith(".en_US.xml")))).decode()
    assert ref.removeprefix("sha256:") not in feed
    assert f"google_merchant:en_US:image_not_rendered:{ref}:run pim media renditions --channel ecommerce and publish " \
           "again" in result.blocked["complete"]
