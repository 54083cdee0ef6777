"""A new write seq for the products a rescore moved, so incremental pushes decide them again.

Search and delta feeds pick the products to send by write `seq`. A rescore that is not part of a product write
(a structure save, a queued family rescore after a media.yaml rule change, `pim gate rescore`) changes
completeness, and so what the gate lets through, without one: the storefront then drops (or takes back)
products that search and the feeds keep (or never get). The rescore gives those products a new seq, as
media.ingest does for images that became valid or invalid (Store.touch_products). Rescorers take the catalog's
write lock first (`lock_catalog`), as every product writer does, so the stamp never waits on a writer that
waits on the completeness rows the rescore holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select, update

from pim.store.store import PRODUCT, SEQUENCE, batched

_CATALOG = "catalog"
#: The temp table holding a full rebuild's scores as they were (product, channel, locale, ratio).
BEFORE = "rescore_before"


def lock_catalog(conn: Connection) -> None:
    """Lock the catalog's seq counter row (PostgreSQL) before a rescore writes completeness rows; SQLite takes
    its database write lock with the first write, which leaves no order to keep."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(SEQUENCE.c.value).where(SEQUENCE.c.name == _CATALOG).with_for_update())


def _next_seq(conn: Connection, count: int) -> int:
    """Reserve `count` catalog seqs (as Store.next_seq; a rescore has a connection, not a store)."""
    current = conn.execute(select(SEQUENCE.c.value).where(SEQUENCE.c.name == _CATALOG).with_for_update()
                           ).scalar_one_or_none()
    if current is None:
        conn.execute(insert(SEQUENCE).values(name=_CATALOG, value=count))
        return 1
    conn.execute(update(SEQUENCE).where(SEQUENCE.c.name == _CATALOG).values(value=current + count))
    return int(current) + 1


def stamp(conn: Connection, identifiers: Iterable[str]) -> int:
    """Give each existing product of `identifiers` a new seq, without rewriting it or calling listeners."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    done = 0
    for chunk in batched(sorted(set(identifiers)), 2000):
        found = sorted(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.identifier.in_(chunk))).scalars())
        if not found:
            continue
        first = _next_seq(conn, len(found))
        conn.exec_driver_sql(f"UPDATE product SET seq = {mark} WHERE identifier = {mark}",
                             [(first + n, ident) for n, ident in enumerate(found)])
        done += len(found)
    return done


def ratios(conn: Connection, identifiers: Iterable[str]) -> set[tuple[str, str, str, int]]:
    """What decides the gate for these products: their (product, channel, locale, ratio) rows."""
    from pim.scoring_tables import COMPLETENESS as C

    got: set[tuple[str, str, str, int]] = set()
    for chunk in batched(sorted(set(identifiers)), 2000):
        got.update((p, c, loc, -1 if r is None else int(r)) for p, c, loc, r in conn.execute(
            select(C.c.product, C.c.channel, C.c.locale, C.c.ratio).where(C.c.product.in_(chunk))))
    return got


def stamp_ratio_moves(conn: Connection, changed: Iterable[str], before: set[tuple[str, str, str, int]]) -> int:
    """Of the products a partial rescore rewrote, stamp those whose ratio on a channel × locale changed, appeared
    or went: a product whose rows changed but not its ratios (another missing list, the same verdict) is not
    sent again, so delta feeds stay proportional (tests/test_feeds_r31)."""
    changed = set(changed)
    if not changed:
        return 0
    after = ratios(conn, changed)
    moved = {row[0] for row in (after ^ {b for b in before if b[0] in changed})}
    return stamp(conn, moved)


def remember_scores(conn: Connection) -> None:
    """Before a full rebuild clears the scores: keep what decides the gate (the ratio per channel × locale)."""
    pg = conn.dialect.name == "postgresql"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if pg else 'temp.'}{BEFORE}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {BEFORE} {'ON COMMIT DROP ' if pg else ''}AS "
                         "SELECT product, channel, locale, ratio FROM completeness")


def stamp_moved(conn: Connection) -> int:
    """After a full rebuild wrote the new scores: stamp the products whose ratio on a channel × locale changed,
    appeared or went (the difference with `remember_scores`' copy, both ways), and drop the copy."""
    cols = "product, channel, locale, ratio"
    moved = conn.exec_driver_sql(
        f"SELECT product FROM (SELECT {cols} FROM {BEFORE} EXCEPT SELECT {cols} FROM completeness) a "
        f"UNION SELECT product FROM (SELECT {cols} FROM completeness EXCEPT SELECT {cols} FROM {BEFORE}) b").scalars()
    done = stamp(conn, list(moved))
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {BEFORE}")
    return done
