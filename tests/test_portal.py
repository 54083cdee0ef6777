"""Portal isolation: a customer sees and downloads only their own feeds; every route with another
customer's token or ids answers 401/404 and never a byte of someone else's data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from pim import delivery_log as log
from pim.feeds import deliver_contract
from pim.portal import create_portal_app
from tests.feeds_data import out_dir, put_prices, seed_catalog, store_contract


@pytest.fixture
def portal(store, tmp_path: Path):
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    put_prices(store, "cust_b", [("T1", "1", "6.66")])
    store_contract(store, code="a-feed", customer="cust_a")
    store_contract(store, code="b-feed", customer="cust_b", format="jsonl")
    a = deliver_contract(store, "a-feed", out_dir=out_dir(tmp_path))
    b = deliver_contract(store, "b-feed", out_dir=out_dir(tmp_path))
    tokens = {"a": log.issue_token(store, "cust_a"), "b": log.issue_token(store, "cust_b")}
    files = {r["contract"]: r for r in log.feed_files(store)}
    client = TestClient(create_portal_app(store))
    return client, tokens, files, {"a": Path(a.file), "b": Path(b.file)}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_customer_lists_only_their_own_feeds_with_checksums(portal) -> None:
    client, tokens, files, _ = portal
    body = client.get("/portal/feeds", headers=auth(tokens["a"])).json()
    assert [f["contract"] for f in body["feeds"]] == ["a-feed"]
    assert body["feeds"][0]["sha256"] == files["a-feed"]["sha256"]


def test_download_returns_the_file_and_its_checksum(portal) -> None:
    client, tokens, files, paths = portal
    r = client.get(f"/portal/feeds/{files['a-feed']['id']}/download", headers=auth(tokens["a"]))
    assert r.status_code == 200
    assert r.content == paths["a"].read_bytes()
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-checksum-sha256"] == files["a-feed"]["sha256"]


def test_another_customers_feed_id_is_not_found_on_any_route(portal) -> None:
    client, tokens, files, paths = portal
    other = files["b-feed"]["id"]
    for suffix in ("", "/download", "/manifest"):
        r = client.get(f"/portal/feeds/{other}{suffix}", headers=auth(tokens["a"]))
        assert r.status_code == 404, suffix
        assert paths["b"].read_bytes() not in r.content and files["b-feed"]["sha256"] not in r.text
        assert "6.66" not in r.text


def test_every_route_needs_a_valid_token(portal) -> None:
    client, _, files, _ = portal
    own = files["a-feed"]["id"]
    paths = ["/portal/feeds", f"/portal/feeds/{own}", f"/portal/feeds/{own}/download", f"/portal/feeds/{own}/manifest",
             "/portal/contracts"]
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer pft_forged"}, {"Authorization": "Basic abc"}):
            r = client.get(path, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert files["a-feed"]["sha256"] not in r.text


def test_contracts_route_shows_own_contracts_without_delivery_secrets(portal) -> None:
    client, tokens, *_ = portal
    body = client.get("/portal/contracts", headers=auth(tokens["b"])).json()
    assert [c["code"] for c in body["contracts"]] == ["b-feed"]
    assert "delivery" not in str(body) and "private_key" not in str(body)


def test_token_is_stored_only_as_a_hash(store, portal) -> None:
    from sqlalchemy import select

    _, tokens, *_ = portal
    with store.engine.connect() as conn:
        stored = list(conn.execute(select(log.TOKEN.c.token_hash)).scalars())
    assert tokens["a"] not in stored and log.hash_token(tokens["a"]) in stored


def test_feed_that_was_only_built_is_not_downloadable(store, portal, tmp_path: Path) -> None:
    client, tokens, *_ = portal
    deliver_contract(store, "a-feed", out_dir=out_dir(tmp_path))
    log.set_file_status(store, log.feed_files(store, customer="cust_a")[0]["id"], "dry-run")  # as dry runs were kept
    dry = log.feed_files(store, customer="cust_a")[0]
    assert dry["status"] == "dry-run"
    assert client.get(f"/portal/feeds/{dry['id']}/download", headers=auth(tokens["a"])).status_code == 404


def test_revoked_tokens_are_refused_and_other_customers_keep_theirs(store, portal) -> None:
    client, tokens, *_ = portal
    second = log.issue_token(store, "cust_a")
    assert log.revoke_tokens(store, "cust_b", tokens["a"]) == 0  # a token is only revoked by its own customer
    assert client.get("/portal/feeds", headers=auth(tokens["a"])).status_code == 200
    assert log.revoke_tokens(store, "cust_a", tokens["a"]) == 1
    assert client.get("/portal/feeds", headers=auth(tokens["a"])).status_code == 401
    assert client.get("/portal/feeds", headers=auth(second)).status_code == 200
    assert log.revoke_tokens(store, "cust_a") == 1  # every remaining token of cust_a
    assert client.get("/portal/feeds", headers=auth(second)).status_code == 401
    assert client.get("/portal/feeds", headers=auth(tokens["b"])).status_code == 200


def test_revoke_command_reports_and_fails_when_nothing_was_revoked(store, portal, pim_env) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()
    result = runner.invoke(app, ["feeds", "revoke", "--customer", "cust_b"])
    assert result.exit_code == 0 and "revoked 1 portal token of 'cust_b'" in result.output
    result = runner.invoke(app, ["feeds", "revoke", "--customer", "cust_b"])
    assert result.exit_code == 1 and "no active portal token" in result.output


def test_person_commands_add_list_disable_and_reset(store, pim_env) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app
    from pim.portal_people import authenticate_person

    _mount()
    store_contract(store, code="a-feed", customer="cust_a")  # a customer no contract names is refused
    runner = CliRunner()
    result = runner.invoke(app, ["feeds", "person", "add", "cust_a", "Ana@cust-a.example"],
                           input="a long passphrase\na long passphrase\n")
    assert result.exit_code == 0 and "ana@cust-a.example can sign in to the portal for 'cust_a'" in result.output
    listed = runner.invoke(app, ["feeds", "person", "list", "--json"])
    assert [(r["customer"], r["email"], r["active"]) for r in orjson.loads(listed.output)] == [
        ("cust_a", "ana@cust-a.example", True)]
    assert authenticate_person(store, "ana@cust-a.example", "a long passphrase") is not None
    assert runner.invoke(app, ["feeds", "person", "disable", "ana@cust-a.example"]).exit_code == 0
    assert authenticate_person(store, "ana@cust-a.example", "a long passphrase") is None
    assert runner.invoke(app, ["feeds", "person", "enable", "ana@cust-a.example"]).exit_code == 0
    result = runner.invoke(app, ["feeds", "person", "password", "ana@cust-a.example", "--password", "a new passphrase"])
    assert result.exit_code == 0
    assert authenticate_person(store, "ana@cust-a.example", "a new passphrase") is not None
    missing = runner.invoke(app, ["feeds", "person", "disable", "nobody@cust-a.example"])
    assert missing.exit_code == 1 and "no portal account for 'nobody@cust-a.example'" in missing.output
