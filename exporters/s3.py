"""S3 (or any S3-compatible endpoint): each artifact is one PUT under PIM_S3_PREFIX, so a reader sees the
old object or the new one, never half of one, and nothing is staged in the bucket. Configured by PIM_S3_BUCKET /
PIM_S3_PREFIX / PIM_S3_ENDPOINT_URL and the usual AWS credentials; boto3 is imported only here.

The renderers stage the files locally, under the output's `.staging/job-<id>`, as for a local publication: once
the files are up that dir goes, and so do those publications killed mid-run left in the same output
(exporters.local's sweep, pim.maintenance.prune_staging)."""

from __future__ import annotations

import shutil
from typing import Any

from exporters.local import sweep_staging
from pim.errors import ConfigError, DeliveryError
from pim.protocols import Artifact, PublishContext


class S3Exporter:
    name = "s3"

    def __init__(self, bucket: str | None = None, prefix: str | None = None, endpoint_url: str | None = None,
                 client: Any = None) -> None:
        from pim.settings import get_settings

        s = get_settings()
        self.bucket = bucket or s.s3_bucket
        self.prefix = (prefix if prefix is not None else s.s3_prefix).strip("/")
        self.endpoint_url = endpoint_url or s.s3_endpoint_url
        self._client = client

    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def key(self, artifact: Artifact) -> str:
        return f"{self.prefix}/{artifact.name}" if self.prefix else artifact.name

    def push(self, artifacts: list[Artifact], ctx: PublishContext) -> list[str]:
        if not self.bucket:
            raise ConfigError("no S3 bucket configured", hint="set PIM_S3_BUCKET (and PIM_S3_ENDPOINT_URL for non-AWS)")
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        written = []
        for a in artifacts:
            key = self.key(a)
            try:
                with a.path.open("rb") as body:
                    self.client().put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=a.content_type,
                                             Metadata={"rows": str(a.rows), "job": str(ctx.job_id or "")})
            except EndpointConnectionError as exc:
                raise DeliveryError(f"cannot reach S3 at {self.endpoint_url or 'AWS'}: {exc}", retryable=True) from exc
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                raise DeliveryError(f"S3 refused s3://{self.bucket}/{key}: {code} {exc}",
                                    retryable=code in {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable"},
                                    hint="check the bucket exists and the credentials may write to it") from exc
            except BotoCoreError as exc:
                raise DeliveryError(f"upload to s3://{self.bucket}/{key} failed: {exc}", retryable=True) from exc
            written.append(f"s3://{self.bucket}/{key}")
        shutil.rmtree(ctx.output_dir / ".staging" / f"job-{ctx.job_id}", ignore_errors=True)
        sweep_staging(ctx)
        return written
