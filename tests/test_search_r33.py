"""Round 33: the search folder's load.sh sends documents in parts under the exporter's batch limit (run by bash
against the Meilisearch double), `pim search mark-loaded` for payloads loaded with other tooling, a publish
warning while pending/ grows, and a publish's mode in `pim jobs list`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from exporters.meili_push import ndjson_batches, ndjson_spans
from pim.cli import _mount
from pim.cli import app as cli
from pim.errors import InputError
from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, load_catalog, publish_search, variant

pytestmark = pytest.mark.backends("sqlite")  # files and a script: the database is only where the catalog sits
EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"
_mount()


@pytest.fixture
def folder(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    """The search catalog, published to an output folder (no MEILI_URL)."""
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    return store, tmp_path / "out"


def run_load_sh(out: Path, meili: ServedDouble) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEILI_")}
    env.update(MEILI_URL=meili.url, MEILI_MASTER_KEY=meili.master_key)
    return subprocess.run(["bash", str(out / "search" / "load.sh")], env=env, capture_output=True, text=True,
                          timeout=120)


def manifest(out: Path) -> dict[str, Any]:
    return orjson.loads((out / "search" / "manifest.json").read_bytes())


def adds(meili: ServedDouble, uid: str) -> list[dict[str, Any]]:
    return [t for t in meili.double.tasks.values() if t["type"] == "documentAdditionOrUpdate" and t["indexUid"] == uid]


# ---------------------------------------------------------------- documents in parts
def test_spans_are_the_batches_as_byte_ranges_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "documents.ndjson"
    lines = [b'{"id":"%d","pad":"%s"}\n' % (n, b"x" * (n * 7)) for n in range(12)]
    path.write_bytes(b"".join(lines[:5]) + b"\n" + b"".join(lines[5:]))  # a blank line inside
    raw, limit = path.read_bytes(), 120
    spans = list(ndjson_spans(path, limit))
    assert len(spans) > 3 and [s[2] for s in spans] == list(ndjson_batches(path, limit))
    assert [line for _, _, batch in spans for line in batch] == lines
    for offset, size, batch in spans:
        assert [x + b"\n" for x in raw[offset:offset + size].split(b"\n") if x.strip()] == batch
        assert size <= limit or len(batch) == 1


def test_load_sh_sends_documents_in_parts_under_the_batch_limit_pending_runs_too(
        folder: tuple[Store, Path], meili: ServedDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    store, out = folder
    monkeypatch.setenv("MEILI_BATCH_BYTES", "700")  # one document is ~500 bytes, two are not
    meili.double.document_payload_limit = 700  # one request with more than one document is refused (413)
    publish_search(store, out, full=True)  # not loaded: kept under pending/ by the next run
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)
    [full] = manifest(out)["pending"]
    assert all(len(e["document_parts"]) == 3 for e in full["indexes"])
    done = run_load_sh(out, meili)
    assert done.returncode == 0, done.stderr
    assert len(adds(meili, f"{EN}_build")) == len(adds(meili, f"{DE}_build")) == 3  # one task per part
    assert all(t["status"] == "succeeded" for uid in (EN, DE) for t in adds(meili, f"{uid}_build") + adds(meili, uid))
    docs = {d["sku"]: d for d in meili.double.indexes[EN].documents.values()}
    assert set(docs) == {"HP-100-RED", "HP-100-BLK", CABLE} and docs["HP-100-RED"]["text"] == {"material": "canvas"}
    assert len(meili.double.indexes[DE].documents) == 3
    assert not (out / "search" / "manifest.json").exists() and not (out / "search" / "pending").exists()


def test_load_sh_refuses_parts_of_a_documents_file_changed_since_the_publish(
        folder: tuple[Store, Path], meili: ServedDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    store, out = folder
    monkeypatch.setenv("MEILI_BATCH_BYTES", "700")
    publish_search(store, out, full=True)
    documents = out / "search" / EN / "documents.ndjson"
    documents.write_bytes(b'{"id":"x","sku":"x"}\n' + documents.read_bytes())
    refused = run_load_sh(out, meili)
    assert refused.returncode != 0
    assert "not the" in refused.stderr and "written by the publish" in refused.stderr and "--full" in refused.stderr
    assert adds(meili, f"{EN}_build") == []


# ---------------------------------------------------------------- loaded with other tooling
def test_mark_loaded_does_what_load_sh_does_at_its_end(folder: tuple[Store, Path], pim_env: Path) -> None:
    store, _ = folder
    out = pim_env / "out"  # the default output folder, as pim publish and mark-loaded use it
    publish_search(store, out)
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    publish_search(store, out)
    assert (out / "search" / "pending").is_dir()
    asked = CliRunner().invoke(cli, ["search", "mark-loaded", "--json"])
    assert isinstance(asked.exception, InputError) and "add --yes" in (asked.exception.hint or "")
    assert (out / "search" / "manifest.json").exists()
    done = CliRunner().invoke(cli, ["search", "mark-loaded", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["marked"] and [r["indexes"] for r in report["runs"]] == [[EN, DE], [EN, DE]]
    assert report["pending_bytes"] > 0
    assert not (out / "search" / "manifest.json").exists() and not (out / "search" / "pending").exists()
    store.upsert_products([variant("HP-100-BLK", "black", material="vinyl")])
    publish_search(store, out)
    assert manifest(out)["pending"] == []  # nothing kept aside after the mark
    again = CliRunner().invoke(cli, ["search", "mark-loaded", "--yes"])
    assert again.exit_code == 0 and "marked loaded" in " ".join(again.stdout.split())


def test_mark_loaded_says_when_there_is_nothing_to_mark_or_no_search_output(folder: tuple[Store, Path],
                                                                          tmp_path: Path) -> None:
    store, out = folder
    missing = CliRunner().invoke(cli, ["search", "mark-loaded", "--folder", str(tmp_path / "none"), "--yes"])
    assert isinstance(missing.exception, InputError) and "no search/ folder" in str(missing.exception)
    (out / "search").mkdir(parents=True)
    nothing = CliRunner().invoke(cli, ["search", "mark-loaded", "--folder", str(out), "--json"])
    assert nothing.exit_code == 0, nothing.output
    assert json.loads(nothing.stdout)["marked"] is False


def test_a_publish_warns_while_pending_grows_naming_its_size_and_mark_loaded(
        folder: tuple[Store, Path], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import exporters.meili_embedded as embedded

    store, out = folder
    monkeypatch.setattr(embedded, "PENDING_WARN_RUNS", 2)
    with caplog.at_level(logging.WARNING, logger="pim.search"):
        publish_search(store, out)
        for material in ("canvas", "vinyl"):
            assert [r for r in caplog.records if r.name == "pim.search"] == []
            store.upsert_products([variant("HP-100-RED", "red", material=material)])
            publish_search(store, out)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pim.search"]
    assert "2 earlier publishes" in warning and " MB)" in warning
    assert f"pim search mark-loaded --folder {out}" in warning and "load.sh" in warning


# ---------------------------------------------------------------- a publish's mode
def test_jobs_list_shows_a_search_publish_mode(folder: tuple[Store, Path]) -> None:
    assert CliRunner().invoke(cli, ["publish", "--channel", "search"]).exit_code == 0
    listed = CliRunner().invoke(cli, ["jobs", "list", "--kind", "publish"])
    assert listed.exit_code == 0, listed.output
    assert "mode full" in " ".join(listed.stdout.split())
