"""`pim search drop`: a channel's indexes deleted where its pushes went (the Meilisearch contract double over
real HTTP, and an output folder), its push state forgotten (one locale's alone with --locale: the next push
rebuilds that index and stays incremental for the others), and the channels page's blockers lifted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from channels.search import save_state
from channels.search_documents import document_id
from pim.channel_usage import delete_blockers, removal_blockers
from pim.errors import InputError
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, load_catalog, publish_search, variant

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"


def cli(*args: str, input: str | None = None) -> Any:
    from pim.cli import _mount, app

    _mount()
    return CliRunner().invoke(app, ["search", "drop", *args], input=input)


def sync_targets(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [str(t) for t in conn.execute(text("SELECT target FROM search_sync ORDER BY target")).scalars()]


def sync_locales(store: Store) -> dict[str, list[str] | None]:
    """target → the locales its push state records (None: unknown)."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT target, locales FROM search_sync")).all()
    return {str(t): orjson.loads(loc) if loc else None for t, loc in rows}


def modes(result: Any) -> dict[str, tuple[str, int]]:
    """index → (mode, documents) of a push."""
    return {a.meta["index"]: (a.meta["mode"], a.rows) for a in result.artifacts if a.meta["kind"] == "documents"}


def without_german(store: Store) -> list[str]:
    s = store.structure()
    old = s.channels["ecommerce"]
    return removal_blockers(store, s, old, old.model_copy(update={"locales": ["en_US"]}))


def create_index(meili: ServedDouble, uid: str) -> None:
    r = httpx.post(meili.url + "/indexes", json={"uid": uid, "primaryKey": "id"},
                   headers={"Authorization": f"Bearer {meili.master_key}"})
    task = r.json()["taskUid"]
    while meili.double.tasks[task]["status"] in ("enqueued", "processing"):
        time.sleep(0.005)


@pytest.fixture
def pushed(store: Store, meili_env: ServedDouble, tmp_path: Path) -> Store:
    """The search catalog pushed to the double (en_US and de_DE indexes), and another channel's push state."""
    load_catalog(store)
    publish_search(store, tmp_path / "out")
    save_state(store, f"meili:{meili_env.url}|products|b2b", 3, "s", "t")
    return store


def test_dropping_one_locale_deletes_its_index_and_lets_the_locale_leave(pushed: Store, meili_env: ServedDouble,
                                                                        tmp_path: Path) -> None:
    create_index(meili_env, f"{DE}_build")  # what a crashed full rebuild leaves
    [blocker] = without_german(pushed)
    assert blocker.endswith("; delete it with `pim search drop --channel ecommerce --locale de_DE`")
    result = cli("--channel", "ecommerce", "--locale", "de_DE", "--yes", "--json")
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.output)
    assert out["targets"] == [{"target": f"meili:{meili_env.url}", "prefix": "products", "dropped": [DE, f"{DE}_build"]}]
    assert set(meili_env.double.indexes) == {EN}
    # only ecommerce's German index is forgotten: its English one stays recorded, b2b's push is untouched
    assert sync_locales(pushed) == {f"meili:{meili_env.url}|products|ecommerce": ["en_US"],
                                    f"meili:{meili_env.url}|products|b2b": None}
    assert without_german(pushed) == []
    [still] = [b for b in delete_blockers(pushed, pushed.structure(), "ecommerce") if "search target" in b]
    assert still.startswith("1 search target holds its indexes")
    english = meili_env.double.indexes[EN]
    pushed.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    before = len(meili_env.double.tasks)
    again = publish_search(pushed, tmp_path / "out")  # German rebuilt in full, English sent the change alone
    assert modes(again) == {EN: ("incremental", 1), DE: ("full", 3)}
    assert {a.meta["reason"] for a in again.artifacts if a.meta["index"] == DE} == {
        "its index was dropped since the last push to this target (pim search drop)"}
    new = [t for uid, t in meili_env.double.tasks.items() if uid >= before]
    assert [t["details"]["swaps"] for t in new if t["type"] == "indexSwap"] == [[{"indexes": [DE, f"{DE}_build"]}]]
    assert meili_env.double.indexes[EN] is english and english.documents["HP-100-RED"]["text"] == {"material": "canvas"}
    assert set(meili_env.double.indexes) == {EN, DE} and len(meili_env.double.indexes[DE].documents) == 3
    assert sync_locales(pushed)[f"meili:{meili_env.url}|products|ecommerce"] == ["en_US", "de_DE"]
    assert modes(publish_search(pushed, tmp_path / "out")) == {EN: ("incremental", 0), DE: ("incremental", 0)}


def test_after_one_locale_is_dropped_deletes_reach_only_the_incremental_indexes(pushed: Store, meili_env: ServedDouble,
                                                                               tmp_path: Path) -> None:
    """The rebuild reads every product: the English index is still sent only what changed since its last push,
    and deleted only what was deleted or newly blocked since (not every product the gate blocks)."""
    from tests.search_data import cable

    pushed.upsert_products([variant("HP-100-BLK", "black").model_copy(update={"enabled": False})])
    publish_search(pushed, tmp_path / "out")  # the black headphones leave both indexes
    assert cli("--channel", "ecommerce", "--locale", "de_DE", "--yes").exit_code == 0
    # the gate blocks the cable from now on, in both locales (round 37: a German name alone missing would keep it
    # in the English index: tests/test_search_locales_r37k.py)
    pushed.upsert_products([cable(**{"name:de_DE": None, "name:en_US": None})])
    before = len(meili_env.double.tasks)
    result = publish_search(pushed, tmp_path / "out")
    assert modes(result) == {EN: ("incremental", 0), DE: ("full", 1)}
    assert set(result.blocked) == {"HP-100-BLK", CABLE}
    [deletes] = [a for a in result.artifacts if a.meta["kind"] == "deletes"]
    assert (deletes.meta["index"], deletes.rows) == (EN, 1)  # the cable, not the black headphones again
    deleted = [t for uid, t in meili_env.double.tasks.items() if uid >= before and t["type"] == "documentDeletion"]
    assert [(t["indexUid"], t["details"]["providedIds"]) for t in deleted] == [(EN, 1)]
    assert {d["sku"] for d in meili_env.double.indexes[EN].documents.values()} == {"HP-100-RED"}
    assert {d["sku"] for d in meili_env.double.indexes[DE].documents.values()} == {"HP-100-RED"}


def test_dropping_a_channel_at_every_target_lets_it_be_deleted(store: Store, meili_env: ServedDouble,
                                                               tmp_path: Path) -> None:
    load_catalog(store)
    publish_search(store, tmp_path / "server")
    publish_search(store, tmp_path / "folder", exporter="local")  # a folder target beside the server
    folder = (tmp_path / "folder").resolve()
    assert (folder / "search" / EN / "documents.ndjson").is_file()
    [search] = [b for b in delete_blockers(store, store.structure(), "ecommerce") if "search target" in b]
    assert search.startswith("2 search targets hold its indexes")
    assert search.endswith("; delete them with `pim search drop --channel ecommerce`")
    refused = cli("--channel", "ecommerce", input="n\n")
    assert refused.exit_code == 1 and f"meili:{meili_env.url}: {EN}, {DE}" in refused.output
    assert set(meili_env.double.indexes) == {EN, DE} and len(sync_targets(store)) == 2  # nothing happened
    before = len(meili_env.double.tasks)
    done = cli("--channel", "ecommerce", input="y\n")
    assert done.exit_code == 0, done.output
    assert "the channel can be deleted" in done.output
    assert meili_env.double.indexes == {} and sync_targets(store) == []
    assert not (folder / "search" / EN).exists() and not (folder / "search" / DE).exists()
    assert [b for b in delete_blockers(store, store.structure(), "ecommerce") if "search target" in b] == []
    gone = [t for uid, t in meili_env.double.tasks.items() if uid >= before and t["type"] == "indexDeletion"]
    assert {t["indexUid"] for t in gone} == {EN, DE} and {t["status"] for t in gone} == {"succeeded"}


def test_a_folder_target_loses_only_the_files_its_pushes_wrote(store: Store, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    out = tmp_path / "out"
    publish_search(store, out)  # no server: the files and a manifest
    (out / "search" / "README.txt").write_text("kept")
    one = cli("--channel", "ecommerce", "--locale", "de_DE", "--target", str(out), "--yes")
    assert one.exit_code == 0, one.output
    assert "de_DE can leave ecommerce now." in " ".join(one.output.split())
    assert not (out / "search" / DE).exists() and (out / "search" / EN / "documents.ndjson").is_file()
    manifest = orjson.loads((out / "search" / "manifest.json").read_bytes())
    assert [i["uid"] for i in manifest["indexes"]] == [EN]
    target = f"files:{out.resolve()}|products|ecommerce"
    assert sync_locales(store) == {target: ["en_US"]}  # the English index stays recorded
    store.delete_products([CABLE])
    result = publish_search(store, out)  # the German files in full, the English ones what changed
    assert modes(result) == {EN: ("incremental", 0), DE: ("full", 2)}
    manifest = orjson.loads((out / "search" / "manifest.json").read_bytes())
    assert {i["uid"]: (i["mode"], i["documents"]) for i in manifest["indexes"]} == {EN: ("incremental", 0), DE: ("full", 2)}
    assert orjson.loads((out / "search" / EN / "deletes.json").read_bytes()) == [document_id(CABLE)]
    assert not (out / "search" / DE / "deletes.json").exists()
    assert len((out / "search" / DE / "documents.ndjson").read_bytes().splitlines()) == 2
    assert sync_locales(store) == {target: ["en_US", "de_DE"]}
    # A forgotten target is still reached by naming it.
    assert cli("--channel", "ecommerce", "--target", str(out), "--yes").exit_code == 0
    assert sync_targets(store) == []
    publish_search(store, out)
    rest = cli("--channel", "ecommerce", "--locale", "en_US", "--target", str(out), "--yes", "--json")
    assert orjson.loads(rest.output)["targets"][0]["dropped"] == [EN]
    assert sync_locales(store) == {target: ["de_DE"]}
    with store.begin() as conn:  # forgotten some other way (a restored database)
        conn.execute(text("DELETE FROM search_sync"))
    rest = cli("--channel", "ecommerce", "--target", str(out), "--yes", "--json")
    assert rest.exit_code == 0, rest.output
    assert orjson.loads(rest.output)["targets"][0]["dropped"] == [DE]
    assert not (out / "search" / "manifest.json").exists() and not (out / "search" / DE).exists()
    assert (out / "search" / "README.txt").read_text() == "kept"


def test_an_index_already_gone_is_no_error_and_json_needs_yes(pushed: Store, meili_env: ServedDouble) -> None:
    asked = cli("--channel", "ecommerce", "--json")
    assert isinstance(asked.exception, InputError) and "add --yes" in (asked.exception.hint or "")
    assert set(meili_env.double.indexes) == {EN, DE}
    del meili_env.double.indexes[EN]  # someone deleted it by hand
    result = cli("--channel", "ecommerce", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["targets"][0]["dropped"] == [DE]
    assert meili_env.double.indexes == {}
    nothing = cli("--channel", "ecommerce", "--yes")
    assert nothing.exit_code == 0 and "nothing to drop" in nothing.output


def test_dropping_a_locale_at_one_target_names_the_targets_still_holding_it(store: Store, meili_env: ServedDouble,
                                                                           tmp_path: Path) -> None:
    load_catalog(store)
    publish_search(store, tmp_path / "server")
    publish_search(store, tmp_path / "folder", exporter="local")
    folder = (tmp_path / "folder").resolve()
    done = cli("--channel", "ecommerce", "--locale", "de_DE", "--target", str(folder), "--yes")
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert f"files:{folder}: deleted {DE}; the push state of its de_DE index is forgotten." in said
    assert f"meili:{meili_env.url} still holds ecommerce's de_DE index (not named by --target)." in said
    assert sync_locales(store) == {f"files:{folder}|products|ecommerce": ["en_US"],
                                   f"meili:{meili_env.url}|products|ecommerce": ["en_US", "de_DE"]}
    [blocker] = without_german(store)  # the server's German index still keeps de_DE on the channel
    assert blocker.startswith(f"1 search target holds its de_DE index, which no push would update or remove ({DE} at meili:")
