"""Which attributes each level of a family variant holds. A variant shows its own values over its model's, so a
value of a model-level attribute stored on a variant would silently hide the model's value (and a variant-level
value on a model would show on variants lacking their own). Every import holds records to their level, as
Akeneo does: a misplaced value is not stored, and is quarantined as a problem of its record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from pim.catalog import Structure
from pim.importing import record_identity
from pim.product import Product, ProductModel, split_key
from pim.store.raw import Statements
from pim.store.store import MODEL, QuarantineEntry
from pim.structure import AttributeType

#: The depth of a root product model; a sub-model is 1, a variant product one below its model.
ROOT = 0
_CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class Placement:
    """Where a record sits: its family variant and its depth (0 the root model, then one per level)."""

    family_variant: str
    depth: int


def model_placement(family_variant: str, parent: str | None) -> Placement:
    """Where a product model sits: a root model, or (with a parent) a sub-model."""
    return Placement(family_variant, ROOT if not parent else 1)


class VariantLevels:
    """Family variant → the attribute codes each depth holds (0: the root model's common attributes, then one
    set per variant level, axes included). Built once per import from the structure."""

    def __init__(self, structure: Structure) -> None:
        self._sets: dict[str, list[frozenset[str]]] = {}
        self._owner: dict[str, dict[str, int]] = {}
        self._identifiers = frozenset(c for c, a in structure.attributes.items() if a.type == AttributeType.identifier)
        for code, fv in structure.family_variants.items():
            family = structure.families.get(fv.family)
            lower = [frozenset(level.axes) | frozenset(level.attributes) for level in fv.levels]
            common = frozenset(family.attributes if family else ()) - frozenset().union(*lower)
            self._sets[code] = [common, *lower]
            self._owner[code] = {a: depth for depth, attrs in enumerate(self._sets[code]) for a in attrs}

    def __bool__(self) -> bool:
        return bool(self._sets)

    def misplaced(self, at: Placement, values: dict[str, Any]) -> list[str]:
        """The value keys a record at `at` gives for attributes of another level. Clears are allowed (a source
        may always remove a stray value), and so are attributes the family variant does not place."""
        sets = self._sets.get(at.family_variant)
        if sets is None:
            return []
        allowed = sets[min(at.depth, len(sets) - 1)]
        owner = self._owner[at.family_variant]
        return [k for k, v in values.items() if v is not None and (a := split_key(k)[0]) not in allowed
                and a in owner and a not in self._identifiers]

    def reason(self, at: Placement, key: str, holder: str | None, *, product: bool = True) -> str:
        """Why `key` is refused at `at` (a product, or a model), and what to do instead. `holder`: the record's
        parent."""
        attr = split_key(key)[0]
        owner = self._owner[at.family_variant][attr]
        if owner < at.depth:
            where = "the root product model" if owner == ROOT else f"the level-{owner} product model"
            return (f"'{attr}' is held by {where} in family variant '{at.family_variant}'"
                    + (f" ('{holder}' is this {'product' if product else 'model'}'s "
                       f"{'model' if product else 'parent'})" if holder else "")
                    + ": set it on the model, or move the attribute to this level in the family variant")
        return (f"'{attr}' belongs to level {owner} of family variant '{at.family_variant}', below this model: "
                "set it on its variants")

    def of_product(self, store: Any, product: Product) -> Placement | None:
        """Where a stored product sits (None: no variant, or its model is gone)."""
        model = store.get_model(product.parent) if product.parent else None
        if model is None:
            return None
        above = model_placement(model.family_variant, model.parent)
        return Placement(above.family_variant, above.depth + 1)

    def edit_errors(self, at: Placement | None, values: dict[str, Any], holder: str | None, *,
                    product: bool) -> dict[str, str]:
        """A person's edit of a record at `at`: each value of another level with why (nothing is written)."""
        return {k: self.reason(at, k, holder, product=product) for k in self.misplaced(at, values)} if at else {}


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

    def check(self, store: Any, chunk: Iterable[Any], source: str, validator: Any, *, merged: bool) -> None:
        """Strip misplaced values from the chunk's parsed records; note those no model shows as they are."""
        if not self.levels:
            return
        items = [item for item in chunk if isinstance(getattr(item, "record", None), (Product, ProductModel))
                 and item.record.values]
        if not items:
            return
        if len(self._placements) > _CACHE_LIMIT:
            self._placements.clear()
            self._parents.clear()
        products = [i for i in items if isinstance(i.record, Product)]
        models = [i for i in items if isinstance(i.record, ProductModel)]
        in_chunk: dict[str, dict[str, Any]] = {}  # whole model records of this chunk: code → values
        for item in models:
            rec = item.record
            if rec.family_variant:
                self._placements[rec.code] = model_placement(rec.family_variant, rec.parent)
                self._parents[rec.code] = rec.parent
                in_chunk[rec.code] = rec.values
        parents: dict[str, str] = {}
        with store.engine.connect() as conn:
            sql = Statements(conn)
            if merged:
                unplaced = [i.record.identifier for i in products if "parent" not in i.record.model_fields_set]
                if unplaced:  # one bound list (a DB-API statement: this runs per batch of every merged import)
                    parents.update(sql.all_in("SELECT identifier, parent FROM product WHERE parent IS NOT NULL "
                                              f"AND identifier {sql.any_of}", [unplaced]))
            wanted = {self._parent_of(i.record, parents) for i in products} | {
                i.record.parent for i in models if i.record.parent}
            if merged:
                wanted |= {i.record.code for i in models if not i.record.family_variant}
            self._load(conn, {c for c in wanted if c} - set(self._placements))
            found: list[tuple[Any, Placement, list[str], str | None]] = []
            for item in products:
                parent = self._parent_of(item.record, parents)
                above = self._placements.get(parent) if parent else None
                if above is not None:
                    at = Placement(above.family_variant, above.depth + 1)
                    if keys := self.levels.misplaced(at, item.record.values):
                        found.append((item, at, keys, parent))
            for item in models:
                rec = item.record
                at = (model_placement(rec.family_variant, rec.parent) if rec.family_variant
                      else self._placements.get(rec.code))
                if at is not None and (keys := self.levels.misplaced(at, rec.values)):
                    found.append((item, at, keys, rec.parent if rec.family_variant else self._parents.get(rec.code)))
            if not found:
                return
            chain = {c for _, _, _, p in found for c in self._lineage(p)}
            stored = self._values(conn, chain - set(in_chunk))
        shown = {**stored, **in_chunk}
        for item, at, keys, parent in found:
            self._strip(item, at, keys, source, validator, [shown.get(c) for c in self._lineage(parent)], parent)

    def _lineage(self, parent: str | None) -> list[str]:
        """The models a record below `parent` shows values of, nearest first."""
        grand = self._parents.get(parent) if parent else None
        return [c for c in (parent, grand) if c]

    @staticmethod
    def _parent_of(record: Product, stored: dict[str, str]) -> str | None:
        return record.parent if "parent" in record.model_fields_set else stored.get(record.identifier)

    def _load(self, conn: Any, codes: set[str]) -> None:
        todo = sorted(codes)
        for n in range(0, len(todo), 1000):
            for code, fv, parent in conn.execute(select(MODEL.c.code, MODEL.c.family_variant, MODEL.c.parent)
                                                 .where(MODEL.c.code.in_(todo[n:n + 1000]))):
                self._placements[code] = model_placement(fv, parent)
                self._parents[code] = parent
        missing = {self._parents.get(c) for c in todo} - set(self._placements) - {None}
        if missing:  # a sub-model's root, for the values it shows
            self._load(conn, missing)  # type: ignore[arg-type]

    @staticmethod
    def _values(conn: Any, codes: set[str]) -> dict[str, dict[str, Any]]:
        todo = sorted(codes)
        out: dict[str, dict[str, Any]] = {}
        for n in range(0, len(todo), 1000):
            out.update(conn.execute(select(MODEL.c.code, MODEL.c.value_map).where(MODEL.c.code.in_(todo[n:n + 1000]))).all())
        return out

    def _strip(self, item: Any, at: Placement, keys: list[str], source: str, validator: Any,
               ancestors: list[dict[str, Any] | None], holder: str | None) -> None:
        rec = item.record
        record_key = record_identity(rec)
        raw = item.raw or rec.model_dump(mode="json")
        for key in keys:
            value = rec.values.pop(key)
            rec.provenance.pop(key, None)
            model_value = next((vals[key] for vals in ancestors if vals and key in vals), None)
            if model_value is not None and _canonical(validator, key, value) == _canonical(validator, key, model_value):
                continue
            reason = self.levels.reason(at, key, holder, product=isinstance(rec, Product))
            item.problems.append(QuarantineEntry(reason + "; the value was not stored",
                                                 item.file, item.line, key, raw, record_key, source, severity="problem"))


def _canonical(validator: Any, key: str, value: Any) -> Any:
    """A value as it would be stored (pim.validation normalises in place), or a marker no value equals."""
    probe = {key: value}
    return probe[key] if not validator.check_values(probe, None, ("family", None)) else object()
