"""Round 34, the REST API's and the grid download's rough edges: imports no longer create products (or models)
the API cannot address, product models are edited with PATCH like products, a resolved variant shows its
models' categories, a job id that is no number says what to send, and the grid's download counts before it
reads. One seeded SQLite catalog for the module; the tests write only what they read back themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim.jsonl import import_jsonl, record_line
from pim.merge import Merger
from pim.product import Product, ProductModel
from pim.store import Store
from tests.channel_data import ERP, seed_products
from tests import test_api_r33
from tests.test_api_r33 import Api
from tests.test_api_errors import by_field

#: The seeded catalog (tests.channel_data: runner_model → runner-red) with an admin, an editor and a viewer token,
#: one per module: round 33's API fixture.
api = test_api_r33.api


def jsonl_file(path: Path, *records: Product | ProductModel) -> Path:
    path.write_bytes(b"".join(record_line(r) for r in records))
    return path


def rejected(store: Store, job_id: int | None) -> dict[str, dict[str, Any]]:
    return {q["record_key"]: q for q in store.quarantined(job_id, open_only=False)}


# ---------------------------------------------------------------- 1. imports create only addressable identifiers


@pytest.mark.parametrize("merged", [False, True], ids=["whole", "merged"])
def test_an_import_does_not_create_a_product_whose_identifier_the_api_cannot_address(
        api: Api, tmp_path: Path, merged: bool) -> None:
    _, _, store = api
    bad, good = f"SL/{int(merged)}", f"fine-{int(merged)}"
    path = jsonl_file(tmp_path / "p.jsonl", *(Product(identifier=i, family="shoes", source=ERP, values={"sku": i})
                                              for i in (bad, good)))
    counts = import_jsonl(path, store, merge=Merger() if merged else None)
    assert (counts.created, counts.rejected) == (1, 1)
    assert store.get_product(bad) is None and store.get_product(good) is not None
    entry = rejected(store, counts.job_id)[bad]
    assert (entry["file"], entry["line"], entry["field"]) == ("p.jsonl", 1, "sku")
    assert "contains '/'" in entry["reason"] and "change it in the file and import again" in entry["reason"]


def test_an_import_does_not_create_a_model_under_a_code_with_a_control_character(api: Api, tmp_path: Path) -> None:
    _, _, store = api
    code = "tab\tmodel"
    path = jsonl_file(tmp_path / "m.jsonl", ProductModel(code=code, family_variant="shoes_color", family="shoes",
                                                         source=ERP, values={"brand": "acme"}))
    counts = import_jsonl(path, store)
    assert store.get_model(code) is None
    entry = rejected(store, counts.job_id)[f"model:{code}"]
    assert entry["field"] == "code" and "control character" in entry["reason"]


def test_a_product_stored_under_such_an_identifier_before_is_still_updated_by_imports(api: Api, tmp_path: Path) -> None:
    """Existing products keep working: the rule is checked only where an import would create one."""
    _, _, store = api
    store.upsert_products([Product(identifier="OLD/1", family="shoes", source=ERP, values={"sku": "OLD/1"})])
    path = jsonl_file(tmp_path / "u.jsonl", Product(identifier="OLD/1", family="shoes", source=ERP,
                                                    values={"sku": "OLD/1", "mpn": "M-2"}))
    counts = import_jsonl(path, store, merge=Merger())
    assert (counts.updated, counts.rejected) == (1, 0)
    assert store.get_product("OLD/1").values["mpn"] == "M-2"  # type: ignore[union-attr]


def test_the_api_create_says_the_same_rule(api: Api) -> None:
    """Guard (passes before and after): POST /products keeps refusing with the rule's words, now from the core."""
    client, tokens, _ = api
    resp = client.post("/api/v1/products", json={"identifier": "a/b", "family": "shoes"}, headers=tokens["editor"])
    assert resp.status_code == 422 and "contains '/'" in by_field(resp)["body.identifier"]


# ---------------------------------------------------------------- 2. PATCH /models/{code}


def test_patching_a_model_sets_the_value_its_variants_inherit(api: Api) -> None:
    client, tokens, store = api
    resp = client.patch("/api/v1/models/runner_model", json={"values": {"mpn": "RN-9"}}, headers=tokens["editor"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["changed"] == ["mpn"] and body["model"]["code"] == "runner_model"
    assert body["model"]["values"]["mpn"] == "RN-9" and body["model"]["provenance"]["mpn"]["ref"] == "user:ed"
    variant = client.get("/api/v1/products/runner-red?resolved=true", headers=tokens["viewer"]).json()
    assert variant["values"]["mpn"] == "RN-9" and variant["inherited_from"]["mpn"] == "model:runner_model"


def test_a_model_patch_refuses_a_value_of_the_variants_level_and_writes_nothing(api: Api) -> None:
    client, tokens, store = api
    before = store.get_model("runner_model")
    resp = client.patch("/api/v1/models/runner_model", json={"values": {"color": "blue", "brand": None}},
                        headers=tokens["editor"])
    assert resp.status_code == 422 and "body.values.color" in by_field(resp)
    assert store.get_model("runner_model") == before


def test_a_model_patch_refuses_the_identifier_attribute(api: Api) -> None:
    client, tokens, _ = api
    resp = client.patch("/api/v1/models/runner_model", json={"values": {"sku": "runner_model"}},
                        headers=tokens["editor"])
    assert resp.status_code == 422 and "body.values.sku" in by_field(resp)


def test_a_model_patch_leaves_a_value_changed_since_it_was_read_as_stale(api: Api) -> None:
    client, tokens, _ = api
    resp = client.patch("/api/v1/models/runner_model", json={"values": {"name:en_US": "Mine"},
                                                              "expected": {"name:en_US": "Not what is stored"}},
                        headers=tokens["editor"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["changed"] == [] and body["stale"]["name:en_US"]["now"] == "Runner"
    assert body["model"]["values"]["name:en_US"] == "Runner"


def test_a_model_patch_takes_only_the_known_body_keys_and_needs_an_editor(api: Api) -> None:
    client, tokens, _ = api
    wrong = client.patch("/api/v1/models/runner_model", json={"values": {}, "expect": {}}, headers=tokens["editor"])
    assert wrong.status_code == 422 and "body.expect" in by_field(wrong)
    viewer = client.patch("/api/v1/models/runner_model", json={"values": {"mpn": "V"}}, headers=tokens["viewer"])
    assert viewer.status_code == 403


def test_a_model_patch_of_no_model_is_a_404(api: Api) -> None:
    client, tokens, _ = api
    resp = client.patch("/api/v1/models/nope", json={"values": {"mpn": "X"}}, headers=tokens["editor"])
    assert resp.status_code == 404 and "no product model 'nope'" in by_field(resp)[None]


# ---------------------------------------------------------------- 3. a resolved variant's categories


def test_a_resolved_variant_lists_its_models_categories_after_its_own_as_the_channels_do(api: Api) -> None:
    from channels.localize import ValueResolver

    client, tokens, store = api
    store.upsert_models([ProductModel(code="cat_root", family_variant="shoes_color", family="shoes",
                                      categories=["master", "shoes"], source=ERP, values={"brand": "acme"}),
                         ProductModel(code="cat_sub", family_variant="shoes_color", family="shoes", parent="cat_root",
                                      categories=["sneakers", "shoes"], source=ERP, values={})])
    store.upsert_products([Product(identifier="cat-1", family="shoes", parent="cat_sub", categories=["shoes"],
                                   source=ERP, values={"sku": "cat-1", "color": "red"})])
    resolved = client.get("/api/v1/products/cat-1?resolved=true", headers=tokens["viewer"]).json()
    assert resolved["categories"] == ["shoes", "sneakers", "master"]
    product = store.get_product("cat-1")
    assert resolved["categories"] == ValueResolver(store, store.structure()).categories(product)  # type: ignore[arg-type]
    plain = client.get("/api/v1/products/cat-1", headers=tokens["viewer"]).json()
    assert plain["categories"] == ["shoes"]


# ---------------------------------------------------------------- 4. a job id that is none says what to send


@pytest.mark.parametrize("job_id", ["first", "0", "-3", "1.5", str(2**63)])
def test_a_job_id_no_job_can_have_says_where_job_ids_come_from(api: Api, job_id: str) -> None:
    client, tokens, _ = api
    resp = client.get(f"/api/v1/jobs/{job_id}/errors", headers=tokens["viewer"])
    said = by_field(resp)["path.job_id"]
    assert resp.status_code == 422 and "`Location`" in said and "GET /api/v1/jobs" in said and "2^63" in said


# ---------------------------------------------------------------- 5. the grid's download counts before it reads


def test_a_download_over_the_cap_is_refused_on_a_count_before_any_id_is_read(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from pim.web import grid_export, ui
    from pim.web.app import create_app
    from pim.web.grid import GridFilter
    from tests.test_web_ui import login

    _, _, store = api
    web = TestClient(create_app(store))
    login(web, "vi")
    shoes = sum(len(ids) for ids in grid_export.grid_pages(store, GridFilter(family="shoes"), store.structure()))
    walked: list[GridFilter] = []
    real_pages = grid_export.grid_pages
    monkeypatch.setattr(grid_export, "grid_pages", lambda st, f, s: walked.append(f) or real_pages(st, f, s))
    monkeypatch.setattr(ui, "BULK_MAX", shoes - 1)
    over = web.get("/products.csv?family=shoes", follow_redirects=False)
    assert over.status_code == 303 and walked == []
    assert f"more than {shoes - 1} products" in web.get(over.headers["location"]).text
    monkeypatch.setattr(ui, "BULK_MAX", shoes)  # at the cap: counted, then read and written
    at_cap = web.get("/products.csv?family=shoes")
    assert at_cap.status_code == 200 and len(walked) == 1
    assert len(at_cap.content.decode("utf-8-sig").strip().splitlines()) == shoes + 1  # the header, then each


def test_the_download_count_is_the_number_of_ids_up_to_one_past_the_cap(store: Store) -> None:
    """On both backends: the count the refusal rests on is the walk's length, stopped one past the cap."""
    from pim.web.grid import GridFilter
    from pim.web.grid_export import found, grid_pages

    seed_products(store)
    s = store.structure()
    for f in (GridFilter(family="shoes"), GridFilter(category="shoes", channel="ecommerce", locale="en_US"),
              GridFilter(q="runner"), GridFilter(family="nope")):
        every = sum(len(ids) for ids in grid_pages(store, f, s))
        assert found(store, f, s, cap=100) == every, f
        assert found(store, f, s, cap=1) == min(every, 2), f
