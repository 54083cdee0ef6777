"""Round 36 (C1): image completeness after an upgrade and before the media area is in use.

- The first image-rules check on a catalog scored before that check (an upgrade; migration
  0050_media_rules_fresh tells it from a new catalog) queues the rescore of the families requiring an image
  when media is in use by then: nobody has to run `pim gate rescore` by hand. The rescore sends again only the
  products whose ratio moved (delta feeds stay proportional).
- `pim doctor` notes image values that count as filled unchecked because the media area is not in use yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from media.store_local import LocalAssetStore
from pim import rescore_jobs
from pim.catalog_doctor import diagnose
from pim.completeness import report
from pim.store import Store
from pim.store.database import alembic_config
from pim.store.store import PRODUCT
from tests import images
from tests.test_completeness_images_r35 import drills, put, scores, upload

LABELS = "structure labels missing"  # round 37: pim doctor also notes a locale lacking labels (pim.label_gaps)


@pytest.fixture
def assets(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(PRODUCT.c.identifier, PRODUCT.c.seq)).all())


def _upgrade(store: Store) -> None:
    """The media branch as before this round, then upgraded with scores stored: a catalog of an older release
    on which no image-rules check ran (`media_rules` unrecorded)."""
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0032_rejected_asset")
        conn.execute(sa.text("DELETE FROM sequence WHERE name LIKE 'media_rules%'"))
    store.migrate()


def test_the_first_check_after_an_upgrade_queues_the_rescore_an_image_now_needs(
        tiny_store: Store, assets: LocalAssetStore) -> None:
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "typed", picture="nowhere.jpg")  # scored while any text counted
    put(tiny_store, "plain")  # no picture: incomplete before and after
    assert scores(tiny_store, "typed")[("ecommerce", "en_US")] == (100, [])
    put(tiny_store, "uploaded", picture=upload(tiny_store, assets, images.png(600, 600), "front.png"))
    _upgrade(tiny_store)
    before = _seqs(tiny_store)
    report(tiny_store, "ecommerce")  # the first check: the dashboard, `pim gate report`, a publish
    [job] = [j for j in rescore_jobs.family_jobs(tiny_store, "drills") if j["status"] == "queued"]
    assert "ecommerce" in job["counts"]["channels"]
    rescore_jobs.run(tiny_store, job["id"])
    assert scores(tiny_store, "typed")[("ecommerce", "en_US")] == (50, ["picture"])
    after = _seqs(tiny_store)
    assert {p for p in after if after[p] != before[p]} == {"typed"}  # only the product whose ratio moved
    report(tiny_store, "ecommerce")
    assert [j for j in rescore_jobs.family_jobs(tiny_store, "drills") if j["status"] == "queued"] == []


def test_a_catalog_without_scores_at_its_upgrade_takes_them_as_scored_without_media(
        tiny_store: Store, assets: LocalAssetStore) -> None:
    """Its scores are all this release's, computed before media came into use: a first check with media still
    out of use queues nothing (and is not taken for an upgrade's); the first upload then queues the rescore
    (review M2: the fresh marker used to record whatever the first check found)."""
    from media.channel_rules import settle

    cfg = alembic_config()
    with tiny_store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0032_rejected_asset")
    tiny_store.migrate()  # no completeness row yet: marked fresh
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "typed", picture="nowhere.jpg")
    assert settle(tiny_store) == []
    put(tiny_store, "uploaded", picture=upload(tiny_store, assets, images.png(600, 600), "front.png"))
    assert len(settle(tiny_store)) == 1
    assert settle(tiny_store) == []


def test_doctor_notes_image_values_counted_unchecked_before_media_is_in_use(
        tiny_store: Store, assets: LocalAssetStore) -> None:
    from pim.cli import _mount, app

    _mount()
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "typed", picture="nowhere.jpg")
    put(tiny_store, "linked", picture="https://images.example.com/a.jpg")  # a URL counts even once media is in use
    [note] = [f for f in diagnose(tiny_store) if f.note and not f.kind.startswith(LABELS)]
    assert (note.count, note.shown) == (1, ["typed nowhere.jpg"])
    assert "pim media ingest" in note.advice and "points at nothing" in note.advice
    done = CliRunner().invoke(app, ["doctor", "--json"])
    assert done.exit_code == 0, done.output  # a note alone leaves the catalog clean
    assert [f["kind"] for f in json.loads(done.stdout) if not f["kind"].startswith(LABELS)] == [note.kind]
    upload(tiny_store, assets, images.png(600, 600), "front.png")  # the media area is in use: values are checked
    assert [f for f in diagnose(tiny_store) if f.note and not f.kind.startswith(LABELS)] == []
