"""The push state's locales (migration 0031): a state pushed before is expanded to its channel's locales and
stays incremental; one whose locales are unknown rebuilds, counts as holding every locale on the channels
page, and is forgotten whole by a drop of one locale."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text

from channels.search import forget
from pim.channel_usage import removal_blockers, search_targets
from pim.store import Store
from pim.store.database import alembic_config
from tests.meili_double import ServedDouble
from tests.search_data import load_catalog, publish_search, variant

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"


def sync_locales(store: Store) -> dict[str, list[str] | None]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT target, locales FROM search_sync")).all()
    return {str(t): orjson.loads(loc) if loc else None for t, loc in rows}


def modes(result: Any) -> dict[str, str]:
    return {a.meta["index"]: a.meta["mode"] for a in result.artifacts if a.meta["kind"] == "documents"}


def before_0031(store: Store) -> None:
    """The search branch as it was before migration 0031 (the other branches stay at their heads)."""
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0031_search_sync_locales@-1")


def test_a_state_pushed_before_is_expanded_to_its_channel_locales(store: Store, meili_env: ServedDouble,
                                                                  tmp_path: Path) -> None:
    load_catalog(store)
    publish_search(store, tmp_path)
    pushed = f"meili:{meili_env.url}|products|ecommerce"
    before_0031(store)
    with store.engine.connect() as conn:
        assert "locales" not in {c["name"] for c in sa.inspect(conn).get_columns("search_sync")}
    old = sa.table("search_sync", sa.column("target"), sa.column("watermark"), sa.column("shape_hash"),
                   sa.column("settings_hash"), sa.column("updated_at"))
    gone = "files:/srv/out|products|retired"  # a channel deleted some other way
    with store.begin() as conn:
        conn.execute(sa.insert(old).values(target=gone, watermark=1, shape_hash="s", settings_hash="t",
                                           updated_at=datetime(2026, 1, 1, tzinfo=UTC)))
    store.migrate()
    assert sync_locales(store) == {pushed: ["en_US", "de_DE"], gone: None}
    store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
    result = publish_search(store, tmp_path)
    assert modes(result) == {EN: "incremental", DE: "incremental"}
    assert {a.rows for a in result.artifacts if a.meta["kind"] == "documents"} == {1}
    with store.engine.connect() as conn:
        [retired] = search_targets(conn, "retired")
    assert retired.locales is None and retired.holds("fr_FR")  # unknown: it may hold any locale's index


def test_a_state_whose_locales_are_unknown_rebuilds_and_blocks_every_locale(store: Store, meili_env: ServedDouble,
                                                                            tmp_path: Path) -> None:
    load_catalog(store)
    publish_search(store, tmp_path)
    target = f"meili:{meili_env.url}|products|ecommerce"
    with store.begin() as conn:
        conn.execute(text("UPDATE search_sync SET locales = NULL"))
    s = store.structure()
    old = s.channels["ecommerce"]
    [blocker] = removal_blockers(store, s, old, old.model_copy(update={"locales": ["en_US"]}))
    assert "holds its de_DE index" in blocker
    forget(store, target, "de_DE")  # what `pim search drop --locale de_DE` does after deleting the index
    assert sync_locales(store) == {}  # nothing known to keep: forgotten whole, as before 0031
    publish_search(store, tmp_path)
    with store.begin() as conn:
        conn.execute(text("UPDATE search_sync SET locales = NULL"))
    result = publish_search(store, tmp_path)
    assert modes(result) == {EN: "full", DE: "full"}
    assert {a.meta["reason"] for a in result.artifacts} == {
        "the target's push state does not say which locales' indexes it holds"}
    assert sync_locales(store) == {target: ["en_US", "de_DE"]}
