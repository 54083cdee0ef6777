"""POST /api/v1/products/mass-edit: the grid's mass edit for scripts. One set of values on many products,
validated once (a wrong value changes nothing), merged as the content team's claims, each outcome counted:
changed, unchanged, outranked, left to their models, missing, refused by the variant axis check."""

from __future__ import annotations

from typing import Any

from pim.product import Product
from pim.store import Store
from pim.web.editing import BULK_MAX
from tests.channel_data import ERP
from tests.test_api import api, cheap_argon2  # noqa: F401  (fixtures; cheap_argon2 is autouse)
from tests.test_api_errors import by_field

URL = "/api/v1/products/mass-edit"


def test_the_values_land_on_every_named_product_and_each_outcome_is_counted(api: Any, store: Store) -> None:  # noqa: F811
    client, tokens = api
    done = client.post(URL, headers=tokens["editor"],
                       json={"identifiers": ["complete", "long-title", "nope"], "values": {"mpn": "RN-2"}})
    assert done.status_code == 200, done.text
    assert done.json() == {"changed": 2, "unchanged": 0, "outranked": 0, "on_models": 0, "missing": ["nope"],
                           "refused": {}, "emptied": 0, "fell_back": {}, "not_theirs": 0}  # a set clears nothing
    for sku in ("complete", "long-title"):
        product = client.get(f"/api/v1/products/{sku}", headers=tokens["viewer"]).json()
        assert product["values"]["mpn"] == "RN-2"
        assert store.get_product(sku).provenance_of("mpn").ref == "user:ed"  # type: ignore[union-attr]
        history = client.get(f"/api/v1/products/{sku}/history", headers=tokens["viewer"]).json()
        assert ("mpn", "ed") in {(h["value_key"], h["actor"]) for h in history}, history
    assert store.get_product("bad-gtin").values["mpn"] == "RN-1"  # type: ignore[union-attr]
    again = client.post(URL, headers=tokens["editor"], json={"identifiers": ["complete"], "values": {"mpn": "RN-2"}})
    assert (again.json()["changed"], again.json()["unchanged"]) == (0, 1)


def test_a_wrong_value_changes_nothing_and_names_its_key(api: Any, store: Store) -> None:  # noqa: F811
    client, tokens = api
    before = store.get_product("complete").values  # type: ignore[union-attr]
    bad = client.post(URL, headers=tokens["editor"],
                      json={"identifiers": ["complete"], "values": {"mpn": "RN-3", "weight": "heavy"}})
    assert bad.status_code == 422
    assert "body.values.weight" in by_field(bad)
    assert store.get_product("complete").values == before  # type: ignore[union-attr]


def test_viewers_may_not_and_the_list_is_bounded(api: Any) -> None:  # noqa: F811
    client, tokens = api
    assert client.post(URL, headers=tokens["viewer"],
                       json={"identifiers": ["complete"], "values": {"mpn": "X"}}).status_code == 403
    for body in ({"identifiers": [], "values": {"mpn": "X"}}, {"identifiers": ["complete"], "values": {}},
                 {"identifiers": [f"s{i}" for i in range(BULK_MAX + 1)], "values": {"mpn": "X"}}):
        refused = client.post(URL, headers=tokens["editor"], json=body)
        assert refused.status_code == 422, body.keys()
    assert client.get("/api/v1/products/complete", headers=tokens["viewer"]).json()["values"]["mpn"] == "RN-1"


def test_a_sibling_holding_the_axis_value_is_refused_and_a_model_value_left_to_the_model(
        api: Any, store: Store) -> None:  # noqa: F811
    client, tokens = api
    store.upsert_products([Product(identifier="runner-blue", family="shoes", parent="runner_model", source=ERP,
                                   values={"sku": "runner-blue", "color": "blue"})])
    done = client.post(URL, headers=tokens["editor"],
                       json={"identifiers": ["runner-blue", "complete"], "values": {"color": "red"}}).json()
    assert list(done["refused"]) == ["runner-blue"]
    assert "runner-red" in done["refused"]["runner-blue"] and "color" in done["refused"]["runner-blue"]
    assert done["changed"] == 1  # `complete` is no variant: it takes the colour
    assert store.get_product("runner-blue").values["color"] == "blue"  # type: ignore[union-attr]
    on_model = client.post(URL, headers=tokens["editor"],
                           json={"identifiers": ["runner-red"], "values": {"name:en_US": "Runner"}}).json()
    assert on_model["on_models"] == 1 and on_model["changed"] == 0


def test_a_person_cannot_type_a_bad_gtin(api: Any, store: Store) -> None:  # noqa: F811
    """Imports leave a bad GTIN out; a person typing one (PATCH, the grid's mass edit) is told what is wrong."""
    client, tokens = api
    one = client.patch("/api/v1/products/complete", headers=tokens["editor"], json={"values": {"ean": "4006381333932"}})
    assert one.status_code == 422 and "expected 1" in by_field(one)["body.values.ean"]
    many = client.post(URL, headers=tokens["editor"], json={"identifiers": ["complete"], "values": {"ean": "123"}})
    assert many.status_code == 422 and "body.values.ean" in by_field(many)
    assert store.get_product("complete").values["ean"] == "4006381333931"  # type: ignore[union-attr]
    good = client.patch("/api/v1/products/complete", headers=tokens["editor"], json={"values": {"ean": "4006381333948"}})
    assert good.status_code == 200 and store.get_product("complete").values["ean"] == "4006381333948"  # type: ignore[union-attr]


def test_a_product_created_with_a_bad_gtin_is_refused(api: Any, store: Store) -> None:  # noqa: F811
    client, tokens = api
    body = {"identifier": "new-1", "family": "shoes", "values": {"ean": "4006381333932", "mpn": "N-1"}}
    refused = client.post("/api/v1/products", headers=tokens["editor"], json=body)
    assert refused.status_code == 422 and "expected 1" in by_field(refused)["body.values.ean"]
    assert store.get_product("new-1") is None
    body["values"]["ean"] = "4006381333931"
    assert client.post("/api/v1/products", headers=tokens["editor"], json=body).status_code == 201
