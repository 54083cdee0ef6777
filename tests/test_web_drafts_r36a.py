"""Round 36 (W1): a save whose session cookie has fully expired (12 h idle: the browser sends no session, so no
CSRF token) keeps its text across the sign-in, never applied; drafts are kept on the server (pim.web.drafts), so
a 20,000-character description survives, for its own person only."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pim.store import Store
from pim.store.store import now
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests import test_web_editing_r35
from tests.channel_data import seed_products
from tests.test_web_editing_r35 import OURS, PAGE, field, sign_in
from tests.test_web_ui import csrf, login

DESC = "description:en_US@ecommerce"
OWNER_COOKIE = "pim_draft_owner"  # pim.web.drafts (a literal: this file also runs against the code before it)

# the editing tests' fixtures: cheap password hashing, and ed and other as editors on the seeded catalog
cheap_argon2, web = test_web_editing_r35.cheap_argon2, test_web_editing_r35.web


def drafts_stored(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM web_draft")).scalar_one())


def expired_save(web: TestClient, key: str, value: str, headers: dict[str, str] = OURS, *,
                 owner_cookie: bool = True) -> object:
    """Sign in as ed, open the product page, let the session cookie expire (the browser drops it: only the
    longer-lived owner cookie stays, or not even that), then save `value` from the page still open."""
    login(web)
    token = csrf(web.get(PAGE).text)
    web.cookies.delete("pim_session")
    if not owner_cookie:
        web.cookies.delete(OWNER_COOKIE)
    return web.post("/products/complete/values", headers=headers, follow_redirects=False, data={
        "key": key, "value": value, "channel": "ecommerce", "locale": "en_US", "csrf_token": token})


def test_a_save_after_the_cookie_expired_signs_in_and_comes_back_with_the_text(web: TestClient, store: Store) -> None:
    answer = expired_save(web, "name:en_US", "Runner, typed overnight")
    assert answer.status_code == 303  # was 403, and the text was gone
    to_login = answer.headers["location"]
    nxt = parse_qs(urlsplit(to_login).query)["next"][0]
    assert nxt == f"{PAGE}#attr-name"
    assert "your change to name:en_US on complete was not saved" in web.get(to_login).text
    page = web.get(sign_in(web, nxt)).text
    assert field(page, "name:en_US") == "Runner, typed overnight" and "press its Save to save it" in page
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # shown again, never applied


def test_an_expired_cookies_save_is_never_applied_even_with_the_old_token(web: TestClient, store: Store) -> None:
    answer = expired_save(web, "mpn", "RN-OLD")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert store.get_product("complete").values.get("mpn") != "RN-OLD"


def test_a_cross_site_post_without_a_session_is_still_refused(web: TestClient, store: Store) -> None:
    answer = expired_save(web, "name:en_US", "planted", {"Origin": "https://evil.example"})
    assert answer.status_code == 403
    page = web.get(sign_in(web, PAGE)).text
    assert field(page, "name:en_US") == "Runner" and "planted" not in page


def test_a_20000_character_description_survives_the_sign_in(web: TestClient, store: Store) -> None:
    text = " ".join(secrets.token_urlsafe(30) for _ in range(500))[:20_000]
    assert len(text) == 20_000
    answer = expired_save(web, DESC, text)
    assert answer.status_code == 303
    assert len(answer.headers.get("set-cookie", "")) < 4096  # the text is not in the cookie
    assert drafts_stored(store) == 1
    nxt = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
    page = web.get(sign_in(web, nxt)).text
    assert field(page, DESC) == text
    assert store.get_product("complete").values[DESC] != text
    assert drafts_stored(store) == 0  # shown once, then gone from the server


def test_a_long_draft_of_a_signed_out_session_survives_too(web: TestClient) -> None:
    text = secrets.token_urlsafe(15_000)  # random: the cookie's compression could not have kept it
    login(web)
    token = csrf(web.get(PAGE).text)
    web.post("/logout", data={"csrf_token": token})
    web.get("/login")
    answer = web.post("/products/complete/values", headers=OURS, follow_redirects=False, data={
        "key": DESC, "value": text, "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    nxt = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
    assert field(web.get(sign_in(web, nxt)).text, DESC) == text


def test_another_person_signing_in_after_the_expiry_does_not_get_it(web: TestClient, store: Store) -> None:
    answer = expired_save(web, "name:en_US", "ed's overnight words")
    assert answer.status_code == 303
    page = web.get(sign_in(web, PAGE, user="other")).text
    assert field(page, "name:en_US") == "Runner" and "overnight" not in page
    assert drafts_stored(store) == 0  # not left on the server for the next sign-in either


def test_a_draft_is_not_shown_to_another_person_holding_its_cookie(web: TestClient, store: Store) -> None:
    """Even when the session's draft id reaches another person's session, the row is ed's: not shown."""
    expired_save(web, "name:en_US", "ed's words")
    held = web.cookies.get("pim_session")
    other = TestClient(web.app)
    other.cookies.set("pim_session", held)
    page = other.get(sign_in(other, PAGE, user="other")).text
    assert "ed&#39;s words" not in page and field(page, "name:en_US") == "Runner"


def test_without_the_owner_cookie_the_text_is_not_kept_and_the_page_says_so(web: TestClient, store: Store) -> None:
    answer = expired_save(web, "name:en_US", "nobody's words", owner_cookie=False)
    assert answer.status_code == 303
    assert drafts_stored(store) == 0
    nxt = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
    page = web.get(sign_in(web, nxt)).text
    assert "could not tell whose it was" in page and field(page, "name:en_US") == "Runner"


def test_an_expired_draft_is_said_to_be_gone(web: TestClient, store: Store) -> None:
    answer = expired_save(web, "name:en_US", "stale words")
    assert answer.status_code == 303
    with store.begin() as conn:
        conn.execute(text("UPDATE web_draft SET created_at = :at"), {"at": now() - timedelta(hours=13)})
    nxt = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
    page = web.get(sign_in(web, nxt)).text
    assert "no longer kept" in page and "stale words" not in page


def test_a_forged_owner_cookie_keeps_nothing(web: TestClient, store: Store) -> None:
    login(web)
    token = csrf(web.get(PAGE).text)
    web.cookies.delete("pim_session")
    web.cookies.set(OWNER_COOKIE, "1.forged.signature")
    answer = web.post("/products/complete/values", headers=OURS, follow_redirects=False, data={
        "key": "name:en_US", "value": "x", "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert answer.status_code == 303 and drafts_stored(store) == 0


@pytest.mark.chromium
def test_in_chromium_an_expired_cookie_keeps_a_long_description(store: Store, live_app, browser_page) -> None:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    base, page = live_app(create_app(store)), browser_page
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', "ed")
    page.fill('input[name="password"]', "correct horse")
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/products")
    page.goto(f"{base}{PAGE}")
    text = " ".join(secrets.token_hex(8) for _ in range(1200))[:20_000]
    page.fill(f'[id="v-{DESC}"]', text)
    page.context.clear_cookies(name="pim_session")  # 12 h idle: the browser has dropped the session cookie
    page.locator(f'form:has([id="v-{DESC}"]) button[type="submit"]').click()
    page.wait_for_url(f"{base}/login?**")
    assert "was not saved" in page.content()
    page.fill('input[name="username"]', "ed")
    page.fill('input[name="password"]', "correct horse")
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/products/complete?**")
    assert page.input_value(f'[id="v-{DESC}"]') == text
    assert store.get_product("complete").values[DESC] != text
