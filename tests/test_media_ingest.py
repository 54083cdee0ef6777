"""Ingest into a real database (SQLite and PostgreSQL): dedupe by content, origins kept, problems recorded."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from media.assets import invalid_refs, origins, problems, resolve
from media.ingest import catalog_refs, ingest, ingest_bytes
from media.settings import ChannelMedia, MediaFile
from media.store_local import LocalAssetStore
from pim.product import Product, Provenance
from pim.store import Store
from pim.structure import Attribute, AttributeType
from tests import images


@pytest.fixture
def assets(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "incoming"
    root.mkdir()
    for name, data in {"red.jpg": images.jpeg(64, 48), "copy-of-red.jpg": images.jpeg(64, 48),
                       "cut.jpg": images.truncated_jpeg(), "notes.jpg": images.text_as_jpg(),
                       "small.png": images.png(100, 100), "wide.png": images.png(400, 100)}.items():
        (root / name).write_bytes(data)
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_same_image_from_two_sources_is_stored_once_with_both_origins(store: Store, assets: LocalAssetStore,
                                                                       folder: Path) -> None:
    counts = ingest(store, [("red.jpg", "erp"), ("copy-of-red.jpg", "supplier:acme")], asset_store=assets,
                    base_dir=folder)
    digest = sha(images.jpeg(64, 48))
    assert (counts.valid, counts.stored) == (2, 1)
    assert [p for p in assets.root.rglob("*") if p.is_file()] == [assets.root / f"originals/{digest[:2]}/{digest}.jpg"]
    assert {(o["ref"], o["source"]) for o in origins(store, digest)} == {("red.jpg", "erp"),
                                                                         ("copy-of-red.jpg", "supplier:acme")}


def test_rejected_and_unreadable_images_become_problems_not_crashes(store: Store, assets: LocalAssetStore,
                                                                     folder: Path) -> None:
    counts = ingest(store, [("cut.jpg", "erp"), ("notes.jpg", "erp"), ("gone.jpg", "erp")], asset_store=assets,
                    base_dir=folder)
    assert (counts.valid, counts.rejected, counts.unreadable) == (0, 2, 1)
    reasons = {p["ref"]: p["reason"] for p in problems(store)}
    assert reasons["cut.jpg"].startswith("corrupt image: image file is truncated")
    assert reasons["notes.jpg"].startswith("not an image")
    assert reasons["gone.jpg"].startswith("file not found")
    assert not (assets.root / "originals").exists()  # nothing rejected is stored as an asset (only quarantined)


def test_invalid_refs_lists_what_does_not_count_as_a_filled_image(store: Store, assets: LocalAssetStore,
                                                                  folder: Path) -> None:
    ingest(store, [(n, "erp") for n in ("red.jpg", "cut.jpg", "gone.jpg", "small.png")], asset_store=assets,
           base_dir=folder)
    refs = ["red.jpg", "cut.jpg", "gone.jpg", "never-seen.jpg", f"sha256:{sha(images.jpeg(64, 48))}", "small.png"]
    assert invalid_refs(store, refs) == {"cut.jpg", "gone.jpg", "never-seen.jpg"}
    assert invalid_refs(store, refs, strict=False) == {"cut.jpg", "gone.jpg"}
    media = MediaFile(channels={"print": ChannelMedia(min_width=80)})
    assert invalid_refs(store, refs, channel="print", media=media) == {
        "cut.jpg", "gone.jpg", "never-seen.jpg", "red.jpg", f"sha256:{sha(images.jpeg(64, 48))}"}


def test_channel_rules_show_up_in_problems_for_that_channel(store: Store, assets: LocalAssetStore,
                                                            folder: Path) -> None:
    ingest(store, [("small.png", "erp"), ("wide.png", "erp")], asset_store=assets, base_dir=folder)
    media = MediaFile(channels={"ecommerce": ChannelMedia(max_aspect_ratio=2.0)})
    assert problems(store) == []
    [row] = problems(store, channel="ecommerce", media=media)
    assert row["ref"] == "wide.png" and row["reason"] == "ecommerce: aspect ratio 4.000 > 2.0"


def test_second_run_does_not_read_known_refs_again(store: Store, assets: LocalAssetStore, folder: Path) -> None:
    ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=folder)
    (folder / "red.jpg").unlink()  # would be unreadable if it were read again
    counts = ingest(store, [("red.jpg", "erp"), ("red.jpg", "pim")], asset_store=assets, base_dir=folder)
    assert (counts.known, counts.unreadable) == (2, 0)
    assert len(origins(store, sha(images.jpeg(64, 48)))) == 2


def test_unreadable_ref_is_retried_and_heals(store: Store, assets: LocalAssetStore, folder: Path) -> None:
    ingest(store, [("late.jpg", "erp")], asset_store=assets, base_dir=folder)
    (folder / "late.jpg").write_bytes(images.jpeg(10, 10))
    ingest(store, [("late.jpg", "erp")], asset_store=assets, base_dir=folder)
    assert resolve(store, ["late.jpg"])["late.jpg"] == sha(images.jpeg(10, 10))
    assert problems(store) == []


def test_ingest_fans_out_through_an_executor(store: Store, assets: LocalAssetStore, tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"{i}.png").write_bytes(images.png(20 + i, 20))
    with ThreadPoolExecutor(3) as pool:
        counts = ingest(store, [(f"{i}.png", "erp") for i in range(12)], asset_store=assets, base_dir=tmp_path,
                        executor=pool)
    assert (counts.valid, counts.stored) == (12, 12)


def test_upload_bytes_are_ingested_like_any_other_source(store: Store, assets: LocalAssetStore) -> None:
    result = ingest_bytes(store, images.png(30, 30), "hero.png", asset_store=assets)
    assert result["status"] == "valid"
    assert origins(store, result["sha256"])[0]["source"] == "upload"


def test_catalog_refs_come_from_image_values_with_their_provenance(store: Store) -> None:
    from datetime import UTC, datetime

    store.put_structure("attribute", [Attribute(code="sku", type=AttributeType.identifier),
                                      Attribute(code="picture", type=AttributeType.image),
                                      Attribute(code="name", type=AttributeType.text)])
    prov = Provenance(source="supplier:acme", at=datetime.now(UTC))
    store.upsert_products([Product(identifier="p1", values={"sku": "p1", "picture": "a.jpg", "name": "x.jpg"},
                                   source=prov)])
    assert list(catalog_refs(store)) == [("a.jpg", "supplier:acme")]


def test_completeness_hook_reports_known_bad_refs_inside_a_transaction(store: Store, assets: LocalAssetStore,
                                                                       folder: Path) -> None:
    from pim.registry import ASSET_VALIDITY, load

    ingest(store, [("red.jpg", "erp"), ("cut.jpg", "erp"), ("gone.jpg", "erp")], asset_store=assets, base_dir=folder)
    [hook] = [load(ref) for ref in ASSET_VALIDITY]
    with store.begin() as conn:
        assert hook(conn, {"red.jpg", "cut.jpg", "gone.jpg", "not-ingested-yet.jpg"}) == {
            "cut.jpg", "gone.jpg", "not-ingested-yet.jpg"}  # round 35: a ref never ingested fills no image


def test_a_broken_image_lowers_completeness_as_soon_as_it_is_ingested(tiny_store: Store, assets: LocalAssetStore,
                                                                        folder: Path) -> None:
    from datetime import UTC, datetime

    from media.ingest import rescore_products_using
    from pim.completeness import stored_completeness

    values = {"sku": "t1", "name:en_US": "T", "price": {"EUR": "1.00", "USD": "1.00"}, "color": "red", "size": "s",
              "picture": "cut.jpg"}
    tiny_store.put_structure("family", [tiny_store.structure().families["shirts"].model_copy(
        update={"requirements": {"ecommerce": ["sku", "name", "price", "color", "size", "picture"]}})])
    tiny_store.upsert_products([Product(identifier="t1", family="shirts", values=values,
                                        source=Provenance(source="test", at=datetime.now(UTC)))])

    def ratio() -> int:
        return next(r["ratio"] for r in stored_completeness(tiny_store, "t1") if r["channel"] == "ecommerce" and r["locale"] == "en_US")

    assert ratio() == 100  # not ingested yet: an unknown ref is not held against the product
    counts = ingest(tiny_store, [("cut.jpg", "test")], asset_store=assets, base_dir=folder)
    assert rescore_products_using(tiny_store, counts) == 1
    assert ratio() == 83  # 5 of 6 required: the truncated picture no longer counts


def test_products_using_finds_variants_that_inherit_the_image(store: Store) -> None:
    from datetime import UTC, datetime

    from media.ingest import products_using
    from pim.product import ProductModel

    store.put_structure("attribute", [Attribute(code="sku", type=AttributeType.identifier),
                                      Attribute(code="image", type=AttributeType.image)])
    src = Provenance(source="test", at=datetime.now(UTC))
    store.upsert_models([ProductModel(code="root", family_variant="fv", values={"image": "bad.jpg"}, source=src),
                         ProductModel(code="other", family_variant="fv", values={"image": "good.jpg"}, source=src)])
    store.upsert_models([ProductModel(code="sub", parent="root", family_variant="fv", values={}, source=src)])
    store.upsert_products([Product(identifier=i, parent=parent, values=values, source=src) for i, parent, values in (
        ("grandchild", "sub", {}), ("child", "root", {}), ("own", None, {"image": "bad.jpg"}),
        ("elsewhere", "other", {}), ("plain", None, {"image": "good.jpg"}))])
    assert sorted(products_using(store, {"bad.jpg"})) == ["child", "grandchild", "own"]


def test_the_image_index_follows_writes_deletes_and_the_image_attributes(store: Store) -> None:
    """products_using reads an index refreshed from the seqs: a rewritten product loses its old image, a deleted
    one drops out, and turning another attribute into an image attribute rebuilds the index."""
    from datetime import UTC, datetime

    from media.image_index import USE
    from media.ingest import products_using

    attrs = [Attribute(code="sku", type=AttributeType.identifier), Attribute(code="image", type=AttributeType.image),
             Attribute(code="swatch", type=AttributeType.text)]
    store.put_structure("attribute", attrs)
    src = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_products([Product(identifier=i, values=v, source=src) for i, v in (
        ("a", {"image": "one.jpg"}), ("b", {"image": "one.jpg", "swatch": "two.jpg"}), ("c", {"image": "two.jpg"}))])
    assert products_using(store, {"one.jpg"}) == ["a", "b"]
    assert products_using(store, {"two.jpg"}) == ["c"]  # a text attribute's value is not an image

    store.upsert_products([Product(identifier="a", values={"image": "three.jpg"}, source=src)])
    store.delete_products(["b"])
    assert products_using(store, {"one.jpg"}) == []
    assert products_using(store, {"three.jpg"}) == ["a"]

    store.put_structure("attribute", [attrs[0], attrs[1], Attribute(code="swatch", type=AttributeType.image)])
    store.upsert_products([Product(identifier="d", values={"swatch": "two.jpg"}, source=src)])
    assert products_using(store, {"two.jpg"}) == ["c", "d"]
    with store.engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(USE.select().where(USE.c.kind == "product")))
    assert rows == [("product", "a", "three.jpg", "erp"), ("product", "c", "two.jpg", "erp"),
                    ("product", "d", "two.jpg", "erp")]


def test_catalog_refs_are_distinct_and_stream_in_pages(store: Store) -> None:
    from datetime import UTC, datetime

    from media.image_index import catalog_images

    store.put_structure("attribute", [Attribute(code="sku", type=AttributeType.identifier),
                                      Attribute(code="image", type=AttributeType.image)])
    src = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_products([Product(identifier=f"p{n}", values={"image": f"img{n % 7}.jpg"}, source=src)
                           for n in range(30)])
    assert list(catalog_images(store, page=3)) == [(f"img{n}.jpg", "erp") for n in range(7)]


def test_the_same_bytes_under_many_refs_are_decoded_once_per_rule_set(store: Store, assets: LocalAssetStore,
                                                                      folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Variants sharing a photo: the verdict on those bytes is remembered (per process), so the second ref is
    hashed but not decoded again; other rules (a smaller pixel limit) decode again and may say otherwise."""
    import media.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "_VERDICTS", {})
    decoded: list[int] = []
    real = ingest_module.inspect
    monkeypatch.setattr(ingest_module, "inspect", lambda data, **kw: decoded.append(len(data)) or real(data, **kw))
    for n in range(5):
        (folder / f"variant-{n}.jpg").write_bytes(images.jpeg(64, 48))
    counts = ingest(store, [(f"variant-{n}.jpg", "erp") for n in range(5)] + [("cut.jpg", "erp"), ("cut.jpg", "x")],
                    asset_store=assets, base_dir=folder)
    assert (counts.valid, counts.rejected, counts.stored) == (5, 2, 1) and len(decoded) == 2
    strict = ingest(store, [("red.jpg", "erp")], asset_store=assets, base_dir=folder, refresh=True,
                    media=MediaFile(max_pixels=100))
    assert strict.rejected == 1 and len(decoded) == 3  # new rules: decoded again, and refused this time
