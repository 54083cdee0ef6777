"""The admins' option lists: a new option of a select attribute (with its labels) can be used at once, labels
are edited in place, bad codes and duplicates are refused, only admins reach the pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from pim.web.editing import apply_values
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def test_a_new_option_can_be_used_at_once_and_labels_change_in_place(admin, store: Store) -> None:
    web, token = admin
    listing = web.get("/admin/attributes").text
    assert 'href="/admin/attributes/color/options"' in listing and 'href="/admin/attributes/name/options"' not in listing
    assert "does not exist" in apply_values(store, "complete", {"color": "green"}, "ada").errors["color"]
    saved = web.post("/admin/attributes/color/options", data={
        "csrf_token": token, "label:blue:de_DE": "Dunkelblau", "label:blue:en_US": "Blue", "label:red:en_US": "Red",
        "label:red:de_DE": "Rot", "new_code": "green", "new_label:en_US": "Green", "new_label:de_DE": "Grün"})
    assert saved.status_code == 200 and "Added: green" in saved.text
    options = store.structure().options["color"]
    assert options["green"].labels == {"en_US": "Green", "de_DE": "Grün"} and options["blue"].labels["de_DE"] == "Dunkelblau"
    assert options["red"].labels == {"en_US": "Red", "de_DE": "Rot"}  # untouched
    assert apply_values(store, "complete", {"color": "green"}, "ada").errors == {}
    assert store.get_product("complete").values["color"] == "green"  # type: ignore[union-attr]
    same = web.post("/admin/attributes/color/options", data={"csrf_token": token, "label:blue:de_DE": "Dunkelblau"})
    assert "Nothing changed" in same.text


def test_bad_codes_duplicates_and_other_attributes_are_refused(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().options["color"]
    bad = web.post("/admin/attributes/color/options", data={"csrf_token": token, "new_code": "dark green"})
    assert bad.status_code == 422 and "code" in bad.text
    dup = web.post("/admin/attributes/color/options", data={"csrf_token": token, "new_code": "red"})
    assert dup.status_code == 422 and "already an option" in dup.text
    assert web.get("/admin/attributes/name/options").status_code == 404  # a text attribute has no options
    assert web.post("/admin/attributes/color/options", data={"new_code": "green"}).status_code == 403  # no CSRF
    assert store.structure().options["color"] == before


def test_only_admins_reach_the_option_pages(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.get("/admin/attributes").status_code == 403
    assert editor.post("/admin/attributes/color/options", data={"csrf_token": token, "new_code": "green"}).status_code == 403
    assert "green" not in store.structure().options["color"]
