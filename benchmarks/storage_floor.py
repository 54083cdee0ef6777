"""The storage floor of a merge import on SQLite: what reading and rewriting each product's row costs with no
merge logic, no validation and no listeners. It bounds what any merge importer on this design can reach, so
the importer rows can be read against it (benchmarks/RESULTS.md, "Importers")."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import msgspec
import orjson

BATCH = 2000
KEYS = ("sku", "ean", "price", "weight", "status")  # as many keys as an ERP row touches, give or take
CLAIMS_PER_PRODUCT = 5  # the losing claims an ERP first import keeps per product (value_candidate rows)


def rewrite_floor(store_file: Path, csv_file: Path, workdir: Path, *, with_candidates: bool = True) -> int:
    """On a copy of `store_file`: for every identifier in the first column of `csv_file`, read the product's
    value map and provenance, splice KEYS in, write both back and (optionally) the candidate rows, one
    transaction per batch. Returns the rows read."""
    copy = workdir / "storage-floor.db"
    copy.unlink(missing_ok=True)
    shutil.copyfile(store_file, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    decode = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
    encode = msgspec.json.Encoder().encode
    ours = msgspec.Raw(b'{"source":"erp","ref":"floor"}')
    n = 0
    try:
        with csv_file.open(encoding="cp1252", newline="") as fh:
            reader = csv.reader(fh, delimiter=";")
            next(reader, None)
            batch: list[str] = []
            for row in reader:
                if row:
                    batch.append(row[0])
                    n += 1
                if len(batch) == BATCH:
                    _rewrite(conn, batch, decode, encode, ours, with_candidates)
                    batch = []
            if batch:
                _rewrite(conn, batch, decode, encode, ours, with_candidates)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return n


def _rewrite(conn: sqlite3.Connection, ids: list[str], decode, encode, ours: msgspec.Raw, with_candidates: bool) -> None:
    rows = conn.execute("SELECT identifier, value_map, provenance FROM product WHERE identifier IN "
                        "(SELECT value FROM json_each(?))", (orjson.dumps(ids).decode(),)).fetchall()
    updates, candidates = [], []
    for ident, value_map, provenance in rows:
        values, provs = decode(value_map), decode(provenance)
        for key in KEYS:
            values[key] = msgspec.Raw(orjson.dumps(ident))
            provs[key] = ours
        updates.append((encode(values).decode(), encode(provs).decode(), ident))
        if with_candidates:
            candidates.extend((ident, key, "floor", '"x"', None, "2026-01-01 00:00:00")
                              for key in KEYS[:CLAIMS_PER_PRODUCT])
    conn.execute("BEGIN")
    conn.executemany("UPDATE product SET value_map = ?, provenance = ? WHERE identifier = ?", updates)
    if candidates:
        conn.executemany("INSERT OR REPLACE INTO value_candidate (identifier, value_key, source, value, ref, at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", candidates)
    conn.execute("COMMIT")
