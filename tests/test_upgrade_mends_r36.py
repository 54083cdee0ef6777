"""Round 36 (M2): review mends of this round's upgrade migrations.

- 0049 re-sends only the products whose delivered rows carried a bare `sha256:` ref (read from the delivered
  feed files the customer rebuilds from); a catalog whose feeds already linked (round 35) re-sends nothing; a
  contract whose files are gone from disk re-sends its held products showing an upload (the safe side).
- 0049 reserves its seqs with a row-locking UPDATE: a writer running during the upgrade (PostgreSQL) never gets
  the same seqs.
- A new catalog (0050's FRESH) takes its scores as computed with media not in use: media coming into use before
  the first image-rules check queues the rescore."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from channels.feed_row import Projector
from media.store_local import LocalAssetStore
from pim import rescore_jobs
from pim.completeness import report
from pim.feeds import deliver_contract
from pim.store import Store
from pim.store.database import alembic_config
from tests import images
from tests.feeds_data import out_dir, seed_catalog, store_contract
from tests.test_completeness_images_r35 import drills, put, scores, upload
from tests.test_feeds_asset_refs_r36c import _original, _rows, _seqs, _upgrade, _uploaded, held  # noqa: F401 (fixture)


def _image(store: Store, sku: str, ref: str) -> None:
    p = store.get_product(sku)
    assert p is not None
    store.upsert_products([p.model_copy(update={"values": {**p.values, "image": ref}})])


@pytest.fixture
def sent_bare(request: pytest.FixtureRequest) -> tuple[str, str]:
    """test_feeds_asset_refs_r36c's catalog: T2 and M1's variants delivered with bare refs (before round 35)."""
    return request.getfixturevalue("held")  # type: ignore[no-any-return]


def _moved(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {p for p in after if after[p] != before.get(p)}


# ------------------------------------------------------------------------------------------------ 0049, which
def test_a_catalog_whose_feeds_already_linked_uploads_resends_nothing(store: Store, pim_env: Path,
                                                                     tmp_path: Path) -> None:
    """Round 35: the delivered feed linked the upload; the upgrade stamps nothing, the next delta sends nothing."""
    seed_catalog(store)
    store_contract(store, mode="delta", format="jsonl")
    ref = _uploaded(store, 41)
    _image(store, "T2", ref)
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert _rows(first.file)["T2"]["attributes"]["image"] == _original(ref)  # linked, as round 35 sends it
    before = _seqs(store)
    _upgrade(store)
    assert _moved(before, _seqs(store)) == set()
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "nothing"


def test_only_products_whose_delivered_row_carried_a_bare_ref_are_resent(
        store: Store, sent_bare: tuple[str, str], tmp_path: Path) -> None:
    """T2 and M1's variants went out bare; T3's upload went out linked in a later delta: T3 is not re-sent."""
    later = _uploaded(store, 42)
    _image(store, "T3", later)
    delta = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert _rows(delta.file)["T3"]["attributes"]["image"] == _original(later)
    before = _seqs(store)
    _upgrade(store)
    assert _moved(before, _seqs(store)) == {"T2", "V-red", "V-blue"}
    again = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert set(_rows(again.file)) == {"T2", "V-red", "V-blue"}
    assert "sha256:" not in Path(again.file).read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_bare_refs_are_found_in_csv_and_xlsx_feeds(store: Store, pim_env: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    seed_catalog(store)
    store_contract(store, mode="delta", format=fmt)
    _image(store, "T2", _uploaded(store, 43))
    with monkeypatch.context() as old:
        old.setattr(Projector, "media_url", lambda self, ref: ref)  # before round 35: the value as it was
        assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "delivered"
    _image(store, "T3", _uploaded(store, 44))  # sent linked by the next delta
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "delivered"
    before = _seqs(store)
    _upgrade(store)
    assert _moved(before, _seqs(store)) == {"T2"}


def test_a_contract_whose_files_are_gone_resends_its_products_showing_an_upload(
        store: Store, sent_bare: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """What the files carried is unknown: the held products showing a ref go out again (the safe side), and the
    upgrade says so on stderr too (found upgrading: `pim init` shows no alembic log)."""
    later = _uploaded(store, 45)
    _image(store, "T3", later)
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).status == "delivered"
    for path in [p for p in out_dir(tmp_path).rglob("*") if p.is_file()]:
        path.unlink()
    before = _seqs(store)
    with caplog.at_level("WARNING"):
        _upgrade(store)
    assert _moved(before, _seqs(store)) == {"T2", "T3", "V-red", "V-blue"}
    assert "acme-tools" in caplog.text and "not on disk" in caplog.text
    assert "acme-tools" in capsys.readouterr().err


@pytest.mark.backends("postgresql")
def test_0049_counts_the_seqs_a_writer_reserved_during_the_upgrade(store: Store, sent_bare: tuple[str, str]) -> None:
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0046_feed_file_versions_all")
    writer = store.engine.connect()
    tx = writer.begin()
    got = store.next_seq(writer, 10)  # a leftover process reserves 10 seqs, not committed yet
    upgrade = threading.Thread(target=store.migrate)
    upgrade.start()
    waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    with store.engine.connect() as watch:
        for _ in range(600):  # until the upgrade waits on the writer's row lock (or the thread ended)
            if not upgrade.is_alive() or watch.execute(waiting).scalar_one():
                break
            time.sleep(0.1)
    tx.commit()
    writer.close()
    upgrade.join()
    stamped = {p: s for p, s in _seqs(store).items() if p in {"T2", "V-red", "V-blue"}}
    assert min(stamped.values()) > got + 9  # none of the writer's seqs handed out again
    assert store.current_seq() == got + 9 + len(stamped)


# ------------------------------------------------------------------------------------------------- 0050, media
@pytest.fixture
def assets(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


def _queued(store: Store) -> list[dict]:
    return [j for j in rescore_jobs.family_jobs(store, "drills") if j["status"] == "queued"]


def test_a_new_catalog_scored_before_media_came_into_use_is_rescored(tiny_store: Store,
                                                                     assets: LocalAssetStore) -> None:
    """A catalog created by this release (0050's FRESH), products scored while any text counted, then the first
    upload before any image-rules check: that check queues the rescore."""
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "typed", picture="nowhere.jpg")
    assert scores(tiny_store, "typed")[("ecommerce", "en_US")] == (100, [])
    put(tiny_store, "uploaded", picture=upload(tiny_store, assets, images.png(600, 600), "front.png"))
    report(tiny_store, "ecommerce")  # the first check
    [job] = _queued(tiny_store)
    assert "ecommerce" in job["counts"]["channels"]
    rescore_jobs.run(tiny_store, job["id"])
    assert scores(tiny_store, "typed")[("ecommerce", "en_US")] == (50, ["picture"])
    report(tiny_store, "ecommerce")
    assert _queued(tiny_store) == []


def test_a_new_catalog_checked_before_its_first_upload_is_rescored_when_media_comes_into_use(
        tiny_store: Store, assets: LocalAssetStore) -> None:
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "typed", picture="nowhere.jpg")
    report(tiny_store, "ecommerce")  # media not in use: nothing to rescore
    assert _queued(tiny_store) == []
    put(tiny_store, "uploaded", picture=upload(tiny_store, assets, images.png(600, 600), "front.png"))
    report(tiny_store, "ecommerce")
    assert len(_queued(tiny_store)) == 1
