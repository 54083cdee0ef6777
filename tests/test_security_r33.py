"""Round-33 sign-in and session findings: signing in to one's own account between guesses at another's no longer
resets the address's throttle (staff and portal); signing out of the portal ends the session on the server, so
a copied cookie is refused; portal answers are not cached; `pim serve` believes no proxy headers unless told
which proxies to trust; cookies carry `Secure` when the site is https; the default secret key is warned about."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from pim.settings import Settings
from pim.web.app import create_app
from pim.web.throttle import ATTEMPTS, FailureThrottle, StoredThrottle
from tests.test_portal import portal  # noqa: F401  (the fixture: two customers, one delivered feed each)
from tests.test_web_ui import cheap_argon2  # noqa: F401  (fixture)

sqlite_only = pytest.mark.backends("sqlite")


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def staff_sign_in(web: TestClient, username: str, password: str):
    page = web.get("/login").text
    return web.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(page)},
                    follow_redirects=False)


def staff_sign_out(web: TestClient) -> None:
    web.post("/logout", data={"csrf_token": _csrf(web.get("/login").text)})


def portal_sign_in(web: TestClient, **fields: str):
    page = web.get("/portal/").text
    return web.post("/portal/login", data={**fields, "csrf_token": _csrf(page)}, follow_redirects=False)


def portal_sign_out(web: TestClient) -> None:
    web.post("/portal/logout", data={"csrf_token": _csrf(web.get("/portal/").text)}, follow_redirects=False)


# ------------------------------------------------------------------------------------------ 1. throttle bypass
@pytest.fixture(params=["memory", "stored"])
def throttle(request: pytest.FixtureRequest, store):  # noqa: ANN201
    """In memory, or over the signin_failure table (either backend)."""
    return FailureThrottle(attempts=3) if request.param == "memory" else StoredThrottle(store, attempts=3)


def test_a_good_sign_in_clears_only_its_own_accounts_failures(throttle) -> None:  # noqa: ANN001
    throttle.failed("staff:1.2.3.4", "admin")
    throttle.failed("staff:1.2.3.4", "admin")
    throttle.failed("staff:1.2.3.4", "ed")
    throttle.succeeded("staff:1.2.3.4", "ed")  # ed's own typo goes, the guesses at admin stay
    assert throttle.wait_seconds("staff:1.2.3.4") == 0
    throttle.failed("staff:1.2.3.4", "admin")
    assert throttle.wait_seconds("staff:1.2.3.4") > 0


@sqlite_only
def test_an_editor_signing_in_between_guesses_cannot_guess_the_admins_password(store, cheap_argon2) -> None:  # noqa: F811
    from pim.web.accounts import add_user

    add_user(store, "admin", "admin pass 123", "admin")
    add_user(store, "ed", "editor pass 123", "editor")
    web = TestClient(create_app(store))
    codes = []
    for round_ in range(2):  # the reviewer's loop: 9 guesses, then the editor's own sign-in (it reset the count)
        codes += [staff_sign_in(web, "admin", f"guess {round_}{i}").status_code for i in range(ATTEMPTS - 1)]
        codes.append(staff_sign_in(web, "ed", "editor pass 123").status_code)
        staff_sign_out(web)
    assert codes[:ATTEMPTS] == [200] * (ATTEMPTS - 1) + [303]  # the editor's first sign-in still gets in
    assert codes[ATTEMPTS] == 200 and set(codes[ATTEMPTS + 1:]) == {429}  # the tenth guess is the last
    refused = staff_sign_in(web, "admin", "admin pass 123")
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text


@sqlite_only
def test_a_customer_signing_in_with_its_own_token_between_guesses_cannot_guess_a_persons_password(
        portal, store, cheap_argon2) -> None:  # noqa: F811
    from pim.portal_people import add_person

    _, tokens, _, _ = portal
    add_person(store, "cust_b", "bob@cust-b.example", "bobs long passphrase")
    web = TestClient(create_app(store))
    codes = []
    for round_ in range(2):
        codes += [portal_sign_in(web, email="Bob@cust-b.example", password=f"guess {round_}{i}").status_code
                  for i in range(ATTEMPTS - 1)]
        codes.append(portal_sign_in(web, token=tokens["a"]).status_code)
        portal_sign_out(web)
    assert codes[:ATTEMPTS] == [200] * (ATTEMPTS - 1) + [303]
    assert codes[ATTEMPTS] == 200 and set(codes[ATTEMPTS + 1:]) == {429}
    assert portal_sign_in(web, email="bob@cust-b.example", password="bobs long passphrase").status_code == 429


@sqlite_only
def test_own_typos_are_forgiven_by_a_good_sign_in(store, cheap_argon2) -> None:  # noqa: F811
    """A guard (passes before and after the change): a person's own mistakes still clear at their sign-in."""
    from pim.web.accounts import add_user

    add_user(store, "ed", "editor pass 123", "editor")
    web = TestClient(create_app(store))
    for _ in range(2):
        assert {staff_sign_in(web, "ed", "typo").status_code for _ in range(ATTEMPTS - 1)} == {200}
        assert staff_sign_in(web, "ed", "editor pass 123").status_code == 303
        staff_sign_out(web)


# ------------------------------------------------------------------------------ 2. portal sign-out, no caching
@sqlite_only
@pytest.mark.parametrize("how", ["person", "token"])
def test_a_cookie_copied_before_portal_sign_out_is_refused_after(portal, store, cheap_argon2, how: str) -> None:  # noqa: F811
    from pim.portal_people import add_person

    _, tokens, files, _ = portal
    add_person(store, "cust_a", "ana@cust-a.example", "anas long passphrase")
    web = TestClient(create_app(store))
    fields = {"email": "ana@cust-a.example", "password": "anas long passphrase"} if how == "person" else \
        {"token": tokens["a"]}
    assert portal_sign_in(web, **fields).status_code == 303
    copied = web.cookies.get("pim_session")
    download = f"/portal/feeds/{files['a-feed']['id']}/download"
    assert web.get(download).status_code == 200
    portal_sign_out(web)
    thief = TestClient(web.app, cookies={"pim_session": copied})
    assert thief.get(download).status_code == 401
    assert thief.get("/portal/feeds").status_code == 401
    assert "Sign in" in thief.get("/portal/").text
    assert portal_sign_in(web, **fields).status_code == 303  # signing in again opens a new session
    assert web.get("/portal/feeds").status_code == 200


@sqlite_only
def test_portal_answers_are_private_and_not_stored(portal) -> None:  # noqa: F811
    from tests.test_portal import auth

    client, tokens, files, _ = portal
    for path in ("/portal/feeds", f"/portal/feeds/{files['a-feed']['id']}", f"/portal/feeds/{files['a-feed']['id']}/download",
                 f"/portal/feeds/{files['a-feed']['id']}/manifest", "/portal/contracts"):
        got = client.get(path, headers=auth(tokens["a"]))
        assert got.status_code == 200 and got.headers.get("cache-control") == "private, no-store", path


@sqlite_only
def test_portal_pages_are_not_stored_either(portal, store) -> None:  # noqa: F811
    """The signed-in pages list a customer's files too: no cache keeps them, nor the sign-in form."""
    _, tokens, _, _ = portal
    web = TestClient(create_app(store))
    signed_out = web.get("/portal/")  # the sign-in form
    assert "Sign in" in signed_out.text and signed_out.headers.get("cache-control") == "private, no-store"
    assert portal_sign_in(web, token=tokens["a"]).status_code == 303
    for path in ("/portal/", "/portal/files"):
        got = web.get(path)
        assert got.status_code == 200 and got.headers.get("cache-control") == "private, no-store", path


# --------------------------------------------------------------------------- 3. proxy headers, 4. cookies, key
@sqlite_only
def test_pim_serve_believes_proxy_headers_only_from_the_named_proxies(store, monkeypatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from pim.cli import _mount, app
    from pim.settings import reset_settings

    _mount()
    ran: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: ran.append(kw))
    monkeypatch.setenv("PIM_WEB_WORKERS", "0")
    monkeypatch.delenv("PIM_SECRET_KEY", raising=False)
    for proxies in (None, "10.0.0.5, 10.1.2.3/16"):
        if proxies:
            monkeypatch.setenv("PIM_FORWARDED_ALLOW_IPS", proxies)
            monkeypatch.setenv("PIM_SECRET_KEY", "a real secret of some length")
        reset_settings()
        result = CliRunner().invoke(app, ["serve"])
        assert result.exit_code == 0, result.output
        assert ("PIM_SECRET_KEY is not set" in result.output) is (proxies is None)
    reset_settings()
    assert ran[0]["proxy_headers"] is False
    assert ran[1]["proxy_headers"] is True and ran[1]["forwarded_allow_ips"] == ["10.0.0.5", "10.1.0.0/16"]


def test_a_proxy_that_is_not_an_address_is_refused_with_the_way_to_write_it(monkeypatch) -> None:
    from pim.errors import ConfigError
    from pim.settings import get_settings, reset_settings

    monkeypatch.setenv("PIM_FORWARDED_ALLOW_IPS", "10.0.0.5,proxy.local")
    reset_settings()
    with pytest.raises(ConfigError, match=r"PIM_FORWARDED_ALLOW_IPS: 'proxy.local'.*10\.0\.0\.5,10\.1\.0\.0/16"):
        get_settings()
    reset_settings()


@pytest.mark.parametrize(("env", "secure"), [({}, False), ({"public_url": "https://pim.example.com"}, True),
                                             ({"public_url": "https://pim.example.com", "cookie_secure": False}, False),
                                             ({"cookie_secure": True}, True)])
@sqlite_only
def test_session_cookies_are_secure_on_an_https_site(store, env: dict, secure: bool) -> None:
    settings = Settings(secret_key="a real secret of some length", **env)
    web = TestClient(create_app(store, settings), base_url="https://testserver")
    cookie = web.get("/login").headers["set-cookie"]
    assert cookie.startswith("pim_session=") and ("; secure" in cookie.lower()) is secure


@sqlite_only
def test_the_web_app_warns_while_the_default_secret_key_signs_its_cookies(store, monkeypatch, caplog) -> None:
    from pim.web import app as web_app

    monkeypatch.delenv("PIM_SECRET_KEY", raising=False)
    web_app._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="pim.web.app"):
        create_app(store, Settings(secret_key="a real secret of some length"))
        assert "PIM_SECRET_KEY" not in caplog.text
        create_app(store, Settings())
    assert "PIM_SECRET_KEY is not set" in caplog.text and "anyone can forge" in caplog.text
