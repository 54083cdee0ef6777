"""A merge import killed with SIGKILL inside a batch's write transaction (products rewritten, candidate and
conflict rows written, listeners half way) leaves each batch wholly old or wholly new, and running the same
file again brings the store to what an uninterrupted run gives: every value, candidate, conflict and
fingerprint, and derived tables equal to their rebuilds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.cli import _mount, app
from pim.importing import Parsed, run_import
from pim.merge import Merger, candidates_for
from pim.conflicts import open_conflicts
from pim.store import Store
from tests.source_data import PRECEDENCE, record, seed_structure

_mount()
ROOT = Path(__file__).resolve().parent.parent
KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731
N, BATCH, STALL_IN = 40, 8, 3  # five batches; the process is killed inside the third one's transaction
MAP = {"delimiter": ";", "decimal": ",", "sku_column": "Material", "family": "tool",
       "columns": {"Gewicht": {"to": "weight", "unit": "KILOGRAM"}, "Preis": {"to": "price", "currency": "EUR"},
                   "ME": "unit_of_measure"}}

# Runs the ERP import in its own process with the registered listeners, plus one more that stops for good
# inside the STALL_IN-th batch's transaction after telling the test it got there.
_CHILD = """
import sys, time
from pathlib import Path
from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.cli import app
from pim.registry import product_listeners
from pim.store import Store
import json
url, csv_path, map_json, prec, marker, batch, stall_in = sys.argv[1:8]
store = Store(url, batch_size=int(batch))
store.listeners.extend(product_listeners(store))
calls = []
def stall(conn, identifiers):
    calls.append(len(identifiers))
    if len(calls) == int(stall_in):
        Path(marker).write_text(",".join(identifiers))
        time.sleep(600)
store.listeners.append(stall)
import_erp_csv(Path(csv_path), store, ErpCsvMap(**json.loads(map_json)), precedence=Path(prec))
"""


def _seed(store: Store) -> None:
    seed_structure(store)
    items = [Parsed(record("supplier:acme", f"S{i:02d}", {"weight": KG("2"), "material": "steel"}, family="tool"),
                    "acme.csv", i) for i in range(N)]
    run_import(store, "supplier:acme", items, merge=Merger(PRECEDENCE))


def _erp_file(tmp_path: Path) -> tuple[Path, Path]:
    csv = tmp_path / "erp.csv"
    csv.write_text("Material;Gewicht;Preis;ME\n" + "".join(f"S{i:02d};1,{i:02d};{10 + i},50;ST\n" for i in range(N)),
                   encoding="utf-8")
    prec = tmp_path / "precedence.yaml"
    prec.write_text(yaml.safe_dump(PRECEDENCE.model_dump()), encoding="utf-8")
    return csv, prec


def _state(store: Store) -> dict:
    """What an import decides, without the run-dependent times: values with their sources, candidates,
    conflicts, fingerprints."""
    products = {p.identifier: (p.values, {k: p.provenance_of(k).source for k in p.values}) for p in store.iter_products()}
    candidates = {i: {k: {s: c.value for s, c in claims.items()} for k, claims in candidates_for(store, i).items()}
                  for i in products}
    conflicts = sorted((c.identifier, c.value_key, c.winner, json.dumps(c.claims, sort_keys=True))
                       for c in open_conflicts(store))
    with store.engine.connect() as conn:
        prints = sorted(tuple(r) for r in conn.exec_driver_sql("SELECT source, identifier, digest FROM source_fingerprint"))
    return {"products": products, "candidates": candidates, "conflicts": conflicts, "fingerprints": prints}


def _derived(store: Store) -> tuple[list, list]:
    with store.engine.connect() as conn:
        grid = [sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t}"))
                for t in ("grid_category", "grid_source", "grid_text", "grid_missing", "grid_completeness")]
        scores = sorted(tuple(r) for r in conn.exec_driver_sql(
            "SELECT product, channel, locale, ratio, missing_count FROM completeness"))
    return grid, scores


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_an_import_killed_inside_a_batch_leaves_whole_batches_and_reruns_to_the_clean_result(
        store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _seed(store)
    csv, prec = _erp_file(tmp_path)
    marker = tmp_path / "stalled"
    url = store.engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, str(csv), json.dumps(MAP), str(prec), str(marker), str(BATCH),
         str(STALL_IN)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PIM_IMPORT_WORKERS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, f"the import ended before the stall: {child.stdout.read().decode()}"
            assert time.monotonic() < deadline, "the import never reached its third batch"
            time.sleep(0.05)
        stalled = marker.read_text().split(",")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert len(stalled) == BATCH

    # Two whole batches are in, nothing of the third (killed uncommitted) or later
    done = {f"S{i:02d}" for i in range(2 * BATCH)}
    assert not done & set(stalled)
    after_kill = _state(store)
    for ident, (values, sources) in after_kill["products"].items():
        if ident in done:
            assert sources["weight"] == "erp" and values["price"] == {"EUR": f"{10 + int(ident[1:])}.50"}
        else:
            assert sources == {"weight": "supplier:acme", "material": "supplier:acme"}, ident
            assert after_kill["candidates"][ident] == {}
    assert {c[0] for c in after_kill["conflicts"]} == done  # the weight, both sources own it
    assert {f[1] for f in after_kill["fingerprints"] if f[0] == "erp"} == done
    assert _derived(store) == _rebuilt(store)  # the index and scores match the committed products
    listed = CliRunner().invoke(app, ["import", "jobs", "--json"])
    [job] = [j for j in json.loads(listed.output) if j["kind"] == "import" and "erp.csv" in j["source"]]
    assert job["status"] == "interrupted" and job["pid"] == child.pid
    assert (job["counts"]["read"], job["counts"]["updated"]) == (2 * BATCH, 2 * BATCH)  # what it committed
    assert "run the same command again" in job["error"]

    # The same file again: the store comes out as a clean run's
    counts = import_erp_csv(csv, store, ErpCsvMap(**MAP), precedence=prec)
    assert (counts.unchanged, counts.updated) == (2 * BATCH, N - 2 * BATCH)
    rerun, rerun_derived = _state(store), _derived(store)
    assert rerun_derived == _rebuilt(store)

    clean = Store(_fresh_url(store, tmp_path, request), batch_size=BATCH)
    try:
        clean.migrate()
        from pim.registry import product_listeners

        clean.listeners.extend(product_listeners(clean))
        _seed(clean)
        import_erp_csv(csv, clean, ErpCsvMap(**MAP), precedence=prec)
        assert rerun == _state(clean)
        assert _derived(clean)[1] == rerun_derived[1]
    finally:
        clean.dispose()


def _rebuilt(store: Store) -> tuple[list, list]:
    """The derived tables as a from-scratch rebuild makes them (run on a copy of the rows, then rolled back)."""
    from pim.completeness_rebuild import rebuild_in
    from pim.grid_index import _BY_PRODUCT, GridIndex
    from pim.rescore import Rescorer

    with store.engine.connect() as conn:
        with conn.begin() as tx:
            for table in _BY_PRODUCT:
                conn.execute(table.delete())
            rebuild_in(conn, Rescorer().requirements(conn))
            GridIndex().refresh_all(conn)
            grid = [sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t}"))
                    for t in ("grid_category", "grid_source", "grid_text", "grid_missing", "grid_completeness")]
            scores = sorted(tuple(r) for r in conn.exec_driver_sql(
                "SELECT product, channel, locale, ratio, missing_count FROM completeness"))
            tx.rollback()
    return grid, scores


def _fresh_url(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Another empty database on the same backend (dropped after the test)."""
    if store.dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'clean.db'}"
    from sqlalchemy import create_engine, text

    url = store.engine.url
    name = f"{url.database}_clean"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    from tests.conftest import drop_database

    request.addfinalizer(lambda: drop_database(url.set(database="postgres").render_as_string(hide_password=False), name))
    return url.set(database=name).render_as_string(hide_password=False)
