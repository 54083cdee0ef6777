"""Merging sources into one product by declared precedence (schemas/precedence.schema.json).

Each source *claims* values. Per value key the best-ranked claim wins and shows on the product with its
provenance; the others are kept as candidates (table `value_candidate`), so when the winner withdraws its
value the next claim takes over without re-importing anything. When two sources that both *own* an
attribute (the precedence list names them) disagree, the conflict log records it (pim.conflicts).

A source record is partial: a key it does not mention is left alone; a key it maps to None (an explicitly
empty cell) withdraws that source's claim. `merge_product` is pure; `Merger` loads and writes a batch."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from itertools import repeat
from pathlib import Path
from typing import Any, TypeVar

import hashlib

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import BigInteger, Column, DateTime, String, Table, select
from sqlalchemy import Connection
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from pim import association_claims as links
from pim.association_claims import RANK_PREFIX, SourceClaim, TypeClaims
from pim.batch_lookup import StoredBatch, product_seqs, read_batch
from pim.catalog import Structure
from pim.conflicts import CONFLICT, OPEN, RESOLVED, SETTLED
from pim.errors import InputError, StoreError
from pim.product import (EMPTY, UNKNOWN, Association, Product, ProductModel, Provenance, blank_product, source_of, split_key,
                         trusted_copy, trusted_model)
from pim.partial_merge import StoredPart, read_parts, row_update, touched_keys
from pim.quality import is_gtin_attribute, unique_form
from pim.spelling import unknown_key
from pim.store import Store, UpsertCounts
from pim.store.raw import RawTable, raw_table
from pim.store.store import MODEL, PRODUCT, ProductDelta, ProductRowUpdate, json_text, now
from pim.store.tables import JSONType
from pim.structure import AttributeType
from pim.validation import outside_family
from pim.variant_levels import Child, SiblingAxes, SiblingsRead, cleared_reason, gap_reason

T = TypeVar("T")
_STRUCTURAL = ("family", "parent", "enabled", "categories", "groups")
_ABSENT = object()  # a key the product has no value for (a stored value may be None)
_MERGED_FIELDS = frozenset(("values", "provenance", "associations", *_STRUCTURAL))  # what a merge sets (_with_fields)


class Precedence(BaseModel):
    """Which source wins, per attribute or per attribute group; the first entry of a list wins. Entries are
    source names or patterns (`supplier:*`). A source a list names *owns* those attributes: when two owners
    disagree the conflict log records it. A source a list does not name ranks below every named one (it
    can fill a gap, never override); among equals the value already shown stays, so imports re-run in
    any order settle instead of taking turns."""

    model_config = ConfigDict(extra="forbid")

    default: list[str] = Field(
        default=["content"], description="Order for attributes no other rule covers. The content team first."
    )
    groups: dict[str, list[str]] = Field(default={}, description="attribute group code → sources, best first")
    attributes: dict[str, list[str]] = Field(default={}, description="attribute code → sources, best first")
    associations: dict[str, list[str]] = Field(
        default={}, description="association type code → sources, best first (others follow `default`)")

    @classmethod
    def load(cls, path: Path) -> "Precedence":
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: undecodable, or a NUL in the path
            raise InputError(f"cannot read the precedence file: {exc}", file=str(path)) from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = unknown_key(cls, first["loc"]) if first["type"] == "extra_forbidden" else None
            raise InputError(
                f"invalid precedence: {message or first['msg']}", file=str(path),
                field=".".join(str(p) for p in first["loc"]), hint="see schemas/precedence.schema.json",
            ) from exc


class Ranker:
    """rank(source, attribute) → (position, owns). Lower position wins. Cached: called per value."""

    def __init__(self, precedence: Precedence, structure: Structure) -> None:
        self.p = precedence
        self.groups = {code: a.group for code, a in structure.attributes.items()}
        self.prices = frozenset(c for c, a in structure.attributes.items() if a.type == AttributeType.price_collection)
        self.metrics = {c: a.metric_family for c, a in structure.attributes.items() if a.type == AttributeType.metric}
        self._measures = structure.measures if self.metrics else None
        self.gtins = frozenset(c for c in structure.attributes if is_gtin_attribute(c))
        self._ranks: dict[str, dict[str, tuple[int, bool]]] = {}  # attribute → source → rank
        self._attribute: dict[str, str] = {}

    def attribute(self, key: str) -> str:
        """The attribute code of a value key (cached: split per key once per import, not per value)."""
        hit = self._attribute.get(key)
        if hit is None:
            hit = self._attribute[key] = split_key(key)[0]
        return hit

    def order(self, attribute: str) -> list[str]:
        if attribute.startswith(RANK_PREFIX):
            return self.p.associations.get(attribute[len(RANK_PREFIX):], self.p.default)
        if attribute in self.p.attributes:
            return self.p.attributes[attribute]
        group = self.groups.get(attribute)
        if group is not None and group in self.p.groups:
            return self.p.groups[group]
        return self.p.default

    def disagree(self, attribute: str, a: Any, b: Any) -> bool:
        """Two claims disagree when they differ, except that price collections are compared per currency
        both state: an ERP EUR+USD price and a supplier's equal EUR price agree (the winner's whole collection
        still shows; the other stays a candidate), and measurements in their quantity: 1.5 KILOGRAM and 1500
        GRAM agree; so do two ways of writing one GTIN (`04012345000030` and `4012345000030`: zeros to GTIN-14,
        pim.quality.unique_form, as matching by GTIN reads them)."""
        if a == b:
            return False
        if attribute in self.prices and isinstance(a, dict) and isinstance(b, dict):
            return any(a[c] != b[c] for c in a.keys() & b.keys())
        if attribute in self.metrics and isinstance(a, dict) and isinstance(b, dict) and a.get("unit") != b.get("unit"):
            return not self._same_quantity(self.metrics[attribute], a, b)
        if attribute in self.gtins and type(a) is str and type(b) is str:
            return unique_form(a, gtin=True) != unique_form(b, gtin=True)
        return True

    def _same_quantity(self, family: str | None, a: dict[str, Any], b: dict[str, Any]) -> bool:
        try:
            return self._measures.convert(a["amount"], a["unit"], b["unit"], family) == Decimal(b["amount"])  # type: ignore[union-attr]
        except (KeyError, TypeError, ArithmeticError, ValueError):  # no amount, no conversion: they differ
            return False

    def rank(self, source: str, attribute: str) -> tuple[int, bool]:
        hit = self.ranks(attribute).get(source)
        if hit is None:
            order = self.order(attribute)
            pos = next((i for i, pat in enumerate(order) if fnmatchcase(source, pat)), None)
            hit = self._ranks[attribute][source] = (len(order), False) if pos is None else (pos, True)
        return hit

    def ranks(self, attribute: str) -> dict[str, tuple[int, bool]]:
        """source → rank of the sources ranked on `attribute` so far (`rank` adds the others): one lookup per
        value key, then one per claim, where a merge settles hundreds of thousands of keys."""
        table = self._ranks.get(attribute)
        if table is None:
            table = self._ranks[attribute] = {}
        return table


@dataclass(slots=True)
class Claim:
    value: Any
    prov: Provenance | None

    @property
    def source(self) -> str:
        return source_of(self.prov)


Claims = dict[str, Claim]  # source → claim


@dataclass
class MergeOutcome:
    product: Product
    candidates: dict[str, Claims] = field(default_factory=dict)  # touched key → losing claims
    conflicts: dict[str, tuple[str, dict[str, Any]] | None] = field(default_factory=dict)  # key → (winner, claims)
    associations: dict[str, TypeClaims] = field(default_factory=dict)  # association type the record states → claims
    unpinned: set[str] = field(default_factory=set)  # keys whose pinned source withdrew its claim: the pin ends


def _choose(claims: Claims, attribute: str, ranker: Ranker, newest: str, current: str | None, pin: str | None) -> str:
    if pin and pin in claims:
        return pin
    ranks = ranker.ranks(attribute)
    best, best_order = "", (0, 0, "")
    for source in claims:
        # Equal rank: the value already shown stays (re-running imports in any order changes nothing); the
        # newest import only breaks a tie nobody holds yet.
        order = ((ranks.get(source) or ranker.rank(source, attribute))[0],
                 0 if source == current else 1 if source == newest else 2, source)
        if not best or order < best_order:
            best, best_order = source, order
    return best


def settle(claims: Claims, attribute: str, ranker: Ranker, *, newest: str, current: str | None,
           pin: str | None) -> tuple[str | None, Claims, tuple[str, dict[str, Any]] | None]:
    """Winner, losing claims and the conflict (winner, {owner: value}) of one value key."""
    if not claims:
        return None, {}, None
    if len(claims) == 1 and not pin:  # a lone claim wins and cannot conflict
        return next(iter(claims)), {}, None
    winner = _choose(claims, attribute, ranker, newest, current, pin)
    losers = dict(claims)  # a copy and one delete: cheaper than a comprehension, run per settled key
    del losers[winner]
    return winner, losers, conflict_of(claims, winner, attribute, ranker, pinned=pin == winner)


def conflict_of(claims: Claims, winner: str, attribute: str, ranker: Ranker, *, pinned: bool,
                owners: Collection[str] = ()) -> tuple[str, dict[str, Any]] | None:
    """The one rule for what a conflict holds, which the merge and a person's pick both follow (so a pick leaves
    the log as the next merge of the same claims finds it): (winner, {winner: value, owner: value}) with the
    claims of the owners (sources the precedence names for the attribute, and `owners`) that disagree with the
    winner; None when none does, or when the winner neither owns the attribute nor is `pinned`."""
    win_value = claims[winner].value
    ranks = ranker.ranks(attribute)
    disagree = {s: c.value for s, c in claims.items()
                if s != winner and ((ranks.get(s) or ranker.rank(s, attribute))[1] or s in owners)
                and ranker.disagree(attribute, c.value, win_value)}
    if disagree and (pinned or (ranks.get(winner) or ranker.rank(winner, attribute))[1] or winner in owners):
        return winner, {winner: win_value, **disagree}
    return None


def merge_product(existing: Product | None, incoming: Product, candidates: dict[str, Claims],
                  pins: dict[str, str], ranker: Ranker, association_claims: dict[str, TypeClaims] | None = None
                  ) -> MergeOutcome:
    """Apply one source's partial record to the stored product. Pure: returns the new product, the new
    candidate set and the conflict state of every key the record touched. `association_claims`: the stored
    claims on the association types the record states (pim.association_claims), none when omitted."""
    if existing is None and not candidates and not pins:
        return _new_product(incoming, ranker, association_claims)
    base = existing or blank_product(incoming.identifier, incoming.source)
    values = dict(base.values)
    provenance = dict(base.provenance)
    outcome = MergeOutcome(product=base)
    out_candidates, out_conflicts = outcome.candidates, outcome.conflicts
    in_provs, in_source, base_source = incoming.provenance, incoming.source, base.source
    record_source = in_source.source if in_source else UNKNOWN
    # whether the record's own provenance is the base's (compared once, not per key the record wins)
    in_is_base = in_source is base_source or in_source == base_source
    attributes = ranker._attribute
    for key, value in incoming.values.items():
        if in_provs and key in in_provs:
            prov = in_provs[key]
            source = prov.source if prov else UNKNOWN
        else:
            prov, source = in_source, record_source
        current = None
        cur_prov = None
        known = candidates.get(key)
        pin = pins.get(key) if pins else None
        repeats = False
        shown = values.get(key, _ABSENT)
        if shown is not _ABSENT:
            cur_prov = provenance.get(key, base_source)
            current = cur_prov.source if cur_prov else UNKNOWN
            repeats = current == source and shown == value and key not in pins
            if repeats and not known:
                continue  # the winner repeats its value, alone: nothing to settle (the re-import fast path)
        claims = dict(known) if known else {}
        if current is not None:
            claims[current] = Claim(shown, cur_prov)
        if value in EMPTY:
            claims.pop(source, None)
            if pin == source:
                outcome.unpinned.add(key)
        elif not repeats:  # a repeated winner is settled again (the precedence may have changed) as it stands
            claims[source] = Claim(value, prov)
        if not claims:  # the last claim withdrawn (settle's first answer)
            winner, losers, conflict = None, {}, None
        elif len(claims) == 1 and not pin:  # a lone claim wins and cannot conflict (settle's second)
            winner, losers, conflict = next(iter(claims)), {}, None
        else:
            attribute = attributes.get(key) or ranker.attribute(key)
            winner, losers, conflict = settle(claims, attribute, ranker, newest=source, current=current, pin=pin)
        if winner is None:
            values.pop(key, None)
            provenance.pop(key, None)
        else:
            win = claims[winner]
            values[key] = win.value
            wp = win.prov
            if not (in_is_base if wp is in_source else (wp is base_source or wp == base_source)):
                provenance[key] = wp  # type: ignore[assignment]
            else:
                provenance.pop(key, None)
        out_candidates[key] = losers
        out_conflicts[key] = conflict
    outcome.product = _with_fields(base, incoming, values, provenance, outcome, ranker, association_claims)
    return outcome


def _new_product(incoming: Product, ranker: Ranker, association_claims: dict[str, TypeClaims] | None) -> MergeOutcome:
    """merge_product for a product nothing is stored for and no source claimed before: each value is a lone
    claim, so it wins (an empty one claims nothing) and nothing loses or conflicts. The fast path of a
    first import."""
    base = blank_product(incoming.identifier, incoming.source)
    values: dict[str, Any] = {}
    provenance: dict[str, Provenance] = {}
    in_provs, in_source = incoming.provenance, incoming.source
    for key, value in incoming.values.items():
        if value in EMPTY:
            continue
        values[key] = value
        prov = in_provs.get(key)
        if prov is not None and prov is not in_source and prov != in_source:
            provenance[key] = prov
    keys = incoming.values.keys()
    outcome = MergeOutcome(product=base, candidates={k: {} for k in keys}, conflicts=dict.fromkeys(keys))
    outcome.product = _with_fields(base, incoming, values, provenance, outcome, ranker, association_claims)
    return outcome


def with_unstated(incoming: Product, stated: Mapping[str, frozenset[str]], current: Product | None,
                  candidates: Mapping[str, Claims]) -> Product:
    """`incoming` with each price collection in `stated` (key → the currencies the record states, its file
    having no column or element for the others) completed by the currencies it does not state, at the amounts
    of the source's claim before: the one shown on `current` when the source is its shown source, else its
    candidate. A currency stated empty stays removed; with none left the claim is empty, as a whole record's."""
    values: dict[str, Any] | None = None
    for key, currencies in stated.items():
        if key not in incoming.values:
            continue
        source = source_of(incoming.provenance.get(key, incoming.source))
        before: Any = None
        if current is not None and key in current.values and \
                source_of(current.provenance.get(key, current.source)) == source:
            before = current.values[key]
        elif (claim := candidates.get(key, _NO_CLAIMS).get(source)) is not None:
            before = claim.value
        if isinstance(before, dict) and any(c not in currencies for c in before):
            given = incoming.values[key] or {}
            prices = {c: amount for c, amount in before.items() if c not in currencies or c in given}
            prices.update(given)  # in the claim's order, a currency new to it last
            values = values if values is not None else dict(incoming.values)
            values[key] = prices
    return incoming if values is None else trusted_copy(incoming, {"values": values})


#: Candidates and conflicts of a product model are kept under this prefix and its code (the tables are keyed by
#: identifier, and a model's code may equal a SKU).
MODEL_KEY = "model:"


def _model_as_product(m: ProductModel, ident: str, given: set[str] | None) -> Product:
    """A model as the product-shaped record merge_product works on. `given`: the fields a partial record set
    (structural fields it did not set stay as stored); None for a stored model."""
    data = {"categories": m.categories, "values": m.values, "source": m.source, "provenance": m.provenance,
            "kind": "product", "identifier": ident, "family": m.family, "parent": None, "enabled": True, "groups": [],
            "associations": m.associations}
    fields = set(Product.model_fields) if given is None else (
        {"identifier", "values", "source", "provenance"} | (given & {"categories", "associations"}))
    return trusted_model(Product, {name: data[name] for name in Product.model_fields}, fields)  # type: ignore[no-any-return]


def _with_fields(base: Product, incoming: Product, values: dict[str, Any], provenance: dict[str, Provenance],
                 outcome: MergeOutcome, ranker: Ranker, stored: dict[str, TypeClaims] | None) -> Product:
    """Structural fields the source set replace the stored ones; associations are settled per type."""
    associations = base.associations
    if links.given(incoming):
        associations = _settle_associations(base, incoming, stored or {}, ranker, outcome)
    # trusted_copy(base, {values, provenance, associations, each structural field}) in one dict, per record of
    # a merge: a structural field the source did not set keeps the stored one; all of them count as set
    data = {**base.__dict__, "values": values, "provenance": provenance, "associations": associations}
    given = incoming.__pydantic_fields_set__  # model_fields_set, without the property call per record
    for name in _STRUCTURAL:
        if name in given:
            data[name] = getattr(incoming, name)
    return trusted_model(type(base), data, base.__pydantic_fields_set__ | _MERGED_FIELDS)  # type: ignore[no-any-return]


def _settle_associations(base: Product, incoming: Product, stored: dict[str, TypeClaims], ranker: Ranker,
                         outcome: MergeOutcome) -> dict[str, Association]:
    """Each association type the record states: its source's claim set (or withdrawn, when empty), and the
    best-ranked claim shown — or the pinned one (a person's pick), until its source withdraws it; the claims go
    to `outcome.associations`."""
    associations = dict(base.associations)
    prov = incoming.source
    source = source_of(prov)
    for kind, association in incoming.associations.items():
        claims = links.stated(stored.get(kind), associations.get(kind), base.source)
        current = claims.shown
        if links.is_empty(association):
            claims.claims.pop(source, None)
        else:
            claims.claims[source] = SourceClaim(links.dump(association), prov)
        pin = current if claims.pinned_by else None
        winner = _choose(claims.claims, RANK_PREFIX + kind, ranker, source, current, pin) if claims.claims else None  # type: ignore[arg-type]
        claims.shown = winner
        if winner != pin:
            claims.pinned_by = None  # the pinned source withdrew: precedence decides again
        if winner is None:
            associations.pop(kind, None)
        elif winner == source:
            associations[kind] = association
        elif winner != current:
            associations[kind] = links.shown_association(claims)  # type: ignore[assignment]
        outcome.associations[kind] = claims
    return associations


# ---------------------------------------------------------------- storage of candidates


class ValueCandidateRow(SQLModel, table=True):
    """A value a source claims that does not currently win: kept so it can take over, and shown in the UI."""

    __tablename__ = "value_candidate"

    identifier: str = SQLField(sa_column=Column(String(255), primary_key=True))
    value_key: str = SQLField(sa_column=Column(String(400), primary_key=True))
    source: str = SQLField(sa_column=Column(String(100), primary_key=True))
    value: Any = SQLField(sa_column=Column(JSONType, nullable=True))
    ref: str | None = SQLField(default=None, sa_column=Column(String(1000), nullable=True))
    at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


CANDIDATE: Table = ValueCandidateRow.__table__  # type: ignore[assignment]


def candidates_for(store: Store, identifier: str) -> dict[str, Claims]:
    """value key → source → claim, for one product (the UI's 'other values')."""
    with store.engine.connect() as conn:
        return load_candidates(conn, [identifier]).get(identifier, {})


_CANDIDATE_COLUMNS = ("identifier", "value_key", "source", "value", "ref", "at")
_CANDIDATE_KEY = ("identifier", "value_key", "source")


def load_candidates(conn: Connection, ids: list[str], raw: RawTable | None = None) -> dict[str, dict[str, Claims]]:
    """identifier → value key → source → claim, for a batch of products (one query)."""
    out: dict[str, dict[str, Claims]] = {}
    for ident, key, source, value, ref, at in (raw or RawTable(conn, CANDIDATE)).select(conn, _CANDIDATE_COLUMNS, "identifier", ids):
        if at.tzinfo is None:  # SQLite keeps the time without its zone: UTC, as written (a promoted claim keeps it)
            at = at.replace(tzinfo=UTC)
        prov = Provenance.model_construct(source=source, ref=ref, at=at)
        out.setdefault(ident, {}).setdefault(key, {})[source] = Claim(value, prov)
    return out


def _load_conflicts(conn: Connection, ids: list[str], raw: RawTable | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    columns = [c.name for c in CONFLICT.columns]
    for row in (raw or RawTable(conn, CONFLICT)).select(conn, columns, "identifier", ids):
        m = dict(zip(columns, row))
        out.setdefault(m["identifier"], {})[m["value_key"]] = m
    return out


class SourceFingerprintRow(SQLModel, table=True):
    """What one source last said about one product (a hash of its mapped partial record) and the product's
    `seq` right after that record was merged. While both still match, re-merging the record would change
    nothing, so the import skips it; any later write of the product (an edit, another source, a delete and
    re-create) changes its seq and the record is merged again."""

    __tablename__ = "source_fingerprint"

    source: str = SQLField(sa_column=Column(String(100), primary_key=True))
    identifier: str = SQLField(sa_column=Column(String(255), primary_key=True))
    digest: str = SQLField(sa_column=Column(String(64), nullable=False))
    product_seq: int = SQLField(sa_column=Column(BigInteger, nullable=False))


FINGERPRINT: Table = SourceFingerprintRow.__table__  # type: ignore[assignment]


def record_digest(record: Product, salt: bytes = b"", stated: Mapping[str, frozenset[str]] | None = None) -> str:
    """Hash of what a partial source record says: its values, the structural fields it sets and which
    source claims each value — not the row reference nor the import time. `stated`: the currencies it states
    of a price collection (pim.importing.Parsed.partial): {EUR: 31} from a file without the USD column keeps
    USD, from one with an empty USD cell clears it, so the two must not look the same."""
    given = record.__pydantic_fields_set__  # model_fields_set, without the property call per record
    body: dict[str, Any] = {"v": record.values, "s": record.source.source if record.source else None}
    if stated:
        body["c"] = sorted((key, sorted(currencies)) for key, currencies in stated.items())
    if record.provenance:
        body["p"] = sorted((k, p.source) for k, p in record.provenance.items())
    for name in _STRUCTURAL:
        if name in given:
            body[name] = getattr(record, name)
    if "associations" in given:
        body["a"] = {k: a.model_dump(exclude_defaults=True) for k, a in record.associations.items()}
    raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    hasher = _KEYED.get(salt)
    if hasher is None:
        if len(_KEYED) >= 64:  # a long-lived process binding many structures: start over
            _KEYED.clear()
        hasher = _KEYED[salt] = hashlib.blake2b(digest_size=16, key=salt[:64])
    hasher = hasher.copy()  # the keyed start copied, not set up again from the key for every record
    hasher.update(raw)
    return hasher.hexdigest()


#: salt → blake2b keyed with it, nothing hashed yet (record_digest copies it; a handful of salts per process)
_KEYED: dict[bytes, Any] = {}


@dataclass
class SideWrites:
    """Candidate and conflict-log changes of one batch, written in the product batch's transaction."""

    #: (identifier, value_key, source, value, ref, at): tuples, not dicts, as a first merge keeps ~3 per record
    cand_upserts: list[tuple[Any, ...]] = field(default_factory=list)
    cand_deletes: list[dict[str, Any]] = field(default_factory=list)
    conflict_rows: list[dict[str, Any]] = field(default_factory=list)
    #: (source, identifier, digest) of the records merged; the product seq comes from the writer or is read back
    fingerprints: list[tuple[str, str, str]] = field(default_factory=list)
    association_claims: links.ClaimWrites = field(default_factory=links.ClaimWrites)

    def __bool__(self) -> bool:
        return bool(self.cand_upserts or self.cand_deletes or self.conflict_rows or self.fingerprints or self.association_claims)

    def changed_identifiers(self) -> set[str]:
        """The records whose candidates, conflict log or association claims this batch changes: a record whose
        shown values stay as they were but whose losing claims changed was still updated (a fingerprint alone
        is bookkeeping, not a change)."""
        claims = self.association_claims
        return ({r[0] for r in self.cand_upserts} | {d["i"] for d in self.cand_deletes}
                | {r["identifier"] for r in self.conflict_rows} | {r["identifier"] for r in claims.upserts}
                | {ident for ident, _, _ in claims.deletes})

    def write(self, store: Store, conn: Connection, seqs: dict[str, int] | None = None) -> None:
        """`seqs`: identifier → product seq after the write, where the caller knows it (the rest are read)."""
        candidates = raw_table(store, conn, CANDIDATE)
        candidates.delete(conn, ("identifier", "value_key", "source"),
                          [(d["i"], d["k"], d["s"]) for d in self.cand_deletes])
        candidates.write_bound(conn, _CANDIDATE_COLUMNS, _CANDIDATE_KEY, _candidate_rows(candidates, self.cand_upserts))
        raw_table(store, conn, CONFLICT).upsert(conn, self.conflict_rows, ("identifier", "value_key"))
        self.association_claims.write(store, conn)
        if self.fingerprints:
            seqs = dict(seqs or {})
            unknown = [ident for _, ident, _ in self.fingerprints if ident not in seqs]
            seqs.update(product_seqs(conn, unknown))
            raw_table(store, conn, FINGERPRINT).upsert(conn, [
                {"source": source, "identifier": ident, "digest": digest, "product_seq": seqs[ident]}
                for source, ident, digest in self.fingerprints if ident in seqs
            ], ("source", "identifier"))


def _candidate_diff(ident: str, key: str, old: Claims, new: Claims, side: SideWrites) -> None:
    if old:  # (a first merge of the key has no claims kept before: nothing to delete, every claim is new)
        for source in old.keys() - new.keys():
            side.cand_deletes.append({"i": ident, "k": key, "s": source})
    upserts = side.cand_upserts
    for source, claim in new.items():
        before = old.get(source) if old else None
        if before is None or before.value != claim.value:
            prov = claim.prov
            upserts.append((ident, key, source, claim.value, prov.ref if prov else None, prov.at if prov else now()))


def _candidate_rows(table: RawTable, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Candidate rows in driver form: the value as JSON text, the time as its column binds it (once per distinct
    time: a file's claims share few)."""
    stamps: dict[datetime, Any] = {}
    out = []
    for ident, key, source, value, ref, at in rows:
        bound = stamps.get(at)
        if bound is None:
            bound = stamps[at] = table.bind("at", at)
        out.append((ident, key, source, None if value is None else json_text(value), ref, bound))
    return out


def _pins(logged: dict[str, dict[str, Any]] | None) -> dict[str, str]:
    """value key → the source a person picked, from one record's logged conflicts."""
    return {k: c["pinned"] for k, c in logged.items() if c["pinned"]} if logged else _NO_PINS


def _side_diffs(states: dict[tuple[str, str], tuple[str, dict[str, Any]] | None], old_cands: dict[str, Any],
                cands: dict[str, Any], old_conflicts: dict[str, Any], side: SideWrites,
                unpinned: set[tuple[str, str]]) -> None:
    """The candidate and conflict rows a merged batch changes, for every (identifier, key) it settled
    (`unpinned`: those whose pin ends, MergeOutcome.unpinned)."""
    stamp = now()
    last, olds, news, logged = None, _NO_CLAIMS, _NO_CLAIMS, None
    for (ident, key), state in states.items():
        if ident is not last:  # a record's keys come one after another: its maps are looked up once
            last, olds, news, logged = ident, old_cands.get(ident, _NO_CLAIMS), cands[ident], old_conflicts.get(ident)
        old_claims, new_claims = olds.get(key, _NO_CLAIMS), news.get(key, _NO_CLAIMS)
        if old_claims or new_claims:  # most keys of a first import have neither
            _candidate_diff(ident, key, old_claims, new_claims, side)
        old = logged.get(key) if logged is not None else None
        if state is not None or old is not None:  # neither logged nor in conflict: nothing to write
            _conflict_diff(ident, key, old, state, side, stamp, unpin=(ident, key) in unpinned)


def claims_withdrawn(conn: Connection, identifier: str, keys: list[str]) -> SideWrites:
    """The candidate and conflict rows of `keys` once no source claims them any more (a value removed whoever
    stored it: a person's clear of a value its family lacks), as a merge writes them when a key's last claim
    is withdrawn: the losing claims deleted, a logged conflict settled and its pin ended."""
    side = SideWrites()
    states: dict[tuple[str, str], Any] = {(identifier, key): None for key in keys}
    _side_diffs(states, load_candidates(conn, [identifier]), {identifier: {}}, _load_conflicts(conn, [identifier]),
                side, set(states))
    return side


def _conflict_diff(ident: str, key: str, old: dict[str, Any] | None, new: tuple[str, dict[str, Any]] | None,
                   side: SideWrites, stamp: datetime, *, pin_by: str | None = None, unpin: bool = False) -> None:
    pinned = old["pinned"] if old and not unpin else None
    if new is None:
        if old is not None and (old["status"] != SETTLED or old["pinned"] != pinned):
            side.conflict_rows.append({**old, "status": SETTLED, "pinned": pinned, "updated_at": stamp})
        return
    winner, claims = new
    if pin_by is not None:  # a pick no owner disagrees with is a pin on a settled value (conflict_of)
        status, pinned = RESOLVED if len(claims) > 1 else SETTLED, winner
    elif old is not None and old["claims"] == claims and old["status"] != SETTLED and old["pinned"] == pinned:
        if old["winner"] == winner:
            return
        status = old["status"]
    else:
        status = OPEN
    side.conflict_rows.append({
        "identifier": ident, "value_key": key, "attribute": split_key(key)[0], "winner": winner, "claims": claims,
        "status": status, "pinned": pinned, "resolved_by": pin_by if pin_by else (old or {}).get("resolved_by"),
        "detected_at": old["detected_at"] if old else stamp, "updated_at": stamp,
    })


# ---------------------------------------------------------------- the batch step


@dataclass
class MergeReject:
    identifier: str  # a SKU, or a model's code when `model`
    field: str
    reason: str
    model: bool = False


_NO_PINS: dict[str, str] = {}
_NO_CLAIMS: dict[str, Any] = {}


class Merger:
    """The merge step of `run_import(..., merge=Merger(...))`: read the batch's stored products, candidates
    and conflicts (three queries), merge in memory, write products + candidates + log in one transaction."""

    def __init__(self, precedence: Precedence | None = None, *, create_missing: bool = True,
                 precedence_file: str | None = None, keep_axes: bool = False) -> None:
        self.precedence = precedence or Precedence()
        self.create_missing = create_missing
        #: A person's edit: a record that leaves a variant (or sub-model) without a value of an axis it states
        #: is rejected. Off for imports: that record is taken in and noted (MergePlan.problems).
        self.keep_axes = keep_axes
        #: An import's precedence file: checked against the structure when bound (pim.precedence_check).
        self.precedence_file = precedence_file
        self.ranker: Ranker | None = None
        self.family_attrs: dict[str, set[str]] = {}
        #: (family, a record's value keys) → _family_problem's answer, for the structure bound
        self._outside: dict[tuple[str, tuple[str, ...]], tuple[str, str] | None] = {}
        self.identifier_attrs: set[str] = set()
        self.salt = b""
        self.source = ""
        self._digests: dict[int, str] = {}  # id(record) → digest, for the batch being merged
        #: Whether most rewrites of the last batch split their stored value maps whole (too many changed keys to
        #: splice: a content import): the next batch's read splits them at once instead of parsing each twice.
        self._whole_maps = False
        self.axes: Any = None  # pim.variant_levels.SiblingAxes, when the catalog has family variants
        #: Records merged and records skipped by their fingerprint, over this Merger's life.
        self.merged_records = 0
        self.skipped_records = 0

    def bind(self, structure: Structure) -> "Merger":
        if self.precedence_file is not None:
            from pim.precedence_check import check_precedence

            check_precedence(self.precedence, structure, self.precedence_file)
        self.ranker = Ranker(self.precedence, structure)
        self.family_attrs = {code: set(f.attributes) for code, f in structure.families.items()}
        self._outside = {}
        self.identifier_attrs = {c for c, a in structure.attributes.items() if a.type == AttributeType.identifier}
        self.salt = _salt(self.precedence, self.create_missing, structure)
        self.axes = SiblingAxes.of(structure)
        return self

    def read_stored(self, store: Store, source: str, chunk: list[Any]) -> StoredBatch:
        """The batch's lookups of its stored products (parents, this source's fingerprints, the axis values of
        those it may skip) in one statement: pim.importing hands it to the level guard, `drop_unchanged` and
        `stored_gaps`."""
        skus = list(dict.fromkeys(item.record.identifier for item in chunk
                                  if isinstance(getattr(item, "record", None), Product)))
        if not skus:
            return StoredBatch()
        with store.engine.connect() as conn:
            return read_batch(conn, source, skus, self.axes.keys if self.axes else ())

    def drop_unchanged(self, store: Store, source: str, chunk: list[Any], stored: StoredBatch | None = None
                       ) -> tuple[list[Any], dict[str, int]]:
        """Drop the product records this source already merged with the same content while the product
        has not been written since (`stored`: read by `read_stored`, else one query here). Returns the rest and
        the skipped identifiers with the product seq the skip relied on. A SKU that appears more than once in the
        batch is never skipped."""
        self.source = source
        items = [item for item in chunk if isinstance(getattr(item, "record", None), Product)]
        records = [item.record for item in items]
        # the currencies a record states are part of what it says (Parsed.partial)
        self._digests = {id(item.record): record_digest(item.record, self.salt, getattr(item, "partial", None))
                         for item in items}
        if not records:
            return chunk, {}
        seen: dict[str, int] = {}
        for r in records:
            seen[r.identifier] = seen.get(r.identifier, 0) + 1
        if stored is None:
            with store.engine.connect() as conn:
                stored = read_batch(conn, source, list(seen))
        prints = stored.prints
        if not prints:
            return chunk, {}
        keep: list[Any] = []
        skipped: dict[str, int] = {}
        for item in chunk:
            rec = getattr(item, "record", None)
            hit = prints.get(rec.identifier) if isinstance(rec, Product) else None
            if hit is not None and seen[rec.identifier] == 1 and hit[0] == self._digests[id(rec)]:
                skipped[rec.identifier] = hit[1]
            else:
                keep.append(item)
        self.skipped_records += len(skipped)
        return keep, skipped

    def write(self, store: Store, products: list[Product], *, also: PlanHook | None = None
              ) -> tuple[UpsertCounts, list[MergeReject]]:
        """Merge a batch of partial records and write it: `prepare`, then `apply` (again while a product it
        read was written meanwhile: write_merged). `also`: see write_merged."""
        counts, plan = write_merged(store, lambda: self.prepare(store, products), also=also)
        return counts, plan.rejects

    def prepare(self, store: Store, products: list[Product], models: list[ProductModel] | None = None, *,
                partial: Mapping[str, Mapping[str, frozenset[str]]] | None = None) -> MergePlan:
        """Read the batch's stored products (the keys its records touch), candidates and conflicts (three
        queries) and merge in memory; nothing is written. Safe to run in a worker process (pim.importing).
        `models`: partial records of product models, merged onto the stored models the same way. `partial`: SKU →
        price key → the currencies its record states (pim.importing.Parsed.partial); the others keep the
        source's amounts (`with_unstated`)."""
        assert self.ranker is not None, "bind(structure) first"
        if models:
            plan = self.prepare(store, products, partial=partial)
            self._merge_models(store, models, plan)
            return plan
        ids = list(dict.fromkeys(p.identifier for p in products))
        touched = touched_keys(products)
        with store.engine.connect() as conn:
            parts = read_parts(store, conn, ids, touched, whole=self._whole_maps)
            old_cands = load_candidates(conn, ids, raw_table(store, conn, CANDIDATE))
            old_conflicts = _load_conflicts(conn, ids, raw_table(store, conn, CONFLICT))
            old_links = _load_links(store, conn, products, lambda r: r.identifier)
            if self.axes:  # where each merged product sits, for its level's axes
                self.axes.place(conn, [p.parent for p in products if "parent" in p.model_fields_set]
                                + [p.product.parent for p in parts.values()])
            axes = self.axes.merged(conn, products, {i: p.product for i, p in parts.items()}) if self.axes else None
        cands = {i: dict(c) for i, c in old_cands.items()}
        link_state = {i: dict(c) for i, c in old_links.items()}
        conflict_state: dict[tuple[str, str], tuple[str, dict[str, Any]] | None] = {}
        unpinned: set[tuple[str, str]] = set()
        rejects: list[MergeReject] = []
        problems: list[MergeReject] = []
        merged: dict[str, Product] = {}
        prints: dict[str, str] = {}
        shown_keys = set(touched)
        for incoming in products:
            ident = incoming.identifier
            stored = parts.get(ident)
            current = merged.get(ident) or (stored.product if stored else None)
            if current is None and not self.create_missing:
                rejects.append(MergeReject(ident, "identifier", f"no product '{ident}' in the catalog; this source's "
                                           "profile says unmatched records are quarantined (unmatched: quarantine)"))
                continue
            digest = self._digests.get(id(incoming))  # of the record as read: a re-read of the file matches it
            if partial and (stated := partial.get(ident)):
                incoming = with_unstated(incoming, stated, current, cands.get(ident, _NO_CLAIMS))
            out = merge_product(current, incoming, cands.get(ident, {}), _pins(old_conflicts.get(ident)), self.ranker,
                                link_state.get(ident))
            problem = self._family_problem(out.product, incoming) or (axes.refuse_key(ident, out.product.values) if axes else None)
            child, gaps = self._axis_gaps(ident, out.product, stored, shown_keys)
            problem = problem or self._cleared(child, gaps, incoming)
            if problem:
                rejects.append(MergeReject(ident, problem[0], problem[1]))
                continue
            if gaps:
                problems.extend(MergeReject(ident, a, gap_reason(child, a)) for a in gaps)
            merged[ident] = out.product
            if digest is not None:
                prints[ident] = digest
            else:
                prints.pop(ident, None)
            if current is not None or ident in old_cands or ident in old_conflicts:
                cands.setdefault(ident, {}).update(out.candidates)
                conflict_state.update(zip(zip(repeat(ident), out.conflicts), out.conflicts.values()))  # (ident, key) → state
            # else a product new to the catalog, that no source claimed before: its lone claims leave no
            # candidate and no conflict to diff (_side_diffs would find nothing to write for any of its keys)
            if out.associations:
                link_state.setdefault(ident, {}).update(out.associations)
            if out.unpinned:
                unpinned.update((ident, key) for key in out.unpinned)
        self.merged_records += len(products) - len(rejects)
        side = SideWrites(fingerprints=[(self.source, i, d) for i, d in prints.items()] if self.source else [])
        side.association_claims.ranker = self.ranker  # association conflicts judged by this import's precedence
        _side_diffs(conflict_state, old_cands, cands, old_conflicts, side, unpinned)
        _link_diffs(old_links, link_state, side)
        plan = MergePlan(side=side, rejects=rejects, relied={i: (parts[i].seq if i in parts else None) for i in ids},
                         parents=axes.parents if axes else set(), problems=problems)
        plan.siblings_read = axes.seen if axes else None
        claims_changed = side.changed_identifiers()
        for ident, product in merged.items():
            part = parts.get(ident)
            if part is None:
                plan.created.append(product)
            elif (change := row_update(part, product)) is not None:
                plan.updates.append(change[0])
                plan.deltas[ident] = change[1]
            elif ident in claims_changed:
                plan.claims_only += 1
            else:
                plan.unchanged += 1
        if parts:
            self._whole_maps = 2 * sum(p.encoded_whole for p in parts.values()) > len(parts)
        return plan

    def _merge_models(self, store: Store, models: list[ProductModel], plan: MergePlan) -> None:
        """Merge model records onto the stored models by the same precedence, candidates and conflict log as
        products (kept under `model:<code>`). A model is created only from a whole record (one that names its
        family variant, as a catalog file does) and when the source may create; a partial record (a content
        team's enrichment) for a model that is not stored is rejected."""
        codes = list(dict.fromkeys(m.code for m in models))
        with store.engine.connect() as conn:
            stored = {r.code: (Store.row_to_model(r), r.seq) for r in conn.execute(select(MODEL).where(MODEL.c.code.in_(codes)))}
            ids = [MODEL_KEY + c for c in codes]
            old_cands = load_candidates(conn, ids, raw_table(store, conn, CANDIDATE))
            old_conflicts = _load_conflicts(conn, ids, raw_table(store, conn, CONFLICT))
            old_links = _load_links(store, conn, models, lambda m: MODEL_KEY + m.code)
            axes = self.axes.merged(conn, models, {c: m for c, (m, _) in stored.items()}) if self.axes else None
        cands = {i: dict(c) for i, c in old_cands.items()}
        link_state = {i: dict(c) for i, c in old_links.items()}
        merged: dict[str, ProductModel] = {}
        states: dict[tuple[str, str], tuple[str, dict[str, Any]] | None] = {}
        unpinned: set[tuple[str, str]] = set()
        for incoming in models:
            code, ident = incoming.code, MODEL_KEY + incoming.code
            plan.relied[ident] = stored[code][1] if code in stored else None
            base = merged.get(code) or (stored[code][0] if code in stored else None)
            whole = bool(incoming.family_variant)
            if base is None and whole and self.create_missing:
                base = incoming.model_copy(update={"values": {}, "provenance": {}})
            elif base is None:
                plan.rejects.append(MergeReject(code, "model", f"no product model '{code}' in the catalog; models come "
                                                "from the catalog load (Akeneo export, JSONL) and are only enriched here",
                                                model=True))
                continue
            record = _model_as_product(incoming, ident, incoming.model_fields_set)
            out = merge_product(_model_as_product(base, ident, None), record, cands.get(ident, {}),
                                _pins(old_conflicts.get(ident)), self.ranker, link_state.get(ident))  # type: ignore[arg-type]
            problem = self._family_problem(out.product, record) or (axes.refuse_key(code, out.product.values) if axes else None)
            child, gaps = self._model_gaps(incoming, base, out.product.values)
            problem = problem or self._cleared(child, gaps, incoming)
            if problem:
                plan.rejects.append(MergeReject(code, problem[0], problem[1], model=True))
                continue
            plan.problems.extend(MergeReject(code, a, gap_reason(child, a), model=True) for a in gaps)
            p = out.product
            update = {"values": p.values, "provenance": p.provenance, "categories": p.categories,
                      "associations": p.associations}
            if whole:  # a whole record also states where the model sits
                update |= {n: getattr(incoming, n) for n in ("family_variant", "family", "parent")
                           if n in incoming.model_fields_set}
            merged[code] = trusted_copy(base, update)
            if code in stored:
                plan.models_before[code] = stored[code][0]
            cands.setdefault(ident, {}).update(out.candidates)
            if out.associations:
                link_state.setdefault(ident, {}).update(out.associations)
            states.update({(ident, key): state for key, state in out.conflicts.items()})
            unpinned.update((ident, key) for key in out.unpinned)
        _side_diffs(states, old_cands, cands, old_conflicts, plan.side, unpinned)
        _link_diffs(old_links, link_state, plan.side)
        plan.models.extend(merged.values())
        if axes is not None and axes.seen is not None:
            plan.parents |= axes.parents
            plan.siblings_read = axes.seen | plan.siblings_read
        self.merged_records += len(merged)

    def _axis_gaps(self, ident: str, product: Product, stored: StoredPart | None,
                   shown_keys: set[str]) -> tuple[Child, list[str]]:
        """Where a merged product sits, and the axes of its level (under a placed model) it has no value for once
        merged. `product` holds the keys the batch touched (`shown_keys`); the others are as `stored` (split
        into keys only here, for a product under a model with axes)."""
        child = Child(ident, False, product.parent or None)
        if self.axes is None or child.parent is None:
            return child, []
        axes = self.axes.axes_of(False, child.parent, None)
        raw = stored.values if stored is not None and any(a not in shown_keys for a in axes) else None
        values = {a: product.values.get(a) if raw is None or a in shown_keys
                  else (orjson.loads(bytes(raw[a])) if a in raw else None) for a in axes}
        return child, self.axes.missing(child, values)

    def _model_gaps(self, incoming: ProductModel, base: ProductModel, values: dict[str, Any]) -> tuple[Child, list[str]]:
        """`_axis_gaps` for a merged model (`values`: all of them, once merged): a sub-model's first-level axes."""
        whole = bool(incoming.family_variant)
        parent = incoming.parent if whole and "parent" in incoming.model_fields_set else base.parent
        child = Child(incoming.code, True, parent or None, family_variant=incoming.family_variant or base.family_variant)
        return child, self.axes.missing(child, values) if self.axes is not None else []

    def _cleared(self, child: Child, gaps: list[str], record: Product | ProductModel) -> tuple[str, str] | None:
        """With `keep_axes` (a person's edit): the first axis the record empties, refused with why."""
        axis = next((a for a in gaps if a in record.values), None) if self.keep_axes else None
        return (axis, cleared_reason(child, axis)) if axis is not None else None

    def stored_gaps(self, store: Store, skus: list[str], stored: StoredBatch | None = None
                    ) -> dict[str, list[tuple[str, str]]]:
        """The products among `skus` (skipped as already merged: pim.importing) that lack a value of their
        level's axes as stored, each (axis, why); none without family variant axes. From `stored` (read by
        `read_stored`: no query unless a model must be placed), else one query."""
        if self.axes is None or not skus:
            return {}
        if stored is not None and stored.axes == self.axes.keys:
            rows = [(sku, *stored.axis_texts[sku]) for sku in skus if sku in stored.axis_texts]
            if not rows:
                return {}
            with store.engine.connect() as conn:
                return self.axes.gaps_of(conn, rows)  # type: ignore[no-any-return]
        with store.engine.connect() as conn:
            return self.axes.stored_gaps(conn, skus)  # type: ignore[no-any-return]

    def _family_problem(self, product: Product, incoming: Product) -> tuple[str, str] | None:
        """(first key, why) when the record states attributes the merged product's family lacks: all of them
        named, as pim.validation says it for a whole record."""
        allowed = self.family_attrs.get(product.family) if product.family else None
        if allowed is None:
            return None
        # the records of one file state the same keys: the answer is kept per family and key list
        memo = (product.family, tuple(incoming.values))
        hit = self._outside.get(memo, _ABSENT)
        if hit is not _ABSENT:
            return hit  # type: ignore[return-value]
        outside: dict[str, str] = {}  # attribute → its first key
        attribute = self.ranker.attribute if self.ranker else (lambda key: split_key(key)[0])
        for key in incoming.values:
            attr = attribute(key)
            if attr not in allowed and attr not in self.identifier_attrs:
                outside.setdefault(attr, key)
        found = (next(iter(outside.values())), outside_family(product.family, list(outside))) if outside else None
        if len(self._outside) < 4096:  # bounded: a feed whose records each state other keys gains nothing
            self._outside[memo] = found
        return found


def _load_links(store: Store, conn: Connection, records: list[Any], key: Any) -> dict[str, dict[str, TypeClaims]]:
    """The stored association claims of the records that state associations (most records state none: no
    query then)."""
    ids = list(dict.fromkeys(key(r) for r in records if links.given(r)))
    return links.load(conn, ids, raw_table(store, conn, links.ASSOCIATION_CLAIM)) if ids else {}


def _link_diffs(old: dict[str, dict[str, TypeClaims]], new: dict[str, dict[str, TypeClaims]], side: SideWrites) -> None:
    stamp = now()
    for ident, kinds in new.items():
        before = old.get(ident, {})
        for kind, claims in kinds.items():
            if before.get(kind) is not claims:
                side.association_claims.add(ident, kind, before.get(kind), claims, stamp)


def _salt(precedence: Precedence, create_missing: bool, structure: Structure) -> bytes:
    """What a fingerprint also depends on: the precedence, the unmatched rule and the structure the records
    are validated against (a changed attribute type or family re-merges every record)."""
    parts = [precedence.model_dump(mode="json"), create_missing]
    for name in ("attributes", "options", "families", "channels", "locales", "currencies", "categories",
                 "association_types"):
        items = getattr(structure, name)
        if name == "options":
            parts.append({a: sorted(o) for a, o in items.items()})
        else:
            parts.append({c: x.model_dump(mode="json") for c, x in items.items()})
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=32).digest()


@dataclass
class MergePlan:
    """A batch merged in memory and ready to write (Merger.prepare). `relied`: identifier → the product seq
    the merge read (None: the product did not exist), so a writer can tell whether that state still holds."""

    side: SideWrites
    rejects: list[MergeReject]
    relied: dict[str, int | None]
    created: list[Product] = field(default_factory=list)
    models: list[ProductModel] = field(default_factory=list)  # whole models, merged
    models_before: dict[str, ProductModel] = field(default_factory=dict)  # code → as stored, of those merged
    updates: list[ProductRowUpdate] = field(default_factory=list)
    deltas: dict[str, ProductDelta] = field(default_factory=dict)
    unchanged: int = 0
    claims_only: int = 0  # stored products whose row stays but whose candidates or conflict log changed: updated
    #: models whose children's axis values the merge checked (pim.variant_levels): a batch merged elsewhere
    #: at the same time as one placing records under them is merged again (pim.importing)
    parents: set[str] = field(default_factory=set)
    #: what the axis check read of those models' children, and when: a child placed under them (or given
    #: other axis values there) since may be a twin the check could not see, so `apply_plan` merges again
    siblings_read: SiblingsRead | None = None
    #: records taken in without a value of one of their level's axes (field: the axis): problems, not rejects
    problems: list[MergeReject] = field(default_factory=list)


def apply_plan(store: Store, plan: MergePlan, *, relied: dict[str, int | None] | None = None,
               also: Callable[[Connection], None] | None = None) -> UpsertCounts | None:
    """Write a plan in one transaction: new products whole, stored ones from their changed keys, the side rows,
    then the listeners (new products as `records`, rewritten ones as `deltas`), then `also` (an import's rows
    beside its records: stock, tier prices). With `relied` (identifier → seq the plan's inputs were read at,
    None = absent), nothing is written and None is returned when any of those products was written since, or
    when a child was placed under a model whose children the plan's axis check read, or given other axis values
    there (`plan.siblings_read`: another writer's twin; one more query, only then): the caller merges that
    batch again."""
    counts = UpsertCounts(unchanged=plan.unchanged)
    if not plan.created and not plan.updates and not plan.side and not plan.models:
        if also is not None:
            with store.begin() as conn:
                also(conn)
        return counts
    with store.begin() as conn:
        if relied:
            store.lock_writes(conn)  # nobody writes between the check and the write
            skus = [i for i in relied if not i.startswith(MODEL_KEY)]
            now_at: dict[str, int] = product_seqs(conn, skus)
            codes = [i[len(MODEL_KEY):] for i in relied if i.startswith(MODEL_KEY)]
            if codes:
                now_at.update((MODEL_KEY + c, s) for c, s in raw_table(store, conn, MODEL).select(conn, ("code", "seq"), "code", codes))
            if any(now_at.get(ident) != seq for ident, seq in relied.items()):
                return None
            if plan.siblings_read is not None and plan.siblings_read.overtaken(conn):
                return None  # another writer placed a child under a model the axis check read: check again
        if plan.models:
            counts.add(_claims_counted(store.write_models_in(conn, plan.models), plan))
        if plan.created:
            created, written = store.write_products_in(conn, plan.created)
            counts.add(created)
        else:
            created, written = UpsertCounts(), {}
        rewritten = store.update_product_rows(conn, plan.updates)
        read = {ident: seq for ident, seq in plan.relied.items() if seq is not None}
        plan.side.write(store, conn, {**read, **rewritten})
        changed = created.changed_keys + list(rewritten)
        if changed:
            store.notify(conn, changed, written or None, {i: None for i in written} if written else None,
                         plan.deltas or None)
        if also is not None:
            also(conn)
    counts.updated += len(plan.updates) + plan.claims_only
    return counts


def _claims_counted(counts: UpsertCounts, plan: MergePlan) -> UpsertCounts:
    """Model counts with the models whose row stayed but whose candidates or conflict log changed moved from
    unchanged to updated, as for products."""
    written, changed = set(counts.changed_keys), plan.side.changed_identifiers()
    moved = sum(1 for code in {m.code for m in plan.models} - written if MODEL_KEY + code in changed)
    counts.unchanged -= moved
    counts.updated += moved
    return counts


#: Times a batch is merged again because a product it read was written meanwhile, before giving up.
RETRIES = 10


#: Called inside a plan's write transaction with the plan (a person's edit writes its history rows there).
PlanHook = Callable[[Connection, "MergePlan"], None]


def write_merged(store: Store, prepare: Callable[[], MergePlan], *,
                 also: PlanHook | None = None) -> tuple[UpsertCounts, MergePlan]:
    """Prepare a plan and write it, checking that no product it read was written in between (another import,
    a person's edit): if one was, merge again on what is stored now. Without the check, the batch's rows,
    merged from what it read, would overwrite that write. `also(conn, plan)` runs in the write's transaction
    with the plan written (its deltas' `before` is what was stored: the check saw it still there)."""
    def attempt() -> tuple[UpsertCounts, MergePlan] | None:
        plan = prepare()
        hook = (lambda conn: also(conn, plan)) if also is not None else None
        counts = apply_plan(store, plan, relied=plan.relied, also=hook)
        return None if counts is None else (counts, plan)

    return until_written(attempt)


def until_written(attempt: Callable[[], T | None]) -> T:
    """Run `attempt` (a prepare-and-checked-write that answers None when overtaken) until it writes, at most
    RETRIES times; then refuse with what to do."""
    for _ in range(RETRIES):
        result = attempt()
        if result is not None:
            return result
    raise StoreError(f"the products of a batch kept changing while it was merged ({RETRIES} tries)",
                     hint="another writer is rewriting them in a loop; run this again once it has finished")


#: Called inside a person's pick's transaction with the record before and after (its history row).
RecordHook = Callable[[Connection, Any, Any], None]


def pick_winner(store: Store, identifier: str, value_key: str, source: str, *, by: str = "ui",
                log: RecordHook | None = None, recorded: bool = False) -> Product | ProductModel:
    """Make `source`'s claim the value of `value_key` and pin it (pim.conflicts.resolve_conflict calls this).
    `identifier` is a SKU, or `model:<code>` for a product model. Read and written in one transaction under
    the catalog's write lock, so an import landing meanwhile is not overwritten; `log` runs in it. With
    `recorded`, only a claim of a conflict the log holds is picked, as read in that transaction. A claim that
    would give a variant (or sub-model) an axis value a sibling holds is refused, as an import's would be."""
    return _repick(store, identifier, value_key, source, by=by, log=log, recorded=recorded)


def unpin_winner(store: Store, identifier: str, value_key: str, *, by: str, log: RecordHook | None = None
                 ) -> Product | ProductModel:
    """Undo a person's pick of `value_key`: precedence decides again (by PIM_HOME/precedence.yaml, as people's
    edits) and the value shows the claim it ranks first; owners that disagree with it make the conflict open
    again. Refused (InputError) when nothing is pinned there."""
    return _repick(store, identifier, value_key, None, by=by, log=log)


def _repick(store: Store, identifier: str, value_key: str, source: str | None, *, by: str,
            log: RecordHook | None, recorded: bool = False) -> Product | ProductModel:
    """pick_winner (`source`), or unpin_winner (None: the precedence's first claim shows, unpinned). The log
    keeps what conflict_of says, with ownership by PIM_HOME/precedence.yaml and the sources an open conflict
    names (only a merge writes those claims, by the import's own precedence; a pick before round 33 kept
    non-owners in a resolved one), so an unchanged re-import leaves the row as the pick wrote it."""
    from pim.structure_cache import cached_structure

    with store.begin() as conn:
        product = locked_record(store, conn, identifier)
        old = load_candidates(conn, [identifier]).get(identifier, {}).get(value_key, {})
        old_conflict = _load_conflicts(conn, [identifier]).get(identifier, {}).get(value_key)
        if recorded and old_conflict is None:
            raise InputError(f"no conflict recorded for {identifier} {value_key}", field=value_key)
        claims = dict(old)
        if value_key in product.values:
            prov = product.provenance_of(value_key)
            claims[source_of(prov)] = Claim(product.values[value_key], prov)
        structure = cached_structure(conn)
        ranker, attribute = Ranker(home_precedence() or Precedence(), structure), split_key(value_key)[0]
        unpinning = source is None
        if source is None:
            if old_conflict is None or not old_conflict["pinned"] or not claims:
                raise InputError(f"nothing is pinned on {identifier} {value_key}", field=value_key,
                                 hint="`pim import conflicts --status pinned` lists the pins")
            shown = source_of(product.provenance_of(value_key)) if value_key in product.values else None
            source = _choose(claims, attribute, ranker, shown or "", shown, None)
        else:
            offered = old_conflict["claims"] if recorded and old_conflict is not None else claims
            if source not in claims or source not in offered:
                choices = sorted(s for s in offered if s in claims)
                raise InputError(f"'{source}' has no value for {identifier} {value_key}", field=value_key,
                                 hint=f"pick one of: {', '.join(choices)}" if choices else None)
        values, provenance = dict(product.values), dict(product.provenance)
        values[value_key] = claims[source].value
        provenance[value_key] = claims[source].prov  # type: ignore[assignment]
        new = product.model_copy(update={"values": values, "provenance": provenance})
        axes = SiblingAxes.of(structure)
        if axes is not None and attribute in axes.keys and (taken := axes.refuse_record(conn, new)) is not None:
            raise InputError(taken[1], field=value_key, hint="pick a claim no sibling holds, or change the sibling first")
        side = SideWrites()
        _candidate_diff(identifier, value_key, old, {s: c for s, c in claims.items() if s != source}, side)
        owners = old_conflict["claims"] if old_conflict is not None and old_conflict["status"] == OPEN else ()
        state = conflict_of(claims, source, attribute, ranker, pinned=not unpinning, owners=owners)
        if unpinning:
            _conflict_diff(identifier, value_key, old_conflict, state, side, now(), unpin=True)
        else:
            _conflict_diff(identifier, value_key, old_conflict, state or (source, {source: claims[source].value}),
                           side, now(), pin_by=by)
        write_record(store, conn, new, side)
        if log is not None:
            log(conn, product, new)
    return new


def locked_record(store: Store, conn: Connection, identifier: str, *, hint: str | None = None) -> Product | ProductModel:
    """The product (a SKU) or product model (`model:<code>`) a person's pick rewrites, read after taking the
    catalog's write lock in `conn`'s transaction, so an import landing meanwhile is not overwritten. A missing
    one is an InputError (with `hint`)."""
    store.lock_writes(conn)
    if identifier.startswith(MODEL_KEY):
        code = identifier[len(MODEL_KEY):]
        row = conn.execute(select(MODEL).where(MODEL.c.code == code)).first()
        if row is None:
            raise InputError(f"no product model '{code}'", field="identifier", hint=hint)
        return store.row_to_model(row)
    row = conn.execute(select(PRODUCT).where(PRODUCT.c.identifier == identifier)).first()
    if row is None:
        raise InputError(f"no product '{identifier}'", field="identifier", hint=hint)
    return store.row_to_product(row)


def write_record(store: Store, conn: Connection, record: Product | ProductModel, side: Any) -> None:
    """Write a picked record and the rows kept beside it (`side`: anything with `write(store, conn)`) in
    `conn`'s transaction; a product's listeners hear of it, a model's variants get a new seq."""
    if isinstance(record, Product):
        counts, written = store.write_products_in(conn, [record])
        side.write(store, conn)
        if written:
            store.notify(conn, counts.changed_keys, written)
    else:
        store.write_models_in(conn, [record])
        side.write(store, conn)


# ---------------------------------------------------------------------------------------------- deletes
def forget_deleted_listener(store: Store) -> Any:
    """Registry entry: a product listener that drops what the merge kept about products that were deleted —
    their losing claims, conflicts and source fingerprints — in the delete's own transaction. Left behind, a
    re-created product would take the old claims back into its merges (an old supplier value could win again)
    and the conflict log would list a product that is gone."""

    def on_products(conn: Connection, identifiers: list[str], records: dict[str, Any] | None = None,
                    deltas: dict[str, Any] | None = None) -> None:
        if records is not None or deltas is not None:  # a write: every identifier exists
            return
        present = set(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.identifier.in_(identifiers))).scalars())
        gone = [i for i in identifiers if i not in present]
        if gone:
            forget_merge_state(conn, gone)

    return on_products


def home_precedence() -> Precedence | None:
    """PIM_HOME/precedence.yaml, which people's edits and withdrawals are merged by (None: the default, content
    first). Imports take theirs from `--precedence` or their profile, and this one when both name none
    (pim.sources.merger_for)."""
    path = home_precedence_path()
    return Precedence.load(path) if path.is_file() else None


def home_precedence_path() -> Path:
    """Where `home_precedence` reads (`pim demo` installs its sources' precedence there)."""
    from pim.settings import get_settings

    return get_settings().home / "precedence.yaml"


def forget_merge_state(conn: Connection, keys: list[str]) -> None:
    """Drop the losing claims, conflicts, source fingerprints and association claims kept for these products
    (or `model:<code>` keys): their record was deleted, or replaced whole (pim.importing without a merge), so
    what merges kept no longer describes what shows. Each source claims again at its next import."""
    for n in range(0, len(keys), 1000):
        chunk = keys[n:n + 1000]
        for table in (CANDIDATE, CONFLICT, FINGERPRINT):
            conn.execute(table.delete().where(table.c.identifier.in_(chunk)))
        links.forget(conn, chunk)
