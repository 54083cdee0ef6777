"""Quality on six dimensions — complete, unique, valid, timely, accurate, consistent — as findings that name
the product, the attribute and the reason. The gate blocks on finding kinds a channel lists in `block_on`.

Kinds: incomplete (complete); duplicate_gtin, duplicate_identifier, duplicate_value (unique); invalid,
unknown_association, self_association (valid); stale_price, stale_stock (timely); conflict, rounded_price
(accurate); inconsistent, missing_translation, missing_axis (consistent). NAMED_ONLY kinds block only where a
channel names them (a whole dimension in block_on does not take them in)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_

from pim.catalog import Structure
from pim.completeness import Requirements
from pim.product import Product, merged_values, split_key
from pim.store.store import as_utc
from pim.structure import Attribute, AttributeType, Channel
from pim.values import ValueProblem, normalize

DIMENSIONS = {
    "incomplete": "complete", "duplicate_gtin": "unique", "duplicate_identifier": "unique",
    "duplicate_value": "unique", "invalid": "valid", "unknown_association": "valid", "self_association": "valid",
    "stale_price": "timely", "stale_stock": "timely", "conflict": "accurate", "inconsistent": "consistent",
    "missing_translation": "consistent", "missing_axis": "consistent", "rounded_price": "accurate",
}
#: Kinds a channel blocks on only by their name: `rounded_price` (a price with more decimals than its currency's
#: minor units) is a B2B unit price on a B2B channel blocking `accurate`, and only a consumer channel holds it back.
NAMED_ONLY = frozenset({"rounded_price"})
_GTIN_CODES = {"ean", "ean8", "ean13", "gtin", "gtin8", "gtin12", "gtin13", "gtin14", "upc"}
_UNIT = re.compile(r"^[A-Z][A-Z0-9_]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: Types whose meaning does not change with the language: a localizable one should agree across locales.
_LANGUAGE_FREE = (AttributeType.number, AttributeType.metric, AttributeType.price_collection,
                  AttributeType.boolean, AttributeType.date)
_TEXT = (AttributeType.text, AttributeType.textarea)


@dataclass(frozen=True)
class Finding:
    product: str
    kind: str
    reason: str
    attribute: str | None = None  # the association type, for unknown_association and self_association
    locale: str | None = None
    detail: str | None = None  # what the code names besides: the unknown target of an unknown_association

    @property
    def dimension(self) -> str:
        return DIMENSIONS[self.kind]

    @property
    def code(self) -> str:
        """Machine-readable: `kind[:attribute[:locale]][:detail]`, e.g. `invalid:ean`,
        `missing_translation:name:de_DE`, `unknown_association:X_SELL:NOPE-1` (the gate stores codes only, so
        what the team must fix is named here)."""
        return ":".join(p for p in (self.kind, self.attribute, self.locale, self.detail) if p)


# ---------------------------------------------------------------------------------------------- GTIN and unique
def is_gtin_attribute(code: str) -> bool:
    low = code.lower()
    return low in _GTIN_CODES or low.endswith(("_ean", "_gtin", "_upc"))


def _check_digit(text: str) -> int:
    """The check digit an ASCII-digit GTIN `text` (its own last digit included) should end in: from the right,
    the digits before it weigh 3, 1, 3… (the bytes' sums are taken in C: this runs on every imported GTIN)."""
    raw = text.encode("ascii")
    odd, even = raw[-2::-2], raw[-3::-2]
    return -(3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even)) % 10


#: GTIN length → what its ASCII digits' bytes add to the weighted sum (48 per digit, times its weight 1 or 3)
_BYTE_OFFSET = {n: 48 * ((n + 1) // 2 + 3 * (n // 2)) for n in (8, 12, 13, 14)}


def gtin_ok(text: str) -> bool:
    """Whether `text`, as it stands, is a GTIN-8/12/13/14 with its check digit: `gtin_problem` without the
    message, for the import paths that only need the answer (every imported GTIN: one call, sums taken in C).
    With its check digit (weight 1) and, from the right, the digits before it weighing 3, 1, 3…, a GTIN's
    weighted sum is a multiple of 10."""
    offset = _BYTE_OFFSET.get(len(text))
    if offset is None or not (text.isascii() and text.isdigit()):
        return False
    raw = text.encode()
    return (sum(raw[-1::-2]) + 3 * sum(raw[-2::-2]) - offset) % 10 == 0


def gtin_problem(value: Any) -> str | None:
    """None when `value` is a GTIN-8/12/13/14 with a correct check digit, else what is wrong."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) not in (8, 12, 13, 14):  # not ４ or ², which isdigit() takes
        return f"'{text}' is not a GTIN (8, 12, 13 or 14 digits)"
    if (check := _check_digit(text)) != ord(text[-1]) - 48:
        return f"GTIN {text} has check digit {text[-1]}, expected {check}"
    return None


def unique_attributes(structure: Structure) -> list[str]:
    """Attributes whose values must differ between products: unique ones and GTINs (global values only)."""
    return sorted(code for code, a in structure.attributes.items()
                  if (a.unique or is_gtin_attribute(code) or a.type == AttributeType.identifier)
                  and not a.localizable and not a.scopable)


def unique_form(value: Any, gtin: bool = False) -> str:
    """How a unique value is compared: trimmed, case-folded; GTINs padded to 14 digits (an EAN-13 and its
    GTIN-14 with a leading zero are the same code)."""
    text = str(value).strip().lower()
    return text.zfill(14) if gtin and text.isdigit() else text


def duplicate_kind(attribute: str, structure: Structure) -> str:
    if attribute == structure.identifier_attribute:
        return "duplicate_identifier"
    return "duplicate_gtin" if is_gtin_attribute(attribute) else "duplicate_value"


def find_duplicates(store: Any, structure: Structure, records: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    """Duplicates within `records` and against every stored product (the unique_value table)."""
    ident_attr = structure.identifier_attribute
    others = [(code, is_gtin_attribute(code)) for code in unique_attributes(structure) if code != ident_attr]
    wanted: dict[tuple[str, str], set[str]] = {}
    for ident, values in records.items():
        wanted.setdefault((ident_attr, unique_form(ident)), set()).add(ident)
        for code, gtin in others:
            v = values.get(code)
            if v is not None and v != "" and v != []:
                wanted.setdefault((code, unique_form(v, gtin)[:255]), set()).add(ident)
    holders = {k: set(v) for k, v in wanted.items()}
    if store is not None and wanted:
        _stored_holders(store, list(wanted), holders)
    out = []
    for (attr, value), owners in holders.items():
        if len(owners) < 2:
            continue
        # The first six owners name at most five others for anyone: linear even when thousands share a GTIN.
        first = sorted(owners)[:6]
        for ident in sorted(wanted[(attr, value)]):
            named = ", ".join([o for o in first if o != ident][:5])
            out.append(Finding(ident, duplicate_kind(attr, structure), f"same {attr} as {named}", attr))
    return out


MANY = 20  # a value held by more stored products than this is only read for its first owners


def _stored_holders(store: Any, pairs: list[tuple[str, str]], holders: dict[tuple[str, str], set[str]]) -> None:
    """Add stored owners of each (attribute, value): one GROUP BY finds the shared ones; a value shared by
    many products (a placeholder GTIN) contributes only its first owners, which is all a finding names."""
    from sqlalchemy import func

    from pim.scoring_tables import UNIQUE_VALUE as U

    key = tuple_(U.c.attribute, U.c.value)
    owner = U.c.product.collate("C") if store.engine.dialect.name == "postgresql" else U.c.product
    with store.engine.connect() as conn:
        for i in range(0, len(pairs), 500):
            counts = conn.execute(select(U.c.attribute, U.c.value, func.count()).where(key.in_(pairs[i:i + 500]))
                                  .group_by(U.c.attribute, U.c.value)).all()
            few = [(a, v) for a, v, n in counts if n <= MANY]
            if few:
                for attr, value, product in conn.execute(select(U.c.attribute, U.c.value, U.c.product).where(key.in_(few))):
                    holders[(attr, value)].add(product)
            for attr, value, n in counts:
                if n > MANY:
                    first = conn.execute(select(U.c.product).where(U.c.attribute == attr, U.c.value == value)
                                         .order_by(owner).limit(6)).scalars()
                    holders[(attr, value)].update(first)


# ---------------------------------------------------------------------------------------------- valid
def value_problem(attr: Attribute, data: Any, structure: Structure, channel: Channel) -> str | None:
    """Why a stored value is not valid for its attribute on this channel, or None."""
    if data is None or data == "" or data == []:
        return None
    if is_gtin_attribute(attr.code):
        if problem := gtin_problem(data):
            return problem
    if attr.type in _TEXT and isinstance(data, str):
        limit = channel.gate.text_limits.get(attr.code)
        if limit is not None and len(data) > limit:
            return f"{len(data)} characters, at most {limit} on channel {channel.code}"
    if attr.type in (AttributeType.simple_select, AttributeType.multi_select):
        options = structure.option_codes(attr.code)
        unknown = [c for c in (data if isinstance(data, list) else [data]) if str(c) not in options]
        if unknown:
            return f"option(s) {', '.join(map(str, unknown))} do not exist for {attr.code}"
        return None
    if attr.type == AttributeType.metric and isinstance(data, dict) and data.get("unit"):
        family = structure.measures.family(attr.metric_family)
        if family is not None and str(data["unit"]) not in family.units:  # stored values hold unit codes, not kg
            return structure.measures.unit_problem(family, data["unit"])
        if not _UNIT.match(str(data["unit"])):
            return f"unit '{data['unit']}' is not a unit code (e.g. KILOGRAM)"
    if attr.type == AttributeType.price_collection and isinstance(data, dict):
        for currency in data:
            if not _CURRENCY.match(str(currency)):
                return f"'{currency}' is not an ISO 4217 currency code"
            if structure.currencies and currency not in structure.currencies:
                return f"currency {currency} is not declared in the structure"
    try:
        normalize(attr, data, structure.option_codes(attr.code), structure.measures)
    except ValueProblem as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------- assess
@dataclass
class Context:
    """What a batch needs besides its products (looked up once per batch)."""

    structure: Structure
    channel: Channel
    now: datetime
    requirements: Requirements


def _applies(key: str, channel: Channel) -> tuple[str, str | None] | None:
    code, locale, scope = split_key(key)
    if scope is not None and scope != channel.code:
        return None
    if locale is not None and locale not in channel.locales:
        return None
    return code, locale


def product_findings(product: Product, values: Mapping[str, Any], ctx: Context,
                     kinds: Collection[str] | None = None) -> list[Finding]:
    """Every finding that needs only the product itself: complete, valid, timely (price), consistent.
    `kinds` limits the work to those finding kinds (None: all)."""
    out: list[Finding] = []
    structure, channel = ctx.structure, ctx.channel
    if kinds is None or "incomplete" in kinds:
        for score in ctx.requirements.score(product.family, values, product.identifier, channels=[channel.code]):
            if score.missing:
                out.append(Finding(product.identifier, "incomplete",
                                   f"{score.ratio}% on {score.locale}: missing {', '.join(score.missing)}", locale=score.locale))
    check_valid = kinds is None or "invalid" in kinds
    max_price_age = channel.gate.max_price_age_days if kinds is None or "stale_price" in kinds else None
    if check_valid or max_price_age is not None:
        for key, data in values.items():
            where = _applies(key, channel)
            attr = structure.attributes.get(where[0]) if where else None
            if attr is None or where is None:
                continue
            if check_valid and (problem := value_problem(attr, data, structure, channel)):
                out.append(Finding(product.identifier, "invalid", problem, attr.code, where[1]))
            if attr.type == AttributeType.price_collection and max_price_age is not None and data:
                prov = product.provenance_of(key)
                if prov is None:
                    out.append(Finding(product.identifier, "stale_price", "price has no provenance time", attr.code))
                elif ctx.now - as_utc(prov.at) > timedelta(days=max_price_age):
                    out.append(Finding(product.identifier, "stale_price",
                                       f"price from {prov.at:%Y-%m-%d} is older than {max_price_age} days", attr.code))
    if kinds is None or "rounded_price" in kinds:
        out.extend(rounded_price_findings(product.identifier, values, structure, channel))
    if kinds is None or "inconsistent" in kinds or "missing_translation" in kinds:
        out.extend(f for f in consistency_findings(product.identifier, values, structure, channel)
                   if kinds is None or f.kind in kinds)
    return out


def rounded_price_findings(identifier: str, values: Mapping[str, Any], structure: Structure,
                           channel: Channel) -> list[Finding]:
    """Prices in the channel's currencies with more decimals than the currency's minor units (USD 13.999): kept
    as typed, since B2B unit prices go below the cent, but a consumer channel rounds them (pim.currencies.
    shelf_price), so the team is told what the shop will show. Code: `rounded_price:<attribute>:<currency>`."""
    from decimal import InvalidOperation

    from pim.currencies import shelf_note

    out = []
    for key, data in values.items():
        where = _applies(key, channel) if isinstance(data, dict) and data else None
        attr = structure.attributes.get(where[0]) if where else None
        if attr is None or attr.type != AttributeType.price_collection:
            continue
        for currency, amount in sorted(data.items()):
            if currency not in channel.currencies or amount in (None, ""):
                continue
            try:
                note = shelf_note(str(amount), currency)
            except (InvalidOperation, ValueError):
                continue  # not a number: `invalid` says so
            if note:
                out.append(Finding(identifier, "rounded_price", note, attr.code, where[1], currency))  # type: ignore[index]
    return out


def consistency_findings(identifier: str, values: Mapping[str, Any], structure: Structure, channel: Channel) -> list[Finding]:
    out = []
    for code, attr in structure.attributes.items():
        if not attr.localizable:
            continue
        locales = [l for l in channel.locales if not attr.available_locales or l in attr.available_locales]
        scope = channel.code if attr.scopable else None
        by_locale = {l: values.get(f"{code}:{l}" + (f"@{scope}" if scope else "")) for l in locales}
        filled = {l: v for l, v in by_locale.items() if v not in (None, "", [])}
        if not filled:
            continue
        if attr.type in _LANGUAGE_FREE:
            distinct = {repr(v) for v in filled.values()}
            if len(distinct) > 1:
                shown = "; ".join(f"{l}={v}" for l, v in sorted(filled.items()))
                out.append(Finding(identifier, "inconsistent", f"differs across locales: {shown}", code))
        elif attr.type in _TEXT or attr.type in (AttributeType.simple_select, AttributeType.multi_select):
            for loc in locales:
                if loc not in filled:
                    out.append(Finding(identifier, "missing_translation",
                                       f"filled in {', '.join(sorted(filled))} but not in {loc}", code, loc))
    return out


def inherited(store: Any, products: list[Product], cache: dict[str, list[Any]] | None = None) -> dict[str, dict[str, Any]]:
    """identifier → values including what variants inherit from their product models. `cache` (parent code →
    ancestors) may be shared across batches of one stream."""
    cache = {} if cache is None else cache
    out = {}
    for p in products:
        if p.parent and store is not None:
            if p.parent not in cache:
                cache[p.parent] = store.ancestors(p)
            out[p.identifier] = merged_values(p, cache[p.parent])
        else:
            out[p.identifier] = dict(p.values)
    return out


UNIQUE_KINDS = frozenset({"duplicate_gtin", "duplicate_identifier", "duplicate_value"})
#: Kinds found from the store alone: asked only for these, a batch's inherited values are not built.
ASSOCIATION_KINDS = frozenset({"unknown_association", "self_association"})
STORE_KINDS = frozenset({"stale_stock", "conflict", "missing_axis"}) | ASSOCIATION_KINDS


def assess(store: Any, structure: Structure, channel: str, products: Iterable[Product], *,
           now: datetime | None = None, requirements: Requirements | None = None,
           values: dict[str, dict[str, Any]] | None = None,
           kinds: Collection[str] | None = None) -> dict[str, list[Finding]]:
    """Findings of one batch of products on one channel (identifier → findings, every product present).
    `values` (identifier → inherited values) saves a lookup when the caller already has them; `kinds` limits
    the work (and the findings) to those kinds — the gate asks only for what the channel blocks on."""
    batch = list(products)
    kinds = None if kinds is None else frozenset(kinds)
    ch = structure.channels[channel]
    ctx = Context(structure, ch, now or datetime.now(UTC), requirements or Requirements(structure))
    if values is None and (kinds is None or kinds - STORE_KINDS):
        values = inherited(store, batch)
    found: dict[str, list[Finding]] = {p.identifier: product_findings(p, values[p.identifier], ctx, kinds)
                                       if values is not None else [] for p in batch}
    if kinds is None or kinds & UNIQUE_KINDS:
        for f in find_duplicates(store, structure, values or {}):
            if kinds is None or f.kind in kinds:
                found[f.product].append(f)
    if store is not None:
        if kinds is None or "stale_stock" in kinds:
            for f in _stock_findings(store, batch, ch, ctx.now):
                found[f.product].append(f)
        if kinds is None or "conflict" in kinds:
            for f in _conflict_findings(store, batch):
                found[f.product].append(f)
        if kinds is None or kinds & ASSOCIATION_KINDS:
            for f in association_findings(store, batch):
                if kinds is None or f.kind in kinds:
                    found[f.product].append(f)
        if kinds is None or "missing_axis" in kinds:
            for f in axis_findings(store, structure, batch):
                found[f.product].append(f)
    return found


def axis_findings(store: Any, structure: Structure, batch: list[Product]) -> list[Finding]:
    """Variant products without their own value of an axis of their level (axes live at the variant's level,
    never inherited): nothing tells such a variant apart from its siblings. An import takes it in (another
    source may send the value later) and notes it with the same reason (pim.variant_levels); this lists it until
    it is set. A sub-model without its own axis value is reported on each variant below it, naming it (the
    scorer scores products, as a model's conflicts are): those variants cannot be told apart from its siblings'.
    One query for the models."""
    from pim.variant_levels import Child, SiblingAxes, gap_reason

    axes = SiblingAxes.of(structure)
    children = [Child(p.identifier, False, p.parent) for p in batch if p.parent]
    if axes is None or not children:
        return []
    with store.engine.connect() as conn:
        above = axes.model_gaps(conn, {c.parent for c in children if c.parent})
    values = {p.identifier: p.values for p in batch}
    out: list[Finding] = []
    for c in children:
        out += [Finding(c.key, "missing_axis", gap_reason(c, axis), axis) for axis in axes.missing(c, values[c.key])]
        out += [Finding(c.key, "missing_axis", reason, axis) for axis, reason in above.get(c.parent or "", ())]
    return out


def _stock_findings(store: Any, batch: list[Product], channel: Channel, now: datetime) -> list[Finding]:
    max_age = channel.gate.max_stock_age_days
    if max_age is None:
        return []
    from pim.commerce import stock_for

    stock = stock_for(store, [p.identifier for p in batch])
    out = []
    for p in batch:
        level = stock.get(p.identifier)
        if level is None or level.updated_at is None:
            out.append(Finding(p.identifier, "stale_stock", "no stock reading"))
        elif now - as_utc(level.updated_at) > timedelta(days=max_age):
            out.append(Finding(p.identifier, "stale_stock",
                               f"stock from {level.updated_at:%Y-%m-%d} is older than {max_age} days"))
    return out


def _conflict_findings(store: Any, batch: list[Product]) -> list[Finding]:
    """Open conflicts of the products, and of the models their variants inherit from (a finding of each
    variant: what it shows is undecided)."""
    from pim.conflicts import model_keys, open_conflicts

    chains = model_keys(store, [p.parent for p in batch if p.parent])
    heirs: dict[str, list[str]] = {}
    for p in batch:
        for key in chains.get(p.parent, []) if p.parent else []:
            heirs.setdefault(key, []).append(p.identifier)
    out = []
    for c in open_conflicts(store, [p.identifier for p in batch] + sorted(heirs)):
        reason = f"sources disagree on {c.value_key}: {', '.join(sorted(c.claims))}"
        for who in heirs.get(c.identifier, [c.identifier]):
            out.append(Finding(who, "conflict", reason if who == c.identifier else f"{reason} (model "
                               f"{c.identifier.partition(':')[2]})", c.attribute))
    return out


#: Unknown targets named one by one per product and association type; past this, one finding counts the rest.
NAMED_TARGETS = 10


def association_findings(store: Any, batch: list[Product]) -> list[Finding]:
    """Association targets that no stored product (or product model, named `model:<code>`) has: a typo, or a
    target a later import has yet to bring. Not rejected on import for that reason; flagged here, one finding
    per unknown target. And a product among its own targets (`self_association`): the content import leaves
    such a link out, but another source (an Akeneo export, a BMEcat reference) may have stored one, and a
    publish leaves it out (pim.pipeline.PublishedTargets). One query for the batch's product targets and one
    for its model targets. Group targets are not checked: the catalog keeps no registry of groups (a product's
    `groups` lists the codes it is in, unindexed JSON), so a group nobody is in yet cannot be told from a typo."""
    products: set[str] = set()
    models: set[str] = set()
    for p in batch:
        for a in p.associations.values():
            products.update(a.products, a.quantities)
            models.update(a.product_models)
    products -= {p.identifier for p in batch}  # a product the caller built is in the catalog it is checked with
    known = store.existing_identifiers(sorted(products)) if products else set()
    known |= {p.identifier for p in batch}
    known_models = store.existing_model_codes(sorted(models)) if models else set()
    out: list[Finding] = []
    for p in batch:
        for code, a in p.associations.items():
            if p.identifier in a.products or p.identifier in a.quantities:
                out.append(Finding(p.identifier, "self_association", f"{code} links {p.identifier} to itself (a "
                                   "product is no association of its own; publishing leaves the link out): take it "
                                   "out where the link comes from and import again", code))
            unknown = [t for t in dict.fromkeys([*a.products, *a.quantities]) if t not in known]
            unknown += [f"model:{m}" for m in dict.fromkeys(a.product_models) if m not in known_models]
            out.extend(Finding(p.identifier, "unknown_association", f"{code} links to {t}, which is not in the catalog",
                               code, detail=t) for t in unknown[:NAMED_TARGETS])
            if len(unknown) > NAMED_TARGETS:
                rest = len(unknown) - NAMED_TARGETS
                out.append(Finding(p.identifier, "unknown_association",
                                   f"{code} links to {rest} more targets that are not in the catalog", code,
                                   detail=f"+{rest} more"))
    return out

