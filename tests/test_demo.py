"""`pim demo`: the whole spine on a generated catalog, re-runnable, saying where its outputs are."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from rich.console import Console

import pim.demo as demo
from pim.demo import run_demo
from pim.settings import reset_settings
from pim.store import Store
from tests.test_akeneo import _fresh_database


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


@pytest.fixture(scope="module")
def demo_once(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[demo.DemoRun, Console, Path]]:
    """One `pim demo tiny 3` per backend, its workspace and database kept for the module's tests (each ran its
    own before): (the run, its console, PIM_HOME). Tests that run it again only check a rerun changes nothing,
    which holds after any number of reruns, so their order does not matter."""
    url, cleanup = _fresh_database(backend, request, tmp_path_factory)
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PIM_HOME", str(home))
        env.setenv("PIM_DATABASE_URL", url)
        env.setenv("PIM_EXECUTOR", "thread")
        reset_settings()
        console = _quiet()
        run = run_demo("tiny", 3, console=console)
        yield run, console, home
        run.store.dispose()
    reset_settings()
    cleanup()


def _step(run: demo.DemoRun, title: str) -> dict:
    return next(summary for t, _, _, summary in run.results if t == title)


def test_demo_generates_loads_imports_and_publishes(demo_once: tuple[demo.DemoRun, Console, Path]) -> None:
    run, console, _home = demo_once
    imported = _step(run, "import products (JSONL)")
    total = run.catalog.counts["products"] + run.catalog.counts["product_models"]
    assert imported["created"] == total and imported["rejected"] == 0
    assert Store.from_settings().count_products() == run.catalog.counts["products"]
    storefront = [Path(p) for k, p in run.outputs.items() if k.startswith("storefront")]
    assert {p.name for p in storefront} == {"catalog.ecommerce.en_US.json", "catalog.ecommerce.de_DE.json"}
    held = [{p["identifier"] for p in orjson.loads(f.read_bytes())["products"]} for f in storefront]
    # a product is in the locale files the gate passes it in (round 37): published when in any of them
    assert all(held) and len(set().union(*held)) == _step(run, "publish storefront")["published"]
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert str(storefront[0]) in printed and "database" in printed
    publications = Store.from_settings().jobs("publish")  # each publication ran as a job, under the queue's rules
    assert {(j["source"].split("/")[0], j["status"], j["payload"]["command"]) for j in publications} == {
        (channel, "succeeded", "pim demo") for channel in ("storefront", "google_merchant", "search")}


def test_second_demo_run_reuses_the_catalog_and_imports_nothing_new(demo_once: tuple[demo.DemoRun, Console, Path]
                                                                    ) -> None:
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


def test_the_demo_content_enriches_product_models(demo_once: tuple[demo.DemoRun, Console, Path]) -> None:
    """The generated content file holds `model` records: after the demo, some models carry content copy that
    their variants inherit."""
    run = demo_once[0]
    store = Store.from_settings()
    enriched = [m for m in store.iter_models()
                if any((m.provenance_of(k).source if m.provenance_of(k) else None) == "content" for k in m.values)]
    assert enriched, "no product model took the content team's copy"
    lines = (run.catalog.out / "sources" / "content.jsonl").read_bytes().splitlines()
    assert any(b'"model":' in line for line in lines)


def test_the_demo_ingests_images_and_the_channels_link_renditions(demo_once: tuple[demo.DemoRun, Console, Path]
                                                                  ) -> None:
    """The demo writes an image file for every image value (a few too small or truncated on purpose), ingests
    them with a media.yaml of its own, builds the ecommerce renditions, and the storefront and Google
    Merchant link those renditions; a rerun writes and reads nothing again."""
    from media.assets import ASSET, RENDITION
    from sqlalchemy import func, select

    run, _console, home = demo_once
    media = _step(run, "ingest images, build renditions")
    assert media["image files"] > 0 and media["valid"] > 0 and media["renditions built"] > 0
    assert (home / "media.yaml").is_file()
    store = Store.from_settings()
    with store.engine.connect() as conn:
        assets = conn.execute(select(func.count()).select_from(ASSET)).scalar_one()
        renditions = conn.execute(select(func.count()).select_from(RENDITION)).scalar_one()
    assert 0 < assets <= 50 and renditions > 0  # a pool of pictures under many refs: stored once each
    storefront = next(Path(p) for k, p in run.outputs.items() if k == "storefront en_US")
    linked = orjson.loads(storefront.read_bytes())["products"]
    rendition_urls = [img for p in linked for img in _images(p) if "/renditions/" in img]
    assert rendition_urls and all(Path(u.removeprefix("file://")).is_file() for u in rendition_urls[:20])
    gmc = next(Path(p) for k, p in run.outputs.items() if k.startswith("google_merchant") and "en_US" in k)
    assert b"/renditions/" in gmc.read_bytes()

    again = run_demo("tiny", 3, console=_quiet())
    media = _step(again, "ingest images, build renditions")
    assert "image files" not in media and media.get("already known", 0) > 0 and media["renditions built"] == 0


def _images(product: dict) -> list[str]:
    """Every string in a storefront product that looks like an image link."""
    out: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and (v.endswith((".webp", ".jpg")) or "/renditions/" in v):
            out.append(v)

    walk(product)
    return out
