"""Mass edit from the grid: one value on the ticked products, or on every product the filter finds; merged as
the content team's claims (precedence, candidates, history) and summed up on the grid; a wrong value changes
nothing; viewers cannot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim.merge import candidates_for
from pim.store import Store
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)


@pytest.fixture
def web(client: TestClient) -> TestClient:  # noqa: F811  (the fixture test_web_ui defines)
    """test_web_ui's seeded client (users ed, editor, and vi, viewer)."""
    return client


def _notice(html: str) -> str:
    import html as markup

    return markup.unescape(re.search(r'<p class="notice" role="status">([^<]+)</p>', html).group(1))  # type: ignore[union-attr]


def test_a_value_on_the_ticked_products(web: TestClient, store: Store) -> None:
    token = login(web)
    grid = web.get("/products").text
    assert 'form="bulk"' in grid and 'value="complete"' in grid
    done = web.post("/products/bulk", data={"csrf_token": token, "key": "mpn", "value": "RN-2", "scope": "selected",
                                            "sku": ["complete", "long-title"], "filter": "family=shoes"})
    assert done.status_code == 200 and _notice(done.text) == "mpn set on 2 products."
    assert [store.get_product(i).values["mpn"] for i in ("complete", "long-title")] == ["RN-2", "RN-2"]  # type: ignore[union-attr]
    assert {s: c.value for s, c in candidates_for(store, "complete")["mpn"].items()} == {"erp": "RN-1"}
    again = web.post("/products/bulk", data={"csrf_token": token, "key": "mpn", "value": "RN-2", "scope": "selected",
                                             "sku": ["complete"]})
    assert _notice(again.text) == "mpn set on 0 products; 1 already showed it."
    assert "mpn" in web.get("/products/complete").text.split('<table class="history">')[1]


def test_every_product_the_filter_finds_and_precedence_keeps_some_aside(web: TestClient, store: Store,
                                                                        pim_env: Path) -> None:
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "precedence.yaml").write_text("attributes:\n  color: [erp, content]\ndefault: [content]\n")
    token = login(web)
    shoes = [p.identifier for p in store.iter_products() if p.family == "shoes"]
    done = web.post("/products/bulk", data={"csrf_token": token, "key": "color", "value": "blue", "scope": "filter",
                                            "filter": "family=shoes"})
    notice = _notice(done.text)
    held = [i for i in shoes if (store.get_product(i).values.get("color") or "blue") != "blue"]  # type: ignore[union-attr]
    assert held == ["runner-red"]  # the ERP's red ranks first for color: kept aside
    assert notice == f"color set on {len(shoes) - 1} products; 1 kept aside (another source ranks first)."


def test_wrong_values_and_viewers_change_nothing(web: TestClient, store: Store) -> None:
    viewer = login(web, "vi")
    assert web.post("/products/bulk", data={"csrf_token": viewer, "key": "mpn", "value": "X", "sku": "complete"}).status_code == 403
    assert 'form="bulk"' not in web.get("/products").text
    web.cookies.clear()
    token = login(web)
    for data, said in (({"key": "color", "value": "purple"}, "Not applied: color: option 'purple' does not exist"),
                       ({"key": "price", "value": "9"}, "Not applied: price: '9' is not a list of prices"),
                       ({"key": "price", "value": "EUR 9, USD"}, "Not applied: price: 'EUR 9, USD' is not a list"),
                       ({"key": "weight", "value": "heavy"}, "Not applied: weight: 'heavy' is not an amount and a unit"),
                       ({"key": "weight", "value": "3 parsec"}, "Not applied: weight: unit 'parsec' is not a unit of Weight"),
                       ({"key": "nope", "value": "x"}, "Not applied: 'nope' is not an attribute"),
                       ({"key": "mpn", "value": "X", "sku": []}, "Not applied: tick some products first")):
        answer = web.post("/products/bulk", data={"csrf_token": token, "scope": "selected", "sku": ["complete"], **data})
        assert _notice(answer.text).startswith(said), _notice(answer.text)
    assert store.get_product("complete").values["mpn"] == "RN-1"  # type: ignore[union-attr]


def test_metric_and_prices_in_one_field(web: TestClient, store: Store) -> None:
    token = login(web)
    before = store.get_product("complete").values["price"]  # type: ignore[union-attr]
    assert before == {"EUR": "49.90", "USD": "54.00"}
    done = web.post("/products/bulk", data={"csrf_token": token, "key": "price", "value": "39,50 EUR; gbp 35",
                                            "scope": "selected", "sku": ["complete"]})
    assert _notice(done.text) == "price set on 1 product."
    # the named currencies change, the product's other currency stays
    assert store.get_product("complete").values["price"] == {"EUR": "39.50", "USD": "54.00", "GBP": "35.00"}  # type: ignore[union-attr]
    assert {s: c.value for s, c in candidates_for(store, "complete")["price"].items()} == {"erp": before}
    done = web.post("/products/bulk", data={"csrf_token": token, "key": "weight", "value": "1.5 kilogram",
                                            "scope": "selected", "sku": ["complete", "long-title"]})
    assert _notice(done.text) == "weight set on 2 products."
    assert store.get_product("long-title").values["weight"] == {"amount": "1.5", "unit": "KILOGRAM"}  # type: ignore[union-attr]
    web.post("/products/bulk", data={"csrf_token": token, "key": "weight", "value": "750",
                                     "scope": "selected", "sku": ["complete"]})
    assert store.get_product("complete").values["weight"] == {"amount": "750", "unit": "GRAM"}  # type: ignore[union-attr]
    history = web.get("/products/complete").text.split('<table class="history">')[1]
    assert "weight" in history and "price" in history


def test_a_metric_takes_a_symbol_or_un_ece_code(web: TestClient, store: Store) -> None:
    token = login(web)
    for typed, stored in (("0,5 kg", {"amount": "0.5", "unit": "KILOGRAM"}), ("12 LBR", {"amount": "12", "unit": "POUND"})):
        web.post("/products/bulk", data={"csrf_token": token, "key": "weight", "value": typed, "scope": "selected",
                                         "sku": ["complete"]})
        assert store.get_product("complete").values["weight"] == stored  # type: ignore[union-attr]
