"""Round 32: the search folder's load procedure (run by bash against the Meilisearch double), unloaded payloads
kept under pending/, a publish's mode and reason where people look, the demo leaving search incremental, and a
channel catalog's media_base_url in image links (with one warning per publish for file:// links)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from exporters.meili_ids import encode_id
from pim.cli import _mount
from pim.cli import app as cli
from pim.pipeline import publish
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.renditions import rendered_photo
from tests.search_data import CABLE, load_catalog, publish_search, variant

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"
CDN = "https://cdn.shop.example"
_mount()


@pytest.fixture
def folder(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    """The search catalog, published to an output folder (no MEILI_URL)."""
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    return store, tmp_path / "out"


def load(out: Path, meili: ServedDouble, key: str | None = None) -> subprocess.CompletedProcess[str]:
    """The manifest's load lines, run by bash in the search folder against the double."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEILI_")}
    env["MEILI_URL"] = meili.url
    if key is not None:
        env["MEILI_MASTER_KEY"] = key
    lines = orjson.loads((out / "search" / "manifest.json").read_bytes())["load"]
    return subprocess.run(["bash"], input="\n".join(lines) + "\n", cwd=out / "search", env=env, capture_output=True,
                          text=True, timeout=120)


def live(meili: ServedDouble, uid: str) -> dict[str, dict[str, Any]]:
    return {d["sku"]: d for d in meili.double.indexes[uid].documents.values()}


def manifest(out: Path) -> dict[str, Any]:
    return orjson.loads((out / "search" / "manifest.json").read_bytes())


# ---------------------------------------------------------------- the load procedure
def test_loading_a_full_payload_replaces_the_live_index_so_stale_documents_go(folder: tuple[Store, Path],
                                                                               meili: ServedDouble) -> None:
    store, out = folder
    meili.double.create_index(EN, "id")  # an index loaded before, holding a product no longer published
    meili.double.add_documents(EN, [{"id": "GONE-1", "sku": "GONE-1"}], "id", replace=True)
    publish_search(store, out, full=True)
    done = load(out, meili, meili.master_key)
    assert done.returncode == 0, done.stderr
    assert set(live(meili, EN)) == set(live(meili, DE)) == {"HP-100-RED", "HP-100-BLK", CABLE}
    assert meili.double.indexes[EN].settings["distinctAttribute"] == "group"
    assert set(meili.double.indexes) == {EN, DE}  # the _build copies went after the swap
    swaps = [t for t in meili.double.tasks.values() if t["type"] == "indexSwap"]
    assert len(swaps) == 1 and swaps[0]["status"] == "succeeded"  # both locales in one atomic swap
    assert not (out / "search" / "manifest.json").exists()  # loaded: the next publish replaces the files


def test_the_load_procedure_sends_the_key_and_stops_without_one(folder: tuple[Store, Path], meili: ServedDouble) -> None:
    store, out = folder
    publish_search(store, out)
    refused = load(out, meili)  # no MEILI_MASTER_KEY: the keyed server refuses, the script stops there
    assert refused.returncode != 0 and "missing_authorization_header" in refused.stderr
    assert "set MEILI_MASTER_KEY" in refused.stderr
    assert meili.double.indexes == {} and (out / "search" / "manifest.json").exists()
    assert load(out, meili, meili.master_key).returncode == 0
    assert set(live(meili, EN)) == {"HP-100-RED", "HP-100-BLK", CABLE}


def test_loading_changes_deletes_removed_products_and_updates_changed_ones(folder: tuple[Store, Path],
                                                                          meili: ServedDouble) -> None:
    store, out = folder
    publish_search(store, out)
    assert load(out, meili, meili.master_key).returncode == 0
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    store.delete_products([CABLE])
    publish_search(store, out)
    assert {i["uid"]: (i["mode"], i["documents"], i["deletes"]) for i in manifest(out)["indexes"]} == {
        EN: ("incremental", 1, 1), DE: ("incremental", 1, 1)}
    done = load(out, meili, meili.master_key)
    assert done.returncode == 0, done.stderr
    assert set(live(meili, EN)) == {"HP-100-RED", "HP-100-BLK"}
    assert live(meili, EN)["HP-100-RED"]["text"] == {"material": "canvas"}
    assert encode_id(CABLE) not in meili.double.indexes[DE].documents


def test_changes_are_not_loaded_into_a_missing_index(folder: tuple[Store, Path], meili: ServedDouble) -> None:
    store, out = folder
    publish_search(store, out)
    assert load(out, meili, meili.master_key).returncode == 0
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)
    del meili.double.indexes[EN]  # someone deleted it on the server
    refused = load(out, meili, meili.master_key)
    assert refused.returncode != 0 and f"index {EN} is not on" in refused.stderr and "--full" in refused.stderr
    assert EN not in meili.double.indexes  # not created holding the changes alone


# ---------------------------------------------------------------- unloaded payloads
def test_an_unloaded_full_payload_survives_a_run_with_no_changes(folder: tuple[Store, Path], meili: ServedDouble) -> None:
    store, out = folder
    publish_search(store, out)  # full, and nobody loads it
    result = publish_search(store, out)
    assert result.published == 0 and result.mode()["mode"] == "incremental"
    [kept] = manifest(out)["pending"]
    assert {i["uid"]: i["mode"] for i in kept["indexes"]} == {EN: "full", DE: "full"}
    done = load(out, meili, meili.master_key)
    assert done.returncode == 0, done.stderr
    assert set(live(meili, EN)) == set(live(meili, DE)) == {"HP-100-RED", "HP-100-BLK", CABLE}
    assert not (out / "search" / "pending").exists()
    publish_search(store, out)  # after a load nothing is kept aside
    assert manifest(out)["pending"] == [] and not (out / "search" / "pending").exists()


def test_unloaded_changes_are_loaded_in_order(folder: tuple[Store, Path], meili: ServedDouble) -> None:
    store, out = folder
    publish_search(store, out)
    assert load(out, meili, meili.master_key).returncode == 0
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)  # not loaded ...
    store.upsert_products([variant("HP-100-BLK", "black", material="vinyl")])
    store.delete_products([CABLE])
    publish_search(store, out)  # ... before this one
    done = load(out, meili, meili.master_key)
    assert done.returncode == 0, done.stderr
    docs = live(meili, EN)
    assert set(docs) == {"HP-100-RED", "HP-100-BLK"}
    assert (docs["HP-100-RED"]["text"], docs["HP-100-BLK"]["text"]) == ({"material": "canvas"}, {"material": "vinyl"})


def test_a_rebuild_makes_earlier_unloaded_payloads_moot(folder: tuple[Store, Path]) -> None:
    store, out = folder
    publish_search(store, out)
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)
    assert len(manifest(out)["pending"]) == 1
    publish_search(store, out, full=True)
    assert manifest(out)["pending"] == [] and not (out / "search" / "pending").exists()


def test_dropping_a_locale_drops_its_unloaded_payloads_and_the_rest_still_loads(folder: tuple[Store, Path],
                                                                              meili: ServedDouble) -> None:
    from exporters.meilisearch import drop_embedded

    store, out = folder
    publish_search(store, out)
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)
    assert drop_embedded(out, [DE]) == [DE]
    assert [[i["uid"] for i in run["indexes"]] for run in manifest(out)["pending"]] == [[EN]]
    assert not list((out / "search" / "pending").glob(f"*/{DE}"))
    assert DE not in (out / "search" / "load.sh").read_text()
    done = load(out, meili, meili.master_key)
    assert done.returncode == 0, done.stderr
    assert set(meili.double.indexes) == {EN} and live(meili, EN)["HP-100-RED"]["text"] == {"material": "canvas"}


def test_an_unreadable_manifest_stops_the_publish_saying_what_to_do(folder: tuple[Store, Path]) -> None:
    from pim.errors import ConfigError

    store, out = folder
    publish_search(store, out)
    (out / "search" / "manifest.json").write_text("{half", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON") as raised:
        publish_search(store, out)
    assert "--full" in (raised.value.hint or "")


# ---------------------------------------------------------------- mode and reason
def test_publish_says_its_mode_and_why_in_json_text_jobs_and_the_manifest(folder: tuple[Store, Path],
                                                                          pim_env: Path) -> None:
    store, _ = folder
    first = CliRunner().invoke(cli, ["publish", "--channel", "search", "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert (out["mode"], out["reason"]) == ("full", "first push to this target")
    listed = json.loads(CliRunner().invoke(cli, ["jobs", "list", "--kind", "publish", "--json"]).stdout)
    assert (listed[0]["counts"]["mode"], listed[0]["counts"]["reason"]) == ("full", "first push to this target")
    entries = manifest(pim_env / "out")["indexes"]
    assert {(i["mode"], i["reason"]) for i in entries} == {("full", "first push to this target")}
    again = CliRunner().invoke(cli, ["publish", "--channel", "search"])
    assert again.exit_code == 0, again.output
    text = " ".join(again.stdout.split())
    assert "mode │ incremental" in text and "why │ changes since the last push" in text


# ---------------------------------------------------------------- the demo
def test_a_search_publish_right_after_the_demo_sends_nothing(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from pim.demo import run_demo

    monkeypatch.delenv("MEILI_URL", raising=False)
    run_demo("tiny", 3, console=Console(file=io.StringIO(), width=200))
    store = Store.from_settings()
    try:
        result = publish(store, pim_env / "out", channel="search")
    finally:
        store.dispose()
    assert (result.mode()["mode"], result.published, len(result.blocked)) == ("incremental", 0, 0)


# ---------------------------------------------------------------- image links
@pytest.fixture
def rendered(store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The search catalog with a built gmc_main rendition of the red headphones' photo; no PIM_CDN_BASE_URL."""
    load_catalog(store)
    rendered_photo(store, pim_env, tmp_path, monkeypatch, channel="ecommerce", ref="img/HP-100-RED.jpg",
                   rendition={"name": "gmc_main", "max_width": 400, "max_height": 400, "format": "JPEG"})
    return store


def _catalog_copy(tmp_path: Path, channel: str, **changes: Any) -> Path:
    source = Path(__file__).resolve().parent.parent / "channels" / "catalogs" / f"{channel}.yaml"
    data = {**yaml.safe_load(source.read_text(encoding="utf-8")), **changes}
    path = tmp_path / f"{channel}_copy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _storefront_image(result: Any) -> str:
    catalog = orjson.loads(Path(next(p for p in result.locations if "en_US" in p)).read_bytes())
    return next(p["image"] for p in catalog["products"] if p["identifier"] == "HP-100-RED")


def _gmc_image(result: Any) -> str:
    from lxml import etree

    g = "{http://base.google.com/ns/1.0}"
    feed = etree.parse(next(p for p in result.locations if "en_US" in p))
    [item] = [i for i in feed.iter("item") if i.findtext(f"{g}id") == "HP-100-RED"]
    return item.findtext(f"{g}image_link")  # type: ignore[no-any-return]


def test_a_catalog_media_base_url_serves_the_built_renditions(rendered: Store, tmp_path: Path) -> None:
    for channel, image in (("google_merchant", _gmc_image), ("storefront", _storefront_image)):
        catalog = _catalog_copy(tmp_path, channel, media_base_url=CDN)
        result = publish(rendered, tmp_path / "out", channel=channel, scope="ecommerce",
                         options={"catalog": str(catalog)})
        assert image(result).startswith(f"{CDN}/renditions/"), channel


def test_file_links_warn_once_per_publish_saying_what_to_set(rendered: Store, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    rendered.upsert_products([variant(f"HP-100-X{n}", "red", image="img/HP-100-RED.jpg") for n in range(3)])
    with caplog.at_level(logging.WARNING, logger="pim.media"):
        result = publish(rendered, tmp_path / "out", channel="storefront", scope="ecommerce")
    assert _storefront_image(result).startswith("file://")
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pim.media"]
    assert "file://" in warning and "PIM_CDN_BASE_URL" in warning and "media_base_url" in warning
    caplog.clear()
    catalog = _catalog_copy(tmp_path, "storefront", media_base_url=CDN)
    with caplog.at_level(logging.WARNING, logger="pim.media"):
        publish(rendered, tmp_path / "out", channel="storefront", scope="ecommerce", options={"catalog": str(catalog)})
    assert [r for r in caplog.records if r.name == "pim.media"] == []
