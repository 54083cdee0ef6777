"""BMEcat PRODUCT_REFERENCE targets → our SKUs, and the follow-up write that links a file's products once all of
them are in.

A reference names the *supplier's* PID of its target; associations hold our SKUs. A target resolves through
the products of this file matched so far (PID → SKU as the SKU match gave it), the supplier's cross-reference
and, for maps keyed by supplier PID (`sku_from: supplier_pid`), the SKU `sku_prefix + PID` — and only to a
product that is stored, so an association never points at a SKU that does not exist. An association type with
a target that does not resolve yet (the target comes later in the file, or in this batch, not written yet) is
left out of the product's record and kept as a few short strings; `Followups` writes it once the whole file is
in, with the targets that resolve by then. A target that still resolves to nothing is a per-value problem
naming its PID, and is left out.

Re-importing an unchanged file changes nothing, follow-ups included. The source fingerprint (pim.merge) of a
record says "merging this again changes nothing while the product keeps this seq"; the follow-up writes only
what the record does not set (the late association types, the supplier's categories), so it carries the
fingerprint over to the seq it writes. And a type that was late last time stays late while the record is
otherwise the same (`References.translate`): the record hashes as fingerprinted, takes the fast path, and the
follow-up finds the association as it left it. A changed target SKU or group assignment is still written: the
follow-up compares what it would write with what is stored, whatever the fast path did."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from importers.bmecat_groups import CategoryClaim
from pim import association_claims
from pim.importing import Parsed
from pim.merge import FINGERPRINT, Merger, Precedence, merge_product, record_digest
from pim.partial_merge import read_parts, row_update
from pim.product import Association, Product, Provenance, trusted_association, trusted_provenance
from pim.sources import cross_referenced
from pim.store import Store
from pim.store.store import PRODUCT, QuarantineEntry, batched
from pim.store.supersede import ABOUT
from pim.validation import RecordValidator

#: A record with more resolved association types than this tries only "all of them" and "none of them" late
#: when matching last time's fingerprint (every split of a map's handful of reference types otherwise).
SPLIT_TYPES = 4


@dataclass(slots=True)
class Pending:
    """One association type of one product whose targets are resolved at the end of the file."""

    sku: str
    line: int | None
    code: str
    targets: list[str]  # supplier PIDs, in file order
    quantities: dict[str, int]  # PID → quantity
    lines: dict[str, int] = field(default_factory=dict)  # PID → line of its PROD_ID_TO (else the PRODUCT's `line`)


class References:
    """Translates the PID-keyed associations the mapper builds (importers.bmecat_mapper.BmecatMapper) into SKUs."""

    def __init__(self, store: Store, source: str, sku_from: str, sku_prefix: str, salt: bytes | None = None,
                 pid_slash: str | None = None) -> None:
        self.store, self.source = store, source
        self.sku_from, self.sku_prefix, self.pid_slash = sku_from, sku_prefix, pid_slash
        self.salt = salt  # the import's merger salt (Merger.bind): with it, late types stay late as last time
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
            slash = self.pid_slash
            found.update({pid: self.sku_prefix + (pid.replace("/", slash) if slash else pid) for pid in wanted - found.keys()})
        stored = self.store.existing_identifiers(sorted(set(found.values()))) if found else set()
        return {pid: sku for pid, sku in found.items() if sku in stored}

    def translate(self, items: list[Parsed], lines: dict[int, dict[str, dict[str, int]]] | None = None) -> None:
        """Rewrite the associations of a batch's records from PIDs to SKUs; a type with a target not resolved
        yet leaves the record and waits for `resolve_pending`. So does a resolved type that was late when the
        product's fingerprint was taken, while the record is otherwise the same (with `salt`). `lines`:
        id(item) → association type → target PID → line of its PROD_ID_TO (importers.bmecat_mapper.Mapped.ref_lines),
        what a problem about a target that resolves to nothing names."""
        having = [i for i in items if isinstance(i.record, Product) and i.record.associations]
        if not having:
            return
        found = self.lookup(pid for i in having for a in i.record.associations.values() for pid in a.products)
        prints = _fingerprints(self.store, self.source, [i.record.identifier for i in having]) if self.salt is not None else {}
        for item in having:
            rec = item.record
            given = dict(rec.associations)
            ready = {code: _translated(a.products, a.quantities, found) for code, a in given.items()
                     if all(pid in found for pid in a.products)}
            rec.associations = ready
            digest = prints.get(rec.identifier)
            if digest is not None and ready:
                rec.associations = ready = _as_fingerprinted(rec, ready, digest, self.salt or b"")
            for code, a in given.items():
                if code not in ready:
                    at = lines.get(id(item), {}).get(code, {}) if lines else {}
                    self.pending.append(Pending(rec.identifier, item.line, code, list(a.products), dict(a.quantities), at))

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
                    "cross-reference), then this file again", file, p.lines.get(pid) or p.line, "PROD_ID_TO",
                    {"PROD_ID_TO": pid}, p.sku,
                    self.source, severity="problem", kind=ABOUT + "associations"))  # importers.bmecat_topics
        self.pending.clear()
        return links, problems


def _as_fingerprinted(rec: Product, ready: dict[str, Association], digest: str, salt: bytes) -> dict[str, Association]:
    """The resolved types the record keeps: all of them, unless the fingerprint was taken with some of them
    late (resolved after the file) and the record is otherwise the same — then those stay late, so the record
    hashes as then. Tries the largest split first."""
    codes = sorted(ready)
    sizes = range(len(codes), -1, -1) if len(codes) <= SPLIT_TYPES else (len(codes), 0)
    for size in sizes:
        for kept in combinations(codes, size):
            rec.associations = {c: ready[c] for c in kept}
            if record_digest(rec, salt) == digest:
                return rec.associations
    return ready


def _fingerprints(store: Store, source: str, skus: list[str]) -> dict[str, str]:
    """SKU → digest of `source`'s fingerprint, where the product was not written since it was taken."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(FINGERPRINT.c.identifier, FINGERPRINT.c.digest).join(
            PRODUCT, and_(PRODUCT.c.identifier == FINGERPRINT.c.identifier, PRODUCT.c.seq == FINGERPRINT.c.product_seq))
            .where(FINGERPRINT.c.source == source, FINGERPRINT.c.identifier.in_(sorted(set(skus)))))
        return {ident: digest for ident, digest in rows}


def _translated(pids: list[str], quantities: dict[str, int], found: dict[str, str]) -> Association:
    """The association with each resolved PID as its SKU, in file order, once each; unresolved ones left out."""
    skus = list(dict.fromkeys(found[pid] for pid in pids if pid in found))
    qty = {found[pid]: q for pid, q in quantities.items() if pid in found}
    return Association(products=skus, quantities=qty)


@dataclass
class Followups:
    """What a BMEcat import writes once every product of the file is in: associations resolved late and the
    supplier's category claims. The products of a batch that change are read, merged and written in one
    transaction under the catalog's write lock (Store.lock_writes), so a
    category or association another writer stores meanwhile is applied to, not overwritten; a batch where
    nothing changes (a re-import) takes no lock. Products that are not stored are skipped.
    `own`: the products whose record this import merged (or skipped as already merged): their fingerprint is
    carried over to the seq the follow-up writes."""

    store: Store
    source: str
    file: str
    stamp: datetime
    associations: dict[str, dict[str, Association]] = field(default_factory=dict)
    categories: dict[str, CategoryClaim] = field(default_factory=dict)
    own: set[str] = field(default_factory=set)
    #: the products the follow-up wrote (a delete's SKU among them: its category claim took something out)
    changed: set[str] = field(default_factory=set)

    def write(self, precedence: Precedence | None) -> tuple[int, list[QuarantineEntry]]:
        """Merge the records; returns how many products changed and a problem per record validation refused
        (e.g. a category deleted meanwhile)."""
        skus = sorted(self.associations.keys() | self.categories.keys())
        if not skus:
            return 0, []
        structure = self.store.structure()
        ranker = Merger(precedence, create_missing=False).bind(structure).ranker
        validator = RecordValidator(structure)
        prov = trusted_provenance(self.source, self.file, self.stamp)
        changed, refused = 0, []
        for chunk in batched(skus, self.store.batch_size):
            with self.store.engine.connect() as conn:  # a look first: a re-import mostly changes nothing
                moving = [sku for sku, row in self._stored(conn, chunk).items() if self._record(sku, prov, row[1], row[2])]
            if not moving:
                continue
            with self.store.begin() as conn:
                stored = self._stored(conn, moving, lock=True)
                records = []
                for sku in moving:
                    record = self._record(sku, prov, stored[sku][1], stored[sku][2]) if sku in stored else None
                    if record is None:
                        continue
                    problems = validator.check_product(record)
                    if problems:
                        refused.append(QuarantineEntry("; ".join(f"{p.field}: {p.reason}" for p in problems), self.file,
                                                       None, problems[0].field, None, record.identifier, self.source,
                                                       severity="problem"))
                    else:
                        records.append(record)
                changed += self._apply(conn, records, {sku: row[0] for sku, row in stored.items()}, ranker)
        return changed, refused

    def _stored(self, conn: Connection, skus: list[str], *, lock: bool = False
                ) -> dict[str, tuple[int, list[str], dict[str, dict[str, Any]]]]:
        """SKU → (seq, categories, what this source claims per association type) of the stored ones; the claims
        are read and settled only for the products with late associations (most follow-ups are category claims)."""
        stored = _stored(self.store, conn, skus, lock=lock)
        claims = association_claims.load(conn, [s for s in stored if s in self.associations])
        return {sku: (seq, cats, association_claims.claimed_types(claims.get(sku, {}), links, default, self.source)
                      if sku in self.associations else {})
                for sku, (seq, cats, links, default) in stored.items()}

    def _record(self, sku: str, prov: Any, categories: list[str], mine: dict[str, dict[str, Any]]) -> Product | None:
        """The follow-up record of one product, with only what changes; None when nothing does. `mine`: what
        this source claims per association type. An association type left empty is sent only where this source
        claims the type (to withdraw targets that no longer resolve), never added empty."""
        fields: dict[str, Any] = {}
        late = {code: a for code, a in self.associations.get(sku, {}).items()
                if (a.products or code in mine) and mine.get(code) != association_claims.dump(a)}
        if late:
            fields["associations"] = late
        claim = self.categories.get(sku)
        if claim is not None and (claimed := claim.apply(categories)) != categories:
            fields["categories"] = claimed
        return Product(identifier=sku, source=prov, **fields) if fields else None

    def _apply(self, conn: Connection, records: list[Product], seqs: dict[str, int], ranker: Any) -> int:
        """Merge the records onto the locked rows and write them in the caller's transaction, the listeners
        told as for a merge import's write; carry this source's fingerprints over. Returns the rows changed."""
        if not records:
            return 0
        parts = read_parts(self.store, conn, [r.identifier for r in records], ())
        stored_claims = association_claims.load(conn, [r.identifier for r in records if association_claims.given(r)])
        claim_writes = association_claims.ClaimWrites()
        updates, deltas = [], {}
        for record in records:
            part = parts[record.identifier]
            old = stored_claims.get(record.identifier, {})
            out = merge_product(part.product, record, {}, {}, ranker, old)
            for kind, claims in out.associations.items():
                claim_writes.add(record.identifier, kind, old.get(kind), claims, self.stamp)
            change = row_update(part, out.product)
            if change is not None:
                updates.append(change[0])
                deltas[record.identifier] = change[1]
        claim_writes.write(self.store, conn)
        written = self.store.update_product_rows(conn, updates)
        self.changed.update(written)
        carried = [{"s": self.source, "i": sku, "was": seqs[sku], "now": seq} for sku, seq in written.items() if sku in self.own]
        if carried:
            conn.execute(update(FINGERPRINT).where(FINGERPRINT.c.source == bindparam("s"), FINGERPRINT.c.identifier == bindparam("i"),
                                                   FINGERPRINT.c.product_seq == bindparam("was"))
                         .values(product_seq=bindparam("now")), carried)
        if written:
            self.store.notify(conn, list(written), None, None, deltas)
        return len(written)


def _stored(store: Store, conn: Connection, skus: list[str], *,
            lock: bool = False) -> dict[str, tuple[int, list[str], dict[str, Association], Provenance | None]]:
    """SKU → (seq, categories, associations, default provenance) of the stored ones among `skus`. With `lock`,
    read under the catalog's write lock (Store.lock_writes), held until the caller's transaction ends, so no
    other writer changes them before the follow-up writes; every merge writer takes that one lock first, so
    they never deadlock. Without, a product the look finds unchanged is left alone: as if the follow-up had
    run before any writer that came after."""
    query = (select(PRODUCT.c.identifier, PRODUCT.c.seq, PRODUCT.c.categories, PRODUCT.c.associations, PRODUCT.c.source)
             .where(PRODUCT.c.identifier.in_(skus)).order_by(PRODUCT.c.identifier))
    if lock:
        store.lock_writes(conn)
    return {ident: (seq, list(cats or []), {k: trusted_association(v) for k, v in (links or {}).items()},
                    Provenance.model_validate(source) if source else None)
            for ident, seq, cats, links, source in conn.execute(query)}
