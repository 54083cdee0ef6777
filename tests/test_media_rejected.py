"""The quarantine of rejected images (media.rejected): the bytes ingest refused are kept once per content under
`rejected/`, with a row per ref saying why and when; fixing the file and ingesting it again clears both; gc keeps
what a row names, drops what no product shows or what is past the retention, and sweeps quarantine orphans. On
the local store and on S3 (moto's server mode), SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from media import ingest as ingest_module
from media.assets import ASSET, REJECTED_ASSET, invalid_refs, resolve
from media.gc import GcResult, collect_garbage, sweep_orphans
from media.ingest import ingest, ingest_bytes
from media.rejected import PREFIX, listing, quarantine_key, read_back
from media.settings import FetchLimits, MediaFile
from media.store_local import LocalAssetStore
from pim.errors import InputError
from pim.product import Product, Provenance
from pim.store import Store
from pim.store.store import now
from pim.structure import Attribute, AttributeType
from tests import images
from tests.services.s3 import asset_store_of

BOMB = images.bomb_png()
CUT = images.truncated_jpeg()
GOOD = images.png(40, 30)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "s3"])
def assets(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return asset_store_of(request.param, request, tmp_path)


@pytest.fixture
def local(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in {"bomb.png": BOMB, "cut.jpg": CUT, "copy-of-cut.jpg": CUT, "ok.png": GOOD}.items():
        (folder / name).write_bytes(data)
    return folder


def stored(assets: Any) -> list[str]:
    return sorted(o.key for o in assets.objects(PREFIX))


def rows(store: Store) -> dict[str, dict[str, Any]]:
    return {r["ref"]: r for r in listing(store)}


def show(store: Store, *refs: str) -> None:
    """Products showing these image refs (the image index gc reads)."""
    store.put_structure("attribute", [Attribute(code="sku", type=AttributeType.identifier),
                                      Attribute(code="image", type=AttributeType.image)])
    src = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_products([Product(identifier=f"p{n}", values={"image": ref}, source=src)
                           for n, ref in enumerate(refs)])


def age(store: Store, ref: str, days: float) -> None:
    with store.begin() as conn:
        conn.execute(update(REJECTED_ASSET).where(REJECTED_ASSET.c.ref == ref)
                     .values(last_seen=now() - timedelta(days=days)))


def test_rejected_bytes_are_kept_once_per_content_with_a_row_per_ref(store: Store, assets: Any, photos: Path) -> None:
    counts = ingest(store, [(n, "erp") for n in ("bomb.png", "cut.jpg", "copy-of-cut.jpg", "ok.png", "gone.jpg")],
                    asset_store=assets, base_dir=photos)
    assert (counts.valid, counts.rejected, counts.unreadable, counts.kept) == (1, 3, 1, 2)
    assert counts.as_dict()["rejected files kept"] == 2
    assert stored(assets) == sorted([quarantine_key(sha(BOMB)), quarantine_key(sha(CUT))])  # CUT stored once
    found = rows(store)
    assert set(found) == {"bomb.png", "cut.jpg", "copy-of-cut.jpg"}  # unreadable: no bytes, no row
    bomb = found["bomb.png"]
    assert (bomb["sha256"], bomb["bytes"], bomb["kept"], bomb["source"]) == (sha(BOMB), len(BOMB), True, "erp")
    assert bomb["reason"].startswith("decompression bomb guard")
    assert found["cut.jpg"]["reason"].startswith("corrupt image") and found["cut.jpg"]["sha256"] == sha(CUT)
    assert bomb["first_seen"] == bomb["last_seen"] and bomb["last_seen"].tzinfo is not None
    row, data = read_back(store, assets, sha(BOMB)[:12])  # never decoded: the bytes as they came
    assert data == BOMB and row["ref"] == "bomb.png"
    assert assets.get(quarantine_key(sha(CUT))) == CUT


def test_fixing_the_file_and_ingesting_again_clears_the_row_and_then_the_bytes(store: Store, assets: Any,
                                                                             photos: Path) -> None:
    ingest(store, [(n, "erp") for n in ("bomb.png", "cut.jpg", "copy-of-cut.jpg")], asset_store=assets,
           base_dir=photos)
    assert set(rows(store)) == {"bomb.png", "cut.jpg", "copy-of-cut.jpg"}
    (photos / "bomb.png").write_bytes(GOOD)
    (photos / "cut.jpg").write_bytes(images.jpeg(50, 40))
    counts = ingest(store, [("bomb.png", "erp"), ("cut.jpg", "erp")], asset_store=assets, base_dir=photos)
    assert (counts.valid, counts.rejected) == (2, 0)  # rejected refs are asked again every run: no --refresh
    assert set(rows(store)) == {"copy-of-cut.jpg"}
    # the bomb's bytes went with their only row; the cut JPEG's stay while copy-of-cut.jpg still names them
    assert stored(assets) == [quarantine_key(sha(CUT))]
    assert invalid_refs(store, ["bomb.png", "cut.jpg"]) == set()
    assert resolve(store, ["bomb.png"])["bomb.png"] == sha(GOOD)
    (photos / "copy-of-cut.jpg").write_bytes(images.jpeg(50, 40))
    ingest(store, [("copy-of-cut.jpg", "erp")], asset_store=assets, base_dir=photos)
    assert rows(store) == {} and stored(assets) == []
    with pytest.raises(InputError, match="no rejected image"):
        read_back(store, assets, sha(CUT))


def test_rejected_again_with_other_bytes_replaces_the_row_and_frees_the_old_bytes(store: Store, local: LocalAssetStore,
                                                                                photos: Path) -> None:
    first = ingest_bytes(store, CUT, "upload.jpg", asset_store=local)
    assert first["status"] == "rejected"
    again = ingest_bytes(store, CUT, "upload.jpg", asset_store=local)  # same bytes: still the first sighting
    assert again["sha256"] == sha(CUT)
    row = rows(store)["upload.jpg"]
    assert row["first_seen"] < row["last_seen"]
    ingest_bytes(store, BOMB, "upload.jpg", asset_store=local)
    row = rows(store)["upload.jpg"]
    assert (row["sha256"], row["first_seen"]) == (sha(BOMB), row["last_seen"])
    assert stored(local) == [quarantine_key(sha(BOMB))]


def test_a_rejected_ref_seen_again_moves_its_last_seen(store: Store, local: LocalAssetStore, photos: Path) -> None:
    ingest(store, [("cut.jpg", "erp")], asset_store=local, base_dir=photos)
    age(store, "cut.jpg", 40)
    first_seen = rows(store)["cut.jpg"]["first_seen"]
    counts = ingest(store, [("cut.jpg", "erp")], asset_store=local, base_dir=photos)  # asked again: same bytes
    assert (counts.rejected, counts.kept) == (1, 0)  # the same verdict; the bytes were kept already
    assert rows(store)["cut.jpg"]["last_seen"] > now() - timedelta(minutes=5)
    assert rows(store)["cut.jpg"]["first_seen"] == first_seen


def test_bytes_over_the_ingests_size_cap_are_not_kept_and_the_listing_says_so(store: Store,
                                                                             local: LocalAssetStore) -> None:
    media = MediaFile(fetch=FetchLimits(max_bytes=100))
    data = CUT
    assert len(data) > 100
    result = ingest_bytes(store, data, "notes.jpg", asset_store=local, media=media)
    assert result["status"] == "rejected"
    row = rows(store)["notes.jpg"]
    assert (row["kept"], row["bytes"], row["note"]) == (False, len(data), "bytes not kept: over 100 bytes")
    assert stored(local) == []
    with pytest.raises(InputError, match="were not kept: bytes not kept: over 100 bytes"):
        read_back(store, local, sha(data))


def test_gc_keeps_what_a_row_names_and_drops_what_no_product_shows_or_is_past_the_retention(
        store: Store, assets: Any, photos: Path) -> None:
    ingest(store, [(n, "erp") for n in ("bomb.png", "cut.jpg")], asset_store=assets, base_dir=photos)
    show(store, "bomb.png", "cut.jpg")
    crashed = quarantine_key(sha(b"written, then the process died before its row"))
    assets.put(crashed, io.BytesIO(b"orphan"), content_type="application/octet-stream")
    result = collect_garbage(store, assets, grace=timedelta(0))
    assert result.rejected == 0 and result.orphans == 1  # the sweep covers rejected/, but only what no row names
    assert stored(assets) == sorted([quarantine_key(sha(BOMB)), quarantine_key(sha(CUT))])

    age(store, "bomb.png", 31)  # shown, but last seen longer ago than the retention
    dry = collect_garbage(store, assets, grace=timedelta(0), dry_run=True)
    assert (dry.rejected, dry.rejected_objects, dry.rejected_bytes) == (1, 1, len(BOMB))
    assert assets.exists(quarantine_key(sha(BOMB)))
    assert collect_garbage(store, assets, grace=timedelta(0), rejected_retention=timedelta(days=60)).rejected == 0
    done = collect_garbage(store, assets, grace=timedelta(0))
    assert (done.rejected, done.rejected_objects, done.rejected_bytes) == (1, 1, len(BOMB))
    assert set(rows(store)) == {"cut.jpg"} and stored(assets) == [quarantine_key(sha(CUT))]


def test_gc_drops_the_row_once_no_product_shows_the_ref_after_the_grace(store: Store, assets: Any,
                                                                       photos: Path) -> None:
    ingest(store, [(n, "erp") for n in ("cut.jpg", "copy-of-cut.jpg")], asset_store=assets, base_dir=photos)
    show(store, "copy-of-cut.jpg")  # cut.jpg: an upload nothing shows (yet)
    assert collect_garbage(store, assets, grace=timedelta(days=1)).rejected == 0  # young: may still be assigned
    result = collect_garbage(store, assets, grace=timedelta(0))
    assert (result.rejected, result.rejected_objects) == (1, 0)  # the bytes stay: copy-of-cut.jpg names them
    assert set(rows(store)) == {"copy-of-cut.jpg"} and stored(assets) == [quarantine_key(sha(CUT))]


def test_a_sweep_between_keeping_the_bytes_and_recording_the_row_makes_ingest_keep_them_again(
        store: Store, assets: Any, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = quarantine_key(sha(CUT))
    assets.put(key, io.BytesIO(CUT), content_type="application/octet-stream")  # a crashed ingest's, no row
    cutoff = now()
    swept: list[int] = []
    real = ingest_module._record

    def sweep_first(*args: Any, **kwargs: Any) -> Any:
        if not swept:
            result = GcResult()
            sweep_orphans(store, assets, cutoff=cutoff, dry_run=False, result=result, namespaces=(PREFIX,))
            swept.append(result.orphans)
            assert not assets.exists(key)  # gone, and the ingest already found it there
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_record", sweep_first)
    counts = ingest(store, [("cut.jpg", "erp")], asset_store=assets, base_dir=photos)
    assert swept == [1]
    assert (counts.rejected, counts.kept) == (1, 1)  # examined again and kept anew
    assert assets.get(key) == CUT and rows(store)["cut.jpg"]["kept"]


def test_the_commands_list_write_back_and_expire(store: Store, local: LocalAssetStore, photos: Path,
                                                 pim_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    from pim.cli import _mount, app

    monkeypatch.setattr("media.storage.open_asset_store", lambda **_: local)
    _mount()
    runner = CliRunner()
    ingested = runner.invoke(app, ["media", "ingest", "bomb.png", "cut.jpg", "--base", str(photos)])
    assert ingested.exit_code == 0, ingested.output
    assert "pim media rejected" in ingested.output

    listed = runner.invoke(app, ["media", "rejected", "--json"])
    assert listed.exit_code == 0, listed.output
    found = {r["ref"]: r for r in json.loads(listed.stdout)}
    assert set(found) == {"bomb.png", "cut.jpg"}
    assert (found["bomb.png"]["sha256"], found["bomb.png"]["bytes"], found["bomb.png"]["source"]) == (
        sha(BOMB), len(BOMB), "upload")
    text = runner.invoke(app, ["media", "rejected"])
    assert "2 rejected image(s)" in text.output and sha(BOMB)[:12] in text.output

    out = tmp_path / "bomb.bin"
    got = runner.invoke(app, ["media", "rejected", "--get", sha(BOMB)[:12], "--out", str(out), "--json"])
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == BOMB and json.loads(got.stdout)["ref"] == "bomb.png"
    no_out = runner.invoke(app, ["media", "rejected", "--get", sha(BOMB)[:12]])
    assert isinstance(no_out.exception, InputError) and "--out" in str(no_out.exception)
    unknown = runner.invoke(app, ["media", "rejected", "--get", "0" * 12, "--out", str(out)])
    assert isinstance(unknown.exception, InputError) and "no rejected image" in str(unknown.exception)
    not_hex = runner.invoke(app, ["media", "rejected", "--get", "bomb.png", "--out", str(out)])
    assert isinstance(not_hex.exception, InputError) and "not a sha256" in str(not_hex.exception)

    age(store, "bomb.png", 3)
    show(store, "bomb.png", "cut.jpg")
    kept = runner.invoke(app, ["media", "gc", "--json"])
    assert json.loads(kept.stdout)["rejected"] == 0
    gone = runner.invoke(app, ["media", "gc", "--rejected-older-than", "2", "--json"])
    assert gone.exit_code == 0, gone.output
    assert {k: json.loads(gone.stdout)[k] for k in ("rejected", "rejected_objects", "rejected_bytes")} == {
        "rejected": 1, "rejected_objects": 1, "rejected_bytes": len(BOMB)}
    assert set(rows(store)) == {"cut.jpg"} and not local.exists(quarantine_key(sha(BOMB)))


def test_the_asset_rows_are_unchanged_by_the_quarantine(store: Store, local: LocalAssetStore, photos: Path) -> None:
    ingest(store, [("bomb.png", "erp")], asset_store=local, base_dir=photos)
    with store.engine.connect() as conn:
        asset = conn.execute(select(ASSET).where(ASSET.c.sha256 == sha(BOMB))).one()
        total = conn.execute(select(func.count()).select_from(REJECTED_ASSET)).scalar_one()
    assert (asset.status, asset.key, total) == ("rejected", None, 1)  # the asset row names no object


def test_a_rejected_file_left_as_it_was_is_only_statted_and_a_valid_one_not_even_that(store: Store, assets: Any,
                                                                                     photos: Path) -> None:
    import os
    import time

    (photos / "good.png").write_bytes(GOOD)
    hour_ago = time.time() - 3600  # files modified just before reading keep no validator: make them older
    for name in ("bomb.png", "good.png"):
        os.utime(photos / name, (hour_ago, hour_ago))
    first = ingest(store, [("bomb.png", "erp"), ("good.png", "erp")], asset_store=assets, base_dir=photos)
    assert (first.valid, first.rejected) == (1, 1)
    again = ingest(store, [("bomb.png", "erp"), ("good.png", "erp")], asset_store=assets, base_dir=photos)
    assert (again.known, again.unchanged_files, again.rejected, again.kept) == (2, 1, 0, 0)
    assert set(rows(store)) == {"bomb.png"}  # still refused, still kept


def test_bytes_that_are_no_image_at_all_are_never_kept(store: Store, local: LocalAssetStore) -> None:
    """Found in round 31's security review: a text file (an environment dump, a key) given as an image was kept
    in the quarantine, where editors download rejected files. An image Pillow names but refuses stays kept."""
    media = MediaFile()
    result = ingest_bytes(store, b"PIM_SECRET_KEY=s3cret\n" * 10, "env.jpg", asset_store=local, media=media)
    assert result["status"] == "rejected"
    row = rows(store)["env.jpg"]
    assert (row["kept"], row["note"]) == (False, "bytes not kept: not an image")
    assert row["reason"].startswith("not an image")
    assert stored(local) == []
    ingest_bytes(store, CUT, "cut.jpg", asset_store=local, media=media)
    assert rows(store)["cut.jpg"]["kept"] and stored(local) == [quarantine_key(sha(CUT))]
