"""Building and delivering a contract's feed. A build streams the contract's products (full: the whole
assortment; delta: only what changed since the last *confirmed* delivery, chosen by pim.feed_deltas) through
assortment, gate and pricing into a renderer (channels/feed_*); delivery pushes the file to SFTP and/or the
portal (pim.feed_delivery), and only then advances the contract's watermark. `deliver_all` fans out one job per
contract through the Executor."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Text, and_, any_, cast, false, or_
from sqlalchemy.dialects.postgresql import array as pg_array

from pim import delivery_log as log
from pim.gc_policy import paused
from pim.catalog import Structure
from pim.commerce import Availability, Tier, price_list_tiers, stock_all, stock_for
from pim.contracts import (Assortment, AssortmentIndex, AssortmentMatcher, Contract, ResolvedPrice, discounted, get_contract,
                           get_contracts, list_price, resolve_prices)
from pim.errors import ConfigError, InputError, PimError
from pim.feed_delivery import DeliveryResult, deliver_contract, describe_left_out, feeds_dir  # noqa: F401  # old paths
from pim.feed_names import feed_file_name
from pim.feed_warnings import Undercuts
from pim.feed_reading import CHUNK, SNAPSHOT_PAGE, _Reader, _Row
from pim.feed_snapshot import SAMPLE, SNAPSHOT_MAX_BYTES, Diet, contract_diet, estimated_bytes, run_diet, snapshot_limit
from pim.gate import gate_digest, shared_keys
from pim.product import Product
from pim.registry import RENDERERS, lookup
from pim.stock_sums import stock_keys
from pim.store.store import PRODUCT, Store, batched, now

Kind = Literal["full", "delta_products", "delta_prices"]
TIER_CACHE = 8  # price lists held per run and worker
GATE_CHUNK = 10_000  # the gate may look across the catalog (duplicates): fewer, larger calls
#: SKUs whose stock a run reads at once (one Availability each); a larger catalog reads each contract's own. The
#: catalog snapshot has a byte limit of its own (PIM_FEED_SNAPSHOT_MAX_MB, pim.feed_snapshot.snapshot_limit).
STOCK_ALL_LIMIT = 250_000
#: Why a product the contract names is not in a build (Build.left_out, the delivery log): an explicit SKU the
#: catalog lacks; one the assortment takes but its exclusions drop (exclude_skus, exclude rules, disabled under
#: enabled_only); blocked by the channel's gate; no contract price and no fallback price.
LEFT_OUT = ("unknown_sku", "excluded", "gate", "no_price")


class FeedRefused(ConfigError):
    """A feed the contract's own rules refuse to write from this catalog (text its encoding lacks, a dialect nobody
    can read back) or with this media.yaml (`media`: the rendition it names is gone): building it again fails the
    same way until that changes, so `deliver --due` holds the contract until then (pim.feed_holds). `skus`: the
    products the refusal is about ([] none, None unknown): only a write to one of them lifts a data refusal."""

    def __init__(self, contract: Contract, message: str, *, hint: str | None = None, skus: list[str] | None = None,
                 media: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.contract, self.skus, self.media = contract, skus, media


# ---------------------------------------------------------------------------------------------- the row
class FeedTier(BaseModel):
    min_qty: str
    price: str


class FeedPrice(BaseModel):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount: str = Field(pattern=r"^\d+(\.\d+)?$")
    source: Literal["contract", "list", "list_discount"]
    tiers: list[FeedTier] = Field(min_length=1)


class FeedStock(BaseModel):
    atp: str
    in_stock: bool
    updated_at: datetime | None = None


class FeedRow(BaseModel):
    """One line of a JSON Lines feed (schema: schemas/feed_row.schema.json)."""

    model_config = ConfigDict(extra="forbid")

    sku: str
    action: Literal["upsert", "delete"]
    label: str | None = None
    family: str | None = None
    categories: list[str] = []
    price: FeedPrice | None = None
    stock: FeedStock | None = None
    attributes: dict[str, Any] = Field(default={}, description="attribute code → value in the contract's locale")


# ---------------------------------------------------------------------------------------------- the plan
@dataclass
class FeedItem:
    product: Product
    values: dict[str, Any]
    price: ResolvedPrice | None
    stock: Availability | None
    action: Literal["upsert", "delete"] = "upsert"
    change: Literal["product", "price", "delete"] = "product"


@dataclass
class FeedPlan:
    """What a renderer needs besides the items."""

    contract: Contract
    structure: Structure
    kind: Kind
    version: int
    prev_version: int
    generated_at: datetime
    media_base_url: str | None = None
    shared: dict[Any, Any] = field(default_factory=dict)  # renderers' per-run caches (FeedRun.rendered)
    store: Store | None = None  # for the renderers' media links (channels.feed_row.Projector)


@dataclass
class Build:
    """A built feed and the watermark to store once it is delivered."""

    contract: Contract
    plan: FeedPlan
    path: Path | None
    rows: int
    sha256: str = ""
    bytes: int = 0
    pending: log.Watermark | None = None
    counts: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)  # reason (LEFT_OUT) → products, the reasons that had some
    held_before: int = 0  # SKUs the customer held from the last confirmed delivery
    warnings: list[str] = field(default_factory=list)  # worth a look, not a reason to hold (pim.feed_warnings)

    def manifest(self) -> dict[str, Any]:
        return {"name": self.path.name if self.path else None, "sha256": self.sha256, "bytes": self.bytes,
                "rows": self.rows, "contract": self.contract.code, "customer": self.contract.customer,
                "generated_at": self.plan.generated_at.isoformat(), "format": self.contract.format, "kind": self.plan.kind,
                "version": self.plan.version, "previous_version": self.plan.prev_version}


# ---------------------------------------------------------------------------------------------- the run
class FeedRun:
    """Work shared by the builds of one delivery run in one process: the structure and the catalog snapshot with
    its assortment index (read once), the gate verdict per channel × product (evaluated once, re-evaluated when
    the product's seq moved) and the renderers' per-product output (`rendered`, keyed by the view). A run lives
    only as long as one `deliver_all` (workers key it by the run's token), so nothing decided in an earlier run
    is ever reused. Watermarks record the seq read *before* the snapshot, so a product written meanwhile is sent
    again by the next delta rather than missed."""

    def __init__(self, store: Store, token: str | None = None, *, snapshot: bool = True) -> None:
        import uuid

        self.token = token or uuid.uuid4().hex
        self.snapshot = snapshot  # False: a single build, which reads just its own assortment
        self.structure = store.structure()
        self.seq, self.prices_at = store.current_seq(), now()
        self.gate: dict[tuple[str, str], tuple[Any, bool, bool]] = {}  # (channel, sku) → seq, passed, shared
        self.rendered: dict[Any, Any] = {}
        self._index: AssortmentIndex | None = None  # over the snapshot's rows: `row` finds them through it
        self._decided = False  # whether the snapshot was taken (`_index`) or found too large to hold
        self.diet: Diet | None = None  # what the snapshot's rows kept of their values (None: everything)
        self._lock = threading.Lock()  # thread executors share one run per process
        self._tiers: dict[tuple[str, str, date], dict[str, list[Tier]]] = {}
        self._stock: dict[str, Availability] | None = None
        self._stock_all = False
        self._doubled: dict[str, list[tuple[str, str]]] | None = None
        self.stock_keys = stock_keys()  # PIM_FEED_STOCK_KEYS: `both` has builds name the doubled (pim.stock_sums)

    def tiers(self, store: Store, customer: str, currency: str, day: date) -> dict[str, list[Tier]]:
        """The price list's tiers valid on `day`, read once per run (one query, not one bind per SKU). Only the
        last few price lists are kept: a worker usually builds each customer once."""
        key = (customer, currency, day)
        with self._lock:
            found = self._tiers.get(key)
            if found is None:
                found = price_list_tiers(store, customer, currency, day)
                if len(self._tiers) >= TIER_CACHE:
                    self._tiers.pop(next(iter(self._tiers)))
                self._tiers[key] = found
            return found

    def stock(self, store: Store, skus: list[str]) -> dict[str, Availability]:
        """Stock of every SKU read once per run; catalogs above STOCK_ALL_LIMIT read just `skus`."""
        with self._lock:
            if self._stock is None:
                self._stock = stock_all(store) if store.count_products() <= STOCK_ALL_LIMIT else {}
                self._stock_all = bool(self._stock) or store.count_products() <= STOCK_ALL_LIMIT
            if self._stock_all:
                return self._stock
        return stock_for(store, skus)

    def doubled_stock(self, store: Store, locked: bool = False) -> dict[str, list[tuple[str, str]]]:
        """SKUs with stock under a location alone and under its plant/location key (pim.feed_stock_keys), once per run."""
        from pim.feed_stock_keys import doubled_stock

        if not locked:
            with self._lock:
                return self.doubled_stock(store, locked=True)
        if self._doubled is None:
            self._doubled = doubled_stock(store)
        return self._doubled

    def index(self, store: Store) -> AssortmentIndex | None:
        """The snapshot's assortment index; None when the snapshot is estimated above its limit (each contract
        scans then: PIM_FEED_SNAPSHOT_MAX_MB, else SNAPSHOT_MAX_BYTES). Its rows keep only the value keys the
        store's contracts read (`diet`)."""
        if not self.snapshot:
            return None
        with self._lock:
            if not self._decided:
                self._decided = True
                diet = run_diet(_diet(c, self.structure) for c in get_contracts(store))
                if self.snapshot_bytes(store, diet) > snapshot_limit(SNAPSHOT_MAX_BYTES):
                    return None
                self._index = AssortmentIndex(list(_Reader(store, diet).rows(page=SNAPSHOT_PAGE)), self.structure)
                self.diet = diet
            return self._index

    @staticmethod
    def snapshot_bytes(store: Store, diet: Diet | None) -> int:
        """The snapshot's estimated size: the catalog's count times a sample's rows on the diet."""
        count = store.count_products()
        step = max(1, count // SAMPLE)
        sample = list(_Reader(store, diet).rows(where=[PRODUCT.c.id % step == 0]))
        return estimated_bytes(count, sample)

    def covers(self, contract: Contract) -> bool:
        """Whether the snapshot's rows hold all a build of `contract` reads (a contract loaded since may not)."""
        return self.diet is None or self.diet.covers(_diet(contract, self.structure))

    def row(self, identifier: str) -> _Row:
        assert self._index is not None
        return self._index.products[self._index.order[identifier]]

    def passing(self, store: Store, channel: str, rows: list[Any], locale: str | None = None) -> set[str]:
        """Identifiers among `rows` that pass the channel's gate in `locale` (the contract's: a feed holds one
        language; every locale of the channel without one); each product is evaluated once per run and locale."""
        from pim.gate import blocked_for_sharing, evaluate, needs_records

        key = f"{channel}|{locale}" if locale else channel  # the verdicts' key: one per channel and locale
        todo = [r for r in rows if getattr(r, "seq", None) is None or self.gate.get((key, r.identifier), (None,))[0] != r.seq]
        if todo:
            seqs = {r.identifier: getattr(r, "seq", None) for r in todo}
            # Light rows carry what the gate reads (identity, family, parent, values) unless it needs provenance.
            products: Iterable[Any] = todo
            if needs_records(self.structure, channel):
                products = [p for chunk in batched([r.identifier for r in todo], CHUNK) for p in store.iter_products(identifiers=chunk)]
            elif self.diet is not None:  # snapshot rows lack what the gate may read: it gets those in full, streamed
                trimmed = {id(r) for r in todo if self._index is not None and self._index.order.get(r.identifier) is not None
                           and self.row(r.identifier) is r}
                if trimmed:
                    products = chain(_Reader(store).rows([r.identifier for r in todo if id(r) in trimmed]),
                                     (r for r in todo if id(r) not in trimmed))
            for p, reasons in evaluate(store, self.structure, channel, products, locales=[locale] if locale else None):
                self.gate[(key, p.identifier)] = (seqs[p.identifier], not reasons, blocked_for_sharing(reasons))
            for i in seqs:  # deleted since the snapshot: nothing was read to decide on
                self.gate.setdefault((key, i), (seqs[i], False, False))
        return {r.identifier for r in rows if self.gate[(key, r.identifier)][1]}

    def sharing(self, channel: str, identifiers: Iterable[str], locale: str | None = None) -> Iterator[str]:
        """Those of `identifiers` (decided by `passing`) that the gate blocks for a value another product holds
        too: the watermark keeps them, as their verdict moves with that other product (pim.feed_deltas)."""
        key = f"{channel}|{locale}" if locale else channel
        return (i for i in identifiers if self.gate[(key, i)][2])


def _diet(contract: Contract, structure: Structure) -> Diet | None:
    return contract_diet(contract, structure, lookup(RENDERERS, f"feed_{contract.format}", "feed format")())


_RUN: FeedRun | None = None
_RUN_LOCK = threading.Lock()


def _run_for(store: Store, token: str, snapshot: bool = True) -> FeedRun:
    """The worker's run for this token; a new token (a new deliver_all) drops everything of the last one."""
    global _RUN
    with _RUN_LOCK:
        if _RUN is None or _RUN.token != token:
            _RUN = FeedRun(store, token, snapshot=snapshot)
        return _RUN


def _end_run(token: str) -> None:
    global _RUN
    with _RUN_LOCK:
        if _RUN is not None and _RUN.token == token:
            _RUN = None


# ---------------------------------------------------------------------------------------------- building
def _candidates_full(run: FeedRun, store: Store, c: Contract, matcher: AssortmentMatcher,
                     left: Counter[str] | None = None) -> Iterator[Any]:
    """The assortment from the run's index when it has one (already matched), else read and matched here: a
    single build scans only what its rules could accept (family in SQL, values on their text). `left` counts
    the explicit SKUs the catalog lacks and the products the exclusions drop (so a disabled product is read)."""
    a = c.assortment
    index = run.index(store) if a.rules else None
    if index is not None and run.covers(c):
        members = index.members(a)
        if left is not None:
            left["unknown_sku"] += sum(1 for sku in set(a.skus) if sku not in index.order)
            left["excluded"] += len(index.members(_without_exclusions(a))) - len(members)
        yield from (run.row(i) for i in members)
        return
    reader = _Reader(store)
    member = _counting(matcher, left)
    seen: set[str] = set()
    for r in reader.rows(sorted(set(a.skus))):
        seen.add(r.identifier)
        if member(r, r.values):
            yield r
    if left is not None:
        left["unknown_sku"] += len(set(a.skus) - seen)
    if a.rules:
        scope = a if left is None else _without_exclusions(a)
        for r in reader.rows(where=_could_match(scope, matcher, store.engine.dialect.name)):
            if r.identifier not in seen and member(r, r.values):
                yield r


def _without_exclusions(a: Assortment) -> Assortment:
    """What the assortment's SKUs and rules take before its exclusions drop anything."""
    return a.model_copy(update={"exclude_skus": [], "exclude": [], "enabled_only": False})


def _counting(matcher: AssortmentMatcher, left: Counter[str] | None) -> Callable[[Any, dict[str, Any]], bool]:
    """`matcher.matches`, counting under `left["excluded"]` the products only its exclusions refuse."""
    if left is None:
        return matcher.matches  # type: ignore[return-value]
    taken = AssortmentMatcher(_without_exclusions(matcher.assortment), matcher.structure)

    def member(p: Any, values: dict[str, Any]) -> bool:
        if matcher.matches(p, values):
            return True
        if taken.matches(p, values):
            left["excluded"] += 1
        return False

    return member


def _could_match(a: Any, matcher: AssortmentMatcher, dialect: str) -> list[Any]:
    """SQL that keeps every product the assortment's rules could accept, and drops most of the others before
    they are read: enabled, family, and an accepted value occurring in the product's own value text (a variant
    inherits values, so it is always kept). LIKE may ignore case (SQLite): that only keeps more."""
    where: list[Any] = [PRODUCT.c.enabled.is_(True)] if a.enabled_only else []
    if all(rule.families for rule in a.rules):
        where.append(PRODUCT.c.family.in_(sorted({f for rule in a.rules for f in rule.families})))
    needles = matcher.needles()
    if needles is not None:
        text = cast(PRODUCT.c.value_map, Text)

        def occurs(accepted: tuple[str, ...]) -> Any:
            # `_` and `%` in a value are LIKE wildcards: they only widen the match, so values go in unescaped.
            if not accepted:
                return false()
            if dialect == "postgresql":  # one jsonb→text cast for all the values, not one per value
                return text.like(any_(pg_array([f"%{v}%" for v in accepted])))
            return or_(*(text.like(f"%{v}%") for v in accepted))

        where.append(or_(PRODUCT.c.parent.is_not(None), *(and_(*map(occurs, rule)) for rule in needles)))
    return where


def _items(store: Store, structure: Structure, c: Contract, valued: Iterable[tuple[Any, dict[str, Any]]], on: date,
           member: Callable[[Any, dict[str, Any]], bool], run: FeedRun,
           shared: bool = False, stock: bool | None = None, left: Counter[str] | None = None,
           held: set[str] | None = None) -> Iterator[tuple[Any, dict[str, Any], FeedItem | None]]:
    """For each product: its values and its item, or None when it is not (or no longer) for this customer.
    `shared` (full builds) takes prices and stock from the run's whole-list reads; deltas read just their SKUs.
    `stock` False skips reading stock (a format that does not carry it); by default the contract decides.
    `left` counts the members the gate blocks and those without a price. `held` is kept as the members blocked
    for a value another product shares (`FeedRun.sharing`): each product looked at here leaves it or joins it."""
    with_stock = c.include_stock if stock is None else stock
    for chunk in batched(valued, GATE_CHUNK):
        members = [(p, v) for p, v in chunk if member(p, v)]
        passed = run.passing(store, c.channel, [p for p, _ in members], c.locale) if members else set()
        if held is not None:
            held.difference_update(p.identifier for p, _ in chunk)
            held.update(run.sharing(c.channel, [p.identifier for p, _ in members if p.identifier not in passed], c.locale))
        blocked = len(members)
        members = [(p, v) for p, v in members if p.identifier in passed]
        if shared:
            prices = _run_prices(run, store, c, structure, members, on)
            levels = run.stock(store, [p.identifier for p, _ in members if p.identifier in prices]) if with_stock else {}
        else:
            prices = resolve_prices(store, c, structure, members, on)
            levels = stock_for(store, [p.identifier for p, _ in members if p.identifier in prices]) if with_stock else {}
        if left is not None:
            left["gate"] += blocked - len(members)
            left["no_price"] += sum(1 for p, _ in members if p.identifier not in prices)
        ok = {p.identifier for p, _ in members}
        for p, v in chunk:
            if p.identifier in ok and p.identifier in prices:
                yield p, v, FeedItem(p, v, prices[p.identifier], levels.get(p.identifier))
            else:
                yield p, v, None


def _run_prices(run: FeedRun, store: Store, c: Contract, structure: Structure,
                members: list[tuple[Any, dict[str, Any]]], on: date) -> dict[str, ResolvedPrice]:
    """`resolve_prices` with the customer's tiers from the run; equal list prices share one ResolvedPrice (the
    renderers memoise their cells per price), worked out once per list-price text."""
    tiers = run.tiers(store, c.price_customer, c.currency, on)
    rule = c.pricing
    source: Literal["list", "list_discount"] = "list_discount" if rule.fallback == "list_price_discount" else "list"
    fallback: dict[Any, ResolvedPrice] = {}
    by_text: dict[str, ResolvedPrice | None] = {}
    out: dict[str, ResolvedPrice] = {}
    for p, values in members:
        contracted = tiers.get(p.identifier)
        if contracted:
            out[p.identifier] = ResolvedPrice(tuple(contracted), "contract")
            continue
        if rule.fallback == "exclude":
            continue
        text = _list_price_text(values, rule, c, structure)
        if text is not None and text in by_text:
            price = by_text[text]
        else:
            base = list_price(values, rule, c.currency, c.channel, structure)
            price = None if base is None else fallback.get(base)
            if base is not None and price is None:
                amount = discounted(base, rule.discount_percent, c.currency) if source == "list_discount" else base
                price = fallback[base] = ResolvedPrice((Tier(Decimal(1), amount),), source)
            if text is not None:
                by_text[text] = price
        if price is not None:
            out[p.identifier] = price
    return out


def _list_price_text(values: dict[str, Any], rule: Any, c: Contract, structure: Structure) -> str | None:
    """The list price as stored, when it is text (`list_price` decides what it is worth)."""
    raw = values.get(rule.list_price_attribute)
    attr = structure.attributes.get(rule.list_price_attribute)
    if attr is not None and attr.scopable:
        raw = values.get(f"{rule.list_price_attribute}@{c.channel}") or raw
    amount = raw.get(c.currency) if isinstance(raw, dict) else None
    return amount if type(amount) is str else None


def build_feed(store: Store, contract: Contract, out_dir: Path, *, on: date | None = None,
               force_full: bool = False, run: FeedRun | None = None) -> Build:
    """Render the contract's feed into out_dir. Nothing is delivered and no watermark moves here. `run` shares
    the snapshot, gate verdicts and rendered rows with the other builds of a delivery run."""
    from pim.feed_deltas import delta_items  # it builds on this module's reading and deciding

    from pim.feed_chain import chain_start

    # a contract moved to another customer starts that customer's chain: a full feed, numbered on from their own
    wm, base = chain_start(store, contract, log.get_watermark(store, contract.code))
    full = force_full or contract.mode == "full" or wm is None or wm.contract_digest != contract.digest()
    if run is None or not full:
        run = FeedRun(store, snapshot=False)  # one build, or a delta: read live, proportional to the assortment or change
    structure = run.structure
    seq_now, prices_now = run.seq, run.prices_at
    day = on or datetime.now(UTC).date()
    matcher = AssortmentMatcher(contract.assortment, structure)
    delivered = set(wm.delivered) if wm else set()
    counts = {"upsert": 0, "delete": 0}
    left: Counter[str] = Counter()
    now_held: set[str] = set() if full else set(delivered)
    gates = gate_digest(structure, contract.channel)
    held: set[str] = set() if full or wm is None else set(wm.gate_held or ())  # blocked for a shared value

    renderer = lookup(RENDERERS, f"feed_{contract.format}", "feed format")()
    with_stock = contract.include_stock and getattr(renderer, "uses_stock", True)
    if full:
        valued = ((r, r.values) for r in _candidates_full(run, store, contract, matcher, left))
        items: Iterator[FeedItem] = (i for _, _, i in _items(store, structure, contract, valued, day, lambda p, v: True, run,
                                                            shared=True, stock=with_stock, left=left, held=held) if i)
        kind: Kind = "full"
    else:
        assert wm is not None
        # Watermarks from before migration 0041 do not know who was held back for a shared value: decide all once.
        unknown = wm.gate_held is None and bool(shared_keys(structure, contract.channel))
        items, kind = delta_items(store, structure, contract, _Reader(store), matcher, wm, day, run, with_stock, left,
                                  held, sweep=wm.gate_digest != gates or unknown)

    undercut = Undercuts(contract, structure)
    doubled = run.doubled_stock(store) if with_stock and run.stock_keys == "both" else {}
    twice: list[str] = []  # products sent with stock counted twice (pim.feed_stock_keys)

    def tracked(stream: Iterable[FeedItem]) -> Iterator[FeedItem]:
        for item in stream:
            counts[item.action] += 1
            if doubled and item.stock is not None and item.product.identifier in doubled:
                twice.append(item.product.identifier)
            (now_held.add if item.action == "upsert" else now_held.discard)(item.product.identifier)
            if item.price is not None and (len(item.price.tiers) > 1 or item.price.tiers[0].min_qty > 1):
                undercut.check(item)  # contract ladders only: a fallback is one tier from 1 piece
            yield item

    version = base + 1
    plan = FeedPlan(contract, structure, kind, version, base, now(), contract.media_base_url or _cdn(),
                    run.rendered, store)
    name = feed_file_name(contract.code, version, plan.generated_at, kind, renderer.extension)
    path = out_dir / contract.customer / contract.code / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with paused():
        rows = renderer.write(tracked(items), plan, path)
    digest, size = _checksum(path)
    pending = log.Watermark(contract.code, seq_now, prices_now, contract.digest(), version, sorted(now_held), gates,
                            sorted(held))
    warnings = undercut.warnings()
    if twice:
        from pim.feed_stock_keys import doubled_warning

        warnings += [w for w in (doubled_warning(contract, doubled, twice),) if w]
    return Build(contract, plan, path, rows, digest, size, pending, counts,
                 {k: left[k] for k in LEFT_OUT if left[k]}, len(delivered), warnings)


def _checksum(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _cdn() -> str | None:
    from pim.settings import get_settings

    return get_settings().cdn_base_url


# ---------------------------------------------------------------------------------------------- fan-out
def _deliver_job(code: str, dry_run: bool, retries: int, backoff: float, token: str, snapshot: bool = True,
                 allow_empty: bool = False) -> dict[str, Any]:
    """One contract, in a worker: its own store connection and job row; failures come back as data. Jobs of
    the same run (token) in the same worker share its FeedRun (with a catalog snapshot when `snapshot`). A held
    feed fails its job with the reason (`--due` then waits for the contract's next scheduled time: pim.feed_schedule);
    a refused one with what it was built from (`--due` waits for a change that matters to it: pim.feed_holds). A
    dry run's job says `dry_run: true` whatever its end, so that the schedule never takes it for a run."""
    from pim.feed_holds import built_from, refusal_counts

    store = Store.from_settings(migrate_now=False)
    job_id = store.start_job("feed", code)
    dry = {"dry_run": True} if dry_run else {}
    try:
        mark = built_from(store)  # before the build: a change written while it runs lifts the refusal's hold
        result = deliver_contract(store, code, dry_run=dry_run, retries=retries, backoff=backoff,
                                  run=_run_for(store, token, snapshot), allow_empty=allow_empty)
        counts = {"rows": result.rows, "kind": result.kind, "status": result.status, "left_out": result.left_out,
                  **dry}
        if result.status == "held":
            store.finish_job(job_id, counts, status="failed", error=f"held: {result.error}")
        else:
            store.finish_job(job_id, counts)
        return result.as_dict()
    except FeedRefused as exc:  # fails alike until what it names changes: `--due` holds it
        store.finish_job(job_id, refusal_counts(exc.contract, mark, exc.skus, exc.media) | dry, status="failed",
                         error=exc.describe())
        return DeliveryResult(code, "failed", error=exc.describe()).as_dict()
    except Exception as exc:  # one contract failing must not stop the others
        message = exc.describe() if isinstance(exc, PimError) else f"{type(exc).__name__}: {exc}"
        store.finish_job(job_id, dry, status="failed", error=message)
        built = getattr(exc, "built", None)  # a delivery that failed after the build: its file, rows and kind
        failed = replace(built, status="failed", error=message) if built else DeliveryResult(code, "failed", error=message)
        return failed.as_dict()
    finally:
        store.dispose()


@dataclass
class RunSummary:
    results: list[dict[str, Any]]

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] == "failed"]

    @property
    def held(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] == "held"]

    def as_dict(self) -> dict[str, Any]:
        by: dict[str, int] = {}
        left: Counter[str] = Counter()
        for r in self.results:
            by[r["status"]] = by.get(r["status"], 0) + 1
            left.update(r.get("left_out") or {})
        return {"contracts": len(self.results), "by_status": by, "rows": sum(r["rows"] for r in self.results),
                "failures": [{"contract": r["contract"], "error": r["error"]} for r in self.failures],
                "held": [{"contract": r["contract"], "error": r["error"]} for r in self.held],
                "left_out": {k: left[k] for k in LEFT_OUT if left[k]}}


def deliver_all(store: Store, *, contract: str | None = None, dry_run: bool = False, retries: int = 4,
                backoff: float = 1.0, on_done: Callable[[dict[str, Any]], None] | None = None,
                contracts: list[str] | None = None, allow_empty: bool = False) -> RunSummary:
    """One job per contract (`contract`, else `contracts`, else all of them) through the project's Executor;
    the summary lists the failures and the held feeds (`allow_empty` sends empty full feeds instead). `retries`
    counts SFTP connections tried in all (`pim feeds deliver --attempts`), at least 1."""
    import uuid
    from concurrent.futures import as_completed

    from pim.executor import make_executor
    from pim.settings import get_settings

    if retries < 1:  # it counts attempts: 0 tried nothing and reported "failed after 0 attempts: None"
        raise InputError(f"SFTP attempts must be at least 1, not {retries}", field="retries",
                         hint="1 tries once, without retrying (pim feeds deliver --attempts 1)")
    codes = [contract] if contract else list(contracts) if contracts is not None else [c.code for c in get_contracts(store)]
    if contract:
        get_contract(store, contract)  # unknown code → clear ConfigError before any work
    s = get_settings()
    results: list[dict[str, Any]] = []
    workers = min(s.workers, max(1, len(codes)))
    # A snapshot pays off when a worker builds several contracts; one build per worker reads just its assortment.
    snapshot = len(codes) > workers
    with make_executor(s.executor, workers) as pool:
        token = uuid.uuid4().hex
        futures = {pool.submit(_deliver_job, code, dry_run, retries, backoff, token, snapshot, allow_empty): code
                   for code in codes}
        for fut in as_completed(futures):
            try:
                r = fut.result()
            except Exception as exc:  # the worker itself died
                r = DeliveryResult(futures[fut], "failed", error=f"{type(exc).__name__}: {exc}").as_dict()
            results.append(r)
            if on_done:
                on_done(r)
    _end_run(token)  # thread executors ran in this process: let the snapshot go
    results.sort(key=lambda r: r["contract"])
    return RunSummary(results)
