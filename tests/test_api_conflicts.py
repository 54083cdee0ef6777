"""Conflicts and other values through the REST API: list open conflicts, pick a winner (pinned), use a kept
value; viewers read, editors decide; a product reaches only itself and its own models."""

from __future__ import annotations

from pim.conflicts import open_conflicts
from pim.merge import MODEL_KEY
from pim.store import Store
from tests.test_api import api, cheap_argon2  # noqa: F401  (fixtures)
from tests.test_model_merge import _model_conflict
from tests.test_other_values import _losing_name
from tests.test_web_ui import _conflict_on_name


def choices(store: Store, identifier: str) -> list[tuple[str, str, object, object, str, str]]:
    """The history rows of `identifier` (and `model:` keys), oldest first."""
    from pim.web.editing import history

    models = [identifier[len(MODEL_KEY):]] if identifier.startswith(MODEL_KEY) else None
    return [(h["product"], h["value_key"], h["old"], h["new"], h["actor"], h["source"])
            for h in reversed(history(store, identifier, models=models))]


def test_open_conflicts_are_listed_and_an_editor_picks_the_winner(api, store: Store) -> None:  # noqa: F811
    client, tokens = api
    _conflict_on_name(store)  # "complete": the ERP and the content team disagree on name:en_US
    listed = client.get("/api/v1/conflicts", headers=tokens["viewer"]).json()
    assert [(c["identifier"], c["value_key"], c["winner"], c["status"]) for c in listed] == [
        ("complete", "name:en_US", "erp", "open")]
    assert listed[0]["claims"] == {"erp": "Runner", "content": "Trail Runner"}
    refused = client.post("/api/v1/products/complete/conflicts/name:en_US", json={"source": "content"},
                          headers=tokens["viewer"])
    assert refused.status_code == 403
    picked = client.post("/api/v1/products/complete/conflicts/name:en_US", json={"source": "content"},
                         headers=tokens["editor"])
    assert picked.status_code == 200 and picked.json()["pinned"] == "content"
    assert store.get_product("complete").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]
    assert client.get("/api/v1/conflicts", headers=tokens["viewer"]).json() == []
    unknown = client.post("/api/v1/products/complete/conflicts/name:en_US", json={"source": "supplier:x"},
                          headers=tokens["editor"])
    assert unknown.status_code == 422
    # the pick changed what shows: in the product's history, once (the refused picks wrote nothing)
    assert choices(store, "complete") == [("complete", "name:en_US", "Runner", "Trail Runner", "ed", "content")]
    again = client.post("/api/v1/products/complete/conflicts/name:en_US", json={"source": "content"},
                        headers=tokens["editor"])
    assert again.status_code == 200 and len(choices(store, "complete")) == 1  # nothing shown changed


def test_a_models_conflict_is_decided_through_its_variant(api, store: Store) -> None:  # noqa: F811
    client, tokens = api
    _model_conflict(store)
    [c] = client.get("/api/v1/conflicts?identifier=runner-red", headers=tokens["viewer"]).json()
    assert c["identifier"] == MODEL_KEY + "runner_model"
    foreign = client.post("/api/v1/products/complete/conflicts/name:en_US",
                          json={"source": "content", "target": MODEL_KEY + "runner_model"}, headers=tokens["editor"])
    assert foreign.status_code == 422  # "complete" inherits from no model
    picked = client.post("/api/v1/products/runner-red/conflicts/name:en_US",
                         json={"source": "content", "target": MODEL_KEY + "runner_model"}, headers=tokens["editor"])
    assert picked.status_code == 200 and open_conflicts(store) == []
    assert store.get_model("runner_model").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]
    assert choices(store, MODEL_KEY + "runner_model") == [
        (MODEL_KEY + "runner_model", "name:en_US", "Runner", "Trail Runner", "ed", "content")]


def test_an_editor_uses_a_kept_value(api, store: Store) -> None:  # noqa: F811
    client, tokens = api
    _losing_name(store, "complete", "Trail Runner")
    [kept] = client.get("/api/v1/products/complete/candidates", headers=tokens["viewer"]).json()
    assert (kept["source"], kept["value"]) == ("content", "Trail Runner")
    used = client.post("/api/v1/products/complete/candidates/name:en_US", json={"source": "content"},
                       headers=tokens["editor"])
    assert used.status_code == 200 and used.json()["values"]["name:en_US"] == "Trail Runner"
    assert choices(store, "complete") == [("complete", "name:en_US", "Runner", "Trail Runner", "ed", "content")]
    assert client.post("/api/v1/products/nope/candidates/name:en_US", json={"source": "content"},
                       headers=tokens["editor"]).status_code == 404


def test_a_pick_and_its_history_row_are_stored_together_or_not_at_all(store: Store, monkeypatch) -> None:
    """The row is written inside the pick's transaction: when it cannot be, the pick is not stored either."""
    import pytest

    from pim.conflicts import resolve_conflict
    from pim.web import editing

    from tests.channel_data import seed_products

    seed_products(store)
    _conflict_on_name(store)
    log = editing.ChoiceLog("complete", "name:en_US", "ed", "content")

    def broken(_table):  # noqa: ANN001, ANN202
        raise RuntimeError("history table unavailable")

    monkeypatch.setattr(editing, "insert", broken)
    with pytest.raises(RuntimeError):
        resolve_conflict(store, "complete", "name:en_US", "content", by="ed", log=log)
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]
    assert [c.winner for c in open_conflicts(store)] == ["erp"]  # not pinned either
    monkeypatch.undo()
    resolve_conflict(store, "complete", "name:en_US", "content", by="ed", log=log)
    assert choices(store, "complete") == [("complete", "name:en_US", "Runner", "Trail Runner", "ed", "content")]
