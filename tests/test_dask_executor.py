"""PIM_EXECUTOR=dask:<scheduler>: the fan-outs (merged imports, feed runs, renditions, the completeness rebuild)
run on a real dask.distributed cluster — a scheduler and two worker processes on loopback — and store what
the process pool stores. The cluster is the user's: a run leaves it up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from pim.errors import ConfigError
from pim.executor import make_executor
from pim.settings import reset_settings
from pim.store import Store


@pytest.fixture
def dask_address(pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A cluster whose workers started under another pim configuration (another PIM_HOME and database): each
    task must run under the PIM_* environment of the process that submits it (pim.executor.ShippedSettings)."""
    import os

    ours = {k: v for k, v in os.environ.items() if k.startswith("PIM_")}
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("PIM_HOME", str(elsewhere))
    monkeypatch.setenv("PIM_DATABASE_URL", f"sqlite:///{elsewhere / 'other.db'}")
    monkeypatch.setenv("PIM_WORKER_ONLY", "left over")
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0") as cluster:
            monkeypatch.delenv("PIM_WORKER_ONLY")
            for key, value in ours.items():
                monkeypatch.setenv(key, value)
            monkeypatch.setenv("PIM_EXECUTOR", f"dask:{cluster.scheduler_address}")
            reset_settings()
            yield cluster.scheduler_address
    finally:
        reset_settings()


def _configuration(_: object = None) -> tuple[str, str, str | None]:
    import os

    from pim.settings import get_settings

    s = get_settings()
    return str(s.home), str(s.database_url), os.environ.get("PIM_WORKER_ONLY")


def test_tasks_run_under_the_submitting_process_configuration(dask_address: str) -> None:
    from pim.settings import get_settings

    with Client(dask_address, set_as_default=False) as client:  # as the workers were started
        home, _, leftover = client.submit(_configuration, pure=False).result()
        assert home.endswith("elsewhere") and leftover == "left over"
    with make_executor(f"dask:{dask_address}") as pool:
        seen = set(pool.map(_configuration, range(4))) | {pool.submit(_configuration).result()}
    s = get_settings()
    assert seen == {(str(Path(s.home).resolve()), str(s.database_url), None)}


def _square(n: int) -> int:
    return n * n


def test_the_executor_is_a_concurrent_futures_one_and_the_cluster_stays_up(dask_address: str) -> None:
    from concurrent.futures import Future, as_completed

    with make_executor(f"dask:{dask_address}") as pool:
        assert list(pool.map(_square, range(5))) == [0, 1, 4, 9, 16]  # results, in order, not dask futures
        futures = [pool.submit(_square, 3) for _ in range(3)]  # equal arguments: three tasks, not one
        assert all(isinstance(f, Future) for f in futures)
        assert sorted(f.result() for f in as_completed(futures)) == [9, 9, 9]
    with Client(dask_address, set_as_default=False) as client:  # a Client's own shutdown() would have stopped it
        assert client.submit(_square, 4).result() == 16
        assert len(client.scheduler_info()["workers"]) == 2


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError) as err, make_executor(f"dask:tcp://127.0.0.1:{port}"):
        pass
    assert "cannot reach the dask scheduler" in str(err.value) and "PIM_EXECUTOR" in (err.value.hint or "")


def test_a_merged_import_fanned_out_on_dask_stores_what_an_in_process_one_does(store: Store, tmp_path: Path,
                                                                                  dask_address: str) -> None:
    from pim.importing import run_import
    from pim.merge import Merger
    from pim.registry import product_listeners
    from tests.source_data import PRECEDENCE
    from tests.test_import_fanout import catalog, erp_rows, state

    reference = Store(f"sqlite:///{tmp_path / 'ref.db'}", batch_size=3)
    reference.migrate()
    reference.listeners.extend(product_listeners(reference))
    catalog(reference)
    expected = run_import(reference, "erp", erp_rows(), merge=Merger(PRECEDENCE), workers=1)
    store.batch_size = 3
    catalog(store)
    counts = run_import(store, "erp", erp_rows(), merge=Merger(PRECEDENCE), workers=2, executor=f"dask:{dask_address}")
    assert counts.as_dict() == expected.as_dict() and counts.updated == 13
    assert state(store) == state(reference)
    reference.dispose()


def test_a_feed_run_on_dask_delivers_what_a_thread_run_does(store: Store, pim_env: Path, dask_address: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import delete

    from pim.contracts import put_contracts
    from pim.delivery_log import WATERMARK
    from pim.feeds import deliver_all
    from tests.feeds_data import contract, seed_catalog

    seed_catalog(store)
    put_contracts(store, [contract(code="a", format="jsonl", assortment={"rules": [{"brands": ["bosch"]}]}),
                          contract(code="b", format="jsonl")])
    on_dask = deliver_all(store).results  # round 34: a dry run keeps no file, so both runs deliver full feeds
    assert [(r["contract"], r["status"]) for r in on_dask] == [("a", "delivered"), ("b", "delivered")]
    with store.begin() as conn:
        conn.execute(delete(WATERMARK))  # the threads' run sends full feeds again, not empty deltas
    monkeypatch.setenv("PIM_EXECUTOR", "thread")
    reset_settings()
    in_threads = deliver_all(store).results
    assert [Path(r["file"]).read_text() for r in on_dask] == [Path(r["file"]).read_text() for r in in_threads]
    assert '"sku":"V-red"' in Path(on_dask[0]["file"]).read_text()


def test_media_and_the_completeness_rebuild_on_dask(store: Store, tmp_path: Path, dask_address: str) -> None:
    from sqlalchemy import select

    from media.assets import RENDITION
    from media.ingest import ingest
    from media.renditions import build_renditions
    from media.store_local import LocalAssetStore
    from pim.completeness_rebuild import rebuild
    from pim.scoring_tables import COMPLETENESS
    from tests import images
    from tests.channel_data import seed_products
    from tests.test_media_renditions import SPECS

    assets = LocalAssetStore(tmp_path / "media")
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in {"a.jpg": images.photo_jpeg(600, 400, 1), "c.jpg": images.photo_jpeg(300, 300, 2)}.items():
        (folder / name).write_bytes(data)
    with make_executor(f"dask:{dask_address}") as pool:
        ingested = ingest(store, [("a.jpg", "erp"), ("c.jpg", "erp")], asset_store=assets, base_dir=folder, executor=pool)
        counts = build_renditions(store, SPECS, asset_store=assets, executor=pool)
    assert ingested.valid == 2
    with store.engine.connect() as conn:
        keys = conn.execute(select(RENDITION.c.key)).scalars().all()
    assert counts["renditions"] == 4 and len(keys) == 4 and all(assets.exists(k) for k in keys)

    seed_products(store)
    with store.engine.connect() as conn:
        incremental = sorted(map(tuple, conn.execute(select(COMPLETENESS)).all()))
    assert incremental
    assert rebuild(store, workers=2, executor=f"dask:{dask_address}", chunk=2) > 0
    with store.engine.connect() as conn:
        assert sorted(map(tuple, conn.execute(select(COMPLETENESS)).all())) == incremental
