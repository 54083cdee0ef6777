"""Writers of asset objects (ingest, renditions) and gc's deletions never leave a row naming a missing object.

A writer checks or writes an object, then commits the row naming it; gc deletes objects no row names. Alone,
neither order is safe: gc may find a key unnamed, the writer may then find the object present (or overwrite it)
and commit its row, and gc deletes. Re-checking the row just before deleting only narrows that window, and
neither store offers a "delete if unchanged" that sees a rewrite of the same bytes. So the two sides meet in
the database, through two counters of the `sequence` table (no migration):

- `media_gc` (G): every deleting *turn* bumps it and holds its row lock (on SQLite, the write lock) while it
  re-checks the rows and deletes the objects, so no writer records rows, or starts, during a turn;
- `media_writes` (W): a writer bumps it before it touches the store (`begin_writes`, which returns G).

A turn deletes only if W has not moved since the previous turn of the same deleter committed (else it only
bumps G and goes round). A writer checks, in the transaction that records its rows and before writing them,
whether G moved since it started (`vanished`); if so it looks its objects up, and those gone are stored again.

Why no interleaving loses an object: a turn that deletes K and a writer recording a row for K are ordered by the
lock. If the writer commits first, the turn's re-check sees the row and keeps K. Otherwise the deletion came
first; if it also came before the writer started, the writer saw K missing and wrote it. Left: the writer started
before the deleting turn. It did not start between that turn and the previous one (W would have moved, and the
turn would not delete), so it started before the previous turn, whose bump is committed: the writer sees G moved
and checks K under the lock. A deleter that crashes mid-turn loses only its own bump, never the one relied on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from pim.store.store import SEQUENCE

log = logging.getLogger(__name__)
DELETIONS, WRITES = "media_gc", "media_writes"
#: Turns a deleter tries while writers keep starting between them; then the batch waits for the next gc.
TURNS = 20

Named = Callable[[Connection, list[str]], set[str]]


def begin_writes(store: Any) -> int:
    """Call before checking or writing objects whose rows are recorded later: returns the epoch to pass to
    `vanished`. Waits while a deleting turn is running."""
    with store.begin() as conn:
        _ensure(store, conn)
        epoch = _deletions(conn)
        conn.execute(update(SEQUENCE).where(SEQUENCE.c.name == WRITES).values(value=SEQUENCE.c.value + 1))
    return epoch


def vanished(store: Any, conn: Connection, epoch: int, asset_store: Any, keys: Iterable[str]) -> set[str]:
    """The first statement of the transaction that records rows naming `keys`: the keys whose object a gc turn
    deleted since `epoch` (looked up only when one ran). Holds gc's turns off until that transaction ends."""
    keys = sorted(set(keys))
    if not keys:
        return set()
    if store.dialect == "sqlite":  # a write takes SQLite's single write lock, which a turn needs too
        conn.execute(update(SEQUENCE).where(SEQUENCE.c.name == WRITES).values(value=SEQUENCE.c.value))
    if _deletions(conn) == epoch:
        return set()
    return {key for key in keys if not asset_store.exists(key)}


class Deleter:
    """gc's side: deletes, under the lock, the keys no row names (`named` says which are, on the locked
    connection)."""

    def __init__(self, store: Any, asset_store: Any) -> None:
        self.store, self.asset_store = store, asset_store
        self._writes: int | None = None  # W as the last committed turn saw it

    def delete_unnamed(self, keys: list[str], named: Named) -> list[str]:
        """Delete those of `keys` no row names now; returns the deleted keys."""
        if not keys:
            return []
        for _ in range(TURNS):
            seen, self._writes = self._writes, None  # a turn that fails leaves nothing to rely on
            writes, doomed = self._turn(keys, named, seen)
            self._writes = writes
            if writes == seen:
                return doomed
        log.warning("writers kept starting during gc: %d object(s) left for the next run", len(keys))
        return []

    def _turn(self, keys: list[str], named: Named, seen: int | None) -> tuple[int, list[str]]:
        """One locked turn: bump G, read W; only when W is still `seen`, re-check the rows and delete."""
        with self.store.begin() as conn:
            _ensure(self.store, conn)
            conn.execute(update(SEQUENCE).where(SEQUENCE.c.name == DELETIONS).values(value=SEQUENCE.c.value + 1))
            writes = conn.execute(select(SEQUENCE.c.value).where(SEQUENCE.c.name == WRITES)).scalar_one()
            if writes != seen:
                return writes, []
            names = named(conn, keys)
            doomed = [key for key in keys if key not in names]
            for key in doomed:
                self.asset_store.delete(key)
            return writes, doomed


def _ensure(store: Any, conn: Connection) -> None:
    """Both counters exist (a row lock needs a row). On SQLite this write is what takes the lock."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = (postgresql.insert if store.dialect == "postgresql" else sqlite.insert)(SEQUENCE)
    conn.execute(insert.values([{"name": DELETIONS, "value": 0}, {"name": WRITES, "value": 0}])
                 .on_conflict_do_nothing(index_elements=["name"]))


def _deletions(conn: Connection) -> int:
    """G, share-locked on PostgreSQL (waits for a running turn); SQLite callers already hold the write lock."""
    q = select(SEQUENCE.c.value).where(SEQUENCE.c.name == DELETIONS).with_for_update(read=True)
    return conn.execute(q).scalar_one()
