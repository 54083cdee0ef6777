"""Round 36 (C1): customer delta feeds already sent with an upload's bare `sha256:` ref (before round 35's links)
are corrected by the next delta after the upgrade: migration 0049_resend_asset_refs gives the products a
customer holds that show a ref (their own, or their model's) and that its delivered files carried bare a new
seq, once (tests/test_upgrade_mends_r36.py: which ones)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from channels.feed_row import Projector
from pim.feeds import deliver_contract
from pim.product import ProductModel
from pim.store import Store
from pim.store.database import alembic_config
from pim.store.store import PRODUCT
from tests import images
from tests.feeds_data import out_dir, product, seed_catalog, store_contract

BASE = "https://cdn.example.com/r"  # the test contract's media_base_url


def _uploaded(store: Store, seed: int) -> str:
    """A valid image taken in as the product page takes an upload: its `sha256:` ref."""
    from media.ingest import ingest_bytes
    from media.storage import open_asset_store

    photo = images.photo_jpeg(300, 300, seed)
    assert ingest_bytes(store, photo, "photo.jpg", asset_store=open_asset_store())["problem"] is None
    return "sha256:" + hashlib.sha256(photo).hexdigest()


def _original(ref: str) -> str:
    sha = ref.removeprefix("sha256:")
    return f"{BASE}/originals/{sha[:2]}/{sha}.jpg"


def _rows(path: Any) -> dict[str, dict[str, Any]]:
    return {d["sku"]: d for d in map(json.loads, Path(path).read_text(encoding="utf-8").splitlines())}


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(PRODUCT.c.identifier, PRODUCT.c.seq)).all())


def _upgrade(store: Store) -> None:
    """The feeds branch as before this round, then upgraded: what `pim init` does on a catalog of round 35."""
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0046_feed_file_versions_all")
    store.migrate()


@pytest.fixture
def held(store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """T2 shows an upload, M1's variants inherit another (V-red and V-blue without an image of their own); the
    contract's first feed went out the way feeds linked uploads before round 35: the bare ref."""
    seed_catalog(store)
    store_contract(store, mode="delta", format="jsonl")
    own, inherited = _uploaded(store, 31), _uploaded(store, 32)
    t2 = store.get_product("T2")
    assert t2 is not None
    store.upsert_products([t2.model_copy(update={"values": {**t2.values, "image": own}}),
                           product("V-red", parent="M1", color="red", image=None),
                           product("V-blue", parent="M1", color="blue", image=None)])
    store.upsert_models([ProductModel(code="M1", family_variant="tool_by_color", family="tool", categories=["drills"],
                                      values={"brand": "bosch", "price": {"EUR": "99.00"}, "name:en_US": "Drill M1",
                                              "image": inherited})])
    with monkeypatch.context() as old:
        old.setattr(Projector, "media_url", lambda self, ref: ref)  # the old shape: the value as it was
        first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    sent = _rows(first.file)
    assert sent["T2"]["attributes"]["image"] == own and sent["V-red"]["attributes"]["image"] == inherited
    return own, inherited


def test_the_next_delta_after_the_upgrade_sends_the_products_held_with_a_bare_ref_once(
        store: Store, held: tuple[str, str], tmp_path: Path) -> None:
    own, inherited = held
    _upgrade(store)
    delta = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert delta.status == "delivered"  # before: "nothing", the customer kept the bare refs
    rows = _rows(delta.file)
    assert set(rows) == {"T2", "V-red", "V-blue"}  # only the products the customer holds with a ref
    assert rows["T2"]["attributes"]["image"] == _original(own)
    assert rows["V-blue"]["attributes"]["image"] == _original(inherited)
    assert "sha256:" not in Path(delta.file).read_text(encoding="utf-8")
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "nothing"  # once


def test_a_catalog_that_delivered_no_feed_is_not_restamped(store: Store, pim_env: Path) -> None:
    seed_catalog(store)
    ref = _uploaded(store, 33)
    t1 = store.get_product("T1")
    assert t1 is not None
    store.upsert_products([t1.model_copy(update={"values": {**t1.values, "image": ref}})])
    before = _seqs(store)
    _upgrade(store)
    assert _seqs(store) == before
