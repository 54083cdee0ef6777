"""The admins' family pages: the requirement matrix per channel, adding attributes; saving rescores the
family's products at once; only admins reach them."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pim.completeness import stored_completeness
from pim.store import Store
from pim.structure import Attribute
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

REQUIRED = ["sku", "name", "description", "price", "image"]


def _save(web: TestClient, token: str, required: list[str], add: list[str] | None = None):  # noqa: ANN202
    data: dict[str, object] = {"csrf_token": token, **{f"req:ecommerce:{a}": "on" for a in required}}
    if add:
        data["add"] = add
    return web.post("/admin/families/shoes", data=data)


def _missing(store: Store, sku: str) -> set[str]:
    rows = stored_completeness(store, sku)
    return {m for r in rows if r["channel"] == "ecommerce" for m in r["missing"]}


def test_only_admins_reach_the_family_pages(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.get("/admin/families").status_code == 403
    assert editor.post("/admin/families/shoes", data={"csrf_token": token}).status_code == 403
    assert 'href="/admin/families"' not in editor.get("/products").text
    web, _ = admin
    listing = web.get("/admin/families")
    assert listing.status_code == 200 and 'data-family="shoes"' in listing.text
    page = web.get("/admin/families/shoes").text
    checked = set(re.findall(r'name="req:ecommerce:(\w+)"[^>]*\bchecked', page))
    assert checked == set(REQUIRED)
    assert web.get("/admin/families/nope").status_code == 404


def test_dropping_a_requirement_rescores_the_family_at_once(admin, store: Store) -> None:
    web, token = admin
    assert any(m.startswith("description") for m in _missing(store, "no-description"))
    saved = _save(web, token, [a for a in REQUIRED if a != "description"])
    assert saved.status_code == 200 and "rescored on ecommerce" in saved.text
    family = store.structure().families["shoes"]
    assert set(family.requirements["ecommerce"]) == set(REQUIRED) - {"description"}
    assert not any(m.startswith("description") for m in _missing(store, "no-description"))
    again = _save(web, token, [a for a in REQUIRED if a != "description"])
    assert "Nothing changed" in again.text


def test_an_added_attribute_can_be_required_and_the_identifier_stays_required(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("attribute", [Attribute(code="voltage", type="text", group="general")])
    saved = _save(web, token, [a for a in REQUIRED if a != "sku"] + ["voltage"], add=["voltage"])
    assert saved.status_code == 200 and "Added: voltage" in saved.text
    family = store.structure().families["shoes"]
    assert "voltage" in family.attributes and {"sku", "voltage"} <= set(family.requirements["ecommerce"])
    assert "voltage" in _missing(store, "complete")  # nobody has a voltage yet: every product misses it


def test_bad_input_changes_nothing(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().families["shoes"]
    unknown = _save(web, token, REQUIRED, add=["no_such_attribute"])
    assert unknown.status_code == 422 and "unknown attribute: no_such_attribute" in unknown.text
    outside = _save(web, token, REQUIRED + ["voltage"])  # required but not a member (nor an attribute)
    assert outside.status_code == 200 and "Nothing changed" in outside.text
    refused = web.post("/admin/families/shoes", data={"req:ecommerce:sku": "on"})  # no CSRF token
    assert refused.status_code == 403
    assert store.structure().families["shoes"] == before
