"""BMEcat PRODUCT_REFERENCE targets → our SKUs, and the follow-up write that links a file's products once all of
them are in.

A reference names the *supplier's* PID of its target; associations hold our SKUs. A target resolves through
the products of this file matched so far (PID → SKU as the SKU match gave it), the supplier's cross-reference
and, for maps keyed by supplier PID (`sku_from: supplier_pid`), the SKU `sku_prefix + PID` — and only to a
product that is stored, so an association never points at a SKU that does not exist. An association type with
a target that does not resolve yet (the target comes later in the file, or in this batch, not written yet) is
left out of the product's record and kept as a few short strings; `Followups` writes it once the whole file is
in, with the targets that resolve by then. A target that still resolves to nothing is a per-value problem
naming its PID, and is left out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pim.importing import ImportCounts, Parsed
from pim.merge import Merger, Precedence, apply_plan
from pim.product import Association, Product, trusted_provenance
from pim.sources import cross_referenced
from pim.store import Store
from pim.store.store import PRODUCT, QuarantineEntry, batched
from pim.validation import RecordValidator


@dataclass(slots=True)
class Pending:
    """One association type of one product whose targets are resolved at the end of the file."""

    sku: str
    line: int | None
    code: str
    targets: list[str]  # supplier PIDs, in file order
    quantities: dict[str, int]  # PID → quantity


class References:
    """Translates the PID-keyed associations the mapper builds (importers.bmecat.BmecatMapper) into SKUs."""

    def __init__(self, store: Store, source: str, sku_from: str, sku_prefix: str) -> None:
        self.store, self.source = store, source
        self.sku_from, self.sku_prefix = sku_from, sku_prefix
        self.in_file: dict[str, str] = {}  # supplier PID → SKU of every product of this file matched so far
        self.pending: list[Pending] = []

    def note(self, pid: str, sku: str) -> None:
        self.in_file[pid] = sku

    def lookup(self, pids: Iterable[str]) -> dict[str, str]:
        """PID → SKU of a stored product, for the PIDs that have one (two queries per call at most)."""
        wanted = set(pids)
        found = {pid: self.in_file[pid] for pid in wanted if pid in self.in_file}
        rest = wanted - found.keys()
        if rest:
            found.update(cross_referenced(self.store, self.source, rest))
        if self.sku_from == "supplier_pid":
            found.update({pid: self.sku_prefix + pid for pid in wanted - found.keys()})
        stored = self.store.existing_identifiers(sorted(set(found.values()))) if found else set()
        return {pid: sku for pid, sku in found.items() if sku in stored}

    def translate(self, items: list[Parsed]) -> None:
        """Rewrite the associations of a batch's records from PIDs to SKUs; a type with a target not resolved
        yet leaves the record and waits for `resolve_pending`."""
        having = [i for i in items if isinstance(i.record, Product) and i.record.associations]
        if not having:
            return
        found = self.lookup(pid for i in having for a in i.record.associations.values() for pid in a.products)
        for item in having:
            rec = item.record
            kept: dict[str, Association] = {}
            for code, a in rec.associations.items():
                if all(pid in found for pid in a.products):
                    kept[code] = _translated(a.products, a.quantities, found)
                else:
                    self.pending.append(Pending(rec.identifier, item.line, code, list(a.products), dict(a.quantities)))
            rec.associations = kept

    def resolve_pending(self, file: str) -> tuple[dict[str, dict[str, Association]], list[QuarantineEntry]]:
        """SKU → the association types to write, and a problem for each target that resolves to nothing."""
        found = self.lookup(pid for p in self.pending for pid in p.targets)
        links: dict[str, dict[str, Association]] = {}
        problems: list[QuarantineEntry] = []
        for p in self.pending:
            links.setdefault(p.sku, {})[p.code] = _translated(p.targets, p.quantities, found)
            for pid in dict.fromkeys(t for t in p.targets if t not in found):
                problems.append(QuarantineEntry(
                    f"reference target '{pid}' ({p.code}) is no product of ours: not in this file, the cross-reference "
                    f"of {self.source} or the catalog; left out. Import the catalog that holds it (or add it to the "
                    "cross-reference), then this file again", file, p.line, "PROD_ID_TO", {"PROD_ID_TO": pid}, p.sku,
                    self.source, severity="problem"))
        self.pending.clear()
        return links, problems


def _translated(pids: list[str], quantities: dict[str, int], found: dict[str, str]) -> Association:
    """The association with each resolved PID as its SKU, in file order, once each; unresolved ones left out."""
    skus = list(dict.fromkeys(found[pid] for pid in pids if pid in found))
    qty = {found[pid]: q for pid, q in quantities.items() if pid in found}
    return Association(products=skus, quantities=qty)


@dataclass
class Followups:
    """What a BMEcat import writes once every product of the file is in: associations resolved late and the
    supplier's category claims. Each product gets one partial record (only those structural fields set),
    merged by the import's precedence onto the stored product; products that are not stored are skipped."""

    store: Store
    source: str
    file: str
    stamp: datetime
    associations: dict[str, dict[str, Association]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)

    def write(self, precedence: Precedence | None) -> tuple[int, list[QuarantineEntry]]:
        """Merge the records; returns how many products changed and a problem per record validation refused
        (e.g. a category deleted meanwhile). Not fingerprinted: the file's own records keep the fast path of
        the next import once these settle."""
        skus = sorted(self.associations.keys() | self.categories.keys())
        if not skus:
            return 0, []
        structure = self.store.structure()
        merger = Merger(precedence, create_missing=False).bind(structure)
        validator = RecordValidator(structure)
        prov = trusted_provenance(self.source, self.file, self.stamp)
        changed, refused = 0, []
        for chunk in batched(skus, self.store.batch_size):
            stored = _stored_associations(self.store, chunk)
            records = []
            for record in (self._record(sku, prov, stored[sku]) for sku in chunk if sku in stored):
                if not record.model_fields_set & {"associations", "categories"}:
                    continue
                problems = validator.check_product(record)
                if problems:
                    refused.append(QuarantineEntry("; ".join(f"{p.field}: {p.reason}" for p in problems), self.file,
                                                   None, problems[0].field, None, record.identifier, self.source,
                                                   severity="problem"))
                else:
                    records.append(record)
            if records:
                result = apply_plan(self.store, merger.prepare(self.store, records))
                changed += (result.updated + result.created) if result else 0
        return changed, refused

    def _record(self, sku: str, prov: Any, types: set[str]) -> Product:
        """The follow-up record of one product; an association type left empty is set only where the product
        has that type (to clear targets that no longer resolve), never added empty."""
        fields: dict[str, Any] = {}
        links = {code: a for code, a in self.associations.get(sku, {}).items() if a.products or code in types}
        if links:
            fields["associations"] = links
        if sku in self.categories:
            fields["categories"] = self.categories[sku]
        return Product(identifier=sku, source=prov, **fields)


def refinish(store: Store, counts: ImportCounts) -> None:
    """Record the counts again after work done once `run_import` finished the job (same status rule)."""
    if counts.job_id is not None:
        store.finish_job(counts.job_id, counts.as_dict(), status=counts.status)


def _stored_associations(store: Store, skus: list[str]) -> dict[str, set[str]]:
    """SKU → its stored association types, for the stored ones among `skus` (one query)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(PRODUCT.c.identifier, PRODUCT.c.associations).where(PRODUCT.c.identifier.in_(skus)))
        return {ident: set(links or {}) for ident, links in rows}
