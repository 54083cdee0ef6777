"""The shared import loop: parsed records in, validated batches written, rejects quarantined, counts kept.
Every importer yields `Parsed` or `Rejected` items and calls `run_import`; they differ only in parsing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pim.catalog import Structure
from pim.errors import InputError
from pim.gc_policy import bulk_allocation
from pim.product import Product, ProductModel
from pim.store import Store
from pim.store.store import QuarantineEntry, batched
from pim.validation import RecordValidator


@dataclass
class Parsed:
    record: Product | ProductModel
    file: str
    line: int | None = None
    raw: dict[str, Any] | None = None
    #: Per-value issues that do not reject the record (severity "problem", e.g. a missing media file);
    #: quarantined only if the record is written, after older entries for it are closed.
    problems: list[QuarantineEntry] = field(default_factory=list)


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

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("read", "created", "updated", "unchanged", "rejected", "problems")}
        d.update(self.extra)
        return d


def _key(record: Product | ProductModel) -> str:
    return record.identifier if isinstance(record, Product) else record.code


def run_import(
    store: Store,
    source: str,
    items: Iterable[Parsed | Rejected],
    *,
    structure: Structure | None = None,
    label: str = "",
    on_batch: Callable[[int], None] | None = None,
    merge: Any = None,
) -> ImportCounts:
    """Validate and write `items` batch by batch (one transaction each); rejects go to the quarantine.
    Re-running the same input changes nothing (content hashes) and closes quarantine entries that now pass.
    With `merge` (a pim.merge.Merger) products are partial source records merged into the stored ones by
    precedence instead of replacing them."""
    structure = structure or store.structure()
    validator = RecordValidator(structure)
    if merge is not None:
        merge.bind(structure)
    counts = ImportCounts(job_id=store.start_job("import", label or source))
    try:
        with bulk_allocation():
            for chunk in batched(items, store.batch_size):
                _write_batch(store, source, validator, chunk, counts, merge)
                if on_batch:
                    on_batch(len(chunk))
    except InputError as exc:
        store.finish_job(counts.job_id, counts.as_dict(), status="failed", error=exc.describe())  # type: ignore[arg-type]
        raise
    except Exception as exc:
        store.finish_job(counts.job_id, counts.as_dict(), status="failed", error=repr(exc))  # type: ignore[arg-type]
        raise
    status = "succeeded" if counts.rejected == 0 else "partial"
    store.finish_job(counts.job_id, counts.as_dict(), status=status)  # type: ignore[arg-type]
    return counts


def _write_batch(store: Store, source: str, v: RecordValidator, chunk: list[Parsed | Rejected], counts: ImportCounts,
                 merge: Any = None) -> None:
    products: list[Product] = []
    models: list[ProductModel] = []
    rejects: list[QuarantineEntry] = []
    good_keys: list[str] = []
    notes: list[QuarantineEntry] = []
    if merge is not None and hasattr(merge, "drop_unchanged"):
        # records this source already merged, on products not written since: skip validation and merge
        chunk, good_keys = merge.drop_unchanged(store, source, chunk)
        counts.read += len(good_keys)
        counts.unchanged += len(good_keys)
    for item in chunk:
        counts.read += 1
        if isinstance(item, Rejected):
            rejects.append(QuarantineEntry(item.reason, item.file, item.line, item.field, item.raw, item.record_key, source))
            continue
        rec = item.record
        problems = v.check_product(rec) if isinstance(rec, Product) else v.check_model(rec)
        if problems:
            reason = "; ".join(f"{p.field}: {p.reason}" for p in problems)
            rejects.append(QuarantineEntry(reason, item.file, item.line, problems[0].field, item.raw or rec.model_dump(mode="json"), _key(rec), source))
            continue
        good_keys.append(_key(rec))
        notes.extend(item.problems)
        (products if isinstance(rec, Product) else models).append(rec)  # type: ignore[arg-type]
    merged = None
    if merge is not None and products:
        merged, merge_rejects = merge.write(store, products)
        by_key = {_key(item.record): item for item in chunk if isinstance(item, Parsed)}
        for r in merge_rejects:
            item = by_key[r.identifier]
            rejects.append(QuarantineEntry(r.reason, item.file, item.line, r.field,
                                           item.raw or item.record.model_dump(mode="json"), r.identifier, source))
        failed = {r.identifier for r in merge_rejects}
        good_keys = [k for k in good_keys if k not in failed]
        products = []
    for result in (store.upsert_models(models) if models else None, store.upsert_products(products) if products else merged):
        if result is not None:
            counts.created += result.created
            counts.updated += result.updated
            counts.unchanged += result.unchanged
    counts.rejected += len(rejects)
    store.quarantine(counts.job_id, rejects)
    store.resolve_quarantine(source, good_keys)
    counts.problems += store.quarantine(counts.job_id, notes)


