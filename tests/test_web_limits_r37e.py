"""Round 37 (task E): one size limit for every field of a staff form, the one a draft keeps (drafts.MAX_CHARS,
200,000 characters as typed). Before, the product page saved any value up to ~2.4 MB as sent (so 300,000 Latin
characters saved although their draft would have been lost), while the mass edit and the structure forms kept
Starlette's 1 MiB per field (a 150,000-character CJK value: a bare 400 "Field exceeded maximum size of 1024KB"
naming no field) and took any Latin text under it. Now an over-long field is refused naming the field and the
limit: on the product page under its field with the text still in it (422); elsewhere with 413 on a page saying
to go back to the form as typed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.test_web_editing_r35 import PAGE, field
from tests.test_web_ui import admin_client, cheap_argon2, csrf, login  # noqa: F401  (cheap_argon2: autouse)

LIMIT = 200_000  # drafts.MAX_CHARS: a literal, as this file also runs against the code before the change
DESC = "description:en_US@ecommerce"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    return TestClient(create_app(store))


def _save(web: TestClient, value: str, headers: dict[str, str] | None = None) -> object:
    token = csrf(web.get(PAGE).text)
    return web.post("/products/complete/values", headers=headers or BROWSER, follow_redirects=False, data={
        "key": DESC, "value": value, "channel": "ecommerce", "locale": "en_US", "csrf_token": token})


def _said_limit(text: str) -> bool:
    return f"{LIMIT:,}" in text and "Field exceeded" not in text


# ---------------------------------------------------------------- the product page's value form
def test_a_value_over_the_limit_is_refused_under_its_field_with_the_text_kept(web: TestClient, store: Store) -> None:
    login(web)
    before = store.get_product("complete").values.get(DESC)
    typed = "Lorem ipsum " * (LIMIT // 12 + 1) + "tail!"  # 200,009 Latin characters: ~200 KB, was saved
    answer = _save(web, typed)
    assert answer.status_code == 422, answer.text[:300]
    assert field(answer.text, DESC) == typed  # nothing typed is lost: it is back in its field
    error = answer.text.split('class="field-error"')[1].split("</p>")[0]
    assert f"{len(typed):,} characters" in error and _said_limit(error) and "pim import" in error
    assert store.get_product("complete").values.get(DESC) == before


def test_a_value_at_the_limit_still_saves(web: TestClient, store: Store) -> None:
    login(web)
    typed = "商" * LIMIT  # 1.8 MB urlencoded: over Starlette's 1 MiB, under the field's byte cap
    answer = _save(web, typed)
    assert answer.status_code == 303, answer.text[:300]
    assert store.get_product("complete").values[DESC] == typed


def test_htmx_saves_meet_the_same_limit(web: TestClient, store: Store) -> None:
    token = login(web)
    typed = "x" * (LIMIT + 1)
    answer = web.post("/products/complete/values", follow_redirects=False,
                      headers={"HX-Request": "true", "X-CSRF-Token": token},
                      data={"key": DESC, "value": typed, "channel": "ecommerce", "locale": "en_US"})
    assert answer.status_code == 422 and "HX-Redirect" not in answer.headers
    assert store.get_product("complete").values.get(DESC) != typed


def test_a_body_too_big_to_read_names_the_value_it_was_for(web: TestClient, store: Store) -> None:
    login(web)
    answer = _save(web, "a" * (LIMIT * 12 + 64 * 1024 + 1))  # over the field's byte cap: read no further
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert DESC in answer.text and _said_limit(answer.text) and "Go back" in answer.text


# ---------------------------------------------------------------- the mass edit and the structure forms
def test_the_mass_edit_takes_what_the_product_page_takes(web: TestClient, store: Store) -> None:
    token = login(web)
    typed = "説明" * 75_000  # 150,000 characters, 1.35 MB urlencoded: a bare 400 from Starlette before
    answer = web.post("/products/bulk", headers=BROWSER, data={
        "csrf_token": token, "key": DESC, "value": typed, "scope": "selected", "sku": ["complete"]})
    assert answer.status_code == 200, answer.text[:300]
    assert store.get_product("complete").values[DESC] == typed


def test_the_mass_edit_refuses_a_value_over_the_limit_naming_it(web: TestClient, store: Store) -> None:
    token = login(web)
    before = store.get_product("complete").values.get(DESC)
    answer = web.post("/products/bulk", headers=BROWSER, data={
        "csrf_token": token, "key": DESC, "value": "y" * (LIMIT + 1), "scope": "selected", "sku": ["complete"]})
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert f"{LIMIT + 1:,} characters" in answer.text and _said_limit(answer.text)
    assert f"value&#39; of {DESC}" in answer.text or f"value' of {DESC}" in answer.text
    assert store.get_product("complete").values.get(DESC) == before


@pytest.mark.parametrize("typed", ["L" * (LIMIT + 1), "标签" * 300_000], ids=["latin-200k", "cjk-600k"])
def test_a_structure_form_refuses_an_over_long_label_naming_the_field(store: Store, typed: str) -> None:
    seed_products(store)
    web, token = admin_client(store)
    answer = web.post("/admin/attributes/mpn", headers=BROWSER, follow_redirects=False,
                      data={"csrf_token": token, "label:en_US": typed})
    assert answer.status_code == 413, answer.status_code
    assert "label:en_US" in answer.text and _said_limit(answer.text)
    from pim.structure_cache import cached_structure

    with store.engine.connect() as conn:
        assert cached_structure(conn).attributes["mpn"].labels.get("en_US") != typed


def test_a_structure_form_with_the_token_as_a_header_is_read_under_the_same_limit(store: Store) -> None:
    seed_products(store)
    web, token = admin_client(store)
    answer = web.post("/admin/attributes/mpn", follow_redirects=False, headers={"X-CSRF-Token": token},
                      data={"label:en_US": "M" * (LIMIT + 1)})
    assert answer.status_code == 413 and "label:en_US" in answer.text


# ---------------------------------------------------------------- in a real browser
@pytest.mark.chromium
def test_in_chromium_an_over_long_value_stays_in_its_field_with_the_reason(
        store: Store, live_app, browser_page) -> None:  # noqa: ANN001
    from tests.test_web_browser import sign_in

    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    base = live_app(create_app(store))
    page = browser_page
    sign_in(page, base, "ed", "correct horse", start="/products")
    page.goto(f"{base}{PAGE}")
    typed = "Ünïcode text, long. " * (LIMIT // 20) + "the end"
    box = page.locator(f'[id="v-{DESC}"]')
    box.fill(typed)
    box.locator("xpath=ancestor::form").locator('button[type="submit"]').click()
    page.wait_for_load_state()
    error = page.locator("p.field-error")
    assert f"{LIMIT:,}" in error.inner_text()
    assert page.locator(f'[id="v-{DESC}"]').input_value() == typed
    assert store.get_product("complete").values.get(DESC) != typed


@pytest.mark.chromium
def test_in_chromium_a_structure_form_refused_for_length_comes_back_as_typed(
        store: Store, live_app, browser_page) -> None:  # noqa: ANN001
    from tests.test_web_browser import sign_in

    seed_products(store)
    add_user(store, "ada", "admin pass 1", "admin")
    base = live_app(create_app(store))
    page = browser_page
    sign_in(page, base, "ada", "admin pass 1")
    page.goto(f"{base}/admin/attributes/mpn")
    typed = "Manufacturer part number, " * (LIMIT // 26 + 1)
    box = page.locator('form.relabel input[name="label:en_US"]')
    box.fill(typed)
    page.locator("form.relabel button").click()
    page.wait_for_load_state()
    said = page.locator("p.error").inner_text()
    assert "label:en_US" in said and f"{LIMIT:,}" in said  # was a bare 200 page with the label saved
    page.locator("a.back").click()
    page.wait_for_url(f"{base}/admin/attributes/mpn")
    assert page.locator('form.relabel input[name="label:en_US"]').input_value() == typed
