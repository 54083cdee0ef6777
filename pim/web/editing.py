"""Edits from people: every value is checked with pim.values.normalize against its attribute; if any value
is wrong nothing is written and each wrong key gets its message. Accepted values are the content team's claim
(source `content`, the editor as the ref) and go through the same merge as a content file: the source
precedence decides whether they show (`PIM_HOME/precedence.yaml` when there is one, else the content team
first), the value they replace stays as a candidate, and an emptied value withdraws the content team's claim
(the next claim, say the ERP's, shows again). Every change of a shown value lands in the value history; an
edit that precedence keeps from showing is reported as `outranked`. An edit that would give a variant (or
sub-model) a sibling's axis values, or leave it without one, is refused (pim.variant_levels). An edit made from
a page names what each field showed (`expected`): a value changed since (by someone, or an import) is `stale`,
not overwritten unseen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from pim.association_claims import type_of_key
from pim.catalog import Structure
from pim.errors import InputError
from pim.measures import Measures, builtin
from pim.product import Product, ProductModel, Provenance, split_key, value_key
from pim.quality import gtin_problem, is_gtin_attribute
from pim.structure import AttributeType
from pim.store.store import Store, now
from pim.values import ValueProblem, metric_text, normalize, prices_text
from pim.variant_levels import VariantLevels, model_placement
from pim.web.tables import HISTORY


@dataclass
class EditResult:
    product: Product | None
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    outranked: dict[str, str] = field(default_factory=dict)  # key → the source whose value still shows (or "")
    #: outranked key → why another value shows: KEPT, WITHDRAWN or UNCLAIMED (the page words each)
    why: dict[str, str] = field(default_factory=dict)
    #: key → what changed it since the page showed it; those keys were not written
    stale: dict[str, Stale] = field(default_factory=dict)


#: An edit kept aside as another value: the precedence ranks the shown source above the content team.
KEPT = "kept"
#: An emptied edit withdrew the content team's value: the next source's value shows.
WITHDRAWN = "withdrawn"
#: An emptied edit of a value the content team held no claim on: nothing to withdraw, the source's value stays.
UNCLAIMED = "unclaimed"


@dataclass
class Stale:
    """A value changed since the editor's page showed it: the edit is not written, so nobody's change is lost
    unseen. `now`: the stored value; `by`: who or what stored it ("" when unknown, e.g. a withdrawn value);
    `yours`: the edit, as it would have been stored."""

    now: Any
    by: str
    yours: Any


def check_key(key: str, s: Structure) -> str | None:
    """Why a value key cannot exist in this structure, or None."""
    attribute, locale, channel = split_key(key)
    attr = s.attributes.get(attribute)
    if attr is None:
        return f"unknown attribute '{attribute}'"
    if attr.localizable != bool(locale):
        return f"'{attribute}' is {'' if attr.localizable else 'not '}localizable: use {_example(attr, s)}"
    if attr.scopable != bool(channel):
        return f"'{attribute}' is {'' if attr.scopable else 'not '}scopable: use {_example(attr, s)}"
    if locale and locale not in s.locales:
        return f"unknown locale '{locale}'"
    if channel and channel not in s.channels:
        return f"unknown channel '{channel}'"
    return None


def _example(attr: Any, s: Structure) -> str:
    channel = next(iter(s.channels), "ecommerce")
    locale = next(iter(s.locales), "en_US")
    return value_key(attr.code, locale if attr.localizable else None, channel if attr.scopable else None)


def validate(changes: dict[str, Any], s: Structure) -> tuple[dict[str, Any], dict[str, str]]:
    """Each change as it would be stored, or why it cannot be. A GTIN attribute's value must be a GTIN with its
    check digit (pim.quality.gtin_problem), as imports hold it: a typo is refused, not stored."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, data in changes.items():
        problem = check_key(key, s)
        if problem:
            errors[key] = problem
            continue
        attr = s.attributes[split_key(key)[0]]
        try:
            clean[key] = normalize(attr, data, s.option_codes(attr.code) if attr.code in s.options else None, s.measures)
        except ValueProblem as exc:
            errors[key] = str(exc)
            continue
        if (wrong := gtin_error(attr.code, clean[key])) is not None:
            del clean[key]
            errors[key] = wrong
    return clean, errors


def key_rewrites(s: Structure, clean: dict[str, Any], identifiers: list[str]) -> dict[str, str]:
    """The identifier attribute's value when an edit of `identifiers` would make it other than each product's
    own identifier: that value is the product's key, so rewriting, copying or clearing it would leave a product
    its routes and imports cannot find, or two sharing one. Its own identifier again is no change."""
    code = s.identifier_attribute
    if code not in clean or all(clean[code] == i for i in identifiers):
        return {}
    return {code: f"'{code}' is the identifier attribute: its value is the product's key and cannot be changed, "
                  "copied to other products or cleared through values (renaming a product is not supported); "
                  "leave it out"}


def gtin_error(attribute: str, value: Any) -> str | None:
    """Why a person's `value` of `attribute` cannot be stored: a GTIN attribute's text that is no GTIN with its
    check digit (imports leave such a value out; a person is told at once). None: it can."""
    if isinstance(value, str) and is_gtin_attribute(attribute) and (wrong := gtin_problem(value)):
        return f"{wrong}: check the number (a GTIN-8, -12, -13 or -14 ends in its check digit)"
    return None


def text_value(attr: Any, raw: str, measures: Measures | None = None) -> Any:
    """A one-field entry (the grid's mass edit) → the value pim.values.normalize takes: a metric as
    `12.5 KILOGRAM`, `12.5 kg` or `12.5 KGM` (any spelling of a unit of the attribute's measurement family in
    `measures`, the structure's catalogue; or `12.5`, in the default unit), prices as `EUR 19.99, USD 21`
    (either order, decimal point or comma), multi-select options comma- or bar-separated; empty is None."""
    raw = raw.strip()
    if attr.type == AttributeType.multi_select:
        return [v.strip() for v in raw.replace("|", ",").split(",") if v.strip()]
    if raw == "" and attr.type in (AttributeType.metric, AttributeType.price_collection):
        return None
    if attr.type == AttributeType.metric:
        return metric_text(attr, raw, measures or builtin())
    if attr.type == AttributeType.price_collection:
        return prices_text(raw)
    return raw


def apply_values(store: Store, identifier: str, changes: dict[str, Any], actor: str, *,
                 structure: Structure | None = None, expected: dict[str, Any] | None = None) -> EditResult:
    """Validate all, then write all (or nothing). `actor` is the user name; the source is `content`.
    `expected`: key → the value the editor's page showed; a key stored otherwise now is `stale`, left out."""
    s = structure or store.structure()
    product = store.get_product(identifier)
    if product is None:
        return EditResult(None, {"identifier": f"no product '{identifier}'"})
    clean, errors = validate(changes, s)
    errors.update(key_rewrites(s, clean, [identifier]))
    if not errors and product.parent:  # a variant holds its own level's values only (pim.variant_levels)
        errors = VariantLevels(s).variant_edit_errors(store, product, clean)
    if errors:
        return EditResult(product, errors)
    stale = _stale(product, clean, expected)
    edits = {k: v for k, v in clean.items() if product.values.get(k) != v and k not in stale}  # showing: no claim
    if not edits:
        return EditResult(product, stale=stale)
    strays = _strays(s, product.family, edits)
    drop = _StrayDrop(store, identifier, product, strays, actor, now())
    edits = {k: v for k, v in edits.items() if k not in strays}
    try:
        if edits:
            return _merge_edits(store, s, product, edits, drop, stale)
        with store.begin() as conn:
            drop(conn)
    except InputError as exc:  # gone, or moved to another family, since it was read: nothing was written
        return EditResult(None if exc.field == "identifier" else product, {exc.field or "identifier": exc.in_one_line()})
    return EditResult(drop.after or product, changed=drop.gone, stale=stale)


def _merge_edits(store: Store, s: Structure, product: Product, edits: dict[str, Any], drop: _StrayDrop,
                 stale: dict[str, Stale]) -> EditResult:
    """Merge a person's edits as the content team's claim, and remove `drop`'s values in the same transaction
    (the merge write's hook), so the edit is written whole or not at all."""
    from pim.merge import Merger, home_precedence

    identifier, actor, stamp = product.identifier, drop.actor, drop.stamp
    held = _held(store, identifier, product, edits)
    record = Product(identifier=identifier, values=edits, source=Provenance(source="content", ref=f"user:{actor}",
                                                                            at=stamp))
    logged = _Logged({identifier: edits}, actor, stamp)
    _, rejects = Merger(home_precedence(), create_missing=False, keep_axes=True).bind(s).write(store, [record],
                                                                                               also=drop.after_merge(logged))
    if rejects:
        return EditResult(product, {r.field: r.reason for r in rejects})
    updated = store.get_product(identifier) or product
    outranked = _outranked(updated, edits)
    return EditResult(updated, changed=[*logged.keys(identifier), *drop.gone], outranked=outranked, stale=stale,
                      why=_why(outranked, edits, held))


def _strays(s: Structure, family: str | None, edits: dict[str, Any]) -> list[str]:
    """The cleared keys of attributes `family` lacks (values a family change left behind; no identifier)."""
    attrs = set(s.families[family].attributes) if family in s.families else None
    return [k for k, v in edits.items() if attrs is not None and v is None and (a := split_key(k)[0]) not in attrs
            and s.attributes[a].type != AttributeType.identifier]


class _StrayDrop:
    """Removes a product's (or, as `model:<code>`, a product model's) values of attributes its family lacks
    (`keys`), whoever stored them, with their history rows, in the transaction it is called with. No source may
    claim such a value any more (the merge refuses it), so a person's clear cannot be a claim withdrawn for the
    next source's value to show: the value goes, and the claims kept on it go as a merge's withdrawn last claim
    does (pim.merge.claims_withdrawn). Clearing never makes data invalid. Read under the catalog's write lock, as
    a person's pick is (pim.merge.locked_record); a record gone or given another family (variant) since the edit
    was checked (`was`: the record as read then) is an InputError (the caller's transaction rolls back)."""

    def __init__(self, store: Store, identifier: str, was: Product | ProductModel, keys: list[str], actor: str,
                 stamp: Any) -> None:
        self.store, self.identifier, self.placed, self.keys = store, identifier, _placed(was), keys
        self.actor, self.stamp = actor, stamp
        self.after: Product | ProductModel | None = None
        self.gone: list[str] = []

    def after_merge(self, logged: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """The merge write's hook of an edit: its history (`logged`), then this drop unless the merge refused."""
        def also(conn: Any, plan: Any) -> None:
            logged(conn, plan)
            if not plan.rejects:
                self(conn)
        return also

    def __call__(self, conn: Any) -> None:
        from pim.merge import claims_withdrawn, locked_record, write_record

        if not self.keys:
            return
        ident = self.identifier
        before = locked_record(self.store, conn, ident)
        if _placed(before) != self.placed:
            kind = "product" if isinstance(before, Product) else "product model"
            raise InputError(f"the family of '{ident}' changed while it was edited (now '{before.family}')",
                             field=self.keys[0], hint=f"reload the {kind} and edit it again")
        gone = [k for k in self.keys if k in before.values]
        if not gone:
            self.after = before
            return
        after = before.model_copy(update={"values": {k: v for k, v in before.values.items() if k not in gone},
                                          "provenance": {k: v for k, v in before.provenance.items() if k not in gone}})
        write_record(self.store, conn, after, claims_withdrawn(conn, ident, gone))
        conn.execute(insert(HISTORY), [history_row(ident, k, before.values[k], None, self.actor, "content",
                                                   self.stamp) for k in gone])
        self.after, self.gone = after, gone


def _placed(record: Product | ProductModel) -> tuple[str | None, str | None]:
    """What decides the family a record's values are checked against: its own, a model's family variant's."""
    return record.family, getattr(record, "family_variant", None)


#: Products one mass edit reaches (the grid's filter-wide edit, the API's list); more: an import.
BULK_MAX = 10_000


@dataclass
class BulkResult:
    errors: dict[str, str] = field(default_factory=dict)
    changed: int = 0  # products whose shown value changed
    unchanged: int = 0  # already showing it
    outranked: int = 0  # a set kept aside: another source ranks first (a clear keeps nothing aside)
    missing: list[str] = field(default_factory=list)  # identifiers not in the catalog
    on_models: int = 0  # variants left as they are: their models hold the attribute (edit those)
    #: the product models that hold those values for them, where the edit goes instead (PATCH /models/{code})
    models: list[str] = field(default_factory=list)
    #: identifier → why its edit was refused, nothing of it written (a sibling's axis values, an emptied axis)
    refused: dict[str, str] = field(default_factory=dict)
    #: An emptied value withdraws the content team's claim, so a clear is counted by what shows after it:
    emptied: int = 0  # cleared, now empty (also in `changed`)
    #: cleared, now showing another source's value: that source → how many (also in `changed`)
    fell_back: dict[str, int] = field(default_factory=dict)
    not_theirs: int = 0  # left showing another source's value: nothing of the content team's showed to clear


def apply_bulk(store: Store, identifiers: list[str], changes: dict[str, Any], actor: str, *,
               structure: Structure | None = None, batch: int = 500) -> BulkResult:
    """The same values on many products (a mass edit from the grid): validated once, merged a batch at a
    time as the content team's claims, every shown change in the history. Nothing is written when a value is
    wrong. Prices set some currencies: a product's other currencies stay as they are. A product whose edit the
    merge refuses (it would share a sibling's axis values, or empty an axis) is `refused`, with why."""
    from pim.merge import EMPTY, Merger, home_precedence

    s = structure or store.structure()
    clean, errors = validate(changes, s)
    errors.update(key_rewrites(s, clean, identifiers))
    out = BulkResult(errors=errors)
    if errors or not clean:
        return out
    merger = Merger(home_precedence(), create_missing=False, keep_axes=True).bind(s)
    levels = VariantLevels(s)
    misplaced: dict[str, set[str]] = {}  # parent model → the models holding values of the edit its variants may not
    held_by: set[str] = set()  # every such model: where the edit goes instead (out.models)
    prices = {k for k in clean if s.attributes[split_key(k)[0]].type == AttributeType.price_collection}
    for start in range(0, len(identifiers), batch):
        chunk = list(dict.fromkeys(identifiers[start:start + batch]))
        before = {p.identifier: p for p in store.iter_products(identifiers=chunk)}
        out.missing += [i for i in chunk if i not in before]
        stamp = now()
        prov = Provenance(source="content", ref=f"user:{actor}", at=stamp)
        records = []
        for ident, product in before.items():
            if product.parent and product.parent not in misplaced:  # one model read per parent, not per variant
                misplaced[product.parent] = _holding_models(store, levels, product, clean)
            if product.parent and misplaced[product.parent]:
                out.on_models += 1  # the value would hide its model's (pim.variant_levels)
                held_by.update(misplaced[product.parent])
                continue
            wanted = {k: {**(product.values.get(k) or {}), **v} if k in prices and v else v for k, v in clean.items()}
            edits = {k: v for k, v in wanted.items() if product.values.get(k) != v}
            if edits:
                records.append(Product(identifier=ident, values=edits, source=prov))
            else:
                out.unchanged += 1
        if not records:
            continue
        logged = _Logged({r.identifier: r.values for r in records}, actor, stamp)
        _, rejects = merger.write(store, records, also=logged)
        said = {r.identifier: r.reason for r in rejects}  # refused siblings: not kept aside by precedence
        out.refused.update(said)
        taken = [r for r in records if r.identifier not in said]
        after = {p.identifier: p for p in store.iter_products(identifiers=[r.identifier for r in taken])}
        for r in taken:
            new = after.get(r.identifier, before[r.identifier])
            if all(v in EMPTY for v in r.values.values()):
                _count_clear(out, new, r.values, bool(logged.keys(r.identifier)))
                continue
            shown = all(new.values.get(k) == v for k, v in r.values.items())
            out.changed += bool(logged.keys(r.identifier)) and shown
            out.outranked += not shown
    out.models = sorted(held_by)
    return out


def _holding_models(store: Store, levels: VariantLevels, product: Product, clean: dict[str, Any]) -> set[str]:
    """The models that hold the values of `clean` a variant may not hold itself (empty: it may hold them all)."""
    from pim.variant_levels import below

    chain = store.ancestors(product)
    if not chain:
        return set()
    at = below(model_placement(chain[0].family_variant, chain[0].parent))
    lineage = [m.code for m in chain]
    wrong = levels.misplaced(at, clean)
    return {levels.holder(at, split_key(k)[0], lineage) or product.parent or "" for k in wrong} - {""}


def _count_clear(out: BulkResult, new: Product, cleared: dict[str, Any], changed: bool) -> None:
    """A product's clear by what it shows after: empty, another source's value that showed through (the
    content team's withdrawn), or another source's value as before (none of the content team's showed). A
    clear is never "kept aside": nothing of it is kept."""
    if not changed:
        out.not_theirs += 1
        return
    out.changed += 1
    shown = [k for k in cleared if new.values.get(k) is not None]
    if not shown:
        out.emptied += 1
        return
    source = _source(new, shown[0]) or ""
    out.fell_back[source] = out.fell_back.get(source, 0) + 1


def apply_model_values(store: Store, code: str, changes: dict[str, Any], actor: str, *,
                       structure: Structure | None = None, expected: dict[str, Any] | None = None) -> EditResult:
    """The same for a product model (a value its variants inherit, edited from a variant's page): one edit
    reaches every variant below the model. The result's `product` is None; history is kept under
    `model:<code>`. A value of an attribute the family lacks, cleared, goes as a product's does (_StrayDrop)."""
    from pim.merge import MODEL_KEY, Merger, home_precedence, write_merged
    from pim.product import partial_model

    s = structure or store.structure()
    model = store.get_model(code)
    if model is None:
        return EditResult(None, {"model": f"no product model '{code}'"})
    clean, errors = validate(changes, s)
    family = s.family_of_variant(model.family_variant) or model.family
    strays = _strays(s, family, clean)  # cleared values a family change left behind: on no level either
    if not errors:
        errors = VariantLevels(s).edit_errors(model_placement(model.family_variant, model.parent),
                                              {k: v for k, v in clean.items() if k not in strays}, model.parent,
                                              product=False)
    if errors:
        return EditResult(None, errors)
    stale = _stale(model, clean, expected)
    edits = {k: v for k, v in clean.items() if model.values.get(k) != v and k not in stale}
    if not edits:
        return EditResult(None, stale=stale)
    ident, stamp = MODEL_KEY + code, now()
    drop = _StrayDrop(store, ident, model, [k for k in strays if k in edits], actor, stamp)
    edits = {k: v for k, v in edits.items() if k not in strays}
    try:
        if not edits:
            with store.begin() as conn:
                drop(conn)
            return EditResult(None, changed=drop.gone, stale=stale)
        held = _held(store, ident, model, edits)
        record = partial_model(code, edits, Provenance(source="content", ref=f"user:{actor}", at=stamp), {})
        merger = Merger(home_precedence(), create_missing=False, keep_axes=True).bind(s)
        logged = _Logged({ident: edits}, actor, stamp)
        _, plan = write_merged(store, lambda: merger.prepare(store, [], [record]), also=drop.after_merge(logged))
    except InputError as exc:  # gone, or moved to another family, since it was read: nothing was written
        return EditResult(None, {"model" if exc.field == "identifier" else exc.field or "model": exc.in_one_line()})
    if plan.rejects:
        return EditResult(None, {r.field: r.reason for r in plan.rejects})
    updated = store.get_model(code) or model
    outranked = _outranked(updated, edits)
    return EditResult(None, changed=[*logged.keys(ident), *drop.gone], outranked=outranked, stale=stale,
                      why=_why(outranked, edits, held))


def history_row(target: str, value_key: str, old: Any, new: Any, actor: str, source: str, at: Any) -> dict[str, Any]:
    """One row of the history table: what `target` (a product, or `model:<code>`) showed before and after."""
    return {"product": target, "value_key": value_key, "old": old, "new": new, "actor": actor, "source": source,
            "at": at}


def _history_rows(key: str, before: Any, after: Any, edits: dict[str, Any], actor: str, stamp: Any) -> list[dict[str, Any]]:
    """One history row per edited value whose shown value changed (`key`: the product, or `model:<code>`)."""
    return [history_row(key, k, before.values.get(k), after.values.get(k), actor, "content", stamp)
            for k in edits if after.values.get(k) != before.values.get(k)]


class _Logged:
    """The history of a person's edit, written inside the edit's own transaction (`write_merged`'s hook), so an
    edit and its history rows are stored together or not at all. `edits`: target (a product, or
    `model:<code>`) → its edited values. Before and after are the plan's: what the merge read (still stored:
    the write checks it) and what it wrote."""

    def __init__(self, edits: dict[str, dict[str, Any]], actor: str, stamp: Any) -> None:
        self.edits, self.actor, self.stamp = edits, actor, stamp
        self.logged: dict[str, list[str]] = {}

    def __call__(self, conn: Any, plan: Any) -> None:
        from pim.merge import MODEL_KEY

        rows: list[dict[str, Any]] = []
        for ident, delta in plan.deltas.items():
            rows += _history_rows(ident, delta.before, delta.after, self.edits[ident], self.actor, self.stamp)
        for after in plan.models:
            key = MODEL_KEY + after.code
            before = plan.models_before.get(after.code)
            if key in self.edits and before is not None:
                rows += _history_rows(key, before, after, self.edits[key], self.actor, self.stamp)
        self.logged = {}
        for row in rows:
            self.logged.setdefault(row["product"], []).append(row["value_key"])
        if rows:
            conn.execute(insert(HISTORY), rows)

    def keys(self, target: str) -> list[str]:
        """The value keys whose history rows were written for `target` (a product, or `model:<code>`)."""
        return self.logged.get(target, [])


#: History's value key of an association type a person picked a claim for (`association UPSELL`).
ASSOCIATION_KEY = "association "


def shown_of(record: Any, value_key: str) -> Any:
    """What a product or model shows for a value key, or for `association <TYPE>` the targets of that
    association (with their quantities: `b ×2`) as one line of text; None when it shows nothing."""
    if not value_key.startswith(ASSOCIATION_KEY):
        return record.values.get(value_key)
    assoc = record.associations.get(value_key[len(ASSOCIATION_KEY):])
    if assoc is None:
        return None
    counted = assoc.quantities
    return ", ".join([*(f"{p} ×{counted[p]}" if p in counted else p for p in assoc.products),
                      *(f"model {m}" + (f" ×{counted[m]}" if m in counted else "") for m in assoc.product_models),
                      *(f"group {g}" for g in assoc.groups)]) or None


class ChoiceLog:
    """A person's choice between sources (a conflict's winner, a kept value, an association claim) on
    `target`, for the history: handed to the pick as its `log` (pim.merge.RecordHook), it writes a row inside
    the pick's own transaction when the choice changed what `target` shows (`source`: the one chosen). A
    refused choice (it raises) writes none."""

    def __init__(self, target: str, value_key: str, actor: str, source: str) -> None:
        kind = type_of_key(value_key)  # the conflict log's `associations:<TYPE>`: the history's `association <TYPE>`
        self.target, self.actor, self.source = target, actor, source
        self.value_key = ASSOCIATION_KEY + kind if kind is not None else value_key

    def __call__(self, conn: Any, before: Any, after: Any) -> None:
        old, new = shown_of(before, self.value_key), shown_of(after, self.value_key)
        if old != new:
            conn.execute(insert(HISTORY), [history_row(self.target, self.value_key, old, new, self.actor,
                                                       self.source, now())])


def _outranked(after: Any, edits: dict[str, Any]) -> dict[str, str]:
    """Edited keys that do not show the content team's edit: key → the source that still shows (or "")."""
    return {k: (_source(after, k) or "") for k, v in edits.items()
            if after.values.get(k) != v or (v is not None and _source(after, k) != "content")}


def _why(outranked: dict[str, str], edits: dict[str, Any], held: set[str]) -> dict[str, str]:
    """Why each outranked key shows another source's value: an edit kept aside (KEPT), or an emptied one that
    withdrew the content team's claim (WITHDRAWN) or found none to withdraw (UNCLAIMED: `held` lacks it)."""
    from pim.merge import EMPTY

    return {k: KEPT if edits[k] not in EMPTY else WITHDRAWN if k in held else UNCLAIMED for k in outranked}


def _held(store: Store, target: str, before: Any, edits: dict[str, Any]) -> set[str]:
    """The emptied keys the content team has a claim on before the edit writes (`before`: the record as
    stored): its value shows, or is kept aside. Reads the kept claims only when some such key shows another's."""
    from pim.merge import EMPTY, candidates_for

    cleared = [k for k, v in edits.items() if v in EMPTY]
    held = {k for k in cleared if _source(before, k) == "content"}
    if len(held) < len(cleared):
        kept = candidates_for(store, target)
        held |= {k for k in cleared if "content" in kept.get(k, {})}
    return held


def _stale(record: Any, clean: dict[str, Any], expected: dict[str, Any] | None) -> dict[str, Stale]:
    """The edited keys whose stored value is no longer what the editor's page showed (`expected`), unless
    the edit is that value anyway: writing them would silently undo someone else's change."""
    out: dict[str, Stale] = {}
    for key, shown in (expected or {}).items():
        now = record.values.get(key)
        if key in clean and now != shown and now != clean[key]:
            out[key] = Stale(now, _changed_by(record, key), clean[key])
    return out


def _changed_by(record: Any, key: str) -> str:
    """Who or what stored `record`'s value of `key`: a person (`ben`), else the source and its record."""
    prov = record.provenance_of(key) if key in record.values else None
    if prov is None:
        return ""
    if prov.source == "content" and prov.ref and prov.ref.startswith("user:"):
        return prov.ref[len("user:"):]
    return prov.source + (f" ({prov.ref})" if prov.ref else "")


def _source(product: Any, key: str) -> str | None:
    prov = product.provenance_of(key) if key in product.values else None
    return prov.source if prov else None


def history(store: Store, identifier: str, limit: int = 200, models: list[str] | None = None) -> list[dict[str, Any]]:
    """Edits of the product, newest first; with `models` (codes of the models it inherits from) their edits
    too (kept under `model:<code>`), since a variant shows those values."""
    keys = [identifier] + [f"model:{c}" for c in models or []]
    q = select(HISTORY).where(HISTORY.c.product.in_(keys)).order_by(HISTORY.c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
