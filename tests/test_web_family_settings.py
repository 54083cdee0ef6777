"""Adding a family on the families page and changing a family's labels and its label and image attributes on
its page: checked as `pim structure load` checks a structure file (and a label must be text, an image an
image); a new label attribute re-files the family's products in the grid in the same save; admins only, with
the CSRF token. Runs on both store backends."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&") if found else ""


def _add(web: TestClient, token: str, **form: str):  # noqa: ANN202
    return web.post("/admin/families", data={"csrf_token": token, **form})


def _settings(web: TestClient, token: str, code: str = "shoes", **form: str):  # noqa: ANN202
    return web.post(f"/admin/families/{code}/settings", data={"csrf_token": token, **form})


def test_a_family_is_added_with_the_identifier_and_its_label_and_image(admin, store: Store) -> None:
    web, token = admin
    page = web.get("/admin/families").text
    assert 'action="/admin/families"' in page
    assert re.findall(r'aria-label="Image attribute">(.*?)</select>', page)[0].count("<option") == 3  # none, image, picture
    added = _add(web, token, code="boots", **{"label:en_US": "Boots", "label:de_DE": "Stiefel"},
                 attribute_as_label="name", attribute_as_image="picture")
    assert added.status_code == 200, _message(added.text)
    assert _message(added.text).startswith("Added family boots with sku, name, picture."), _message(added.text)
    boots = store.structure().families["boots"]
    assert (boots.attributes, boots.attribute_as_label, boots.attribute_as_image) == (["sku", "name", "picture"], "name", "picture")
    assert boots.labels == {"en_US": "Boots", "de_DE": "Stiefel"} and boots.requirements == {}
    assert 'data-family="boots"' in web.get("/admin/families").text
    # no roles: the identifier alone
    assert _add(web, token, code="bare").status_code == 200
    assert store.structure().families["bare"].attributes == ["sku"]


def test_a_bad_new_family_is_refused_with_its_input_kept(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().families
    taken = _add(web, token, code="shoes", **{"label:en_US": "Other shoes"})
    assert taken.status_code == 422 and "a family 'shoes' already exists" in _message(taken.text)
    assert 'value="Other shoes"' in taken.text
    wrong = _add(web, token, code="boots", attribute_as_label="price", attribute_as_image="name")
    said = _message(wrong.text)
    assert wrong.status_code == 422
    assert "attribute_as_label: price is a price_collection attribute; it must be identifier or text or textarea" in said
    assert "attribute_as_image: name is a text attribute; it must be image" in said
    undeclared = _add(web, token, code="boots", attribute_as_label="nope")
    assert undeclared.status_code == 422 and "nope" in _message(undeclared.text)
    bad_code = _add(web, token, code="two words")
    assert bad_code.status_code == 422 and "code" in _message(bad_code.text)
    assert store.structure().families == before


def test_labels_and_roles_change_and_the_grid_follows_the_new_label(admin, store: Store) -> None:
    web, token = admin
    page = web.get("/admin/families/shoes").text
    assert 'action="/admin/families/shoes/settings"' in page
    assert "RN-1" not in web.get("/products", params={"q": "RN-1"}).text.split("<tbody", 1)[-1]
    saved = _settings(web, token, **{"label:en_US": "Shoes", "label:de_DE": ""}, attribute_as_label="mpn",
                      attribute_as_image="picture")
    said = _message(saved.text)
    assert saved.status_code == 200 and said.startswith(
        "Saved: labels en_US: Shoes; attribute_as_label name → mpn; attribute_as_image image → picture."), said
    assert "names in the grid follow at once" in said
    shoes = store.structure().families["shoes"]
    assert (shoes.labels, shoes.attribute_as_label, shoes.attribute_as_image) == ({"en_US": "Shoes"}, "mpn", "picture")
    grid = web.get("/products", params={"q": "RN-1"}).text
    assert "RN-1" in grid.split("<tbody", 1)[-1]  # the label tokens were re-filed in the save
    assert _message(_settings(web, token, **{"label:en_US": "Shoes"}, attribute_as_label="mpn",
                              attribute_as_image="picture").text) == "Nothing changed."
    # none is a choice; an attribute outside the family, or of the wrong type, is not
    assert _settings(web, token, attribute_as_image="").status_code == 200
    assert store.structure().families["shoes"].attribute_as_image is None
    outside = _settings(web, token, attribute_as_label="nope")
    assert outside.status_code == 422 and "nope is not an attribute of shoes; add it to the family first" in _message(outside.text)
    wrong = _settings(web, token, attribute_as_label="weight")
    assert wrong.status_code == 422 and "weight is a metric attribute" in _message(wrong.text)


def test_the_label_attribute_is_kept_in_the_family_until_another_is_chosen(admin, store: Store) -> None:
    web, token = admin
    kept = web.post("/admin/families/shoes", data={"csrf_token": token, "remove": "name",
                                                   **{f"req:ecommerce:{a}": "on" for a in ("sku", "price")}})
    assert kept.status_code == 422 and "choose another label attribute above first" in _message(kept.text)
    assert _settings(web, token, attribute_as_label="mpn").status_code == 200
    gone = web.post("/admin/families/shoes", data={"csrf_token": token, "remove": "name",
                                                   **{f"req:ecommerce:{a}": "on" for a in ("sku", "price")}})
    assert gone.status_code == 200 and "name" not in store.structure().families["shoes"].attributes


def test_only_admins_with_the_token_add_or_change_families(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert _add(editor, token, code="boots").status_code == 403
    assert _settings(editor, token, attribute_as_label="mpn").status_code == 403
    web, _ = admin
    assert web.post("/admin/families", data={"code": "boots"}).status_code in (400, 403)
    assert web.post("/admin/families/shoes/settings", data={"attribute_as_label": "mpn"}).status_code in (400, 403)
    assert "boots" not in store.structure().families
    assert store.structure().families["shoes"].attribute_as_label == "name"


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT identifier, seq FROM product").all())


def test_a_new_label_or_image_attribute_resends_the_familys_products_and_a_relabel_does_not(admin, store: Store) -> None:
    from pim.product import Product
    from pim.structure import Family
    from tests.channel_data import ERP

    web, token = admin
    store.put_structure("family", [Family(code="bags", attributes=["sku", "name"], attribute_as_label="name")])
    store.upsert_products([Product(identifier="bag-1", family="bags", source=ERP, values={"sku": "bag-1"})])
    before = _seqs(store)
    shoes = {i for i, in store.engine.connect().exec_driver_sql(
        "SELECT identifier FROM product WHERE family = 'shoes' OR (family IS NULL AND parent IS NOT NULL)").all()}
    assert shoes and any(i not in ("bag-1",) for i in shoes)
    _settings(web, token, **{"label:en_US": "Footwear"})  # labels only: what channels show of products stays
    assert _seqs(store) == before
    _settings(web, token, attribute_as_label="mpn")
    after = _seqs(store)
    assert {i for i in shoes if after[i] > before[i]} == shoes  # variants taking the family from a model too
    assert after["bag-1"] == before["bag-1"]
