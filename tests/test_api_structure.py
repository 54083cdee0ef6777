"""Changing the structure through the REST API (POST /api/v1/structure): a body shaped like a structure file is
checked as `pim structure load` checks a file and saved the same way (the listeners rescore); every problem is
listed with its section, item and field and nothing is written; a dry run counts what would change; a large
rescore is left to queued jobs a worker runs; only admins may change the structure."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim import grid_jobs, job_queue, rescore_jobs
from pim.store import Store
from tests.channel_data import FAMILY_ATTRS
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)

Headers = dict[str, str]
MATERIAL = {"code": "material", "type": "text", "group": "general"}


def _shoes(extra: list[str], required: list[str]) -> dict[str, Any]:
    """The seeded shoes family with `extra` attributes and ecommerce requiring `required` too."""
    return {"code": "shoes", "attributes": FAMILY_ATTRS + extra, "attribute_as_label": "name",
            "attribute_as_image": "image",
            "requirements": {"ecommerce": ["sku", "name", "description", "price", "image"] + required}}


def _post(client: TestClient, headers: Headers, body: Any, **params: str) -> Any:
    return client.post("/api/v1/structure", headers=headers, json=body, params=params)


def _missing(client: TestClient, headers: Headers, identifier: str) -> set[str]:
    rows = client.get(f"/api/v1/products/{identifier}/completeness", headers=headers).json()
    return {a for r in rows if r["channel"] == "ecommerce" for a in r["missing"]}


def test_a_valid_body_adds_an_attribute_and_a_requirement_and_products_are_rescored(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    assert "material" not in _missing(client, tokens["admin"], "complete")
    resp = _post(client, tokens["admin"], {"attributes": [MATERIAL], "families": [_shoes(["material"], ["material"])]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"dry_run": False, "loaded": {"attributes": 1, "families": 1}, "jobs": [],
                           "changes": {"attributes": {"new": 1, "changed": 0}, "families": {"new": 0, "changed": 1}}}
    s = store.structure()
    assert s.attributes["material"].type == "text"
    assert "material" in s.families["shoes"].attributes and "material" in s.families["shoes"].requirements["ecommerce"]
    assert "material" in _missing(client, tokens["admin"], "complete")  # the completeness listener ran in the request


def test_unknown_references_are_each_listed_and_nothing_is_written(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    before = store.structure()
    body = {"attributes": [MATERIAL],
            "families": [{"code": "boots", "attributes": ["sku", "shaft_height"]}],
            "channels": [{"code": "print", "locales": ["fr_FR"], "currencies": ["EUR"], "category_tree": "master"}]}
    resp = _post(client, tokens["admin"], body)
    assert resp.status_code == 422, resp.text
    errors = resp.json()["errors"]
    assert [(e["section"], e["code"], e["field"]) for e in errors] == [
        ("channels", "print", "locales"), ("families", "boots", "attributes")]
    assert "fr_FR" in errors[0]["message"] and "shaft_height" in errors[1]["message"]
    after = store.structure()
    assert "material" not in after.attributes and "boots" not in after.families and "print" not in after.channels
    assert after.families["shoes"] == before.families["shoes"]


def test_a_body_that_is_no_structure_file_gets_the_same_error_shape(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    body = {"colours": [], "attributes": [MATERIAL, {"code": "fabric", "type": "cloth"}],
            "families": [{"code": "boots", "attributes": ["sku"], "attribute_as_label": "name"}]}
    resp = _post(client, tokens["admin"], body)
    assert resp.status_code == 422, resp.text
    errors = {(e["section"], e.get("code"), e.get("field")): e["message"] for e in resp.json()["errors"]}
    assert set(errors) == {("colours", None, None), ("attributes", "fabric", "type"), ("families", "boots", None)}
    assert errors[("colours", None, None)].startswith("unknown section; allowed: locales")  # the CLI's words
    assert "attribute_as_label 'name'" in errors[("families", "boots", None)]
    assert "material" not in store.structure().attributes

    broken = client.post("/api/v1/structure", headers={**tokens["admin"], "Content-Type": "application/json"},
                         content=b"{not json")
    assert broken.status_code == 422 and broken.json()["errors"][0]["section"] == "body"


def test_a_dry_run_counts_what_would_change_and_writes_nothing(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    before = store.structure()
    body = {"attributes": [MATERIAL, {"code": "mpn", "type": "text", "group": "general"}],  # mpn as stored
            "families": [_shoes(["material"], [])]}
    resp = _post(client, tokens["admin"], body, dry_run="true")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"dry_run": True, "loaded": {}, "jobs": [],
                           "changes": {"attributes": {"new": 1, "changed": 0}, "families": {"new": 0, "changed": 1}}}
    assert store.structure().attributes == before.attributes and store.structure().families == before.families

    refused = _post(client, tokens["admin"], {"families": [{"code": "boots", "attributes": ["nope"]}]}, dry_run="true")
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "boots"


def test_a_large_rescore_is_queued_and_a_worker_completes_it(role_tokens, store: Store,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    monkeypatch.setattr("pim.rescore_jobs.IN_REQUEST", 1)  # any rescore is "large"
    resp = _post(client, tokens["admin"], {"families": [_shoes([], ["mpn"])]})
    assert resp.status_code == 200, resp.text
    [job] = resp.json()["jobs"]
    assert job["location"] == f"/api/v1/jobs/{job['id']}"
    queued = client.get(job["location"], headers=tokens["viewer"]).json()
    assert (queued["kind"], queued["status"], queued["source"]) == (rescore_jobs.KIND, "queued", "shoes")

    [ran] = job_queue.work(store, once=True).jobs
    assert ran["id"] == job["id"]
    done = client.get(job["location"], headers=tokens["viewer"]).json()
    assert done["status"] == "succeeded" and done["counts"]["rescored"] == 5
    assert "mpn" in store.structure().families["shoes"].requirements["ecommerce"]


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_admins_change_the_structure(role_tokens, store: Store, role: str) -> None:
    client, tokens = role_tokens
    resp = _post(client, tokens[role], {"attributes": [MATERIAL]})
    assert resp.status_code == 403
    assert _post(client, tokens[role], {"colours": []}).status_code == 403  # the role is checked before the body
    assert "material" not in store.structure().attributes


def test_without_a_token_the_answer_is_401(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    assert _post(client, {}, {"attributes": [MATERIAL]}).status_code == 401
    assert _post(client, {"Authorization": "Bearer nope"}, {"attributes": [MATERIAL]}).status_code == 401
    assert "material" not in store.structure().attributes


def test_openapi_documents_the_body_and_the_answers(role_tokens) -> None:
    client, _ = role_tokens
    doc = client.get("/api/v1/openapi.json").json()
    post = doc["paths"]["/api/v1/structure"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/StructureFile")
    assert {"200", "401", "403", "422"} <= set(post["responses"])
    assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/StructureRefused")
    schemas = doc["components"]["schemas"]
    assert {"families", "channels", "attributes"} <= set(schemas["StructureFile"]["properties"])
    assert {"changes", "loaded", "jobs"} <= set(schemas["StructureLoaded"]["properties"])


def test_a_large_familys_new_label_is_a_queued_grid_reindex(role_tokens, store: Store,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    monkeypatch.setattr("pim.web.families.REINDEX_IN_REQUEST", 1)  # any family is "large"
    family = {**_shoes([], []), "attribute_as_label": "mpn"}
    resp = _post(client, tokens["admin"], {"families": [family]})
    assert resp.status_code == 200, resp.text
    [job] = resp.json()["jobs"]
    queued = client.get(job["location"], headers=tokens["viewer"]).json()
    assert (queued["kind"], queued["status"]) == (grid_jobs.KIND, "queued") and queued["payload"] == {"families": ["shoes"]}
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["id"] == job["id"] and ran["status"] == "succeeded" and ran["counts"]["reindexed"] == 5
