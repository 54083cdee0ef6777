"""Merge imports on PostgreSQL: a private server (Debian's binaries, the same set-up as the tests: a temp
data folder, fsync off) holds the generated catalog, loaded with every listener on; then the ERP CSV, content
JSONL, BMEcat and supplier CSV merges run on it in that order. Each row carries the importing process's CPU
and, in its note, the server's (every process of the private server, from /proc): on PostgreSQL the two
mostly take turns, so their sum is near the wall time and the database's share can be read off."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import catalog_for, measure


def _server_cpu(data: Path) -> float:
    """CPU seconds (user + system) of the private server: its postmaster (from the data folder's pid file)
    and every process it started, and no other PostgreSQL on the machine."""
    postmaster = (data / "postmaster.pid").read_text().split()[0]
    pids = [postmaster, *subprocess.run(["pgrep", "-P", postmaster], capture_output=True, text=True).stdout.split()]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(profile: str, workdir: Path) -> list[dict[str, Any]]:
    import psycopg

    from importers.bmecat import import_bmecat, load_map
    from importers.content import ContentProfile, import_content
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from importers.supplier_table import import_supplier_table, load_supplier_map
    from pim.jsonl import import_jsonl
    from pim.registry import product_listeners
    from pim.sources import load_profile, refresh_gtin_index
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure
    from tests.services.postgres import find_bindir, running_server

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("importers_pg needs Debian's PostgreSQL server: apt-get install -y postgresql")
    catalog, _ = catalog_for(profile)
    src = Path(catalog.out) / "sources"
    with running_server(bindir, prefix="pim-bench-pg-") as server:
        with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        store = Store(server.url("bench"))
        store.migrate()
        store.listeners.extend(product_listeners(store))
        save_structure(store, load_structure_files(Path(catalog.structure_dir)))

        def timed(stage: str, items: Callable[[Any], int], fn: Callable[[], Any]) -> dict[str, Any]:
            before = _server_cpu(server.data)
            row = measure(stage, items, fn)
            row["note"] = f"server CPU {_server_cpu(server.data) - before:.2f} s (PostgreSQL, private server, fsync off)"
            return row

        rows = [timed("catalog load (products.jsonl, listeners on)", lambda c: c.read,
                      lambda: import_jsonl(Path(catalog.products_jsonl), store))]
        erp_map = load_profile(ErpCsvMap, src / "erp_products.map.yaml")
        rows.append(timed("erp csv import (merge)", lambda c: c.read,
                          lambda: import_erp_csv(src / "erp_products.csv", store, erp_map, map_dir=src)))
        rows.append(timed("erp csv re-import (unchanged)", lambda c: c.read,
                          lambda: import_erp_csv(src / "erp_products.csv", store, erp_map, map_dir=src)))
        profile_ = load_profile(ContentProfile, src / "content.profile.yaml")
        rows.append(timed("content jsonl import (merge)", lambda c: c.read,
                          lambda: import_content(src / "content.jsonl", store, profile_, profile_dir=src)))
        refresh_gtin_index(store, "ean")
        bmap = load_map(src / "supplier_acme.map.yaml")
        rows.append(timed("bmecat import (merge)", lambda c: c.read,
                          lambda: import_bmecat(src / "supplier_acme.bmecat.xml", store, bmap)))
        tmap = load_supplier_map(src / "supplier_bolt.profile.yaml")
        rows.append(timed("supplier csv import (merge)", lambda c: c.read,
                          lambda: import_supplier_table(src / "supplier_bolt.csv", store, tmap)))
        store.dispose()
        return rows
