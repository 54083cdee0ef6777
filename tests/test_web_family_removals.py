"""Removals on the admins' family page: an attribute leaves the family with its requirements (and the page
says which), what the structure needs (identifier, label and image attributes, variant axes) stays, and a
requirement dropped on one channel rescores that channel only; admins and the CSRF token as everywhere."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pim.completeness import stored_completeness
from pim.product import Product
from pim.store import Store
from pim.structure import Channel
from pim.validation import RecordValidator
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

REQUIRED = ["sku", "name", "description", "price", "image"]


def _save(web: TestClient, token: str | None, required: dict[str, list[str]], remove: list[str]):  # noqa: ANN202
    data: dict[str, object] = {f"req:{ch}:{a}": "on" for ch, attrs in required.items() for a in attrs}
    data["remove"] = remove
    if token:
        data["csrf_token"] = token
    return web.post("/admin/families/shoes", data=data)


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'") if found else ""


def _ratio(store: Store, sku: str, channel: str) -> int:
    return min(r["ratio"] for r in stored_completeness(store, sku) if r["channel"] == channel)


def test_an_unrequired_attribute_leaves_the_family(admin, store: Store) -> None:
    web, token = admin
    saved = _save(web, token, {"ecommerce": REQUIRED}, ["mpn"])
    assert saved.status_code == 200 and _message(saved.text) == "Saved. Removed: mpn."
    family = store.structure().families["shoes"]
    assert "mpn" not in family.attributes and set(family.requirements["ecommerce"]) == set(REQUIRED)
    assert 'value="mpn"' in re.search(r'<select name="add".*?</select>', saved.text, re.S).group(0)  # addable again
    still_sent = Product(identifier="complete", family="shoes", values={"sku": "complete", "mpn": "RN-1"})
    assert [p.reason for p in RecordValidator(store.structure()).check_product(still_sent)] == \
        ["'mpn' is not an attribute of family 'shoes': add it to the family's attributes in the structure, or take "
         "it out of the import (its map or file)"]  # what the page warns about: such an import row is quarantined


def test_removing_a_required_attribute_drops_its_requirement_and_rescores(admin, store: Store) -> None:
    web, token = admin
    assert _ratio(store, "no-description", "ecommerce") < 100
    saved = _save(web, token, {"ecommerce": REQUIRED}, ["description"])  # its box still ticked: it goes anyway
    assert saved.status_code == 200
    assert _message(saved.text) == ("Saved. Products of shoes were rescored on ecommerce. Removed: description. "
                                    "Dropped requirements: description on ecommerce.")
    family = store.structure().families["shoes"]
    assert "description" not in family.attributes
    assert set(family.requirements["ecommerce"]) == set(REQUIRED) - {"description"}
    assert _ratio(store, "no-description", "ecommerce") == 100
    assert "its requirements on every channel too" in saved.text  # the page says so before anyone saves


def test_a_requirement_dropped_on_one_channel_rescores_that_channel_only(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("channel", [Channel(code="print", locales=["en_US"], currencies=["EUR"], category_tree="master")])
    family = store.structure().families["shoes"]
    store.put_structure("family", [family.model_copy(update={"requirements": {**family.requirements,
                                                                               "print": ["sku", "description"]}})])
    assert _ratio(store, "no-description", "print") < 100
    saved = _save(web, token, {"ecommerce": REQUIRED, "print": ["sku"]}, [])
    assert _message(saved.text) == ("Saved. Products of shoes were rescored on print. "
                                    "Dropped requirements: description on print.")
    assert _ratio(store, "no-description", "print") == 100
    assert _ratio(store, "no-description", "ecommerce") < 100  # still required there
    assert store.structure().families["shoes"].requirements["print"] == ["sku"]


def test_what_the_structure_needs_cannot_be_removed(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().families["shoes"]
    page = web.get("/admin/families/shoes").text
    offered = set(re.findall(r'name="remove" value="(\w+)"', page))
    assert offered == set(before.attributes) - {"sku", "name", "image", "color", "ean"}
    for attribute, reason in [("sku", "sku is the identifier"), ("name", "name is the family's label attribute"),
                              ("image", "image is the family's image attribute"),
                              ("color", "color is a variant axis or variant-level attribute of shoes_color"),
                              ("ean", "ean is a variant axis or variant-level attribute of shoes_color"),
                              ("voltage", "voltage is not an attribute of shoes")]:
        refused = _save(web, token, {"ecommerce": REQUIRED}, ["mpn", attribute])
        assert refused.status_code == 422 and _message(refused.text).startswith("Nothing was saved: " + reason)
    assert store.structure().families["shoes"] == before  # not even mpn went


def test_removals_need_an_admin_and_the_csrf_token(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    assert _save(editor, login(editor), {"ecommerce": REQUIRED}, ["mpn"]).status_code == 403
    web, _ = admin
    assert _save(web, None, {"ecommerce": REQUIRED}, ["mpn"]).status_code == 403
    assert "mpn" in store.structure().families["shoes"].attributes
