"""Keeping stored completeness current, inside the write that changed things.

- A product write (or a model write, which touches its variants, or a delete) rescores those products in
  the same transaction: `completeness_listener` is registered in pim.registry.PRODUCT_LISTENERS.
- A structure write is diffed against what was stored: a family's requirements, a channel's locales or
  currencies, an attribute's scope/localizable/locale/type flags. Only the affected families, and only the
  affected channels' rows, are rescored — never a full rebuild. The web and API saves rescore fewer than
  pim.rescore_jobs.IN_REQUEST products in the request, counted over the whole save, and leave the largest
  families beyond that to recorded jobs (pim.rescore_jobs); until one succeeds the gate does not trust those rows.
- The report's counters (per channel × locale × family, and per missing attribute) move by the difference
  between the old and new rows, so they never need a scan.

Asset validity hook: pim.registry.ASSET_VALIDITY names callables `(conn, refs: set[str]) -> set[str]`
returning the refs that are not valid assets; an image or file value pointing at one is not filled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from pim.catalog import Structure
from pim.completeness import Requirements, Result
from pim.partial_values import PartialDecoder
from pim.store.raw import Statements
from pim.store.store import MODEL, PRODUCT, batched
from pim.structure_cache import cached_requirements

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


class Rescorer:
    # ------------------------------------------------------------------ structure
    @staticmethod
    def requirements(conn: Connection) -> Requirements:
        return cached_requirements(conn)

    def on_structure(self, conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Rescore what the write affects, in its transaction; inside pim.rescore_jobs.deferred the families
        beyond the save's in-request total are recorded as jobs in this transaction instead (the stale scores
        then say so)."""
        from pim.rescore_jobs import choose, defer

        reqs = self.requirements(conn)
        plan = list(affected(kind, before, after, reqs.structure))
        choose(conn, {f for families, _ in plan for f in families or ()})  # the whole write, before rescoring any
        for families, channels in plan:
            kept = defer(conn, families, channels)  # the families left to jobs are recorded, the rest rescored here
            if kept is None or kept or not families:
                self.rescore_families(conn, kept, channels)

    def rescore_families(self, conn: Connection, families: set[str] | None, channels: set[str] | None) -> int:
        """Rescore the products of `families` (None: all) on `channels` (None: all), paging by id. Everything
        (None, None) is a rebuild from scratch in this transaction (see `rebuild` for the parallel one). The
        products whose ratios moved get a new seq (pim.rescore_seq): incremental pushes decide them again."""
        from pim.rescore_seq import lock_catalog, ratios, stamp_ratio_moves

        lock_catalog(conn)
        if families is None and channels is None:
            from pim.completeness_rebuild import rebuild_in

            return rebuild_in(conn, self.requirements(conn))
        last, done = 0, 0
        while True:
            q = select(PRODUCT.c.id, PRODUCT.c.identifier).where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(2000)
            if families is not None:  # a variant without a family of its own may belong to any of them
                q = q.where(PRODUCT.c.family.in_(sorted(families)) | (PRODUCT.c.family.is_(None) & PRODUCT.c.parent.is_not(None)))
            page = conn.execute(q).all()
            if not page:
                return done
            idents = [r[1] for r in page]
            before = ratios(conn, idents)
            stamp_ratio_moves(conn, self.rescore(conn, idents, channels), before)
            done += len(page)
            last = page[-1][0]

    # ------------------------------------------------------------------ products
    def on_products(self, conn: Connection, identifiers: list[str], records: dict[str, Any] | None = None,
                    before: dict[str, Any] | None = None, deltas: dict[str, Any] | None = None) -> None:
        """`records`: the products just written, by identifier (the store passes them), so they are scored
        from memory instead of being read back. `before`: the products as stored before this write (None:
        new), when the writer knows them; products whose completeness and unique-value inputs did not
        change are then skipped (their stored rows are already right). `deltas`: products a merge rewrote
        in part (pim.store.store.ProductDelta): skipped the same way, else scored from the delta's value map."""
        given = frozenset(identifiers)
        if deltas or (before is not None and records is not None):
            reqs = self.requirements(conn)
            deltas, records = deltas or {}, dict(records or {})
            identifiers = [i for i in identifiers if (inputs_changed(reqs, deltas[i].before, deltas[i].after)
                                                      if i in deltas else inputs_changed(reqs, (before or {}).get(i), records.get(i)))]
            for i in identifiers:
                if i in deltas:
                    records[i] = _DeltaRecord(reqs, deltas[i])
        changed: set[str] = set()
        for chunk in batched(identifiers, 2000):
            changed.update(self.rescore(conn, chunk, records=records))
        # For the grid index, which runs next in the same write: whose completeness rows actually changed
        conn.info[SCORES_CHANGED] = (given, changed)

    def rescore(self, conn: Connection, identifiers: list[str], channels: set[str] | None = None,
                records: dict[str, Any] | None = None) -> list[str]:
        """Score `identifiers` again and store what changed; returns the products whose rows changed."""
        reqs = self.requirements(conn)
        sql = Statements(conn)
        if records is not None and all(i in records for i in identifiers):
            rows = [(i, records[i].family, records[i].parent, records[i].values) for i in identifiers]
        else:
            rows = sql.all(f"SELECT identifier, family, parent, value_map FROM product WHERE identifier IN "
                           f"({sql.marks(identifiers)})", identifiers)
        scored = _records(conn, rows, reqs.structure)
        new = dict(_scores(reqs, scored, invalid_assets(conn, scored, reqs), channels))
        changed = _replace(conn, sql, identifiers, new, channels)
        _unique_values(conn, sql, identifiers, scored, reqs)
        gone = [i for i in identifiers if i not in scored]
        if gone:
            from pim.gate import forget_decisions

            forget_decisions(conn, gone)
        return changed


_MISSING = object()
#: conn.info key: (identifiers a product write passed the completeness listener, those whose rows changed)
SCORES_CHANGED = "pim.completeness_changed"


class _DeltaRecord:
    """What scoring reads of a product a merge rewrote in part: its family and parent, and the values its
    family checks, decoded from the delta's whole value map (all of it for a variant without a family of
    its own: its plan comes from its model)."""

    __slots__ = ("identifier", "family", "parent", "values")

    def __init__(self, reqs: Requirements, delta: Any) -> None:
        after = delta.after
        self.identifier, self.family, self.parent = after.identifier, after.family, after.parent
        decoder = _decoder(reqs, after.family, after.parent)
        self.values = dict(delta.values) if decoder is None else decoder.decode(delta.values)


def inputs_changed(reqs: Requirements, old: Any, new: Any) -> bool:
    """Whether a write from product `old` to `new` may change its completeness rows or unique values. When
    in doubt, True: a new product, another family or parent, a changed value of a unique-tracked attribute,
    of a required image/file (its validity depends on the ref), a required value appearing or vanishing on
    a variant (it shadows what the model gives), or a required value whose filled verdict changed. A value
    the family does not require (and that is not unique-tracked) changes nothing, so only the keys the
    family checks and the unique attributes are compared (not the whole value map)."""
    if old is None or new is None or old.family != new.family or old.parent != new.parent:
        return True
    before, after = old.values, new.values
    if not new.family and new.parent:
        return before != after  # a variant may take its family from its model: any change counts
    watched, plan, watched_set = _watched(reqs, new.family)
    if len(before) + len(after) < len(watched):  # partial products (a merge's delta): look at their own keys
        watched = [k for k in {*before, *after} if k in watched_set]
    changed = [k for k in watched if before.get(k, _MISSING) != after.get(k, _MISSING)]
    if not changed:
        return False
    if any(k in reqs.unique_tracked for k in changed):
        return True
    if plan is None:
        return False  # no family, or an unknown one: it scores nothing
    if any(k in plan.assets for k in changed):
        return True
    if new.parent and any((k in before) != (k in after) for k in changed):
        return True
    checks = plan.checks_at(changed)  # the other checks read the same values on both sides
    return plan.unfilled(before, new.identifier, checks=checks) != plan.unfilled(after, new.identifier, checks=checks)


def _watched(reqs: Requirements, family: str | None) -> tuple[tuple[str, ...], Any, frozenset[str]]:
    """The value keys whose change can move a product of `family`: its plan's checks and the unique
    attributes (global values: their key is the attribute code). Cached per family on `reqs`."""
    cache = reqs.__dict__.setdefault("_watched", {})
    hit = cache.get(family)
    if hit is None:
        plan = reqs.plan(family) if family else None
        keys = set(reqs.unique_tracked) | (set(plan.keys) if plan is not None else set())
        hit = cache[family] = (tuple(sorted(keys)), plan, frozenset(keys))
    return hit


def _insert_scores(sql: Statements, rows: list[tuple[Any, ...]]) -> None:
    p = sql.p
    sql.many("INSERT INTO completeness (product, channel, locale, family, ratio, required, missing_count, missing) "
             f"VALUES ({p},{p},{p},{p},{p},{p},{p},{sql.json})", rows)


def _insert_unique(sql: Statements, rows: list[tuple[str, str, str]]) -> None:
    sql.many(f"INSERT INTO unique_value (product, attribute, value) VALUES ({sql.p},{sql.p},{sql.p})", rows)


def _scores(reqs: Requirements, records: dict[str, tuple[str | None, dict[str, Any]]], invalid: set[str],
            channels: set[str] | None) -> Iterator[tuple[tuple[str, str, str], Result]]:
    for ident, (family, values) in records.items():
        plan = reqs.plan(family)
        if plan is not None:
            for r in plan.results(values, ident, invalid, channels):
                yield (ident, r.channel, r.locale), r


def _decoder(reqs: Requirements, family: str | None, parent: str | None) -> PartialDecoder | None:
    """The partial decoder for a stored product of `family`: the keys its plan checks and the unique
    attributes, which is all a rebuild reads. None (decode everything) for a variant that takes its family
    from its model: its plan is not known yet."""
    if family is None and parent:
        return None
    cache = reqs.__dict__.setdefault("_partial_decoders", {})
    hit = cache.get(family)
    if hit is None:
        hit = cache[family] = PartialDecoder(_watched(reqs, family)[0])
    return hit


def _records(conn: Connection, rows: list[Any], structure: Structure,
             reqs: Requirements | None = None) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """(identifier, family, parent, value_map) rows → identifier → (family, values with inheritance from
    product models). With `reqs`, value maps are decoded only for the keys scoring reads (the rebuild)."""
    loads = Statements.loads
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
    for ident, family, parent, raw in rows:
        partial = _decoder(reqs, family, parent) if reqs is not None and raw else None
        values = partial.decode(raw) if partial is not None else loads(raw) if raw else {}
        if parent:
            chain = []
            code = parent
            while code and code in models and len(chain) < 2:
                chain.append(models[code])
                code = models[code][0]
            merged: dict[str, Any] = {}
            for model in reversed(chain):
                merged.update(model[3])
            merged.update(values)
            values = merged
            if not family and chain:
                family = chain[0][1] or structure.family_of_variant(chain[0][2])
        out[ident] = (family, values)
    return out


def invalid_assets(conn: Connection, records: dict[str, Any], reqs: Requirements) -> set[str]:
    """The invalid refs among the records' (identifier → (family, values)) *required* image/file values: one
    hook call per batch."""
    refs: set[str] = set()
    for family, values in records.values():
        plan = reqs.plan(family)
        for key in plan.assets if plan is not None else ():
            ref = values.get(key)
            if ref and isinstance(ref, str):
                refs.add(ref)
    return _ask_validity(conn, refs)


def _ask_validity(conn: Connection, refs: set[str]) -> set[str]:
    """The refs the pim.registry.ASSET_VALIDITY hooks report as not valid."""
    from pim.registry import ASSET_VALIDITY, load

    invalid: set[str] = set()
    for ref in ASSET_VALIDITY if refs else ():
        invalid |= set(load(ref)(conn, refs))
    return invalid


def _replace(conn: Connection, sql: Statements, identifiers: list[str], new: dict[tuple[str, str, str], Result],
             channels: set[str] | None) -> list[str]:
    """Store the new rows of `identifiers` (on `channels`) and move the counters by the difference. Returns the
    products whose rows changed."""
    where = f"product IN ({sql.marks(identifiers)})"
    params = list(identifiers)
    if channels is not None:
        where += f" AND channel IN ({sql.marks(sorted(channels))})"
        params += sorted(channels)
    old = {(p, ch, loc): (fam, rto, req, tuple(sql.loads(miss)))
           for p, ch, loc, fam, rto, req, miss in sql.all(
               f"SELECT product, channel, locale, family, ratio, required, missing FROM completeness WHERE {where}", params)}
    fresh = {k: (r.family, r.ratio, r.required, r.missing) for k, r in new.items()}
    stale = [k for k in old if old[k] != fresh.get(k)]
    added = [k for k in fresh if old.get(k) != fresh[k]]
    if not stale and not added:
        return []
    counts: Counter[tuple[str, str, str, str]] = Counter()  # (channel, locale, family, products|complete)
    missing: Counter[tuple[str, str, str, str]] = Counter()
    for keys, source, sign in ((stale, old, -1), (added, fresh, 1)):
        for key in keys:
            family, rto, _, miss = source[key]
            counts[(key[1], key[2], family, "products")] += sign
            counts[(key[1], key[2], family, "complete")] += sign * (rto == 100)
            for attr in miss:
                missing[(key[1], key[2], family, attr)] += sign
    touched = sorted({k[0] for k in stale} | {k[0] for k in added})
    where = f"product IN ({sql.marks(touched)})" + (f" AND channel IN ({sql.marks(sorted(channels))})" if channels is not None else "")
    sql.run(f"DELETE FROM completeness WHERE {where}", touched + (sorted(channels) if channels is not None else []))
    keep = set(touched)
    _insert_scores(sql, [_score_row(k[0], r) for k, r in new.items() if k[0] in keep])
    _apply_counts(sql, counts, missing)
    return touched


def _score_row(product: str, r: Result) -> tuple[Any, ...]:
    return (product, *r.tail)


def _apply_counts(sql: Statements, counts: Counter[Any], missing: Counter[Any]) -> None:
    merged: dict[tuple[str, str, str], list[int]] = {}
    for (ch, loc, fam, col), n in counts.items():
        merged.setdefault((ch, loc, fam), [0, 0])[col == "complete"] += n
    p = sql.p
    sql.many("INSERT INTO completeness_count (channel, locale, family, products, complete) "
             f"VALUES ({p},{p},{p},{p},{p}) ON CONFLICT (channel, locale, family) DO UPDATE SET "
             "products = completeness_count.products + excluded.products, "
             "complete = completeness_count.complete + excluded.complete",
             [(*k, n, c) for k, (n, c) in sorted(merged.items()) if n or c])
    sql.many("INSERT INTO completeness_missing (channel, locale, family, attribute, products) "
             f"VALUES ({p},{p},{p},{p},{p}) ON CONFLICT (channel, locale, family, attribute) DO UPDATE SET "
             "products = completeness_missing.products + excluded.products",
             [(*k, n) for k, n in sorted(missing.items()) if n])
    if any(n < 0 for n in missing.values()):
        sql.run("DELETE FROM completeness_missing WHERE products <= 0")


def _unique_rows(identifiers: Iterable[str], records: dict[str, Any], reqs: Requirements) -> list[tuple[str, str, str]]:
    from pim.quality import is_gtin_attribute, unique_attributes, unique_form

    attrs = reqs.__dict__.get("_unique_attrs")
    if attrs is None:  # a scan of every attribute: once per structure, not per page
        attrs = reqs.__dict__["_unique_attrs"] = [(code, is_gtin_attribute(code)) for code in unique_attributes(reqs.structure)
                                                  if code != reqs.identifier]
    rows = []
    for ident in identifiers:
        if ident not in records:
            continue
        values = records[ident][1]
        rows.append((ident, reqs.identifier, unique_form(ident)[:255]))
        for code, gtin in attrs:
            if values.get(code) not in (None, "", []):
                rows.append((ident, code, unique_form(values[code], gtin)[:255]))
    return rows


def _unique_values(conn: Connection, sql: Statements, identifiers: list[str], records: dict[str, Any], reqs: Requirements) -> None:
    """Rewrite the unique_value rows of just the products whose rows changed: a write seldom changes an
    identifier or GTIN, and deleting and re-inserting every rescored product's rows (two indexes) cost more
    than reading them."""
    rows = _unique_rows(identifiers, records, reqs)
    fresh: dict[str, set[tuple[str, str, str]]] = {}
    for row in rows:
        fresh.setdefault(row[0], set()).add(row)
    stored: dict[str, set[tuple[str, str, str]]] = {}
    for row in sql.all(f"SELECT product, attribute, value FROM unique_value WHERE product IN ({sql.marks(identifiers)})",
                       identifiers):
        stored.setdefault(row[0], set()).add(tuple(row))
    changed = [i for i in identifiers if fresh.get(i) != stored.get(i)]
    if changed:
        sql.run(f"DELETE FROM unique_value WHERE product IN ({sql.marks(changed)})", changed)
        keep = set(changed)
        _insert_unique(sql, [r for r in rows if r[0] in keep])


# ---------------------------------------------------------------------------------------------- structure diff
def price_families(structure: Structure, channel: str) -> set[str]:
    """The families requiring a price on `channel`: what a change of its currencies rescores."""
    prices = {a for a, attr in structure.attributes.items() if attr.type == "price_collection"}
    return {f for f, fam in structure.families.items() if prices & set(fam.requirements.get(channel, []))}


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
                # Every family is scored on every channel (its identifier is always required): name them all,
                # so a web save's deferral (pim.rescore_jobs) can leave a large catalog to jobs; with no family
                # declared yet, everything (a variant may take its family from its model)
                yield set(structure.families) or None, {code}
            elif old.get("currencies") != new.get("currencies"):
                fams = price_families(structure, code)
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
    elif kind == "family_variant":
        # Scoring reads only a variant's family (a model's variants without a family of their own take it):
        # labels and levels change no score, and a variant is new or deleted only while no model uses it.
        moved = [c for c in changed if before.get(c) and after.get(c)
                 and before[c].get("family") != after[c].get("family")]
        fams = {before[c].get("family") for c in moved} | {after[c].get("family") for c in moved}
        if fams - {None}:
            yield fams - {None}, None
