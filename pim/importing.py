"""The shared import loop: parsed records in, validated batches written, rejects quarantined, counts kept.
Every importer yields `Parsed` or `Rejected` items and calls `run_import`; they differ only in parsing."""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from pim import job_cancel
from pim.catalog import Structure
from pim.errors import InputError
from pim.gc_policy import BULK_THRESHOLD, bulk_allocation
from pim.product import EMPTY, Product, ProductModel, split_key
from pim.store import Store
from pim.store.store import QuarantineEntry
from pim.store.supersede import MISSING_AXIS, RESTATES, STRUCTURAL, Carried
from pim.validation import RecordValidator, identifier_problem


@dataclass
class Parsed:
    record: Product | ProductModel
    file: str
    line: int | None = None
    raw: dict[str, Any] | None = None
    #: Per-value issues that do not reject the record (severity "problem", e.g. a missing media file);
    #: quarantined only if the record is written, after older entries for it are closed.
    problems: list[QuarantineEntry] = field(default_factory=list)
    #: Rows that stand beside a product record (an IDoc's stock levels, a BMEcat product's tier prices):
    #: written by the import's `extras` writer in the transaction of the record's batch, and only when the
    #: record is taken in (merged, or skipped as already merged), never for a rejected one.
    extras: list[Any] = field(default_factory=list)
    #: Value keys a whole record left out (a bad GTIN) that keep what the record it replaces has there, put
    #: back before it is written (pim.catalog_gtins.keep_stored_gtins).
    kept: tuple[str, ...] = ()
    #: Price collection key → the currencies the record states, where its file states only some of those the map
    #: reads (a CSV without the `Listenpreis USD` column): the others keep this source's amounts in the merge
    #: (pim.merge.Merger.prepare). None, the usual case: the record's prices are the source's whole claim. One
    #: mapping is shared by every record of a file (or of a set of absent elements): do not change it.
    partial: Mapping[str, frozenset[str]] | None = None
    #: Where the record's identifier comes from when the file is not the user's to edit (a supplier's product id):
    #: what refusing a new product under it names and advises (`_addressable`). None: the file's own field.
    origin: IdentifierOrigin | None = None


@dataclass(frozen=True)
class IdentifierOrigin:
    """How an importer makes a new product's identifier of a field its user cannot edit (a supplier's product id,
    `prefix` + the id), so that refusing one the REST API cannot address (`_addressable`) names that field and a
    way out the user has, not "change it in the file". One per import, shared by its records."""

    field: str  # the element or column the identifier is made of (SUPPLIER_PID, the pid column)
    way_out: str  # what to do, where `{pid}` stands for the id and `{source}` for the import's, each shell-quoted
    prefix: str = ""

    def advice(self, identifier: str, source: str) -> str:
        """`way_out` for a refused identifier (replaced, not formatted: a column name may hold braces)."""
        pid = shlex.quote(identifier.removeprefix(self.prefix))
        return self.way_out.replace("{source}", shlex.quote(source)).replace("{pid}", pid)


#: The kind of the rejection of a record that would have created a product or model under an identifier the REST
#: API cannot address (`_addressable`): never stored, it holds nothing a complete file's removals must keep
#: (importers.bmecat: a T_NEW_CATALOG's tier prices).
NEW_IDENTIFIER = "new_identifier"


#: The cyclic collector's threshold during an import, per record of a batch (pim.gc_policy). A merge batch keeps
#: its records, the stored rows it read and its merge state alive until it is written: under the 50k bulk
#: threshold the collector walked them several times per batch (0.4 s of CPU in a 50k-row ERP merge, 0.1 s in
#: a 14k-record content merge); at 64 per record it runs about once per import. Reference counting still frees
#: each batch once it is written, so memory stays as it was.
GC_PER_RECORD = 64


def _collector_threshold(batch_size: int) -> int:
    """The collector's gen-0 threshold while a process holds import batches of `batch_size` records: the
    importing process and each fanned-out worker (GC_PER_RECORD)."""
    return max(BULK_THRESHOLD, GC_PER_RECORD * batch_size)


def file_warning(store: Store, job_id: int | None, source: str, key: str, reason: str | None, *, file: str,
                 field: str | None = None) -> None:
    """A file's one `warning` of a kind (`key`: the kind and the file), which the file's next run replaces, or
    closes when `reason` is None (nothing to say this time): what a run noticed about the whole file (map
    fields it lacks, SKUs no product has, ids matched by their zeros) without burying it under its rows."""
    if reason is None:
        store.resolve_quarantine(source, [key])
        return
    store.quarantine(job_id, [QuarantineEntry(reason, file=file, field=field, record_key=key, source=source,
                                              severity="warning")])


#: Writes the `extras` of a batch's accepted records inside the batch's write transaction.
ExtrasWriter = Callable[[Connection, list[Any]], None]


@dataclass
class Rejected:
    reason: str
    file: str
    line: int | None = None
    field: str | None = None
    raw: dict[str, Any] | None = None
    record_key: str | None = None


@dataclass
class ImportCounts:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: int = 0  # per-value problems recorded without rejecting the record (e.g. missing media)
    job_id: int | None = None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The status a finished import's job ends with: succeeded, or partial when a row was rejected."""
        return "succeeded" if self.rejected == 0 else "partial"

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("read", "created", "updated", "unchanged", "rejected", "problems")}
        d.update(self.extra)
        return d


def record_identity(record: Product | ProductModel) -> str:
    """A record's key among a batch's products and models, and its quarantine entries' `record_key`: a SKU, or
    `model:<code>` (a model may share a product's code)."""
    if isinstance(record, Product):  # per record: no import statement on this path
        return record.identifier
    from pim.merge import MODEL_KEY

    return MODEL_KEY + record.code


def _reject_identity(reject: Any) -> str:
    """A merge reject's `record_identity` (pim.merge.MergeReject names a model by its code)."""
    from pim.merge import MODEL_KEY

    return MODEL_KEY + reject.identifier if reject.model else reject.identifier


def import_batches(items: Iterable[Parsed | Rejected], size: int) -> Iterator[list[Parsed | Rejected]]:
    """Batches of at most `size` items in which no record names a product (or model) that an earlier record
    of the batch named: a repeat starts the next batch. So a file naming a product twice merges the second
    record onto what the first wrote and counts each record on its own (read = created + updated +
    unchanged + rejected), whatever the batch size."""
    chunk: list[Parsed | Rejected] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Parsed):
            key = record_identity(item.record)
            if key in seen:
                yield chunk
                chunk, seen = [], set()
            seen.add(key)
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk, seen = [], set()
    if chunk:
        yield chunk


def nul_at(data: Any, path: str = "") -> str | None:
    """Where a parsed JSON record holds U+0000 (a key or text at any depth), or None. No database stores the
    character and PostgreSQL refuses even a lookup with it, so importers reject such a record as they read it
    (`nul_rejected`; a CSV row holding one too)."""
    if isinstance(data, str):
        return path or "record" if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            if (found := nul_at(value, here)) is not None:
                return found
    elif isinstance(data, list):
        for n, value in enumerate(data):
            if (found := nul_at(value, f"{path}[{n}]")) is not None:
                return found
    return None


def nul_rejected(what: str, file: str, line: int | None, field: str, raw: dict[str, Any], key: Any) -> Rejected:
    """The rejection of a row or record holding U+0000 (`what`: where, as the reason names it); its key is
    kept without the character, so the quarantine can hold it."""
    return Rejected(f"{what} holds a NUL character (U+0000), which no database stores; remove it and re-import",
                    file, line, field, raw, str(key).replace("\x00", "") if key else None)


def run_import(
    store: Store,
    source: str,
    items: Iterable[Parsed | Rejected],
    *,
    structure: Structure | None = None,
    label: str = "",
    on_batch: Callable[[int], None] | None = None,
    merge: Any = None,
    workers: int | None = None,
    executor: str | None = None,
    before_finish: Callable[[ImportCounts], None] | None = None,
    extras: ExtrasWriter | None = None,
) -> ImportCounts:
    """Validate and write `items` batch by batch (one transaction each); rejects go to the quarantine.
    Re-running the same input changes nothing (content hashes) and closes quarantine entries that now pass.
    With `merge` (a pim.merge.Merger) products are partial source records merged into the stored ones by
    precedence instead of replacing them. `workers` > 1 (default PIM_IMPORT_WORKERS) validates and merges
    batches in that many processes through the executor (PIM_EXECUTOR) while this process writes them in
    order; the result is the same as in-process (see `_run_fanned_out`). A cancel request on the job
    (pim.job_cancel) is honoured between batches: the job ends cancelled, committed batches kept.
    `before_finish` runs once every batch is written, before the job is finished (so it is finished once,
    with what that work adds to the counts; an error there fails the job). `extras` writes the records'
    `Parsed.extras` (see there)."""
    from pim.variant_levels import axes_known  # that module builds on this one

    structure = structure or store.structure()
    validator = RecordValidator(structure)
    if merge is not None:
        merge.bind(structure)
    if workers is None or executor is None:
        from pim.settings import get_settings

        settings = get_settings()
        workers = settings.import_workers if workers is None else workers
        executor = settings.executor if executor is None else executor
    counts = ImportCounts(job_id=store.start_job("import", label or source))
    files: set[str] = set()
    items = _noting_files(items, files)

    def batch_done(size: int) -> None:
        store.job_progress(counts.job_id, counts.as_dict())  # type: ignore[arg-type]
        if on_batch:
            on_batch(size)
        stop_if_cancelled(store, counts)

    try:
        if getattr(merge, "precedence_file", None):  # bind checked its codes; its source names need the store
            from pim.precedence_check import note_unseen_sources

            note_unseen_sources(store, counts, source, merge.precedence, merge.precedence_file)
        with bulk_allocation(_collector_threshold(store.batch_size)), \
                axes_known(store.engine, structure):  # its writes close filled axis notes cheaply
            if workers > 1 and _can_fan_out(store, merge):
                _run_fanned_out(store, source, items, validator, merge, counts, batch_done, workers, executor, extras)
            else:
                for chunk in import_batches(items, store.batch_size):
                    _write_batch(store, source, validator, chunk, counts, merge, extras)
                    batch_done(len(chunk))
            if before_finish is not None:
                before_finish(counts)
            store.supersede_quarantine(counts.job_id, source, files)  # type: ignore[arg-type]  # read through
    except job_cancel.Cancelled:  # the job is ended already, as cancelled
        raise
    except InputError as exc:
        store.finish_job(counts.job_id, counts.as_dict(), status="failed", error=exc.describe())  # type: ignore[arg-type]
        raise
    except Exception as exc:
        store.finish_job(counts.job_id, counts.as_dict(), status="failed", error=repr(exc))  # type: ignore[arg-type]
        raise
    store.finish_job(counts.job_id, counts.as_dict(), status=counts.status)  # type: ignore[arg-type]
    return counts


def _noting_files(items: Iterable[Parsed | Rejected], files: set[str]) -> Iterator[Parsed | Rejected]:
    """`items`, noting the files they come from: once all are in, those files' older rejections are
    superseded (pim.store.supersede)."""
    last = None
    for item in items:
        if item.file is not last:
            last = item.file
            files.add(last)
        yield item


def stop_if_cancelled(store: Store, counts: ImportCounts) -> None:
    """After a committed batch: if the import's job was asked to stop (pim.job_cancel), end it cancelled with
    its counts so far and raise job_cancel.Cancelled. A re-run skips what is already in (content hashes)."""
    if job_cancel.requested(store, counts.job_id):
        raise job_cancel.stop(store, counts.job_id, counts.as_dict(), (  # type: ignore[arg-type]
            f"Every batch it committed is kept ({counts.read} records read, {counts.created} created, "
            f"{counts.updated} updated) and nothing else. {job_cancel.again(store, counts.job_id)}: "  # type: ignore[arg-type]
            "records already in are skipped."))


@dataclass
class PreparedBatch:
    """One batch validated and, for a merged source, merged in memory (`Merger.prepare`): everything
    `_apply` needs to write it. Built in this process or in a worker (the import's executor)."""

    read: int = 0
    skipped: int = 0  # records the source's fingerprints say are already merged
    rejects: list[QuarantineEntry] = field(default_factory=list)
    notes: list[QuarantineEntry] = field(default_factory=list)
    good_keys: list[str] = field(default_factory=list)  # records taken in, by `record_identity`: their quarantine keys
    models: list[ProductModel] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)  # whole records (no merge)
    plan: Any = None  # pim.merge.MergePlan
    #: identifier → the product seq this batch's merge relied on (None: absent), for a writer elsewhere
    relied: dict[str, int | None] = field(default_factory=dict)
    merged_records: int = 0  # records the merge took in (not rejected by it)
    #: positions in the chunk of the product records taken in that carry `Parsed.extras`
    accepted: list[int] = field(default_factory=list)
    #: whole records: what their axis check read of the siblings (pim.variant_levels.SiblingsRead), which the
    #: write checks again under the lock: another writer may have placed a twin since
    siblings_read: Any = None
    #: values of a model-level attribute on variants that the model's own value outranks: not stored, not noted
    #: (pim.variant_levels.LevelGuard.check); counted as the job's `held_by_model`
    held_by_model: int = 0


def _prepare(store: Store, source: str, v: RecordValidator, chunk: list[Parsed | Rejected], merge: Any = None) -> PreparedBatch:
    out = PreparedBatch()
    whole = chunk
    # the stored products' parents, fingerprints and axis values the steps below ask about: one statement
    stored = merge.read_stored(store, source, chunk) if hasattr(merge, "read_stored") else None
    # before the fingerprints: they hash what is kept
    out.held_by_model = v.levels.check(store, chunk, source, v, merged=merge is not None,
                                       ranker=getattr(merge, "ranker", None),
                                       parents=stored.parents if stored is not None else None)
    if merge is not None and hasattr(merge, "drop_unchanged"):
        # records this source already merged, on products not written since: skip validation and merge
        kept, skipped = (merge.drop_unchanged(store, source, chunk, stored) if stored is not None
                         else merge.drop_unchanged(store, source, chunk))
        # their per-value problems still stand: noted again, as a merged record's are
        out.notes.extend(n for item in chunk if isinstance(item, Parsed) and item.problems
                         and isinstance(item.record, Product) and item.record.identifier in skipped for n in item.problems)
        if skipped and hasattr(merge, "stored_gaps"):  # and so does a missing axis value: as stored, unchanged
            gaps = (merge.stored_gaps(store, list(skipped), stored) if stored is not None
                    else merge.stored_gaps(store, list(skipped)))
            if gaps:
                out.notes.extend(_gap_note(item, source, item.record.identifier, axis, reason) for item in chunk
                                 if isinstance(item, Parsed) and isinstance(item.record, Product)
                                 for axis, reason in gaps.get(item.record.identifier, ()))
        chunk = kept
        out.skipped, out.good_keys = len(skipped), list(skipped)
        out.relied.update(skipped)
    valid: list[Parsed] = []
    for item in chunk:
        out.read += 1
        if isinstance(item, Rejected):
            out.rejects.append(QuarantineEntry(item.reason, item.file, item.line, item.field, item.raw, item.record_key, source))
            continue
        rec = item.record
        if isinstance(rec, Product):
            problems = v.check_product(rec)
        elif merge is not None and not rec.family_variant:  # a partial model record: checked against the stored
            problems = v.check_partial_model(rec)               # model's family by the merge
        else:
            problems = v.check_model(rec)
        if problems:
            reason = "; ".join(f"{p.field}: {p.reason}" for p in problems)
            out.rejects.append(QuarantineEntry(reason, item.file, item.line, problems[0].field,
                                               item.raw or rec.model_dump(mode="json"), record_identity(rec), source))
            continue
        valid.append(item)
    valid = _addressable(store, source, v, valid, out)
    if merge is None:  # a merged record's axis values are known once merged: Merger.prepare checks them
        valid = _distinct_axes(store, source, v, valid, out)
    partial: dict[str, Mapping[str, frozenset[str]]] = {}  # SKU → the currencies its record states (Parsed.partial)
    for item in valid:
        rec = item.record
        out.good_keys.append(record_identity(rec))
        out.notes.extend(item.problems)
        (out.products if isinstance(rec, Product) else out.models).append(rec)  # type: ignore[arg-type]
        if item.partial and isinstance(rec, Product):
            partial[rec.identifier] = item.partial
    if merge is not None and (out.products or out.models):
        out.plan = (merge.prepare(store, out.products, out.models, partial=partial) if partial
                    else merge.prepare(store, out.products, out.models))
        out.merged_records = len(out.products) + len(out.models) - len(out.plan.rejects)
        out.relied.update(out.plan.relied)
        by_identity = {record_identity(item.record): item for item in chunk if isinstance(item, Parsed)}
        failed = {_reject_identity(r) for r in out.plan.rejects}
        for r in out.plan.rejects:
            key = _reject_identity(r)
            item = by_identity[key]
            out.rejects.append(QuarantineEntry(r.reason, item.file, item.line, r.field,
                                               item.raw or item.record.model_dump(mode="json"), key, source))
        out.good_keys = [k for k in out.good_keys if k not in failed]
        for r in out.plan.problems:  # taken in without a value of an axis of its level, once merged
            key = _reject_identity(r)
            out.notes.append(_gap_note(by_identity[key], source, key, r.field, r.reason))
        out.products, out.models = [], []
    if any(isinstance(item, Parsed) and item.extras for item in whole):
        taken = set(out.good_keys)
        out.accepted = [n for n, item in enumerate(whole) if isinstance(item, Parsed) and item.extras
                        and isinstance(item.record, Product) and item.record.identifier in taken]
    return out


def _addressable(store: Store, source: str, v: RecordValidator, items: list[Parsed], out: PreparedBatch) -> list[Parsed]:
    """The records but those that would create a product (or, a whole model record, a model) under an identifier
    the REST API cannot address or an import could not match again (pim.validation.identifier_problem): each is
    rejected on its identifier (on the field it is made of, with what to do instead: `Parsed.origin`), of kind
    NEW_IDENTIFIER. A product or model stored under one already is written as ever. One match per
    record; the store is asked (one query per kind) only about the rare identifiers that fail it."""
    wrong: dict[int, tuple[str, str]] = {}  # id(item) → (its identifier or code, why)
    for item in items:
        rec = item.record
        key = rec.identifier if isinstance(rec, Product) else rec.code if rec.family_variant else None
        if key is not None and (problem := identifier_problem(key)) is not None:
            wrong[id(item)] = key, problem
    if not wrong:
        return items
    flagged = [item.record for item in items if id(item) in wrong]
    stored = {(True, sku) for sku in store.existing_identifiers([r.identifier for r in flagged
                                                                  if isinstance(r, Product)])}
    stored |= {(False, code) for code in store.existing_model_codes([r.code for r in flagged
                                                                      if isinstance(r, ProductModel)])}
    kept = []
    for item in items:
        rec, product = item.record, isinstance(item.record, Product)
        if id(item) not in wrong or (product, wrong[id(item)][0]) in stored:
            kept.append(item)
            continue
        key, problem = wrong[id(item)]
        origin = item.origin if product else None
        out.rejects.append(QuarantineEntry(
            f"{'identifier' if product else 'model code'} {key!r} {problem}; no new "
            f"{'product' if product else 'product model'} is made with it (one stored before keeps working): "
            + (origin.advice(key, source) if origin else "change it in the file and import again"),
            item.file, item.line, origin.field if origin else v.s.identifier_attribute if product else "code",
            item.raw or rec.model_dump(mode="json"), record_identity(rec), source, kind=NEW_IDENTIFIER))
    return kept


def _distinct_axes(store: Store, source: str, v: RecordValidator, items: list[Parsed], out: PreparedBatch) -> list[Parsed]:
    """The valid whole records that keep every model's children apart by their axis values
    (pim.variant_levels.SiblingAxes); the others are rejected whole, naming the sibling they collide with. A
    record taken in without a value of one of its axes is noted as a problem of it (another source may send it)."""
    refused, out.siblings_read = v.levels.shared_axes(store, [item.record for item in items])
    kept = []
    for item in items:
        key = record_identity(item.record)
        if key in refused:
            field, reason = refused[key]
            out.rejects.append(QuarantineEntry(reason, item.file, item.line, field,
                                               item.raw or item.record.model_dump(mode="json"), key, source))
        else:
            kept.append(item)
    gaps = v.levels.missing_axes(store, [item.record for item in kept])
    for item in kept:
        key = record_identity(item.record)
        out.notes.extend(_gap_note(item, source, key, axis, reason) for axis, reason in gaps.get(key, ()))
    return kept


def _gap_note(item: Parsed, source: str, key: str, axis: str, reason: str) -> QuarantineEntry:
    """The problem entry of a record taken in without a value of its level's axis `axis`."""
    return QuarantineEntry(reason + "; the record was taken in without it", item.file, item.line, axis,
                           item.raw or item.record.model_dump(mode="json"), key, source, severity="problem",
                           kind=MISSING_AXIS)


def _extras_of(chunk: list[Parsed | Rejected], batch: PreparedBatch, writer: ExtrasWriter | None) -> Callable[[Connection], None] | None:
    """The batch's extras write (its accepted records' `Parsed.extras`), or None when there is none."""
    if writer is None or not batch.accepted:
        return None
    rows = [row for n in batch.accepted for row in chunk[n].extras]  # type: ignore[union-attr]
    return lambda conn: writer(conn, rows)


def _apply(store: Store, source: str, batch: PreparedBatch, counts: ImportCounts, *, check: bool = False,
           also: Callable[[Connection], None] | None = None, carried: Carried | None = None) -> bool:
    """Write a prepared batch (`also`: its extras) and its quarantine entries in one transaction (`carried`: what
    its records carried, for the rejections their clean import closes: `_carried`). With `check`, a
    merged batch whose inputs were written since it was prepared (elsewhere), or any batch whose axis check
    another writer's child has overtaken (pim.variant_levels.SiblingsRead), is not written and False is
    returned: the caller prepares it again.

    The entries go in the records' own transaction so no other writer comes between a record and its notes: a
    missing axis value another source fills at that moment closes the note (pim.variant_levels.close_filled_gaps)
    only if the note is already there, or the value is already there when the note would be judged."""
    noted: list[int] = []

    def bookkeeping(conn: Connection) -> None:
        if also is not None:
            also(conn)
        store.quarantine(counts.job_id, batch.rejects, conn)
        store.resolve_quarantine(source, batch.good_keys, conn, job_id=counts.job_id, carried=carried)
        noted.append(store.quarantine(counts.job_id, batch.notes, conn))

    if batch.plan is not None:
        from pim.merge import apply_plan

        merged = apply_plan(store, batch.plan, relied=batch.relied if check else None, also=bookkeeping)
        results = None if merged is None else [merged]
    else:  # whole records: checked again under the lock only when their axis check read a model's children
        results = _write_whole(store, batch.models, batch.products, batch.siblings_read if check else None,
                               also=bookkeeping)
    if results is None:
        return False
    counts.read += batch.read + batch.skipped
    counts.unchanged += batch.skipped
    for result in results:
        if result is not None:
            counts.created += result.created
            counts.updated += result.updated
            counts.unchanged += result.unchanged
    counts.rejected += len(batch.rejects)
    counts.problems += sum(noted)
    if batch.held_by_model:
        counts.extra["held_by_model"] = counts.extra.get("held_by_model", 0) + batch.held_by_model
    return True


def _carried(chunk: list[Parsed | Rejected], structure: Structure) -> Carried:
    """What the records of `chunk` carried (pim.store.supersede.Carried): the attribute codes of the values they
    state (a clear states none), their STRUCTURAL fields set and the identifier attribute. Worked out only for
    the records an open rejection names a field of, so a batch without one pays nothing per row."""
    records: dict[str, Product | ProductModel] = {}

    def fields(key: str) -> set[str]:
        if not records:
            records.update((record_identity(i.record), i.record) for i in chunk if isinstance(i, Parsed))
        rec = records.get(key)
        if rec is None:
            return set()
        return ({split_key(k)[0] for k, value in rec.values.items() if value not in EMPTY}
                | (rec.model_fields_set & STRUCTURAL) | {structure.identifier_attribute})

    partial: dict[str, Collection[str]] = {}

    def restates(key: str) -> Collection[str] | None:  # a partial record's topics (pim.store.supersede.ABOUT)
        if not partial:
            partial.update((record_identity(i.record), i.raw[RESTATES]) for i in chunk
                           if isinstance(i, Parsed) and i.raw and RESTATES in i.raw)
            partial.setdefault("", ())  # asked once
        return partial.get(key) if key else None

    return Carried(fields, structure.attributes, restates)


def _write_whole(store: Store, models: list[ProductModel], products: list[Product],
                 siblings_read: Any = None, also: Callable[[Connection], None] | None = None) -> list[Any] | None:
    """Whole records (a catalog file, no merge) in one transaction: they replace their products and models, and
    what merges kept about those (pim.merge.forget_merge_state) goes with what they replaced. `siblings_read`:
    what the batch's axis check read (pim.variant_levels.SiblingsRead); when another writer has placed a child
    under one of those models since (a twin the check could not see), nothing is written and None is returned:
    the caller checks the batch again. `also` runs in the transaction once the records are written (in one of
    its own when there are none)."""
    from pim.merge import MODEL_KEY, forget_merge_state

    if not models and not products:
        if also is not None:
            with store.begin() as conn:
                also(conn)
        return []
    with store.begin() as conn:
        if siblings_read is not None:  # only a batch placing records under models takes the lock first and asks
            store.lock_writes(conn)
            if siblings_read.overtaken(conn):
                return None
        model_counts = store.write_models_in(conn, models) if models else None
        product_counts, written = store.write_products_in(conn, products) if products else (None, {})
        # only a replaced record has merge state: a created one had none (a delete forgets it)
        replaced = ([MODEL_KEY + c for c in model_counts.updated_keys] if model_counts else []) + (
            product_counts.updated_keys if product_counts else [])
        if replaced:
            forget_merge_state(conn, replaced)
        if written:
            store.notify(conn, product_counts.changed_keys, written)  # type: ignore[union-attr]
        if also is not None:
            also(conn)
    return [model_counts, product_counts]


def _write_batch(store: Store, source: str, v: RecordValidator, chunk: list[Parsed | Rejected], counts: ImportCounts,
                 merge: Any = None, extras: ExtrasWriter | None = None) -> PreparedBatch:
    """Prepare and write one batch (returned); merged again when a product it read was written in between
    (another import, a person's edit in the web UI), so that write is merged with rather than overwritten, and
    checked again (merged or whole) when another writer placed a child under a model whose children its axis
    check read, so two writers cannot both place twins."""
    from pim.merge import until_written

    tally = (merge.merged_records, merge.skipped_records) if hasattr(merge, "skipped_records") else None
    held: list[int] = []  # the first attempt's count: the level check took the values out of the chunk's records

    def attempt() -> PreparedBatch | None:
        batch = _prepare(store, source, v, chunk, merge)
        if held:
            batch.held_by_model = held[0]
        else:
            held.append(batch.held_by_model)
        if _apply(store, source, batch, counts, check=True, also=_extras_of(chunk, batch, extras),
                  carried=_carried(chunk, v.s)):
            return batch
        if tally is not None:  # the retry counts its records again
            merge.merged_records, merge.skipped_records = tally
        return None

    return until_written(attempt)


# ---------------------------------------------------------------------------------------------- fan-out
def _can_fan_out(store: Store, merge: Any) -> bool:
    """Workers open the database themselves: not an in-memory SQLite one. Only merged sources fan out (their
    merge is the costly part); whole-record writes stay in-process."""
    from pim.merge import Merger

    url = store.engine.url
    return type(merge) is Merger and not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def _run_fanned_out(store: Store, source: str, items: Iterable[Parsed | Rejected], validator: RecordValidator, merge: Any,
                    counts: ImportCounts, on_batch: Callable[[int], None] | None, workers: int, executor: str,
                    extras: ExtrasWriter | None = None) -> None:
    """Batches are validated and merged in worker processes (`_prepare_job`, each reading committed state)
    while this process writes them in file order. A batch is merged again here, on what is stored now, when
    what it was merged from changed after it was sent: a product it read was written since (another batch
    of this import naming the same identifier, or another writer; `apply_plan` checks the seqs inside the
    write transaction), or a batch written since placed records under a model whose children's axis values
    it checked (pim.variant_levels), so the outcome is the in-process one."""
    from collections import deque

    from pim.executor import make_executor

    spec = (store.engine.url.render_as_string(hide_password=False), store.batch_size, source,
            merge.precedence, merge.create_missing)
    applied: list[tuple[set[str], set[str]]] = []  # identifiers and axis-checked models of each batch written, in order
    with make_executor(executor, workers) as pool:
        pending: deque[tuple[Any, list[Parsed | Rejected], set[str], int]] = deque()

        def settle() -> None:
            future, chunk, ids, mark = pending.popleft()
            batch = future.result()
            overlap = any(ids & done or _axis_parents(batch) & models for done, models in applied[mark:])
            if overlap or not _apply(store, source, batch, counts, check=True, also=_extras_of(chunk, batch, extras),
                                     carried=_carried(chunk, validator.s)):
                batch = _write_batch(store, source, validator, chunk, counts, merge, extras)  # counts its own records
            else:
                merge.merged_records += batch.merged_records
                merge.skipped_records += batch.skipped
            applied.append((ids, _axis_parents(batch)))
            if on_batch:
                on_batch(len(chunk))

        for chunk in import_batches(items, store.batch_size):
            ids = {record_identity(item.record) for item in chunk if isinstance(item, Parsed)}
            pending.append((pool.submit(_prepare_job, spec, chunk), chunk, ids, len(applied)))
            if len(pending) > workers:
                settle()
        while pending:
            settle()


def _axis_parents(batch: PreparedBatch) -> set[str]:
    """The models whose children's axis values a merged batch checked (pim.merge.MergePlan.parents)."""
    return batch.plan.parents if batch.plan is not None else set()


_WORKER = threading.local()  # per worker process (or thread, with PIM_EXECUTOR=thread)


def _prepare_job(spec: tuple[Any, ...], chunk: list[Parsed | Rejected]) -> PreparedBatch:
    """In a worker: its own store, structure and bound merger (kept per worker and import), one batch. A store
    this process inherited (forked from one that kept its own) is left alone, not disposed: closing its
    connections would end the parent's sessions (pim.pool_child)."""
    from pim.merge import Merger

    if getattr(_WORKER, "spec", None) != spec or getattr(_WORKER, "pid", None) != os.getpid():
        url, batch_size, source, precedence, create_missing = spec
        if getattr(_WORKER, "store", None) is not None and getattr(_WORKER, "pid", None) == os.getpid():
            _WORKER.store.dispose()
        _WORKER.store = Store(url, batch_size=batch_size)
        structure = _WORKER.store.structure()
        _WORKER.validator = RecordValidator(structure)
        _WORKER.merge = Merger(precedence, create_missing=create_missing).bind(structure)
        _WORKER.spec, _WORKER.pid = spec, os.getpid()
    with bulk_allocation(_collector_threshold(spec[1])):  # a worker holds its batch as run_import's loop does
        return _prepare(_WORKER.store, spec[2], _WORKER.validator, chunk, _WORKER.merge)
