"""An S3 endpoint over real HTTP: moto's server mode on a loopback port, with boto3 talking to it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_buckets = itertools.count()


@dataclass
class S3Endpoint:
    url: str
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = "testing"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """The endpoint, with AWS credentials in the environment pointing nowhere real."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    return s3_server


def asset_store_of(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A media asset store for tests parametrized over both: "local" (a temp folder) or "s3" (a fresh bucket on
    the moto endpoint)."""
    from media.store_local import LocalAssetStore
    from media.store_s3 import S3AssetStore

    if kind == "local":
        return LocalAssetStore(tmp_path / "media")
    endpoint = request.getfixturevalue("s3")
    bucket = f"assets-{os.getpid()}-{next(_buckets)}"
    endpoint.client().create_bucket(Bucket=bucket)
    return S3AssetStore(bucket, "media", endpoint_url=endpoint.url, region=endpoint.region)
