"""Staff browser sessions are registered (web_session): a person sees where they are signed in and ends one
session, or every other one; an admin ends all of a user's sessions; an ended session's cookie is refused."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from pim.store import Store
from pim.store.store import as_utc, now
from pim.web.accounts import add_user, authenticate, create_token, set_password
from pim.web.tables import WEB_SESSION as S
from tests.test_web_ui import cheap_argon2, client, csrf, login  # noqa: F401  (fixtures)


def _browser(client: TestClient, agent: str) -> TestClient:  # noqa: F811
    """Another browser on the same app: its own cookie jar."""
    return TestClient(client.app, headers={"User-Agent": agent})


def _listed(web: TestClient) -> tuple[list[int], int | None]:
    """The session ids on the user's sessions page, and the one marked as this browser."""
    html = web.get("/account/sessions").text
    ids = [int(i) for i in re.findall(r'data-session="(\d+)"', html)]
    current = re.search(r'data-session="(\d+)" class="current"', html)
    return ids, int(current.group(1)) if current else None


def _rows(store: Store) -> list:
    with store.engine.connect() as conn:
        return conn.execute(select(S).order_by(S.c.id)).all()


def _signed_in(web: TestClient) -> bool:
    return web.get("/products", follow_redirects=False).status_code == 200


def test_two_browsers_of_one_user_are_listed_and_this_one_is_marked(client: TestClient) -> None:  # noqa: F811
    office, warehouse = _browser(client, "Office Firefox"), _browser(client, "Warehouse PC")
    login(office)
    login(warehouse)
    ids, current = _listed(office)
    assert len(ids) == 2 and current == min(ids)  # office signed in first
    assert _listed(warehouse) == (ids, max(ids))
    page = office.get("/account/sessions").text
    assert "Warehouse PC" in page and page.count("(this browser)") == 1 and 'href="/account/sessions"' in page


def test_ending_the_other_session_signs_that_browser_out_only(client: TestClient, store: Store) -> None:  # noqa: F811
    office, warehouse = _browser(client, "Office"), _browser(client, "Warehouse PC")
    token = login(office)
    login(warehouse)
    ids, mine = _listed(office)
    other = next(i for i in ids if i != mine)
    done = office.post(f"/account/sessions/{other}/end", data={"csrf_token": token}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/account/sessions?ended=1")
    gone = warehouse.get("/products", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert _signed_in(office) and _listed(office)[0] == [mine]
    assert [r.id for r in _rows(store) if r.ended_at is not None] == [other]


def test_end_all_other_sessions_keeps_this_one(client: TestClient) -> None:  # noqa: F811
    here, *others = [_browser(client, f"browser {n}") for n in range(3)]
    token = login(here)
    for web in others:
        login(web)
    done = here.post("/account/sessions/end-others", data={"csrf_token": token})
    assert "2 sessions ended." in done.text
    assert _signed_in(here) and not any(_signed_in(web) for web in others)
    assert len(_listed(here)[0]) == 1


def test_ending_this_browsers_own_session_signs_it_out(client: TestClient, store: Store) -> None:  # noqa: F811
    token = login(client)
    _, mine = _listed(client)
    done = client.post(f"/account/sessions/{mine}/end", data={"csrf_token": token}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/login")
    assert not _signed_in(client)


def test_sign_out_ends_the_row(client: TestClient, store: Store) -> None:  # noqa: F811
    token = login(client)
    [row] = _rows(store)
    assert row.ended_at is None and row.user_agent == "testclient"
    client.post("/logout", data={"csrf_token": token})
    [row] = _rows(store)
    assert row.ended_at is not None


def test_an_ended_sessions_cookie_replayed_is_refused(client: TestClient) -> None:  # noqa: F811
    token = login(client)
    cookie = client.cookies.get("pim_session")
    assert _signed_in(TestClient(client.app, cookies={"pim_session": cookie}))  # the cookie is the session
    client.post("/logout", data={"csrf_token": token})
    replayed = TestClient(client.app, cookies={"pim_session": cookie}).get("/products", follow_redirects=False)
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")


def test_last_seen_is_written_at_most_once_a_minute(client: TestClient, store: Store) -> None:  # noqa: F811
    login(client)
    [first] = _rows(store)
    for _ in range(3):
        assert _signed_in(client)
    assert _rows(store)[0].last_seen_at == first.last_seen_at
    earlier = now() - timedelta(minutes=2)
    with store.begin() as conn:
        conn.execute(update(S).where(S.c.id == first.id).values(last_seen_at=earlier))
    assert _signed_in(client)
    assert as_utc(_rows(store)[0].last_seen_at) > earlier + timedelta(minutes=1)


def test_an_admin_ends_all_sessions_of_a_user(client: TestClient, store: Store) -> None:  # noqa: F811
    eds = [_browser(client, "ed one"), _browser(client, "ed two")]
    for web in eds:
        login(web)
    add_user(store, "ada", "admin pass 1", "admin")
    admin = _browser(client, "admin")
    token = login(admin, "ada", "admin pass 1")
    row = re.search(r'<tr data-user="ed">.*?</tr>', admin.get("/admin/users").text, re.DOTALL).group(0)
    assert "<td>2 " in row and "End all" in row
    done = admin.post("/admin/users/ed", data={"csrf_token": token, "action": "end_sessions"})
    assert "2 sessions of ed ended" in done.text
    assert not any(_signed_in(web) for web in eds) and _signed_in(admin)
    login(eds[0])  # ed may simply sign in again
    assert _signed_in(eds[0])


def test_a_user_cannot_end_another_users_session(client: TestClient, store: Store) -> None:  # noqa: F811
    viewer = _browser(client, "vi")
    login(viewer, "vi")
    _, vis = _listed(viewer)
    token = login(client)  # ed
    refused = client.post(f"/account/sessions/{vis}/end", data={"csrf_token": token})
    assert refused.status_code == 404
    assert _signed_in(viewer) and all(r.ended_at is None for r in _rows(store))
    assert client.post("/account/sessions/end-others", data={"csrf_token": token}).status_code == 200
    assert _signed_in(viewer)  # "other sessions" are only ed's own


def test_ending_a_session_needs_the_csrf_token(client: TestClient, store: Store) -> None:  # noqa: F811
    other = _browser(client, "other")
    login(client)
    login(other)
    _, theirs = _listed(other)
    assert client.post(f"/account/sessions/{theirs}/end", data={}).status_code == 403
    assert client.post("/account/sessions/end-others", data={"csrf_token": "forged"}).status_code == 403
    assert _signed_in(other) and all(r.ended_at is None for r in _rows(store))


def test_a_new_password_ends_every_row(client: TestClient, store: Store) -> None:  # noqa: F811
    login(client)
    set_password(store, "ed", "another horse")
    assert all(r.ended_at is not None for r in _rows(store)) and not _signed_in(client)


def test_old_ended_or_expired_rows_are_deleted_at_sign_in(client: TestClient, store: Store) -> None:  # noqa: F811
    stale, ended, fresh = (_browser(client, n) for n in ("stale", "ended", "fresh"))
    for web in (stale, ended, fresh):
        login(web)
    ids = [r.id for r in _rows(store)]
    long_ago = now() - timedelta(hours=13)
    with store.begin() as conn:
        conn.execute(update(S).where(S.c.id == ids[0]).values(last_seen_at=long_ago))
        conn.execute(update(S).where(S.c.id == ids[1]).values(ended_at=long_ago))
    assert len(_listed(fresh)[0]) == 1  # neither the expired nor the ended row is listed as open
    login(_browser(client, "new"))
    assert [r.id for r in _rows(store)] == [ids[2], ids[2] + 1]


def test_api_tokens_need_no_session(client: TestClient, store: Store) -> None:  # noqa: F811
    ed = authenticate(store, "ed", "correct horse")
    assert ed is not None
    api = create_token(store, ed)
    assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {api}"}).status_code == 200
    assert _rows(store) == []
