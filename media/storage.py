"""Which asset store a run uses: S3 when PIM_S3_BUCKET is set, else the local folder (PIM_HOME/media)."""

from __future__ import annotations

from typing import Any

from media.settings import MediaFile


def open_asset_store(settings: Any = None, media: MediaFile | None = None) -> Any:
    from pim.settings import get_settings

    s = settings or get_settings()
    if s.s3_bucket:
        from media.store_s3 import S3AssetStore

        return S3AssetStore(s.s3_bucket, s.s3_prefix, endpoint_url=s.s3_endpoint_url, base_url=s.cdn_base_url,
                            cache_control=(media or MediaFile()).cache_control)
    from media.store_local import LocalAssetStore

    return LocalAssetStore(s.media_root, base_url=s.cdn_base_url)
