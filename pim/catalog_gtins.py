"""GTIN checks for whole-record catalog loads (JSONL, the Akeneo export), as every other importer has them
(importers.gtin_check): a value that is no GTIN is left out of its record with a `problem` entry, and the
rest of the record is taken in. A whole record replaces the stored one, so the key's absence would clear the
GTIN the product had: `keep_stored_gtins` puts back the value of the record it replaces."""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pim.catalog import Structure
from pim.importing import Parsed, Rejected, record_identity
from pim.product import Product, ProductModel, Provenance, split_key
from pim.quality import gtin_ok, is_gtin_attribute
from pim.store import Store
from pim.store.store import MODEL, PRODUCT

if TYPE_CHECKING:
    from importers.gtin_check import GtinFields

#: What became of a bad GTIN in a catalog file, and what to do.
GTIN_HINT = "left out (a stored GTIN stays); correct it in the file and import it again"

#: At most this many items are held back while the stored records their left-out GTINs need are read (one
#: query): a tenth of a batch, so holding adds little memory, and a file full of bad GTINs costs a query per 200.
HOLD = 200

#: The records passed on last, newest last: (record_identity, weak reference to the record).
Window = deque[tuple[str, "weakref.ref[Product | ProductModel]"]]


class GtinKeys:
    """The value keys of a structure's GTIN attributes (`pim.quality.is_gtin_attribute`, as
    importers.gtin_check.gtin_keys decides for the other importers), found in a record without splitting each of
    its keys: a catalog load reads only the GTIN attributes' own keys, and only a value that is not plainly a
    good GTIN goes on to `take_bad` for its message."""

    def __init__(self, structure: Structure) -> None:
        gtins = [a for code, a in structure.attributes.items() if is_gtin_attribute(code)]
        self.plain = tuple(a.code for a in gtins if not (a.localizable or a.scopable))
        self.keyed = frozenset(a.code for a in gtins if a.localizable or a.scopable)  # `ean:de_DE` and the like

    def __bool__(self) -> bool:
        return bool(self.plain or self.keyed)

    def suspects(self, values: dict[str, Any]) -> GtinFields:
        """The GTIN keys (each its own field) whose value is neither empty (a clear) nor a good GTIN text."""
        found: GtinFields = {}
        for key in self.plain:
            value = values.get(key)
            if value is not None and not (type(value) is str and gtin_ok(value)):
                found[key] = key
        if self.keyed:
            for key, value in values.items():
                if (value is not None and split_key(key)[0] in self.keyed
                        and not (type(value) is str and gtin_ok(value))):
                    found[key] = key
        return found


def gtins_checked(items: Iterator[Parsed | Rejected], store: Store, structure: Structure, source: str, *,
                  whole: bool) -> Iterator[Parsed | Rejected]:
    """Each record's bad GTINs left out of it and noted as `problem`s of it (file, line, the value key, the
    expected check digit); the rest of the record is taken in. A `whole` record replaces the stored one, so
    `keep_stored_gtins` puts back what it had; a merged record is partial, and a key it leaves out is already
    left alone."""
    keys = GtinKeys(structure)
    if not keys:
        yield from items
        return

    def checked() -> Iterator[Parsed | Rejected]:
        for item in items:
            if isinstance(item, Parsed) and item.record.values and (suspects := keys.suspects(item.record.values)):
                left = _leave_out(item, suspects, source)
                if whole:
                    item.kept = left
            yield item

    yield from keep_stored_gtins(checked(), store) if whole else checked()


def _leave_out(item: Parsed, suspects: GtinFields, source: str) -> tuple[str, ...]:
    """Take `item`'s bad GTINs out and add a problem for each; their keys."""
    from importers.gtin_check import gtin_reason, problem_notes, take_bad  # only here: most files have none

    record = item.record
    raw = item.raw or _raw(record)  # the record as the line gave it, bad GTIN and all
    bad = take_bad(record.values, suspects)
    for key, _ in bad:
        record.provenance.pop(key, None)
    if bad:  # none: only a good GTIN padded with blanks
        item.problems = [*item.problems, *problem_notes([(key, gtin_reason(problem, GTIN_HINT)) for key, problem in bad],
                                                        item.file, item.line, raw, record_identity(record), source)]
    return tuple(key for key, _ in bad)


def _raw(record: Product | ProductModel) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_defaults=True)
    data["kind"] = record.kind
    return data


def keep_stored_gtins(items: Iterable[Parsed | Rejected], store: Store) -> Iterator[Parsed | Rejected]:
    """Each whole record with keys left out (`Parsed.kept`: a bad GTIN) gets back their value and provenance as
    the record it replaces has them: the file's earlier line naming it while pim.importing may not have
    written it yet (a repeat starts a new batch, so it is written first: a record of the last batch_size passed
    on and still alive, held by weak reference), else the stored record. Items pass straight on; from one with
    keys left out, up to HOLD are held and the stored records they need are read in one query."""
    window: Window = deque(maxlen=store.batch_size)
    held: list[Parsed | Rejected] = []
    for item in items:
        if held or (isinstance(item, Parsed) and item.kept):
            held.append(item)
            if len(held) >= HOLD:
                yield from _release(store, held, window)
                held = []
            continue
        if isinstance(item, Parsed):
            window.append((record_identity(item.record), weakref.ref(item.record)))
        yield item
    yield from _release(store, held, window)


def _release(store: Store, held: list[Parsed | Rejected], window: Window) -> list[Parsed | Rejected]:
    """Put the GTINs back into the `held` records (`_put_back`) and return them to be passed on."""
    parsed = [i for i in held if isinstance(i, Parsed)]
    if parsed:
        needed = {record_identity(i.record) for i in parsed if i.kept}
        earlier = {key: record for key, ref in window if key in needed and (record := ref()) is not None}
        _put_back(store, earlier, parsed)
        window.extend((record_identity(i.record), weakref.ref(i.record)) for i in parsed)
    return held


def _put_back(store: Store, earlier: dict[str, Product | ProductModel], items: list[Parsed]) -> None:
    """Into each of `items` (in file order) with keys left out, their values as the record it replaces has
    them: the latest line before it (`earlier`, or one of `items`), else the stored record."""
    latest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {k: (r.values, r.provenance) for k, r in earlier.items()}
    wanted: list[str] = []  # records with no line before them: read from the store
    seen = set(latest)
    for item in items:
        key = record_identity(item.record)
        if item.kept and key not in seen:
            wanted.append(key)
        seen.add(key)
    if wanted:
        latest.update(_stored(store, wanted))
    for item in items:
        record, key = item.record, record_identity(item.record)
        if item.kept and key in latest:
            values, provenance = latest[key]
            for k in item.kept:
                if (value := values.get(k)) is not None:
                    record.values[k] = value
                    if (prov := provenance.get(k)) is not None:
                        record.provenance[k] = prov if isinstance(prov, Provenance) else Provenance.model_validate(prov)
        item.kept = ()
        latest[key] = (record.values, record.provenance)


def _stored(store: Store, keys: list[str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The stored values and provenance of records by `record_identity` (SKUs and `model:` codes)."""
    from pim.merge import MODEL_KEY

    skus = [k for k in keys if not k.startswith(MODEL_KEY)]
    codes = [k[len(MODEL_KEY):] for k in keys if k.startswith(MODEL_KEY)]
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        if skus:
            out.update((r.identifier, (r.value_map, r.provenance or {})) for r in conn.execute(
                select(PRODUCT.c.identifier, PRODUCT.c.value_map, PRODUCT.c.provenance).where(PRODUCT.c.identifier.in_(skus))))
        if codes:
            out.update((MODEL_KEY + r.code, (r.value_map, r.provenance or {})) for r in conn.execute(
                select(MODEL.c.code, MODEL.c.value_map, MODEL.c.provenance).where(MODEL.c.code.in_(codes))))
    return out
