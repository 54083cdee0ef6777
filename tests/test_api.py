import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.test_api_errors import by_field
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)


@pytest.fixture
def api(store: Store) -> tuple[TestClient, dict[str, dict[str, str]]]:
    seed_products(store)
    tokens = {}
    for name, role in (("ed", "editor"), ("vi", "viewer")):
        user = add_user(store, name, "correct horse", role)
        tokens[role] = {"Authorization": f"Bearer {create_token(store, user)}"}
    return TestClient(create_app(store)), tokens


def test_requests_without_a_token_are_refused(api) -> None:
    client, _ = api
    assert client.get("/api/v1/products").status_code == 401
    assert client.get("/api/v1/products", headers={"Authorization": "Bearer pim_nope"}).status_code == 401


def test_list_pages_with_a_keyset_cursor(api) -> None:
    client, tokens = api
    first = client.get("/api/v1/products?limit=2", headers=tokens["viewer"]).json()
    second = client.get(f"/api/v1/products?limit=2&cursor={first['next_cursor']}", headers=tokens["viewer"]).json()
    third = client.get(f"/api/v1/products?limit=2&cursor={second['next_cursor']}", headers=tokens["viewer"]).json()
    seen = [i["identifier"] for page in (first, second, third) for i in page["items"]]
    assert seen == ["complete", "bad-gtin", "long-title", "no-description", "runner-red"]
    assert third["next_cursor"] is None


def test_list_filters_by_search_family_and_source(api) -> None:
    client, tokens = api
    h = tokens["viewer"]
    assert [i["identifier"] for i in client.get("/api/v1/products?q=runner-", headers=h).json()["items"]] == ["runner-red"]
    assert [i["label"] for i in client.get("/api/v1/products?q=complete", headers=h).json()["items"]] == ["Runner"]
    assert client.get("/api/v1/products?family=nope", headers=h).json()["items"] == []
    assert len(client.get("/api/v1/products?source=erp", headers=h).json()["items"]) == 5
    assert client.get("/api/v1/products?source=supplier", headers=h).json()["items"] == []


def test_completeness_filter_finds_the_incomplete_product(api) -> None:
    client, tokens = api
    items = client.get("/api/v1/products?channel=ecommerce&locale=en_US&completeness=incomplete",
                       headers=tokens["viewer"]).json()["items"]
    assert [i["identifier"] for i in items] == ["no-description"]
    assert items[0]["completeness"] == 80
    below = client.get("/api/v1/products?channel=ecommerce&locale=en_US&missing=description",
                       headers=tokens["viewer"]).json()["items"]
    assert [i["identifier"] for i in below] == ["no-description"]


def test_patch_with_an_invalid_value_changes_nothing_and_names_each_field(api, store: Store) -> None:
    client, tokens = api
    before = store.get_product("complete")
    resp = client.patch("/api/v1/products/complete", headers=tokens["editor"],
                        json={"values": {"name:en_US": "Renamed", "weight": {"amount": "heavy", "unit": "GRAM"},
                                         "color": "purple", "name": "no locale"}})
    assert resp.status_code == 422
    errors = by_field(resp)
    assert set(errors) == {"body.values.weight", "body.values.color", "body.values.name"}
    assert "not a number" in errors["body.values.weight"]
    assert "option 'purple' does not exist" in errors["body.values.color"]
    assert "localizable" in errors["body.values.name"]
    assert store.get_product("complete") == before


def test_a_lone_surrogate_in_a_json_body_is_refused_with_the_field_named(api, store: Store) -> None:
    """JSON may escape half a UTF-16 pair (\\ud800); Python's parser lets it through, no store can hold it."""
    client, tokens = api
    before = store.get_product("complete")
    resp = client.patch("/api/v1/products/complete", headers={**tokens["editor"], "Content-Type": "application/json"},
                        content=b'{"values": {"name:en_US": "Dr\\ud800ill"}}')
    assert resp.status_code == 422 and "lone surrogate" in by_field(resp)["body.values.name:en_US"]
    assert store.get_product("complete") == before


def test_patch_writes_normalized_values_with_editor_provenance_and_history(api, store: Store) -> None:
    client, tokens = api
    resp = client.patch("/api/v1/products/no-description", headers=tokens["editor"],
                        json={"values": {"description:en_US@ecommerce": "Now described.", "price": {"EUR": "12,5"}}})
    assert resp.status_code == 200, resp.text
    product = store.get_product("no-description")
    assert product.values["price"] == {"EUR": "12.50"}
    assert product.provenance_of("description:en_US@ecommerce").source == "content"
    assert product.provenance_of("description:en_US@ecommerce").ref == "user:ed"
    hist = client.get("/api/v1/products/no-description/history", headers=tokens["viewer"]).json()
    assert {(h["value_key"], h["actor"]) for h in hist} == {("description:en_US@ecommerce", "ed"), ("price", "ed")}


def test_viewer_may_not_patch(api) -> None:
    client, tokens = api
    resp = client.patch("/api/v1/products/complete", headers=tokens["viewer"], json={"values": {"mpn": "X"}})
    assert resp.status_code == 403


def test_completeness_endpoints_report_real_numbers(api) -> None:
    client, tokens = api
    h = tokens["viewer"]
    rows = client.get("/api/v1/products/no-description/completeness", headers=h).json()
    en = next(r for r in rows if (r["channel"], r["locale"]) == ("ecommerce", "en_US"))
    assert en["ratio"] == 80
    report = client.get("/api/v1/completeness/ecommerce?locale=en_US", headers=h).json()
    assert report["locales"] == [{"locale": "en_US", "products": 5, "complete": 4, "incomplete": 1, "disabled": 0}]
    assert client.patch("/api/v1/products/no-description", headers=tokens["editor"],
                        json={"values": {"description:en_US@ecommerce": "Done."}}).status_code == 200
    after = client.get("/api/v1/completeness/ecommerce?locale=en_US", headers=h).json()
    assert after["locales"][0]["incomplete"] == 0


def test_structure_and_jobs_are_readable(api, store: Store) -> None:
    client, tokens = api
    h = tokens["viewer"]
    channels = client.get("/api/v1/structure/channel", headers=h).json()
    assert [c["code"] for c in channels] == ["ecommerce"]
    assert client.get("/api/v1/structure/nonsense", headers=h).status_code == 422
    from pim.store.store import QuarantineEntry

    job_id = store.start_job("import", "products.csv")
    store.quarantine(job_id, [QuarantineEntry(reason="bad price", file="products.csv", line=3, field="price")])
    store.finish_job(job_id, {"created": 1, "rejected": 1})
    job = client.get(f"/api/v1/jobs/{job_id}", headers=h).json()
    assert job["counts"] == {"created": 1, "rejected": 1}
    assert job["quarantined"][0]["line"] == 3
    assert any(j["id"] == job_id for j in client.get("/api/v1/jobs", headers=h).json())


def test_openapi_document_lists_the_api(api) -> None:
    client, _ = api
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/products", "/api/v1/products/{identifier}", "/api/v1/jobs"} <= set(paths)
    assert "patch" in paths["/api/v1/products/{identifier}"]


def test_registered_web_routers_are_mounted_under_their_own_auth(api) -> None:
    client, tokens = api
    resp = client.get("/portal/feeds", headers=tokens["editor"])  # a PIM token is not a portal credential
    assert resp.status_code in (401, 403)


def test_patch_of_a_variant_refuses_values_its_model_holds(api, store: Store) -> None:
    """runner-red's family variant keeps color and ean on the variant, everything else on runner_model: a name
    on the variant would hide the model's for good (pim.variant_levels)."""
    client, tokens = api
    before = store.get_product("runner-red")
    resp = client.patch("/api/v1/products/runner-red", headers=tokens["editor"],
                        json={"values": {"name:en_US": "Red runner", "ean": "4006381333931"}})
    assert resp.status_code == 422
    errors = by_field(resp)
    assert set(errors) == {"body.values.name:en_US"}
    assert errors["body.values.name:en_US"] == (
        "'name' is held by the root product model in family variant 'shoes_color' ('runner_model' is this "
        "product's model): set it on the model, or move the attribute to this level in the family variant — PATCH "
        "/api/v1/models/runner_model with {\"values\": {\"name:en_US\": …}} sets it there")
    assert store.get_product("runner-red") == before  # nothing written, not even the ean
    ok = client.patch("/api/v1/products/runner-red", headers=tokens["editor"], json={"values": {"ean": "4006381333931"}})
    assert ok.status_code == 200 and store.get_product("runner-red").values["ean"] == "4006381333931"


def test_patch_with_expected_leaves_a_value_changed_since_and_says_so(api, store: Store) -> None:
    """`expected`: the value the client last read. Another editor's change since is not overwritten unseen (the
    product page's stale check, round 30); the keys nobody changed are written."""
    client, tokens = api
    key = "description:en_US@ecommerce"
    client.patch("/api/v1/products/no-description", headers=tokens["editor"], json={"values": {key: "Ben's text."}})
    resp = client.patch("/api/v1/products/no-description", headers=tokens["editor"],
                        json={"values": {key: "Anna's text.", "price": {"EUR": "13"}},
                              "expected": {key: None, "price": store.get_product("no-description").values["price"]}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["stale"] == {key: {"now": "Ben's text.", "by": "ed", "yours": "Anna's text."}}
    assert body["changed"] == ["price"]
    product = store.get_product("no-description")
    assert product.values[key] == "Ben's text." and product.values["price"] == {"EUR": "13.00"}
    again = client.patch("/api/v1/products/no-description", headers=tokens["editor"],
                         json={"values": {key: "Anna's text."}, "expected": {key: "Ben's text."}}).json()
    assert "stale" not in again and store.get_product("no-description").values[key] == "Anna's text."
