"""S3 (or any S3-compatible endpoint): each artifact is one PUT under PIM_S3_PREFIX, so a reader sees the
old object or the new one, never half of one, and nothing is staged in the bucket. Configured by PIM_S3_BUCKET /
PIM_S3_PREFIX / PIM_S3_ENDPOINT_URL and the usual AWS credentials; boto3 is imported only here.

The renderers stage the files locally, under the output's `.staging/job-<id>`, as for a local publication: once
the files are up that dir goes, and so do those publications killed mid-run left in the same output
(exporters.local's sweep, pim.maintenance.prune_staging).

As at a local output, the objects the renderer's last publication of the scope put under the prefix and this one
did not are then removed (or, for search, reported), as a manifest object `<prefix>/.published/<renderer>.<scope>.json`
lists them (exporters.published); an object is deleted only while it still carries the metadata this exporter
writes (`job`), so one someone else has since put under that key stays. A manifest that is there but may not be
read (a 403 on GET while a listing shows the key: a KMS key or an ACL) is left as it is and nothing is removed
that time, with a warning: writing a fresh one would forget for good what the last publication put."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from exporters import published
from exporters.local import sweep_staging
from pim.errors import ConfigError, DeliveryError
from pim.protocols import Artifact, PublishContext

log = logging.getLogger(__name__)


class UnreadableManifest(Exception):
    """The manifest object is there (a listing shows it) but GET is denied: it must not be replaced."""


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

    def key(self, artifact: Artifact | str) -> str:
        name = artifact if isinstance(artifact, str) else artifact.name
        return f"{self.prefix}/{name}" if self.prefix else name

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
        if artifacts:
            self._clean(ctx, [a.name for a in artifacts])
        shutil.rmtree(ctx.output_dir / ".staging" / f"job-{ctx.job_id}", ignore_errors=True)
        sweep_staging(ctx)
        return written

    def _clean(self, ctx: PublishContext, names: list[str]) -> list[str]:
        """Remove (or report) the objects the last publication of this renderer and scope put here and this one,
        which wrote `names`, did not; then replace the manifest. The files are out: a failure here is logged, and
        the next publication tries again (the manifest still lists them)."""
        from botocore.exceptions import BotoCoreError, ClientError

        plan = published.stale_mode(ctx)
        if plan is None:
            return []
        renderer, mode = plan
        manifest = self.key(published.manifest_name(renderer, ctx.channel))
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        failed = f"the manifest s3://{self.bucket}/{manifest} could not be read, so nothing it lists was removed"
        try:
            try:
                listed = published.listed(self._read(manifest))
            except UnreadableManifest as exc:
                log.warning("the files are up, but the manifest s3://%s/%s is there and these credentials may not "
                            "read it (%s): it was left as it is and nothing the last %s publication of %s put in %s "
                            "was removed; allow s3:GetObject on it (and kms:Decrypt on its KMS key, if it is "
                            "encrypted with one), and the next publication cleans up", self.bucket, manifest, exc,
                            renderer, ctx.channel, where)
                return []
            failed = (f"which objects the last {renderer} publication of {ctx.channel} put in {where} and this one "
                      "does not could not be checked or removed")
            gone = [n for n in published.stale(listed, names, mode) if self._ours(n)]
            if gone and mode == "remove":
                for name in gone:
                    self.client().delete_object(Bucket=self.bucket, Key=self.key(name))
                published.say_removed(log, renderer, ctx, gone, where)
            elif gone:
                published.report_indexes(ctx, gone, f"{where}/search")
            failed = (f"the manifest s3://{self.bucket}/{manifest} could not be written, so the objects this "
                      "publication put cannot be told apart from others' next time (allow s3:PutObject on it)")
            self.client().put_object(Bucket=self.bucket, Key=manifest, ContentType="application/json",
                                     Body=published.manifest(renderer, ctx, names, gone, mode))
        except (BotoCoreError, ClientError) as exc:
            log.warning("the files are up, but %s (the next publication tries again): %s", failed, exc)
            return []
        return gone

    def _read(self, key: str) -> bytes | None:
        """An object's bytes; None when there is none. Without s3:ListBucket, S3 answers a missing key with 403
        (AccessDenied), not 404, so a 403 is told apart by listing the key: listed, the object is there and may not
        be read (UnreadableManifest); not listed, or the listing denied too, it counts as none."""
        from botocore.exceptions import ClientError

        try:
            return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            if _code(exc) in DENIED:
                if self._listed(key):
                    raise UnreadableManifest(f"{_code(exc)} on GetObject") from exc
                return None
            raise

    def _listed(self, key: str) -> bool | None:
        """Whether a listing shows `key`; None when listing is denied too (no s3:ListBucket: then a 403 on GET is
        what S3 answers for a missing key)."""
        from botocore.exceptions import ClientError

        try:
            page = self.client().list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except ClientError as exc:
            if _code(exc) in DENIED:
                return None
            raise
        return any(o.get("Key") == key for o in page.get("Contents") or [])  # the key sorts first of its prefix

    def _ours(self, name: str) -> bool:
        """Whether the object a manifest lists is there and still one this exporter put (its `job` metadata)."""
        from botocore.exceptions import ClientError

        try:
            head = self.client().head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if _code(exc) in MISSING or _code(exc) in DENIED:  # denied: not known to be ours, so it stays
                return False
            raise
        return "job" in (head.get("Metadata") or {})


#: Error codes S3 answers a missing key with; DENIED: what it answers instead to credentials without s3:ListBucket
#: (and for any key they may not read). A HEAD has no body, so only its status is the code.
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED = frozenset({"AccessDenied", "403", "Forbidden"})


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
