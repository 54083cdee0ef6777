"""Staff accounts have an optional, unique e-mail (CLI and the admins' users page) and a mailed password reset
like the portal's, with the mail going through a real SMTP server on loopback (aiosmtpd): the link works once,
for an hour, for an active user only, a newer link voids the older, a new password ends the user's sessions;
asking never reveals whether an address has an account; without a mail server no reset is offered."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from pim.errors import InputError
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import now
from pim.web.accounts import add_user, authenticate, list_users, set_active, set_email
from pim.web.app import create_app
from pim.web.tables import USER, WEB_RESET, WEB_SESSION
from tests.test_portal_reset import Inbox, inbox  # noqa: F401  (the loopback SMTP server fixture)
from tests.test_web_ui import cheap_argon2, csrf, login  # noqa: F401  (fixtures)

SITE = "https://pim.example.com"
NAME, ADDRESS, OLD, NEW = "ed", "ed@shop.example", "correct horse", "battery staple"


@pytest.fixture
def mailbox(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:  # noqa: F811
    """The portal tests' loopback SMTP server, with the staff UI's public address."""
    monkeypatch.setenv("PIM_PUBLIC_URL", SITE)
    monkeypatch.setenv("PIM_MAIL_FROM", "pim@shop.example")
    reset_settings()
    yield inbox


@pytest.fixture
def web(store: Store) -> TestClient:
    add_user(store, NAME, OLD, "editor", email=ADDRESS)
    return TestClient(create_app(store))


def _link(box: Inbox) -> str:
    body = box.mails[-1][1].get_payload(decode=True).decode()
    return re.search(r"https?://\S+/login/reset\?token=\S+", body).group(0)  # type: ignore[union-attr]


def _ask(web: TestClient, email: str):  # noqa: ANN202
    page = web.get("/login/forgot")
    return web.post("/login/forgot", data={"email": email, "csrf_token": csrf(page.text)})


def _set(web: TestClient, link: str, password: str, again: str | None = None):  # noqa: ANN202
    """Open the link, then post the new password: (the link's page, the answer)."""
    path = link.removeprefix(SITE)
    page = web.get(path)
    return page, web.post("/login/reset", data={"token": path.split("token=")[1], "password": password,
                                                "again": again or password, "csrf_token": csrf(web.get("/login").text)})


def _signs_in(web: TestClient, user: str, password: str) -> bool:
    page = web.get("/login").text
    web.post("/login", data={"username": user, "password": password, "csrf_token": csrf(page)})
    return web.get("/products", follow_redirects=False).status_code == 200


def _signed_in(web: TestClient) -> bool:
    return web.get("/products", follow_redirects=False).status_code == 200


# ------------------------------------------------------------------------------------------------ the reset
def test_a_user_sets_a_new_password_through_the_mailed_link(web: TestClient, store: Store, mailbox: Inbox) -> None:
    assert 'href="/login/forgot"' in web.get("/login").text
    office, warehouse = TestClient(web.app), TestClient(web.app)
    login(office, NAME, OLD)
    login(warehouse, NAME, OLD)

    sent = _ask(web, "ED@Shop.example")
    assert sent.status_code == 200 and "a mail with a link" in sent.text
    [(to, mail)] = mailbox.mails
    assert to == [ADDRESS] and mail["From"] == "pim@shop.example" and "new password" in mail["Subject"]
    link = _link(mailbox)
    assert link.startswith(f"{SITE}/login/reset?token=srs_") and NAME in mail.get_payload(decode=True).decode()

    page, differ = _set(web, link, NEW, "something else")
    assert f"<strong>{NAME}</strong>" in page.text and "The two passwords differ" in differ.text
    assert "password too short" in _set(web, link, "short")[1].text
    _, done = _set(web, link, NEW)
    assert "Your new password is set" in done.text and f'value="{NAME}"' in done.text
    assert not _signed_in(office) and not _signed_in(warehouse)  # every other session ended
    with store.engine.connect() as conn:
        ended = conn.execute(select(WEB_SESSION.c.ended_at)).scalars().all()
    assert len(ended) == 2 and None not in ended  # ended in the registry, not only by the password stamp
    assert authenticate(store, NAME, OLD) is None
    assert _signs_in(office, NAME, NEW)


def test_a_link_works_once(web: TestClient, store: Store, mailbox: Inbox) -> None:
    _ask(web, ADDRESS)
    link = _link(mailbox)
    assert "Your new password is set" in _set(web, link, NEW)[1].text
    page, again = _set(web, link, "yet another password")
    assert "not valid any more" in page.text and "not valid any more" in again.text
    assert authenticate(store, NAME, NEW) is not None and authenticate(store, NAME, "yet another password") is None


def test_a_newer_link_voids_the_older_one_and_links_expire(web: TestClient, store: Store, mailbox: Inbox) -> None:
    _ask(web, ADDRESS)
    first = _link(mailbox)
    _ask(web, ADDRESS)
    second = _link(mailbox)
    assert first != second and len(mailbox.mails) == 2
    assert "not valid any more" in _set(web, first, NEW)[1].text
    with store.begin() as conn:  # the newer link, an hour and a minute later
        conn.execute(update(WEB_RESET).values(expires_at=now() - timedelta(minutes=1)))
    page, answer = _set(web, second, NEW)
    assert "not valid any more" in page.text and "not valid any more" in answer.text
    assert authenticate(store, NAME, OLD) is not None  # nothing changed


def test_asking_reveals_nothing_and_mails_only_active_users_with_that_address(web: TestClient, store: Store,
                                                                               mailbox: Inbox) -> None:
    add_user(store, "bo", OLD, "viewer", email="bo@shop.example")
    set_active(store, "bo", False)
    add_user(store, "cy", OLD, "viewer")  # no address at all
    asked = ["nobody@shop.example", "bo@shop.example", "cy", "not an address"]
    answers = {_ask(web, e).text.split("<h1>")[1] for e in asked}
    assert len(answers) == 1 and "a mail with a link" in answers.pop() and mailbox.mails == []
    _ask(web, ADDRESS)
    assert len(mailbox.mails) == 1  # the same server and form do mail a real account


def test_a_disabled_user_cannot_use_a_link_sent_before(web: TestClient, store: Store, mailbox: Inbox) -> None:
    _ask(web, ADDRESS)
    link = _link(mailbox)
    set_active(store, NAME, False)
    assert "not valid any more" in _set(web, link, NEW)[0].text
    set_active(store, NAME, True)  # enabling again does not bring the link back
    assert "not valid any more" in _set(web, link, NEW)[1].text
    assert authenticate(store, NAME, OLD) is not None


def test_a_link_of_a_user_disabled_behind_the_apps_back_sets_nothing(web: TestClient, store: Store,
                                                                      mailbox: Inbox) -> None:
    _ask(web, ADDRESS)
    link = _link(mailbox)
    with store.begin() as conn:  # disabled directly in the database: the link's row is still there
        conn.execute(update(USER).where(USER.c.username == NAME).values(active=False))
    assert "not valid any more" in _set(web, link, NEW)[1].text
    with store.begin() as conn:
        conn.execute(update(USER).where(USER.c.username == NAME).values(active=True))
    assert authenticate(store, NAME, OLD) is not None and authenticate(store, NAME, NEW) is None


def test_a_new_address_voids_links_sent_to_the_old_one(web: TestClient, store: Store, mailbox: Inbox) -> None:
    _ask(web, ADDRESS)
    link = _link(mailbox)
    set_email(store, NAME, "ed.new@shop.example")
    assert "not valid any more" in _set(web, link, NEW)[1].text
    _ask(web, ADDRESS)
    assert len(mailbox.mails) == 1  # the old address gets nothing now
    _ask(web, "ed.new@shop.example")
    assert mailbox.mails[-1][0] == ["ed.new@shop.example"]


def test_without_a_mail_server_no_reset_is_offered(web: TestClient, store: Store) -> None:
    page = web.get("/login").text
    assert 'href="/login/forgot"' not in page and "Ask an administrator" in page
    assert "sends no mail" in _ask(web, ADDRESS).text
    with store.engine.connect() as conn:
        assert conn.execute(select(WEB_RESET)).first() is None


def test_an_unreachable_mail_server_is_said_plainly(web: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("PIM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PIM_SMTP_PORT", str(dead))
    monkeypatch.setenv("PIM_PUBLIC_URL", "https://pim.example.com")  # without it no mail is even tried
    reset_settings()
    try:
        assert "could not be sent" in _ask(web, ADDRESS).text
    finally:
        reset_settings()


def test_asking_again_and_again_is_throttled(web: TestClient, mailbox: Inbox) -> None:
    statuses = [_ask(web, ADDRESS).status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[-1] == 429
    assert len(mailbox.mails) == 10


# ------------------------------------------------------------------------------------------ the address
def test_an_address_belongs_to_one_user_whatever_its_case(store: Store) -> None:
    add_user(store, "ada", "admin pass 1", "admin", email="Ada@Shop.example")
    with pytest.raises(InputError, match="e-mail of another user"):
        add_user(store, "bo", "bo password", "viewer", email="ADA@shop.EXAMPLE")
    add_user(store, "bo", "bo password", "viewer")
    with pytest.raises(InputError, match="e-mail of another user"):
        set_email(store, "bo", "ada@shop.example")
    with pytest.raises(InputError, match="not an e-mail address"):
        set_email(store, "bo", "bo at shop")
    assert {u["username"]: u["email"] for u in list_users(store)} == {"ada": "ada@shop.example", "bo": None}
    with pytest.raises(IntegrityError), store.begin() as conn:  # the database holds the rule too
        conn.execute(insert(USER).values(username="cy", password_hash="x", role="viewer", active=True,
                                         created_at=now(), email="ada@shop.example"))


def test_users_add_with_an_email_and_change_it_from_the_cli(store: Store) -> None:
    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()
    made = runner.invoke(app, ["users", "add", "cy", "--role", "viewer", "--password", "cy password",
                               "--email", "Cy@Shop.example"])
    assert made.exit_code == 0, made.output

    def listed() -> dict:
        return {u["username"]: u["email"] for u in json.loads(runner.invoke(app, ["users", "list", "--json"]).output)}

    assert listed() == {"cy": "cy@shop.example"}
    assert runner.invoke(app, ["users", "email", "cy", "cy.new@shop.example"]).exit_code == 0
    assert listed() == {"cy": "cy.new@shop.example"}
    assert runner.invoke(app, ["users", "email", "cy", "--remove"]).exit_code == 0
    assert listed() == {"cy": None}
    assert runner.invoke(app, ["users", "email", "cy"]).exit_code == 2  # neither an address nor --remove
    assert runner.invoke(app, ["users", "email", "cy", "x@shop.example", "--remove"]).exit_code == 2
    add_user(store, "dee", "dee password", "viewer", email="dee@shop.example")
    taken = runner.invoke(app, ["users", "email", "cy", "DEE@shop.example"])
    assert taken.exit_code != 0 and listed()["cy"] is None


def test_admins_set_and_change_addresses_on_the_users_page(store: Store) -> None:
    add_user(store, "ada", "admin pass 1", "admin")
    web = TestClient(create_app(store))
    token = login(web, "ada", "admin pass 1")
    made = web.post("/admin/users", data={"csrf_token": token, "username": "cy", "password": "cy password",
                                           "role": "viewer", "email": "Cy@Shop.example"})
    assert made.status_code == 200 and 'value="cy@shop.example"' in made.text
    changed = web.post("/admin/users/cy", data={"csrf_token": token, "action": "email", "email": "cy2@shop.example"})
    assert "e-mail is now cy2@shop.example" in changed.text
    taken = web.post("/admin/users/ada", data={"csrf_token": token, "action": "email", "email": "CY2@shop.example"})
    assert taken.status_code == 422 and "e-mail of another user" in taken.text
    cleared = web.post("/admin/users/cy", data={"csrf_token": token, "action": "email", "email": ""})
    assert "cy has no e-mail now" in cleared.text
    assert {u["username"]: u["email"] for u in list_users(store)} == {"ada": None, "cy": None}
