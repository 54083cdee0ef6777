"""A BMEcat file's parsed products after reading: SKU matching under the map's `unmatched` and transaction, then
finishing each record (family, problem notes, tier SKUs, reference targets, deletes and restatements)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

from importers.bmecat_deletes import (
    RESTATING,
    Deletes,
    Restated,
    TierRemoval,
    enable_relisted,
    fold_deletes,
    is_delete,
    restate_unsent,
    withdrawal,
)
from importers import bmecat_topics as topics
from importers.bmecat_links import References
from importers.bmecat_map import BmecatMap
from importers.bmecat_mapper import NO_IDS, GtinIds
from importers.bmecat_reader import BmecatHeader
from importers.gtin_check import refuse_unlinked, unmatched_reason
from pim.importing import IdentifierOrigin, Parsed, Rejected
from pim.sources import NoSku, Placed, SourceItem, match_skus, paired_pids
from pim.store import Store
from pim.store.raw import raw_table
from pim.store.store import PRODUCT, QuarantineEntry, batched

#: Transactions whose PRODUCT may state only part of the product (`updates: delta` for T_UPDATE_PRODUCTS).
PARTIAL = frozenset({"update_prices", "update_products"})


def _families(store: Store, skus: list[str]) -> tuple[dict[str, str | None], set[str]]:
    """SKU → family of the stored products among `skus`, and those of them disabled (one query, no value decoding)."""
    with store.engine.connect() as conn:
        rows = raw_table(store, conn, PRODUCT).select(conn, ("identifier", "family", "enabled"), "identifier", skus)
    return {sku: family for sku, family, _ in rows}, {sku for sku, _, enabled in rows if not enabled}


def match_items(store: Store, m: BmecatMap, items: Iterator[SourceItem | Rejected],
                header: BmecatHeader) -> Iterator[Parsed | Rejected]:
    """SKU matching (pim.sources.match_skus) under the map's `unmatched`, except in a T_UPDATE_PRICES: a price
    update carries only prices, so a product it cannot place is refused whatever `unmatched` says — neither
    created nor remembered in the cross-reference as created. The transaction element precedes the products,
    so it is known once the first is read; matching starts then. A product with no cross-reference whose
    GTIN was given but bad (not matched on, `BmecatMapper._gtin`) is refused under its GTIN element saying so,
    whatever `unmatched` says: created, it could duplicate one of ours (`refuse_unlinked`). A refusal about a
    GTIN names its element and line (`GtinIds`, carried in `raw["_gtin"]`), not the PRODUCT's."""
    source = f"supplier:{m.supplier}"
    first = next(items, None)
    if first is None:
        return
    prices_only = header.transaction == "update_prices"
    unmatched = "quarantine" if prices_only else m.unmatched
    found: Iterable[SourceItem | Rejected] = chain([first], items)
    if unmatched == "create" and m.sku_from == "xref":
        found = refuse_unlinked(store, source, found, lambda i: _ids(i).bad)
    for item in match_skus(store, source, found, gtin_attribute=m.fields.get("ean", "ean"), unmatched=unmatched,
                           gtin_at=lambda i, gtin: _ids(i).at(gtin), defer=True):  # pairs: import_bmecat's put_extras
        ids = item.raw.pop("_gtin", None) if isinstance(item, Rejected) and item.raw else None
        if isinstance(item, Rejected) and item.raw:
            item.raw.pop("_ref_lines", None)
        bad = ids.bad if ids is not None else None
        if isinstance(item, NoSku):  # no SKU found: named at the GTIN element tried, if any
            pid = item.record_key or ""
            if prices_only:
                why = unmatched_reason(bad[1], source, pid, "quarantine", hint=False) if bad else item.why
                field, line = (bad[0], bad[2]) if bad else (
                    "SUPPLIER_PID" if item.field == "pid" else item.field, item.line)
                item = Rejected(_unplaced_price(source, pid, why), item.file, line, field, item.raw, item.record_key)
            elif bad:
                item = Rejected(unmatched_reason(bad[1], source, pid, unmatched), item.file, bad[2], bad[0],
                                item.raw, item.record_key)
        yield item


def refuse_pid_twins(store: Store, m: BmecatMap, items: Iterator[Parsed | Rejected]) -> Iterator[Parsed | Rejected]:
    """Under `pid_slash` (a `sku_from: supplier_pid` map), two PIDs can make one SKU (r/1 and r-1 both WM-r-1);
    parse_items refuses the later within one file, and this across files: each product taken in records the PID
    its SKU was made from (a cross-reference pair, a `Placed` in its extras, written in its batch transaction
    only if it is taken in), and a product or delete whose SKU is paired with another PID of the source is
    refused naming both, rather than merged into (or withdrawn from) the other PID's product. A product stored
    before its pair was first recorded has none: its first import records it. One query per batch."""
    if m.pid_slash is None or m.sku_from != "supplier_pid":
        yield from items
        return
    source = f"supplier:{m.supplier}"
    for chunk in batched(items, store.batch_size):
        paired = paired_pids(store, source, (i.record.identifier for i in chunk if isinstance(i, Parsed)))
        for item in chunk:
            pid = (item.raw or {}).get("supplier_pid") if isinstance(item, Parsed) else None
            if not isinstance(item, Parsed) or not pid:
                yield item
                continue
            sku = item.record.identifier
            pids = paired.get(sku, [])
            other = next((p for p in pids if p != pid), None)
            if other is not None:
                yield Rejected(_twin_reason(source, m, pid, sku, other), item.file, item.line, "SUPPLIER_PID",
                               item.raw, pid)
                continue
            if pid not in pids and not is_delete(item):
                item.extras = [*item.extras, Placed(pid, sku, "pid_slash")]
            yield item


def _twin_reason(source: str, m: BmecatMap, pid: str, sku: str, other: str) -> str:
    """Why a product whose SKU another PID of the source already stands for is refused, and what to do."""
    return (f"PID '{pid}' makes SKU '{sku}' under the map's `pid_slash: {m.pid_slash}`, which {source} product "
            f"'{other}' already stands for (cross-referenced by an earlier import): this product was left out rather "
            "than merged into that one. Choose a `pid_slash` the supplier's PIDs never hold (e.g. `~`) "
            "and import the file again")


def _ids(item: SourceItem) -> GtinIds:
    """The GTIN ids `parse_items` carries in the item's raw record until it is matched (none: empty)."""
    return (item.raw.get("_gtin") if item.raw else None) or NO_IDS


def _unplaced_price(source: str, pid: str, why: str) -> str:
    """The reason a T_UPDATE_PRICES product with no product of ours is refused, and the two ways to place it."""
    return (f"T_UPDATE_PRICES never creates products (a price update carries only prices): {why}; import the product "
            f"in a T_NEW_CATALOG or T_UPDATE_PRODUCTS first, or add a cross-reference with `pim import xref {source} "
            f"{pid} SKU`, then import the prices again")


def supplier_origin(field: str, sku_from: str = "xref", prefix: str = "") -> IdentifierOrigin:
    """Where a supplier import's new SKUs come from (pim.importing.IdentifierOrigin): the supplier's product id in
    `field`, which only the supplier can change. Where the cross-reference places products (`sku_from: xref`,
    supplier tables), one whose id makes no SKU is placed by mapping the id to a SKU of ours; a map that makes
    every SKU of the id (`sku_from: supplier_pid`) cannot place it."""
    xref = "map the id to it with `pim import xref {source} {pid} SKU`"
    if sku_from == "xref":
        return IdentifierOrigin(field, (
            f"it is the supplier's product id ({field}), which only the supplier can change: create the product under "
            f"a SKU of your own (POST /api/v1/products), {xref}, and import the file again"))
    return IdentifierOrigin(field, (
        f"this map makes a new SKU of `sku_prefix` + the supplier's product id ({field}; `sku_from: {sku_from}`), "
        "which only the supplier can change, so the product is left out and the rest of the file imported. For a "
        "`/`, set `pid_slash` in the map (`pid_slash: \"-\"` makes PID 12/34 SKU 12-34) and import the file again; "
        "otherwise only a map with `sku_from: xref` can place it: create our product under another SKU (POST "
        f"/api/v1/products) and {xref}"), prefix)


def finish_items(items: Iterator[Parsed | Rejected], store: Store, m: BmecatMap, path: Path,
                 refs: References | None = None, deletes: Deletes | None = None) -> Iterator[Parsed | Rejected]:
    """After SKU matching: give new products the map's family (existing ones keep theirs), turn the collected
    value problems into quarantine notes under the SKU, give each product's tier prices its SKU, translate
    reference targets to SKUs (`refs`) and turn deletes into withdrawals (`deletes`). A T_UPDATE_PRICES product
    whose SKU is no stored product is refused here: the merge would create it."""
    source = f"supplier:{m.supplier}"
    refs = refs or References(store, source, m.sku_from, m.sku_prefix, pid_slash=m.pid_slash)
    deletes = deletes or Deletes()
    origin = supplier_origin("MANUFACTURER_PID" if m.sku_from == "manufacturer_pid" else "SUPPLIER_PID", m.sku_from,
                             "" if m.sku_from == "xref" else m.sku_prefix)
    restating = RESTATING if m.updates == "restate" else frozenset({"new_catalog"})  # delta: an update only adds
    # a price update, and a delta update, are taken in clean without stating all of the product (bmecat_topics)
    for chunk in batched(items, store.batch_size):
        ids = [i.record.identifier for i in chunk if isinstance(i, Parsed)]
        known, disabled = _families(store, ids) if ids else ({}, set())
        withdrawn = [i for i in chunk if isinstance(i, Parsed) and is_delete(i) and i.record.identifier in known]
        if withdrawn:
            withdrawal(store, source, withdrawn, deletes)  # type: ignore[arg-type]
            deletes.skus.extend(i.record.identifier for i in withdrawn)
            if m.tier_price_list:  # all its tiers go, with its record (`TierRemoval`)
                for i in withdrawn:
                    i.extras = [TierRemoval(i.record.identifier, frozenset())]
        done: list[Parsed] = []
        ref_lines: dict[int, dict[str, dict[str, int]]] = {}  # id(item) → its `Mapped.ref_lines`
        folds: list[tuple[Parsed, Restated]] = []
        complete: list[tuple[Parsed, Restated]] = []  # catalog and update products of ours: `restate_unsent`
        relisted: list[Parsed] = []  # disabled products of ours a catalog or an update lists: `enable_relisted`
        for item in chunk:
            if isinstance(item, Rejected):
                yield item
                continue
            rec = item.record
            raw = dict(item.raw or {})
            problems = raw.pop("_problems", [])
            held = raw.pop("_held", ())
            fold = raw.pop("_fold", False)
            folding = raw.pop("_folding", False)  # a PRODUCT between a delete and the fold: `fold_deletes` restates it
            raw.pop("_gtin", None)
            lines = raw.pop("_ref_lines", None)
            if raw.get("mode") == "delete":
                if rec.identifier not in known:  # the cross-reference names a product deleted since
                    deletes.unknown += 1
                    continue
                item.raw = raw
                yield item
                continue
            if raw.get("transaction") == "update_prices" and rec.identifier not in known:
                # a SKU set before matching (sku_from: supplier_pid…) or a cross-reference to a deleted product
                pid = raw.get("supplier_pid", "")
                yield Rejected(_unplaced_price(source, pid, f"no product '{rec.identifier}' for {source} product '{pid}'"),
                               item.file, item.line, "SUPPLIER_PID", raw, rec.identifier)
                continue
            for tier in item.extras:
                if isinstance(tier, dict):  # not a cross-reference pair (pim.sources.Placed)
                    tier["sku"] = rec.identifier
            refs.note(raw.get("supplier_pid", ""), rec.identifier)
            if rec.identifier not in known and rec.family is None:
                rec.family = m.family
            elif (rec.identifier in known and "family" in rec.model_fields_set and rec.family == m.family
                  and known[rec.identifier] != m.family):
                rec.model_fields_set.discard("family")  # the supplier's default family never overrides ours
                # (stated where it is the product's family anyway: the record hashes as when it created it)
            item.raw = raw
            item.origin = origin  # what refusing a new product under its SKU names (pim.importing._addressable)
            item.problems = [QuarantineEntry(reason, path.name, at[0] if at and at[0] else item.line, field, None,
                                             rec.identifier, source, severity="problem", kind=topics.kind(m, field))
                             for field, reason, *at in problems]
            if raw.get("transaction") in PARTIAL and raw["transaction"] not in restating:  # closes only what it restates
                topics.mark_partial(raw, topics.restated(m, rec, problems, held, item.extras,
                                                         raw.get("transaction") == "update_prices", bool(lines)))
            done.append(item)  # type: ignore[arg-type]
            if lines:
                ref_lines[id(item)] = lines
            if rec.identifier in disabled and raw.get("transaction") in RESTATING and not folding:
                relisted.append(item)  # type: ignore[arg-type]
            if fold:
                folds.append((item, deletes.folds.pop(raw.get("supplier_pid", ""), Restated())))  # type: ignore[arg-type]
            elif raw.get("transaction") in restating and rec.identifier in known and not folding:
                # the types taken before `translate`, which leaves the late ones out of the record
                complete.append((item, Restated(held, rec.associations)))  # type: ignore[arg-type]
        refs.translate(done, ref_lines)
        if complete:
            restate_unsent(store, source, complete, deletes)
        if folds:
            fold_deletes(store, source, m, folds, deletes)
        if relisted:
            enable_relisted(store, source, relisted, deletes)
        yield from done
