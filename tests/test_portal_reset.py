"""Self-service password reset for portal people, with the mail going through a real SMTP server on loopback
(aiosmtpd): the link works once, for an hour, for an active person only; asking never reveals whether an
address has an account; without a mail server the portal offers no reset."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes

import pytest
from fastapi.testclient import TestClient

from pim.portal_people import add_person, set_active
from pim.settings import reset_settings
from pim.store import Store
from tests.test_portal import portal  # noqa: F401  (the fixture: two customers, one delivered feed each)
from tests.test_portal_pages import _csrf, person_sign_in

EMAIL, OLD, NEW = "ana@cust-a.example", "a long passphrase", "a brand new passphrase"


class Inbox:
    def __init__(self) -> None:
        self.mails: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802  (aiosmtpd's hook)
        self.mails.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def link(self) -> str:
        body = self.mails[-1][1].get_payload(decode=True).decode()
        return re.search(r"https?://\S+/portal/reset\?token=\S+", body).group(0)  # type: ignore[union-attr]


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("PIM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PIM_SMTP_PORT", str(port))
    monkeypatch.setenv("PIM_SMTP_STARTTLS", "false")
    monkeypatch.setenv("PIM_MAIL_FROM", "portal@supplier.example")
    monkeypatch.setenv("PIM_PUBLIC_URL", "https://feeds.supplier.example")
    reset_settings()
    try:
        yield box
    finally:
        controller.stop()
        reset_settings()


def _ask(client: TestClient, email: str):  # noqa: ANN202
    page = client.get("/portal/forgot")
    return client.post("/portal/forgot", data={"email": email, "csrf_token": _csrf(page.text)})


def _set(client: TestClient, link: str, password: str, again: str | None = None):  # noqa: ANN202
    path = link.removeprefix("https://feeds.supplier.example")
    page = client.get(path)
    token = path.split("token=")[1]
    csrf = _csrf(page.text if "csrf_token" in page.text else client.get("/portal/forgot").text)  # a dead link has no form
    return page, client.post("/portal/reset", data={"token": token, "password": password, "again": again or password,
                                                    "csrf_token": csrf})


def test_a_person_sets_a_new_password_through_the_mailed_link(portal, store: Store, inbox: Inbox) -> None:  # noqa: F811
    client, _, _, _ = portal
    add_person(store, "cust_a", EMAIL, OLD)
    assert 'href="/portal/forgot"' in client.get("/portal/").text
    person_sign_in(client, EMAIL, OLD)
    other = TestClient(client.app)  # a second browser, already signed in
    person_sign_in(other, EMAIL, OLD)

    sent = _ask(client, "ANA@cust-a.example")
    assert sent.status_code == 200 and "a mail with a link" in sent.text
    [(to, mail)] = inbox.mails
    assert to == [EMAIL] and mail["From"] == "portal@supplier.example" and "new password" in mail["Subject"]
    link = inbox.link()
    assert link.startswith("https://feeds.supplier.example/portal/reset?token=prs_")

    page, differ = _set(client, link, NEW, "something else")
    assert EMAIL in page.text and "The two passwords differ" in differ.text
    _, short = _set(client, link, "short")
    assert "password too short" in short.text
    _, done = _set(client, link, NEW)
    assert "Your new password is set" in done.text
    assert other.get("/portal/feeds").status_code == 401  # the other browser's session ended
    assert "Wrong e-mail or password" in person_sign_in(client, EMAIL, OLD).text
    assert "Signed in as" in person_sign_in(client, EMAIL, NEW).text

    page, again = _set(client, link, "yet another passphrase")  # a link works once
    assert "not valid any more" in page.text and "not valid any more" in again.text
    assert "Signed in as" in person_sign_in(TestClient(client.app), EMAIL, NEW).text


def test_asking_reveals_nothing_and_mails_only_active_people(portal, store: Store, inbox: Inbox) -> None:  # noqa: F811
    client, _, _, _ = portal
    add_person(store, "cust_a", EMAIL, OLD)
    add_person(store, "cust_a", "bo@cust-a.example", OLD)
    set_active(store, "bo@cust-a.example", False)
    answers = {_ask(client, e).text.split("<h1>")[1] for e in ("nobody@cust-a.example", "bo@cust-a.example", "not an address")}
    assert len(answers) == 1 and inbox.mails == []  # the same page, and no mail, for unknown or disabled people


def test_a_newer_link_voids_the_older_one_and_links_expire(portal, store: Store, inbox: Inbox) -> None:  # noqa: F811
    from sqlalchemy import update

    from pim.portal_reset import RESET
    from pim.store.store import now

    client, _, _, _ = portal
    add_person(store, "cust_a", EMAIL, OLD)
    _ask(client, EMAIL)
    first = inbox.link()
    _ask(client, EMAIL)
    second = inbox.link()
    assert first != second
    assert "not valid any more" in _set(client, first, NEW)[1].text
    with store.begin() as conn:  # the newer link, an hour and a minute later
        conn.execute(update(RESET).values(expires_at=now() - timedelta(minutes=1)))
    assert "not valid any more" in _set(client, second, NEW)[1].text
    assert "Signed in as" in person_sign_in(client, EMAIL, OLD).text  # nothing changed


def test_without_a_mail_server_the_portal_offers_no_reset(portal, store: Store) -> None:  # noqa: F811
    client, _, _, _ = portal
    add_person(store, "cust_a", EMAIL, OLD)
    login = client.get("/portal/").text
    assert 'href="/portal/forgot"' not in login and "Ask your supplier" in login
    assert "sends no mail" in _ask(client, EMAIL).text


def test_an_unreachable_mail_server_is_said_plainly(portal, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    client, _, _, _ = portal
    add_person(store, "cust_a", EMAIL, OLD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("PIM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PIM_SMTP_PORT", str(dead))
    monkeypatch.setenv("PIM_PUBLIC_URL", "https://pim.example.com")  # without it no mail is even tried
    reset_settings()
    try:
        assert "could not be sent" in _ask(client, EMAIL).text
    finally:
        reset_settings()


def test_asking_again_and_again_is_throttled(portal, store: Store, inbox: Inbox) -> None:  # noqa: F811
    client, _, _, _ = portal
    add_person(store, "cust_a", EMAIL, OLD)
    statuses = [_ask(client, EMAIL).status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[-1] == 429
    assert len(inbox.mails) == 10
