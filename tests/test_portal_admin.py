"""Portal downloads are logged per person (or token), and admins manage portal people from a staff page: add,
disable, enable, new password — the same as `pim feeds person …`, with who downloaded what."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim.portal_downloads import TOKEN, downloads
from pim.portal_people import add_person, people
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.test_portal import auth, portal  # noqa: F401  (the fixture: two customers, one delivered feed each)
from tests.test_portal_pages import person_sign_in
from tests.test_web_ui import cheap_argon2, csrf, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _admin(store: Store) -> tuple[TestClient, str]:
    add_user(store, "ada", "admin pass 1", "admin")
    web = TestClient(create_app(store))
    return web, login(web, "ada", "admin pass 1")


def test_each_download_is_logged_with_the_person_or_the_token(portal, store: Store) -> None:  # noqa: F811
    client, tokens, files, _ = portal
    a, b = files["a-feed"]["id"], files["b-feed"]["id"]
    add_person(store, "cust_a", "ana@cust-a.example", "a long passphrase")
    person_sign_in(client, "ana@cust-a.example", "a long passphrase")
    assert client.get(f"/portal/feeds/{a}/download").status_code == 200
    assert client.get(f"/portal/feeds/{b}/download").status_code == 404  # not theirs: nothing logged
    script = TestClient(client.app)
    assert script.get(f"/portal/feeds/{b}/download", headers=auth(tokens["b"])).status_code == 200
    assert script.get(f"/portal/feeds/{b}/manifest", headers=auth(tokens["b"])).status_code == 200  # not a download

    logged = downloads(store)
    assert [(d["customer"], d["person"], d["contract"], d["file_id"]) for d in logged] == [
        ("cust_b", TOKEN, "b-feed", b), ("cust_a", "ana@cust-a.example", "a-feed", a)]
    assert [d["person"] for d in downloads(store, customer="cust_a")] == ["ana@cust-a.example"]

    from pim.cli import _mount, app

    _mount()
    out = CliRunner().invoke(app, ["feeds", "downloads", "--customer", "cust_b", "--json"])
    assert out.exit_code == 0, out.output
    assert [(d["person"], d["name"]) for d in json.loads(out.output)] == [(TOKEN, files["b-feed"]["name"])]


def test_only_admins_reach_the_portal_page(portal, store: Store) -> None:  # noqa: F811
    add_user(store, "ed", "correct horse", "editor")
    web = TestClient(create_app(store))
    login(web)
    assert web.get("/admin/portal").status_code == 403
    web, _ = _admin(store)
    page = web.get("/admin/portal")
    assert page.status_code == 200 and "Nobody has a portal sign-in yet" in page.text
    assert '<option value="cust_a">' in page.text  # the contracts' customers are offered


def test_an_admin_adds_disables_and_resets_a_portal_person(portal, store: Store) -> None:  # noqa: F811
    portal_client, _, files, _ = portal
    web, token = _admin(store)
    made = web.post("/admin/portal", data={"csrf_token": token, "customer": "cust_a", "email": "Ana@Cust-A.example",
                                           "password": "a long passphrase"})
    assert made.status_code == 200 and "ana@cust-a.example can sign in to the portal for cust_a" in made.text
    assert [(p["customer"], p["email"], p["active"]) for p in people(store)] == [("cust_a", "ana@cust-a.example", True)]
    assert "Signed in as ana@cust-a.example" in person_sign_in(portal_client, "ana@cust-a.example", "a long passphrase").text
    assert portal_client.get(f"/portal/feeds/{files['a-feed']['id']}/download").status_code == 200
    page = web.get("/admin/portal").text
    assert 'data-person="ana@cust-a.example"' in page and files["a-feed"]["name"] in page  # the download shows

    bad = web.post("/admin/portal", data={"csrf_token": token, "customer": "cust_a", "email": "not-an-address",
                                          "password": "a long passphrase"})
    assert bad.status_code == 422 and "is not an e-mail address" in bad.text
    short = web.post("/admin/portal/people", data={"csrf_token": token, "action": "password",
                                                   "email": "ana@cust-a.example", "password": "short"})
    assert short.status_code == 422 and "password too short" in short.text
    missing = web.post("/admin/portal/people", data={"csrf_token": token, "action": "disable", "email": "no@one.example"})
    assert missing.status_code == 404

    off = web.post("/admin/portal/people", data={"csrf_token": token, "action": "disable", "email": "ana@cust-a.example"})
    assert off.status_code == 200 and "disabled" in off.text
    assert portal_client.get("/portal/feeds").status_code == 401  # her session ended
    web.post("/admin/portal/people", data={"csrf_token": token, "action": "enable", "email": "ana@cust-a.example"})
    reset = web.post("/admin/portal/people", data={"csrf_token": token, "action": "password",
                                                   "email": "ana@cust-a.example", "password": "a new passphrase"})
    assert reset.status_code == 200
    assert "Signed in as" in person_sign_in(portal_client, "ana@cust-a.example", "a new passphrase").text


def test_portal_page_changes_need_the_csrf_token(portal, store: Store) -> None:  # noqa: F811
    web, _ = _admin(store)
    refused = web.post("/admin/portal", data={"customer": "cust_a", "email": "ana@cust-a.example",
                                              "password": "a long passphrase"})
    assert refused.status_code in (400, 403) and people(store) == []
    assert csrf(web.get("/admin/portal").text)
