"""Customer price lists written: upserts that leave unchanged entries alone, complete lists that remove what
they no longer hold, a supplier's withdrawn tiers, and the checks an import notes of a row (pim.commerce)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, delete, select

from pim.commerce_tables import EARLIEST, PRICE, REMOVED, SEEN, PriceListEntry
from pim.complete_run import CompleteRun
from pim.errors import InputError
from pim.store.raw import Statements, raw_table
from pim.store.store import Store, batched, now

_PRICE_KEY = ("customer", "sku", "currency", "min_qty", "valid_from")
#: What an entry states beyond its key: a stored entry with all of it is left alone (`put_price_rows_in`). The
#: stated period is a supplier tier's (importers.tier_periods); other entries have none.
_PRICE_STATE = ("valid_to", "price", "source", "stated_from", "stated_to")


def _state(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["valid_to"], entry["price"], entry["source"], entry.get("stated_from"), entry.get("stated_to")


def put_price_list(store: Store, entries: Iterable[PriceListEntry]) -> Written:
    """Upsert price-list entries; returns how many were written (`.created`: how many of them were new keys). An
    entry whose price, end date and source are already stored is left alone, so `updated_at` says when a price
    last changed: delta feeds send only changed prices, and re-importing an unchanged file writes nothing (and
    counts its rows unchanged)."""
    with store.begin() as conn:
        return put_price_list_in(store, conn, entries)


def put_price_list_in(store: Store, conn: Connection, entries: Iterable[PriceListEntry],
                      seen: KeyNote | None = None) -> Written:
    """put_price_list inside the caller's transaction; with `seen` (a complete run's `note`), each chunk's keys
    are also noted. A customer/SKU pair seen for the first time moves the `price_list_pairs` sequence: where no
    contract exists, the search index takes a product's customers from the price lists (channels.search)."""
    return put_price_rows_in(store, conn, (e.__dict__ for e in entries), seen)


class Written(int):
    """How many entries a put wrote (an int, as callers add them up), and of those how many were `created`:
    keys never stored before. An import reports them as created and the rest as updated (pim.sources)."""

    created: int

    def __new__(cls, written: int, created: int) -> Written:
        self = super().__new__(cls, written)
        self.created = created
        return self


#: What a complete run notes of each chunk written (`CompletePriceLists.note`): its keys, in `_PRICE_KEY` order.
KeyNote = Callable[[Connection, list[tuple[Any, ...]], datetime], None]


def put_price_rows_in(store: Store, conn: Connection, rows: Iterable[dict[str, Any]],
                      seen: KeyNote | None = None) -> Written:
    """put_price_list_in for entries given as PriceListEntry's fields (a dict each, in its field order) that
    were validated already: an importer that checks each tier as it reads it (importers.bmecat) writes them
    without building every entry a second time."""
    store.lock_writes(conn)  # before any row lock, as every writer: no deadlock with an import holding it
    count = created = 0
    stamp = now()
    table = raw_table(store, conn, PRICE)
    gained = False
    for chunk in batched(rows, store.batch_size):
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}  # one key twice in a batch: the last entry wins, as it would being written in order
        for e in chunk:  # keyed as `_PRICE_KEY`
            latest[e["customer"], e["sku"], e["currency"], e["min_qty"], e["valid_from"] or EARLIEST] = e
        stored = {r[:5]: r[5:] for r in table.select(
            conn, (*_PRICE_KEY, *_PRICE_STATE), "sku", sorted({k[1] for k in latest}),
            also={"customer": sorted({k[0] for k in latest})})}
        changed = [{**e, "valid_from": k[4], "stated_from": e.get("stated_from"), "stated_to": e.get("stated_to"),
                    "updated_at": stamp} for k, e in latest.items() if stored.get(k) != _state(e)]
        store.upsert_rows(conn, PRICE, changed, list(_PRICE_KEY))
        if seen is not None:
            seen(conn, list(latest), stamp)
        if not gained:
            known = {(k[0], k[1]) for k in stored}
            gained = any((k[0], k[1]) not in known for k in latest)
        count += len(changed)
        created += sum(1 for k in latest if k not in stored)  # a new key is always among the changed
    if gained:
        store.next_seq(conn, 1, PAIRS_SEQ)
    return Written(count, created)


#: Moves when a customer gains its first price for a SKU or loses prices: who may see what, without contracts.
PAIRS_SEQ = "price_list_pairs"


class CompletePriceLists(CompleteRun):
    """Complete price lists (an ERP map's `complete: true`, a BMEcat T_NEW_CATALOG's tiers): `finish` removes the
    stored entries of the customers the run named that it did not hold. Customers the run never named keep all of
    theirs. The keys a run holds are kept in memory up to IN_MEMORY of them (a row each in `price_list_seen` cost
    more than comparing the entries did: an unchanged re-import wrote every key there and deleted it again);
    past that they are noted there, so memory stays flat whatever the list's length."""

    IN_MEMORY = 100_000  # keys: 0.2-0.4 KB each, under 40 MB (a medium catalog's T_NEW_CATALOG holds 43k tiers)

    def __init__(self, store: Store, conn: Connection | None = None) -> None:
        super().__init__(store, SEEN, conn)
        self._held: set[tuple[Any, ...]] | None = set()  # None: noted in SEEN

    def put(self, store: Store, entries: list[PriceListEntry]) -> Written:
        with store.begin() as conn:
            return self.put_in(conn, entries)

    def put_in(self, conn: Connection, entries: list[PriceListEntry]) -> Written:
        """`put` inside the caller's transaction."""
        return put_price_list_in(self.store, conn, entries, seen=self.note)

    def put_rows_in(self, conn: Connection, rows: list[dict[str, Any]]) -> Written:
        """`put_in` for entries validated already (put_price_rows_in)."""
        return put_price_rows_in(self.store, conn, rows, seen=self.note)

    def note(self, conn: Connection, keys: list[tuple[Any, ...]], stamp: datetime) -> None:
        """Hold `keys`, written in `conn`'s transaction: the caller commits it at once, or fails the import."""
        held = self._held
        if held is not None and len(held) + len(keys) <= self.IN_MEMORY:
            held.update(keys)
            return
        if held:
            keys = [*held, *keys]
        self._held = None
        raw_table(self.store, conn, SEEN).upsert(conn, [
            {"run": self.run, **dict(zip(_PRICE_KEY, k)), "noted_at": stamp} for k in keys], ("run", *_PRICE_KEY))

    def _remove(self, conn: Connection) -> int:
        gone = self._noted_gone(conn) if self._held is None else self._held_gone(conn)
        _note_removed(self.store, conn, gone)
        return len(gone)

    def _noted_gone(self, conn: Connection) -> list[tuple[str, str]]:
        named = select(SEEN.c.customer).where(SEEN.c.run == self.run).distinct().scalar_subquery()
        held = select(SEEN.c.run).where(SEEN.c.run == self.run, *(SEEN.c[k] == PRICE.c[k] for k in _PRICE_KEY)).exists()
        return conn.execute(delete(PRICE).where(PRICE.c.customer.in_(named), ~held)  # type: ignore[return-value]
                            .returning(PRICE.c.customer, PRICE.c.sku)).all()

    def _held_gone(self, conn: Connection) -> list[tuple[str, str]]:
        """`_noted_gone` for keys held in memory: the named customers' stored keys and the held ones compared
        as the driver has them (as the database compares them: SQLite keeps NUMERIC as a float)."""
        if not self._held:
            return []
        table = raw_table(self.store, conn, PRICE)
        qtys = {qty: table.bind("min_qty", qty) for qty in {k[3] for k in self._held}}  # a handful each
        days = {since: table.bind("valid_from", since) for since in {k[4] for k in self._held}}
        held = {(c, sku, cur, qtys[qty], days[since]) for c, sku, cur, qty, since in self._held}
        sql = Statements(conn)
        stored = sql.all_in(f"SELECT {', '.join(_PRICE_KEY)} FROM {PRICE.name} WHERE customer {sql.any_of}",
                            [sorted({k[0] for k in held})])
        gone = [row for row in stored if row not in held]  # the driver's rows are tuples
        table.delete(conn, _PRICE_KEY, gone)
        return [(c, sku) for c, sku, *_ in gone]

    def close(self, job_id: int | None, rejected: int, *, file: Path, source: str,
              nothing_removed: str = "complete price list: nothing was removed", rows: str = "row(s)") -> int:
        """CompleteRun._closed, the warning starting `nothing_removed`."""
        return self._closed(job_id, rejected, key=f"complete-price-list:{file.name}", file=file, source=source,
                            said=f"{nothing_removed} because {rejected} {rows} were rejected; fix them and import "
                                 "the file again")


def remove_price_list_entries_in(store: Store, conn: Connection, customer: str, source: str,
                                 keep: dict[str, set[tuple[Any, ...]]]) -> set[str]:
    """Remove `source`'s entries of `customer`'s price list for the SKUs of `keep` (a supplier withdrawing
    products), except those keyed there by (currency, min_qty, valid_from), noted for the delta feeds as a
    complete list's removals are. Returns the SKUs that lost an entry. In the caller's transaction: an import's
    batch removes a row's tiers with its records, so a crash or a refused record leaves the old tiers
    (importers.supplier_tiers, importers.bmecat)."""
    everything = sorted(sku for sku, kept in keep.items() if not kept)
    some = sorted(sku for sku, kept in keep.items() if kept)
    gone: list[tuple[str, str]] = []
    store.lock_writes(conn)  # as put_price_list_in: before the rows it deletes
    if everything:
        gone += conn.execute(delete(PRICE).where(PRICE.c.customer == customer, PRICE.c.source == source,
                                                 PRICE.c.sku.in_(everything)).returning(PRICE.c.customer, PRICE.c.sku)).all()
    if some:
        # a supplier tier's part resumed after an offer (importers.tier_periods) is kept with the period it resumes:
        # keyed by its stated start too, so restating that period does not take it off and put it back
        rows = conn.execute(select(PRICE.c.sku, PRICE.c.currency, PRICE.c.min_qty, PRICE.c.valid_from,
                                   PRICE.c.stated_from).where(
            PRICE.c.customer == customer, PRICE.c.source == source, PRICE.c.sku.in_(some))).all()
        stale = [{"s": sku, "c": cur, "q": qty, "f": since} for sku, cur, qty, since, stated in rows
                 if (cur, qty, since) not in keep[sku] and (stated is None or (cur, qty, stated) not in keep[sku])]
        if stale:
            conn.execute(delete(PRICE).where(
                PRICE.c.customer == customer, PRICE.c.source == source, PRICE.c.sku == bindparam("s"),
                PRICE.c.currency == bindparam("c"), PRICE.c.min_qty == bindparam("q"),
                PRICE.c.valid_from == bindparam("f")), stale)
            gone += [(customer, r["s"]) for r in stale]
    _note_removed(store, conn, gone)
    return {sku for _, sku in gone}


def _note_removed(store: Store, conn: Connection, gone: Iterable[tuple[str, str]]) -> None:
    """Record removed (customer, SKU) pairs for the delta feeds (price_list_changed_since) and move PAIRS_SEQ:
    who may see what changed."""
    pairs = sorted({(c, sku) for c, sku in gone})
    if pairs:
        stamp = now()
        store.upsert_rows(conn, REMOVED, [{"customer": c, "sku": sku, "removed_at": stamp} for c, sku in pairs],
                          ["customer", "sku"])
        store.next_seq(conn, 1, PAIRS_SEQ)


def free_price(entry: PriceListEntry) -> str | None:
    """Why a contract price of 0 is suspect, else None: feeds send it as the customer's price, where an ERP's 0
    often means "no price" (a blocked or unpriced article). The entry is kept as sent; an import notes this as a
    `problem` of its row."""
    if entry.price:
        return None
    return (f"price 0 {entry.currency} from quantity {entry.min_qty}: feeds send {entry.sku} to customer "
            f"{entry.customer} for nothing. Kept as sent; if 0 means 'no price' in the ERP, leave the row out so "
            "the contract's pricing fallback applies (a free article needs nothing done), then import the file again")


def inverted_tiers(tiers: Sequence[PriceListEntry], place: Callable[[int], str] | None = None) -> dict[int, str]:
    """Index in `tiers` (one customer, SKU, currency and validity window, any order) → why that tier costs more
    per unit than a lower-quantity one (the cheapest), as 1:40 | 10:45: a larger order would pay more. `place`:
    how the tier of an index is named (`line 8`). The entries are kept as sent; an import notes this as a
    `problem` of the row."""
    found: dict[int, str] = {}
    cheapest = -1
    for n in sorted(range(len(tiers)), key=lambda n: tiers[n].min_qty):
        tier = tiers[n]
        if cheapest < 0 or tier.price < tiers[cheapest].price:
            cheapest = n
        elif tier.price > (low := tiers[cheapest]).price and tier.min_qty > low.min_qty:
            found[n] = (f"{tier.currency} {tier.price} from quantity {tier.min_qty} is more than {low.price} from "
                        f"quantity {low.min_qty}{f' ({place(cheapest)})' if place else ''}: a larger order would pay "
                        "more per unit (inverted tiers). Kept as sent; check the tiers in the ERP (a price or quantity "
                        "swapped?), then import the file again")
    return found


def read_price_list_jsonl(path: Path) -> Iterator[PriceListEntry]:
    """Price-list entries from JSON Lines (e.g. the generator's contract_prices.jsonl), streamed; a bad line
    stops the load with its line number."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield PriceListEntry.model_validate(orjson.loads(line))
            except (ValidationError, orjson.JSONDecodeError) as exc:
                raise InputError(str(exc).splitlines()[0], file=str(path), line=number,
                                 hint="each line is {customer, sku, currency, price, min_qty, valid_from, valid_to}") from exc
