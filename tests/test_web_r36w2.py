"""Round 36 (W2), web UI fixes found bringing Akeneo's icecat demo in: a variant's page fills an *empty* value of
its model's level on that model (it sent it to the variant, refused with 422), and says where it went; the mass
edit's variants left for their models name those models; the grid's label of a variant is the one it inherits (the
storefront's); a product's status and categories are set from its page and by PATCH."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim.product import Product, ProductModel
from pim.store import Store
from pim.web.accounts import add_user, authenticate, create_token
from pim.web.app import create_app
from tests.channel_data import ERP, complete_values, seed_products
from tests.test_web_ui import csrf, login
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

KEY = "description:de_DE@ecommerce"  # held by the root model in family variant shoes_color
PAGE = "/products/trail-red?channel=ecommerce&locale=de_DE"


def seed(store: Store) -> None:
    """The channel test catalog, plus trail_model: no German description (the gap the import left) and no name of
    its own variants (they inherit "Trail")."""
    seed_products(store)
    values = {k: v for k, v in complete_values("Trail").items() if k not in ("ean", "sku", KEY)}
    store.upsert_models([ProductModel(code="trail_model", family_variant="shoes_color", family="shoes",
                                      categories=["sneakers"], source=ERP, values=values)])
    store.upsert_products([Product(identifier=f"trail-{c}", family="shoes", parent="trail_model", source=ERP,
                                   values={"sku": f"trail-{c}", "color": c}) for c in ("red", "blue")])
    add_user(store, "ed", "correct horse", "editor")
    add_user(store, "vi", "correct horse", "viewer")


@pytest.fixture
def web(store: Store) -> TestClient:
    seed(store)
    return TestClient(create_app(store))


def form_of(page: str, key: str) -> dict[str, str]:
    """The hidden fields of the value form for `key`, as the browser would send them."""
    start = page.index(f'name="key" value="{key}"')
    form = page[page.rindex("<form", 0, start):page.index("</form>", start)]
    return {m.group(1): html.unescape(m.group(2))
            for m in re.finditer(r'<input type="hidden" name="([^"]+)" value=["\']([^"\']*)["\']', form)}


def bearer(store: Store, name: str = "ed") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(store, authenticate(store, name, 'correct horse'))}"}


# ------------------------------------------------------------------ A. an empty model-level value, from a variant
def test_an_empty_model_level_value_is_saved_on_the_model_from_a_variants_page(web: TestClient, store: Store) -> None:
    login(web)
    page = web.get(PAGE).text
    assert 'locale=de_DE#attr-description">description</a>' in page  # the completeness link to the field
    sent = form_of(page, KEY)
    assert sent.get("target") == "model:trail_model"  # the level's model, though nothing is inherited yet
    assert 'held by model <a href="/models/trail_model">trail_model</a>' in page
    saved = web.post("/products/trail-red/values", follow_redirects=False,
                     data={**sent, "value": "Ein Laufschuh."})
    assert saved.status_code == 303, saved.text[:500]
    assert store.get_model("trail_model").values[KEY] == "Ein Laufschuh."  # type: ignore[union-attr]
    assert KEY not in store.get_product("trail-red").values  # type: ignore[union-attr]
    after = web.get(saved.headers["location"]).text
    assert "saved on model <strong>trail_model</strong>, shared by 2 products" in after
    assert "inherited from trail_model" in web.get("/products/trail-blue?channel=ecommerce&locale=de_DE").text
    assert "saved on model" not in web.get(PAGE).text  # said once


def test_a_model_value_set_since_the_page_opened_is_refused_with_409_and_nothing_written(
        web: TestClient, store: Store) -> None:
    from pim.web.editing import apply_model_values

    login(web)
    sent = form_of(web.get(PAGE).text, KEY)
    apply_model_values(store, "trail_model", {KEY: "Von Ben."}, "ben")  # meanwhile, in another tab
    clash = web.post("/products/trail-red/values", data={**sent, "value": "Meins."})
    assert clash.status_code == 409
    assert "changed by <strong>ben</strong> since you opened the page" in clash.text
    assert store.get_model("trail_model").values[KEY] == "Von Ben."  # type: ignore[union-attr]
    no_token = web.post("/products/trail-red/values", data={k: v for k, v in sent.items() if k != "csrf_token"}
                        | {"value": "Ohne."})
    assert no_token.status_code == 403
    assert store.get_model("trail_model").values[KEY] == "Von Ben."  # type: ignore[union-attr]


def test_a_variants_own_level_field_still_saves_on_the_variant(web: TestClient, store: Store) -> None:
    login(web)
    sent = form_of(web.get(PAGE).text, "ean")
    assert "target" not in sent
    done = web.post("/products/trail-red/values", follow_redirects=False, data={**sent, "value": "96385074"})
    assert done.status_code == 303
    assert store.get_product("trail-red").values["ean"] == "96385074"  # type: ignore[union-attr]
    assert "saved on model" not in web.get(done.headers["location"]).text


def test_the_mass_edit_names_the_models_holding_what_it_left(web: TestClient, store: Store) -> None:
    done = web.post("/api/v1/products/mass-edit", headers=bearer(store), json={
        "identifiers": ["trail-red", "trail-blue", "runner-red", "complete"], "values": {KEY: "Neu."}})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["on_models"], body["models"], body["changed"]) == (3, ["runner_model", "trail_model"], 1)
    plain = web.post("/api/v1/products/mass-edit", headers=bearer(store),
                     json={"identifiers": ["complete"], "values": {"mpn": "Z-1"}}).json()
    assert "models" not in plain  # only when some variants were left

    from pim.web import editing, mass_edit

    result = editing.apply_bulk(store, ["trail-red", "trail-blue"], {KEY: "Neu."}, "ed")
    assert result.models == ["trail_model"] and result.on_models == 2
    said = mass_edit.notice(KEY, result, "Neu.")  # the grid's summary
    assert "2 variants left as they are" in said and "set it on model trail_model" in said


# ------------------------------------------------------------------ B. the grid's label of a variant
def test_the_grid_shows_a_variants_inherited_label(web: TestClient, store: Store) -> None:
    login(web)
    grid = web.get("/products?q=trail&locale=de_DE").text
    rows = re.findall(r'<tr class="product-row"[^>]*>.*?</tr>', grid, re.S)
    red = next(r for r in rows if "trail-red" in r)
    assert "<td>Trail DE</td>" in red  # the model's name:de_DE, as the storefront labels it
    items = web.get("/api/v1/products?q=trail&locale=en_US", headers=bearer(store)).json()["items"]
    assert {i["identifier"]: i["label"] for i in items} == {"trail-red": "Trail", "trail-blue": "Trail"}
    store.upsert_products([Product(identifier="trail-red", family="shoes", parent="trail_model", source=ERP,
                                   values={"sku": "trail-red", "color": "red", "name:en_US": "Red Trail"})])
    items = web.get("/api/v1/products?q=trail&locale=en_US", headers=bearer(store)).json()["items"]
    assert {i["identifier"]: i["label"] for i in items}["trail-red"] == "Red Trail"  # its own wins


# ------------------------------------------------------------------ C. status and categories
def test_the_product_page_disables_a_product_and_sets_its_categories(web: TestClient, store: Store) -> None:
    login(web)
    page = web.get("/products/complete?channel=ecommerce&locale=en_US").text
    token = csrf(page)
    assert 'action="/products/complete/fields"' in page
    form = {"csrf_token": token, "channel": "ecommerce", "locale": "en_US", "shown_enabled": "true",
            "shown_categories": '["sneakers"]', "categories": ["shoes", "sneakers"]}  # "enabled" unticked
    done = web.post("/products/complete/fields", follow_redirects=False, data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("#status")
    product = store.get_product("complete")
    assert product is not None and not product.enabled and product.categories == ["shoes", "sneakers"]
    assert product.values["name:en_US"] == "Runner"  # values untouched
    history = web.get("/products/complete").text.split('<table class="history">')[1]
    assert "<code>enabled</code>" in history and "<code>categories</code>" in history
    stale = web.post("/products/complete/fields", data={**form, "enabled": "true"})  # shows enabled: no longer so
    assert stale.status_code == 409 and not store.get_product("complete").enabled  # type: ignore[union-attr]
    wrong = web.post("/products/complete/fields", data={**form, "shown_enabled": "false",
                                                        "shown_categories": '["shoes", "sneakers"]',
                                                        "categories": ["nope"]})
    assert wrong.status_code == 422 and "unknown category &#39;nope&#39;" in wrong.text
    assert store.get_product("complete").categories == ["shoes", "sneakers"]  # type: ignore[union-attr]
    assert web.post("/products/complete/fields", data={**form, "csrf_token": ""}).status_code == 403


def test_a_viewer_cannot_change_status_or_categories(web: TestClient, store: Store) -> None:
    token = login(web, "vi")
    assert 'action="/products/complete/fields"' not in web.get("/products/complete").text
    refused = web.post("/products/complete/fields", data={"csrf_token": token, "categories": ["shoes"]})
    assert refused.status_code == 403 and store.get_product("complete").enabled  # type: ignore[union-attr]


def test_patch_sets_enabled_and_categories_and_refuses_an_unknown_category(web: TestClient, store: Store) -> None:
    url, auth = "/api/v1/products/complete", bearer(store)
    done = web.patch(url, headers=auth, json={"enabled": False, "categories": ["shoes"], "values": {"mpn": "RN-7"}})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["product"]["enabled"] is False and body["product"]["categories"] == ["shoes"]
    assert set(body["changed"]) == {"mpn", "enabled", "categories"}
    wrong = web.patch(url, headers=auth, json={"enabled": True, "categories": ["nope"], "values": {"mpn": "RN-8"}})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "body.categories"
    product = store.get_product("complete")
    assert product is not None and not product.enabled and product.values["mpn"] == "RN-7"  # nothing of it written
    assert web.patch(url, headers=bearer(store, "vi"), json={"enabled": True}).status_code == 403
    assert web.patch(url, headers=auth, json={"enabled": True}).json()["product"]["enabled"] is True


# ------------------------------------------------------------------ the page flow in a real browser
@pytest.mark.chromium
def test_a_browser_fills_a_missing_german_description_from_a_variants_page(
        store: Store, live_app: Any, browser_page: Any) -> None:
    seed(store)
    base, page = live_app(create_app(store)), browser_page
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', "ed")
    page.fill('input[name="password"]', "correct horse")
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/products")
    page.goto(f"{base}{PAGE}")
    page.click('table.completeness tr[data-locale="de_DE"] a:has-text("description")')  # the sidebar's link
    page.fill(f'[id="v-{KEY}"]', "Ein Laufschuh für Wege.")
    page.click('tr#attr-description button[type="submit"]')
    page.wait_for_selector("p.notice.on-model")
    assert "shared by 2 products" in page.inner_text("p.notice.on-model")
    assert store.get_model("trail_model").values[KEY] == "Ein Laufschuh für Wege."  # type: ignore[union-attr]
    assert page.input_value(f'[id="v-{KEY}"]') == "Ein Laufschuh für Wege."


def test_a_models_page_lists_what_its_variants_inherit_and_links_them(web: TestClient, store: Store) -> None:
    login(web)
    assert '<a href="/models/trail_model?channel=ecommerce&locale=de_DE">trail_model</a>' in web.get(PAGE).text
    page = web.get("/models/trail_model?channel=ecommerce&locale=de_DE")
    assert page.status_code == 200
    assert '<a href="/products/trail-red?channel=ecommerce&amp;locale=de_DE">trail-red</a>' in page.text
    assert "trail-blue" in page.text and "<code>name:de_DE</code>" in page.text and "Trail DE" in page.text
    assert web.get("/models/nope").status_code == 404
