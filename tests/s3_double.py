"""TEST DOUBLE — NOT S3. A bucket as boto3's client shows it to exporters.s3, seen with s3:ListBucket (a missing key
is NoSuchKey, a 404 to HEAD) or without it (every missing key a 403 AccessDenied, listing refused), for the S3
clean-up tests that need what MinIO cannot give: a key that is there but may not be read, a PUT refused. And one
publication pushed to it the way the pipeline pushes one (S3Exporter.push of staged artifacts)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

#: A publication's feeds; a later one that writes others leaves these to its clean-up.
FEEDS = ["google_merchant/feed.ecommerce.en_US.xml", "google_merchant/feed.ecommerce.de_DE.xml"]
MANIFEST = ".published/google_merchant.ecommerce.json"


class S3Bucket:
    """The objects (key → body, metadata) of one bucket. `may_list` False: credentials with Put/Get/DeleteObject
    and no s3:ListBucket. `refuse_put`: a PUT of a key ending so is AccessDenied. `unreadable`: keys that are there
    but whose GET is AccessDenied (a KMS key or an ACL the credentials may not use)."""

    def __init__(self, may_list: bool = True, refuse_put: str = "") -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.may_list, self.refuse_put, self.unreadable = may_list, refuse_put, set[str]()

    def _error(self, code: str, op: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, op)

    def put_object(self, Bucket: str, Key: str, Body: Any, ContentType: str = "",  # noqa: N803  (boto3's names)
                   Metadata: dict[str, str] | None = None) -> None:
        if self.refuse_put and Key.endswith(self.refuse_put):
            raise self._error("AccessDenied", "PutObject")
        self.objects[Key] = (Body.read() if hasattr(Body, "read") else Body, Metadata or {})

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if Key in self.unreadable:
            raise self._error("AccessDenied", "GetObject")
        if Key not in self.objects:
            raise self._error("NoSuchKey" if self.may_list else "AccessDenied", "GetObject")
        return {"Body": io.BytesIO(self.objects[Key][0])}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if Key not in self.objects:
            raise self._error("404" if self.may_list else "403", "HeadObject")
        return {"Metadata": self.objects[Key][1]}

    def delete_object(self, Bucket: str, Key: str) -> None:  # noqa: N803
        self.objects.pop(Key, None)

    def list_objects_v2(self, Bucket: str, Prefix: str = "", MaxKeys: int = 1000) -> dict[str, Any]:  # noqa: N803
        if not self.may_list:
            raise self._error("AccessDenied", "ListObjectsV2")
        return {"Contents": [{"Key": k} for k in sorted(k for k in self.objects if k.startswith(Prefix))][:MaxKeys]}


def publish_to(bucket: S3Bucket, tmp_path: Path, job: int, names: list[str]) -> None:
    """Publication `job` of the google_merchant feeds `names` (ecommerce) pushed to `bucket`, as the pipeline
    pushes one: the files staged under tmp_path, then S3Exporter.push (which cleans up the last one's)."""
    from exporters.s3 import S3Exporter
    from pim.catalog import Structure
    from pim.protocols import Artifact, PublishContext

    staged = tmp_path / "staged"
    staged.mkdir(exist_ok=True)
    artifacts = []
    for name in names:
        path = staged / name.replace("/", "_")
        path.write_text(name)
        artifacts.append(Artifact(path=path, name=name, content_type="application/rss+xml"))
    S3Exporter(bucket="b", prefix="", client=bucket).push(artifacts, PublishContext(
        Structure(), tmp_path / "out", "ecommerce", job_id=job, options={"renderer": "google_merchant"}))
