"""Which products a feed build sends and at what price: the contract's assortment read from the run's
snapshot or the store (`_candidates_full`), each member through the channel's gate, pricing and stock
(`_items`). pim.feeds (full builds) and pim.feed_deltas (deltas) share these; pim.feeds still offers them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Text, and_, any_, cast, false, or_
from sqlalchemy.dialects.postgresql import array as pg_array

from pim.catalog import Structure
from pim.commerce import Tier, stock_for
from pim.contracts import Assortment, AssortmentMatcher, Contract, ResolvedPrice, discounted, list_price, resolve_prices
from pim.feed_plan import FeedItem
from pim.feed_reading import _Reader
from pim.store.store import PRODUCT, Store, batched

if TYPE_CHECKING:  # pim.feeds imports this module
    from pim.feeds import FeedRun

GATE_CHUNK = 10_000  # the gate may look across the catalog (duplicates): fewer, larger calls


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
