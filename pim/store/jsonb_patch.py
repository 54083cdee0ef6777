"""A merge's partial product rewrites on PostgreSQL, sent as patches the server applies with jsonb operators.

A merge changes a few keys of a product's ~4 KB value map. Sending the whole map's text made the server
parse every document again (46 µs of an UPDATE's time per row on the small profile); here each row carries
only its changed keys (a JSON object, `||`) and its removed keys (a JSON array, `-`), for the value map and
the provenance map, and a map the rewrite left alone is not assigned a new value at all (its stored, TOAST-ed
datum is kept). jsonb keeps no key order, so the stored maps equal, as jsonb, what the whole-text write
stored. All rows go in one statement over arrays, as `pim.store.raw.execute_many` sends its batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from pim.store.raw import _column_types


def _assign(column: str, patch: str, removed: str) -> str:
    """`column` with the row's removed keys dropped and its patch laid over; kept as stored when both are
    NULL (a rewrite that did not change this map)."""
    base = f"COALESCE(t.{column}, '{{}}'::jsonb)"
    dropped = (f"CASE WHEN v.{removed} IS NULL THEN {base} "
               f"ELSE {base} - ARRAY(SELECT jsonb_array_elements_text(v.{removed})) END")
    return (f"CASE WHEN v.{patch} IS NULL AND v.{removed} IS NULL THEN t.{column} "
            f"ELSE ({dropped}) || COALESCE(v.{patch}, '{{}}'::jsonb) END")


def _sql(conn: Connection) -> str:
    """The statement, its arrays cast to the columns' own types (read once per database from the catalog)."""
    types = _column_types(conn, "product")
    arrays = ", ".join(f"%b::{t}[]" for t in (types["identifier"], "jsonb", "jsonb", "jsonb", "jsonb",
                                              types["content_hash"], types["updated_at"], types["seq"]))
    return ("UPDATE product AS t SET value_map = " + _assign("value_map", "vp", "vr")
            + ", provenance = " + _assign("provenance", "pp", "pr")
            + f", content_hash = v.h, updated_at = v.u, seq = v.s FROM unnest({arrays}) "
            "AS v(i, vp, vr, pp, pr, h, u, s) WHERE t.identifier = v.i")


def patch_products(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Apply rows of (identifier, value patch, removed value keys, provenance patch, removed provenance keys,
    content_hash, updated_at, seq); the four JSON texts are None where that map gains or loses nothing. A
    later row for the same identifier replaces an earlier one (one UPDATE … FROM takes a row once)."""
    if not rows:
        return
    last = {r[0]: r for r in rows}
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_sql(conn), [list(column) for column in zip(*last.values())])
    finally:
        cursor.close()
