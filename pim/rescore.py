"""Keeping stored completeness current, inside the write that changed things.

- A product write (or a model write, which touches its variants, or a delete) rescores those products in
  the same transaction: `completeness_listener` is registered in pim.registry.PRODUCT_LISTENERS.
- A structure write is diffed against what was stored: a family's requirements, a channel's locales or
  currencies, an attribute's scope/localizable/locale/type flags. Only the affected families, and only the
  affected channels' rows, are rescored — never a full rebuild.
- The report's counters (per channel × locale × family, and per missing attribute) move by the difference
  between the old and new rows, so they never need a scan.

Asset validity hook: pim.registry.ASSET_VALIDITY names callables `(conn, refs: set[str]) -> set[str]`
returning the refs that are not valid assets; an image or file value pointing at one is not filled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from pim.catalog import Structure
from pim.completeness import Requirements, Score, asset_refs
from pim.scoring_tables import COMPLETENESS, COMPLETENESS_COUNT, MISSING_COUNT, UNIQUE_VALUE
from pim.store.store import MODEL, PRODUCT, STRUCTURE, batched
from pim.structure import STRUCTURE_KINDS

Row = tuple[str, int, int, tuple[str, ...]]  # family, ratio, required, missing
_ATTRIBUTE_FLAGS = ("type", "localizable", "scopable", "available_locales")


def completeness_listener(store: Any) -> Any:
    """Registry entry: returns the product listener and hooks the structure listener onto the store."""
    rescorer = Rescorer()
    if hasattr(store, "structure_listeners"):
        store.structure_listeners.append(rescorer.on_structure)
    return rescorer.on_products


def increment(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """Add each row's counts to the stored counters (insert when absent)."""
    if not rows:
        return
    ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    counts = [c for c in rows[0] if c not in keys]
    conn.execute(ins.on_conflict_do_update(index_elements=keys, set_={c: table.c[c] + ins.excluded[c] for c in counts}), rows)


def load_structure(conn: Connection) -> Structure:
    """The structure as this transaction sees it (including a structure write not yet committed)."""
    items: dict[str, list[Any]] = {kind: [] for kind in STRUCTURE_KINDS}
    for kind, data in conn.execute(select(STRUCTURE.c.kind, STRUCTURE.c.data).order_by(STRUCTURE.c.code)):
        if kind in STRUCTURE_KINDS:
            items[kind].append(STRUCTURE_KINDS[kind].model_validate(data))
    return Structure.from_items(items)


class Rescorer:
    def __init__(self) -> None:
        self._fingerprint: Any = None
        self._requirements: Requirements | None = None

    # ------------------------------------------------------------------ structure
    def requirements(self, conn: Connection) -> Requirements:
        fingerprint = tuple(conn.execute(select(func.count(), func.max(STRUCTURE.c.updated_at)).select_from(STRUCTURE)).one())
        if self._requirements is None or fingerprint != self._fingerprint:
            self._requirements = Requirements(load_structure(conn))
            self._fingerprint = fingerprint
        return self._requirements

    def on_structure(self, conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        self._requirements = None  # same-second writes would keep the fingerprint
        reqs = self.requirements(conn)
        for families, channels in affected(kind, before, after, reqs.structure):
            self.rescore_families(conn, families, channels)

    def rescore_families(self, conn: Connection, families: set[str] | None, channels: set[str] | None) -> int:
        """Rescore the products of `families` (None: all) on `channels` (None: all), paging by id."""
        last, done = 0, 0
        while True:
            q = select(PRODUCT.c.id, PRODUCT.c.identifier).where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(2000)
            if families is not None:
                q = q.where(PRODUCT.c.family.in_(sorted(families)))
            page = conn.execute(q).all()
            if not page:
                return done
            self.rescore(conn, [r[1] for r in page], channels)
            done += len(page)
            last = page[-1][0]

    # ------------------------------------------------------------------ products
    def on_products(self, conn: Connection, identifiers: list[str]) -> None:
        for chunk in batched(identifiers, 2000):
            self.rescore(conn, chunk)

    def rescore(self, conn: Connection, identifiers: list[str], channels: set[str] | None = None) -> None:
        reqs = self.requirements(conn)
        records = _records(conn, identifiers, reqs.structure)
        invalid = _invalid_assets(conn, records, reqs.structure)
        new: dict[tuple[str, str, str], Row] = {}
        for ident, (family, values) in records.items():
            for s in reqs.score(family, values, ident, channels=channels, invalid_assets=invalid):
                new[(ident, s.channel, s.locale)] = _row(s)
        _replace(conn, identifiers, new, channels)
        _unique_values(conn, identifiers, records, reqs)
        gone = [i for i in identifiers if i not in records]
        if gone:
            from pim.gate import forget_decisions

            forget_decisions(conn, gone)


def _row(s: Score) -> Row:
    return (s.family, s.ratio, s.required, s.missing)


def _records(conn: Connection, identifiers: list[str], structure: Structure) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """identifier → (family, values with inheritance from product models)."""
    rows = conn.execute(select(PRODUCT.c.identifier, PRODUCT.c.family, PRODUCT.c.parent, PRODUCT.c.value_map)
                        .where(PRODUCT.c.identifier.in_(identifiers))).all()
    models: dict[str, tuple[str | None, str | None, str, dict[str, Any]]] = {}
    wanted = {r[2] for r in rows if r[2]}
    for _ in range(2):  # parent, then grandparent
        wanted -= set(models)
        if not wanted:
            break
        for code, parent, fam, fv, values in conn.execute(
            select(MODEL.c.code, MODEL.c.parent, MODEL.c.family, MODEL.c.family_variant, MODEL.c.value_map)
            .where(MODEL.c.code.in_(sorted(wanted)))
        ):
            models[code] = (parent, fam, fv, values or {})
        wanted = {m[0] for m in models.values() if m[0]}
    out = {}
    for ident, family, parent, values in rows:
        chain = []
        code = parent
        while code and code in models and len(chain) < 2:
            chain.append(models[code])
            code = models[code][0]
        merged: dict[str, Any] = {}
        for model in reversed(chain):
            merged.update(model[3])
        merged.update(values or {})
        if not family and chain:
            family = chain[0][1] or structure.family_of_variant(chain[0][2])
        out[ident] = (family, merged)
    return out


def _invalid_assets(conn: Connection, records: dict[str, Any], structure: Structure) -> set[str]:
    from pim.registry import ASSET_VALIDITY, load

    if not ASSET_VALIDITY:
        return set()
    refs: set[str] = set()
    for _, values in records.values():
        refs |= asset_refs(values, structure)
    invalid: set[str] = set()
    for ref in ASSET_VALIDITY:
        invalid |= set(load(ref)(conn, refs)) if refs else set()
    return invalid


def _replace(conn: Connection, identifiers: list[str], new: dict[tuple[str, str, str], Row], channels: set[str] | None) -> None:
    q = select(COMPLETENESS).where(COMPLETENESS.c.product.in_(identifiers))
    if channels is not None:
        q = q.where(COMPLETENESS.c.channel.in_(sorted(channels)))
    old = {(m["product"], m["channel"], m["locale"]): (m["family"], m["ratio"], m["required"], tuple(m["missing"]))
           for m in (r._mapping for r in conn.execute(q))}
    counts: Counter[tuple[str, str, str, str]] = Counter()  # (channel, locale, family, products|complete)
    missing: Counter[tuple[str, str, str, str]] = Counter()
    stale = [k for k in old if old[k] != new.get(k)]
    fresh = [k for k in new if old.get(k) != new[k]]
    for keys, source, sign in ((stale, old, -1), (fresh, new, 1)):
        for key in keys:
            family, rto, _, miss = source[key]
            counts[(key[1], key[2], family, "products")] += sign
            counts[(key[1], key[2], family, "complete")] += sign * (rto == 100)
            for attr in miss:
                missing[(key[1], key[2], family, attr)] += sign
    key = tuple_(COMPLETENESS.c.product, COMPLETENESS.c.channel, COMPLETENESS.c.locale)
    for chunk in batched(stale, 500):
        conn.execute(delete(COMPLETENESS).where(key.in_(chunk)))
    if fresh:
        conn.execute(insert(COMPLETENESS), [
            {"product": k[0], "channel": k[1], "locale": k[2], "family": new[k][0], "ratio": new[k][1],
             "required": new[k][2], "missing_count": len(new[k][3]), "missing": list(new[k][3])} for k in fresh
        ])
    _apply_counts(conn, counts, missing)


def _apply_counts(conn: Connection, counts: Counter[Any], missing: Counter[Any]) -> None:
    merged: dict[tuple[str, str, str], dict[str, int]] = {}
    for (ch, loc, fam, col), n in counts.items():
        merged.setdefault((ch, loc, fam), {"products": 0, "complete": 0})[col] += n
    rows = [{"channel": k[0], "locale": k[1], "family": k[2], **v} for k, v in sorted(merged.items()) if any(v.values())]
    increment(conn, COMPLETENESS_COUNT, ["channel", "locale", "family"], rows)
    rows = [{"channel": k[0], "locale": k[1], "family": k[2], "attribute": k[3], "products": n}
            for k, n in sorted(missing.items()) if n]
    increment(conn, MISSING_COUNT, ["channel", "locale", "family", "attribute"], rows)
    if any(n < 0 for n in missing.values()):
        conn.execute(delete(MISSING_COUNT).where(MISSING_COUNT.c.products <= 0))


def _unique_values(conn: Connection, identifiers: list[str], records: dict[str, Any], reqs: Requirements) -> None:
    from pim.quality import is_gtin_attribute, unique_attributes, unique_form

    conn.execute(delete(UNIQUE_VALUE).where(UNIQUE_VALUE.c.product.in_(identifiers)))
    attrs = unique_attributes(reqs.structure)
    rows = []
    for ident, (_, values) in records.items():
        rows.append({"product": ident, "attribute": reqs.identifier, "value": unique_form(ident)[:255]})
        for code in attrs:
            if code != reqs.identifier and values.get(code) not in (None, "", []):
                value = unique_form(values[code], is_gtin_attribute(code))[:255]
                rows.append({"product": ident, "attribute": code, "value": value})
    if rows:
        conn.execute(insert(UNIQUE_VALUE), rows)


# ---------------------------------------------------------------------------------------------- structure diff
def affected(kind: str, before: dict[str, Any], after: dict[str, Any], structure: Structure) -> Iterable[tuple[set[str] | None, set[str] | None]]:
    """(families, channels) to rescore after a structure write; None means all."""
    changed = [code for code in after if (before.get(code) or None) != (after.get(code) or None)]
    if kind == "family":
        for code in changed:
            old, new = before.get(code) or {}, after.get(code) or {}
            old_req, new_req = old.get("requirements", {}), new.get("requirements", {})
            channels = {ch for ch in set(old_req) | set(new_req) if sorted(old_req.get(ch, [])) != sorted(new_req.get(ch, []))}
            if not old or not new:
                channels = None  # a family appeared or went: all its channels
            if channels is None or channels:
                yield {code}, channels
    elif kind == "channel":
        for code in changed:
            old, new = before.get(code) or {}, after.get(code) or {}
            if not old or not new or old.get("locales") != new.get("locales"):
                yield None, {code}
            elif old.get("currencies") != new.get("currencies"):
                prices = {a for a, attr in structure.attributes.items() if attr.type == "price_collection"}
                fams = {f for f, fam in structure.families.items() if prices & set(fam.requirements.get(code, []))}
                if fams:
                    yield fams, {code}
    elif kind == "attribute":
        for code in changed:
            old, new = before.get(code) or {}, after.get(code) or {}
            if any(old.get(flag) != new.get(flag) for flag in _ATTRIBUTE_FLAGS):
                for fam_code, fam in structure.families.items():
                    channels = {ch for ch, req in fam.requirements.items() if code in req}
                    if channels:
                        yield {fam_code}, channels
    elif kind == "family_variant" and changed:
        fams = {(after.get(c) or before.get(c) or {}).get("family") for c in changed}
        yield {f for f in fams if f}, None
