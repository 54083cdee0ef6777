"""The stored structure and its completeness requirements, cached once per process and keyed on the database
and its structure version (pim.store.store.structure_version), so every listener of every store shares one
copy instead of each loading and holding its own. A structure write moves the version by a random step, so a
version seen inside a transaction that was rolled back is never reused by the next write: the cache may
hold it safely."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from sqlalchemy import Connection, select

from pim.catalog import Structure
from pim.completeness import Requirements
from pim.store.store import STRUCTURE, structure_version
from pim.structure import STORED, STRUCTURE_KINDS

_SIZE = 4  # structures held: the stores a process uses at once (a test run opens many, one after another)
_cache: OrderedDict[tuple[str, int], tuple[Structure, list[Requirements]]] = OrderedDict()
_lock = Lock()


def load_structure(conn: Connection) -> Structure:
    """The structure as this transaction sees it (including a structure write not yet committed)."""
    items: dict[str, list[object]] = {kind: [] for kind in STRUCTURE_KINDS}
    for kind, data in conn.execute(select(STRUCTURE.c.kind, STRUCTURE.c.data).order_by(STRUCTURE.c.code)):
        if kind in STRUCTURE_KINDS:
            items[kind].append(STRUCTURE_KINDS[kind].model_validate(data, context=STORED))
    return Structure.from_items(items)  # type: ignore[arg-type]


def _entry(conn: Connection) -> tuple[Structure, list[Requirements]]:
    key = (conn.engine.url.render_as_string(hide_password=True), structure_version(conn))
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    entry: tuple[Structure, list[Requirements]] = (load_structure(conn), [])
    with _lock:
        entry = _cache.setdefault(key, entry)
        while len(_cache) > _SIZE:
            _cache.popitem(last=False)
    return entry


def cached_structure(conn: Connection) -> Structure:
    """The structure `conn` sees; shared, so treat it as read-only."""
    return _entry(conn)[0]


def cached_requirements(conn: Connection) -> Requirements:
    """The completeness requirements of the structure `conn` sees; shared, read-only."""
    structure, reqs = _entry(conn)
    if not reqs:
        with _lock:
            if not reqs:
                reqs.append(Requirements(structure))
    return reqs[0]
