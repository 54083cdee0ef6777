"""`pim demo`: the whole spine on a generated catalog, re-runnable, saying where its outputs are."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console

import pim.demo as demo
from pim.demo import run_demo
from pim.store import Store


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def _step(run: demo.DemoRun, title: str) -> dict:
    return next(summary for t, _, _, summary in run.results if t == title)


def test_demo_generates_loads_imports_and_publishes(pim_env: Path) -> None:
    console = _quiet()
    run = run_demo("tiny", 3, console=console)
    imported = _step(run, "import products (JSONL)")
    total = run.catalog.counts["products"] + run.catalog.counts["product_models"]
    assert imported["created"] == total and imported["rejected"] == 0
    assert Store.from_settings().count_products() == run.catalog.counts["products"]
    storefront = [Path(p) for k, p in run.outputs.items() if k.startswith("storefront")]
    assert {p.name for p in storefront} == {"catalog.ecommerce.en_US.json", "catalog.ecommerce.de_DE.json"}
    doc = orjson.loads(storefront[0].read_bytes())
    assert doc["products"] and len(doc["products"]) == _step(run, "publish storefront")["published"]
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert str(storefront[0]) in printed and "database" in printed


def test_second_demo_run_reuses_the_catalog_and_imports_nothing_new(pim_env: Path) -> None:
    run_demo("tiny", 3, console=_quiet())
    again = run_demo("tiny", 3, console=_quiet())
    assert "reused" in _step(again, "generate catalog")
    imported = _step(again, "import products (JSONL)")
    assert imported["created"] == imported["updated"] == 0 and imported["unchanged"] == imported["read"] > 0


def test_a_demo_step_whose_module_is_missing_is_listed_as_skipped(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "DEMO_STEPS", demo.DEMO_STEPS[:1] + [("later step", "pim.no_such_demo_step:run")])
    console = _quiet()
    run = run_demo("tiny:20", 1, console=console)
    assert ("later step", "skipped (not available yet)") in [(t, s) for t, s, _, _ in run.results]
    assert "later step" in console.file.getvalue()  # type: ignore[attr-defined]


def test_the_demo_content_enriches_product_models(pim_env: Path) -> None:
    """The generated content file holds `model` records: after the demo, some models carry content copy that
    their variants inherit."""
    run = run_demo("tiny", 3, console=_quiet())
    store = Store.from_settings()
    enriched = [m for m in store.iter_models()
                if any((m.provenance_of(k).source if m.provenance_of(k) else None) == "content" for k in m.values)]
    assert enriched, "no product model took the content team's copy"
    lines = (run.catalog.out / "sources" / "content.jsonl").read_bytes().splitlines()
    assert any(b'"model":' in line for line in lines)
