"""What a BMEcat file withdraws: `PRODUCT mode="delete"`s, a delete followed by later PRODUCTs of its supplier
PID (folded), and the claims a T_NEW_CATALOG or T_UPDATE_PRODUCTS PRODUCT no longer states (restated)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import and_, or_, select

from importers.bmecat_map import BmecatMap
from importers.erp_values import partial_product
from pim import association_claims
from pim.commerce import EARLIEST
from pim.importing import ImportCounts, Parsed, Rejected, file_warning
from pim.merge import CANDIDATE
from pim.product import Product
from pim.sources import SourceItem, cross_referenced
from pim.store import Store
from pim.store.raw import raw_table
from pim.store.store import PRODUCT, QUARANTINE, QuarantineEntry, batched
from pim.withdraw import claimed, product_claims, withdrawn_links

#: Transactions whose PRODUCT (mode new or update) restates the whole product (`restate_unsent`): the BMEcat 2005 schema
#: gives a T_UPDATE_PRODUCTS PRODUCT the content a T_NEW_CATALOG one has (PRODUCT_DETAILS, PRODUCT_ORDER_DETAILS
#: and PRODUCT_PRICE_DETAILS required), and an update replaces the product's data; a delta of prices alone is
#: T_UPDATE_PRICES.
RESTATING = frozenset({"new_catalog", "update_products"})


#: The kind of the note on a product a delete disabled (`withdrawal`): what `enable_relisted` looks for.
DISABLED_BY_DELETE = "disabled_by_delete"


def is_delete(item: object) -> bool:
    return isinstance(item, (SourceItem, Parsed)) and bool(item.raw) and item.raw.get("mode") == "delete"  # type: ignore[union-attr]


class Restated:
    """What the PRODUCTs after a supplier PID's last delete say: value keys, association types and tier keys
    (currency, min_qty, valid_from) — what the delete, applied with the last of them, leaves standing."""

    __slots__ = ("keys", "kinds", "tiers")

    def __init__(self, keys: Iterable[str] = (), kinds: Iterable[str] = ()) -> None:
        self.keys: set[str] = set(keys)
        self.kinds: set[str] = set(kinds)
        self.tiers: set[tuple[Any, ...]] = set()

    def note(self, record: Product, tiers: list[dict[str, Any]]) -> None:
        self.keys.update(record.values)
        self.kinds.update(record.associations)
        self.tiers.update((t["currency"], t["min_qty"], t["valid_from"] or EARLIEST) for t in tiers)


class TierRemoval(NamedTuple):
    """The supplier's tier prices a delete takes off its product's price list, all but those keyed in `keep`
    by (currency, min_qty, valid_from): carried in the record's `Parsed.extras`, so they are removed in its
    batch's transaction, only when the record is taken in (`import_bmecat`'s put_tiers). A delete the merge
    refuses, or a crash before the batch commits, leaves them."""

    sku: str
    keep: frozenset[tuple[Any, ...]]


class Deletes:
    """What the file's `PRODUCT mode="delete"`s did: the SKUs they were applied to, those they withdrew something
    from in this run, the deletes naming no product of ours, and the file's products a later PRODUCT of the same
    supplier PID overrides (`parse_items`). Also the products of a T_NEW_CATALOG or T_UPDATE_PRODUCTS that withdrew claims they no
    longer send (`restate_unsent`): the same withdrawal, counted apart."""

    def __init__(self) -> None:
        self.skus: list[str] = []  # a delete is the file's last word on them
        self.withdrew: set[str] = set()  # a value, association, tier price (or, `_followups`, category) went
        self.unknown = 0
        self.superseded = 0  # products a later delete of their PID overrides, and deletes a later one repeats
        self.folded = 0  # deletes applied with the later products of their PID (`fold_deletes`)
        self.folds: dict[str, Restated] = {}  # supplier PID → what the products after its delete restate
        self.cleared: list[str] = []  # SKUs of folded deletes: the supplier's categories start from the file
        self.unsent: set[str] = set()  # SKUs a product (T_NEW_CATALOG, T_UPDATE_PRODUCTS) withdrew unsent claims from (`restate_unsent`)
        # SKU → (supplier PID, the value keys and association types withdrawn) of a T_UPDATE_PRODUCTS, for its
        # warning (importers.bmecat_map_checks.report_unrestated); equal sets shared, one per distinct set
        self.unrestated: dict[str, tuple[str, frozenset[str]]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}
        self.enabled: dict[str, str] = {}  # SKU → supplier PID of products a delete had disabled, listed again

    def note_unrestated(self, sku: str, pid: str, gone: Iterable[str]) -> None:
        """What an update's PRODUCT did not restate and `withdraw_unsaid` withdrew from `sku` (two records of one SKU: both)."""
        names = frozenset(gone) | (self.unrestated[sku][1] if sku in self.unrestated else frozenset())
        self.unrestated[sku] = (pid, self._sets.setdefault(names, names))


def known_deletes(store: Store, source: str, items: Iterator[SourceItem | Rejected],
                  deletes: Deletes) -> Iterator[SourceItem | Rejected]:
    """Give each delete the SKU its PID has in the cross-reference before SKU matching, which would create a
    product for an unknown PID. A delete of a PID the cross-reference does not know is dropped and counted:
    there is nothing of that supplier to withdraw (users re-running an update file expect no error)."""
    for chunk in batched(items, store.batch_size):
        wanted = [i.pid for i in chunk if is_delete(i) and not i.record.identifier and i.pid]  # type: ignore[union-attr]
        found = cross_referenced(store, source, wanted) if wanted else {}
        for item in chunk:
            if is_delete(item) and not item.record.identifier:  # type: ignore[union-attr]
                sku = found.get(item.pid or "")  # type: ignore[union-attr]
                if sku is None:
                    deletes.unknown += 1
                    continue
                item.record.identifier = sku  # type: ignore[union-attr]
            yield item


def withdrawal(store: Store, source: str, chunk: list[Parsed], deletes: Deletes) -> None:
    """Turn delete records into the supplier's withdrawal: every key and association type it claims on the
    product, shown or as a candidate, merged as its empty value (docs/importers.md: the next claim takes over), as pim.withdraw does.
    No earlier PRODUCT of the same supplier PID is left in the file to merge first (`parse_items`).

    A product no other source describes (no other source's value or association shows or waits) would be left
    empty and enabled, a blank row in every channel's grid: the record also disables it, with a `problem` note
    saying so (`_left_empty`). It is not deleted: its categories, history and cross-reference stay, and a
    person decides."""
    claims = claimed(store, source, [i.record.identifier for i in chunk])
    kept = _described_elsewhere(store, source, claims)
    for item in chunk:
        sku = item.record.identifier
        keys, kinds = claims[sku]
        if keys or kinds:
            deletes.withdrew.add(sku)
        fields = withdrawn_links(kinds)
        if sku not in kept:
            fields["enabled"] = False
            item.problems = [*item.problems, _left_empty(source, sku, item)]
        item.record = partial_product(sku, dict.fromkeys(sorted(keys)), item.record.source, fields)  # type: ignore[arg-type]


def _described_elsewhere(store: Store, source: str, claims: dict[str, tuple[set[str], set[str]]]) -> set[str]:
    """The SKUs of `claims` (the source's value keys and association types per product) on which another source's
    value or association shows or waits: what a delete of the source leaves standing. Three reads per batch of
    deletes (the products' value keys and association types, other sources' candidates and association claims)."""
    skus = list(claims)
    with store.engine.connect() as conn:
        others = {sku for sku, by in raw_table(store, conn, CANDIDATE).select(conn, ("identifier", "source"), "identifier", skus)
                  if by != source}
        shown = raw_table(store, conn, PRODUCT).select(conn, ("identifier", "value_map", "associations"), "identifier", skus)
        links = association_claims.load(conn, skus)
    for sku, values, associations in shown:
        keys, kinds = claims[sku]
        if set(values or ()) - keys or set(associations or ()) - kinds:
            others.add(sku)
    others.update(sku for sku, types in links.items() if any(set(t.claims) - {source} for t in types.values()))
    return others


def _left_empty(source: str, sku: str, item: Parsed) -> QuarantineEntry:
    """The note on a product a delete disabled (`withdrawal`): what happened and what to do."""
    pid = (item.raw or {}).get("supplier_pid", "")
    return QuarantineEntry(
        f"{source} deleted its product '{pid}' (PRODUCT mode=\"delete\") and no other source describes '{sku}': "
        "it is disabled rather than left empty in the catalog. Delete it if it is gone for good; if the supplier "
        "lists it again (T_NEW_CATALOG or T_UPDATE_PRODUCTS), it is enabled again", item.file, item.line,
        "PRODUCT@mode", None, sku, source, severity="problem", kind=DISABLED_BY_DELETE)


def enable_relisted(store: Store, source: str, items: list[Parsed], deletes: Deletes) -> None:
    """Enable again the disabled products `items` (a T_NEW_CATALOG's or T_UPDATE_PRODUCTS' records of them) whose
    disabling is this source's delete (`withdrawal`): its open note says so (`DISABLED_BY_DELETE`; before round 35
    a note on `PRODUCT@mode` of severity problem, which only that wrote). A product disabled for another reason
    (by a person, another source's rule) has no such note and stays off. The record carries `enabled: true`, so
    it is enabled in its batch, only if it is taken in, and that clean import closes the note; noted in
    `deletes.enabled` for the file's warning (`report_enabled`)."""
    notes = QUARANTINE.c
    skus = [i.record.identifier for i in items]
    with store.engine.connect() as conn:
        noted = set(conn.execute(select(notes.record_key).where(
            notes.source == source, notes.record_key.in_(skus), notes.resolved_at.is_(None),
            notes.severity == "problem", or_(notes.kind == DISABLED_BY_DELETE,
                                             and_(notes.kind.is_(None), notes.field == "PRODUCT@mode")))).scalars())
    for item in items:
        sku = item.record.identifier
        if sku in noted:
            item.record.enabled = True  # set: the merge takes the structural field from the record
            deletes.enabled[sku] = (item.raw or {}).get("supplier_pid", "")


def withdraw_unsaid(store: Store, source: str, items: list[tuple[Parsed, Restated]],
                    noted: Deletes | None = None) -> set[str]:
    """Withdraw on each item's record what the supplier claims on the product (shown or waiting) that neither
    the record nor `said` states: its empty value, an empty association, merged as a delete's are
    (docs/importers.md: the next claim shows, or the value goes). Returns the SKUs something was withdrawn
    from; `noted` also keeps what went, by SKU (`Deletes.note_unrestated`). Records of one SKU are taken in
    order, each against the claims the ones before it leave."""
    skus = [i.record.identifier for i, _ in items]
    claims = product_claims(store, source, list(dict.fromkeys(skus)))
    again = {sku for sku, n in Counter(skus).items() if n > 1}  # SKUs whose later records read what this one leaves
    took: set[str] = set()
    for item, said in items:
        rec = item.record
        sku = rec.identifier  # type: ignore[union-attr]
        keys, kinds = claims[sku]
        gone = keys - said.keys - rec.values.keys()
        lost = kinds - said.kinds - rec.associations.keys()  # type: ignore[union-attr]
        for key in sorted(gone):
            rec.values[key] = None
        if lost:
            rec.associations = {**rec.associations, **withdrawn_links(lost)["associations"]}  # type: ignore[union-attr]
        if gone or lost:
            took.add(sku)
            if noted is not None:
                noted.note_unrestated(sku, (item.raw or {}).get("supplier_pid", ""),
                                      [*gone, *(f"association {kind}" for kind in lost)])
        if sku in again:
            claims[sku] = ((keys - gone) | {k for k, v in rec.values.items() if v is not None},
                           (kinds | said.kinds | rec.associations.keys()) - lost)  # type: ignore[union-attr]
    return took


def fold_deletes(store: Store, source: str, m: BmecatMap, items: list[tuple[Parsed, Restated]],
                 deletes: Deletes) -> None:
    """A delete followed by later PRODUCTs of its supplier PID, applied with the last of them: that record also
    withdraws what the supplier claims on the product that none of them restates (`withdraw_unsaid`), and the
    supplier's tier prices they do not restate leave the price list. What they restate is theirs to say, so
    the same file imported again withdraws nothing and the record is skipped as merged."""
    deletes.withdrew |= withdraw_unsaid(store, source, items)
    for item, said in items:
        sku = item.record.identifier
        deletes.cleared.append(sku)
        if m.tier_price_list:  # removed before the record's own tiers are written (`TierRemoval`)
            item.extras = [TierRemoval(sku, frozenset(said.tiers)), *item.extras]


def restate_unsent(store: Store, source: str, items: list[tuple[Parsed, Restated]],
                   deletes: Deletes) -> None:
    """A T_NEW_CATALOG is the supplier's whole catalog (BMEcat 2005: it transmits the complete product data), and
    a T_UPDATE_PRODUCTS PRODUCT (mode new or update) replaces the product's data (`RESTATING`), so a product
    either sends says everything the supplier has to say about it: the supplier's claims on the product
    the record no longer states are withdrawn (`withdraw_unsaid`). Stated too, so kept: a value skipped with a
    problem (`Mapped.held`: the supplier said something there; its old value stands until a good one comes)
    and a reference type whose targets resolve only after the file (`said.kinds`, taken before
    `References.translate` leaves it out of the record). A value the variant-level guard drops later is still
    in the record here. Products the file does not send are not touched (catalogs are split across files);
    tier prices and categories have their own complete-catalog rules (`CompletePriceLists`, `GroupPlacer`); an
    update's tiers still only add and change, and its categories follow its PRODUCT_TO_CATALOGGROUP_MAPs.

    Every stored product the file sends is checked, its source fingerprint (pim.merge) matching or not: a match
    says the supplier merged this very record and nobody wrote the product since, not that the supplier claims
    nothing more — the same record merged by an import before this rule (an update before round 34) left
    unsent claims standing, and so would a product whose problem value is later simply left out (the record
    hashes the same). The claims are read in part instead (`pim.withdraw.product_claims`: no value decoded):
    about 13 µs a product against 55 µs for whole products; a skip of matched records would save some 10 µs
    of those on an unchanged re-import, not soundly.

    What an update withdrew is also kept by product (`Deletes.unrestated`) for the file's warning: a supplier
    sending partial updates loses values it meant to keep (a map's `updates: delta` reads them so)."""
    update = (items[0][0].raw or {}).get("transaction") == "update_products"
    deletes.unsent |= withdraw_unsaid(store, source, items, deletes if update else None)


#: The products a warning names; the rest are counted.
NAMED = 10


def report_enabled(store: Store, counts: ImportCounts, source: str, file: str, enabled: dict[str, str]) -> None:
    """One `warning` naming the products a delete of the source had disabled that this file lists again and
    enabled (`enable_relisted`; SKU → supplier PID, those taken in), so nobody wonders why they are back."""
    if not enabled:
        return
    counts.extra["enabled_again"] = len(enabled)
    named = sorted(enabled)[:NAMED]
    products = ", ".join(f"{sku}" + (f" (supplier PID '{enabled[sku]}')" if enabled[sku] not in ("", sku) else "")
                         for sku in named)
    more = f", and {len(enabled) - len(named)} more" if len(enabled) > len(named) else ""
    file_warning(store, counts.job_id, source, f"delete-enabled:{file}", (
        f"{len(enabled)} product(s) that {source} had deleted (PRODUCT mode=\"delete\"), which disabled them, are "
        f"listed again in this file and enabled again: {products}{more}. Disable one on the product page if it "
        "should stay off"), file=file, field="PRODUCT@mode")
