"""`pim media gc`: an image nothing shows any more loses its original, renditions and rows; images shown by a
product, through a product model or by their sha256 ref stay; young uploads stay; a dry run deletes nothing.
Then the orphan sweep: an old object no row names goes; a young one, a named one, and anything outside the asset
namespaces or the media folder stay."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from media.assets import ASSET, ORIGIN, RENDITION, original_key, rendition_key
from media.gc import NAMESPACES, SHA_IN_KEY, collect_garbage
from media.ingest import ingest
from media.renditions import build_renditions
from media.settings import RenditionSpec
from media.store_local import LocalAssetStore
from pim.product import Product, ProductModel, Provenance
from pim.store import Store
from pim.structure import Attribute, AttributeType
from tests import images

SPECS = [RenditionSpec(name="thumb", max_width=50, max_height=50, format="JPEG")]


@pytest.fixture
def catalog(store: Store, tmp_path: Path) -> tuple[Store, LocalAssetStore, dict[str, str]]:
    """Four photos ingested with renditions: one shown by a product, one by a model, one by its sha256 ref,
    and one nothing shows (it was replaced)."""
    store.put_structure("attribute", [Attribute(code="sku", type=AttributeType.identifier),
                                      Attribute(code="image", type=AttributeType.image)])
    folder = tmp_path / "photos"
    folder.mkdir()
    for n, name in enumerate(("own.jpg", "model.jpg", "by-sha.jpg", "old.jpg")):
        (folder / name).write_bytes(images.photo_jpeg(120, 90, n))
    assets = LocalAssetStore(tmp_path / "media")
    ingest(store, [(n, "erp") for n in ("own.jpg", "model.jpg", "by-sha.jpg", "old.jpg")], asset_store=assets,
           base_dir=folder)
    with store.engine.connect() as conn:
        sha = dict(conn.execute(select(ORIGIN.c.ref, ORIGIN.c.sha256)).all())
    build_renditions(store, SPECS, asset_store=assets)
    src = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_models([ProductModel(code="m", family_variant="fv", values={"image": "model.jpg"}, source=src)])
    store.upsert_products([Product(identifier="a", values={"image": "old.jpg"}, source=src),
                           Product(identifier="v", parent="m", values={}, source=src),
                           Product(identifier="s", values={"image": f"sha256:{sha['by-sha.jpg']}"}, source=src)])
    store.upsert_products([Product(identifier="a", values={"image": "own.jpg"}, source=src)])  # old.jpg replaced
    return store, assets, sha


def _count(store: Store, table) -> int:  # noqa: ANN001
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _keys(store: Store, sha: str) -> list[str]:
    with store.engine.connect() as conn:
        return [k for (k,) in conn.execute(select(ASSET.c.key).where(ASSET.c.sha256 == sha))] + \
               [k for (k,) in conn.execute(select(RENDITION.c.key).where(RENDITION.c.sha256 == sha))]


def test_only_images_nothing_shows_go(catalog) -> None:  # noqa: ANN001
    store, assets, sha = catalog
    gone = _keys(store, sha["old.jpg"])
    assert len(gone) == 2 and all(assets.exists(k) for k in gone)
    assert collect_garbage(store, assets, grace=timedelta(days=1)).assets == 0  # all younger than a day
    dry = collect_garbage(store, assets, grace=timedelta(0), dry_run=True)
    assert (dry.assets, dry.objects, dry.shas) == (1, 2, [sha["old.jpg"]]) and all(assets.exists(k) for k in gone)
    result = collect_garbage(store, assets, grace=timedelta(0))
    assert result.shas == [sha["old.jpg"]] and result.bytes > 0
    assert not any(assets.exists(k) for k in gone)
    assert (_count(store, ASSET), _count(store, RENDITION), _count(store, ORIGIN)) == (3, 3, 3)
    for kept in ("own.jpg", "model.jpg", "by-sha.jpg"):
        assert all(assets.exists(k) for k in _keys(store, sha[kept])) and len(_keys(store, sha[kept])) == 2
    assert collect_garbage(store, assets, grace=timedelta(0)).assets == 0


def test_the_command_reports_and_respects_dry_run(catalog, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import json

    from typer.testing import CliRunner

    from pim.cli import _mount, app

    store, assets, sha = catalog
    monkeypatch.setattr("media.storage.open_asset_store", lambda **_: assets)
    _mount()
    runner = CliRunner()
    dry = runner.invoke(app, ["media", "gc", "--grace-days", "0", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output) == {"assets": 1, "objects": 2, "bytes": json.loads(dry.output)["bytes"], "orphans": 0,
                                      "orphan_bytes": 0, "rejected": 0, "rejected_objects": 0, "rejected_bytes": 0,
                                      "dry_run": True, "orphans_swept": True}
    assert _count(store, ASSET) == 4
    done = runner.invoke(app, ["media", "gc", "--grace-days", "0"])
    assert done.exit_code == 0 and "deleted 1 unused image (2 objects" in done.output
    assert _count(store, ASSET) == 3


# ---------------------------------------------------------------------------------------------- orphan sweep
Catalog = tuple[Store, LocalAssetStore, dict[str, str]]
CRASHED = hashlib.sha256(b"written, then the process died before its row").hexdigest()


def _orphan(assets: LocalAssetStore, key: str, *, days_old: float = 0) -> Path:
    """An object no row names, as a crash between writing it and recording its row leaves it."""
    assets.put(key, io.BytesIO(b"orphan bytes"), content_type="image/jpeg")
    path = assets.root / key
    _backdate(path, days_old)
    return path


def _backdate(path: Path, days: float) -> None:
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def test_an_old_object_no_row_names_is_swept(catalog: Catalog) -> None:
    store, assets, _ = catalog
    gone = [_orphan(assets, original_key(CRASHED, "jpg"), days_old=30),
            _orphan(assets, rendition_key(CRASHED, "0" * 64, "webp"), days_old=30),
            _orphan(assets, "originals/ab/.part-k3x9", days_old=30)]  # temp file of a crashed local write
    result = collect_garbage(store, assets, grace=timedelta(days=7))
    assert (result.assets, result.orphans, result.orphan_bytes) == (0, 3, 3 * len(b"orphan bytes"))
    assert not any(path.exists() for path in gone)


def test_a_young_orphan_is_kept(catalog: Catalog) -> None:
    store, assets, _ = catalog
    fresh = _orphan(assets, original_key(CRASHED, "jpg"))  # its row may not be committed yet
    assert collect_garbage(store, assets, grace=timedelta(days=7)).orphans == 0
    assert fresh.exists()


def test_objects_a_row_names_stay_however_old(catalog: Catalog) -> None:
    store, assets, sha = catalog
    for path in (assets.root / "originals").rglob("*"):
        _backdate(path, 365)
    for path in (assets.root / "renditions").rglob("*"):
        _backdate(path, 365)
    assert collect_garbage(store, assets, grace=timedelta(days=7)).orphans == 0
    assert all(assets.exists(k) for name in sha for k in _keys(store, sha[name]))


def test_dry_run_counts_orphans_and_deletes_nothing(catalog: Catalog) -> None:
    store, assets, _ = catalog
    orphan = _orphan(assets, original_key(CRASHED, "jpg"), days_old=30)
    assert collect_garbage(store, assets, grace=timedelta(days=7), dry_run=True).orphans == 1
    assert orphan.exists()


def test_the_sweep_stays_inside_the_asset_namespaces_and_the_media_folder(catalog: Catalog, tmp_path: Path) -> None:
    store, assets, _ = catalog
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"not ours")
    link = assets.root / original_key(CRASHED, "jpg")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    others = [_orphan(assets, "storefront.json", days_old=30), _orphan(assets, "exports/feed.csv", days_old=30)]
    for path in (outside, link):
        _backdate(path, 30)
    assert collect_garbage(store, assets, grace=timedelta(0)).orphans == 0
    assert outside.read_bytes() == b"not ours" and link.is_symlink()
    assert all(path.exists() for path in others)


def test_local_listing_streams_keys_relative_to_the_root(tmp_path: Path) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    assert list(assets.objects()) == []  # no folder yet
    for key in ("originals/ab/x.jpg", "originals/abc/y.jpg", "renditions/ab/z.webp"):
        assets.put(key, io.BytesIO(b"123"), content_type="image/jpeg")
    listed = {o.key: o for o in assets.objects("originals/ab")}
    assert sorted(listed) == ["originals/ab/x.jpg", "originals/abc/y.jpg"]
    assert listed["originals/ab/x.jpg"].size == 3 and listed["originals/ab/x.jpg"].modified.tzinfo is not None
    assert [o.key for o in assets.objects("renditions/")] == ["renditions/ab/z.webp"]


def test_keys_the_stores_are_given_are_the_keys_the_sweep_reads() -> None:
    sha = CRASHED
    for key in (original_key(sha, "jpg"), rendition_key(sha, "f" * 64, "webp")):
        match = SHA_IN_KEY.match(key)
        assert match and match.group(1) == sha and key.startswith(NAMESPACES)


def test_the_command_sweeps_orphans_unless_told_not_to(catalog: Catalog, pim_env: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _, assets, _ = catalog
    orphan = _orphan(assets, original_key(CRASHED, "jpg"), days_old=30)
    monkeypatch.setattr("media.storage.open_asset_store", lambda **_: assets)
    _mount()
    runner = CliRunner()
    skipped = runner.invoke(app, ["media", "gc", "--no-orphans", "--json"])
    assert skipped.exit_code == 0, skipped.output
    assert json.loads(skipped.output)["orphans_swept"] is False and orphan.exists()
    dry = runner.invoke(app, ["media", "gc", "--dry-run", "--json"])
    assert json.loads(dry.output)["orphans"] == 1 and orphan.exists()
    done = runner.invoke(app, ["media", "gc"])
    assert done.exit_code == 0 and "deleted 1 orphan object" in done.output and not orphan.exists()
