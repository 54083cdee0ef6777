"""The push and tenant-token scenarios against a REAL Meilisearch, when one is configured:

    MEILI_URL=http://127.0.0.1:7700 MEILI_MASTER_KEY=... .venv/bin/python -m pytest -q tests/test_meili_live.py

Indexes are created under a unique prefix and deleted afterwards. Without MEILI_URL and MEILI_MASTER_KEY the
module is skipped (no server can be installed from this project's registries; the double covers CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from channels.search import tenant_search_rules
from exporters.meilisearch import MeiliConfig, search_api_key, tenant_token
from pim.store import Store
from tests.search_data import CABLE, cable, load_catalog, publish_search

pytestmark = [
    pytest.mark.live_meili,
    pytest.mark.skipif(not (os.environ.get("MEILI_URL") and os.environ.get("MEILI_MASTER_KEY")),
                       reason="no real Meilisearch: set MEILI_URL and MEILI_MASTER_KEY to run these (the double covers CI)"),
]


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"pimtest{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MEILI_INDEX_PREFIX", prefix)
    yield prefix
    headers = {"Authorization": f"Bearer {os.environ['MEILI_MASTER_KEY']}"}
    url = os.environ["MEILI_URL"].rstrip("/")
    for index in httpx.get(f"{url}/indexes", params={"limit": 1000}, headers=headers).json()["results"]:
        if index["uid"].startswith(prefix):
            httpx.delete(f"{url}/indexes/{index['uid']}", headers=headers)


def _search(uid: str, token: str, **body: object) -> list[str]:
    r = httpx.post(f"{os.environ['MEILI_URL'].rstrip('/')}/indexes/{uid}/search", json={"distinct": "sku", **body},
                   headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return sorted(h["sku"] for h in r.json()["hits"])


def test_full_then_incremental_push_with_gate_delete(store: Store, tmp_path: Path, live: str) -> None:
    load_catalog(store)
    publish_search(store, tmp_path)
    store.upsert_products([cable(**{"name:de_DE": None})])
    publish_search(store, tmp_path)
    key = os.environ["MEILI_MASTER_KEY"]
    assert _search(f"{live}_ecommerce_en_US", key) == ["HP-100-BLK", "HP-100-RED"]


def test_tenant_token_filters_to_exactly_the_contracted_skus(store: Store, tmp_path: Path, live: str) -> None:
    load_catalog(store)
    publish_search(store, tmp_path, full=True)
    key, uid = search_api_key(MeiliConfig.from_env())
    token = tenant_token(key, uid, tenant_search_rules("ecommerce", "acme-gmbh", prefix=live))
    assert _search(f"{live}_ecommerce_en_US", token) == sorted(["HP-100-RED", CABLE])
