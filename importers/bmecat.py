"""BMEcat 2005 supplier catalogs → canonical records, through a declarative map (schemas/bmecat_map.schema.json):
which PRODUCT_DETAILS field and which ETIM/ECLASS feature lands in which attribute, with units, option
values, languages, price type and reference types.

This module reads a file into items and runs the import; the work is split by job: the map
(importers.bmecat_map), one PRODUCT → a record (importers.bmecat_mapper, its features importers.bmecat_features,
tier checks importers.tier_checks), deletes and restatements (importers.bmecat_deletes), SKU matching and
finishing the records (importers.bmecat_matching). Their public names stay importable from here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, func, select

from importers.bmecat_deletes import Deletes, Restated, TierRemoval, known_deletes, report_enabled
from importers.bmecat_features import ECLASS_BOOLEANS, Problem
from importers.bmecat_groups import GroupPlacer, check_groups_map
from importers.bmecat_links import Followups, References
from importers.bmecat_map import (
    ISO639_2,
    SPEC_UNITS,
    BmecatMap,
    CatalogGroups,
    FeatureTarget,
    Logistics,
    LogisticTarget,
    load_map,
)
from importers.bmecat_map_checks import refuse_map_mistakes, report_file, report_unrestated, with_twins
from importers.bmecat_mapper import BmecatMapper, GtinIds, Mapped
from importers.bmecat_matching import finish_items, match_items, refuse_pid_twins, supplier_origin
from importers.bmecat_reader import (
    BmecatHeader,
    BmecatProduct,
    FileIdentity,
    deletes_products,
    product_modes,
    read_bmecat,
)
from importers.erp_values import partial_product, refusal
from importers.tier_checks import tier_problem, unit_price, unit_price_problem
from importers.tier_periods import GapNotes, chain_periods, remove_gone
from pim.catalog import Structure
from pim.commerce import PriceListEntry, remove_price_list_entries_in
from pim.errors import InputError
from pim.importing import NEW_IDENTIFIER, ImportCounts, Rejected, run_import
from pim.merge import Merger, Precedence
from pim.product import trusted_provenance
from pim.sources import MAX_PID, Placed, SourceItem, job_label, merger_for, put_placed_in
from pim.store import Store
from pim.store.store import QUARANTINE

#: What callers and tests import from here, whichever module of the split holds it.
__all__ = ["BmecatImporter", "BmecatMap", "BmecatMapper", "CatalogGroups", "Deletes", "ECLASS_BOOLEANS", "FeatureTarget",
           "GtinIds", "ISO639_2", "LastWords", "LogisticTarget", "Logistics", "Mapped", "Problem", "Restated",
           "SPEC_UNITS", "TierRemoval", "import_bmecat", "load_map", "parse_items", "supplier_origin", "tier_problem",
           "unit_price", "unit_price_problem"]


def parse_items(path: Path, m: BmecatMap, structure: Structure, header: BmecatHeader | None = None,
                deletes: Deletes | None = None, mapper: BmecatMapper | None = None) -> Iterator[SourceItem | Rejected]:
    """Products as SourceItems keyed by supplier PID and GTIN (the SKU is found later); unreadable ones Rejected.
    Per-value problems travel in `raw["_problems"]` until the SKU is known (the keys of the values they skipped
    in `raw["_held"]`, see `Mapped.held`), tier prices as the item's `extras`
    (given the SKU by `finish_items`; written only when the product is taken in). A `PRODUCT mode="delete"` is an
    empty record marked `raw["mode"] = "delete"` (`finish_items` turns it into the supplier's withdrawal). `mapper`:
    the file's BmecatMapper, for a caller that reads what it noted (import_bmecat's warnings).

    The file's last word on a product wins (`_last_words`, with `deletes: withdraw`): a PRODUCT of a supplier PID
    that the file deletes later is overridden — read, counted unchanged (`superseded_in_file`), not applied — so
    an update then a delete leaves nothing of the supplier, and the same file imported again changes nothing.
    A delete followed by later PRODUCTs of its PID is applied with the last of them (`raw["_fold"]`, see
    `fold_deletes`): what they restate stands, the rest of the supplier's claims is withdrawn. Quarantine entries name
    the file by its name, as every other importer's, so a run from another directory supersedes them."""
    header = header if header is not None else BmecatHeader()
    deletes = deletes if deletes is not None else Deletes()
    name = path.name
    mapper = mapper or BmecatMapper(m, structure, str(path))
    plan = _last_words(path) if m.deletes == "withdraw" else LastWords()
    position = -1
    made: dict[str, tuple[str, int]] | None = {} if m.pid_slash and m.sku_from != "xref" else None  # SKU → PID, line
    for bp in read_bmecat(path, header, groups=m.catalog_groups is not None, checked=plan.identity):
        if isinstance(bp, InputError):
            yield Rejected(str(bp), name, bp.line, bp.field, None, None)
            continue
        position += 1
        if bp.mode == "delete" and m.deletes == "review":
            yield Rejected("PRODUCT mode=delete: this map has deletes reviewed, not applied; to apply one: pim import "
                           f"withdraw supplier:{m.supplier} <SKU of supplier PID {bp.supplier_pid}> (or set "
                           "`deletes: withdraw` in the map)",
                           name, bp.line, "PRODUCT@mode", {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        if len(bp.supplier_pid) > MAX_PID:
            yield Rejected(f"SUPPLIER_PID: {len(bp.supplier_pid)} characters; a supplier product id has at most "
                           f"{MAX_PID}", name, bp.line, "SUPPLIER_PID", {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        word = plan.get(bp.supplier_pid)
        said: Restated | None = None
        if word is not None:
            last_delete, last = word
            if position == last_delete and bp.mode != "delete":  # the first pass read the file otherwise: apply
                plan, word = LastWords(), None                     # the rest in file order, as without one
            elif position < last_delete:
                deletes.superseded += 1  # the later delete withdraws whatever this would add
                continue
            elif position == last_delete and last > last_delete:
                deletes.folded += 1  # applied with the last PRODUCT of the PID after it
                deletes.folds[bp.supplier_pid] = Restated()
                continue
            elif position > last_delete:
                said = deletes.folds.get(bp.supplier_pid)
        try:
            if bp.mode == "delete":
                record = partial_product(mapper.sku(bp), {}, trusted_provenance(
                    mapper._source, f"{mapper._file_name}:{bp.line}", mapper.stamp), {})
            else:
                mapped = mapper.map(bp, header)
                record = mapped.product
        except ValidationError as exc:  # the SKU (prefix + PID) over 255 characters
            field, reason = refusal(exc, "SUPPLIER_PID")
            yield Rejected(reason, name, bp.line, field, {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        if made is not None and (clash := _slashed_twin(made, m, bp, record.identifier)) is not None:
            yield Rejected(clash, name, bp.line, "MANUFACTURER_PID" if m.sku_from == "manufacturer_pid" else
                           "SUPPLIER_PID", {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        if bp.mode == "delete":
            if m.sku_from == "xref":
                record.identifier = ""
            yield SourceItem(record, name, bp.line, {"supplier_pid": bp.supplier_pid, "transaction": bp.transaction,
                                                     "mode": "delete", "_problems": []}, pid=bp.supplier_pid)
            continue
        if m.sku_from == "xref":
            record.identifier = ""
        raw = {"supplier_pid": bp.supplier_pid, "transaction": bp.transaction, "_problems": mapped.problems}
        if mapped.held:
            raw["_held"] = sorted(mapped.held)
        if mapped.gtin is not None:
            raw["_gtin"] = mapped.gtin  # what a refusal about a GTIN names (`match_items`)
        if mapped.ref_lines:
            raw["_ref_lines"] = mapped.ref_lines  # what a problem about a reference target names (`finish_items`)
        if said is not None and word is not None:
            said.note(record, mapped.tiers)
            raw["_fold" if position == word[1] else "_folding"] = True  # the fold, not each, restates (`finish_items`)
        gtins = tuple(dict.fromkeys(g.text for g in mapped.gtin.valid)) if mapped.gtin is not None else ()
        yield SourceItem(record, name, bp.line, raw, pid=bp.supplier_pid, gtins=gtins, extras=mapped.tiers)


def _slashed_twin(made: dict[str, tuple[str, int]], m: BmecatMap, bp: BmecatProduct, sku: str) -> str | None:
    """Why a product is refused whose PID makes the SKU an earlier PID of the file made (`pid_slash` turned
    12/34 into the 12-34 of another product), else None: merged, one would silently overwrite the other. Across
    files, the cross-reference pairs each such SKU with its PID (importers.bmecat_matching.refuse_pid_twins)."""
    pid = bp.manufacturer_pid if m.sku_from == "manufacturer_pid" and bp.manufacturer_pid else bp.supplier_pid
    first, line = made.setdefault(sku, (pid, bp.line))
    if first == pid:
        return None
    return (f"PID '{pid}' makes SKU '{sku}' under the map's `pid_slash: {m.pid_slash}`, as PID '{first}' (line "
            f"{line}) does: this product was left out. Choose a `pid_slash` the supplier's PIDs never hold (e.g. "
            "`~`) and import the file again")


class LastWords(dict[str, tuple[int, int]]):
    """`_last_words`' plan; `identity`: its pass read the whole file, which was well-formed, and this is the file
    it read (the import's read skips its structure check, so the file is read twice, not three times, and refuses
    a file that is no longer this one: `read_bmecat(checked=)`). None: the import's read checks the file."""

    identity: FileIdentity | None = None


def _last_words(path: Path) -> LastWords:
    """Supplier PID → (position of its last delete among the file's products, position of its last product),
    for the PIDs the file deletes (a first pass, `product_modes`, only for a file with a `PRODUCT mode="delete"`:
    `deletes_products`; the others are read once). A file that breaks is left to the import's own read, whose
    structure check refuses it before its first product."""
    plan = LastWords()
    if not deletes_products(path):
        return plan
    modes = product_modes(path)
    try:
        for position, (pid, mode) in enumerate(modes):
            if mode == "delete":
                plan[pid] = (position, position)
            elif pid in plan:
                plan[pid] = (plan[pid][0], position)
    except Exception:  # noqa: BLE001
        return plan
    plan.identity = modes.identity
    return plan


def import_bmecat(path: Path, store: Store, m: BmecatMap, *, precedence: Precedence | None = None,
                  map_dir: Path | None = None) -> ImportCounts:
    """Import one BMEcat file, merged by precedence into what other sources said; tier prices into a price list
    (written batch by batch, each batch after its products). A T_NEW_CATALOG is the supplier's whole catalog:
    its tier prices are then a complete price list, and stored tiers it no longer holds are removed once every
    product is in (nothing is removed while any product of the file was rejected). Once every product is in,
    the follow-ups run: reference targets that resolved only then, and the catalog group assignments
    (importers/bmecat_links.py, importers/bmecat_groups.py). The job is finished once, after them, with
    every count. A T_UPDATE_PRICES never creates a product, whatever the map's `unmatched` says (`match_items`).
    Within the file the last word on a product wins: a PRODUCT a later delete of its supplier PID overrides is
    not applied, and a delete followed by PRODUCTs of its PID leaves what they say (`parse_items`). A product a
    T_NEW_CATALOG or T_UPDATE_PRODUCTS sends withdraws the supplier's claims on it that it no longer states
    (`restate_unsent`; an update says what in one warning, and a map's `updates: delta` reads its PRODUCTs as changes
    only); a delete of a product no other source describes disables it (`withdrawal`)."""
    from pim.commerce import CompletePriceLists, put_price_rows_in

    source = f"supplier:{m.supplier}"
    written = 0
    header = BmecatHeader()
    deletes = Deletes()
    # ended: stored tiers given an end; resumed: stored tiers resuming after a block's own end (tier_periods)
    lists: dict[str, Any] = {"open": None, "ended": 0, "ending": 0, "resumed": 0, "resuming": 0}
    # what the batch being written took off (SKUs) and put in (tiers): withdrawn and counted once it commits
    taken_off: set[str] = set()
    put_in = 0
    cleanup = ExitStack()  # a complete tier list left unfinished (the import failed) removes nothing
    gaps = GapNotes()  # products left without tiers after a price block with its own end (importers.tier_periods)

    def put_extras(conn: Connection, batch: list[dict[str, Any] | TierRemoval | Placed]) -> None:
        """The cross-reference pairs SKU matching found (`Placed`) and the tier prices of a batch's products taken
        in, in the batch's transaction, the tiers after those its deletes take off (`TierRemoval`), so a crash or
        a refused record leaves all as they were: a product refused for any reason leaves no pair. Each tier was
        checked as a PriceListEntry when it was read (`BmecatMapper._tier_check`); what that left out, the map's
        price list name, is checked on the first (the error an entry built of each tier gave)."""
        nonlocal put_in, taken_off
        put_placed_in(store, conn, source, batch)
        if not m.tier_price_list:
            return
        batch = [t for t in batch if not isinstance(t, Placed)]
        gone = {t.sku: set(t.keep) for t in batch if isinstance(t, TierRemoval)}
        taken_off = remove_price_list_entries_in(store, conn, m.tier_price_list, source, gone) if gone else set()  # type: ignore[arg-type]
        rows = [{"customer": m.tier_price_list, **t, "source": source}  # PriceListEntry's field order
                for t in batch if not isinstance(t, TierRemoval)]
        put_in = 0
        gaps.pending, lists["ending"], lists["resuming"] = [], 0, 0
        complete = header.transaction == "new_catalog"
        if not rows and (complete or not taken_off):
            return
        if rows:
            PriceListEntry(**rows[0])
        # one list a day (importers.tier_periods): a price block from July ends the one before it; a T_NEW_CATALOG
        # holds each product's whole list, so only its own blocks are chained (the stored others go at its end)
        days = chain_periods(store, conn, m.tier_price_list, source, rows, gaps.pending, with_stored=not complete,
                             also=taken_off)  # a block taken off: the list it ended runs on
        if complete:
            if lists["open"] is None:
                lists["open"] = cleanup.enter_context(CompletePriceLists(store, conn))
            put_in = lists["open"].put_rows_in(conn, days.rows)
        else:
            put_in = put_price_rows_in(store, conn, days.rows)
            remove_gone(store, conn, days.gone)  # a resumed part a later block took over
        lists["ending"] = put_price_rows_in(store, conn, days.ended) if days.ended else 0
        lists["resuming"] = put_price_rows_in(store, conn, days.resumed) if days.resumed else 0

    def committed(_: int) -> None:
        """After each batch commits (run_import's on_batch): its tiers count and what its deletes took off its
        products' tiers is withdrawn, only then (a batch prepared again or rolled back did neither)."""
        nonlocal written, put_in
        deletes.withdrew.update(taken_off)
        taken_off.clear()
        written, put_in = written + put_in, 0
        gaps.committed()
        lists["ended"] += lists["ending"]
        lists["resumed"] += lists["resuming"]
        lists["ending"] = lists["resuming"] = 0

    start = store.structure()
    refuse_map_mistakes(m, start, SPEC_UNITS, m._file)  # before a product is read or a category created
    placer = early = None
    if m.catalog_groups is not None:
        check_groups_map(m.catalog_groups, start)
        placer = GroupPlacer(store, m.catalog_groups, with_twins(m.languages), source, path.name)
        early = _group_system(path) if m.catalog_groups.create_under else BmecatHeader()
        placer.create_categories(early.groups)
    # read after the group tree is in: the records' fingerprints depend on the structure (pim.merge), so the
    # next import of the file, reading the same structure, finds them (without groups, nothing changed it)
    structure = store.structure() if placer is not None else start
    merger = (Merger(precedence, create_missing=m.unmatched == "create") if precedence is not None
              else merger_for(m, map_dir)).bind(structure)  # type: ignore[arg-type]  # a BmecatMap has precedence and unmatched
    refs = References(store, source, m.sku_from, m.sku_prefix, salt=merger.salt, pid_slash=m.pid_slash)
    mapper = BmecatMapper(m, structure, str(path))
    parsed = known_deletes(store, source, parse_items(path, m, structure, header, deletes, mapper), deletes)
    matched = match_items(store, m, parsed, header)
    items = finish_items(refuse_pid_twins(store, m, matched), store, m, path, refs, deletes)

    def after_pass(counts: ImportCounts) -> None:
        if written:
            counts.extra["tier_prices"] = written
        if lists["open"] is None and m.tier_price_list and header.transaction == "new_catalog":
            lists["open"] = cleanup.enter_context(CompletePriceLists(store))  # no tier taken in: none to keep
        if lists["open"] is not None:
            removed = lists["open"].close(
                counts.job_id, _holding_tiers(store, counts), file=path, source=source,
                nothing_removed=f"T_NEW_CATALOG: no tier price of '{m.tier_price_list}' was removed", rows="product(s)")
            if written or removed:
                counts.extra["tier_prices_removed"] = removed
        if lists["ended"]:
            counts.extra["tier_prices_ended"] = lists["ended"]
        if lists["resumed"]:
            counts.extra["tier_prices_resumed"] = lists["resumed"]
        if m.tier_price_list:
            gaps.report(store, counts, source, path.name, m.tier_price_list, "PRODUCT_PRICE_DETAILS")
        _followups(store, m, path, header, refs, deletes, merger.precedence, counts, placer,
                   set(early.groups) if early is not None else set())
        report_file(store, counts, source, path.name, m, mapper.codes, mapper.unmapped,
                    complete=header.transaction == "new_catalog", price_types=mapper.price_types)

    with cleanup:
        return run_import(store, source, items, structure=structure, label=job_label("bmecat", path), merge=merger,
                          before_finish=after_pass, extras=put_extras,
                          on_batch=committed if m.tier_price_list else None)


def _group_system(path: Path) -> BmecatHeader:
    """The file's catalog group system, read ahead of its products (the group system precedes them in BMEcat
    2005 and 1.2): the reader stops at the first product. A file that breaks here is left to the import
    itself, which reports it under its job."""
    header = BmecatHeader()
    try:
        for item in read_bmecat(path, header, groups=True):
            if isinstance(item, BmecatProduct):
                break
    except Exception:  # noqa: BLE001
        return BmecatHeader()  # the import's own read raises it again, under its job
    return header


def _followups(store: Store, m: BmecatMap, path: Path, header: BmecatHeader, refs: References, deletes: Deletes,
               precedence: Precedence, counts: ImportCounts, placer: GroupPlacer | None = None,
               early: set[str] | None = None) -> None:
    """After the product pass, before the job is finished: late reference targets, the group tree (groups
    the read ahead did not see) and the assignments, the deletes' counts; their problems go to the job."""
    source = f"supplier:{m.supplier}"
    links, problems = refs.resolve_pending(path.name)
    follow = Followups(store, source, path.name, datetime.now(UTC), associations=links)
    if placer is not None:
        placer.create_categories(header.groups, done=early or ())
        created = placer.created
        follow.categories = placer.claims(header, refs.in_file, set(deletes.skus), refs.lookup, cleared=deletes.cleared)
        problems += placer.problems
        if created:
            counts.extra["categories_created"] = created
    wanted = follow.associations.keys() | follow.categories.keys()
    rejected = _rejected(store, counts) if wanted or deletes.unsent or deletes.withdrew or deletes.enabled else set()
    if wanted:
        follow.own = {sku for sku in refs.in_file.values() if sku in wanted and sku not in rejected}
    changed, refused = follow.write(precedence)
    problems += refused
    if changed:
        counts.extra["updated_after_file"] = changed
    # the products the deletes took something from in this run (an unchanged re-run withdraws nothing; a delete
    # the merge refused took no value or tier: TierRemoval)
    withdrew = (deletes.withdrew - rejected) | (follow.changed & set(deletes.skus))
    if withdrew:
        counts.extra["withdrawn"] = len(withdrew)
    if unsent := deletes.unsent - rejected:  # a record validation or the merge refused withdrew nothing
        counts.extra["withdrawn_unsent"] = len(unsent)
    if header.transaction == "update_products":
        report_unrestated(store, counts, source, path.name, {sku: deletes.unrestated[sku] for sku in unsent
                                                             if sku in deletes.unrestated}, m.updates)
    report_enabled(store, counts, source, path.name, {sku: pid for sku, pid in deletes.enabled.items() if sku not in rejected})
    aside = deletes.unknown + deletes.superseded + deletes.folded  # read, and no record of their own merged
    counts.read += aside
    counts.unchanged += aside
    if deletes.unknown:
        counts.extra["deletes_unknown"] = deletes.unknown
    if deletes.superseded:
        counts.extra["superseded_in_file"] = deletes.superseded
    counts.problems += store.quarantine(counts.job_id, problems)


def _holding_tiers(store: Store, counts: ImportCounts) -> int:
    """The rejected products that keep a T_NEW_CATALOG's stored tier prices (one may be a product that still holds
    some): all but the new products refused for their SKU (pim.importing.NEW_IDENTIFIER), which were never stored
    and hold none. One count, only when the job rejected something; its open entries (a job run again closed those
    of its earlier attempts)."""
    if not counts.rejected:
        return 0
    with store.engine.connect() as conn:
        new = conn.execute(select(func.count()).select_from(QUARANTINE).where(
            QUARANTINE.c.job_id == counts.job_id, QUARANTINE.c.kind == NEW_IDENTIFIER,
            QUARANTINE.c.resolved_at.is_(None))).scalar_one()
    return max(counts.rejected - new, 0)


def _rejected(store: Store, counts: ImportCounts) -> set[str]:
    """The record keys (SKUs) this job rejected; none read when it rejected none."""
    if not counts.rejected:
        return set()
    return {e["record_key"] for e in store.quarantined(counts.job_id, open_only=False, severity="rejected")}


class BmecatImporter:
    name = "bmecat"

    def run(self, path: Path, store: Store, *, map_path: Path, **_: Any) -> dict[str, Any]:
        return import_bmecat(path, store, load_map(map_path), map_dir=map_path.parent).as_dict()
