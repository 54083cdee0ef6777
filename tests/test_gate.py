"""The publishing gate: decisions with their reasons, stored, counted in the report, and used by publish."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pim.cli import _mount, app
from pim.completeness import report
from pim.gate import decisions, gate_stage
from pim.protocols import PublishContext
from pim.store import Store
from tests.completeness_catalog import gate_channel, save, shoe

_mount()
runner = CliRunner()


def run_gate(store: Store, tmp_path: Path, locale: str | None = None) -> tuple[list[str], dict[str, list[str]]]:
    ctx = PublishContext(structure=store.structure(), output_dir=tmp_path, channel="ecommerce",
                         options={"store": store, **({"locale": locale} if locale else {})})
    passed = [p.identifier for p in gate_stage(store.iter_products(), ctx)]
    return passed, ctx.blocked


def with_rules(store: Store, **rules: object) -> None:
    save(store)
    store.put_structure("channel", [gate_channel(**rules)])


def test_incomplete_product_is_blocked_with_ratio_and_missing_attributes(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=100)
    store.upsert_products([shoe("ok"), shoe("bad", **{"name:de_DE": None})])
    passed, blocked = run_gate(store, tmp_path)
    assert passed == ["ok"]
    assert blocked == {"bad": ["completeness:de_DE:87<100", "missing:name:de_DE"]}


def test_min_completeness_below_the_ratio_passes(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=80)
    store.upsert_products([shoe("bad", **{"name:de_DE": None})])
    assert run_gate(store, tmp_path) == (["bad"], {})


def test_gate_checks_only_the_requested_locale(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=100)
    store.upsert_products([shoe("bad", **{"name:de_DE": None})])
    assert run_gate(store, tmp_path, locale="en_US") == (["bad"], {})


def test_block_on_lists_the_finding_kinds_that_block(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=0, block_on=["duplicate_gtin", "invalid"])
    store.upsert_products([shoe("a", ean="4006381333931"), shoe("b", ean="4006381333931"),
                           shoe("c", ean="4006381333932"), shoe("d", **{"name:de_DE": None})])
    passed, blocked = run_gate(store, tmp_path)
    assert passed == ["d"]  # its missing translation is not in block_on
    assert blocked == {"a": ["duplicate_gtin:ean"], "b": ["duplicate_gtin:ean"], "c": ["invalid:ean"]}


def test_product_without_family_is_blocked_when_completeness_is_required(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=50)
    store.upsert_products([shoe("x").model_copy(update={"family": None})])
    assert run_gate(store, tmp_path)[1] == {"x": ["no_family"]}


def test_decisions_are_stored_and_counted_in_the_report(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=100, block_on=["invalid"])
    store.upsert_products([shoe("ok"), shoe("bad", **{"name:de_DE": None}), shoe("c", ean="123")])
    run_gate(store, tmp_path)
    stored = decisions(store, ["ok", "bad"], "ecommerce")
    assert stored[("ok", "ecommerce")]["passed"] is True
    assert stored[("bad", "ecommerce")]["reasons"] == ["completeness:de_DE:87<100", "missing:name:de_DE"]
    r = report(store, "ecommerce")
    assert (r.blocked, r.blocked_by_reason) == (2, {"completeness:de_DE": 1, "invalid": 1})
    store.upsert_products([shoe("bad")])  # fixed, then gated again: the counters move, no scan
    run_gate(store, tmp_path)
    r = report(store, "ecommerce")
    assert (r.blocked, r.blocked_by_reason) == (1, {"invalid": 1})
    store.delete_products(["c"])
    assert report(store, "ecommerce").blocked == 0


def test_gate_report_cli_json_and_csv(store: Store, tmp_path: Path) -> None:
    with_rules(store, min_completeness=100)
    store.upsert_products([shoe(f"s{i}", **{"description:de_DE@ecommerce": None}) for i in range(2)])
    result = runner.invoke(app, ["gate", "report", "--channel", "ecommerce", "--locale", "de_DE", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["locales"] == [{"locale": "de_DE", "products": 2, "complete": 0, "incomplete": 2, "disabled": 0}]
    assert data["todo"] == [{"channel": "ecommerce", "locale": "de_DE", "family": "shoes", "attribute": "description", "products": 2,
                             "disabled": 0}]
    result = runner.invoke(app, ["gate", "report", "--channel", "ecommerce", "--csv"])
    assert result.output.splitlines() == ["channel,locale,family,attribute,products", "ecommerce,de_DE,shoes,description,2"]
    result = runner.invoke(app, ["gate", "report", "--channel", "ecommerce"])
    assert "2 products in family shoes miss description (de_DE) for ecommerce" in result.output


def test_gate_report_unknown_channel_is_a_clear_error(store: Store) -> None:
    save(store)
    result = runner.invoke(app, ["gate", "report", "--channel", "nope"])
    assert result.exit_code != 0
    assert "unknown channel 'nope'" in str(result.exception)


def test_gate_check_and_rescore_commands(store: Store) -> None:
    with_rules(store, min_completeness=100)
    store.upsert_products([shoe("ok"), shoe("bad", weight=None)])
    result = runner.invoke(app, ["gate", "check", "--channel", "ecommerce", "--json"])
    assert json.loads(result.output)["blocked"] == {"bad": ["completeness:en_US:85<100", "missing:weight:en_US",
                                                            "completeness:de_DE:87<100", "missing:weight:de_DE"]}
    result = runner.invoke(app, ["gate", "rescore", "--json"])
    assert json.loads(result.output) == {"rescored": 2}
    result = runner.invoke(app, ["gate", "rescore", "--workers", "2", "--json"])  # worker processes score ranges
    assert json.loads(result.output) == {"rescored": 2}
    result = runner.invoke(app, ["gate", "check", "--channel", "ecommerce", "--json"])
    assert sorted(json.loads(result.output)["blocked"]) == ["bad"]
