"""Round 32, the portal and accounts as a B2B customer's integration engineer met them: reset links never follow
the request's Host header; the feed list filters by contract in SQL and pages with a `next` link, never showing
another customer's files; the home page shows each contract's chain from its newest full feed; a cp1252 CSV is
served as windows-1252; unknown customer codes are refused with a "did you mean"; times carry their zone."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.errors import InputError
from pim.feeds import deliver_contract
from pim.portal import create_portal_app
from pim.portal_people import add_person, check_customer, people
from pim.reset_links import _warn_once, warn_without_public_url
from pim.settings import get_settings, reset_settings
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.feeds_data import out_dir, put_prices, seed_catalog, store_contract
from tests.test_portal_reset import Inbox, inbox  # noqa: F401  (the loopback SMTP server fixture)
from tests.test_web_ui import cheap_argon2, csrf, login  # noqa: F401  (cheap_argon2: autouse fixture)

EMAIL, PASSWORD = "ana@cust-a.example", "a long passphrase"
ATTACKER = "attacker.example"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------------ reset links and the Host header
@pytest.fixture
def no_public_url(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> Inbox:  # noqa: F811
    """Mail is set up, PIM_PUBLIC_URL is not; the once-per-process warning may be said again."""
    monkeypatch.delenv("PIM_PUBLIC_URL")
    reset_settings()
    _warn_once.cache_clear()
    return inbox


@pytest.fixture
def person(store: Store) -> Store:
    store_contract(store, code="a-feed", customer="cust_a")
    add_person(store, "cust_a", EMAIL, PASSWORD)
    add_user(store, "ed", "correct horse", "editor", email="ed@shop.example")
    return store


def _forgot(client: TestClient, area: str, email: str, host: str | None = None):  # noqa: ANN202
    page = client.get(f"/{area}/forgot")
    return client.post(f"/{area}/forgot", data={"email": email, "csrf_token": csrf(page.text)},
                       headers={"Host": host} if host else {})


def _links(box: Inbox) -> list[str]:
    return [re.search(r"https?://\S+/(?:portal|login)/reset\?token=\S+", m.get_payload(decode=True).decode()).group(0)
            for _, m in box.mails]


@pytest.mark.parametrize(("area", "email", "says"), [("portal", EMAIL, "ask your supplier"),
                                                     ("login", "ed@shop.example", "PIM_PUBLIC_URL")])
def test_without_a_public_url_a_forged_host_gets_no_reset_mail(person: Store, no_public_url: Inbox, area: str,
                                                                email: str, says: str) -> None:
    client = TestClient(create_app(person))
    answer = _forgot(client, area, email, host=ATTACKER)
    assert answer.status_code == 200 and says in answer.text and "is on its way" not in answer.text
    assert no_public_url.mails == []


@pytest.mark.parametrize(("area", "email"), [("portal", EMAIL), ("login", "ed@shop.example")])
def test_with_a_public_url_the_link_ignores_the_host_header(person: Store, inbox: Inbox, area: str,  # noqa: F811
                                                            email: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard test (the old code used PIM_PUBLIC_URL when it was set too)."""
    monkeypatch.setenv("PIM_PUBLIC_URL", "https://feeds.supplier.example")
    reset_settings()
    _forgot(TestClient(create_app(person), base_url="https://testserver"), area, email, host=ATTACKER)  # Secure cookies
    assert [link.split("?")[0] for link in _links(inbox)] == [f"https://feeds.supplier.example/{area}/reset"]


@pytest.mark.parametrize(("area", "email"), [("portal", EMAIL), ("login", "ed@shop.example")])
def test_on_a_developers_own_machine_the_link_goes_back_to_localhost(person: Store, no_public_url: Inbox, area: str,
                                                                     email: str) -> None:
    local = TestClient(create_app(person), base_url="http://localhost:8733", client=("127.0.0.1", 40000))
    assert f'href="/{area}/forgot"' in local.get("/portal/" if area == "portal" else "/login").text
    _forgot(local, area, email)
    assert [link.split("?")[0] for link in _links(no_public_url)] == [f"http://localhost:8733/{area}/reset"]


@pytest.mark.parametrize(("client", "host"), [("203.0.113.9", "localhost:8733"),  # a remote asker naming localhost
                                             ("127.0.0.1", ATTACKER),  # a proxy on this machine passing Host on
                                             ("127.0.0.1", "attacker.example\\@localhost"),
                                             ("127.0.0.1", "localhost.attacker.example")])
def test_a_loopback_link_needs_a_loopback_client_and_a_plain_loopback_host(person: Store, no_public_url: Inbox,
                                                                           client: str, host: str) -> None:
    asker = TestClient(create_app(person), client=(client, 40000))
    _forgot(asker, "portal", EMAIL, host=host)
    assert no_public_url.mails == []
    assert 'href="/portal/forgot"' not in asker.get("/portal/", headers={"Host": host}).text
    assert 'href="/login/forgot"' not in asker.get("/login", headers={"Host": host}).text


def test_the_server_says_once_that_reset_mails_need_the_public_url(person: Store, no_public_url: Inbox,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pim.reset_links")
    with TestClient(create_app(person)) as client:  # start-up runs the routers' lifespan
        assert [r.getMessage() for r in caplog.records if "PIM_PUBLIC_URL" in r.getMessage()]
        _forgot(client, "portal", EMAIL, host=ATTACKER)
        _forgot(client, "login", "ed@shop.example", host=ATTACKER)
    warn_without_public_url(get_settings())
    assert len([r for r in caplog.records if "PIM_PUBLIC_URL" in r.getMessage()]) == 1


# ------------------------------------------------------------------------------------ paging and isolation
def _rows(tmp_path: Path, customer: str, contract: str, kinds: list[str], start: datetime) -> list[dict[str, Any]]:
    path = tmp_path / "f.csv"
    path.write_text("sku\nT1\n")
    return [{"contract": contract, "customer": customer, "name": f"{contract}-{n:03}.csv", "path": str(path),
             "format": "csv", "kind": kind, "sha256": "0" * 64, "bytes": 7, "rows": 1,
             "generated_at": start + timedelta(minutes=n), "status": "delivered", "portal": True}
            for n, kind in enumerate(kinds)]


@pytest.fixture
def crowded(store: Store, tmp_path: Path) -> tuple[TestClient, dict[str, str], dict[str, list[int]]]:
    """cust_a: 'a-small' (full, delta, full, delta) first, then 205 files of 'a-big' (a full, then deltas);
    cust_b's files interleaved with a-big's. Ids per contract, newest first."""
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    small = _rows(tmp_path, "cust_a", "a-small", ["full", "delta_products", "full", "delta_prices"], t0)
    big = _rows(tmp_path, "cust_a", "a-big", ["full"] + ["delta_products"] * 204, t0 + timedelta(days=1))
    other = _rows(tmp_path, "cust_b", "b-feed", ["full"] * 205, t0 + timedelta(days=1))
    with store.begin() as conn:
        conn.execute(insert(log.FEED_FILE), small)
        for a, b in zip(big, other, strict=True):
            conn.execute(insert(log.FEED_FILE), [a, b])
    ids: dict[str, list[int]] = {}
    for r in log.feed_files(store, limit=10_000):
        ids.setdefault(r["contract"], []).append(r["id"])
    tokens = {"a": log.issue_token(store, "cust_a"), "b": log.issue_token(store, "cust_b")}
    return TestClient(create_portal_app(store)), tokens, ids


def test_a_contract_beyond_the_newest_200_files_is_still_listed(crowded) -> None:
    client, tokens, ids = crowded
    body = client.get("/portal/feeds", params={"contract": "a-small"}, headers=auth(tokens["a"])).json()
    assert [f["id"] for f in body["feeds"]] == ids["a-small"] and body["next"] is None


def test_paging_walks_every_own_file_once_and_never_another_customers(crowded) -> None:
    client, tokens, ids = crowded
    seen, url, pages = [], "/portal/feeds?limit=50", 0
    while url:
        body = client.get(url, headers=auth(tokens["a"])).json()
        seen += [f["id"] for f in body["feeds"]]
        url, pages = body["next"], pages + 1
    assert seen == sorted(ids["a-big"] + ids["a-small"], reverse=True) and pages == 5
    assert not set(seen) & set(ids["b-feed"])
    # another customer's contract or an id of theirs as the cursor opens nothing of theirs
    theirs = client.get("/portal/feeds", params={"contract": "b-feed", "limit": 5}, headers=auth(tokens["a"])).json()
    assert theirs["feeds"] == [] and theirs["next"] is None
    cursor = client.get("/portal/feeds", params={"before": ids["b-feed"][0], "limit": 1000},
                        headers=auth(tokens["a"])).json()
    assert {f["contract"] for f in cursor["feeds"]} == {"a-big", "a-small"}
    one = client.get("/portal/feeds", params={"contract": "a-big", "limit": 3}, headers=auth(tokens["a"])).json()
    assert [f["id"] for f in one["feeds"]] == ids["a-big"][:3]
    assert one["next"] == f"/portal/feeds?before={ids['a-big'][2]}&limit=3&contract=a-big"


def test_the_home_page_shows_each_contracts_chain_from_its_newest_full_feed(crowded, store: Store) -> None:
    from tests.test_portal_pages import sign_in

    client, tokens, ids = crowded
    for code in ("a-small", "a-big"):  # current contracts of cust_a (since round 34 the others are listed apart)
        store_contract(store, code=code, customer="cust_a")
    home = sign_in(client, tokens["a"]).text
    assert "a-small-003.csv" in home and "a-small-002.csv" in home  # the newest full and the delta after it
    assert "a-small-001.csv" not in home  # before the newest full: behind "Older files"
    assert f'href="/portal/files?contract=a-small&amp;before={ids["a-small"][1]}"' in home
    assert "a-big-204.csv" in home and "a-big-155.csv" in home and "a-big-154.csv" not in home  # 50 of a long chain
    assert "b-feed" not in home
    older = client.get(f"/portal/files?contract=a-big&before={ids['a-big'][49]}").text
    assert "a-big-154.csv" in older and "a-big-105.csv" in older and "a-big-155.csv" not in older
    assert f"before={ids['a-big'][99]}" in older  # and on
    assert "b-feed-" not in client.get("/portal/files?contract=b-feed").text


# ------------------------------------------------------------------------------------ charset and time zone
@pytest.fixture
def delivered(store: Store, tmp_path: Path) -> Store:
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    store_contract(store, code="a-feed", customer="cust_a", csv={"encoding": "cp1252", "delimiter": ";"})
    deliver_contract(store, "a-feed", out_dir=out_dir(tmp_path))
    return store


def test_a_cp1252_csv_is_served_as_windows_1252(delivered: Store) -> None:
    client = TestClient(create_portal_app(delivered))
    token = log.issue_token(delivered, "cust_a")
    file_id = client.get("/portal/feeds", headers=auth(token)).json()["feeds"][0]["id"]
    got = client.get(f"/portal/feeds/{file_id}/download", headers=auth(token))
    assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=windows-1252"


def test_a_delivery_records_the_encoding_it_wrote(delivered: Store) -> None:
    """What the portal later serves the file as, whatever the contract says by then."""
    store_contract(delivered, code="a-feed", customer="cust_a")  # the contract moves to utf-8 after the delivery
    client = TestClient(create_portal_app(delivered))
    token = log.issue_token(delivered, "cust_a")
    file_id = client.get("/portal/feeds", headers=auth(token)).json()["feeds"][0]["id"]
    got = client.get(f"/portal/feeds/{file_id}/download", headers=auth(token))
    assert got.headers["content-type"] == "text/csv; charset=windows-1252"


def test_the_recorded_encoding_wins_over_the_contracts_current_one(store: Store, tmp_path: Path) -> None:
    store_contract(store, code="a-feed", customer="cust_a")  # utf-8 now
    path = tmp_path / "old.csv"
    path.write_bytes("sku;name\nT1;Bohrmaschine für Stein\n".encode("cp1252"))
    ids = [log.record_file(store, contract="a-feed", customer="cust_a", name=path.name, path=str(path), format="csv",
                           kind="full", sha256="0" * 64, bytes=1, rows=1, generated_at=datetime.now(UTC),
                           status="delivered", portal=True, encoding=encoding) for encoding in ("cp1252", "utf-8-sig")]
    client, token = TestClient(create_portal_app(store)), log.issue_token(store, "cust_a")
    types = [client.get(f"/portal/feeds/{i}/download", headers=auth(token)).headers["content-type"] for i in ids]
    assert types == ["text/csv; charset=windows-1252", "text/csv; charset=utf-8"]


def test_portal_times_carry_their_zone(delivered: Store) -> None:
    client = TestClient(create_portal_app(delivered))
    token = log.issue_token(delivered, "cust_a")
    listed = client.get("/portal/feeds", headers=auth(token)).json()["feeds"][0]
    manifest = client.get(f"/portal/feeds/{listed['id']}/manifest", headers=auth(token)).json()
    for stamp in (listed["generated_at"], manifest["generated_at"]):
        assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0), stamp


# ------------------------------------------------------------------------------------ unknown customer codes
def test_an_unknown_customer_code_is_refused_with_the_close_match(store: Store) -> None:
    store_contract(store, code="c0-feed", customer="cust_0000")
    with pytest.raises(InputError) as refused:
        check_customer(store, "CUST_0000")
    assert "did you mean 'cust_0000'" in str(refused.value) and "--force" in refused.value.hint
    with pytest.raises(InputError):
        add_person(store, "nosuch", EMAIL, PASSWORD)
    check_customer(store, "cust_0000")
    assert add_person(store, "later", EMAIL, PASSWORD, force=True).customer == "later"


def test_a_customer_with_delivered_files_but_no_contract_any_more_is_known(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        conn.execute(insert(log.FEED_FILE), _rows(tmp_path, "gone", "gone-feed", ["full"], datetime.now(UTC)))
    check_customer(store, "gone")


def test_the_cli_refuses_unknown_customers_unless_forced(store: Store, pim_env: Path) -> None:
    from pim.cli import _mount, app

    _mount()
    store_contract(store, code="c0-feed", customer="cust_0000")
    runner = CliRunner()
    token = runner.invoke(app, ["feeds", "token", "--customer", "CUST_0000"])
    assert isinstance(token.exception, InputError) and "did you mean 'cust_0000'" in str(token.exception)
    assert "pft_" not in token.output
    added = runner.invoke(app, ["feeds", "person", "add", "nosuch", EMAIL, "--password", PASSWORD])
    assert isinstance(added.exception, InputError) and "customer 'nosuch'" in str(added.exception)
    assert people(store) == []
    forced = runner.invoke(app, ["feeds", "token", "--customer", "cust_0001", "--force"])
    assert forced.exit_code == 0 and log.customer_for_token(store, forced.output.strip()) == "cust_0001"


def test_the_admins_page_refuses_an_unknown_customer_unless_ticked(store: Store) -> None:
    store_contract(store, code="c0-feed", customer="cust_0000")
    add_user(store, "ada", "admin pass 1", "admin")
    web = TestClient(create_app(store))
    token = login(web, "ada", "admin pass 1")
    form = {"customer": "CUST_0000", "email": EMAIL, "password": PASSWORD, "csrf_token": token}
    refused = web.post("/admin/portal", data=form)
    assert refused.status_code == 422 and "did you mean &#39;cust_0000&#39;" in refused.text
    assert web.post("/admin/portal", data=form | {"force": "1"}).status_code == 200
    assert [p["customer"] for p in people(store)] == ["CUST_0000"]
