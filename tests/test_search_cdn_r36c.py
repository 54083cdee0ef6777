"""Round 36 (C1), a guard: a change of PIM_CDN_BASE_URL rebuilds search documents whose images are plain paths
(never ingested), as it does rendition-linked ones, whether or not media.yaml declares renditions for the channel
(media.links: RenditionLinks.state and OriginalLinks.state both carry the base, channels.search folds it into
the shape). Round 35's review already made it so; this keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from pim.settings import reset_settings
from pim.store import Store
from tests.search_data import load_catalog, publish_search


def _images(out: Path) -> dict[str, Any]:
    path = out / "search" / "products_ecommerce_en_US" / "documents.ndjson"
    return {d["sku"]: d["image"] for d in map(orjson.loads, path.read_bytes().splitlines())}


@pytest.mark.parametrize("renditions", [False, True])
def test_a_new_cdn_base_rebuilds_documents_linking_plain_paths(
        store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renditions: bool) -> None:
    monkeypatch.delenv("MEILI_URL", raising=False)
    if renditions:
        pim_env.mkdir(parents=True, exist_ok=True)
        (pim_env / "media.yaml").write_text(yaml.safe_dump({"channels": {"ecommerce": {"renditions": [
            {"name": "zoom", "max_width": 300, "max_height": 300, "format": "JPEG"}]}}}), encoding="utf-8")
    monkeypatch.setenv("PIM_CDN_BASE_URL", "https://a.example")
    reset_settings()
    load_catalog(store)
    out = tmp_path / "out"
    publish_search(store, out, exporter="local")
    assert _images(out)["HP-100-RED"] == "https://a.example/img/HP-100-RED.jpg"
    monkeypatch.setenv("PIM_CDN_BASE_URL", "https://b.example")
    reset_settings()
    result = publish_search(store, out, exporter="local")
    meta = next(a.meta for a in result.artifacts if a.meta.get("kind") == "documents")
    assert meta["mode"] == "full" and "CDN" in meta["reason"]
    assert _images(out)["HP-100-RED"] == "https://b.example/img/HP-100-RED.jpg"
