"""Which source claims which association type of a product, settled by precedence like a value.

A product shows one association per type (`accessories`, `spare_parts`, …). Several sources may state one: the
content team links accessories, a supplier's BMEcat lists `PRODUCT_REFERENCE`s of the same type. Each source's
statement is a *claim*, kept in `association_claim` (one row per product, type and source, the shown one
flagged); the best-ranked claim shows (precedence's `associations`, else its `default`), and when its source
withdraws (an empty association, a BMEcat delete) the next claim takes over. A type the product shows with no
row flagged as shown (stored before claims were kept, or written whole by a catalog load) counts as claimed by
the product's default source.

A person may pick a waiting claim (`pick`: the product page's "Show this", the API's association pick): it
shows and is *pinned* (the shown row keeps who picked it), so later imports of any source update their own
claims but leave the pick showing; the pinned source's own new claim replaces the shown one. The pin ends when
that source withdraws its claim (or the association is replaced outside the merge), and precedence decides
again; picking again moves it.

When two sources that both own a type (precedence `associations`, else `default`) claim different targets, the
conflict log (pim.conflicts) has a row for it under the value key `associations:<TYPE>`, kept as a value's is
(pim.merge.conflict_of, `_conflict_diff`): written with the claims, in their transaction, and only for the
types whose claims a write changes. A pick resolves it; a pin ending or a source withdrawing settles it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, String, Table
from sqlalchemy.engine import Connection
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from pim.conflicts import OPEN
from pim.errors import InputError
from pim.product import (Association, Product, ProductModel, Provenance, source_of, trusted_association,
                         trusted_provenance)
from pim.store.raw import RawTable, raw_table
from pim.store.store import now
from pim.store.tables import JSONType

#: The precedence key of an association type (pim.merge.Ranker): kept apart from attribute codes.
RANK_PREFIX = "\x00association:"
#: The conflict log's value key of an association type: `associations:X_SELL` (its `attribute` is `associations`).
CONFLICT_PREFIX = "associations:"


def conflict_key(kind: str) -> str:
    return CONFLICT_PREFIX + kind


def type_of_key(value_key: str) -> str | None:
    """The association type a conflict log key names, or None for a value's key."""
    return value_key[len(CONFLICT_PREFIX):] if value_key.startswith(CONFLICT_PREFIX) else None


class AssociationClaimRow(SQLModel, table=True):
    """One source's association of one type on one product (or `model:<code>`), and whether it shows."""

    __tablename__ = "association_claim"

    identifier: str = SQLField(sa_column=Column(String(255), primary_key=True))
    assoc_type: str = SQLField(sa_column=Column(String(100), primary_key=True))
    source: str = SQLField(sa_column=Column(String(100), primary_key=True))
    association: Any = SQLField(sa_column=Column(JSONType, nullable=False))
    ref: str | None = SQLField(default=None, sa_column=Column(String(1000), nullable=True))
    at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    shown: bool = SQLField(sa_column=Column(Boolean, nullable=False))
    pinned_by: str | None = SQLField(default=None, sa_column=Column(String(255), nullable=True))  # who picked it


ASSOCIATION_CLAIM: Table = AssociationClaimRow.__table__  # type: ignore[assignment]
_COLUMNS = ("identifier", "assoc_type", "source", "association", "ref", "at", "shown", "pinned_by")
_KEYS = ("identifier", "assoc_type", "source")


@dataclass(slots=True)
class SourceClaim:
    association: dict[str, Any]  # the association's dump (defaults left out): compared, stored and shown
    prov: Provenance | None


@dataclass
class TypeClaims:
    """The claims on one association type of one product: source → claim, the source that shows, and who
    pinned it there (a person's pick; None when precedence decides)."""

    claims: dict[str, SourceClaim] = field(default_factory=dict)
    shown: str | None = None
    pinned_by: str | None = None


def dump(association: Association) -> dict[str, Any]:
    return association.model_dump(exclude_defaults=True)


def is_empty(association: Association) -> bool:
    """An association with no target: a source sending it withdraws its claim on the type."""
    return not (association.products or association.product_models or association.groups)


def load(conn: Connection, ids: list[str], raw: RawTable | None = None) -> dict[str, dict[str, TypeClaims]]:
    """identifier → association type → its claims, for a batch of products (one query)."""
    out: dict[str, dict[str, TypeClaims]] = {}
    if not ids:
        return out
    for ident, kind, source, association, ref, at, shown, pinned_by in (raw or RawTable(conn, ASSOCIATION_CLAIM)).select(
            conn, _COLUMNS, "identifier", ids):
        claims = out.setdefault(ident, {}).setdefault(kind, TypeClaims())
        claims.claims[source] = SourceClaim(association, trusted_provenance(source, ref, at))
        if shown:
            claims.shown, claims.pinned_by = source, pinned_by
    return out


def stated(stored: TypeClaims | None, showing: Association | None, default: Provenance | None) -> TypeClaims:
    """The claims on a type as the merge starts from them: the stored rows, reconciled with what the product
    shows. A shown row whose association the product no longer shows was replaced outside the merge (a whole
    record written): what the product shows counts as its default source's claim then, as it does for a
    type with no rows, and a pin on the replaced claim ends."""
    claims = TypeClaims(dict(stored.claims), stored.shown, stored.pinned_by) if stored else TypeClaims()
    if showing is None:
        if claims.shown is not None:
            claims.claims.pop(claims.shown, None)
            claims.shown = claims.pinned_by = None
        return claims
    shown_dump = dump(showing)
    if claims.shown is not None and claims.claims[claims.shown].association == shown_dump:
        return claims
    owner = source_of(default)
    claims.claims[owner] = SourceClaim(shown_dump, default)
    claims.shown, claims.pinned_by = owner, None
    return claims


def claimed_types(stored: dict[str, TypeClaims], showing: dict[str, Association], default: Provenance | None,
                  source: str) -> dict[str, dict[str, Any]]:
    """association type → what `source` claims on it (shown or waiting), for one product."""
    out: dict[str, dict[str, Any]] = {}
    for kind in stored.keys() | showing.keys():
        claims = stated(stored.get(kind), showing.get(kind), default)
        if source in claims.claims:
            out[kind] = claims.claims[source].association
    return out


@dataclass
class ClaimWrites:
    """association_claim rows a batch changes, written in the product batch's transaction, and the conflict
    log rows of the types whose claims change (`disputes`: one read of their logged rows per write)."""

    upserts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[tuple[str, str, str]] = field(default_factory=list)
    #: the pim.merge.Ranker the claims were settled by, which says who owns a type; None: PIM_HOME/precedence.yaml's,
    #: as people's picks judge ownership (pim.merge._repick)
    ranker: Any = None
    picked_by: str | None = None  # a person's pick (`pick`): its types' conflict rows are resolved and pinned
    disputes: dict[tuple[str, str], TypeClaims] = field(default_factory=dict)  # (identifier, type) → claims

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes or self.disputes)

    def add(self, ident: str, kind: str, old: TypeClaims | None, new: TypeClaims, stamp: datetime) -> None:
        before = old.claims if old else {}
        was, was_pinned = (old.shown, old.pinned_by) if old else (None, None)
        changes = len(self.upserts) + len(self.deletes)
        for source in before.keys() - new.claims.keys():
            self.deletes.append((ident, kind, source))
        for source, claim in new.claims.items():
            prior = before.get(source)
            shows = source == new.shown
            pin = new.pinned_by if shows else None
            if (prior is None or prior.association != claim.association or (source == was) != shows
                    or (was_pinned if source == was else None) != pin):
                prov = claim.prov
                self.upserts.append({"identifier": ident, "assoc_type": kind, "source": source,
                                     "association": claim.association, "ref": prov.ref if prov else None,
                                     "at": prov.at if prov else stamp, "shown": shows, "pinned_by": pin})
        changed = len(self.upserts) + len(self.deletes) > changes
        # a single claim never conflicts: only a type with two claims (or a pin) before or after can touch the log
        if (changed or self.picked_by is not None) and (len(before) > 1 or len(new.claims) > 1 or was_pinned
                                                        or new.pinned_by):
            self.disputes[(ident, kind)] = new

    def write(self, owner: Any, conn: Connection) -> None:
        if not self:
            return
        table = raw_table(owner, conn, ASSOCIATION_CLAIM)
        table.delete(conn, _KEYS, self.deletes)
        table.upsert(conn, self.upserts, _KEYS)
        if self.disputes:
            self._log(owner, conn)

    def _log(self, owner: Any, conn: Connection) -> None:
        """The conflict rows of `disputes`, by the rule and the statuses of values' (pim.merge.conflict_of): an
        import's owners that disagree open a row, a pick resolves and pins it, a withdrawal or an ended pin
        settles it. A pin follows the claims' (`pinned_by`), the association pick's record of it."""
        from pim.conflicts import CONFLICT
        from pim.merge import Claim, SideWrites, _conflict_diff, _load_conflicts, conflict_of

        ranker = self.ranker or home_ranker(conn)
        logged = _load_conflicts(conn, sorted({ident for ident, _ in self.disputes}), raw_table(owner, conn, CONFLICT))
        side, stamp = SideWrites(), now()
        for (ident, kind), claims in self.disputes.items():
            key, shown = conflict_key(kind), claims.shown
            old = logged.get(ident, {}).get(key)
            values = {s: Claim(c.association, c.prov) for s, c in claims.claims.items()}
            rows = len(side.conflict_rows)
            if self.picked_by is not None and shown is not None:
                owners = old["claims"] if old is not None and old["status"] == OPEN else ()
                state = conflict_of(values, shown, RANK_PREFIX + kind, ranker, pinned=True, owners=owners)
                _conflict_diff(ident, key, old, state or (shown, {shown: values[shown].value}), side, stamp,
                               pin_by=self.picked_by)
            else:
                state = (conflict_of(values, shown, RANK_PREFIX + kind, ranker, pinned=claims.pinned_by is not None)
                         if shown is not None else None)
                _conflict_diff(ident, key, old, state, side, stamp, unpin=claims.pinned_by is None)
            if claims.pinned_by and len(side.conflict_rows) > rows:  # a pick made before the log kept associations
                row = side.conflict_rows[-1]
                row["pinned"], row["resolved_by"] = shown, row["resolved_by"] or claims.pinned_by
        raw_table(owner, conn, CONFLICT).upsert(conn, side.conflict_rows, ("identifier", "value_key"))


def home_ranker(conn: Connection) -> Any:
    """A pim.merge.Ranker by PIM_HOME/precedence.yaml (else the default, content first): what people's picks and
    edits merge by."""
    from pim.merge import Precedence, Ranker, home_precedence
    from pim.structure_cache import cached_structure

    return Ranker(home_precedence() or Precedence(), cached_structure(conn))


def forget(conn: Connection, identifiers: list[str]) -> None:
    """Drop the claims of products that were deleted (pim.merge.forget_deleted_listener)."""
    conn.execute(ASSOCIATION_CLAIM.delete().where(ASSOCIATION_CLAIM.c.identifier.in_(identifiers)))


def shown_association(claims: TypeClaims) -> Association | None:
    if claims.shown is None:
        return None
    return trusted_association(claims.claims[claims.shown].association)


def given(record: Product) -> bool:
    """Whether a partial record states associations (only those records' claims are read)."""
    return "associations" in record.model_fields_set and bool(record.associations)


def pick(store: Any, identifier: str, assoc_type: str, source: str, *, by: str, log: Any = None) -> Product | ProductModel:
    """Show `source`'s claim on `assoc_type` and pin it there (a person's pick, `by` names them): later
    imports keep it showing until `source` withdraws the claim. `identifier` is a SKU, or `model:<code>` for a
    product model. Read and written in one transaction under the catalog's write lock (as
    pim.merge.pick_winner is), so an import landing meanwhile is neither lost nor overwritten. `log` (a
    pim.merge.RecordHook: the history row) runs in that transaction."""
    from pim.merge import locked_record, write_record  # pim.merge settles the claims this module keeps

    with store.begin() as conn:
        product = locked_record(store, conn, identifier, hint="check the identifier (a SKU, or model:<code>)")
        stored = load(conn, [identifier]).get(identifier, {})
        if assoc_type not in stored and assoc_type not in product.associations:
            kinds = sorted(stored.keys() | product.associations.keys())
            raise InputError(f"no source claims a '{assoc_type}' association on {identifier}", field="type",
                             hint=f"its association types: {', '.join(kinds)}" if kinds else
                             "it has no associations; an import or an edit must state one first")
        before = stored.get(assoc_type)
        claims = stated(before, product.associations.get(assoc_type), product.source)
        if source not in claims.claims:
            raise InputError(f"'{source}' claims no '{assoc_type}' association on {identifier}", field="source",
                             hint=f"pick one of the sources that do: {', '.join(sorted(claims.claims))}")
        claims.shown, claims.pinned_by = source, by or "unknown"
        associations = dict(product.associations)
        associations[assoc_type] = trusted_association(claims.claims[source].association)
        new = product.model_copy(update={"associations": associations})
        writes = ClaimWrites(ranker=home_ranker(conn), picked_by=claims.pinned_by)
        writes.add(identifier, assoc_type, before, claims, now())
        write_record(store, conn, new, writes)
        if log is not None:
            log(conn, product, new)
    return new


def unpin(store: Any, identifier: str, assoc_type: str, *, by: str, log: Any = None) -> str:
    """Undo a person's pick on `assoc_type` (`pim import resolve SKU associations:<TYPE> --unpin`): precedence
    decides again, by PIM_HOME/precedence.yaml as people's picks do, and the conflict log's row is open again
    while owners disagree. Returns the source that shows. Refused (InputError) when nothing is pinned there."""
    from pim.merge import _choose, locked_record, write_record

    with store.begin() as conn:
        product = locked_record(store, conn, identifier, hint="check the identifier (a SKU, or model:<code>)")
        before = load(conn, [identifier]).get(identifier, {}).get(assoc_type)
        claims = stated(before, product.associations.get(assoc_type), product.source)
        if claims.pinned_by is None or claims.shown is None:
            raise InputError(f"nothing is picked on {identifier}'s '{assoc_type}' association", field="type",
                             hint="`pim import conflicts --status pinned` lists the picks")
        ranker = home_ranker(conn)
        shown = claims.shown
        claims.shown = _choose(claims.claims, RANK_PREFIX + assoc_type, ranker, shown, shown, None)  # type: ignore[arg-type]
        claims.pinned_by = None
        associations = dict(product.associations)
        associations[assoc_type] = trusted_association(claims.claims[claims.shown].association)
        new = product.model_copy(update={"associations": associations})
        writes = ClaimWrites(ranker=ranker)
        writes.add(identifier, assoc_type, before, claims, now())
        write_record(store, conn, new, writes)
        if log is not None:
            log(conn, product, new)
    return claims.shown


def overview(store: Any, product: Product, ancestors: Sequence[ProductModel] = ()) -> list[dict[str, Any]]:
    """Per association type the product shows or a source claims: what shows, from which source, and the
    claims waiting behind it (the product page's "Associations"). `ancestors` (pim.store's, parent first):
    the models the product inherits from, whose types follow; each row's `target` is where it is decided and
    picked, the product's SKU or `model:<code>`."""
    from pim.merge import MODEL_KEY  # pim.merge settles the claims this module keeps

    owners: list[tuple[str, Product | ProductModel]] = [(product.identifier, product)]
    owners += [(MODEL_KEY + m.code, m) for m in ancestors]
    with store.engine.connect() as conn:
        stored = load(conn, [key for key, _ in owners])
    rows = []
    for key, record in owners:
        mine = stored.get(key, {})
        for kind in sorted(mine.keys() | record.associations.keys()):
            claims = stated(mine.get(kind), record.associations.get(kind), record.source)
            shown = claims.claims.get(claims.shown) if claims.shown else None
            rows.append({"target": key, "type": kind, "source": claims.shown,
                         "targets": _targets(shown.association) if shown else [],
                         "pinned": claims.pinned_by is not None, "pinned_by": claims.pinned_by,
                         "waiting": [{"source": s, "targets": _targets(c.association)}
                                     for s, c in sorted(claims.claims.items()) if s != claims.shown]})
    return rows


def _targets(association: dict[str, Any]) -> list[dict[str, Any]]:
    qty = association.get("quantities", {})
    return ([{"kind": "product", "code": c, "qty": qty.get(c)} for c in association.get("products", [])]
            + [{"kind": "model", "code": c, "qty": qty.get(c)} for c in association.get("product_models", [])]
            + [{"kind": "group", "code": c, "qty": None} for c in association.get("groups", [])])
