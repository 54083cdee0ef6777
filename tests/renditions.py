"""One photo ingested and rendered for one channel, as tests of what links renditions need it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from media.ingest import ingest
from media.renditions import build_renditions
from media.settings import load_media_file
from media.storage import open_asset_store
from pim.settings import reset_settings
from pim.store import Store
from tests import images


def rendered_photo(store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, channel: str,
                   rendition: dict[str, Any], ref: str) -> None:
    """Declare `rendition` for `channel` in PIM_HOME/media.yaml, ingest a photo as `ref` (source erp) and build it;
    PIM_CDN_BASE_URL unset, so links come from the local asset store unless a base is given."""
    monkeypatch.delenv("PIM_CDN_BASE_URL", raising=False)
    reset_settings()
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "media.yaml").write_text(yaml.safe_dump({"channels": {channel: {"renditions": [rendition]}}}),
                                        encoding="utf-8")
    photos = tmp_path / "photos"
    (photos / ref).parent.mkdir(parents=True, exist_ok=True)
    (photos / ref).write_bytes(images.photo_jpeg(600, 600, 1))
    ingest(store, [(ref, "erp")], asset_store=open_asset_store(), base_dir=photos)
    media = load_media_file()
    build_renditions(store, media.channel(channel).renditions, asset_store=open_asset_store(media=media))
