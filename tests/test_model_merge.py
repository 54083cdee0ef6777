"""Merged sources enrich product models too: a content record naming a model (`model`) merges onto the stored
model by precedence, keeps the losing value as a candidate, reaches every variant (new seq, rescored), and
never creates a model; a value outside the model's family, or an unknown model, is quarantined."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from importers.content import ContentProfile, import_content
from pim.completeness import stored_completeness
from pim.merge import MODEL_KEY, candidates_for
from pim.store import Store
from tests.channel_data import seed_products


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    return path


def _seeded(store: Store) -> Store:
    assert store.listeners  # the fixture's store has the registered listeners (completeness, grid index)
    seed_products(store)  # runner_model (source erp) with its variant runner-red
    return store


def test_a_model_record_merges_onto_the_model_and_reaches_its_variants(store: Store, tmp_path: Path) -> None:
    store = _seeded(store)
    seq = store.current_seq()
    counts = import_content(_jsonl(tmp_path / "c.jsonl", [
        {"model": "runner_model", "name": {"en_US": "Trail Runner"}, "description": {"en_US": "Grippy."}}]), store)
    assert (counts.read, counts.updated, counts.rejected) == (1, 1, 0)
    model = store.get_model("runner_model")
    assert model is not None and model.values["name:en_US"] == "Trail Runner"
    assert model.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]
    assert model.values["name:de_DE"] == "Runner DE" and model.provenance_of("name:de_DE").source == "erp"  # type: ignore[union-attr]
    assert model.family_variant == "shoes_color" and model.categories == ["sneakers"]  # untouched
    losing = candidates_for(store, MODEL_KEY + "runner_model")["name:en_US"]
    assert {s: c.value for s, c in losing.items()} == {"erp": "Runner"}
    variant = store.get_product("runner-red")
    assert variant is not None and store.ancestors(variant)[0].values["name:en_US"] == "Trail Runner"
    assert next(store.iter_products(since_seq=seq)).identifier == "runner-red"  # re-sent by incremental exports
    assert stored_completeness(store, "runner-red")  # the listener rescored the variant

    again = import_content(tmp_path / "c.jsonl", store)
    assert (again.updated, again.unchanged) == (0, 1)

    cleared = import_content(_jsonl(tmp_path / "d.jsonl", [{"model": "runner_model", "name": {"en_US": None}}]), store)
    assert cleared.updated == 1
    back = store.get_model("runner_model")
    assert back is not None and back.values["name:en_US"] == "Runner" and back.provenance_of("name:en_US").source == "erp"  # type: ignore[union-attr]


def test_a_model_whose_losing_claim_changed_counts_as_updated(store: Store, tmp_path: Path) -> None:
    from pim.importing import Parsed, run_import
    from pim.merge import Merger, Precedence
    from pim.product import Provenance, partial_model

    store = _seeded(store)
    import_content(_jsonl(tmp_path / "c.jsonl", [{"model": "runner_model", "name": {"en_US": "Trail Runner"}}]), store)

    def erp(name: str):  # noqa: ANN202
        record = partial_model("runner_model", {"name:en_US": name}, Provenance(source="erp", ref="erp.csv", at=datetime.now(UTC)), {})
        return run_import(store, "erp", [Parsed(record, "erp.csv", 1)], merge=Merger(Precedence(), create_missing=False))

    seq = store.current_seq()
    counts = erp("Runner Two")  # the content team's name still shows; the ERP's losing claim changed
    assert (counts.updated, counts.unchanged, counts.rejected) == (1, 0, 0)
    assert store.get_model("runner_model").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]
    assert store.current_seq() == seq  # no row was rewritten
    assert candidates_for(store, MODEL_KEY + "runner_model")["name:en_US"]["erp"].value == "Runner Two"
    again = erp("Runner Two")
    assert (again.updated, again.unchanged) == (0, 1)


def test_unknown_models_and_values_outside_the_family_are_quarantined(store: Store, tmp_path: Path) -> None:
    from pim.structure import Attribute

    store = _seeded(store)
    store.put_structure("attribute", [Attribute(code="voltage", type="text", group="general")])  # in no family
    counts = import_content(_jsonl(tmp_path / "c.jsonl", [
        {"model": "no_such_model", "name": {"en_US": "X"}},
        {"model": "runner_model", "values": {"voltage": "230 V"}},
        {"model": "runner_model", "sku": "complete", "name": {"en_US": "Both"}},
    ]), store, ContentProfile(unmatched="create"))
    assert (counts.read, counts.rejected) == (3, 3)
    errors = {e["line"]: (e["field"], e["reason"]) for e in store.quarantined(counts.job_id)}
    assert errors[1][0] == "model" and "no product model 'no_such_model'" in errors[1][1]
    assert errors[2] == ("voltage", "'voltage' is not an attribute of family 'shoes': add it to the family's "
                         "attributes in the structure, or take it out of the import (its map or file)")
    assert "not both" in errors[3][1]
    # a model's entries are keyed `model:<code>`, so a product with that SKU never closes them
    keyed = sorted((e["line"], e["record_key"]) for e in store.quarantined(counts.job_id))
    assert keyed == [(1, "model:no_such_model"), (2, "model:runner_model"), (3, "complete")]
    assert "voltage" not in store.get_model("runner_model").values  # type: ignore[union-attr]
    assert store.get_model("no_such_model") is None


def test_a_ragged_csv_row_is_keyed_by_its_sku_or_model(store: Store, tmp_path: Path) -> None:
    store = _seeded(store)
    sheet = tmp_path / "c.csv"
    sheet.write_text("sku,model,name:en_US\n,runner_model,Trail,stray\ncomplete,,Runner,stray\n,,x,y\n")
    counts = import_content(sheet, store)
    assert (counts.read, counts.rejected) == (3, 3)
    keyed = sorted((e["line"], e["record_key"]) for e in store.quarantined(counts.job_id))
    assert keyed == [(2, "model:runner_model"), (3, "complete"), (4, None)]


def test_models_merge_the_same_when_batches_fan_out(store: Store, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """With import workers, a batch holding model records is merged in a worker and written here after the
    writer checked the model's seq; a later batch naming the same model is merged on what the first wrote."""
    from pim.settings import reset_settings

    store = _seeded(store)
    store.batch_size = 2
    monkeypatch.setenv("PIM_IMPORT_WORKERS", "2")
    monkeypatch.setenv("PIM_EXECUTOR", "thread")
    reset_settings()
    counts = import_content(_jsonl(tmp_path / "c.jsonl", [
        {"model": "runner_model", "name": {"en_US": "One"}}, {"sku": "complete", "name": {"en_US": "C"}},
        {"model": "runner_model", "name": {"de_DE": "Zwei"}}, {"sku": "bad-gtin", "name": {"en_US": "B"}},
    ]), store)
    assert (counts.read, counts.rejected) == (4, 0)
    model = store.get_model("runner_model")
    assert model is not None and (model.values["name:en_US"], model.values["name:de_DE"]) == ("One", "Zwei")
    assert {s: c.value for s, c in candidates_for(store, MODEL_KEY + "runner_model")["name:de_DE"].items()} == {"erp": "Runner DE"}


def _model_conflict(store: Store) -> None:
    """Both the ERP and the content team own `name`; they disagree on the model's English name."""
    from datetime import UTC, datetime

    from importers.erp_values import partial_model
    from pim.importing import Parsed, run_import
    from pim.merge import Merger, Precedence
    from pim.product import Provenance

    rec = partial_model("runner_model", {"name:en_US": "Trail Runner"}, Provenance(source="content", at=datetime.now(UTC)), {})
    run_import(store, "content", [Parsed(rec, "c.jsonl", 1)], merge=Merger(Precedence(attributes={"name": ["erp", "content"]})))


def test_a_models_conflict_is_logged_counted_for_its_variants_and_decided_from_a_variants_page(
        store: Store, monkeypatch) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from pim.conflicts import open_conflicts
    from pim.quality import assess
    from pim.web.accounts import add_user
    from pim.web.app import create_app
    from tests.test_web_ui import login

    monkeypatch.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
    store = _seeded(store)
    _model_conflict(store)
    [c] = open_conflicts(store)
    assert (c.identifier, c.value_key, c.winner) == (MODEL_KEY + "runner_model", "name:en_US", "erp")
    assert store.get_model("runner_model").values["name:en_US"] == "Runner"  # type: ignore[union-attr]  # erp first
    found = assess(store, store.structure(), "ecommerce", [store.get_product("runner-red")], kinds={"conflict"})  # type: ignore[list-item]
    assert [f.reason for f in found["runner-red"]] == ["sources disagree on name:en_US: content, erp (model runner_model)"]

    add_user(store, "ed", "correct horse", "editor")
    web = TestClient(create_app(store))
    token = login(web)
    page = web.get("/products/runner-red").text
    assert "on model runner_model" in page and 'name="target" value="model:runner_model"' in page
    refused = web.post("/products/complete/conflicts", data={"csrf_token": token, "key": "name:en_US", "source": "content",
                                                              "target": "model:runner_model"}, follow_redirects=False)
    assert refused.status_code == 422  # "complete" inherits from no model
    picked = web.post("/products/runner-red/conflicts", data={"csrf_token": token, "key": "name:en_US", "source": "content",
                                                               "target": "model:runner_model"}, follow_redirects=False)
    assert picked.status_code == 303
    model = store.get_model("runner_model")
    assert model is not None and model.values["name:en_US"] == "Trail Runner"
    assert open_conflicts(store) == []
    _model_conflict(store)  # the same disagreement again: the pin holds
    assert store.get_model("runner_model").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]
