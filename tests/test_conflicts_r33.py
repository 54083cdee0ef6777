"""Round 33, the conflict log as a data steward meets it: a pick holds the claims the next merge would (so an
unchanged re-import leaves it resolved), cut lists say they are cut, pins are listed and can be undone."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim.conflicts import OPEN, RESOLVED, SETTLED, conflicts_for, open_conflicts
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence
from pim.store import Store
from tests.source_data import record, seed_structure
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.backends("sqlite")

#: The imports' own precedence (their profiles name it); PIM_HOME has none, as in the explorer's workspace.
NAMES = Precedence(default=["content"], attributes={"name": ["content", "erp"]})
KEY = "name:en_US"


def merge(store: Store, source: str, values: dict, sku: str = "A1", **fields):
    items = [Parsed(record(source, sku, values, **fields), f"{source}.jsonl", 1)]
    return run_import(store, source, items, merge=Merger(NAMES))


def disputed(store: Store, sku: str = "A1") -> None:
    """The catalog load (`jsonl`, which owns no name) claims it first, then the ERP and the content team, who
    both own it, disagree: an open conflict of two claims, and the catalog's value kept as a candidate."""
    merge(store, "jsonl", {KEY: "Drill"}, sku, family="tool")
    merge(store, "erp", {KEY: "DRILL"}, sku)
    merge(store, "content", {KEY: "Cordless drill"}, sku)


def cli(*args: str):
    from pim.cli import _mount, app

    _mount()
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


@pytest.fixture
def api(seeded: Store) -> tuple[TestClient, dict[str, dict[str, str]]]:
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    tokens = {}
    for name, role in (("ed", "editor"), ("vi", "viewer")):
        tokens[role] = {"Authorization": f"Bearer {create_token(seeded, add_user(seeded, name, 'correct horse', role))}"}
    return TestClient(create_app(seeded)), tokens


# ---------------------------------------------------------------- 1. a pick stays resolved


@pytest.mark.backends("sqlite", "postgresql")
def test_a_cli_pick_stays_resolved_when_an_unchanged_file_is_imported_again(seeded: Store) -> None:
    disputed(seeded)
    [before] = open_conflicts(seeded)
    assert before.claims == {"content": "Cordless drill", "erp": "DRILL"}
    picked = cli("import", "resolve", "A1", KEY, "erp", "--by", "steward")
    assert picked.exit_code == 0, picked.output
    [row] = conflicts_for(seeded, "A1")
    assert (row.status, row.pinned, row.claims) == (RESOLVED, "erp", before.claims)  # not the catalog's claim
    counts = merge(seeded, "content", {KEY: "Cordless drill"})
    assert (counts.updated, counts.unchanged) == (0, 1)
    assert conflicts_for(seeded, "A1") == [row]
    merge(seeded, "content", {KEY: "Cordless drill, 18 V"})  # an owner's value changed: look again
    [reopened] = open_conflicts(seeded)
    assert (reopened.pinned, reopened.claims["content"]) == ("erp", "Cordless drill, 18 V")


def test_an_api_pick_stays_resolved_when_an_unchanged_file_is_imported_again(api, seeded: Store) -> None:
    client, tokens = api
    disputed(seeded)
    picked = client.post(f"/api/v1/products/A1/conflicts/{KEY}", json={"source": "erp"}, headers=tokens["editor"])
    assert picked.status_code == 200 and picked.json()["claims"] == {"erp": "DRILL", "content": "Cordless drill"}
    counts = merge(seeded, "content", {KEY: "Cordless drill"})
    assert (counts.updated, counts.unchanged) == (0, 1)
    assert client.get("/api/v1/conflicts", headers=tokens["viewer"]).json() == []
    [kept] = client.get("/api/v1/conflicts?status=resolved", headers=tokens["viewer"]).json()
    assert (kept["pinned"], kept["resolved_by"], kept["status"]) == ("erp", "ed", RESOLVED)


# ---------------------------------------------------------------- 2. a cut list says so


def test_a_cut_cli_list_says_how_many_there_are(seeded: Store) -> None:
    for sku in ("A1", "A2", "A3"):
        disputed(seeded, sku)
    cut = cli("import", "conflicts", "--limit", "2")
    assert cut.exit_code == 0 and "2 of 3 open conflict(s)" in cut.stdout
    assert "2 of 3 open conflict(s) shown: `--limit 0` lists them all" in cut.stderr
    every = cli("import", "conflicts", "--json")  # a script gets every row unless it asks for fewer
    assert [c["identifier"] for c in json.loads(every.stdout)] == ["A1", "A2", "A3"] and not every.stderr
    asked = cli("import", "conflicts", "--json", "--limit", "1")
    assert len(json.loads(asked.stdout)) == 1 and "1 of 3 open conflict(s) shown" in asked.stderr


def test_a_cut_api_list_stays_a_list_and_names_its_total_and_next_page(api, seeded: Store) -> None:
    client, tokens = api
    for sku in ("A1", "A2", "A3"):
        disputed(seeded, sku)
    first = client.get("/api/v1/conflicts?limit=2", headers=tokens["viewer"])
    assert [c["identifier"] for c in first.json()] == ["A1", "A2"] and first.headers["x-total-count"] == "3"
    link = first.headers["link"]
    assert link.startswith("</api/v1/conflicts?") and link.endswith('>; rel="next"') and "limit=2" in link
    rest = client.get(link[1:link.index(">")], headers=tokens["viewer"])
    assert [c["identifier"] for c in rest.json()] == ["A3"] and "link" not in rest.headers
    whole = client.get("/api/v1/conflicts", headers=tokens["viewer"])
    assert whole.headers["x-total-count"] == "3" and "link" not in whole.headers
    assert client.get("/api/v1/conflicts?cursor=x", headers=tokens["viewer"]).status_code == 422


# ---------------------------------------------------------------- 3. pins are listed and undone


def test_a_pin_no_owner_disputes_is_listed_and_leaves_the_next_import_unchanged(api, seeded: Store) -> None:
    client, tokens = api
    merge(seeded, "jsonl", {KEY: "Drill"}, family="tool")
    merge(seeded, "supplier:bolt", {KEY: "Bolt drill"})  # neither owns the name: a kept value, in no conflict
    picked = cli("import", "resolve", "A1", KEY, "supplier:bolt", "--by", "steward")
    assert picked.exit_code == 0, picked.output
    assert seeded.get_product("A1").values[KEY] == "Bolt drill"
    listed = cli("import", "conflicts", "A1", "--status", "pinned", "--json")
    [pin] = json.loads(listed.stdout)
    assert (pin["value_key"], pin["pinned"], pin["resolved_by"], pin["status"]) == (
        KEY, "supplier:bolt", "steward", SETTLED)
    assert json.loads(cli("import", "conflicts", "A1", "--json").stdout) == []  # nothing to decide
    [api_pin] = client.get("/api/v1/conflicts?identifier=A1&status=pinned", headers=tokens["viewer"]).json()
    assert (api_pin["pinned"], api_pin["resolved_by"]) == ("supplier:bolt", "steward")
    counts = merge(seeded, "jsonl", {KEY: "Drill"})
    assert (counts.updated, counts.unchanged) == (0, 1) and seeded.get_product("A1").values[KEY] == "Bolt drill"


def test_unpin_gives_the_value_back_to_precedence_and_reopens_the_disagreement(seeded: Store, pim_env) -> None:
    """An unpin judges by PIM_HOME/precedence.yaml, as people's edits do: here the imports' own."""
    from tests.test_api_conflicts import choices

    pim_env.mkdir(exist_ok=True)
    (pim_env / "precedence.yaml").write_text(json.dumps(NAMES.model_dump()))  # JSON is YAML
    disputed(seeded)
    cli("import", "resolve", "A1", KEY, "erp", "--by", "steward")
    assert seeded.get_product("A1").values[KEY] == "DRILL"
    undone = cli("import", "resolve", "A1", KEY, "--unpin", "--by", "anna")
    assert undone.exit_code == 0, undone.output
    assert "by PIM_HOME/precedence.yaml, content's value shows, the conflict is open again" in undone.stdout
    assert seeded.get_product("A1").values[KEY] == "Cordless drill"
    [row] = open_conflicts(seeded)
    assert (row.status, row.pinned, row.winner) == (OPEN, None, "content")
    assert json.loads(cli("import", "conflicts", "--status", "pinned", "--json").stdout) == []
    assert choices(seeded, "A1")[-1] == ("A1", KEY, "DRILL", "Cordless drill", "anna", "content")


def test_unpin_without_a_pin_and_resolve_without_a_source_say_what_to_do(seeded: Store) -> None:
    disputed(seeded)
    nothing = cli("import", "resolve", "A1", KEY, "--unpin")  # pim.cli.main prints an InputError and its hint
    assert isinstance(nothing.exception, InputError) and str(nothing.exception) == "nothing is pinned on A1 name:en_US"
    assert "pim import conflicts --status pinned" in nothing.exception.hint
    neither = cli("import", "resolve", "A1", KEY)
    assert isinstance(neither.exception, InputError) and "name the SOURCE to pick, or --unpin" in str(neither.exception)
    assert open_conflicts(seeded)[0].status == OPEN
