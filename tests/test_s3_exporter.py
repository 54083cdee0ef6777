from pathlib import Path

import pytest

from exporters.s3 import S3Exporter
from pim.errors import ConfigError, DeliveryError
from pim.pipeline import publish
from pim.protocols import Artifact, PublishContext
from pim.catalog import Structure
from pim.store import Store
from tests.channel_data import seed_products


def test_publish_pushes_the_feed_to_s3(store: Store, tmp_path: Path, s3, monkeypatch) -> None:
    s3.client().create_bucket(Bucket="pim-feeds")
    monkeypatch.setenv("PIM_S3_BUCKET", "pim-feeds")
    monkeypatch.setenv("PIM_S3_PREFIX", "catalogs/")
    monkeypatch.setenv("PIM_S3_ENDPOINT_URL", s3.url)
    from pim.settings import reset_settings

    reset_settings()
    seed_products(store)
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", exporter="s3")
    assert sorted(result.locations) == ["s3://pim-feeds/catalogs/google_merchant/feed.ecommerce.de_DE.xml",
                                        "s3://pim-feeds/catalogs/google_merchant/feed.ecommerce.en_US.xml"]
    obj = s3.client().get_object(Bucket="pim-feeds", Key="catalogs/google_merchant/feed.ecommerce.en_US.xml")
    assert obj["ContentType"] == "application/rss+xml"
    assert b"<g:id>complete</g:id>" in obj["Body"].read()
    assert not (tmp_path / "out" / ".staging" / f"job-{result.job_id}").exists()


def _ctx(tmp_path: Path) -> tuple[list[Artifact], PublishContext]:
    f = tmp_path / "a.json"
    f.write_text("{}")
    return [Artifact(path=f, name="x/a.json", content_type="application/json")], PublishContext(Structure(), tmp_path, "c")


def test_missing_bucket_is_a_delivery_error_not_a_traceback(tmp_path: Path, s3) -> None:
    artifacts, ctx = _ctx(tmp_path)
    with pytest.raises(DeliveryError, match="NoSuchBucket") as err:
        S3Exporter(bucket="no-such-bucket", endpoint_url=s3.url).push(artifacts, ctx)
    assert not err.value.retryable


def test_unconfigured_bucket_says_what_to_set(tmp_path: Path, pim_env) -> None:
    artifacts, ctx = _ctx(tmp_path)
    with pytest.raises(ConfigError) as err:
        S3Exporter().push(artifacts, ctx)
    assert "PIM_S3_BUCKET" in err.value.describe()
