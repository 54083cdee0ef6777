"""Edits from the UI and the API are the content team's claims, merged like a content file: by default the
edit shows and the value it replaced stays as another value; where the precedence ranks another source first
the edit is kept as a candidate and the page says so; emptying a value withdraws only the content claim."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pim.merge import candidates_for
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from pim.web.editing import apply_values
from tests.channel_data import seed_products
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _claims(store: Store, sku: str, key: str) -> dict:
    return {s: c.value for s, c in candidates_for(store, sku).get(key, {}).items()}


def test_by_default_an_edit_shows_and_the_replaced_value_stays_a_candidate(store: Store) -> None:
    seed_products(store)  # "complete": name:en_US "Runner" from the ERP
    result = apply_values(store, "complete", {"name:en_US": "Trail Runner"}, "ed")
    assert result.changed == ["name:en_US"] and result.outranked == {}
    product = store.get_product("complete")
    assert product.values["name:en_US"] == "Trail Runner" and product.provenance_of("name:en_US").ref == "user:ed"  # type: ignore[union-attr]
    assert _claims(store, "complete", "name:en_US") == {"erp": "Runner"}

    cleared = apply_values(store, "complete", {"name:en_US": ""}, "ed")  # withdraws the content claim
    assert cleared.changed == ["name:en_US"] and cleared.outranked == {"name:en_US": "erp"}
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    assert apply_values(store, "complete", {"name:en_US": "Runner"}, "ed").changed == []  # saving what shows: nothing


def test_where_precedence_ranks_the_erp_first_the_edit_is_kept_aside_and_the_page_says_so(
        store: Store, pim_env: Path) -> None:
    seed_products(store)
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "precedence.yaml").write_text("attributes:\n  name: [erp, content]\ndefault: [content]\n")
    add_user(store, "ed", "correct horse", "editor")
    web = TestClient(create_app(store))
    token = login(web)
    saved = web.post("/products/complete/values", data={"csrf_token": token, "key": "name:en_US", "value": "Trail Runner",
                                                         "channel": "ecommerce", "locale": "en_US"})
    assert saved.status_code == 200
    assert "the value from <strong>erp</strong> still shows" in saved.text
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    assert _claims(store, "complete", "name:en_US") == {"content": "Trail Runner"}
    assert "still shows" not in web.get("/products/complete").text  # said once

    api_token = _token(store)
    patched = web.patch("/api/v1/products/complete", json={"values": {"description:en_US@ecommerce": "Grippy."}},
                        headers={"Authorization": f"Bearer {api_token}"})
    assert patched.status_code == 200 and patched.json()["outranked"] == {}  # content first by default


def _token(store: Store) -> str:
    from pim.web.accounts import authenticate, create_token

    return create_token(store, authenticate(store, "ed", "correct horse"))  # type: ignore[arg-type]


def test_a_value_a_variant_inherits_is_edited_on_its_model_for_every_variant(store: Store) -> None:
    from pim.web.tables import HISTORY
    from sqlalchemy import select

    seed_products(store)  # runner-red inherits name:en_US "Runner" from runner_model
    add_user(store, "ed", "correct horse", "editor")
    web = TestClient(create_app(store))
    token = login(web)
    page = web.get("/products/runner-red?channel=ecommerce&locale=en_US").text
    assert 'name="target" value="model:runner_model"' in page
    saved = web.post("/products/runner-red/values", follow_redirects=False, data={
        "csrf_token": token, "key": "name:en_US", "value": "Trail Runner", "target": "model:runner_model",
        "channel": "ecommerce", "locale": "en_US"})
    assert saved.status_code == 303
    model = store.get_model("runner_model")
    assert model is not None and model.values["name:en_US"] == "Trail Runner"
    assert model.provenance_of("name:en_US").ref == "user:ed"  # type: ignore[union-attr]
    variant = store.get_product("runner-red")
    assert variant is not None and "name:en_US" not in variant.values  # still inherited, not overridden
    assert store.ancestors(variant)[0].values["name:en_US"] == "Trail Runner"
    assert _claims(store, "model:runner_model", "name:en_US") == {"erp": "Runner"}
    with store.engine.connect() as conn:
        logged = conn.execute(select(HISTORY.c.product, HISTORY.c.old, HISTORY.c.new)).all()
    assert [tuple(r) for r in logged] == [("model:runner_model", "Runner", "Trail Runner")]
    shown = web.get("/products/runner-red").text.split('<table class="history">')[1]
    assert "(on model runner_model)" in shown and "Trail Runner" in shown  # the variant's page shows it

    foreign = web.post("/products/complete/values", data={
        "csrf_token": token, "key": "name:en_US", "value": "X", "target": "model:runner_model"})
    assert foreign.status_code == 422  # "complete" inherits from no model
    assert store.get_model("runner_model").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]


def test_an_edit_and_its_history_are_stored_together_or_not_at_all(store: Store, monkeypatch) -> None:
    """The history rows are written inside the edit's own transaction: when they cannot be written, the edit is
    not stored either (before, the value changed with no history row saying who changed it)."""
    import pytest

    from pim.web import editing

    seed_products(store)

    def broken(_table):  # noqa: ANN001, ANN202
        raise RuntimeError("history table unavailable")

    monkeypatch.setattr(editing, "insert", broken)
    with pytest.raises(RuntimeError):
        apply_values(store, "complete", {"name:en_US": "Trail Runner"}, "ed")
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    monkeypatch.undo()
    assert apply_values(store, "complete", {"name:en_US": "Trail Runner"}, "ed").changed == ["name:en_US"]
    [row] = editing.history(store, "complete")
    assert (row["old"], row["new"], row["actor"]) == ("Runner", "Trail Runner", "ed")


def test_a_bulk_and_a_model_edit_write_their_history_with_them(store: Store) -> None:
    from pim.web import editing

    seed_products(store)  # runner_model: name:en_US "Runner" from the ERP
    result = editing.apply_bulk(store, ["complete", "complete"], {"name:en_US": "Bulk"}, "ed")
    assert result.changed == 1
    assert [(r["product"], r["new"]) for r in editing.history(store, "complete")] == [("complete", "Bulk")]
    model = editing.apply_model_values(store, "runner_model", {"name:en_US": "New"}, "ed")
    assert model.changed == ["name:en_US"]
    [row] = editing.history(store, "x", models=["runner_model"])
    assert (row["product"], row["old"], row["new"]) == ("model:runner_model", "Runner", "New")


def test_edits_keep_each_value_on_its_level(store: Store) -> None:
    """A variant's own value of its model's attribute would hide the model's for good (pim.variant_levels):
    a person's edit is refused, a mass edit leaves the variant out, a model edit refuses a variant's attribute."""
    from pim.web import editing

    seed_products(store)  # shoes_color: color and ean on the variant runner-red, the rest on runner_model
    refused = apply_values(store, "runner-red", {"name:en_US": "Red runner"}, "ed")
    assert set(refused.errors) == {"name:en_US"} and "'runner_model' is this product's model" in refused.errors["name:en_US"]
    assert "name:en_US" not in store.get_product("runner-red").values  # type: ignore[union-attr]

    bulk = editing.apply_bulk(store, ["complete", "runner-red"], {"name:en_US": "Bulk"}, "ed")
    assert (bulk.changed, bulk.on_models) == (1, 1)
    assert "name:en_US" not in store.get_product("runner-red").values  # type: ignore[union-attr]
    assert store.get_product("complete").values["name:en_US"] == "Bulk"  # type: ignore[union-attr]

    model = editing.apply_model_values(store, "runner_model", {"ean": "4006381333931"}, "ed")
    assert model.errors == {"ean": "'ean' belongs to level 1 of family variant 'shoes_color', below this model: "
                                   "set it on its variants"}
    assert "ean" not in store.get_model("runner_model").values  # type: ignore[union-attr]
