"""A customers provider other than the contracts' (publish option `search_customers`, or the
CUSTOMERS_PROVIDER hook) is fingerprinted by its answers: a changed answer re-sends exactly those products,
a change of most of the catalog or of a declared version rebuilds, with no `--full` to remember. Against the
Meilisearch contract double over real HTTP and an output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from channels.search import tenant_search_rules
from channels.search_documents import customer_tag
from exporters.meilisearch import tenant_token
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, load_catalog, publish_search, variant

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"
RED, BLACK = "HP-100-RED", "HP-100-BLK"


class Provider:
    """Answers from a dict the test changes; records which SKUs it was asked about."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, store: Any, skus: list[str]) -> dict[str, list[str]]:
        self.asked.extend(skus)
        return {sku: self.answers[sku] for sku in skus if sku in self.answers}


#: What the CUSTOMERS_PROVIDER hook test points the hook at.
HOOKED = Provider({})


def hooked(store: Any, skus: list[str]) -> dict[str, list[str]]:
    return HOOKED(store, skus)


def push(store: Store, out: Path, provider: Any = None, **kw: Any) -> dict[str, Any]:
    options = {"search_customers": provider} if provider is not None else {}
    result = publish_search(store, out, **options, **kw)
    docs = [a for a in result.artifacts if a.meta["kind"] == "documents"]
    return {"modes": {a.meta["mode"] for a in docs}, "reasons": {a.meta["reason"] for a in docs},
            "rows": {a.meta["index"]: a.rows for a in docs}}


def finds(meili: ServedDouble, customer: str) -> set[str]:
    key = meili.double.search_key
    token = tenant_token(key["key"], key["uid"], tenant_search_rules("ecommerce", customer))
    r = httpx.post(f"{meili.url}/indexes/{EN}/search", json={"distinct": "sku"}, headers={"Authorization": f"Bearer {token}"})
    return {h["sku"] for h in r.json()["hits"]}


@pytest.fixture
def sent(meili_env: ServedDouble, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SKUs of the English documents the double receives (in place or into a swap index)."""
    received: list[str] = []
    add = meili_env.double.add_documents

    def recording(uid: str, docs: list[dict], primary_key: str | None, replace: bool) -> None:
        if uid.removesuffix("_build") == EN:
            received.extend(d["sku"] for d in docs)
        add(uid, docs, primary_key, replace)

    monkeypatch.setattr(meili_env.double, "add_documents", recording)
    return received


@pytest.fixture
def catalog(store: Store) -> Store:
    load_catalog(store)
    return store


def test_a_changed_answer_resends_exactly_those_products(catalog: Store, meili_env: ServedDouble, sent: list[str],
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.search_visibility.REBUILD_SHARE", 1.0)  # three products: never "most of them"
    provider = Provider({RED: ["initech"], CABLE: ["initech", "umbrella"]})
    assert push(catalog, tmp_path, provider)["modes"] == {"full"}
    assert finds(meili_env, "initech") == {RED, CABLE} and finds(meili_env, "umbrella") == {CABLE}
    sent.clear()
    assert push(catalog, tmp_path, Provider({CABLE: ["umbrella", "initech"], RED: ["initech"]})) == {
        "modes": {"incremental"}, "reasons": {"changes since the last push"}, "rows": {EN: 0, DE: 0}}
    assert sent == []  # the same answers (in another order): nothing re-sent

    provider.answers = {RED: ["initech"], BLACK: ["umbrella"], CABLE: ["initech"]}  # umbrella: cable → black
    pushed = push(catalog, tmp_path, provider)
    assert pushed["modes"] == {"incremental"} and sorted(sent) == sorted([BLACK, CABLE])
    assert pushed["reasons"] == {"changes since the last push, and 2 products whose customers the customers provider changed"}
    assert finds(meili_env, "umbrella") == {BLACK} and finds(meili_env, "initech") == {RED, CABLE}
    assert set(provider.asked) == {RED, BLACK, CABLE}  # asked about the whole catalog, not only what was read

    # a product written since is sent for that reason: a changed answer for it is not counted again
    sent.clear()
    catalog.upsert_products([variant(RED, "red", material="canvas")])
    provider.answers[RED] = ["globex"]
    pushed = push(catalog, tmp_path, provider)
    assert sent == [RED] and pushed["reasons"] == {"changes since the last push"}
    assert finds(meili_env, "globex") == {RED}


def test_a_change_of_most_of_the_catalog_rebuilds(catalog: Store, meili_env: ServedDouble, tmp_path: Path) -> None:
    provider = Provider({RED: ["initech"]})
    push(catalog, tmp_path, provider)
    provider.answers = {RED: ["umbrella"], BLACK: ["umbrella"], CABLE: ["umbrella"]}
    assert push(catalog, tmp_path, provider) == {
        "modes": {"full"}, "reasons": {"the customers provider changed which customers may see which products"},
        "rows": {EN: 3, DE: 3}}
    assert finds(meili_env, "umbrella") == {RED, BLACK, CABLE} and finds(meili_env, "initech") == set()


def test_switching_between_the_contracts_and_a_provider_rebuilds(catalog: Store, meili_env: ServedDouble,
                                                                 tmp_path: Path) -> None:
    push(catalog, tmp_path)  # the default: contract prices decide (acme-gmbh, globex)
    provider = Provider({CABLE: ["initech"]})
    assert push(catalog, tmp_path, provider)["modes"] == {"full"}
    assert finds(meili_env, "initech") == {CABLE} and finds(meili_env, "acme-gmbh") == set()
    assert push(catalog, tmp_path, provider)["modes"] == {"incremental"}
    assert push(catalog, tmp_path)["reasons"] == {"contracts or price lists changed which customers may see which products"}
    assert finds(meili_env, "acme-gmbh") == {RED, CABLE} and finds(meili_env, "initech") == set()


def test_a_declared_version_spares_asking_the_catalog_and_a_new_one_rebuilds(catalog: Store, meili_env: ServedDouble,
                                                                            tmp_path: Path) -> None:
    provider = Provider({RED: ["initech"]})
    provider.version = "v1"  # type: ignore[attr-defined]
    push(catalog, tmp_path, provider)
    provider.asked.clear()
    provider.answers = {RED: ["umbrella"]}  # not announced: the provider's own promise is broken, nothing notices
    assert push(catalog, tmp_path, provider)["modes"] == {"incremental"}
    assert provider.asked == [] and finds(meili_env, "initech") == {RED}
    provider.version = lambda store: "v2"  # type: ignore[attr-defined]
    pushed = push(catalog, tmp_path, provider)
    assert pushed["modes"] == {"full"} and finds(meili_env, "umbrella") == {RED}
    assert sorted(provider.asked) == sorted([RED, BLACK, CABLE])  # asked while the documents were built, once each


def test_another_customers_provider_hook_is_fingerprinted_too(catalog: Store, meili_env: ServedDouble, sent: list[str],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.search.CUSTOMERS_PROVIDER", "tests.test_search_customers:hooked")
    monkeypatch.setattr("channels.search_visibility.REBUILD_SHARE", 1.0)
    monkeypatch.setattr(HOOKED, "answers", {CABLE: ["initech"]})
    push(catalog, tmp_path)
    sent.clear()
    HOOKED.answers[RED] = ["initech"]
    assert push(catalog, tmp_path)["modes"] == {"incremental"} and sent == [RED]
    assert finds(meili_env, "initech") == {RED, CABLE}


def test_an_output_folder_is_sent_the_changed_answers(catalog: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEILI_URL", raising=False)
    monkeypatch.setattr("channels.search_visibility.REBUILD_SHARE", 1.0)
    out = tmp_path / "out"
    provider = Provider({CABLE: ["initech"]})
    assert push(catalog, out, provider)["rows"] == {EN: 3, DE: 3}
    provider.answers[BLACK] = ["umbrella"]
    assert push(catalog, out, provider) == {
        "modes": {"incremental"}, "rows": {EN: 1, DE: 1},
        "reasons": {"changes since the last push, and 1 products whose customers the customers provider changed"}}
    docs = [orjson.loads(line) for line in (out / "search" / EN / "documents.ndjson").read_bytes().splitlines()]
    assert [(d["sku"], d["customers"]) for d in docs] == [(BLACK, [customer_tag("umbrella")])]
