"""The S3 asset store over real HTTP (moto server mode): round trips, headers, multipart, URLs, failures."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from media.assets import original_key, rendition_key
from media.errors import StoreUnavailable
from media.gc import GcResult, sweep_orphans
from media.ingest import ingest
from media.renditions import build_renditions
from media.settings import RenditionSpec
from media.store_s3 import MB, S3AssetStore
from pim.store import Store
from pim.store.store import now
from tests import images
from tests.services.s3 import S3Endpoint

_names = itertools.count()


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    name = f"media-{os.getpid()}-{next(_names)}"
    s3.client().create_bucket(Bucket=name)
    return name


def make(s3: S3Endpoint, bucket: str, **options: object) -> S3AssetStore:
    return S3AssetStore(bucket, "catalog/media", endpoint_url=s3.url, region=s3.region, **options)  # type: ignore[arg-type]


class FailingOnce(io.BytesIO):
    """A stream that breaks after `fail_after` bytes on its first pass, like a dropped connection mid-upload."""

    def __init__(self, data: bytes, fail_after: int, times: int = 1) -> None:
        super().__init__(data)
        self.fail_after, self.times, self.read_so_far = fail_after, times, 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_so_far += len(chunk)
        if self.times and self.read_so_far > self.fail_after:
            self.times -= 1
            self.read_so_far = 0
            raise ConnectionResetError("connection reset by peer (injected)")
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0:
            self.read_so_far = 0
        return super().seek(offset, whence)


def test_put_then_get_round_trips_under_the_prefix(s3: S3Endpoint, bucket: str) -> None:
    store = make(s3, bucket)
    data = images.jpeg()
    store.put("originals/ab/abc.jpg", io.BytesIO(data), content_type="image/jpeg")
    assert store.get("originals/ab/abc.jpg") == data and store.exists("originals/ab/abc.jpg")
    assert not store.exists("originals/ab/other.jpg")
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["catalog/media/originals/ab/abc.jpg"]


def test_objects_carry_content_type_cache_control_and_a_sha256_checksum(s3: S3Endpoint, bucket: str) -> None:
    make(s3, bucket).put("r/x.webp", io.BytesIO(b"RIFF....WEBP"), content_type="image/webp")
    head = s3.client().head_object(Bucket=bucket, Key="catalog/media/r/x.webp", ChecksumMode="ENABLED")
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head.get("ChecksumSHA256")


def test_large_file_goes_up_in_parts(s3: S3Endpoint, bucket: str) -> None:
    data = os.urandom(11 * MB)
    store = make(s3, bucket, multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    store.put("big.bin", io.BytesIO(data), content_type="application/octet-stream")
    head = s3.client().head_object(Bucket=bucket, Key="catalog/media/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag: three parts
    assert store.get("big.bin") == data


def test_interrupted_multipart_upload_is_retried_and_lands_whole(s3: S3Endpoint, bucket: str) -> None:
    data = os.urandom(11 * MB)
    store = make(s3, bucket, multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    store.put("big.bin", FailingOnce(data, fail_after=7 * MB), content_type="application/octet-stream")
    assert store.get("big.bin") == data
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_upload_that_keeps_failing_leaves_no_object_and_no_open_parts(s3: S3Endpoint, bucket: str) -> None:
    store = make(s3, bucket, multipart_threshold=5 * MB, multipart_chunksize=5 * MB, attempts=2)
    with pytest.raises(StoreUnavailable, match="failed") as caught:
        store.put("big.bin", FailingOnce(os.urandom(11 * MB), fail_after=7 * MB, times=5),
                  content_type="application/octet-stream")
    assert caught.value.retryable
    assert not store.exists("big.bin")
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_missing_bucket_is_a_clear_non_retryable_error(s3: S3Endpoint) -> None:
    store = make(s3, "no-such-bucket-here")
    with pytest.raises(StoreUnavailable, match="S3 bucket 'no-such-bucket-here' does not exist") as caught:
        store.put("a.jpg", io.BytesIO(images.jpeg()), content_type="image/jpeg")
    assert not caught.value.retryable and "PIM_S3_BUCKET" in (caught.value.hint or "")


def test_presigned_url_serves_the_object(s3: S3Endpoint, bucket: str) -> None:
    store = make(s3, bucket)
    store.put("a.jpg", io.BytesIO(images.jpeg()), content_type="image/jpeg")
    url = store.url("a.jpg")
    assert "X-Amz-Signature" in url
    assert httpx.get(url).content == images.jpeg()


def test_public_and_cdn_urls_are_plain_and_stable(s3: S3Endpoint, bucket: str) -> None:
    assert make(s3, bucket, public=True).url("a.jpg") == f"{s3.url}/{bucket}/catalog/media/a.jpg"
    cdn = make(s3, bucket, base_url="https://img.example.com/")
    assert cdn.url("a.jpg") == "https://img.example.com/catalog/media/a.jpg"


def test_store_survives_pickling_for_process_workers(s3: S3Endpoint, bucket: str) -> None:
    import pickle

    store = make(s3, bucket)
    store.put("a.jpg", io.BytesIO(b"x"), content_type="image/jpeg")
    assert pickle.loads(pickle.dumps(store)).get("a.jpg") == b"x"


def test_delete_removes_the_object_and_a_missing_key_is_fine(s3: S3Endpoint, bucket: str) -> None:
    store = make(s3, bucket)
    store.put("originals/ab/x.jpg", io.BytesIO(b"bytes"), content_type="image/jpeg")
    assert store.exists("originals/ab/x.jpg")
    store.delete("originals/ab/x.jpg")
    assert not store.exists("originals/ab/x.jpg")
    store.delete("originals/ab/x.jpg")  # already gone: no error


def _count_listings(store: S3AssetStore) -> list[str]:
    """One entry per ListObjectsV2 request the store sends."""
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append("page"))
    return calls


def test_listing_pages_through_the_prefix_and_gives_relative_keys(s3: S3Endpoint, bucket: str) -> None:
    store = make(s3, bucket, list_page_size=2)
    keys = [f"originals/0{n}/x{n}.jpg" for n in range(5)]
    for key in keys:
        store.put(key, io.BytesIO(b"12345"), content_type="image/jpeg")
    for stranger in ("catalog/media-old/originals/00/y.jpg", "catalog/feed.json", "originals/00/z.jpg"):
        s3.client().put_object(Bucket=bucket, Key=stranger, Body=b"not ours")
    calls = _count_listings(store)
    listed = list(store.objects())
    assert [o.key for o in listed] == keys and len(calls) == 3
    assert all(o.size == 5 and o.modified.tzinfo is not None for o in listed)
    assert [o.key for o in store.objects("originals/03/")] == ["originals/03/x3.jpg"]


CRASHED = hashlib.sha256(b"written to S3, then the process died").hexdigest()


@pytest.fixture
def named(store: Store, s3: S3Endpoint, bucket: str, tmp_path: Path) -> tuple[S3AssetStore, list[str]]:
    """An S3 asset store (two keys a listing page) holding one ingested image and its rendition, both named."""
    assets = make(s3, bucket, list_page_size=2)
    (tmp_path / "a.jpg").write_bytes(images.photo_jpeg(80, 60, 1))
    ingest(store, [("a.jpg", "erp")], asset_store=assets, base_dir=tmp_path)
    build_renditions(store, [RenditionSpec(name="thumb", max_width=40, max_height=40, format="JPEG")],
                     asset_store=assets)
    kept = [o.key for o in assets.objects()]
    assert len(kept) == 2  # the original and its rendition
    return assets, kept


def test_s3_orphans_older_than_the_grace_go_and_named_objects_stay(store: Store, s3: S3Endpoint, bucket: str,
                                                                   named: tuple[S3AssetStore, list[str]]) -> None:
    assets, kept = named
    orphans = [original_key(CRASHED, "jpg"), original_key(CRASHED, "png"), rendition_key(CRASHED, "0" * 64, "webp")]
    for key in orphans:
        assets.put(key, io.BytesIO(b"orphan"), content_type="image/jpeg")
    assets.put("storefront.json", io.BytesIO(b"{}"), content_type="application/json")  # the S3 exporter's, same prefix
    s3.client().put_object(Bucket=bucket, Key="catalog/media-old/" + orphans[0], Body=b"outside the prefix")
    calls = _count_listings(assets)
    result = GcResult()
    sweep_orphans(store, assets, cutoff=now(), dry_run=False, result=result)
    assert result.orphans == 3 and not any(assets.exists(k) for k in orphans)
    assert len(calls) == 3  # originals/ took two pages (three keys, two a page), renditions/ one
    assert all(assets.exists(k) for k in kept) and assets.exists("storefront.json")
    assert s3.client().head_object(Bucket=bucket, Key="catalog/media-old/" + orphans[0])


def test_s3_orphan_younger_than_the_grace_stays(store: Store, named: tuple[S3AssetStore, list[str]]) -> None:
    assets, _ = named
    assets.put(original_key(CRASHED, "jpg"), io.BytesIO(b"orphan"), content_type="image/jpeg")
    result = GcResult()
    sweep_orphans(store, assets, cutoff=now() - timedelta(days=1), dry_run=False, result=result)
    assert result.orphans == 0 and assets.exists(original_key(CRASHED, "jpg"))


def test_s3_dry_run_counts_orphans_and_deletes_nothing(store: Store, named: tuple[S3AssetStore, list[str]]) -> None:
    assets, _ = named
    assets.put(original_key(CRASHED, "jpg"), io.BytesIO(b"orphan"), content_type="image/jpeg")
    result = GcResult()
    sweep_orphans(store, assets, cutoff=now(), dry_run=True, result=result)
    assert (result.orphans, result.orphan_bytes) == (1, len(b"orphan")) and assets.exists(original_key(CRASHED, "jpg"))
