"""Which attributes each level of a family variant holds. A variant shows its own values over its model's, so a
value of a model-level attribute stored on a variant would silently hide the model's value (and a variant-level
value on a model would show on variants lacking their own). Every import holds records to their level, as
Akeneo does: a misplaced value is not stored, and is quarantined as a problem of its record. And, as in Akeneo,
no two children of one model share their level's axis values (`SiblingAxes`): such a record is rejected. A child
without a value for one of its axes is taken in (another source may still send it) but noted as a problem of its
record (`SiblingAxes.missing`), and the quality check reports it (pim.quality, `missing_axis`). Any later write
that fills the axis closes that note, whatever its source (`close_filled_gaps`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select

from pim.catalog import Structure
from pim.importing import record_identity
from pim.product import EMPTY, Product, ProductModel, source_of, split_key
from pim.scoped import scoped
from pim.store.raw import RawTable, Statements
from pim.store.store import MODEL, QuarantineEntry, now
from pim.store.supersede import close_gaps
from pim.structure import AttributeType

#: The depth of a root product model; a sub-model is 1, a variant product one below its model.
ROOT = 0
_CACHE_LIMIT = 100_000
_KEYS_KEPT = 10_000  # value keys remembered per family variant level (VariantLevels.misplaced)


@dataclass(frozen=True)
class Placement:
    """Where a record sits: its family variant and its depth (0 the root model, then one per level)."""

    family_variant: str
    depth: int


def model_placement(family_variant: str, parent: str | None) -> Placement:
    """Where a product model sits: a root model, or (with a parent) a sub-model."""
    return Placement(family_variant, ROOT if not parent else 1)


def below(at: Placement) -> Placement:
    """Where a record whose parent model sits at `at` sits: one level down."""
    return Placement(at.family_variant, at.depth + 1)


class VariantLevels:
    """Family variant → the attribute codes each depth holds (0: the root model's common attributes, then one
    set per variant level, axes included). Built once per import from the structure."""

    def __init__(self, structure: Structure) -> None:
        self._sets: dict[str, list[frozenset[str]]] = {}
        self._owner: dict[str, dict[str, int]] = {}
        self._identifiers = frozenset(c for c, a in structure.attributes.items() if a.type == AttributeType.identifier)
        self._axes = {code: [tuple(level.axes) for level in fv.levels] for code, fv in structure.family_variants.items()}
        for code, fv in structure.family_variants.items():
            family = structure.families.get(fv.family)
            lower = [frozenset(level.axes) | frozenset(level.attributes) for level in fv.levels]
            common = frozenset(family.attributes if family else ()) - frozenset().union(*lower)
            self._sets[code] = [common, *lower]
            self._owner[code] = {a: depth for depth, attrs in enumerate(self._sets[code]) for a in attrs}
        #: (family variant, depth as clamped) → value key → whether its attribute belongs to another level: an
        #: import asks `misplaced` for every variant record, and a file's records repeat the same keys
        self._foreign: dict[tuple[str, int], dict[str, bool]] = {}

    def __bool__(self) -> bool:
        return bool(self._sets)

    def axes(self, at: Placement) -> tuple[str, ...]:
        """The axes of the level a record at `at` sits on (none for a root model or an unknown variant)."""
        levels = self._axes.get(at.family_variant)
        return levels[min(at.depth, len(levels)) - 1] if levels and at.depth > ROOT else ()

    def misplaced(self, at: Placement, values: dict[str, Any]) -> list[str]:
        """The value keys a record at `at` gives for attributes of another level. Clears (pim.product.EMPTY, as the
        merge reads them) are allowed: a source may always remove a stray value; so are attributes the family variant
        does not place."""
        sets = self._sets.get(at.family_variant)
        if sets is None:
            return []
        depth = min(at.depth, len(sets) - 1)
        foreign = self._foreign.get((at.family_variant, depth))
        if foreign is None:
            foreign = self._foreign[(at.family_variant, depth)] = {}
        out = []
        for k, v in values.items():
            elsewhere = foreign.get(k)
            if elsewhere is None:
                elsewhere = self._elsewhere(at.family_variant, depth, k)
                if len(foreign) < _KEYS_KEPT:  # a file of made-up keys does not grow it without end
                    foreign[k] = elsewhere
            if elsewhere and v not in EMPTY:
                out.append(k)
        return out

    def _elsewhere(self, family_variant: str, depth: int, key: str) -> bool:
        """Whether `key`'s attribute is placed by `family_variant` on a level other than `depth` (and is no
        identifier, which every level holds)."""
        a = split_key(key)[0]
        return (a not in self._sets[family_variant][depth] and a in self._owner[family_variant]
                and a not in self._identifiers)

    def holder_depth(self, family_variant: str, attribute: str) -> int | None:
        """The depth whose records hold `attribute` in `family_variant` (ROOT: the root model); None when the
        family variant places no such attribute (or is unknown)."""
        owner = self._owner.get(family_variant)
        return owner.get(attribute) if owner is not None else None

    def reason(self, at: Placement, key: str, holder: str | None, *, product: bool = True,
               lineage: list[str] | None = None) -> str:
        """Why `key` is refused at `at` (a product, or a model), and what to do instead. `holder`: the record's
        parent; `lineage`: the models above the record, nearest first, when known, so the message names the one
        that holds the attribute (a variant's root model, not its sub-model)."""
        attr = split_key(key)[0]
        owner = self._owner[at.family_variant][attr]
        if owner < at.depth:
            where = "the root product model" if owner == ROOT else f"the level-{owner} product model"
            above = lineage or ([holder] if holder else [])
            named = self.holder(at, attr, above)
            whose, rel = ("product", "model") if product else ("model", "parent")
            said = (f" ('{named}' is this {whose}'s {rel})" if named and named == above[0] else
                    f" ('{named}', the parent of this {whose}'s {rel} '{above[0]}')" if named else
                    f" (above this {whose}'s {rel} '{holder}')" if holder else "")
            return (f"'{attr}' is held by {where} in family variant '{at.family_variant}'" + said
                    + ": set it on the model, or move the attribute to this level in the family variant")
        return (f"'{attr}' belongs to level {owner} of family variant '{at.family_variant}', below this model: "
                "set it on its variants")

    def holder(self, at: Placement, attribute: str, lineage: list[str]) -> str | None:
        """The model that holds `attribute` for a record at `at`, from `lineage` (the models above the record,
        nearest first); None when no model level above holds it, or `lineage` does not reach that far."""
        owner = self.holder_depth(at.family_variant, attribute)
        if owner is None or owner >= at.depth:
            return None
        up = at.depth - 1 - owner  # how far above the record's parent the holding model is
        return lineage[up] if up < len(lineage) else None

    def of_product(self, store: Any, product: Product) -> Placement | None:
        """Where a stored product sits (None: no variant, or its model is gone)."""
        model = store.get_model(product.parent) if product.parent else None
        if model is None:
            return None
        return below(model_placement(model.family_variant, model.parent))

    def edit_errors(self, at: Placement | None, values: dict[str, Any], holder: str | None, *,
                    product: bool, lineage: list[str] | None = None) -> dict[str, str]:
        """A person's edit of a record at `at`: each value of another level with why (nothing is written).
        `lineage`: as `reason` takes it."""
        return ({k: self.reason(at, k, holder, product=product, lineage=lineage) for k in self.misplaced(at, values)}
                if at else {})

    def variant_edit_errors(self, store: Any, product: Product, values: dict[str, Any]) -> dict[str, str]:
        """`edit_errors` for a stored variant product, each message naming the model that holds the value (its
        model, or that model's parent: Store.ancestors), as an import's does."""
        chain = store.ancestors(product)
        if not chain:
            return {}
        at = below(model_placement(chain[0].family_variant, chain[0].parent))
        return self.edit_errors(at, values, product.parent, product=True, lineage=[m.code for m in chain])


class LevelGuard:
    """Holds a batch's records to their levels before they are validated and merged (pim.importing). A merged
    record that does not name its parent is placed where the store has it: one query per batch for the
    records' parents, one for models not seen yet, and one for the models a misplaced value is compared with.

    A misplaced value equal to the one its record shows from a model (Akeneo's export repeats every model value
    on each variant row; an ERP restates a model's text) is dropped quietly: nothing is lost. One that differs
    is dropped and noted as a problem of its record, naming where it belongs."""

    def __init__(self, structure: Structure) -> None:
        self.levels = VariantLevels(structure)
        self._placements: dict[str, Placement] = {}  # model code → its placement
        self._parents: dict[str, str | None] = {}  # model code → its parent's code
        self.axes = SiblingAxes(structure, self.levels, self._placements)  # the placements `check` found, shared

    def check(self, store: Any, chunk: Iterable[Any], source: str, validator: Any, *, merged: bool,
              ranker: Any = None, parents: Mapping[str, str] | None = None) -> int:
        """Strip misplaced values from the chunk's parsed records; note those no model shows as they are. With a
        merged source's `ranker` (pim.merge.Ranker), a value the model's own value outranks (or ties: the shown
        value stays) is not noted either: on the model it would lose too, so there is nothing to set there (a
        supplier naming each article of a model the catalog names). Returns how many values were held back so.
        `parents`: the stored products' parents (SKU → model code, those under one), read already with the
        batch's other lookups (pim.batch_lookup); else read here for the merged records that name none."""
        if not self.levels:
            return 0
        products: list[Any] = []
        models: list[Any] = []
        for item in chunk:  # one pass: this runs on every batch of every import
            rec = getattr(item, "record", None)
            if isinstance(rec, Product):
                if rec.values:
                    products.append(item)
            elif isinstance(rec, ProductModel) and rec.values:
                models.append(item)
        if not products and not models:
            return 0
        if len(self._placements) > _CACHE_LIMIT:
            self._placements.clear()
            self._parents.clear()
        in_chunk: dict[str, Shown] = {}  # whole model records of this chunk: code → what they show
        for item in models:
            rec = item.record
            if rec.family_variant:
                self._placements[rec.code] = model_placement(rec.family_variant, rec.parent)
                self._parents[rec.code] = rec.parent
                in_chunk[rec.code] = Shown(rec.values, rec.source, rec.provenance)
        # a product record's parent: the one it names, else (merged) the stored product's; read once here
        named = [("parent" in i.record.__pydantic_fields_set__, i.record) for i in products]
        with store.engine.connect() as conn:
            sql = Statements(conn)
            stored_parents: Mapping[str, str] = parents if parents is not None else {}
            if merged and parents is None:
                unplaced = [rec.identifier for says, rec in named if not says]
                if unplaced:  # one bound list (a DB-API statement: this runs per batch of every merged import)
                    stored_parents = dict(sql.all_in("SELECT identifier, parent FROM product WHERE parent IS NOT "
                                                     f"NULL AND identifier {sql.any_of}", [unplaced]))
            under = [rec.parent if says else stored_parents.get(rec.identifier) if merged else None
                     for says, rec in named]
            wanted = set(under) | {i.record.parent for i in models if i.record.parent}
            if merged:
                wanted |= {i.record.code for i in models if not i.record.family_variant}
            wanted.discard(None)
            wanted.discard("")
            self._load(conn, wanted - self._placements.keys())
            found: list[tuple[Any, Placement, list[str], str | None]] = []
            placements = self._placements
            for item, parent in zip(products, under):
                above = placements.get(parent) if parent else None
                if above is not None:
                    at = below(above)
                    if keys := self.levels.misplaced(at, item.record.values):
                        found.append((item, at, keys, parent))
            for item in models:
                rec = item.record
                at = (model_placement(rec.family_variant, rec.parent) if rec.family_variant
                      else self._placements.get(rec.code))
                if at is not None and (keys := self.levels.misplaced(at, rec.values)):
                    found.append((item, at, keys, rec.parent if rec.family_variant else self._parents.get(rec.code)))
            if not found:
                return 0
            chain = {c for _, _, _, p in found for c in self._lineage(p)}
            stored = self._values(conn, chain - set(in_chunk))
        shown = {**stored, **in_chunk}
        return sum(self._strip(item, at, keys, source, validator, [shown.get(c) for c in self._lineage(parent)],
                               parent, ranker) for item, at, keys, parent in found)

    def shared_axes(self, store: Any, records: list[Product | ProductModel]
                    ) -> tuple[dict[str, tuple[str, str]], SiblingsRead | None]:
        """Whole records (a catalog file) that would give a model two children with the same axis values, by
        `record_identity`: (the axis attribute, why). Checked in batch order, against what is stored. Also what
        was read of the siblings (None: none), which the batch's write checks again under its lock."""
        children = [whole_child(r) for r in records]
        if not self.axes or not any(c.parent for c in children):
            return {}, None
        self._place_models(records)
        with store.engine.connect() as conn:
            siblings = self.axes.read(conn, children)
        refused: dict[str, tuple[str, str]] = {}
        for record, child in zip(records, children):
            if (problem := siblings.refuse(child, record.values)) is not None:
                refused[record_identity(record)] = problem
        return refused, siblings.seen

    def missing_axes(self, store: Any, records: list[Product | ProductModel]) -> dict[str, list[tuple[str, str]]]:
        """Whole records taken in (a catalog file) that lack a value of one of their level's axes, by
        `record_identity`: each (axis attribute, why). No query when `shared_axes` placed their parents."""
        children = [whole_child(r) for r in records]
        if not self.axes or not any(c.parent for c in children):
            return {}
        self._place_models(records)
        if unplaced := {c.parent for c in children if not c.model and c.parent} - set(self._placements):
            with store.engine.connect() as conn:
                self.axes.place(conn, unplaced)
        gaps: dict[str, list[tuple[str, str]]] = {}
        for record, child in zip(records, children):
            if missing := self.axes.missing(child, record.values):
                gaps[record_identity(record)] = [(a, gap_reason(child, a)) for a in missing]
        return gaps

    def _place_models(self, records: list[Product | ProductModel]) -> None:
        """The batch's models are written before its products (a model without values too): place them."""
        for r in records:
            if isinstance(r, ProductModel):
                self._placements[r.code] = model_placement(r.family_variant, r.parent)
                self._parents[r.code] = r.parent

    def holders(self, store: Any, skus: list[str], attribute: str) -> dict[str, str]:
        """Variant product → the product model that holds `attribute` for it (its model, or that model's parent),
        for those of `skus` whose model level holds it (the to-do CSV lists them as that model). One read for
        the products' parents, and one per model level not placed yet."""
        if not skus:
            return {}
        with store.engine.connect() as conn:
            sql = Statements(conn)
            parents = dict(sql.all_in("SELECT identifier, parent FROM product WHERE parent IS NOT NULL "
                                      f"AND identifier {sql.any_of}", [skus]))
            self._load(conn, set(parents.values()) - set(self._placements))
        out: dict[str, str] = {}
        for sku, parent in parents.items():
            above = self._placements.get(parent)
            if above is not None and (model := self.levels.holder(below(above), attribute, self._lineage(parent))):
                out[sku] = model
        return out

    def _lineage(self, parent: str | None) -> list[str]:
        """The models a record below `parent` shows values of, nearest first."""
        grand = self._parents.get(parent) if parent else None
        return [c for c in (parent, grand) if c]

    def _load(self, conn: Any, codes: set[str]) -> None:
        """Place the models `codes` (and the roots of the sub-models among them): one bound-list statement
        each, none when there are none."""
        if not codes:
            return
        todo = sorted(codes)
        sql = Statements(conn)
        for code, fv, parent in sql.all_in(
                f"SELECT code, family_variant, parent FROM product_model WHERE code {sql.any_of}", [todo]):
            self._placements[code] = model_placement(fv, parent)
            self._parents[code] = parent
        missing = {self._parents.get(c) for c in todo} - set(self._placements) - {None}
        if missing:  # a sub-model's root, for the values it shows
            self._load(conn, missing)  # type: ignore[arg-type]

    @staticmethod
    def _values(conn: Any, codes: set[str]) -> dict[str, Shown]:
        todo = sorted(codes)
        out: dict[str, Shown] = {}
        for n in range(0, len(todo), 1000):
            rows = conn.execute(select(MODEL.c.code, MODEL.c.value_map, MODEL.c.source, MODEL.c.provenance)
                                .where(MODEL.c.code.in_(todo[n:n + 1000])))
            out.update((code, Shown(values, source, provenance)) for code, values, source, provenance in rows)
        return out

    def _strip(self, item: Any, at: Placement, keys: list[str], source: str, validator: Any,
               ancestors: list[Shown | None], holder: str | None, ranker: Any = None) -> int:
        """Take `keys` out of the record; note each unless a model shows it as is or its value outranks this
        source's (`ranker`). Returns how many were outranked."""
        rec = item.record
        record_key = record_identity(rec)
        raw = item.raw or rec.model_dump(mode="json")
        outranked = 0
        for key in keys:
            value = rec.values.pop(key)
            rec.provenance.pop(key, None)
            model = next((shown for shown in ancestors if shown and key in shown.values), None)
            if model is not None:
                if _canonical(validator, key, value) == _canonical(validator, key, model.values[key]):
                    continue
                if ranker is not None and _loses(ranker, source, model.source_of(key), key):
                    outranked += 1
                    continue
            reason = self.levels.reason(at, key, holder, product=isinstance(rec, Product),
                                        lineage=self._lineage(holder))
            item.problems.append(QuarantineEntry(reason + "; the value was not stored",
                                                 item.file, item.line, key, raw, record_key, source, severity="problem"))
        return outranked


@dataclass(frozen=True, slots=True)
class Shown:
    """A model's values as stored (or as this batch's whole record gives them), with whose each one is."""

    values: Mapping[str, Any]
    source: Any = None  # the record's default provenance (a Provenance, or its stored JSON)
    provenance: Mapping[str, Any] | None = None  # per-value overrides

    def source_of(self, key: str) -> str:
        prov = (self.provenance or {}).get(key, self.source)
        if prov is None:
            return source_of(None)
        return prov["source"] if isinstance(prov, dict) else prov.source


def _loses(ranker: Any, source: str, holder: str, key: str) -> bool:
    """Whether `source`'s claim on `key` would lose to `holder`'s on the model: ranked below, or level with it
    (among equals the value shown stays, pim.merge.Precedence). Never its own: a source's new claim replaces its
    old one, so a source contradicting what it set on the model is noted."""
    if holder == source:
        return False
    attribute = ranker.attribute(key)
    return ranker.rank(source, attribute)[0] >= ranker.rank(holder, attribute)[0]


def _canonical(validator: Any, key: str, value: Any) -> Any:
    """A value as it would be stored (pim.validation normalises in place), or a marker no value equals."""
    probe = {key: value}
    return probe[key] if not validator.check_values(probe, None, ("family", None)) else object()


# ---------------------------------------------------------------------------------------------- axes
@dataclass(frozen=True, slots=True)
class Child:
    """Where a write puts a record, for the axis check: its parent (None: it hangs under no model) and, for a
    model, its family variant. `stated`: the axes the values it is checked with decide (a merged stored
    product's: those its record touched), the others keep their stored value; None: all of them (a whole
    record, a new product, a model as merged)."""

    key: str  # a SKU, or a model's code
    model: bool
    parent: str | None
    stated: frozenset[str] | None = None
    family_variant: str | None = None


def _key(record: Product | ProductModel) -> str:
    return record.identifier if isinstance(record, Product) else record.code


def whole_child(record: Product | ProductModel) -> Child:
    """A whole record's place (a catalog file's: it states its parent)."""
    if isinstance(record, Product):
        return Child(record.identifier, False, record.parent or None)
    return Child(record.code, True, record.parent or None, family_variant=record.family_variant)


#: What a sibling holds: (model?, parent, its axis values as compared) → the children holding them.
_Held = dict[tuple[bool, str, tuple[Any, ...]], set[str]]
#: The row kind of `SiblingAxes.read` carrying the catalog's seq counter.
_SEQ = 3
#: A child as an axis check read it: (model?, its key) → (its parent, its axis values as JSON text, in
#: `SiblingAxes.keys` order).
_Seen = dict[tuple[bool, str], tuple[str, tuple[str | None, ...]]]


@dataclass(frozen=True)
class SiblingsRead:
    """What an axis check read of the children of the models it places records under, kept so the batch's write
    can tell, under the catalog's write lock, whether another writer placed a twin there meanwhile
    (`overtaken`): neither writer's check could see the other's new child. `parents`: those models, by the kind
    of child read (False: variant products, True: sub-models); `seq`: the catalog seq the read saw (read in the
    same statement, so every child written after it has a higher seq); `seen`: each child as read."""

    parents: dict[bool, frozenset[str]]
    seq: int
    keys: tuple[str, ...]
    seen: _Seen

    def __or__(self, other: SiblingsRead | None) -> SiblingsRead:
        """Two reads of one batch (a merge reads its products' siblings and its models' apart), as one."""
        if other is None:
            return self
        parents = {m: self.parents.get(m, frozenset()) | other.parents.get(m, frozenset()) for m in (False, True)}
        return SiblingsRead(parents, min(self.seq, other.seq), self.keys, {**other.seen, **self.seen})

    def overtaken(self, conn: Any) -> bool:
        """Whether a child was placed under one of the models, or changed its axis values there, after the read;
        run under the write lock. One statement on the children's parent and seq indexes, which returns only the
        children written since: one rewritten otherwise (other values, its model's edit bumping its seq) is
        left alone, so it does not make the batch merge again."""
        sql = Statements(conn)
        axes = ", ".join(SiblingAxes._extract(sql.pg, a) for a in self.keys)
        parts: list[str] = []
        params: list[Any] = []
        for model, table, key in ((False, "product", "identifier"), (True, "product_model", "code")):
            if wanted := sorted(self.parents.get(model, ())):
                parts.append(f"SELECT {1 + model}, {key}, parent, {axes} FROM {table} "
                             f"WHERE parent {sql.any_of} AND seq > {sql.p}")
                params += [sql.bound(wanted), self.seq]
        rows = sql.all(" UNION ALL ".join(parts), params) if parts else []
        return any(self.seen.get((kind == 2, key)) != (parent, tuple(texts)) for kind, key, parent, *texts in rows)


class SiblingAxes:
    """Akeneo's rule that no two children of one product model (its sub-models, or the variant products of a
    sub-model) have the same values of their level's axes. Without it two `size=M` variants of one red shirt
    would both publish, and nothing could tell them apart. `read` loads, in one query per batch, the stored
    children of the models a batch places records under (only their axis values, by JSON path), and the
    models not placed yet; `Siblings.refuse` then judges the records in batch order."""

    def __init__(self, structure: Structure, levels: VariantLevels,
                 placements: dict[str, Placement] | None = None) -> None:
        self.levels = levels
        self.keys = tuple(sorted({a for fv in structure.family_variants.values() for lv in fv.levels for a in lv.axes}))
        self._metrics = {a: structure.attributes[a].metric_family for a in self.keys
                         if a in structure.attributes and structure.attributes[a].type == AttributeType.metric}
        self._measures = structure.measures
        self.placements = placements if placements is not None else {}

    def __bool__(self) -> bool:
        return bool(self.keys)

    @classmethod
    def of(cls, structure: Structure) -> SiblingAxes | None:
        """The check for a merge (pim.merge.Merger), or None when no family variant has axes."""
        axes = cls(structure, VariantLevels(structure))
        return axes if axes else None

    def merged(self, conn: Any, records: list[Any], stored: Mapping[str, Product | ProductModel]) -> Siblings | None:
        """A merge batch's records that may change a model's children's axis values (`merged_child`; `stored`:
        key → the stored record merged onto) with those children: one query, none when no record may."""
        wanted = [c for r in records if (c := self.merged_child(r, stored.get(_key(r)))) is not None]
        return self.read(conn, wanted) if wanted else None

    def merged_child(self, record: Product | ProductModel, stored: Product | ProductModel | None) -> Child | None:
        """The place a merged record (onto `stored`, None when new) asks for, when it may change which axis
        values a model's children hold: it names another parent, or gives an axis value. None otherwise: a
        record that changes neither is never checked (so a collision stored before this check stands)."""
        model = isinstance(record, ProductModel)
        names = "parent" in record.model_fields_set and (not model or bool(record.family_variant))
        before = stored.parent if stored is not None else None
        parent = (record.parent or None) if names else before
        if parent == before and (parent is None or not any(k in record.values for k in self.keys)):
            return None
        key = _key(record)
        fv = (record.family_variant or (stored.family_variant if stored else None)) if model else None  # type: ignore[union-attr]
        stated = None if model or stored is None else frozenset(k for k in self.keys if k in record.values)
        return Child(key, model, parent, stated, fv)

    def read(self, conn: Any, children: Iterable[Child]) -> Siblings:
        """The stored children of the models `children` go under (and the stored rows of those merged in part),
        with the placements of models not seen yet: one statement. It also reads the catalog's seq counter, in
        the same snapshot, for the write's check under its lock (`Siblings.seen`, `SiblingsRead.overtaken`)."""
        sql = Statements(conn)
        children = list(children)
        if len(self.placements) > _CACHE_LIMIT:
            self.placements.clear()
        parents = {m: sorted({c.parent for c in children if c.model == m and c.parent}) for m in (False, True)}
        keys = {m: sorted({c.key for c in children if c.model == m and c.stated is not None}) for m in (False, True)}
        unplaced = sorted(set(parents[False]) - set(self.placements))
        axes = ", ".join(self._extract(sql.pg, a) for a in self.keys)
        nulls = ", ".join("NULL" for _ in self.keys)
        parts: list[str] = []
        lists: list[list[str]] = []
        if unplaced:
            parts.append(f"SELECT 0, code, family_variant, parent, {nulls} FROM product_model WHERE code {sql.any_of}")
            lists.append(unplaced)
        for model in (False, True):
            table, key, fv = ("product_model", "code", "family_variant") if model else ("product", "identifier", "NULL")
            for column, wanted in (("parent", parents[model]), (key, keys[model])):
                if wanted:
                    parts.append(f"SELECT {1 + model}, {key}, {fv}, parent, {axes} FROM {table} "
                                 f"WHERE {column} {sql.any_of}")
                    lists.append(wanted)
        if seq_read := bool(parents[False] or parents[True]):  # the high-water mark, in the statement's snapshot
            parts.append(f"SELECT {_SEQ}, CAST(value AS VARCHAR(40)), NULL, NULL, {nulls} FROM sequence "
                         "WHERE name = 'catalog'")
        rows = sql.all_in(" UNION ALL ".join(parts), lists) if parts else []
        seq = 0  # no counter yet: nothing was ever written
        for kind, code, fv, parent, *_ in rows:
            if kind == 0:
                self.placements[code] = model_placement(fv, parent)
            elif kind == _SEQ:
                seq = int(code)
        under = {m: frozenset(ps) for m, ps in parents.items()}
        rows = [r for r in rows if r[0] in (1, 2)]
        seen = SiblingsRead(under, seq, self.keys, {(kind == 2, code): (parent, tuple(texts))
                                                    for kind, code, _, parent, *texts in rows
                                                    if parent in under[kind == 2]}) if seq_read else None
        return Siblings(self, rows, {p for ps in parents.values() for p in ps}, children, seen)

    @staticmethod
    def _extract(pg: bool, attribute: str) -> str:
        """An axis value of the row's value map as JSON text (absent: NULL), on either database."""
        key = attribute if pg else f'$."{attribute}"'  # SQLite: a JSON path, PostgreSQL: the key
        literal = "'" + key.replace("'", "''") + "'"
        return f"(value_map -> {literal})::text" if pg else f"value_map -> {literal}"

    def axes_of(self, model: bool, parent: str, family_variant: str | None) -> tuple[str, ...]:
        """The axes a child of `parent` is told apart by: a sub-model by its variant's first level, a product by
        the level below its model."""
        if model:
            return self.levels.axes(Placement(family_variant, 1)) if family_variant else ()
        above = self.placements.get(parent)
        return self.levels.axes(below(above)) if above else ()

    def place(self, conn: Any, parents: Iterable[str | None]) -> None:
        """Load the placements of the models among `parents` not placed yet (one query, none when all are)."""
        if len(self.placements) > _CACHE_LIMIT:
            self.placements.clear()
        todo = sorted({p for p in parents if p} - set(self.placements))
        if not todo:
            return
        sql = Statements(conn)
        for code, fv, parent in sql.all_in(
                f"SELECT code, family_variant, parent FROM product_model WHERE code {sql.any_of}", [todo]):
            self.placements[code] = model_placement(fv, parent)

    def missing(self, child: Child, values: Mapping[str, Any]) -> list[str]:
        """The axes of `child`'s level it has no value for in `values` (its own: axes live at its level). A
        product's parent must be placed (`place`, `read`); none for a child under no model."""
        if child.parent is None:
            return []
        axes = self.axes_of(child.model, child.parent, child.family_variant)
        return [a for a in axes if blank(values.get(a)) or self.token(a, values.get(a)) is None]

    def stored_gaps(self, conn: Any, skus: list[str]) -> dict[str, list[tuple[str, str]]]:
        """The stored variant products among `skus` lacking a value of their level's axes, as stored: sku →
        [(axis attribute, why)]. For records a merge skips as already merged (their notes still stand)."""
        if not skus:
            return {}
        sql = Statements(conn)
        axes = ", ".join(self._extract(sql.pg, a) for a in self.keys)
        rows = sql.all_in(f"SELECT identifier, parent, {axes} FROM product WHERE parent IS NOT NULL "
                          f"AND identifier {sql.any_of}", [skus])
        return self.gaps_of(conn, rows)

    def gaps_of(self, conn: Any, rows: Iterable[tuple[Any, ...]]) -> dict[str, list[tuple[str, str]]]:
        """`stored_gaps` of rows read already: (sku, parent, each of `keys`' stored JSON text or None)
        (pim.batch_lookup reads them with the batch's other lookups)."""
        rows = list(rows)
        self.place(conn, {r[1] for r in rows})
        out: dict[str, list[tuple[str, str]]] = {}
        for ident, parent, *texts in rows:
            child = Child(ident, False, parent)
            values = {a: orjson.loads(t) for a, t in zip(self.keys, texts) if t is not None}
            if missing := self.missing(child, values):
                out[ident] = [(a, gap_reason(child, a)) for a in missing]
        return out

    def model_gaps(self, conn: Any, codes: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """The sub-models among the models `codes` lacking a value of their level's axes, as stored: code →
        [(axis attribute, why, naming the sub-model)]. Every model read is placed too (for `missing`): one
        query, as `place`, for the quality check of their variants (pim.quality.axis_findings)."""
        wanted = sorted({c for c in codes if c})
        if not wanted:
            return {}
        if len(self.placements) > _CACHE_LIMIT:
            self.placements.clear()
        sql = Statements(conn)
        axes = ", ".join(self._extract(sql.pg, a) for a in self.keys)
        out: dict[str, list[tuple[str, str]]] = {}
        for code, fv, parent, *texts in sql.all_in(
                f"SELECT code, family_variant, parent, {axes} FROM product_model WHERE code {sql.any_of}", [wanted]):
            self.placements[code] = model_placement(fv, parent)
            child = Child(code, True, parent or None, family_variant=fv)
            values = {a: orjson.loads(t) for a, t in zip(self.keys, texts) if t is not None}
            if missing := self.missing(child, values):
                out[code] = [(a, gap_reason(child, a, named=True)) for a in missing]
        return out

    def refuse_record(self, conn: Any, record: Product | ProductModel) -> tuple[str, str] | None:
        """(axis attribute, why) when the whole `record` (as it would be written: a person's pick) shares its
        axis values with a sibling stored; one query."""
        child = whole_child(record)
        if child.parent is None:
            return None
        return self.read(conn, [child]).refuse(child, record.values)

    def token(self, attribute: str, value: Any) -> Any:
        """An axis value as siblings are compared by (None: no value): a metric by its quantity (1 KILOGRAM is
        1000 GRAM), an option code or a boolean as it is."""
        if value is None:
            return None
        family = self._metrics.get(attribute)
        if family is not None:
            if not isinstance(value, dict) or value.get("amount") in (None, ""):
                return None
            found = self._measures.family(family)
            try:
                standard = found.standard  # type: ignore[union-attr]
                return str(self._measures.convert(value["amount"], value["unit"], standard, family).normalize())
            except (AttributeError, KeyError, TypeError, ArithmeticError, ValueError):  # no conversion: as stated
                pass
        return value if isinstance(value, (str, bool)) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class Siblings:
    """One batch's view of the children of the models it places records under: as stored, then as the records
    it took in so far (in batch order) leave them."""

    def __init__(self, axes: SiblingAxes, rows: list[tuple[Any, ...]], parents: set[str],
                 children: list[Child], seen: SiblingsRead | None = None) -> None:
        self.axes = axes
        self.parents = parents
        #: the children of `parents` as read, with the catalog seq the read saw (None: no parent's were read)
        self.seen = seen
        self._children = {c.key: c for c in children}  # of one kind (a merge's products, or its models)
        self._held: _Held = {}
        self._at: dict[tuple[bool, str], tuple[str, tuple[Any, ...]]] = {}  # child → (parent, axis tokens) held
        self._stored: dict[tuple[bool, str], dict[str, Any]] = {}  # child → its stored axis values
        for kind, key, fv, parent, *texts in rows:
            model = kind == 2
            stored = self._stored[(model, key)] = {a: orjson.loads(t) for a, t in zip(axes.keys, texts) if t is not None}
            if parent in parents:
                self._hold(model, key, parent, self._tokens(axes.axes_of(model, parent, fv), stored))

    def refuse(self, child: Child, values: Mapping[str, Any]) -> tuple[str, str] | None:
        """(axis attribute, why) when `child` with `values` would share its axis values with a sibling; else
        None, and the child holds them from now on (for the batch's later records)."""
        if child.parent is None:
            self._release(child.model, child.key)
            return None
        axes = self.axes.axes_of(child.model, child.parent, child.family_variant)
        if not axes:
            return None
        stored = self._stored.get((child.model, child.key), {})
        shown = {a: values.get(a) if child.stated is None or a in child.stated else stored.get(a) for a in axes}
        tokens = self._tokens(axes, shown)
        if None not in tokens and self._at.get((child.model, child.key)) != (child.parent, tokens):
            holders = sorted(self._held.get((child.model, child.parent, tokens), set()) - {child.key})
            if holders:
                return axes[0], _collision(child, axes, shown, holders[0])
        self._release(child.model, child.key)
        self._hold(child.model, child.key, child.parent, tokens)
        return None

    def refuse_key(self, key: str, values: Mapping[str, Any]) -> tuple[str, str] | None:
        """`refuse` for the merged record `key`, with its values after the merge (unchecked: not one `read`)."""
        child = self._children.get(key)
        return self.refuse(child, values) if child is not None else None

    def _tokens(self, axes: tuple[str, ...], values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(self.axes.token(a, values.get(a)) for a in axes)

    def _hold(self, model: bool, key: str, parent: str, tokens: tuple[Any, ...]) -> None:
        self._held.setdefault((model, parent, tokens), set()).add(key)
        self._at[(model, key)] = (parent, tokens)

    def _release(self, model: bool, key: str) -> None:
        if (at := self._at.pop((model, key), None)) is not None:
            self._held[(model, *at)].discard(key)


def _collision(child: Child, axes: tuple[str, ...], shown: Mapping[str, Any], holder: str) -> str:
    """Why `child` is refused, naming its parent, the axis values and the sibling holding them, and what to do."""
    values = ", ".join(f"{a}={_shown(shown[a])}" for a in axes)
    names = ", ".join(axes)
    if child.model:
        return (f"product model '{child.parent}' already has a sub-model with {values}: '{holder}'; the sub-models "
                f"of one model need distinct values of {names}: change {names} of this model, or attach it to "
                "another parent")
    return (f"product model '{child.parent}' already has a variant with {values}: '{holder}'; the variants of one "
            f"model need distinct values of {names}: change {names} of this product, or attach it to another model")


#: The wording of every missing-axis reason, for people. Code tells such a note by its kind
#: (pim.store.supersede.MISSING_AXIS); migration 0038 gave that kind to the entries written before by it.
GAP_MARK = "has no value for its axis"


def gap_reason(child: Child, axis: str, *, named: bool = False) -> str:
    """Why a child without a value of its level's axis `axis` is noted, and what to do. `named`: the child's
    code is said too (a sub-model's gap reported on its variants)."""
    if child.model:
        who = f"sub-model '{child.key}'" if named else "sub-model"
        return (f"{who} of product model '{child.parent}' {GAP_MARK} '{axis}': set {axis}, or make it a root model "
                "(no parent)")
    return (f"variant of product model '{child.parent}' {GAP_MARK} '{axis}': set {axis}, or detach it from the "
            "model")


# ---------------------------------------------------------------------------------------------- notes a write closes
#: A running import's catalog (its engine) and the axis attributes of the structure it validates against: its
#: writes take them from here instead of reading the stored structure's version batch by batch (`axes_known`).
_KNOWN: ContextVar[tuple[Any, frozenset[str]] | None] = ContextVar("pim_known_axes", default=None)


def axis_attributes(structure: Structure) -> frozenset[str]:
    """Every attribute that is an axis of some family variant's level."""
    return frozenset(a for fv in structure.family_variants.values() for level in fv.levels for a in level.axes)


@contextmanager
def axes_known(engine: Any, structure: Structure) -> Iterator[None]:
    """Inside, writes to `engine`'s catalog know its axis attributes from `structure` (an import's), so closing
    filled gaps (`close_filled_gaps`) adds no statement to a batch that stores no axis value."""
    with scoped(_KNOWN, (engine, axis_attributes(structure))):
        yield


def _axes_of(conn: Any) -> frozenset[str]:
    known = _KNOWN.get()
    if known is not None and known[0] is conn.engine:
        return known[1]
    from pim.structure_cache import cached_structure  # a person's edit: one key lookup when the cache is warm

    return axis_attributes(cached_structure(conn))


@dataclass(frozen=True, slots=True)
class StoredChildren:
    """What a whole write of products or models read of those stored under a model (`stored_children`): `rows`,
    by key (SKU or model code), each one's parent and, for one the write changes, its values of the axes `held`
    as JSON text (None: no value, or the row is not changed); `axes`, every axis attribute, when the write looked
    them up (it holds a child of a model)."""

    held: tuple[str, ...]
    axes: frozenset[str] | None
    rows: dict[str, tuple[str, tuple[str | None, ...]]]

    def had(self, key: str, axis: str) -> bool:
        """Whether the stored `key` held a value of `axis` under a model: then no note of it is open (the write
        that stored the value closed it)."""
        row = self.rows.get(key)
        if row is None or axis not in self.held:
            return False
        text = row[1][self.held.index(axis)]
        return text is not None and not blank(orjson.loads(text))


def stored_children(conn: Any, writer: RawTable, records: Mapping[str, Product] | Mapping[str, ProductModel],
                    digests: Mapping[str, str]) -> tuple[dict[str, tuple[int, str]], StoredChildren]:
    """The read of a whole write of products or models (Store.write_products_in, write_models_in; `writer` their
    table, `records` by SKU or code, `digests` the hashes they are written with): key → (id, content hash) of
    those stored. In the same statement, what closing their notes needs (`close_filled_gaps`): each stored one's
    parent, and, of those the write changes (a stored hash none of `digests` is), the stored values of the axes
    its children give a value of. So a child rewritten with the axis value it had runs no closing statement, and
    an unchanged row is not parsed."""
    key = "code" if writer.table is MODEL else "identifier"
    axes = _axes_of(conn) if any(r.parent for r in records.values()) else None
    order = tuple(sorted({a for r in records.values() if r.parent for a in axes or () if not blank(r.values.get(a))}))
    if order:
        sql = Statements(conn)
        changed = "content_hash <> ALL(%s)" if sql.pg else "content_hash NOT IN (SELECT value FROM json_each(?))"
        texts = ", ".join(f"CASE WHEN parent IS NOT NULL AND {changed} THEN {SiblingAxes._extract(sql.pg, a)} END"
                          for a in order)
        rows = sql.all_in(f"SELECT {key}, id, content_hash, parent, {texts} FROM {writer.table.name} "
                          f"WHERE {key} {sql.any_of}", [*[list(digests.values())] * len(order), list(records)])
    else:
        rows = writer.select(conn, (key, "id", "content_hash", "parent"), key, list(records))
    existing = {k: (row_id, digest) for k, row_id, digest, *_ in rows}
    return existing, StoredChildren(order, axes, {k: (parent, tuple(texts)) for k, _, _, parent, *texts in rows
                                                  if parent})


def close_filled_gaps(conn: Any, *, records: Mapping[str, Product] | None = None, stored: StoredChildren | None = None,
                      deltas: Mapping[str, Any] | None = None, models: Mapping[str, ProductModel] | None = None,
                      stored_models: StoredChildren | None = None) -> int:
    """Close the open missing-axis notes, of every source (pim.store.supersede.close_gaps), of the children a
    write gives a value of an axis, or takes from under their model: `records`, stored products written whole
    (with `stored`, what the write read of them: a value of an axis counts unless they held one already, and one
    no longer under a model is detached; without it any value counts); `models`, stored models written whole, by
    code (with `stored_models`, likewise: a sub-model made a root model is detached); `deltas`, products a merge
    rewrote in part (pim.store.store.ProductDelta: an axis value it changed counts). A note is about a value
    missing now: whoever fills it (another source, a person's edit, a mass edit) fixes it. pim.store.store calls
    this on every write: nothing is looked at unless the write holds a child of a model (or takes one from under
    it), and no statement is run unless it stores a new axis value of one."""
    whole = ((records or {}, stored), (models or {}, stored_models))
    deltas = deltas or {}
    if not (any(r.parent or k in (read.rows if read else ()) for written, read in whole for k, r in written.items())
            or any(d.after.parent or d.before.parent for d in deltas.values())):
        return 0
    looked_up = [read.axes for _, read in whole if read is not None and read.axes is not None]
    axes = looked_up[0] if looked_up else _axes_of(conn)
    if not axes:
        return 0
    filled: dict[str, set[str]] = {}
    detached: set[str] = set()
    for ident, delta in deltas.items():
        if delta.before.parent and not delta.after.parent:
            detached.add(ident)
        elif delta.after.parent:
            for a in axes:
                value = delta.after.values.get(a)
                if not blank(value) and value != delta.before.values.get(a):
                    filled.setdefault(a, set()).add(ident)
    for written, read in whole:
        _whole_gaps(written, read, axes, filled, detached)
    if not filled and not detached:
        return 0
    return close_gaps(conn, filled, detached, axes, now())


def _whole_gaps(written: Mapping[str, Product | ProductModel], stored: StoredChildren | None, axes: frozenset[str],
                filled: dict[str, set[str]], detached: set[str]) -> None:
    """Add the notes whole records (by key; `stored`: what their write read) fix to `filled` and `detached`, by
    the key notes give them (`record_identity`: a model's is `model:<code>`)."""
    for key, r in written.items():
        if not r.parent:
            if stored is not None and key in stored.rows:
                detached.add(record_identity(r))
            continue
        for a in axes:
            if not blank(r.values.get(a)) and not (stored is not None and stored.had(key, a)):
                filled.setdefault(a, set()).add(record_identity(r))


def cleared_reason(child: Child, axis: str) -> str:
    """Why a person's edit emptying `axis` of a child is refused (nothing is written), and what to do."""
    what = "sub-model" if child.model else "variant"
    return (f"'{axis}' is the axis this {what} of product model '{child.parent}' is told apart from its siblings "
            f"by: it cannot be emptied; set another {axis}, or "
            + ("make it a root model (no parent)" if child.model else "detach the product from the model"))


def blank(value: Any) -> bool:
    """No value at all: absent, null, empty text or list, a metric without an amount."""
    if isinstance(value, dict) and "amount" in value:
        return value.get("amount") in (None, "")
    return value is None or value == "" or value == [] or value == {}


def _shown(value: Any) -> str:
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value.get('unit') or ''}".strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
