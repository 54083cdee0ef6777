"""Tenant tokens: signed with a search API key, verified by the double, filtering to the contracted SKUs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
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


def _modes(result) -> set[str]:
    return {a.meta["mode"] for a in result.artifacts}


def test_without_contracts_a_price_list_change_of_who_sees_what_rebuilds_the_index(indexed: ServedDouble, store: Store,
                                                                                  tmp_path: Path) -> None:
    from pim.commerce import CompletePriceLists, PriceListEntry, put_price_list

    put_price_list(store, [PriceListEntry(customer="acme-gmbh", sku=CABLE, currency="EUR", price=Decimal("3.9"))])
    assert _modes(publish_search(store, tmp_path)) == {"incremental"}  # a new price, nobody new sees it
    put_price_list(store, [PriceListEntry(customer="globex", sku=CABLE, currency="EUR", price=Decimal("4.5"))])
    result = publish_search(store, tmp_path)
    assert _modes(result) == {"full"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "globex")).json()["hits"]} == {"HP-100-BLK", CABLE}
    # acme's complete price list no longer holds the cable: acme stops finding it
    lists = CompletePriceLists(store)
    lists.put(store, [PriceListEntry(customer="acme-gmbh", sku="HP-100-RED", currency="EUR", price=Decimal("80"))])
    assert lists.finish(remove=True) == 1
    assert _modes(publish_search(store, tmp_path)) == {"full"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "acme-gmbh")).json()["hits"]} == {"HP-100-RED"}


def test_a_contract_change_rebuilds_the_index_so_visibility_follows_the_contracts(indexed: ServedDouble, store: Store,
                                                                                 tmp_path: Path) -> None:
    from pim.contracts import Assortment, Contract, Delivery, Rule, delete_contract, put_contracts

    contract = Contract(code="globex-cables", customer="globex", assortment=Assortment(rules=[Rule(categories=["cables"])]),
                        locale="de_DE", currency="EUR", channel="ecommerce", delivery=Delivery(portal=True))
    put_contracts(store, [contract])
    result = publish_search(store, tmp_path)
    assert _modes(result) == {"full"} and {a.meta["reason"] for a in result.artifacts} == {
        "contracts or price lists changed which customers may see which products"}
    # the contracts now decide alone: globex sees the cables, acme (no contract) nothing
    assert {h["sku"] for h in search(indexed, token_for(indexed, "globex")).json()["hits"]} == {CABLE}
    assert search(indexed, token_for(indexed, "acme-gmbh")).json()["hits"] == []
    assert _modes(publish_search(store, tmp_path)) == {"incremental"}  # nothing changed since
    delete_contract(store, "globex-cables")
    assert _modes(publish_search(store, tmp_path)) == {"full"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "globex")).json()["hits"]} == {"HP-100-BLK"}


@pytest.fixture
def sent(indexed: ServedDouble, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SKUs of the English documents the double receives (in place or into a swap index)."""
    received: list[str] = []
    add = indexed.double.add_documents

    def recording(uid: str, docs: list[dict], primary_key: str | None, replace: bool) -> None:
        if uid.removesuffix("_build").endswith("en_US"):
            received.extend(d["sku"] for d in docs)
        add(uid, docs, primary_key, replace)

    monkeypatch.setattr(indexed.double, "add_documents", recording)
    return received


def _sent_by(publishing, sent: list[str]) -> set[str]:
    sent.clear()
    publishing()
    return set(sent)


def test_a_contract_change_between_contracts_resends_only_the_products_it_touches(
        indexed: ServedDouble, store: Store, tmp_path: Path, sent: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from pim.contracts import Assortment, Contract, Delivery, Rule, delete_contract, put_contracts

    monkeypatch.setattr("channels.search_visibility.REBUILD_SHARE", 1.0)  # three products: never "most of them"

    def contract(code: str, customer: str, assortment: Assortment) -> Contract:
        return Contract(code=code, customer=customer, assortment=assortment, locale="de_DE", currency="EUR",
                        channel="ecommerce", delivery=Delivery(portal=True))

    def push() -> object:
        result = publish_search(store, tmp_path)
        modes.append(_modes(result))
        reasons.append({a.meta["reason"] for a in result.artifacts})
        return result

    modes: list[set[str]] = []
    reasons: list[set[str]] = []
    put_contracts(store, [contract("globex-cables", "globex", Assortment(rules=[Rule(categories=["cables"])])),
                          contract("acme-red", "acme-gmbh", Assortment(skus=["HP-100-RED"]))])
    assert _sent_by(push, sent) == {"HP-100-RED", "HP-100-BLK", CABLE} and modes[-1] == {"full"}  # price lists → contracts
    assert {h["sku"] for h in search(indexed, token_for(indexed, "acme-gmbh")).json()["hits"]} == {"HP-100-RED"}

    # acme's assortment moves from the red headphones to the black ones: those two are re-sent, not the cable
    put_contracts(store, [contract("acme-red", "acme-gmbh", Assortment(skus=["HP-100-BLK"]))])
    assert _sent_by(push, sent) == {"HP-100-RED", "HP-100-BLK"} and modes[-1] == {"incremental"}
    assert reasons[-1] == {"changes since the last push, and 2 products whose customers may have changed with the contracts"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "acme-gmbh")).json()["hits"]} == {"HP-100-BLK"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "globex")).json()["hits"]} == {CABLE}

    # a new contract for a new customer re-sends its products only; a removed one only what it held
    put_contracts(store, [contract("initech-cables", "initech", Assortment(rules=[Rule(categories=["cables"])]))])
    assert _sent_by(push, sent) == {CABLE} and modes[-1] == {"incremental"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "initech")).json()["hits"]} == {CABLE}
    delete_contract(store, "globex-cables")
    assert _sent_by(push, sent) == {CABLE} and modes[-1] == {"incremental"}
    assert search(indexed, token_for(indexed, "globex")).json()["hits"] == []
    assert {h["sku"] for h in search(indexed, token_for(indexed, "initech")).json()["hits"]} == {CABLE}
    assert _sent_by(push, sent) == set() and modes[-1] == {"incremental"}  # nothing changed since

    # a rule on values: the variants inherit the model's brand, so both are re-sent, and found
    put_contracts(store, [contract("initech-acme", "initech", Assortment(rules=[Rule(brands=["acme"])]))])
    assert _sent_by(push, sent) == {"HP-100-RED", "HP-100-BLK"} and modes[-1] == {"incremental"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "initech")).json()["hits"]} == {
        "HP-100-RED", "HP-100-BLK", CABLE}


def test_a_contract_change_that_touches_most_of_the_catalog_rebuilds(indexed: ServedDouble, store: Store,
                                                                     tmp_path: Path) -> None:
    from pim.contracts import Assortment, Contract, Delivery, Rule, put_contracts

    base = {"locale": "de_DE", "currency": "EUR", "channel": "ecommerce", "delivery": Delivery(portal=True)}
    put_contracts(store, [Contract(code="acme", customer="acme-gmbh", assortment=Assortment(skus=[CABLE]), **base)])
    assert _modes(publish_search(store, tmp_path)) == {"full"}
    put_contracts(store, [Contract(code="acme", customer="acme-gmbh",
                                   assortment=Assortment(rules=[Rule(families=["headphones", "cables"])]), **base)])
    result = publish_search(store, tmp_path)
    assert _modes(result) == {"full"}
    assert {h["sku"] for h in search(indexed, token_for(indexed, "acme-gmbh")).json()["hits"]} == {
        "HP-100-RED", "HP-100-BLK", CABLE}
