"""Withdrawing one source's values (a supplier's PRODUCT mode="delete", after review): the next claim takes
over, a value nobody else claims goes, other sources and products are untouched, and the conflict log,
candidates and completeness follow as for an import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pim.cli import _mount, app
from pim.conflicts import SETTLED, conflicts_for, open_conflicts
from pim.importing import Parsed, run_import
from pim.merge import Merger, candidates_for
from pim.store import Store
from pim.withdraw import withdraw_claims
from tests.source_data import PRECEDENCE, record, seed_structure

_mount()
KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731


def merge(store: Store, source: str, *records) -> None:
    run_import(store, source, [Parsed(r, f"{source}.csv", n) for n, r in enumerate(records, 1)], merge=Merger(PRECEDENCE))


@pytest.fixture
def merged(store: Store) -> Store:
    """A1: the ERP owns the weight (the supplier's is a candidate and in conflict), the supplier alone gives the
    material, the content team the German name. A2: the supplier's material only."""
    seed_structure(store)
    merge(store, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(store, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3"), "material": "steel"}),
          record("supplier:acme", "A2", {"material": "oak"}, family="tool"))
    merge(store, "content", record("content", "A1", {"name:de_DE": "Bohrer"}))
    return store


def test_a_withdrawn_supplier_leaves_the_winners_and_takes_its_lone_values_away(merged: Store) -> None:
    assert [c.value_key for c in open_conflicts(merged)] == ["weight"]
    counts = withdraw_claims(merged, "supplier:acme", ["A1"], PRECEDENCE)
    assert (counts.updated, counts.rejected) == (1, 0)
    a1 = merged.get_product("A1")
    assert a1.values == {"weight": KG("1.2"), "name:de_DE": "Bohrer"}  # the material had no other claim
    assert a1.provenance_of("weight").source == "erp"
    assert "supplier:acme" not in candidates_for(merged, "A1").get("weight", {})
    assert open_conflicts(merged) == [] and conflicts_for(merged, "A1")[0].status == SETTLED
    assert merged.get_product("A2").values == {"material": "oak"}  # not named: untouched
    again = withdraw_claims(merged, "supplier:acme", ["A1", "NOPE"], PRECEDENCE)
    assert (again.read, again.updated) == (0, 0)  # nothing left to withdraw, unknown SKUs ignored


def test_when_the_winner_withdraws_the_next_claim_takes_over(merged: Store) -> None:
    withdraw_claims(merged, "erp", ["A1"], PRECEDENCE)
    a1 = merged.get_product("A1")
    assert a1.values["weight"] == KG("1.3") and a1.provenance_of("weight").source == "supplier:acme"
    assert candidates_for(merged, "A1").get("weight", {}) == {}


def test_withdraw_from_the_cli(merged: Store, tmp_path: Path) -> None:
    prec = tmp_path / "precedence.yaml"
    prec.write_text(yaml.safe_dump(PRECEDENCE.model_dump()), encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "withdraw", "supplier:acme", "A1", "A2", "--precedence", str(prec), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["updated"] == 2
    assert "material" not in merged.get_product("A2").values


def test_the_cli_names_the_products_that_hold_nothing_from_the_source(merged: Store) -> None:
    """Found exploring: `withdraw content NOSUCHSKU` said it withdrew content from 1 product."""
    result = CliRunner().invoke(app, ["import", "withdraw", "supplier:acme", "A1", "NOPE"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "from 1 of 2 product(s)" in said and "hold nothing from supplier:acme" in said and "NOPE" in said
    nothing = CliRunner().invoke(app, ["import", "withdraw", "nosuch", "A1", "--json"])
    assert nothing.exit_code == 1 and json.loads(nothing.output)["nothing_to_withdraw"] == ["A1"]


def test_the_cli_withdraws_by_the_home_precedence_when_none_is_given(merged: Store, pim_env: Path) -> None:
    """Found exploring: without --precedence the withdrawal settled by the default (content first), so two
    suppliers both owning the weight by the catalog's precedence no longer conflicted. It takes
    PIM_HOME/precedence.yaml, as people's edits do."""
    merge(merged, "supplier:bolt", record("supplier:bolt", "A1", {"weight": KG("1.4")}))
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "precedence.yaml").write_text(yaml.safe_dump(PRECEDENCE.model_dump()), encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "withdraw", "erp", "A1", "--json"])
    assert result.exit_code == 0, result.output
    [conflict] = open_conflicts(merged)  # both suppliers own the weight once the ERP is gone
    assert set(conflict.claims) == {"supplier:acme", "supplier:bolt"}
