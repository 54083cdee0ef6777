"""One error shape for the REST API (pim.web.api_errors, pim.web.api_route): every refusal under /api/ answers
`{"errors": [{"field"?, "message"}]}` with its own status; the token (and role) is checked before the body is
read, on every route; OpenAPI documents the envelope; the HTML pages keep FastAPI's own answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim.store import Store

pytestmark = pytest.mark.backends("sqlite")  # nothing here depends on the database: the store is only a host

MALFORMED = {"content": b'{"values": {', "headers": {"Content-Type": "application/json"}}


def by_field(resp: Any) -> dict[str | None, str]:
    """A refusal's errors as field → message (the envelope's items carry nothing else outside /structure)."""
    body = resp.json()
    assert set(body) == {"errors"}, body
    assert all(set(e) <= {"field", "message"} and e["message"] for e in body["errors"]), body
    return {e.get("field"): e["message"] for e in body["errors"]}


def _api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) OpenAPI lists under /api/v1, path parameters filled in with a plausible value."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    out = []
    for path, ops in paths.items():
        if not path.startswith("/api/v1/"):  # the portal's routes share the document, under their own auth
            continue
        concrete = re.sub(r"\{job_id\}", "1", path)
        concrete = re.sub(r"\{section\}", "attributes", concrete)
        concrete = re.sub(r"\{kind\}", "attribute", concrete)
        concrete = re.sub(r"\{[^}]+\}", "x", concrete)
        out += [(method.upper(), concrete) for method in ops]
    return out


# ---------------------------------------------------------------------------------------------- auth before the body
def test_every_write_route_answers_401_to_malformed_json_without_a_token(role_tokens) -> None:
    client, _ = role_tokens
    writes = [(m, p) for m, p in _api_routes(client) if m in ("POST", "PUT", "PATCH")]
    assert len(writes) >= 10  # products, conflicts, candidates, imports, publish, jobs, structure
    answers = {(m, p): client.request(m, p, **MALFORMED) for m, p in writes}
    assert {k: r.status_code for k, r in answers.items()} == {k: 401 for k in answers}
    for resp in answers.values():
        assert resp.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in by_field(resp)[None]


def test_every_api_route_needs_a_token_whatever_its_parameters(role_tokens) -> None:
    client, _ = role_tokens
    routes = _api_routes(client)
    assert len(routes) >= 20
    refused = {(m, p): client.request(m, p + "?limit=0&cursor=x&dry_run=maybe").status_code for m, p in routes}
    assert refused == {k: 401 for k in refused}
    bad = {"Authorization": "Bearer pim_not-a-token"}  # a wrong token counts towards the sign-in throttle: a few
    assert [client.request(m, p, headers=bad).status_code for m, p in routes[:5]] == [401] * 5


def test_a_wrong_role_hears_403_before_anything_about_its_body(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    before = store.get_product("complete")
    viewer = {**MALFORMED["headers"], **tokens["viewer"]}
    for method, path in (("PATCH", "/api/v1/products/complete"), ("POST", "/api/v1/products"),
                         ("POST", "/api/v1/publish"), ("POST", "/api/v1/structure"),
                         ("POST", "/api/v1/products/complete/conflicts/name:en_US")):
        resp = client.request(method, path, content=MALFORMED["content"], headers=viewer)
        assert resp.status_code == 403, path
        assert "role 'viewer' may not" in by_field(resp)[None]
    editor = {**MALFORMED["headers"], **tokens["editor"]}
    assert client.post("/api/v1/publish", content=MALFORMED["content"], headers=editor).status_code == 403
    assert client.post("/api/v1/structure", json={"families": "nope"}, headers=tokens["editor"]).status_code == 403
    assert store.get_product("complete") == before


def test_an_upload_without_a_token_is_refused_before_it_is_read(role_tokens, monkeypatch) -> None:
    """The multipart body is parsed only once the token is known: a form parse never starts for a stranger."""
    from starlette.requests import Request

    client, tokens = role_tokens
    parsed: list[str] = []
    real = Request.form

    def spy(self: Request, **kw: Any) -> Any:
        parsed.append(self.url.path)
        return real(self, **kw)

    monkeypatch.setattr(Request, "form", spy)
    files = {"file": ("acme.csv", b"Art-Nr;Name\n", "text/csv")}
    assert client.post("/api/v1/imports", files=files, data={"importer": "supplier"}).status_code == 401
    assert client.post("/api/v1/imports", files=files, data={"importer": "supplier"},
                       headers=tokens["viewer"]).status_code == 403
    assert parsed == []
    assert client.post("/api/v1/imports", files=files, data={"importer": "nope"},
                       headers=tokens["editor"]).status_code == 422
    assert parsed == ["/api/v1/imports"]


def test_the_token_is_looked_up_once_per_request(role_tokens, monkeypatch) -> None:
    """The route checks the token first and the dependency again: the second finds the user on the request."""
    from pim.web import deps

    client, tokens = role_tokens
    calls: list[str] = []
    real = deps.user_for_token
    monkeypatch.setattr(deps, "user_for_token", lambda store, token: calls.append(token) or real(store, token))
    assert client.patch("/api/v1/products/complete", json={"values": {}}, headers=tokens["editor"]).status_code == 200
    assert len(calls) == 1


# ---------------------------------------------------------------------------------------------- validation errors
def test_malformed_json_is_named_as_the_body(role_tokens) -> None:
    client, tokens = role_tokens
    resp = client.patch("/api/v1/products/complete", content=MALFORMED["content"],
                        headers={**MALFORMED["headers"], **tokens["editor"]})
    assert resp.status_code == 422
    assert by_field(resp)["body"].startswith("not valid JSON: ")


def test_a_body_of_the_wrong_shape_names_each_field_with_what_to_send(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    before = store.get_product("complete")
    not_object = client.patch("/api/v1/products/complete", json={"values": ["a"]}, headers=tokens["editor"])
    assert not_object.status_code == 422 and by_field(not_object) == {"body.values": "expected a JSON object"}
    array = client.patch("/api/v1/products/complete", json=[1], headers=tokens["editor"])
    assert by_field(array) == {"body": "expected a JSON object"}
    empty = client.patch("/api/v1/products/complete", headers=tokens["editor"])
    assert "a JSON body is required" in by_field(empty)["body"]
    as_text = client.patch("/api/v1/products/complete", content=b'{"values": {}}',
                           headers={**tokens["editor"], "Content-Type": "text/plain"})
    assert "Content-Type: application/json" in by_field(as_text)["body"]
    created = client.post("/api/v1/products", json={"identifier": "", "enabled": "maybe"}, headers=tokens["editor"])
    errors = by_field(created)
    assert set(errors) == {"body.identifier", "body.family", "body.enabled"}
    assert errors["body.family"] == "field required" and errors["body.enabled"] == "expected true or false"
    assert store.get_product("complete") == before and store.get_product("") is None


def test_query_and_path_parameters_are_named_by_where_they_are(role_tokens) -> None:
    client, tokens = role_tokens
    listing = client.get("/api/v1/products?limit=0&completeness=half", headers=tokens["viewer"])
    assert listing.status_code == 422 and set(by_field(listing)) == {"query.limit", "query.completeness"}
    cursor = client.get("/api/v1/products?cursor=abc", headers=tokens["viewer"])
    assert cursor.status_code == 422 and "next_cursor" in by_field(cursor)["query.cursor"]
    job = client.get("/api/v1/jobs/first", headers=tokens["viewer"])
    assert job.status_code == 422 and "a whole number" in by_field(job)["path.job_id"]
    kind = client.get("/api/v1/structure/colour", headers=tokens["viewer"])
    assert kind.status_code == 422 and "'attribute'" in by_field(kind)["path.kind"]


def test_the_apis_own_checks_use_the_same_fields(role_tokens) -> None:
    client, tokens = role_tokens
    patch = client.patch("/api/v1/products/complete", json={"values": {"color": "purple"}}, headers=tokens["editor"])
    assert patch.status_code == 422 and "purple" in by_field(patch)["body.values.color"]
    create = client.post("/api/v1/products", headers=tokens["editor"],
                         json={"identifier": "n-1", "family": "shoes", "categories": ["nowhere"]})
    assert create.status_code == 422 and "nowhere" in by_field(create)["body.categories"]
    publish = client.post("/api/v1/publish", json={"channel": "fax"}, headers=tokens["admin"])
    assert publish.status_code == 422 and "known:" in by_field(publish)["body.channel"]
    pick = client.post("/api/v1/products/complete/conflicts/name:en_US", json={"source": "erp", "target": "elsewhere"},
                       headers=tokens["editor"])
    assert pick.status_code == 422 and "elsewhere" in by_field(pick)["body.target"]


# ---------------------------------------------------------------------------------------------- other statuses
def test_other_refusals_keep_their_status_in_the_same_envelope(role_tokens) -> None:
    client, tokens = role_tokens
    missing = client.get("/api/v1/products/nope", headers=tokens["viewer"])
    assert missing.status_code == 404 and by_field(missing) == {None: "no product 'nope'"}
    exists = client.post("/api/v1/products", json={"identifier": "complete", "family": "shoes"},
                         headers=tokens["editor"])
    assert exists.status_code == 409 and "change it with PATCH" in by_field(exists)[None]
    no_route = client.get("/api/v1/nothing-here", headers=tokens["viewer"])
    assert no_route.status_code == 404 and "/api/v1/docs" in by_field(no_route)[None]
    wrong_method = client.put("/api/v1/products", headers=tokens["viewer"])
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    assert "/api/v1/docs" in by_field(wrong_method)[None]
    deleted = client.delete("/api/v1/products/complete", headers=tokens["admin"])
    assert deleted.status_code == 204 and deleted.content == b""


def test_a_throttled_caller_hears_429_in_the_envelope_with_retry_after(role_tokens) -> None:
    from pim.web.throttle import ATTEMPTS

    client, tokens = role_tokens
    for _ in range(ATTEMPTS):
        assert client.get("/api/v1/products", headers={"Authorization": "Bearer pim_guess"}).status_code == 401
    refused = client.patch("/api/v1/products/complete", headers={**tokens["editor"], **MALFORMED["headers"]},
                           content=MALFORMED["content"])
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "failed token checks" in by_field(refused)[None]


def test_the_html_pages_keep_fastapis_own_answers(role_tokens) -> None:
    client, _ = role_tokens
    assert client.get("/no-such-page").json() == {"detail": "Not Found"}
    assert client.get("/products", follow_redirects=False).status_code == 303  # LoginRequired still redirects


# ---------------------------------------------------------------------------------------------- OpenAPI
def test_openapi_documents_the_envelope_for_every_refusal(role_tokens) -> None:
    client, _ = role_tokens
    doc = client.get("/api/v1/openapi.json").json()
    envelope = doc["components"]["schemas"]["ApiErrors"]
    assert envelope["properties"]["errors"]["items"]["$ref"].endswith("/ApiError")
    api = {path: ops for path, ops in doc["paths"].items() if path.startswith("/api/v1/")}
    assert len(api) >= 15

    def schema_of(op: dict[str, Any], status: str) -> str:
        return op["responses"][status]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    structure = {"/api/v1/structure", "/api/v1/structure/{section}/{code}"}  # their own items, same envelope
    for path, ops in api.items():
        for method, op in ops.items():
            refusals = [s for s in op["responses"] if s.startswith("4")]
            assert {"401", "422"} <= set(refusals), (method, path)
            for status in refusals:
                own = path in structure and status in ("409", "422")
                assert schema_of(op, status) == ("StructureRefused" if own else "ApiErrors"), (method, path, status)
    product = doc["paths"]["/api/v1/products/{identifier}"]
    assert {"401", "403", "404", "422"} <= set(product["patch"]["responses"])
    assert {"401", "404"} <= set(product["get"]["responses"])
