"""Round 35 (X1, a content-team editor): an image counts in completeness only as a stored, valid asset meeting
the channel's rules; the dashboard's to-do says how much it shows and lists a non-localizable attribute once; the
product page shows the gate's current verdict and dates the last publish's."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from media.ingest import ingest, ingest_bytes, rescore_products_using
from media.store_local import LocalAssetStore
from pim.completeness import stored_completeness
from pim.product import Product, Provenance
from pim.store import Store
from tests import images
from tests.test_web_ui import admin_client
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)


@pytest.fixture
def assets(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


def rules(home: Path, **ecommerce: Any) -> None:
    """PIM_HOME/media.yaml with these image rules on the ecommerce channel (none on print)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "media.yaml").write_text(yaml.safe_dump({"channels": {"ecommerce": ecommerce}}), encoding="utf-8")


def drills(store: Store, ecommerce: list[str], print_: list[str] | None = None) -> None:
    fam = store.structure().families["drills"]
    store.put_structure("family", [fam.model_copy(update={"requirements": {
        "ecommerce": ecommerce, "print": print_ if print_ is not None else ["sku"]}})])


def put(store: Store, identifier: str, **values: Any) -> None:
    store.upsert_products([Product(identifier=identifier, family="drills", values={"sku": identifier, **values},
                                   source=Provenance(source="test", at=datetime.now(UTC)))])


def upload(store: Store, assets: LocalAssetStore, data: bytes, name: str) -> str:
    """What the product page's upload does: ingest the bytes; the value becomes `sha256:<hex>`."""
    row = ingest_bytes(store, data, name, asset_store=assets)
    assert row["status"] == "valid"
    return f"sha256:{row['sha256']}"


def scores(store: Store, identifier: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
    return {(r["channel"], r["locale"]): (r["ratio"], list(r["missing"])) for r in stored_completeness(store, identifier)}


def test_text_typed_into_an_image_field_does_not_fill_it(tiny_store: Store, assets: LocalAssetStore) -> None:
    drills(tiny_store, ["sku", "picture"])
    photo = upload(tiny_store, assets, images.png(600, 600), "photo.png")
    put(tiny_store, "typed", picture="my photo.jpg")
    put(tiny_store, "uploaded", picture=photo)
    assert scores(tiny_store, "typed")[("ecommerce", "en_US")] == (50, ["picture"])
    assert scores(tiny_store, "uploaded")[("ecommerce", "en_US")] == (100, [])


def test_an_image_below_a_channels_rules_fills_it_only_on_the_other_channels(tiny_store: Store, pim_env: Path,
                                                                             assets: LocalAssetStore) -> None:
    rules(pim_env, min_width=500, min_height=500)
    drills(tiny_store, ["sku", "picture"], ["sku", "picture"])
    put(tiny_store, "tiny", picture=upload(tiny_store, assets, images.png(120, 120), "tiny2.png"))
    got = scores(tiny_store, "tiny")
    assert got[("ecommerce", "en_US")] == (50, ["picture"])
    assert got[("print", "de_DE")] == (100, [])


def test_an_image_ingested_after_the_import_that_named_it_fills_it_at_once(tiny_store: Store, tmp_path: Path,
                                                                           assets: LocalAssetStore) -> None:
    drills(tiny_store, ["sku", "picture"])
    upload(tiny_store, assets, images.png(600, 600), "earlier.png")  # the media area is in use
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "front.png").write_bytes(images.png(700, 700))
    put(tiny_store, "later", picture="front.png")
    assert scores(tiny_store, "later")[("ecommerce", "en_US")] == (50, ["picture"])
    counts = ingest(tiny_store, [("front.png", "erp")], asset_store=assets, base_dir=folder)
    assert rescore_products_using(tiny_store, counts) == 1
    assert scores(tiny_store, "later")[("ecommerce", "en_US")] == (100, [])


def test_a_change_of_a_channels_image_rules_rescores_the_families_requiring_an_image(
        tiny_store: Store, pim_env: Path, assets: LocalAssetStore) -> None:
    from media.channel_rules import settle
    from pim import rescore_jobs
    from pim.gate import evaluate

    rules(pim_env, min_width=500, min_height=500)
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "small", picture=upload(tiny_store, assets, images.png(120, 120), "small.png"))
    assert settle(tiny_store) == []  # the first call remembers the rules the scores were computed with
    assert scores(tiny_store, "small")[("ecommerce", "en_US")] == (50, ["picture"])
    rules(pim_env, min_width=100, min_height=100)
    product = tiny_store.get_product("small")
    [(_, reasons)] = list(evaluate(tiny_store, tiny_store.structure(), "ecommerce", [product]))
    assert reasons == []  # the gate queued the rescore and scores the family itself until it ran
    [job] = [j for j in rescore_jobs.family_jobs(tiny_store, "drills") if j["status"] == "queued"]
    assert job["counts"]["channels"] == ["ecommerce"]
    rescore_jobs.run(tiny_store, job["id"])
    assert scores(tiny_store, "small")[("ecommerce", "en_US")] == (100, [])
    assert settle(tiny_store) == []


def test_a_full_rebuild_scores_images_by_the_channels_rules_and_queues_no_rescore(tiny_store: Store, pim_env: Path,
                                                                                   assets: LocalAssetStore) -> None:
    from media.channel_rules import settle
    from pim.completeness_rebuild import rebuild

    rules(pim_env, min_width=500, min_height=500)
    drills(tiny_store, ["sku", "picture"], ["sku", "picture"])
    put(tiny_store, "small", picture=upload(tiny_store, assets, images.png(120, 120), "small.png"))
    put(tiny_store, "typed", picture="front.jpg")
    settle(tiny_store)
    incremental = scores(tiny_store, "small"), scores(tiny_store, "typed")
    assert rebuild(tiny_store, workers=1) == 2
    assert (scores(tiny_store, "small"), scores(tiny_store, "typed")) == incremental
    assert incremental[0][("ecommerce", "en_US")] == (50, ["picture"]) and incremental[0][("print", "de_DE")] == (100, [])
    assert incremental[1][("print", "de_DE")] == (50, ["picture"])
    rules(pim_env, min_width=100, min_height=100)
    rebuild(tiny_store, workers=1)  # scores with the new rules: nothing is left to a rescore job
    assert scores(tiny_store, "small")[("ecommerce", "en_US")] == (100, [])
    assert settle(tiny_store) == []


# ---------------------------------------------------------------------------------------------- web
def text_of(page: str, css_class: str) -> str:
    found = re.search(rf'<[a-z0-9]+ class="{css_class}"[^>]*>(.*?)</(?:p|small|span|h3)>', page, re.S)
    assert found, f"no .{css_class} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def test_the_product_page_says_why_an_image_does_not_count(tiny_store: Store, pim_env: Path,
                                                           assets: LocalAssetStore) -> None:
    rules(pim_env, min_width=500, min_height=500)
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "small", picture=upload(tiny_store, assets, images.png(120, 120), "tiny2.png"))
    put(tiny_store, "typed", picture="my photo.jpg")
    web, _ = admin_client(tiny_store)
    small = web.get("/products/small?channel=ecommerce&locale=en_US").text
    assert text_of(small, "why") == "(image too small for ecommerce (120×120 < 500×500))"
    typed = web.get("/products/typed?channel=ecommerce&locale=en_US").text
    assert text_of(typed, "why").startswith("(image not uploaded")


def test_the_dashboard_says_how_many_to_do_items_it_shows_and_links_to_the_rest(tiny_store: Store) -> None:
    drills(tiny_store, ["sku", "name", "description", "weight"])
    put(tiny_store, "d1")
    web, _ = admin_client(tiny_store)
    page = web.get("/dashboard?channel=ecommerce&todo=2").text
    items = re.findall(r'<ul class="todo">(.*?)</ul>', page, re.S)[0].count("<li")
    total = 5  # name and description on two locales each, weight (not localizable) once
    assert items == 2
    assert text_of(page, "todo-more").startswith(f"2 of {total} to-do items shown")
    assert "/dashboard?channel=ecommerce&amp;todo=all" in page
    everything = web.get("/dashboard?channel=ecommerce&todo=all").text
    assert re.findall(r'<ul class="todo">(.*?)</ul>', everything, re.S)[0].count("<li") == total
    assert 'class="todo-more"' not in everything


def test_the_dashboard_lists_a_non_localizable_attribute_once_with_the_locales_it_blocks(tiny_store: Store) -> None:
    drills(tiny_store, ["sku", "name", "weight"])
    put(tiny_store, "d1")
    web, _ = admin_client(tiny_store)
    page = web.get("/dashboard?channel=ecommerce").text
    todo = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", li)).split())
            for li in re.findall(r"<li[^>]*>(.*?)</li>", re.findall(r'<ul class="todo">(.*?)</ul>', page, re.S)[0], re.S)]
    assert [t for t in todo if " weight " in t] == [
        "1 products in family drills miss weight (de_DE, en_US) for ecommerce CSV to fill in"
        " (fill in an amount and a unit, e.g. 12.5 KILOGRAM)"]
    assert len([t for t in todo if " name " in t]) == 2  # localizable: one item per locale


def test_the_product_page_shows_the_current_gate_verdict_and_dates_the_last_publishs(tiny_store: Store) -> None:
    from pim.gate import record_decisions

    drills(tiny_store, ["sku", "description"], ["sku"])
    put(tiny_store, "p5")
    record_decisions(tiny_store, "ecommerce", [("p5", ["completeness:en_US:50<100", "missing:description:en_US"])])
    put(tiny_store, "p5", **{"description:en_US@ecommerce": "Now described", "description:de_DE@ecommerce": "Beschrieben"})
    web, _ = admin_client(tiny_store)
    page = web.get("/products/p5?channel=ecommerce&locale=en_US").text
    gate = re.findall(r'<li data-channel="ecommerce">(.*?)</li>', page, re.S)[0]
    now = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", gate)).split())
    assert now.startswith("ecommerce: passes (now, from the current scores)")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f"ecommerce at the last publish, {today}" in now
    assert now.endswith("blocked — completeness:en_US:50<100, missing:description:en_US")
