"""The losing claims the merge keeps ("other values") are shown where the value is: on the product page, and on
a variant's page for a value it inherits from its model. An editor can use one instead of the winner (pinned
like a conflict pick); a viewer cannot, and a page can only reach its own product and models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from importers.erp_values import partial_model
from pim.conflicts import open_conflicts, other_values
from pim.importing import Parsed, run_import
from pim.merge import MODEL_KEY, Merger, Precedence, candidates_for
from pim.product import Product, Provenance
from pim.store import Store
from pim.web.accounts import authenticate, create_token
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

ERP_ONLY = Precedence(attributes={"name": ["erp"]})  # the content team's name loses and does not own `name`


@pytest.fixture
def web(client: TestClient) -> TestClient:  # noqa: F811  (the fixture test_web_ui defines)
    """test_web_ui's seeded client (users ed, editor, and vi, viewer)."""
    return client


def _content() -> Provenance:
    return Provenance(source="content", ref="c.jsonl:1", at=datetime.now(UTC))


def _losing_name(store: Store, identifier: str, name: str) -> None:
    """The content team sends a name the ERP outranks: kept as a candidate, no conflict (content owns nothing)."""
    Merger(ERP_ONLY).bind(store.structure()).write(
        store, [Product(identifier=identifier, values={"name:en_US": name}, source=_content())])


def _losing_model_name(store: Store, name: str) -> None:
    rec = partial_model("runner_model", {"name:en_US": name}, _content(), {})
    run_import(store, "content", [Parsed(rec, "c.jsonl", 1)], merge=Merger(ERP_ONLY))


def test_a_products_other_values_are_listed_and_an_editor_can_use_one(web: TestClient, store: Store) -> None:
    _losing_name(store, "complete", "Trail Runner")
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    assert open_conflicts(store, ["complete"]) == []  # a lost claim, not a disagreement between owners

    token = login(web)
    page = web.get("/products/complete").text
    assert "1 other value" in page and "Trail Runner" in page and 'data-source="content"' in page
    viewer = authenticate(store, "vi", "correct horse")
    bearer = {"Authorization": f"Bearer {create_token(store, viewer)}"}
    api = web.get("/api/v1/products/complete/candidates", headers=bearer)
    assert api.status_code == 200
    assert [(o["target"], o["value_key"], o["source"], o["value"], o["ref"]) for o in api.json()] == [
        ("complete", "name:en_US", "content", "Trail Runner", "c.jsonl:1")]

    used = web.post("/products/complete/candidates", follow_redirects=False, data={
        "csrf_token": token, "key": "name:en_US", "source": "content", "target": "complete"})
    assert used.status_code == 303
    product = store.get_product("complete")
    assert product is not None and product.values["name:en_US"] == "Trail Runner"
    assert product.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]
    assert {s: c.value for s, c in candidates_for(store, "complete")["name:en_US"].items()} == {"erp": "Runner"}
    page = web.get("/products/complete").text.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    assert "ed (content)" in page and "<code>name:en_US</code>" in page and "Runner → Trail Runner" in page

    _losing_name(store, "complete", "Trail Runner")  # the same record again: the pick holds
    assert store.get_product("complete").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]


def test_a_variant_page_offers_its_models_other_values(web: TestClient, store: Store) -> None:
    _losing_model_name(store, "Trail Runner")
    model = store.get_model("runner_model")
    assert model is not None and model.values["name:en_US"] == "Runner"
    assert other_values(store, "runner-red", "runner_model")[MODEL_KEY + "runner_model"]["name:en_US"][0].value == "Trail Runner"

    token = login(web)
    page = web.get("/products/runner-red").text
    assert "Trail Runner" in page and 'name="target" value="model:runner_model"' in page
    used = web.post("/products/runner-red/candidates", follow_redirects=False, data={
        "csrf_token": token, "key": "name:en_US", "source": "content", "target": MODEL_KEY + "runner_model"})
    assert used.status_code == 303
    model = store.get_model("runner_model")
    assert model is not None and model.values["name:en_US"] == "Trail Runner"
    variant = store.get_product("runner-red")
    assert variant is not None and store.ancestors(variant)[0].values["name:en_US"] == "Trail Runner"


def test_viewers_unknown_sources_and_foreign_targets_change_nothing(web: TestClient, store: Store) -> None:
    _losing_name(store, "complete", "Trail Runner")
    _losing_model_name(store, "Trail Runner")
    viewer = login(web, "vi")
    refused = web.post("/products/complete/candidates", follow_redirects=False, data={
        "csrf_token": viewer, "key": "name:en_US", "source": "content", "target": "complete"})
    assert refused.status_code == 403
    assert "Use</button>" not in web.get("/products/complete").text  # a viewer sees the values, not the button
    web.cookies.clear()

    token = login(web)
    for data in (
        {"key": "name:en_US", "source": "supplier:acme", "target": "complete"},  # claims nothing here
        {"key": "name:en_US", "source": "content", "target": "runner-red"},  # another product
        {"key": "name:en_US", "source": "content", "target": MODEL_KEY + "runner_model"},  # not complete's model
    ):
        resp = web.post("/products/complete/candidates", follow_redirects=False, data={"csrf_token": token, **data})
        assert resp.status_code == 422, data
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    assert store.get_model("runner_model").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    missing = web.post("/products/nope/candidates", follow_redirects=False, data={
        "csrf_token": token, "key": "name:en_US", "source": "content"})
    assert missing.status_code == 404
