"""AssetStore on S3 (boto3, imported lazily): bucket + prefix, Content-Type and Cache-Control on every
object, multipart uploads above a threshold, SHA-256 checksums verified by S3, public or presigned URLs.

An upload that fails midway is retried from the start of the stream; a failed multipart upload is
aborted (s3transfer does this), so no partial object is ever visible under the key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

from media.errors import StoreUnavailable
from pim.protocols import StoredObject

log = logging.getLogger(__name__)
MB = 1024 * 1024
_MISSING_BUCKET = {"NoSuchBucket"}
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3AssetStore:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, public: bool = False, base_url: str | None = None,
                 cache_control: str = "public, max-age=31536000, immutable", presign_seconds: int = 3600,
                 multipart_threshold: int = 8 * MB, multipart_chunksize: int = 8 * MB, attempts: int = 3,
                 list_page_size: int = 1000) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.public = public
        self.base_url = base_url.rstrip("/") if base_url else None
        self.cache_control = cache_control
        self.presign_seconds = presign_seconds
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self.attempts = attempts
        self.list_page_size = list_page_size
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:  # process executors pickle the store; clients do not pickle
        return {**self.__dict__, "_client": None}

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                                        config=Config(signature_version="s3v4",
                                                       retries={"max_attempts": 3, "mode": "standard"}))
        return self._client

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # ------------------------------------------------------------------ protocol
    def put(self, key: str, data: BinaryIO, *, content_type: str, size: int | None = None) -> str:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                multipart_chunksize=self.multipart_chunksize, use_threads=False)
        extra = {"ContentType": content_type, "CacheControl": self.cache_control, "ChecksumAlgorithm": "SHA256"}
        start = data.tell() if data.seekable() else None
        for attempt in range(1, self.attempts + 1):
            try:
                self.client.upload_fileobj(data, self.bucket, self.full_key(key), ExtraArgs=extra, Config=config)
                return key
            except Exception as exc:  # noqa: BLE001 - classified below; anything else is a failed upload
                error = self._classify(exc, key)
                if not error.retryable or start is None or attempt == self.attempts:
                    raise error from exc
                log.warning("upload of %s failed (%s); retrying (%d/%d)", key, exc, attempt, self.attempts)
                data.seek(start)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))["Body"].read()
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, key) from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
            return True
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in _NOT_FOUND:
                return False
            raise self._classify(exc, key) from exc

    def delete(self, key: str) -> None:
        try:  # S3 answers 204 for a key that does not exist
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, key) from exc

    def url(self, key: str) -> str:
        """CDN URL when a base URL is set; the object's public URL when the bucket is public; else presigned."""
        full = self.full_key(key)
        if self.base_url:
            return f"{self.base_url}/{full}"
        if self.public:
            endpoint = self.client.meta.endpoint_url.rstrip("/")
            return f"{endpoint}/{self.bucket}/{full}"
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": full},
                                                  ExpiresIn=self.presign_seconds)

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Page through list_objects_v2 under `<store prefix>/<prefix>`, `list_page_size` keys a request. The
        store prefix is listed with its trailing slash, so `media` never reaches into a sibling `media-old/`."""
        root = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root + prefix, PaginationConfig={"PageSize": self.list_page_size})
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"][len(root):], item["LastModified"], item["Size"])
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, prefix) from exc

    def abort_incomplete_uploads(self) -> int:
        """Abort multipart uploads left behind by killed processes under our prefix (they cost storage)."""
        listed = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
        uploads = listed.get("Uploads", [])
        for up in uploads:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
        return len(uploads)

    # ------------------------------------------------------------------ errors
    def _classify(self, exc: Exception, key: str) -> StoreUnavailable:
        code = _code(exc)
        where = f"s3://{self.bucket}/{self.full_key(key)}"
        if code in _MISSING_BUCKET:
            return StoreUnavailable(f"S3 bucket '{self.bucket}' does not exist ({where})", retryable=False,
                                    hint="create the bucket, or fix PIM_S3_BUCKET / PIM_S3_ENDPOINT_URL")
        if code in _NOT_FOUND:
            return StoreUnavailable(f"no object at {where}", retryable=False)
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return StoreUnavailable(f"S3 refused access to {where} ({code})", retryable=False,
                                    hint="check the AWS credentials and the bucket policy")
        return StoreUnavailable(f"S3 transfer to {where} failed: {exc}", retryable=True)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
