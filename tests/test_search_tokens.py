"""Tenant tokens: signed with a search API key, verified by the double, filtering to the contracted SKUs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from channels.search import tenant_search_rules
from exporters.meilisearch import MeiliConfig, search_api_key, tenant_token
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, load_catalog, publish_search

EN = "products_ecommerce_en_US"


def search(meili: ServedDouble, token: str, index: str = EN, **body: object) -> httpx.Response:
    return httpx.post(f"{meili.url}/indexes/{index}/search", json={"distinct": "sku", **body},
                      headers={"Authorization": f"Bearer {token}"})


def token_for(meili: ServedDouble, customer: str, **kw: object) -> str:
    key = meili.double.search_key
    return tenant_token(key["key"], key["uid"], tenant_search_rules("ecommerce", customer), **kw)  # type: ignore[arg-type]


@pytest.fixture
def indexed(store: Store, meili_env: ServedDouble, tmp_path: Path) -> ServedDouble:
    load_catalog(store)  # contract prices: acme-gmbh → HP-100-RED and the cable; globex → HP-100-BLK
    publish_search(store, tmp_path)
    return meili_env


def test_token_filters_to_exactly_the_contracted_skus(indexed: ServedDouble) -> None:
    acme = search(indexed, token_for(indexed, "acme-gmbh")).json()
    globex = search(indexed, token_for(indexed, "globex"), index="products_ecommerce_de_DE").json()
    assert {h["sku"] for h in acme["hits"]} == {"HP-100-RED", CABLE}
    assert {h["sku"] for h in globex["hits"]} == {"HP-100-BLK"}


def test_token_rules_cannot_be_widened_by_the_request_filter(indexed: ServedDouble) -> None:
    hits = search(indexed, token_for(indexed, "globex"), filter='customers = "acme-gmbh"').json()["hits"]
    assert hits == []


def test_token_for_an_unknown_customer_finds_nothing(indexed: ServedDouble) -> None:
    assert search(indexed, token_for(indexed, "nobody")).json()["hits"] == []


def test_double_refuses_a_token_signed_with_another_key_or_expired(indexed: ServedDouble) -> None:
    forged = tenant_token("not-the-key", indexed.double.search_key["uid"], tenant_search_rules("ecommerce", "acme-gmbh"))
    expired = token_for(indexed, "acme-gmbh", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    for token in (forged, expired):
        r = search(indexed, token)
        assert (r.status_code, r.json()["code"]) == (403, "invalid_api_key")


def test_token_only_opens_the_indexes_its_rules_name(indexed: ServedDouble) -> None:
    key = indexed.double.search_key
    other = tenant_token(key["key"], key["uid"], {"other_*": {}})
    assert search(indexed, other).status_code == 403


def test_search_key_is_found_with_the_master_key(meili_env: ServedDouble) -> None:
    key, uid = search_api_key(MeiliConfig.from_env())
    assert (key, uid) == (meili_env.double.search_key["key"], meili_env.double.search_key["uid"])


def test_cli_prints_a_token_that_the_server_accepts(indexed: ServedDouble) -> None:
    from pim.cli import _mount, app

    _mount()
    result = CliRunner().invoke(app, ["search", "token", "--customer", "globex", "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.output)
    assert {h["sku"] for h in search(indexed, out["token"]).json()["hits"]} == {"HP-100-BLK"}
