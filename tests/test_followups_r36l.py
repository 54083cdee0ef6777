"""Round 36 (L1): small follow-ups — a long value saves from the web form (a field over Starlette's 1 MiB form
default), and one over the cap is told what to do on a page, not in raw JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.test_web_ui import csrf, login
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

PAGE = "/products/complete?channel=ecommerce&locale=en_US"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
DESC = "description:en_US@ecommerce"


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    login(client)
    return client


def _cjk(n: int) -> str:
    return "".join(chr(0x4E00 + i % 20000) for i in range(n))


def _save(web: TestClient, value: str, headers: dict[str, str] | None = None) -> object:
    token = csrf(web.get(PAGE).text)
    return web.post("/products/complete/values", headers=headers or BROWSER, follow_redirects=False, data={
        "key": DESC, "value": value, "channel": "ecommerce", "locale": "en_US", "csrf_token": token})


def test_a_150000_character_cjk_description_saves(web: TestClient, store: Store) -> None:
    value = _cjk(150_000)  # ~1.35 MB urlencoded: over Starlette's 1 MiB per-field default
    answer = _save(web, value)
    assert answer.status_code == 303, answer.text[:300]
    assert store.get_product("complete").values[DESC] == value


def test_a_long_value_saves_when_htmx_sends_the_token_as_a_header(web: TestClient, store: Store) -> None:
    value = _cjk(150_000)
    token = csrf(web.get(PAGE).text)
    answer = web.post("/products/complete/values", follow_redirects=False,
                      headers={"HX-Request": "true", "X-CSRF-Token": token},
                      data={"key": DESC, "value": value, "channel": "ecommerce", "locale": "en_US"})
    assert answer.status_code == 200 and "HX-Redirect" in answer.headers, answer.text[:300]
    assert store.get_product("complete").values[DESC] == value


def test_a_value_over_the_cap_answers_a_page_saying_what_to_do(web: TestClient, store: Store) -> None:
    from pim.web.signin_return import READ_AT_MOST

    before = store.get_product("complete").values.get(DESC)
    answer = _save(web, "a" * (READ_AT_MOST + 1))
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "Field exceeded" not in answer.text and "shorten" in answer.text.lower()
    assert store.get_product("complete").values.get(DESC) == before


def test_pim_maintain_prints_the_drafts_sweep(store: Store) -> None:
    from datetime import timedelta

    from sqlalchemy import text
    from typer.testing import CliRunner

    from pim.cli import _mount, app
    from pim.store.store import now
    from pim.web import drafts

    user = add_user(store, "ed", "correct horse", "editor")
    for n in range(2):
        drafts.keep(store, user.id, "complete", "name:en_US", [["value", f"old {n}"]])
    with store.begin() as conn:
        conn.execute(text("UPDATE web_draft SET created_at = :at"), {"at": now() - drafts.TTL - timedelta(minutes=5)})
    _mount()
    dry = CliRunner().invoke(app, ["maintain", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "drafts: would delete 2 " in " ".join(dry.output.split())
    done = CliRunner().invoke(app, ["maintain"])
    assert done.exit_code == 0, done.output
    assert "drafts: deleted 2 " in " ".join(done.output.split())


def test_the_portal_admin_page_suggests_every_case_variant_of_a_customer(store: Store) -> None:
    import html

    from tests.feeds_data import seed_catalog, store_contract

    seed_catalog(store)
    store_contract(store, code="acme-main", customer="acme")
    store_contract(store, code="acme-slip", customer="ACME")
    add_user(store, "ada", "admin pass 1", "admin")
    admin = TestClient(create_app(store))
    token = login(admin, "ada", "admin pass 1")
    answer = admin.post("/admin/portal", data={"csrf_token": token, "customer": "Acme",
                                               "email": "ana@acme.example", "password": "a long passphrase"})
    said = html.unescape(answer.text)
    assert answer.status_code == 422, said[:300]
    assert "'ACME' or 'acme'" in said and "case-sensitive" in said


def test_gate_check_with_one_locale_does_not_store_its_narrowed_verdicts(store: Store) -> None:
    import json

    from typer.testing import CliRunner

    from pim.cli import _mount, app
    from pim.gate import decisions
    from tests.completeness_catalog import gate_channel, save, shoe

    save(store)
    store.put_structure("channel", [gate_channel(min_completeness=100)])
    store.upsert_products([shoe("ok"), shoe("bad", **{"name:de_DE": None})])  # blocked on de_DE only
    _mount()
    narrow = CliRunner().invoke(app, ["gate", "check", "--channel", "ecommerce", "--locale", "en_US", "--json"])
    assert narrow.exit_code == 0, narrow.output
    said = json.loads(narrow.output)
    assert said["blocked"] == {} and said["recorded"] is False  # judged on en_US: "bad" passes there...
    assert decisions(store, ["ok", "bad"], "ecommerce") == {}  # ...which is not the channel's verdict: not stored
    whole = CliRunner().invoke(app, ["gate", "check", "--channel", "ecommerce", "--json"])
    assert whole.exit_code != 0 and "bad" in json.loads(whole.stdout)["blocked"], whole.output  # GateBlocked
    stored = decisions(store, ["ok", "bad"], "ecommerce")
    assert stored[("bad", "ecommerce")]["passed"] is False and stored[("ok", "ecommerce")]["passed"] is True
    again = CliRunner().invoke(app, ["gate", "check", "--channel", "ecommerce", "--locale", "en_US"])
    assert again.exit_code == 0, again.output
    assert decisions(store, ["bad"], "ecommerce")[("bad", "ecommerce")]["passed"] is False  # still the channel's
    assert "not stored" in " ".join(again.output.split())


def test_field_map_attributes_says_it_is_a_fallback_chain_on_single_value_outputs() -> None:
    import json
    from pathlib import Path

    from channels.declaration import FieldMap

    said = FieldMap.model_fields["attributes"].description or ""
    assert "fallback chain" in said and "list output" in said and "→ a list" not in said
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "channel_catalog.schema.json").read_text())
    assert said in json.dumps(schema, ensure_ascii=False)  # the checked-in schema says it too
