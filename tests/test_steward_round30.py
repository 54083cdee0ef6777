"""Found exploring as a data steward (round 30): a value pin ends with its source's claim, `pim import resolve`
picks a kept candidate of a source that owns no conflict, `pim import withdraw` says which precedence it merged
by, and `pim demo` leaves its precedence where people's edits and withdrawals read it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import pim.demo as demo
from importers.bmecat import import_bmecat, load_map
from pim.cli import _mount, app
from pim.conflicts import OPEN, SETTLED, conflicts_for, resolve_conflict
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence
from pim.store import Store
from pim.withdraw import withdraw_claims
from tests.source_data import PRECEDENCE, record, seed_structure
from tests.test_bmecat import MAP, PRODUCT, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)

_mount()
KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731


def merge(store: Store, source: str, *records) -> None:
    run_import(store, source, [Parsed(r, f"{source}.csv", n) for n, r in enumerate(records, 1)], merge=Merger(PRECEDENCE))


def _row(store: Store, sku: str, key: str):
    return next(c for c in conflicts_for(store, sku) if c.value_key == key)


@pytest.fixture
def pinned(store: Store) -> Store:
    """A1's weight: the ERP owns it first, supplier:acme's lower-ranked claim disagrees and a person pinned it."""
    seed_structure(store)
    merge(store, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(store, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    resolve_conflict(store, "A1", "weight", "supplier:acme", by="steward")
    assert store.get_product("A1").values["weight"] == KG("1.3")
    return store


def _withdraw(store: Store) -> None:
    withdraw_claims(store, "supplier:acme", ["A1"], PRECEDENCE)


def _empty_cell(store: Store) -> None:
    merge(store, "supplier:acme", record("supplier:acme", "A1", {"weight": None}))


@pytest.mark.parametrize("withdraw", [_withdraw, _empty_cell], ids=["pim import withdraw", "an emptied value"])
def test_a_pin_ends_when_its_source_withdraws_the_value(pinned: Store, withdraw) -> None:
    """Found exploring: the row kept `pinned=supplier:acme` and the supplier's next import won again."""
    merge(pinned, "supplier:bolt", record("supplier:bolt", "A1", {"weight": KG("1.4")}))  # a third owner
    withdraw(pinned)
    row = _row(pinned, "A1", "weight")
    assert (row.pinned, row.status, row.winner) == (None, OPEN, "erp")  # the ERP and bolt still disagree
    merge(pinned, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    a1 = pinned.get_product("A1")
    assert a1.values["weight"] == KG("1.2") and a1.provenance_of("weight").source == "erp"


def test_a_pin_ends_with_its_value_when_no_conflict_is_left(pinned: Store) -> None:
    """The ERP was the only other owner: the row settles, without the pin, so the supplier's claim coming back
    ranks below the ERP's again."""
    _withdraw(pinned)
    row = _row(pinned, "A1", "weight")
    assert (row.pinned, row.status) == (None, SETTLED)
    merge(pinned, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    assert pinned.get_product("A1").provenance_of("weight").source == "erp"


def test_a_pin_on_a_settled_row_ends_when_its_source_withdraws(pinned: Store) -> None:
    """The ERP withdrew first (the pinned supplier's value shows alone, the row settled with its pin); then the
    supplier withdraws too: the pin goes with its value, and when both come back precedence decides."""
    withdraw_claims(pinned, "erp", ["A1"], PRECEDENCE)
    assert _row(pinned, "A1", "weight").pinned == "supplier:acme"  # still claimed: the pin holds
    _withdraw(pinned)
    assert "weight" not in pinned.get_product("A1").values and _row(pinned, "A1", "weight").pinned is None
    merge(pinned, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    merge(pinned, "erp", record("erp", "A1", {"weight": KG("1.2")}))
    assert pinned.get_product("A1").provenance_of("weight").source == "erp"


#: The ERP owns names first: the supplier's disagreeing name is in conflict and shows only when picked.
ERP_FIRST = Precedence(attributes={"name": ["erp", "supplier:*"]})
SUPPLIER = "supplier:weidmueller"


def _bmecat(store: Store, tmp_path: Path, body: str, name: str) -> None:
    import_bmecat(_xml(tmp_path, body, name=name), store, load_map(MAP), precedence=ERP_FIRST)


def _pinned_supplier_name(store: Store, tmp_path: Path) -> None:
    _erp_product(store)  # SKU-9 by its GTIN, name "ERP name"
    _bmecat(store, tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", "v1.xml")
    resolve_conflict(store, "SKU-9", "name:en_US", SUPPLIER, by="steward")
    assert store.get_product("SKU-9").values["name:en_US"] == "Relay r1"


@pytest.mark.parametrize("ending", [
    "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1").replace('<DESCRIPTION_SHORT lang="eng">Relay r1</DESCRIPTION_SHORT>', "")
    + "</T_NEW_CATALOG>",
    '<T_UPDATE_PRODUCTS><PRODUCT mode="delete"><SUPPLIER_PID>r1</SUPPLIER_PID></PRODUCT></T_UPDATE_PRODUCTS>',
], ids=["T_NEW_CATALOG without the value", "a delete"])
def test_a_bmecat_withdrawal_ends_the_suppliers_pin(supplier_store: Store, tmp_path: Path, ending: str) -> None:  # noqa: F811
    _pinned_supplier_name(supplier_store, tmp_path)
    _bmecat(supplier_store, tmp_path, ending, "v2.xml")
    assert supplier_store.get_product("SKU-9").values["name:en_US"] == "ERP name"
    assert _row(supplier_store, "SKU-9", "name:en_US").pinned is None
    _bmecat(supplier_store, tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", "v3.xml")
    assert supplier_store.get_product("SKU-9").values["name:en_US"] == "ERP name"  # the ERP ranks first again


@pytest.fixture
def kept(store: Store) -> Store:
    """A1's German name: the content team's shows; the ERP's waits as a candidate. The ERP does not own names
    (marketing: content, then suppliers), so no conflict names it."""
    seed_structure(store)
    merge(store, "content", record("content", "A1", {"name:de_DE": "Bohrer"}, family="tool"))
    merge(store, "erp", record("erp", "A1", {"name:de_DE": "ERP Bohrer"}))
    assert conflicts_for(store, "A1") == []
    return store


def test_resolve_picks_a_kept_candidate_of_a_source_in_no_conflict(kept: Store) -> None:
    """Found exploring: `pim import resolve S2 name:en_US supplier:acme` said the source had no value, while the
    API listed its kept candidate."""
    result = CliRunner().invoke(app, ["import", "resolve", "A1", "name:de_DE", "erp", "--by", "steward"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "erp wins (ERP Bohrer), pinned" in said and "kept candidate" in said and "does not own name" in said
    a1 = kept.get_product("A1")
    assert a1.values["name:de_DE"] == "ERP Bohrer" and a1.provenance_of("name:de_DE").source == "erp"
    assert _row(kept, "A1", "name:de_DE").pinned == "erp"
    merge(kept, "content", record("content", "A1", {"name:de_DE": "Bohrer 2"}))  # pinned like a conflict's pick
    assert kept.get_product("A1").values["name:de_DE"] == "ERP Bohrer"


def test_resolve_with_a_source_holding_nothing_names_the_kept_values(kept: Store) -> None:
    result = CliRunner().invoke(app, ["import", "resolve", "A1", "name:de_DE", "supplier:acme"])
    said = result.exception.describe()  # type: ignore[union-attr]  # pim.cli.main prints it and exits with its code
    assert isinstance(result.exception, InputError) and result.exception.exit_code == 2
    assert "'supplier:acme' has no value for A1 name:de_DE" in said and "pick one of the values kept: erp" in said


def test_withdraw_says_it_merged_by_the_default_when_pim_home_has_no_precedence(pinned: Store) -> None:
    result = CliRunner().invoke(app, ["import", "withdraw", "supplier:acme", "A1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["precedence"] == (
        "the default: content first; pass --precedence FILE, the one your imports use")


def test_withdraw_says_it_merged_by_the_pim_home_precedence(pinned: Store, pim_env: Path) -> None:
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "precedence.yaml").write_text("attributes:\n  weight: [erp, 'supplier:*']\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "withdraw", "supplier:acme", "A1"])
    assert result.exit_code == 0, result.output
    assert "PIM_HOME/precedence.yaml" in " ".join(result.output.split())


def _generate_only(monkeypatch: pytest.MonkeyPatch) -> demo.DemoRun:
    monkeypatch.setattr(demo, "DEMO_STEPS", demo.DEMO_STEPS[:1])
    return demo.run_demo("tiny:20", 1, console=Console(file=io.StringIO(), width=200))


def test_the_demo_installs_its_precedence_in_pim_home(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found exploring: after `pim demo` a withdrawal merged by the default precedence (content first), not
    the one the demo's imports used."""
    run = _generate_only(monkeypatch)
    generated = run.catalog.out / "sources" / "precedence.yaml"
    assert (pim_env / "precedence.yaml").read_bytes() == generated.read_bytes()
    assert "installed" in run.results[0][3]["precedence"]


def test_the_demo_keeps_a_precedence_the_user_put_in_pim_home(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "precedence.yaml").write_text("default: [erp]\n", encoding="utf-8")
    run = _generate_only(monkeypatch)
    assert (pim_env / "precedence.yaml").read_text(encoding="utf-8") == "default: [erp]\n"
    assert "kept (yours" in run.results[0][3]["precedence"]
