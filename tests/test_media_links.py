"""Search documents and the storefront catalog link an image to its listing rendition once media has built
it; an image media rejected is not linked; one media has not seen keeps its plain link."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from media.assets import RENDITION
from media.ingest import ingest
from media.renditions import build_renditions
from media.settings import load_media_file
from media.storage import open_asset_store
from pim.pipeline import publish
from pim.settings import reset_settings
from pim.store import Store
from tests import images
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, load_catalog, publish_search

CDN = "https://cdn.example.com"
EN = "products_ecommerce_en_US"


@pytest.fixture
def media_catalog(store: Store, meili_env: ServedDouble, pim_env: Path, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Store:
    """The search catalog; media.yaml gives ecommerce a thumb and a zoom rendition and lists with zoom. The red
    headphones' image is a good photo, the black ones' a truncated file; the cable has none."""
    monkeypatch.setenv("PIM_CDN_BASE_URL", CDN)
    reset_settings()
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "media.yaml").write_text(yaml.safe_dump({"channels": {"ecommerce": {
        "renditions": [{"name": "thumb", "max_width": 100, "max_height": 100, "format": "WEBP"},
                       {"name": "zoom", "max_width": 400, "max_height": 400, "format": "JPEG"}],
        "listing": "zoom"}}}), encoding="utf-8")
    load_catalog(store)
    folder = tmp_path / "photos"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "HP-100-RED.jpg").write_bytes(images.photo_jpeg(600, 600, 1))
    (folder / "img" / "HP-100-BLK.jpg").write_bytes(images.truncated_jpeg())
    ingest(store, [("img/HP-100-RED.jpg", "erp"), ("img/HP-100-BLK.jpg", "erp")], asset_store=open_asset_store(),
           base_dir=folder)
    return store


def _zoom_key(store: Store) -> str:
    with store.engine.connect() as conn:
        return conn.execute(RENDITION.select().with_only_columns(RENDITION.c.key).where(RENDITION.c.name == "zoom")).scalar_one()


def _images(meili: ServedDouble) -> dict[str, str | None]:
    return {d["sku"]: d.get("image") for d in meili.double.indexes[EN].documents.values()}


def test_search_links_the_listing_rendition_once_it_is_built(media_catalog: Store, meili_env: ServedDouble,
                                                             tmp_path: Path) -> None:
    publish_search(media_catalog, tmp_path)
    before = _images(meili_env)
    assert before["HP-100-RED"] == f"{CDN}/img/HP-100-RED.jpg"  # not rendered yet: the plain link, as before
    assert before["HP-100-BLK"] is None  # rejected by media: not linked
    assert before[CABLE] is None

    media = load_media_file()
    build_renditions(media_catalog, media.channel("ecommerce").renditions, asset_store=open_asset_store(media=media))
    result = publish_search(media_catalog, tmp_path)  # new renditions: their products are sent again, alone
    docs = [a for a in result.artifacts if a.meta["kind"] == "documents"]
    assert {a.meta["mode"] for a in docs} == {"incremental"} and {a.rows for a in docs} == {1}
    after = _images(meili_env)
    assert after["HP-100-RED"] == f"{CDN}/{_zoom_key(media_catalog)}" and _zoom_key(media_catalog).endswith(".jpg")
    assert after["HP-100-BLK"] is None
    assert {a.meta["mode"] for a in publish_search(media_catalog, tmp_path).artifacts} == {"incremental"}


def test_the_storefront_catalog_links_the_same_rendition(media_catalog: Store, tmp_path: Path) -> None:
    media = load_media_file()
    build_renditions(media_catalog, media.channel("ecommerce").renditions, asset_store=open_asset_store(media=media))
    result = publish(media_catalog, tmp_path / "out", channel="storefront", scope="ecommerce")
    catalog = orjson.loads(Path(next(p for p in result.locations if "en_US" in p)).read_bytes())
    found = {p["identifier"]: p["image"] for p in catalog["products"]}
    assert found["HP-100-RED"] == f"{CDN}/{_zoom_key(media_catalog)}"
    assert found["HP-100-BLK"] is None


def test_a_listing_that_names_no_rendition_is_refused() -> None:
    from pydantic import ValidationError

    from media.settings import ChannelMedia

    with pytest.raises(ValidationError, match="listing names no declared rendition"):
        ChannelMedia(renditions=[{"name": "thumb", "max_width": 10, "max_height": 10}], listing="zoom")


def test_a_rendition_resends_the_variants_that_inherit_its_image(media_catalog: Store, meili_env: ServedDouble,
                                                                tmp_path: Path) -> None:
    """An image shown through a product model reaches every variant below it; products showing other
    images (or none) are not sent again."""
    from pim.product import Product, ProductModel
    from pim.structure import FamilyVariant, VariantLevel

    media_catalog.put_structure("family_variant", [FamilyVariant(
        code="hp_shared_image", family="headphones", levels=[VariantLevel(axes=["color"], attributes=["color", "sku"])])])
    media_catalog.upsert_models([ProductModel(code="HP-300", family_variant="hp_shared_image", family="headphones",
                                              values={"name:en_US": "Shared", "name:de_DE": "Geteilt",
                                                      "image": "img/HP-100-RED.jpg"})])
    media_catalog.upsert_products([Product(identifier=f"HP-300-{c}", family="headphones", parent="HP-300",
                                           values={"color": c}) for c in ("red", "black")])
    publish_search(media_catalog, tmp_path)
    assert _images(meili_env)["HP-300-red"] == f"{CDN}/img/HP-100-RED.jpg"
    media = load_media_file()
    build_renditions(media_catalog, media.channel("ecommerce").renditions, asset_store=open_asset_store(media=media))
    result = publish_search(media_catalog, tmp_path)
    docs = [a for a in result.artifacts if a.meta["kind"] == "documents" and a.meta["locale"] == "en_US"]
    assert [a.meta["mode"] for a in docs] == ["incremental"] and docs[0].rows == 3
    after = _images(meili_env)
    assert after["HP-300-red"] == after["HP-300-black"] == after["HP-100-RED"] == f"{CDN}/{_zoom_key(media_catalog)}"


def test_an_image_found_broken_at_ingest_leaves_the_index_at_the_next_push(media_catalog: Store, meili_env: ServedDouble,
                                                                          tmp_path: Path) -> None:
    from media.ingest import rescore_products_using
    from tests.search_data import variant

    media_catalog.upsert_products([variant("HP-100-GRN", "red")])
    publish_search(media_catalog, tmp_path)
    assert _images(meili_env)["HP-100-GRN"] == f"{CDN}/img/HP-100-GRN.jpg"  # not ingested yet: linked as it is
    folder = tmp_path / "photos"
    (folder / "img" / "HP-100-GRN.jpg").write_bytes(images.truncated_jpeg())
    counts = ingest(media_catalog, [("img/HP-100-GRN.jpg", "erp")], asset_store=open_asset_store(), base_dir=folder)
    assert rescore_products_using(media_catalog, counts) == 1
    result = publish_search(media_catalog, tmp_path)
    docs = [a for a in result.artifacts if a.meta["kind"] == "documents" and a.meta["locale"] == "en_US"]
    assert [(a.meta["mode"], a.rows) for a in docs] == [("incremental", 1)]
    assert _images(meili_env)["HP-100-GRN"] is None


@pytest.mark.backends("postgresql")  # SQLite runs one writer at a time: the rendition transaction excludes the write
def test_a_product_that_starts_showing_an_image_while_its_rendition_is_recorded_gets_the_link(
        media_catalog: Store, meili_env: ServedDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL runs writers side by side: the cable starts showing the red photo, and a push runs, after
    the rendition transaction read the image index but before it committed. The push sends the cable with the
    plain link; the renditions' second pass after their commit re-sends it, so the next push links the rendition."""
    import media.renditions as renditions
    from tests.search_data import cable

    publish_search(media_catalog, tmp_path)
    showing = renditions.products_showing
    interleaved: list[str | None] = []

    def write_and_push_in_between(conn, refs):  # noqa: ANN001, ANN202
        found = showing(conn, refs)
        if not interleaved:
            media_catalog.upsert_products([cable(image="img/HP-100-RED.jpg")])  # another connection, committed
            publish_search(media_catalog, tmp_path)
            interleaved.append(_images(meili_env)[CABLE])
        return found

    monkeypatch.setattr(renditions, "products_showing", write_and_push_in_between)
    media = load_media_file()
    build_renditions(media_catalog, media.channel("ecommerce").renditions, asset_store=open_asset_store(media=media))
    assert interleaved == [f"{CDN}/img/HP-100-RED.jpg"]  # the push in between: no rendition visible yet
    publish_search(media_catalog, tmp_path)
    zoom = f"{CDN}/{_zoom_key(media_catalog)}"
    assert _images(meili_env)[CABLE] == zoom and _images(meili_env)["HP-100-RED"] == zoom
