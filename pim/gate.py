"""The publishing gate: whether a product may be published on a channel, and why not.

CONTRACT (other areas code against this):
- `evaluate(store, structure, channel, products)` yields (product, reasons) for every product; an empty
  reasons list means it passes. Reasons are short machine-readable strings such as
  "completeness:en_US:80<100", "missing:description:en_US", "duplicate_gtin:ean", "invalid:ean", "stale_price:price".
- `gate_stage` is the publish stage (registered in pim.registry.STAGES): it passes products that satisfy
  the channel's GateRules and records the others' reasons in ctx.blocked, and stores every decision
  (`decisions`, table gate_decision) so the UI and the search exporter can read the last one.

Rules: every locale of the channel the publication writes (ctx.options[LOCALES], set by pim.pipeline from the
catalog's `locales:`, or the one in ctx.options["locale"]; all of the channel's otherwise) must reach
`min_completeness`; a
product without a family has no completeness and is blocked ("no_family") unless min_completeness is 0;
findings whose kind (or dimension, e.g. "valid") is in `block_on` block. A run judging only some of the
channel's locales does not store its decisions: the stored one (the UI's, `pim gate report`'s) is the channel's.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, String, Text, and_, any_, bindparam, cast, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from pim.catalog import Structure
from pim.completeness import Requirements
from pim.product import Product
from pim.protocols import PublishContext
from pim.quality import DIMENSIONS, NAMED_ONLY, STORE_KINDS, UNIQUE_KINDS, duplicate_kind, assess, inherited, unique_attributes
from pim.scoring_tables import COMPLETENESS, GATE_COUNT, GATE_DECISION, UNIQUE_VALUE
from pim.store.store import PRODUCT, as_utc, batched
from pim.structure import AttributeType

BATCH = 1000
#: Where a publish puts, in ctx.options, the locales its outputs hold when they are not all of the channel's.
LOCALES = "gate_locales"
#: Set (True) in ctx.options by a publish whose renderer writes one output per locale (Google Merchant's feeds):
#: a product passes when some judged locale holds nothing against it, and PARTIAL (identifier → locale →
#: reasons) tells the renderer which outputs to keep it from.
PER_LOCALE = "gate_per_locale"
PARTIAL = "gate_partial"
HELD_CHUNK = 5000  # products held back for a shared value, bound per statement (one array on PostgreSQL)


def reasons_for(product: Product, findings: list[Any], structure: Structure, channel: str,
                locales: list[str] | None, requirements: Requirements, values: dict[str, Any] | None = None) -> list[str]:
    rules = structure.channels[channel].gate
    wanted = locales or structure.channels[channel].locales
    reasons: list[str] = []
    if rules.min_completeness > 0:
        if not product.family or product.family not in structure.families:
            reasons.append("no_family")
        scores = requirements.score(product.family, values if values is not None else product.values,
                                    product.identifier, channels=[channel])
        for s in scores:
            if s.locale in wanted and s.ratio < rules.min_completeness:
                reasons.append(f"completeness:{s.locale}:{s.ratio}<{rules.min_completeness}")
                reasons.extend(f"missing:{attr}:{s.locale}" for attr in s.missing)
    blocking = blocking_kinds(structure, channel)
    for f in findings:
        if f.kind in blocking and (f.locale is None or f.locale in wanted):
            reasons.append(f.code)
    return list(dict.fromkeys(reasons))


def blocking_kinds(structure: Structure, channel: str) -> frozenset[str]:
    """Finding kinds that block on `channel` (block_on names kinds or whole dimensions; NAMED_ONLY kinds only by
    their name)."""
    blocking = set(structure.channels[channel].gate.block_on)
    return frozenset(k for k, d in DIMENSIONS.items() if k in blocking or (d in blocking and k not in NAMED_ONLY))


class _Gate:
    """Decides batches of one stream: completeness is read from the stored rows (kept current by the write
    listener) and recomputed only for a product without them, or whose family's rows wait for a rescore job
    that has not succeeded (pim.rescore_jobs: stale, never trusted); only the quality kinds the channel
    blocks on are assessed; product models are looked up once per stream."""

    def __init__(self, store: Any, structure: Structure, channel: str, locales: list[str] | None,
                 now: datetime | None) -> None:
        self.store, self.s, self.channel, self.now = store, structure, channel, now
        self.rules = structure.channels[channel].gate
        self.scope_locales = structure.channels[channel].locales
        # a locale the channel lacks is judged nowhere: the channel's own then, never none (nothing would block)
        self.wanted = [l for l in self.scope_locales if l in locales] if locales else []
        self.wanted = self.wanted or self.scope_locales
        self.kinds = blocking_kinds(structure, channel)
        self.requirements = Requirements(structure)
        self.models: dict[str, list[Any]] = {}
        self.stale: frozenset[str] = frozenset()
        if store is not None and self.rules.min_completeness > 0:
            from pim.completeness import settle_asset_rules
            from pim.rescore_jobs import stale_families

            settle_asset_rules(store)  # a change of the image rules leaves rescore jobs: their families are scored here
            self.stale = stale_families(store, channel)

    def decide(self, batch: list[Product]) -> list[list[str]]:
        return [reasons_of(tags) for tags in self.tagged(batch)]

    def tagged(self, batch: list[Product]) -> list[list[tuple[str | None, str]]]:
        """Each product's reasons with the locale each is about (None: every locale: no family, a duplicate
        GTIN), in the order `decide` gives them."""
        if len(self.models) > 20_000:
            self.models.clear()
        need_values = bool(self.kinds - STORE_KINDS)
        values = inherited(self.store, batch, self.models) if need_values else None
        found = (assess(self.store, self.s, self.channel, batch, now=self.now, requirements=self.requirements,
                        values=values, kinds=self.kinds) if self.kinds else {})
        stored = self._stored(batch) if self.rules.min_completeness > 0 and self.store is not None else {}
        scored = self.rules.min_completeness > 0
        here = [p for p in batch if self._scored_here(p, stored.get(p.identifier))] if scored else []
        if here and values is None:
            values = inherited(self.store, here, self.models)
        invalid = self._invalid_assets(here, values) if here else frozenset()
        out = []
        for p in batch:
            tags = self._completeness(p, stored.get(p.identifier), values, invalid) if scored else []
            for f in found.get(p.identifier, ()):
                if f.locale is None or f.locale in self.wanted:
                    tags.append((f.locale, f.code))
            out.append(tags)
        return out

    def _scored_here(self, p: Product, rows: dict[str, tuple[str, int, Any]] | None) -> bool:
        """Whether `p` is scored here rather than read: not stored (a product the caller built), stored under
        another family, or its family's rescore is still pending (its rows may be stale)."""
        return (rows is None or p.family in self.stale
                or any(l not in rows or rows[l][0] != p.family for l in self.scope_locales))

    def _invalid_assets(self, products: list[Product], values: dict[str, dict[str, Any]] | None) -> frozenset[str]:
        """The required image/file refs of `products` the asset-validity hooks reject, one call per batch, so
        a product scored here counts a broken image as missing, as its stored rows would."""
        from pim.rescore import invalid_assets

        if self.store is None:
            return frozenset()
        records = {p.identifier: (p.family, (values or {}).get(p.identifier, p.values)) for p in products}
        with self.store.engine.connect() as conn:
            return frozenset(invalid_assets(conn, records, self.requirements))

    def _completeness(self, p: Product, rows: dict[str, tuple[str, int, Any]] | None,
                      values: dict[str, dict[str, Any]] | None,
                      invalid: frozenset[str] = frozenset()) -> list[tuple[str | None, str]]:
        reasons: list[tuple[str | None, str]] = []
        plan = self.requirements.plan(p.family)
        if plan is None:
            return [(None, "no_family")]
        least = self.rules.min_completeness
        if self._scored_here(p, rows):
            vals = values[p.identifier] if values is not None else inherited(self.store, [p], self.models)[p.identifier]
            scores = [(r.locale, r.ratio, r.missing) for r in plan.results(vals, p.identifier, invalid, {self.channel})]
        else:
            scores = [(l, rows[l][1], rows[l][2]) for l in self.scope_locales]  # type: ignore[index]
        for locale, ratio, missing in scores:
            if locale in self.wanted and ratio < least:
                reasons.append((locale, f"completeness:{locale}:{ratio}<{least}"))
                if isinstance(missing, str):  # stored rows keep their JSON text until a reason needs it
                    missing = orjson.loads(missing)
                reasons.extend((locale, f"missing:{attr}:{locale}") for attr in missing or ())
        return reasons

    def _stored(self, batch: list[Product]) -> dict[str, dict[str, tuple[str, int, Any]]]:
        """identifier → locale → (family, ratio, missing as JSON text) from the completeness table, one query
        per batch; `missing` is decoded only for a product that fails (most pass)."""
        c = COMPLETENESS.c
        out: dict[str, dict[str, tuple[str, int, Any]]] = {}
        q = select(c.product, c.locale, c.family, c.ratio, cast(c.missing, Text)).where(
            c.channel == self.channel, member_of(c.product, [p.identifier for p in batch], self.store.engine.dialect.name))
        with self.store.engine.connect() as conn:
            for product, locale, family, ratio, missing in conn.execute(q).all():
                out.setdefault(product, {})[locale] = (family, ratio, missing)
        return out


def member_of(column: Any, keys: list[str], dialect: str) -> Any:
    """`column IN keys`; on PostgreSQL bound as one array (`= ANY`): an IN list is one parameter per key there,
    parsed and planned on every call (2–3× slower for 1,000 keys)."""
    if dialect == "postgresql":
        return column == any_(bindparam("keys", keys, type_=ARRAY(String), unique=True))
    return column.in_(keys)


def needs_records(structure: Structure, channel: str) -> bool:
    """Whether deciding on `channel` reads more of a product than its identity, family and values: the price's
    provenance, when stale prices block. Callers holding light rows read the full records then."""
    return "stale_price" in blocking_kinds(structure, channel) and structure.channels[channel].gate.max_price_age_days is not None


def blocks_on_age(structure: Structure, channel: str) -> bool:
    """Whether `channel` blocks a price or stock reading older than N days: a decision that changes with the
    date alone, with no write to send incrementally."""
    rules = structure.channels[channel].gate
    return needs_records(structure, channel) or (
        "stale_stock" in blocking_kinds(structure, channel) and rules.max_stock_age_days is not None)


#: Bump when the gate decides differently on the same structure (its digest then differs, so every delta contract
#: decides its whole assortment again once): 2, round 36: a customer feed is judged in its contract's locale only.
GATE_RULES = 2


def gate_digest(structure: Structure, channel: str) -> str:
    """What the gate's verdicts on `channel` read of the structure, as a digest kept in the watermark: the channel
    (locales, currencies, gate rules), families with their requirements, variants, attributes, options, locales,
    currencies and measures. A write there (a currency added to the channel) blocks or frees products without
    their seq moving. Categories, groups and association types are left out: moving a category re-sequences its
    products itself."""
    s = structure
    body = {"rules": GATE_RULES, "channel": s.channels.get(channel), "families": s.families,
            "variants": s.family_variants,
            "attributes": s.attributes, "options": s.options, "locales": s.locales, "currencies": s.currencies,
            "measures": s.measurement_families}
    raw = orjson.dumps(body, default=lambda m: m.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


# ---------------------------------------------------------------------------------------------- shared values
def shared_keys(structure: Structure, channel: str) -> list[str]:
    """The unique attributes (the unique_value table's) whose shared values block on `channel`: the GTINs for
    duplicate_gtin, the identifier for duplicate_identifier, the other unique ones for duplicate_value."""
    kinds = blocking_kinds(structure, channel) & UNIQUE_KINDS
    return [a for a in unique_attributes(structure) if duplicate_kind(a, structure) in kinds] if kinds else []


def blocked_for_sharing(reasons: list[str]) -> bool:
    """Whether a verdict blocks for a value another product holds too: one that moves when that other product
    is written or deleted, with no write of this one."""
    return any(reason_kind(r) in UNIQUE_KINDS for r in reasons)


def sharing_moved(store: Any, structure: Structure, channel: str, since_seq: int, held: Iterable[str]) -> set[str]:
    """Products whose verdict on `channel` may have moved since `since_seq` through *other* products' writes and
    deletes: the lone earlier holder (seq up to `since_seq`) of a value a product written since holds (it shares
    that value now: blocked), and those of `held` (blocked for a shared value when last decided) that share no
    blocking value any more (freed). Products written since are not returned unless held: the caller decides
    them anyway. One statement for the writes, whatever their number, and one per HELD_CHUNK held products."""
    keys = shared_keys(structure, channel)
    if not keys:
        return set()
    u, mine, other = UNIQUE_VALUE.alias("u"), UNIQUE_VALUE.alias("mine"), UNIQUE_VALUE.alias("other")
    writer, holder = PRODUCT.alias("writer"), PRODUCT.alias("holder")
    # From the seq index to the written products' values (IN, not a join: planners would walk every value)
    written = (select(mine.c.attribute, mine.c.value).distinct()
               .where(mine.c.product.in_(select(writer.c.identifier).where(writer.c.seq > since_seq)),
                      mine.c.attribute.in_(keys)).subquery())
    # A value two earlier holders share blocked both before the write already: only a lone one can move.
    lone = (select(func.min(u.c.product))
            .join(written, and_(written.c.attribute == u.c.attribute, written.c.value == u.c.value))
            .join(holder, holder.c.identifier == u.c.product).where(holder.c.seq <= since_seq)
            .group_by(u.c.attribute, u.c.value).having(func.count() == 1))
    blocked = sorted(set(held))
    still: set[str] = set()
    with store.engine.connect() as conn:
        found = set(conn.execute(lone).scalars())
        for chunk in batched(blocked, HELD_CHUNK):
            # EXISTS stops at the first other holder: a placeholder GTIN's thousands are not paired up
            another = (select(other.c.product).where(other.c.attribute == u.c.attribute, other.c.value == u.c.value,
                                                     other.c.product != u.c.product).exists())
            sharing = select(u.c.product).distinct().where(member_of(u.c.product, chunk, store.engine.dialect.name),
                                                           u.c.attribute.in_(keys), another)
            still.update(conn.execute(sharing).scalars())
    return found | (set(blocked) - still)


def aged_between(store: Any, structure: Structure, channel: str, since: datetime, until: datetime) -> set[str]:
    """The products whose decision on `channel` may have changed with the date alone between two instants: a
    price or stock reading of theirs crossed the channel's age limit (`blocks_on_age`). It over-selects (any of
    a product's readings that crossed, blocking or not) and never misses one, so an incremental export can
    send exactly these besides its written products instead of rebuilding. Reads narrow columns: the stock
    table's times, and the price keys' provenance times out of each product's JSON (no whole record).
    The window has no direction: after a push decided at a later instant (a dry run of the future, a clock
    set back), the readings between the two instants are young again and their products are re-sent."""
    rules = structure.channels[channel].gate
    found: set[str] = set()
    since, until = min(since, until), max(since, until)
    if until == since:
        return found
    if "stale_stock" in blocking_kinds(structure, channel) and rules.max_stock_age_days is not None:
        from pim.commerce import stock_read_between

        age = timedelta(days=rules.max_stock_age_days)
        found.update(stock_read_between(store, since - age, until - age))
    if needs_records(structure, channel):
        age = timedelta(days=rules.max_price_age_days)  # type: ignore[arg-type]
        found.update(_priced_between(store, structure, channel, since - age, until - age))
    return found


def _price_keys(structure: Structure, channel: str) -> list[str]:
    """Every value key a price of this channel can sit under (scoped, localized, or plain)."""
    locales = structure.channels[channel].locales
    keys: list[str] = []
    for code, attr in structure.attributes.items():
        if attr.type != AttributeType.price_collection:
            continue
        bases = [f"{code}:{l}" for l in locales] if attr.localizable else [code]
        keys.extend(f"{b}@{channel}" if attr.scopable else b for b in bases)
    return keys


def _priced_between(store: Any, structure: Structure, channel: str, low: datetime, high: datetime,
                    page: int = 5000) -> Iterator[str]:
    """Products with a price provenance time in [low, high]: a price key's own time, and the record's time when
    some price key has none (an inherited price, or one the record states without a time of its own). The times are compared here, not as SQL text: stored offsets may vary."""
    from pim.store.store import PRODUCT

    stamps = [PRODUCT.c.source[("at",)].as_string()]
    stamps += [PRODUCT.c.provenance[(key, "at")].as_string() for key in _price_keys(structure, channel)]
    parsed: dict[str, datetime | None] = {}
    last = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(select(PRODUCT.c.id, PRODUCT.c.identifier, *stamps)
                                .where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(page)).all()
        if not rows:
            return
        for row in rows:
            own = row[3:]
            # the record's time stands in for a price key without its own (inherited, or stated whole)
            for text in (*own, row[2]) if None in own else own:
                if text is None:
                    continue
                if text not in parsed:
                    if len(parsed) > 100_000:
                        parsed.clear()
                    parsed[text] = _instant(text)
                at = parsed[text]
                if at is not None and low <= at <= high:
                    yield row[1]
                    break
        last = rows[-1][0]


def _instant(text: str) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def evaluate(store: Any, structure: Structure, channel: str, products: Iterable[Product], *,
             locales: list[str] | None = None, now: datetime | None = None) -> Iterator[tuple[Product, list[str]]]:
    gate = _Gate(store, structure, channel, locales, now)
    for batch in batched(products, BATCH):
        yield from zip(batch, gate.decide(batch))


def gate_stage(products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]:
    store = ctx.options.get("store")
    locales = judged_locales(ctx)
    # `as_of`: the time age rules measure against (default now), for a reproducible run
    gate = _Gate(store, ctx.structure, ctx.channel, locales, ctx.options.get("as_of"))
    whole = locales is None or set(gate.scope_locales) <= set(locales)
    partial: dict[str, dict[str, list[str]]] | None = ctx.options.setdefault(PARTIAL, {}) if ctx.options.get(PER_LOCALE) else None
    for batch in batched(products, BATCH):
        tagged = gate.tagged(batch)
        verdicts = [reasons_of(tags) for tags in tagged]
        if store is not None and whole:  # a verdict on some locales only is not the channel's
            record_decisions(store, ctx.channel, [(p.identifier, r) for p, r in zip(batch, verdicts)])
        for product, reasons, tags in zip(batch, verdicts, tagged):
            if reasons and partial is not None and (against := _by_locale(tags, gate.wanted)) is not None:
                partial[product.identifier] = against  # some outputs may have it: the renderer decides per output
                yield product
            elif reasons:
                ctx.blocked.setdefault(product.identifier, []).extend(reasons)
            else:
                yield product


gate_stage.name = "gate"  # type: ignore[attr-defined]


def reasons_of(tags: list[tuple[str | None, str]]) -> list[str]:
    return list(dict.fromkeys(reason for _, reason in tags))


def _by_locale(tags: list[tuple[str | None, str]], wanted: list[str]) -> dict[str, list[str]] | None:
    """locale → the reasons against the product there, when some judged locale has none and no reason holds
    in every locale; else None (blocked from every output)."""
    if any(locale is None for locale, _ in tags):
        return None
    against: dict[str, list[str]] = {}
    for locale, reason in tags:
        against.setdefault(locale, []).append(reason)  # type: ignore[arg-type]
    return against if any(l not in against for l in wanted) else None


def judged_locales(ctx: PublishContext) -> list[str] | None:
    """The channel's locales a publish writes (LOCALES, else the `locale` option), None for all of them: a
    storefront of one language is not blocked by the translations it does not publish."""
    given = ctx.options.get(LOCALES)
    if given is None and ctx.options.get("locale"):
        given = [ctx.options["locale"]]
    if given is None:
        return None
    return [l for l in ctx.structure.channels[ctx.channel].locales if l in given] or None


# ---------------------------------------------------------------------------------------------- stored decisions
def reason_kind(reason: str) -> str | None:
    """What the report counts a reason under: completeness per locale, the finding kind otherwise; the
    `missing:` details are not counted (the to-do list has them)."""
    parts = reason.split(":")
    if parts[0] == "completeness":
        return ":".join(parts[:2])
    return None if parts[0] == "missing" else parts[0]


def _kinds(reasons: list[str]) -> set[str]:
    kinds = {k for k in map(reason_kind, reasons) if k}
    return kinds | {"*"} if reasons else kinds


def record_decisions(store: Any, channel: str, decisions: list[tuple[str, list[str]]]) -> None:
    """Store the last decision per product × channel and move the blocked counters by the difference."""
    from pim.rescore import increment

    stamp = datetime.now(UTC)
    latest = dict(decisions)
    with store.begin() as conn:
        old = {p: r for p, r in conn.execute(select(GATE_DECISION.c.product, GATE_DECISION.c.reasons).where(
            GATE_DECISION.c.channel == channel, GATE_DECISION.c.product.in_(list(latest))))}
        delta: Counter[str] = Counter()
        for ident, reasons in latest.items():
            delta.update(_kinds(reasons))
            delta.subtract(_kinds(old.get(ident) or []))
        rows = [{"product": i, "channel": channel, "passed": not r, "reasons": r, "decided_at": stamp} for i, r in latest.items()]
        store.upsert_rows(conn, GATE_DECISION, rows, ["product", "channel"])
        increment(conn, GATE_COUNT, ["channel", "kind"],
                  [{"channel": channel, "kind": k, "products": n} for k, n in sorted(delta.items()) if n])


def forget_decisions(conn: Connection, identifiers: list[str]) -> None:
    """Deleted products leave the gate's counts."""
    from pim.rescore import increment

    delta: Counter[tuple[str, str]] = Counter()
    for product, channel, reasons in conn.execute(select(GATE_DECISION.c.product, GATE_DECISION.c.channel, GATE_DECISION.c.reasons)
                                                  .where(GATE_DECISION.c.product.in_(identifiers))):
        for kind in _kinds(reasons or []):
            delta[(channel, kind)] -= 1
    conn.execute(delete(GATE_DECISION).where(GATE_DECISION.c.product.in_(identifiers)))
    increment(conn, GATE_COUNT, ["channel", "kind"], [{"channel": c, "kind": k, "products": n} for (c, k), n in sorted(delta.items())])


def decisions(store: Any, identifiers: list[str], channel: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(identifier, channel) → {passed, reasons, decided_at}: the last stored decisions."""
    q = select(GATE_DECISION).where(GATE_DECISION.c.product.in_(identifiers))
    if channel:
        q = q.where(GATE_DECISION.c.channel == channel)
    with store.engine.connect() as conn:
        return {(m["product"], m["channel"]): {"passed": m["passed"], "reasons": m["reasons"], "decided_at": m["decided_at"]}
                for m in (r._mapping for r in conn.execute(q))}
