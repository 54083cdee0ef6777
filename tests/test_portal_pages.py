"""The portal's sign-in pages: a customer's token opens a page with their own feeds and contracts only; the
download links work with the browser's sign-in; a wrong or revoked token gets nowhere; staff sessions and
portal sessions do not open each other."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim import delivery_log as log
from tests.test_portal import portal  # noqa: F401  (the fixture: two customers, one delivered feed each)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def person_sign_in(client: TestClient, email: str, password: str):
    page = client.get("/portal/")
    return client.post("/portal/login", data={"email": email, "password": password, "csrf_token": _csrf(page.text)},
                       follow_redirects=True)


def sign_in(client: TestClient, token: str):
    page = client.get("/portal/")
    assert page.status_code == 200 and "Sign in" in page.text
    return client.post("/portal/login", data={"token": token, "csrf_token": _csrf(page.text)}, follow_redirects=True)


def test_signing_in_shows_only_the_customers_own_feeds_and_the_links_download(portal) -> None:  # noqa: F811
    client, tokens, files, paths = portal
    home = sign_in(client, tokens["a"])
    assert home.status_code == 200 and "cust_a" in home.text
    assert files["a-feed"]["name"] in home.text and files["b-feed"]["name"] not in home.text
    assert "a-feed" in home.text and "b-feed" not in home.text
    link = re.search(r'href="(/portal/feeds/\d+/download)"', home.text).group(1)  # type: ignore[union-attr]
    got = client.get(link)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == files["a-feed"]["sha256"]
    assert got.content == paths["a"].read_bytes()
    assert client.get(f"/portal/feeds/{files['b-feed']['id']}/download").status_code == 404  # not theirs
    assert [f["contract"] for f in client.get("/portal/feeds").json()["feeds"]] == ["a-feed"]


def test_a_wrong_token_is_refused_and_a_revoked_one_signs_the_browser_out(portal, store) -> None:  # noqa: F811
    client, tokens, files, _ = portal
    refused = sign_in(client, "pft_not-a-token")
    assert "not valid" in refused.text and "cust_a" not in refused.text
    assert client.get("/portal/feeds").status_code == 401
    sign_in(client, tokens["a"])
    assert client.get("/portal/feeds").status_code == 200
    log.revoke_tokens(store, "cust_a")
    assert client.get("/portal/feeds").status_code == 401
    assert "Sign in" in client.get("/portal/").text


def test_signing_out_closes_the_portal(portal) -> None:  # noqa: F811
    client, tokens, _, _ = portal
    home = sign_in(client, tokens["b"])
    client.post("/portal/logout", data={"csrf_token": _csrf(home.text)})
    assert client.get("/portal/feeds").status_code == 401


def test_the_session_cookie_holds_no_token(portal) -> None:  # noqa: F811
    client, tokens, _, _ = portal
    sign_in(client, tokens["a"])
    import base64

    cookie = client.cookies.get("pim_portal")
    payload = base64.b64decode(cookie.split(".")[0] + "==")
    assert tokens["a"].encode() not in payload and log.hash_token(tokens["a"]).encode() in payload


def test_staff_and_portal_sessions_do_not_open_each_other(store, tmp_path: Path) -> None:
    from pim.web.accounts import add_user
    from pim.web.app import create_app

    add_user(store, "anna", "s3cret-pass", "admin")
    token = log.issue_token(store, "cust_a")
    client = TestClient(create_app(store))
    page = client.get("/login")
    client.post("/login", data={"username": "anna", "password": "s3cret-pass", "csrf_token": _csrf(page.text),
                                "next": "/products"})
    assert client.get("/products").status_code == 200
    assert client.get("/portal/feeds").status_code == 401  # a staff session is not a customer
    sign_in(client, token)
    assert client.get("/portal/feeds").status_code == 200


@pytest.mark.chromium
def test_a_customer_signs_in_and_downloads_their_feed_in_chromium(portal, live_app, browser_page,  # noqa: F811
                                                                  artifacts_dir: Path, backend: str, store) -> None:
    from pim.web.app import create_app

    from pim.portal_people import add_person

    _, tokens, files, paths = portal
    add_person(store, "cust_a", "ana@cust-a.example", "a long passphrase")
    base = live_app(create_app(store))
    page = browser_page
    page.goto(f"{base}/portal/")
    page.fill('input[name="email"]', "Ana@Cust-A.example")
    page.fill('input[name="password"]', "a long passphrase")
    page.click('button:has-text("Sign in")')
    page.wait_for_url(f"{base}/portal/")
    assert "Signed in as ana@cust-a.example (cust_a)" in page.locator("p.who").inner_text()
    assert files["a-feed"]["name"] in page.locator("table").inner_text()
    assert files["b-feed"]["name"] not in page.content()
    page.screenshot(path=str(artifacts_dir / f"portal-feeds-{backend}.png"), full_page=True)
    with page.expect_download() as caught:
        page.click(f'a:has-text("{files["a-feed"]["name"]}")')
    saved = Path(caught.value.path())
    assert saved.read_bytes() == paths["a"].read_bytes()


def test_a_person_signs_in_with_their_own_password_and_sees_only_their_customer(portal, store) -> None:  # noqa: F811
    from pim.portal_people import add_person

    client, _, files, _ = portal
    add_person(store, "cust_a", "ana@cust-a.example", "a long passphrase")
    assert "Wrong e-mail or password" in person_sign_in(client, "ana@cust-a.example", "not the passphrase").text
    home = person_sign_in(client, "ANA@cust-a.example ", "a long passphrase")
    assert "Signed in as ana@cust-a.example (cust_a)" in home.text
    assert files["a-feed"]["name"] in home.text and files["b-feed"]["name"] not in home.text
    assert [f["contract"] for f in client.get("/portal/feeds").json()["feeds"]] == ["a-feed"]
    assert client.get(f"/portal/feeds/{files['b-feed']['id']}/download").status_code == 404
    assert client.get(f"/portal/feeds/{files['a-feed']['id']}/download").status_code == 200


def test_disabling_a_person_or_changing_their_password_signs_them_out(portal, store) -> None:  # noqa: F811
    from pim.portal_people import add_person, set_active, set_password

    client, tokens, _, _ = portal
    add_person(store, "cust_a", "ana@cust-a.example", "a long passphrase")
    person_sign_in(client, "ana@cust-a.example", "a long passphrase")
    assert client.get("/portal/feeds").status_code == 200
    set_password(store, "ana@cust-a.example", "another passphrase")
    assert client.get("/portal/feeds").status_code == 401  # the old session ends
    assert "Signed in as" in person_sign_in(client, "ana@cust-a.example", "another passphrase").text
    assert set_active(store, "ana@cust-a.example", False)
    assert client.get("/portal/feeds").status_code == 401
    assert "Wrong e-mail or password" in person_sign_in(client, "ana@cust-a.example", "another passphrase").text
    assert client.get("/portal/feeds", headers={"Authorization": f"Bearer {tokens['a']}"}).status_code == 200


def test_person_accounts_refuse_bad_input(store) -> None:
    from pim.errors import InputError
    from pim.portal_people import add_person
    from tests.feeds_data import store_contract

    for customer in ("cust_a", "cust_b"):  # customers that contracts name (others are refused: test_portal_round32)
        store_contract(store, code=f"{customer}-feed", customer=customer)
    add_person(store, "cust_a", "ana@cust-a.example", "a long passphrase")
    for args, field in ((("cust_a", "not-an-address", "a long passphrase"), "email"),
                        (("cust_a", "bo@cust-a.example", "short"), "password"),
                        (("cust_b", "ANA@cust-a.example", "a long passphrase"), "email"),
                        (("", "cy@cust-a.example", "a long passphrase"), "customer")):
        with pytest.raises(InputError) as err:
            add_person(store, *args)
        assert err.value.field == field
