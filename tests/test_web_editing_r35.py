"""Round 35, the editing flow of the web UI: signing in again after a session ended (where it goes, and the edit it
did not save), a refused value kept in its field, refusals answered as pages, and the keyboard's place after a
save and after the grid's "Next page"."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from pim.product import Product
from pim.store import Store
from pim.structure import Attribute
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import ERP, seed_products
from tests.test_web_ui import csrf, login
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

PAGE = "/products/complete?channel=ecommerce&locale=en_US"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
OURS = {"Origin": "http://testserver", "Referer": f"http://testserver{PAGE}"}


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    add_user(store, "other", "correct horse", "editor")
    return TestClient(create_app(store))


def field(page: str, key: str) -> str:
    """The value an edit form's input shows for `key`."""
    tag = re.search(rf'<(?:input|textarea)[^>]*id="v-{re.escape(key)}"[^>]*>', page)
    assert tag, f"no field for {key}"
    found = re.search(r'value="([^"]*)"', tag.group(0))
    if found:
        return html.unescape(found.group(1))
    return html.unescape(page[tag.end():page.index("</textarea>", tag.end())])


def ended_session_save(web: TestClient, value: str, headers: dict[str, str]) -> str:
    """Sign in, open the product page, end the session (signed out in another tab), then save `value` as the
    English name from the page still open: the answer's Location."""
    login(web)
    token = csrf(web.get(PAGE).text)
    web.post("/logout", data={"csrf_token": token})
    web.get("/login")  # the other tab shows the sign-in page: a new CSRF token in the session
    answer = web.post("/products/complete/values", headers=headers, follow_redirects=False, data={
        "key": "name:en_US", "value": value, "channel": "ecommerce", "locale": "en_US", "shown": '"Runner"',
        "csrf_token": token})
    assert answer.status_code == 303
    return answer.headers["location"]


def sign_in(web: TestClient, nxt: str, user: str = "ed") -> str:
    """Through the sign-in form with this `next`: where it sends the browser."""
    token = csrf(web.get("/login").text)
    answer = web.post("/login", follow_redirects=False, data={
        "username": user, "password": "correct horse", "csrf_token": token, "next": nxt})
    assert answer.status_code == 303
    return answer.headers["location"]


# ------------------------------------------------------------------ 1. signing in again after the session ended
def test_a_save_after_the_session_ended_returns_to_the_product_page_with_the_unsaved_text(
        web: TestClient, store: Store) -> None:
    to_login = ended_session_save(web, "Runner, written at length", OURS)
    nxt = parse_qs(urlsplit(to_login).query)["next"][0]
    assert nxt == f"{PAGE}#attr-name"  # the page the form was on, not its POST-only address
    assert "your change to name:en_US on complete was not saved" in web.get(to_login).text
    back = sign_in(web, nxt)
    assert back == f"{PAGE}#attr-name"
    page = web.get(back).text
    assert field(page, "name:en_US") == "Runner, written at length"
    assert "press its Save to save it" in page
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # shown again, not saved
    assert field(web.get(PAGE).text, "name:en_US") == "Runner"  # once: the draft is gone after that page


def test_the_restored_draft_saves_with_the_value_the_page_first_showed(web: TestClient, store: Store) -> None:
    """Saving the restored text still notices a change made meanwhile (its `shown` is the original page's)."""
    nxt = parse_qs(urlsplit(ended_session_save(web, "Mine", OURS)).query)["next"][0]
    page = web.get(sign_in(web, nxt)).text
    store.upsert_products([Product(identifier="complete", family="shoes", source=ERP,
                                   values={**store.get_product("complete").values, "name:en_US": "Theirs"})])
    shown = re.search(r'name="key" value="name:en_US">.*?name="shown" value="([^"]*)"', page, re.DOTALL).group(1)
    answer = web.post("/products/complete/values", data={
        "key": "name:en_US", "value": "Mine", "channel": "ecommerce", "locale": "en_US",
        "shown": html.unescape(shown), "csrf_token": csrf(page)})
    assert answer.status_code == 409 and store.get_product("complete").values["name:en_US"] == "Theirs"


def test_a_draft_too_long_for_the_cookie_is_said_to_be_lost(web: TestClient) -> None:
    import secrets

    nxt = parse_qs(urlsplit(ended_session_save(web, secrets.token_urlsafe(160_000), OURS)).query)["next"][0]
    page = web.get(sign_in(web, nxt)).text
    assert "too long to keep across the sign-in" in page and field(page, "name:en_US") == "Runner"


def test_without_a_referer_the_draft_opens_in_the_channel_and_locale_it_was_typed_in(web: TestClient) -> None:
    to_login = ended_session_save(web, "Runner, typed", {"Origin": "http://testserver"})
    assert parse_qs(urlsplit(to_login).query)["next"] == [f"{PAGE}#attr-name"]


def test_a_cross_site_post_signs_in_to_its_page_with_no_draft(web: TestClient) -> None:
    to_login = ended_session_save(web, "planted by another site", {"Origin": "https://evil.example"})
    assert parse_qs(urlsplit(to_login).query)["next"] == ["/products/complete"]
    assert "was not saved" not in web.get(to_login).text
    page = web.get(sign_in(web, PAGE)).text
    assert field(page, "name:en_US") == "Runner" and "planted" not in page


def test_another_person_signing_in_does_not_get_the_draft(web: TestClient, store: Store) -> None:
    from sqlalchemy import select

    from pim.web import sessions
    from pim.web.tables import USER

    login(web)
    token = csrf(web.get(PAGE).text)
    with store.begin() as conn:  # the session ends on the server (an admin ended it); the cookie still says whose
        sessions.end_all(conn, conn.execute(select(USER.c.id).where(USER.c.username == "ed")).scalar_one())
    to_login = web.post("/products/complete/values", headers=OURS, follow_redirects=False, data={
        "key": "name:en_US", "value": "ed's words", "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert "your change to name:en_US on complete was not saved" in web.get(to_login.headers["location"]).text
    page = web.get(sign_in(web, PAGE, user="other")).text
    assert field(page, "name:en_US") == "Runner" and "ed&#39;s words" not in page


def test_next_keeps_the_query_string(web: TestClient) -> None:
    answer = web.get("/products?family=shoes&channel=ecommerce&after=3", follow_redirects=False)
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["location"]).query)["next"] == [
        "/products?family=shoes&channel=ecommerce&after=3"]


def test_htmx_requests_come_back_to_the_page_they_were_made_from(web: TestClient) -> None:
    answer = web.get("/products?after=3", follow_redirects=False, headers={
        "HX-Request": "true", "HX-Current-URL": "http://testserver/products?family=shoes"})
    assert unquote(answer.headers["hx-redirect"]) == "/login?next=/products?family=shoes"


@pytest.mark.parametrize(("nxt", "opened"), [
    ("/products/complete/values", "/products/complete"),
    ("/\\evil.example/x", "/products"),
])
def test_sign_in_opens_a_page_for_next(web: TestClient, nxt: str, opened: str) -> None:
    assert sign_in(web, nxt) == opened


# ------------------------------------------------------------------ 2. a refused value stays in its field
def test_a_refused_value_stays_in_its_field_with_422(web: TestClient, store: Store) -> None:
    token = login(web)
    answer = web.post("/products/complete/values", data={
        "key": "ean", "value": "not a gtin", "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert answer.status_code == 422
    assert field(answer.text, "ean") == "not a gtin"
    assert 'aria-invalid="true" aria-describedby="err-ean"' in answer.text and 'id="err-ean"' in answer.text
    assert store.get_product("complete").values["ean"] != "not a gtin"


def test_a_refused_metric_keeps_its_amount(web: TestClient) -> None:
    token = login(web)
    answer = web.post("/products/complete/values", data={
        "key": "weight", "value": "heavy", "unit": "GRAM", "channel": "ecommerce", "locale": "en_US",
        "csrf_token": token})
    assert answer.status_code == 422 and field(answer.text, "weight") == "heavy"


def test_a_text_field_has_the_attributes_maxlength(web: TestClient, store: Store) -> None:
    store.put_structure("attribute", [Attribute(code="mpn", type="text", group="general", max_characters=12)])
    login(web)
    tag = re.search(r'<input[^>]*id="v-mpn"[^>]*>', web.get(PAGE).text).group(0)
    assert 'maxlength="12"' in tag


# ------------------------------------------------------------------ 3. refusals answered as pages
@pytest.mark.parametrize(("url", "status", "said"), [
    ("/products/NOPE", 404, "No product &#39;NOPE&#39;"),
    ("/products?after=abc", 422, "after: expected a whole number"),
    ("/jobs/999999", 404, "No job 999999"),
    ("/products/complete/values", 405, "takes a form&#39;s post only"),
])
def test_a_browser_gets_an_html_page_for_a_refusal(web: TestClient, url: str, status: int, said: str) -> None:
    login(web)
    answer = web.get(url, headers=BROWSER)
    assert answer.status_code == status and answer.headers["content-type"].startswith("text/html")
    assert said in answer.text and 'class="back"' in answer.text
    assert web.get(url).headers["content-type"].startswith("application/json")  # a script's Accept: */*


def test_a_post_to_a_page_is_told_it_takes_no_form_posts(web: TestClient) -> None:
    login(web)
    answer = web.post("/dashboard", headers=BROWSER)
    assert answer.status_code == 405 and "takes no form posts" in answer.text


def test_the_405_page_links_to_the_page_of_the_form(web: TestClient) -> None:
    login(web)
    answer = web.get("/products/complete/values", headers=BROWSER)
    assert '<a href="/products/complete" class="back"' in answer.text


def test_an_editor_on_an_admin_page_is_told_what_it_manages(web: TestClient) -> None:
    login(web)
    answer = web.get("/admin/families", headers=BROWSER)
    assert answer.status_code == 403 and "may not manage families" in answer.text and "users" not in answer.text
    assert "may not manage channels" in web.get("/admin/channels", headers=BROWSER).text


def test_a_refused_upload_answers_a_page_back_to_the_product(web: TestClient) -> None:
    from tests import images

    token = login(web)
    answer = web.post("/products/complete/media", data={"key": "picture", "csrf_token": token},
                      headers={**BROWSER, "Referer": f"http://testserver{PAGE}"},
                      files={"file": ("shoe.jpg", images.truncated_jpeg(), "image/jpeg")})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "Image rejected" in answer.text and f'<a href="{html.escape(PAGE)}" class="back"' in answer.text


# ------------------------------------------------------------------ 4. the keyboard's place
def test_a_save_returns_to_its_field(web: TestClient) -> None:
    token = login(web)
    answer = web.post("/products/complete/values", follow_redirects=False, data={
        "key": "mpn", "value": "RN-2", "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert answer.headers["location"] == f"{PAGE}#attr-mpn"
    page = web.get(answer.headers["location"]).text
    tag = re.search(r'<input[^>]*id="v-mpn"[^>]*>', page).group(0)
    assert "data-focus-on-load" in tag and 'class="saved"' in page
    assert "data-focus-on-load" not in web.get(PAGE).text  # once


def many_products(store: Store, count: int = 60) -> None:
    store.upsert_products([Product(identifier=f"p{i:03}", family="shoes", source=ERP, values={"sku": f"p{i:03}"})
                           for i in range(count)])


def test_next_page_pushes_its_cursor_and_focuses_the_first_new_row(web: TestClient, store: Store) -> None:
    many_products(store)
    login(web)
    grid = web.get("/products")
    assert "HX-Request" in grid.headers["vary"]
    more = re.search(r'<tr id="more">.*?</tr>', grid.text, re.DOTALL).group(0)
    assert 'hx-push-url="true"' in more
    nxt = html.unescape(re.search(r'hx-get="([^"]+)"', more).group(1))
    rows = web.get(nxt, headers={"HX-Request": "true"}).text
    assert "<h1>Products</h1>" not in rows
    assert re.search(r'<tr class="product-row"[^>]*>\s*(<td>.*?</td>\s*)?<td><a data-focus-after-swap ', rows, re.DOTALL)
    assert rows.count("data-focus-after-swap") == 1


def test_back_to_a_pushed_page_gets_the_whole_page(web: TestClient, store: Store) -> None:
    many_products(store)
    login(web)
    more = re.search(r'hx-get="([^"]+)"', web.get("/products").text).group(1)
    restored = web.get(html.unescape(more), headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<h1>Products</h1>" in restored.text and "first page" in restored.text
    assert "data-focus-after-swap" not in restored.text


@pytest.mark.chromium
def test_keyboard_focus_stays_on_the_saved_field_and_on_the_grid_after_next_page(
        store: Store, live_app, browser_page) -> None:
    seed_products(store)
    many_products(store)
    add_user(store, "ed", "correct horse", "editor")
    base, page = live_app(create_app(store)), browser_page
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', "ed")
    page.fill('input[name="password"]', "correct horse")
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/products")

    page.focus("#more a")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('tr.product-row').length > 50")
    # htmx settles the swap, then keep_place.js moves the focus to the first new row (not <body>)
    page.wait_for_function("document.activeElement.closest('tr.product-row') !== null")
    assert page.evaluate("[...document.querySelectorAll('tr.product-row')]"
                         ".indexOf(document.activeElement.closest('tr.product-row'))") == 50  # the first new row
    assert "after=" in page.url

    page.goto(f"{base}{PAGE}")
    page.fill('[id="v-mpn"]', "RN-9")
    page.keyboard.press("Enter")  # submits the field's form
    page.wait_for_url(f"{base}{PAGE}#attr-mpn")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'v-mpn'")
