"""`pim search drop`: a channel's indexes deleted where its pushes went (the Meilisearch contract double over
real HTTP, and an output folder), its push state forgotten, and the channels page's blockers lifted."""

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
from pim.channel_usage import delete_blockers, removal_blockers
from pim.errors import InputError
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import load_catalog, publish_search

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"


def cli(*args: str, input: str | None = None) -> Any:
    from pim.cli import _mount, app

    _mount()
    return CliRunner().invoke(app, ["search", "drop", *args], input=input)


def sync_targets(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [str(t) for t in conn.execute(text("SELECT target FROM search_sync ORDER BY target")).scalars()]


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
    assert sync_targets(pushed) == [f"meili:{meili_env.url}|products|b2b"]  # only ecommerce's push is forgotten
    assert without_german(pushed) == []
    again = publish_search(pushed, tmp_path / "out")  # no push state: a full rebuild of the channel's locales
    assert set(meili_env.double.indexes) == {EN, DE} and again.published == 3


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
    assert sync_targets(store) == []  # one push state for all locales: forgotten
    # Forgotten, the target is still reached by naming it.
    rest = cli("--channel", "ecommerce", "--target", str(out), "--yes", "--json")
    assert rest.exit_code == 0, rest.output
    assert orjson.loads(rest.output)["targets"][0]["dropped"] == [EN]
    assert not (out / "search" / "manifest.json").exists() and not (out / "search" / EN).exists()
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
