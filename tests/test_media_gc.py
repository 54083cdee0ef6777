"""`pim media gc`: an image nothing shows any more loses its original, renditions and rows; images shown by a
product, through a product model or by their sha256 ref stay; young uploads stay; a dry run deletes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from media.assets import ASSET, ORIGIN, RENDITION
from media.gc import collect_garbage
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
    assert json.loads(dry.output) == {"assets": 1, "objects": 2, "bytes": json.loads(dry.output)["bytes"], "dry_run": True}
    assert _count(store, ASSET) == 4
    done = runner.invoke(app, ["media", "gc", "--grace-days", "0"])
    assert done.exit_code == 0 and "deleted 1 unused image (2 objects" in done.output
    assert _count(store, ASSET) == 3
