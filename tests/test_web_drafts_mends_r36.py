"""Round 36 mends (R1 on web drafts): a draft's size is counted in characters as typed (a Cyrillic, CJK or emoji
description is kept as far as a Latin one), a body too big to read still says its change was lost, and the owner
cookie cannot fill the database: at most drafts.MAX_PER_USER per person, none for a switched-off account or after
a password change, and `pim maintain` deletes expired drafts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from pim.store import Store
from pim.store.store import now
from pim.web import drafts
from pim.web.accounts import set_active, set_password
from pim.web.signin_return import READ_AT_MOST
from tests.test_web_drafts_r36a import (  # noqa: F401
    DESC,
    OWNER_COOKIE,
    cheap_argon2,
    drafts_stored,
    expired_save,
    web,
)
from tests.test_web_editing_r35 import OURS, PAGE, field
from tests.test_web_ui import csrf, login


def _sign_in(web: TestClient, nxt: str, password: str = "correct horse") -> str:  # noqa: F811
    """Through the sign-in form as ed with this `next`: where it sends the browser."""
    token = csrf(web.get("/login").text)
    answer = web.post("/login", follow_redirects=False, data={
        "username": "ed", "password": password, "csrf_token": token, "next": nxt})
    assert answer.status_code == 303
    return answer.headers["location"]


def _after_sign_in(web: TestClient, answer: Any, password: str = "correct horse") -> str:  # noqa: F811
    """The page a save sent to sign in opens after signing in."""
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    nxt = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
    return web.get(_sign_in(web, nxt, password)).text


@pytest.mark.parametrize("typed", ["Привет мир " * 3700, "商品说明" * 30_000, "😀🙂" * 50_000],
                         ids=["cyrillic-40k", "cjk-120k", "emoji-100k"])
def test_a_non_latin_description_under_the_limit_comes_back(web: TestClient, store: Store, typed: str) -> None:  # noqa: F811
    """Counted as escaped JSON (6-12 per character) these were refused or silently dropped (over 1 MiB urlencoded)."""
    assert len(typed) < drafts.MAX_CHARS
    page = _after_sign_in(web, expired_save(web, DESC, typed))
    assert field(page, DESC) == typed and "press its Save to save it" in page
    assert store.get_product("complete").values[DESC] != typed


def test_over_the_limit_in_characters_the_page_says_it_was_too_long(web: TestClient, store: Store) -> None:  # noqa: F811
    typed = "ж" * (drafts.MAX_CHARS + 1)  # ~1.8 MB urlencoded: was not read at all, and nothing said
    page = _after_sign_in(web, expired_save(web, DESC, typed))
    assert "too long to keep" in page and drafts_stored(store) == 0


def test_a_body_too_big_to_read_still_says_its_change_was_lost(web: TestClient, store: Store) -> None:  # noqa: F811
    typed = "商" * (READ_AT_MOST // 9 + 1)  # 9 bytes each urlencoded: over READ_AT_MOST, so not read
    page = _after_sign_in(web, expired_save(web, DESC, typed))
    assert "Your session ended before your change to " + DESC in page and "too long to keep" in page
    assert drafts_stored(store) == 0 and store.get_product("complete").values[DESC] != typed


def _owner_cookie(web: TestClient) -> tuple[str, str]:  # noqa: F811
    login(web)
    token = csrf(web.get(PAGE).text)
    owner = web.cookies.get(OWNER_COOKIE)
    assert owner
    return owner, token


def _replay(web: TestClient, owner: str, token: str, value: str) -> int:  # noqa: F811
    """A save carrying only the owner cookie (no session), as a script replaying it would send it."""
    bare = TestClient(web.app)
    bare.cookies.set(OWNER_COOKIE, owner)
    answer = bare.post("/products/complete/values", headers=OURS, follow_redirects=False, data={
        "key": DESC, "value": value, "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    return answer.status_code


def test_a_replayed_owner_cookie_keeps_at_most_a_few_drafts_the_newest(web: TestClient, store: Store) -> None:  # noqa: F811
    owner, token = _owner_cookie(web)
    posts = 12
    for n in range(posts):
        assert _replay(web, owner, token, f"draft number {n} " + "x" * 1000) == 303
    assert drafts_stored(store) < posts  # was one row per post
    assert drafts_stored(store) == drafts.MAX_PER_USER < posts
    with store.engine.connect() as conn:
        kept = [r[0] for r in conn.execute(text("SELECT form FROM web_draft"))]
    assert any(f"draft number {posts - 1} " in f for f in kept)  # the newest stays
    assert not any("draft number 0 " in f for f in kept)  # the oldest went


def test_a_switched_off_account_keeps_no_draft(web: TestClient, store: Store) -> None:  # noqa: F811
    owner, token = _owner_cookie(web)
    set_active(store, "ed", False)
    for _ in range(3):
        assert _replay(web, owner, token, "x" * 10_000) == 303
    assert drafts_stored(store) == 0


def test_a_password_change_revokes_the_owner_cookie(web: TestClient, store: Store) -> None:  # noqa: F811
    login(web)
    web.get(PAGE)
    set_password(store, "ed", "battery staple")
    answer = expired_save(web, DESC, "typed before the change")
    assert drafts_stored(store) == 0
    page = _after_sign_in(web, answer, "battery staple")
    assert "could not tell whose it was" in page and "typed before the change" not in page


def test_an_ended_sessions_cookie_after_a_password_change_keeps_no_draft(web: TestClient, store: Store) -> None:  # noqa: F811
    login(web)
    token = csrf(web.get(PAGE).text)
    held = web.cookies.get("pim_session")
    set_password(store, "ed", "battery staple")  # the session ends: its stamp is the old password's
    replayed = TestClient(web.app)
    for _ in range(3):
        replayed.cookies.clear()
        replayed.cookies.set("pim_session", held)
        replayed.post("/products/complete/values", headers=OURS, follow_redirects=False, data={
            "key": DESC, "value": "y" * 10_000, "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert drafts_stored(store) == 0


def test_the_owners_own_expired_save_still_comes_back(web: TestClient, store: Store) -> None:  # noqa: F811
    """The guard keeps nothing from the person it is for: same account, same password."""
    page = _after_sign_in(web, expired_save(web, "name:en_US", "still mine"))
    assert field(page, "name:en_US") == "still mine"


def test_pim_maintain_deletes_expired_drafts_and_keeps_fresh_ones(web: TestClient, store: Store) -> None:  # noqa: F811
    from pim import maintenance
    from pim.cli import _mount, app

    expired_save(web, "name:en_US", "old words")
    expired_save(TestClient(web.app), "name:en_US", "fresh words")
    with store.begin() as conn:
        conn.execute(text("UPDATE web_draft SET created_at = :at WHERE form LIKE '%old words%'"),
                     {"at": now() - drafts.TTL - timedelta(minutes=5)})
    assert drafts_stored(store) == 2
    _mount()
    dry = CliRunner().invoke(app, ["maintain", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert orjson.loads(dry.stdout)["drafts"] == {"status": "done", "deleted": 0, "would_delete": 1}
    assert drafts_stored(store) == 2
    result = maintenance.run_pass(store)  # no retention set: expired drafts are no history, they go anyway
    assert result.drafts == {"status": "done", "deleted": 1} and result.exit_code == 0
    with store.engine.connect() as conn:
        left = [r[0] for r in conn.execute(text("SELECT form FROM web_draft"))]
    assert len(left) == 1 and "fresh words" in left[0]
