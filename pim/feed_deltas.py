"""What a delta feed sends since the contract's last confirmed delivery (`pim.feeds.build_feed` renders it): the
products written since (keyset on `seq`), the SKUs whose contract price changed or crossed a validity day, the
removals, and the products whose gate verdict moved with no write of their own: after a change to what the gate
reads of the structure (the whole assortment decided again), when a price or stock reading aged past the
channel's limit, or when another product took or gave up a value they share (a duplicate GTIN). Each is decided
as a full build decides it, and only what changes the customer's copy is sent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from pim import delivery_log as log
from pim.catalog import Structure
from pim.commerce import price_list_changed_since
from pim.contracts import AssortmentMatcher, Contract
from pim.feed_reading import _Reader
from pim.feeds import FeedItem, FeedRun, Kind, _candidates_full, _counting, _items
from pim.gate import aged_between, blocks_on_age, sharing_moved
from pim.product import Product
from pim.store.store import Store, as_utc

Member = Callable[[Any, dict[str, Any]], bool]


@dataclass
class _Delta:
    """What every part of one delta reads, and `held`: the assortment's products the gate blocks for a value
    another product shares, carried from the last delivery's watermark and kept current as products are decided."""

    store: Store
    structure: Structure
    contract: Contract
    reader: _Reader
    run: FeedRun
    day: date
    with_stock: bool
    left: Counter[str]
    delivered: set[str]
    held: set[str]

    def decide(self, valued: Iterable[tuple[Any, dict[str, Any]]], member: Member, resend: Collection[str] = (),
               repriced: Collection[str] = (), *, shared: bool = False) -> Iterator[FeedItem]:
        """`valued` decided as a full build would decide it; only what changes the customer's copy comes out."""
        decided = _items(self.store, self.structure, self.contract, valued, self.day, member, self.run, shared=shared,
                         stock=self.with_stock, left=self.left, held=self.held)
        return _changes(decided, self.delivered, resend, repriced)

    def rechecked(self, identifiers: set[str], member: Member) -> Iterator[FeedItem]:
        """Products decided again with no write of their own: only a change of what the customer holds is sent."""
        if not identifiers:
            return iter(())
        return self.decide(((r, r.values) for r in self.reader.rows(sorted(identifiers))), member)


def delta_items(store: Store, structure: Structure, c: Contract, reader: _Reader, matcher: AssortmentMatcher,
                wm: log.Watermark, day: date, run: FeedRun, with_stock: bool, left: Counter[str], held: set[str], *,
                sweep: bool) -> tuple[Iterator[FeedItem], Kind]:
    """Changed products, changed contract prices (written, or valid from or until a day since the last delivery
    priced) and removals: work proportional to the change. Gate verdicts that moved without a write are followed
    too: after a change to what the gate reads of the structure (`sweep`), the whole assortment is decided again
    (`_swept`); otherwise the products sharing a value with a product written or deleted since (`sharing_moved`)
    and those whose price or stock reading aged past the channel's limit (`_aged`). `held` comes in as the
    watermark's `gate_held` and is left as the next one once the items are consumed."""
    delivered = set(wm.delivered)
    changed = {p.identifier: p for p in reader.scan(since_seq=wm.seq)}
    days = (as_utc(wm.prices_at).date(), day)
    price_only = set(price_list_changed_since(store, c.price_customer, wm.prices_at, days)) - set(changed)
    gone = set(store.deleted_since(wm.seq))
    deleted = gone & delivered
    held -= gone
    resend = set(changed) | price_only
    d = _Delta(store, structure, c, reader, run, day, with_stock, left, delivered, held)

    def stream() -> Iterator[FeedItem]:
        if sweep:
            yield from _swept(d, matcher, resend, price_only)
            return
        member = _counting(matcher, left)
        valued = ((p, reader.values(p)) for p in [*changed.values(), *reader.by_ids(sorted(price_only))])
        yield from d.decide(valued, member, resend, price_only)
        for ident in sorted(deleted - set(changed)):
            yield _gone(ident)
        # Only a write or a delete moves who holds a value (price changes do not): asked after the written ones
        # were decided, so `held` has them.
        shared = sharing_moved(store, structure, c.channel, wm.seq, held) - resend if changed or gone else set()
        yield from d.rechecked(shared, member)
        yield from _aged(d, member, wm, resend | deleted | shared)

    if changed or deleted:
        return stream(), "delta_products"
    # A price list change alone is a T_UPDATE_PRICES in BMEcat: only new prices of products the customer holds.
    # Without a product write the items are few (they changed), so they are decided before the kind is.
    items = list(stream())
    repricing = all(i.change == "price" and i.product.identifier in delivered for i in items)
    return iter(items), ("delta_prices" if repricing else "delta_products")


def _changes(decided: Iterable[tuple[Any, dict[str, Any], FeedItem | None]], delivered: set[str],
             resend: Collection[str], repriced: Collection[str]) -> Iterator[FeedItem]:
    """What changes the customer's copy: an item for a product written or re-priced (`resend`) or one they do not
    hold yet; a delete for one they hold that no longer passes (assortment, gate, price)."""
    for p, v, item in decided:
        if item is not None:
            if p.identifier in resend or p.identifier not in delivered:
                if p.identifier in repriced:
                    item.change = "price"
                yield item
        elif p.identifier in delivered:
            yield FeedItem(p, v, None, None, action="delete", change="delete")


def _gone(identifier: str) -> FeedItem:
    return FeedItem(Product.model_construct(identifier=identifier, values={}, categories=[]), {}, None, None, "delete", "delete")


def _swept(d: _Delta, matcher: AssortmentMatcher, resend: set[str], repriced: set[str]) -> Iterator[FeedItem]:
    """The assortment decided again as a full build would (once per change of `gate_digest`), sending only the
    difference: products written or re-priced, products now passing that the customer lacks, and deletes for
    those they hold that no longer pass or left the assortment (deleted ones too). `held` is decided afresh."""
    seen: set[str] = set()

    def noted(rows: Iterable[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        for r in rows:
            seen.add(r.identifier)
            yield r, r.values

    d.held.clear()
    valued = noted(_candidates_full(d.run, d.store, d.contract, matcher, d.left))
    yield from d.decide(valued, lambda p, v: True, resend, repriced, shared=True)
    for ident in sorted(d.delivered - seen):
        yield _gone(ident)


def _aged(d: _Delta, member: Member, wm: log.Watermark, done: set[str]) -> Iterator[FeedItem]:
    """Products whose verdict may have moved with the date alone since the last delivery: a price or stock reading
    of theirs aged past the channel's limit (`pim.gate.aged_between`, which over-selects)."""
    c = d.contract
    if not blocks_on_age(d.structure, c.channel):
        return iter(())
    return d.rechecked(aged_between(d.store, d.structure, c.channel, as_utc(wm.prices_at), d.run.prices_at) - done,
                       member)
