"""The storage floor of a merge import on SQLite: what reading and rewriting each product's row costs with no
merge logic, no validation and no listeners. It bounds what any merge importer on this design can reach, so
the importer rows can be read against it (benchmarks/RESULTS.md, "Importers")."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import msgspec
import orjson

BATCH = 2000
KEYS = ("sku", "ean", "price", "weight", "status")  # as many keys as an ERP row touches, give or take
CLAIMS_PER_PRODUCT = 5  # the losing claims an ERP first import keeps per product (value_candidate rows)


def rewrite_floor(store_file: Path, csv_file: Path, workdir: Path, *, with_candidates: bool = True) -> tuple[int, float]:
    """On a copy of `store_file`: for every identifier in the first column of `csv_file`, read the product's
    value map and provenance, splice KEYS in, write both back and (optionally) the candidate rows, one
    transaction per batch. Returns (rows read, seconds) for that part only: the file copy (hundreds of MB, up to
    a second on a cold page cache) and reading the identifiers are not timed."""
    import time

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
    batches = list(_batches(_identifiers(csv_file)))
    start = time.perf_counter()
    try:
        for batch in batches:
            _rewrite(conn, batch, decode, encode, ours, with_candidates)
            n += len(batch)
        seconds = time.perf_counter() - start
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return n, seconds


def _identifiers(csv_file: Path) -> Iterator[str]:
    """The first column of the ERP file (its identifiers), header skipped."""
    with csv_file.open(encoding="cp1252", newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        next(reader, None)
        yield from (row[0] for row in reader if row)


def _batches(ids: Iterator[str]) -> Iterator[list[str]]:
    while batch := list(islice(ids, BATCH)):
        yield batch


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


# ---------------------------------------------------------------------------------------------- narrow rows
def narrow_floor(store_file: Path, csv_file: Path, workdir: Path) -> tuple[int, float]:
    """The same floor on the storage redesign the budget question asked about: every claim (shown or losing)
    one row of a `claim` table (product, key, source → value, ref, at, shown), WITHOUT ROWID, filled from
    `store_file`'s value maps. Per batch of the ERP file's identifiers: read the shown claims of KEYS, demote
    the ones another source held, upsert the ERP's claims. Returns (rows read, seconds) for that part only:
    building the table from the JSON rows is not timed."""
    import time

    db = workdir / "narrow-floor.db"
    db.unlink(missing_ok=True)
    src = sqlite3.connect(store_file)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE claim (product_id INTEGER NOT NULL, key TEXT NOT NULL, source TEXT NOT NULL, value TEXT, "
                 "ref TEXT, at TEXT, shown INTEGER NOT NULL, PRIMARY KEY (product_id, key, source)) WITHOUT ROWID")
    conn.execute("CREATE TABLE ident (identifier TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID")
    conn.execute("BEGIN")
    for pid, ident, value_map, provenance in src.execute("SELECT id, identifier, value_map, provenance FROM product"):
        provs = orjson.loads(provenance or "{}")
        conn.execute("INSERT INTO ident VALUES (?, ?)", (ident, pid))
        conn.executemany("INSERT INTO claim VALUES (?, ?, ?, ?, ?, ?, 1)", [
            (pid, k, (provs.get(k) or {}).get("source", "catalog"), orjson.dumps(v).decode(),
             (provs.get(k) or {}).get("ref"), (provs.get(k) or {}).get("at")) for k, v in orjson.loads(value_map).items()])
    conn.execute("COMMIT")
    src.close()
    batches = list(_batches(_identifiers(csv_file)))  # read before the clock starts
    keys = orjson.dumps(KEYS).decode()
    start = time.perf_counter()
    for ids in batches:
        batch = orjson.dumps(ids).decode()
        pid = dict(conn.execute("SELECT identifier, id FROM ident WHERE identifier IN (SELECT value FROM json_each(?))",
                                (batch,)).fetchall())
        shown = conn.execute("SELECT c.product_id, c.key, c.source FROM ident i JOIN claim c ON c.product_id = i.id "
                             "AND c.shown = 1 AND c.key IN (SELECT value FROM json_each(?)) "
                             "WHERE i.identifier IN (SELECT value FROM json_each(?))", (keys, batch)).fetchall()
        claims = [(p, k, "erp", orjson.dumps(ident).decode(), "floor", "2026-01-01T00:00:00")
                  for ident, p in pid.items() for k in KEYS]
        conn.execute("BEGIN")
        conn.executemany("UPDATE claim SET shown = 0 WHERE product_id = ? AND key = ? AND source = ?",
                         [row for row in shown if row[2] != "erp"])
        conn.executemany("INSERT OR REPLACE INTO claim VALUES (?, ?, ?, ?, ?, ?, 1)", claims)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return sum(map(len, batches)), seconds
