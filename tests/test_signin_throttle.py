"""Too many failed sign-ins from one address are refused for a while (HTTP 429 with Retry-After): the staff
login, the portal's sign-in page and the portal API's tokens. Other addresses, and the right credentials once
the window has moved on, still get in."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.app import create_app
from pim.web.throttle import ATTEMPTS, WINDOW_SECONDS, FailureThrottle, StoredThrottle
from tests.test_portal import auth, portal  # noqa: F401  (the fixture: two customers, one delivered feed each)
from tests.test_portal_pages import sign_in
from tests.test_web_ui import cheap_argon2, client, csrf  # noqa: F401  (fixtures)


def later(store: Store) -> StoredThrottle:
    """The app's throttle, read once the window has moved on."""
    return StoredThrottle(store, clock=lambda: time.time() + WINDOW_SECONDS + 1)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["memory", "stored"])
def throttles(request: pytest.FixtureRequest, store: Store):  # noqa: ANN201
    """(make(clock) → throttle): in memory, or over the store's signin_failure table (either backend)."""
    if request.param == "memory":
        return lambda clock: FailureThrottle(attempts=3, window=60, clock=clock)
    return lambda clock: StoredThrottle(store, attempts=3, window=60, clock=clock)


def test_throttle_counts_failures_per_address_within_the_window(throttles) -> None:  # noqa: ANN001
    clock = Clock()
    throttle = throttles(clock)
    for _ in range(3):
        assert throttle.wait_seconds("a") == 0
        throttle.failed("a")
    assert 55 <= throttle.wait_seconds("a") <= 61
    assert throttle.wait_seconds("b") == 0  # another address is not held back
    clock.t += 30
    throttle.failed("b")
    assert throttle.wait_seconds("a") > 0
    clock.t += 31  # the first failures have left the window
    assert throttle.wait_seconds("a") == 0
    throttle.failed("a")
    throttle.failed("a")
    throttle.succeeded("a")  # a good sign-in forgets the failures
    throttle.failed("a")
    assert throttle.wait_seconds("a") == 0


def test_stored_counts_are_shared_by_every_process_and_old_rows_go(store: Store) -> None:
    from sqlalchemy import func, select

    from pim.web.tables import SIGNIN_FAILURE

    clock = Clock()
    one, other = (StoredThrottle(store, attempts=3, window=60, clock=clock) for _ in range(2))
    one.failed("a")
    other.failed("a")
    assert one.wait_seconds("a") == 0
    other.failed("a")
    assert one.wait_seconds("a") > 0 and other.wait_seconds("a") > 0
    clock.t += 61
    one.failed("b")  # each failure clears rows the window has left
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SIGNIN_FAILURE)).scalar_one() == 1


def _staff_attempt(web: TestClient, password: str):
    page = web.get("/login").text
    return web.post("/login", data={"username": "ed", "password": password, "csrf_token": csrf(page)})


def test_staff_login_is_refused_after_too_many_failures(client: TestClient) -> None:  # noqa: F811
    for _ in range(ATTEMPTS):
        assert "Wrong user name or password" in _staff_attempt(client, "wrong").text
    refused = _staff_attempt(client, "correct horse")  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in refused.text
    assert client.get("/products", follow_redirects=False).status_code == 303  # not signed in
    other = TestClient(create_app(client.app.state.store))  # another web process of the same deployment
    assert _staff_attempt(other, "correct horse").status_code == 429
    client.app.state.signin_throttle = later(client.app.state.store)
    assert _staff_attempt(client, "correct horse").status_code == 200
    assert client.get("/products", follow_redirects=False).status_code == 200


def test_portal_sign_in_page_and_api_share_the_refusal(portal) -> None:  # noqa: F811
    web, tokens, _, _ = portal
    for _ in range(ATTEMPTS - 1):
        assert "not valid" in sign_in(web, "pft_guess").text
    assert web.get("/portal/feeds", headers=auth("pft_guess")).status_code == 401  # the tenth failure
    refused = web.get("/portal/feeds", headers=auth(tokens["a"]))
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0
    page = sign_in(web, tokens["a"])
    assert page.status_code == 429 and "cust_a" not in page.text
    web.app.state.signin_throttle = later(web.app.state.store)
    assert [f["contract"] for f in web.get("/portal/feeds", headers=auth(tokens["a"])).json()["feeds"]] == ["a-feed"]


def test_good_tokens_never_count(portal) -> None:  # noqa: F811
    web, tokens, _, _ = portal
    for _ in range(ATTEMPTS * 2):
        assert web.get("/portal/feeds", headers=auth(tokens["b"])).status_code == 200


def test_api_tokens_are_refused_after_too_many_wrong_ones(client: TestClient, store) -> None:  # noqa: F811
    from pim.web.accounts import add_user, create_token

    token = create_token(store, add_user(store, "api-bot", "correct horse battery", "viewer"))
    assert client.get("/api/v1/products", headers=auth(token)).status_code == 200
    for _ in range(ATTEMPTS):
        assert client.get("/api/v1/products", headers=auth("pim_guess")).status_code == 401
    refused = client.get("/api/v1/products", headers=auth(token))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    client.app.state.signin_throttle = later(store)
    assert client.get("/api/v1/products", headers=auth(token)).status_code == 200
