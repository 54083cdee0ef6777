"""An import whose profile names no precedence, and whose command line gives none, merges by
PIM_HOME/precedence.yaml, as people's edits do (pim.sources.merger_for): found exploring as a content manager,
a plain content upload of the grid's own sheet took over the ERP's `ean`, which the product page refused to
change by that file. And a map chosen for the wrong source that another source reads is named as that
source's kind, without advice to rename its keys (pim.upload_imports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pim import job_queue
from pim.cli import _mount, app
from pim.generate.sources import ERP_MAP
from pim.merge import candidates_for
from pim.store import Store
from tests.channel_data import VALID_GTIN
from tests.test_web_imports_sources import _write_yaml

OTHER_GTIN = "96385074"  # valid, as the seeded runner-red's
SHEET = f"sku,ean\ncomplete,{OTHER_GTIN}\n".encode()
EAN_BY_ERP = "attributes:\n  ean: [erp, 'supplier:*']\n"  # as `pim demo` installs it

_mount()


def _home_precedence(pim_env: Path, text: str) -> Path:
    pim_env.mkdir(parents=True, exist_ok=True)
    path = pim_env / "precedence.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _ean_claims(store: Store) -> dict[str, Any]:
    return {s: c.value for s, c in candidates_for(store, "complete").get("ean", {}).items()}


def test_a_content_upload_without_a_profile_merges_by_the_pim_home_precedence(
        role_tokens: Any, store: Store, pim_env: Path) -> None:
    client, tokens = role_tokens
    _home_precedence(pim_env, EAN_BY_ERP)
    queued = client.post("/api/v1/imports", headers=tokens["editor"], data={"importer": "content"},
                         files={"file": ("grid.csv", SHEET, "text/csv")})
    assert queued.status_code in (200, 201, 202), queued.text
    [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "succeeded", job["error"]
    assert store.get_product("complete").values["ean"] == VALID_GTIN  # type: ignore[union-attr]  # the ERP's
    assert _ean_claims(store) == {"content": OTHER_GTIN}  # kept aside, as an edit of it would be


def test_the_cli_content_import_merges_by_the_pim_home_precedence(role_tokens: Any, store: Store, pim_env: Path,
                                                                  tmp_path: Path) -> None:
    _home_precedence(pim_env, EAN_BY_ERP)
    (sheet := tmp_path / "grid.csv").write_bytes(SHEET)
    result = CliRunner().invoke(app, ["import", "content", str(sheet), "--json"])
    assert result.exit_code == 0, result.output
    assert store.get_product("complete").values["ean"] == VALID_GTIN  # type: ignore[union-attr]


def test_a_precedence_given_on_the_command_line_wins_over_the_pim_home_one(
        role_tokens: Any, store: Store, pim_env: Path, tmp_path: Path) -> None:
    """Guard (passes before the change too): the home file is only the fallback."""
    _home_precedence(pim_env, EAN_BY_ERP)
    (given := tmp_path / "content_first.yaml").write_text("default: [content]\n", encoding="utf-8")
    (sheet := tmp_path / "grid.csv").write_bytes(SHEET)
    result = CliRunner().invoke(app, ["import", "content", str(sheet), "--precedence", str(given), "--json"])
    assert result.exit_code == 0, result.output
    assert store.get_product("complete").values["ean"] == OTHER_GTIN  # type: ignore[union-attr]


def test_a_pim_home_precedence_with_a_rule_the_catalog_lacks_stops_the_import_naming_the_file(
        role_tokens: Any, store: Store, pim_env: Path, tmp_path: Path) -> None:
    home = _home_precedence(pim_env, "attributes:\n  eann: [erp]\n")
    (sheet := tmp_path / "grid.csv").write_bytes(SHEET)
    result = CliRunner().invoke(app, ["import", "content", str(sheet), "--json"])
    assert result.exit_code == 2, result.output
    said = json.loads(result.stdout)
    assert "attribute 'eann'" in said["error"] and "did you mean 'ean'?" in said["error"]
    assert said["error_file"] == str(home)
    assert store.get_product("complete").values["ean"] == VALID_GTIN  # type: ignore[union-attr]


def test_a_map_another_source_reads_is_named_as_its_kind_without_key_advice(role_tokens: Any, store: Store,
                                                                            pim_env: Path) -> None:
    client, tokens = role_tokens
    _write_yaml(pim_env / "maps" / "erp_products.map.yaml", ERP_MAP)
    resp = client.post("/api/v1/imports", headers=tokens["editor"],
                       data={"importer": "supplier", "profile": "maps/erp_products.map.yaml"},
                       files={"file": ("supplier_bolt.csv", b"Art-Nr\nS-1\n", "text/csv")})
    assert resp.status_code == 422
    said = resp.text.replace("&#39;", "'")
    assert ("maps/erp_products.map.yaml is an ERP CSV map, not a supplier CSV/XLSX map; choose the ERP CSV "
            "source, or pick a supplier CSV/XLSX map") in said
    assert "is not a key here" not in said and "Rename" not in said
    assert store.jobs(kind="import") == []


def test_the_demo_imports_by_its_generated_precedence_when_pim_home_keeps_the_users(
        pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression guard for this change (passes on the code before it): the demo keeps a PIM_HOME/precedence.yaml
    the user put there and says its imports merge by the generated one, so its MATMAS import, whose shipped map
    names no precedence, must not fall back to the user's file (here one the demo catalog does not fit)."""
    import io

    from rich.console import Console

    import pim.demo as demo

    _home_precedence(pim_env, "attributes:\n  no_such_attribute: [erp]\n")
    monkeypatch.setattr(demo, "DEMO_STEPS", demo.DEMO_STEPS[:4])
    run = demo.run_demo("tiny:20", 1, console=Console(file=io.StringIO(), width=200))
    sources = next(summary for title, _, _, summary in run.results if title.startswith("import ERP"))
    assert "erp xml" in sources and "kept (yours" in run.results[0][3]["precedence"]
