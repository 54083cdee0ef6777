"""Commercial data that is not a product attribute: customer price lists (contract prices with quantity
tiers and validity) and stock per warehouse. The ERP importer writes it; feeds, search and channels read it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Self

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Column, Connection, Date, DateTime, Numeric, String, Table, and_, bindparam, delete, false, or_, select
from sqlalchemy import func
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from pim.errors import InputError
from pim.importing import file_warning
from pim.store.raw import Statements, raw_table
from pim.stock_sums import Availability, sum_stock  # noqa: F401  # Availability: its old import path
from pim.store.store import Store, as_utc, batched, now


#: Prices and quantities are stored as NUMERIC(18, 4): fourteen digits before the point (PostgreSQL refuses
#: more with an overflow that would fail the whole batch) and four after it.
NUMERIC_LIMIT = Decimal(10**14)
NUMERIC_PLACES = 4
_QUANTUM = Decimal(1).scaleb(-NUMERIC_PLACES)


def within_places(amount: Decimal) -> Decimal:
    """Refuse an amount with more than NUMERIC_PLACES decimals rather than let the column round it: tiers from
    1.00001 and 1.00002 would become one key (PostgreSQL then fails the whole upsert, SQLite keeps two rows
    showing the same tier) and a price would change unseen. Trailing zeros are no places (9.50000 is 9.5)."""
    if amount.as_tuple().exponent < -NUMERIC_PLACES and amount != amount.quantize(_QUANTUM):  # type: ignore[operator]
        raise PydanticCustomError("decimal_places", "{amount} has more than {places} decimal places, which is more "
                                  "than is kept; round it in the source", {"amount": str(amount), "places": NUMERIC_PLACES})
    return amount


Amount = Annotated[Decimal, AfterValidator(within_places)]


class PriceListEntry(BaseModel):
    """One contract price: customer × SKU × currency × minimum quantity, valid in a date range."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=100)  # within the columns' lengths (PostgreSQL refuses longer)
    sku: str = Field(min_length=1, max_length=255)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    price: Amount = Field(ge=0, lt=NUMERIC_LIMIT)
    min_qty: Amount = Field(default=Decimal(1), gt=0, lt=NUMERIC_LIMIT)
    valid_from: date | None = None
    valid_to: date | None = None
    source: str = "erp"

    @field_validator("valid_to")
    @classmethod
    def _not_before_valid_from(cls, valid_to: date | None, info: ValidationInfo) -> date | None:
        """A range ending before it starts never applies; since valid_from keys the row, fixing the dates
        later would add a second row beside it rather than replace it."""
        valid_from = info.data.get("valid_from")
        if valid_to and valid_from and valid_to < valid_from:
            raise ValueError(f"{valid_to} is before valid_from {valid_from}: the price would never apply")
        return valid_to


class StockLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=255)
    warehouse: str = Field(default="main", min_length=1, max_length=100)
    quantity: Amount = Field(gt=-NUMERIC_LIMIT, lt=NUMERIC_LIMIT)
    atp: Amount | None = Field(default=None, gt=-NUMERIC_LIMIT, lt=NUMERIC_LIMIT,
                                description="Available to promise; quantity when unknown.")
    updated_at: datetime
    source: str = "erp"


class PriceListRow(SQLModel, table=True):
    __tablename__ = "price_list"

    customer: str = SQLField(sa_column=Column(String(100), primary_key=True))
    sku: str = SQLField(sa_column=Column(String(255), primary_key=True, index=True))
    currency: str = SQLField(sa_column=Column(String(3), primary_key=True))
    min_qty: Decimal = SQLField(sa_column=Column(Numeric(18, 4), primary_key=True))
    valid_from: date = SQLField(sa_column=Column(Date, primary_key=True))
    valid_to: date | None = SQLField(default=None, sa_column=Column(Date, nullable=True))
    price: Decimal = SQLField(sa_column=Column(Numeric(18, 4), nullable=False))
    source: str = SQLField(default="erp", sa_column=Column(String(100), nullable=False))
    updated_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


class StockRow(SQLModel, table=True):
    __tablename__ = "stock"

    sku: str = SQLField(sa_column=Column(String(255), primary_key=True))
    warehouse: str = SQLField(sa_column=Column(String(100), primary_key=True))
    quantity: Decimal = SQLField(sa_column=Column(Numeric(18, 4), nullable=False))
    atp: Decimal | None = SQLField(default=None, sa_column=Column(Numeric(18, 4), nullable=True))
    updated_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = SQLField(default="erp", sa_column=Column(String(100), nullable=False))


class PriceListSeenRow(SQLModel, table=True):
    """The price-list keys an import of complete price lists has written so far, per run
    (`CompletePriceLists`): what tells the entries it no longer holds from the ones it does."""

    __tablename__ = "price_list_seen"

    run: str = SQLField(sa_column=Column(String(32), primary_key=True))
    customer: str = SQLField(sa_column=Column(String(100), primary_key=True))
    sku: str = SQLField(sa_column=Column(String(255), primary_key=True))
    currency: str = SQLField(sa_column=Column(String(3), primary_key=True))
    min_qty: Decimal = SQLField(sa_column=Column(Numeric(18, 4), primary_key=True))
    valid_from: date = SQLField(sa_column=Column(Date, primary_key=True))
    noted_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


class PriceListRemovedRow(SQLModel, table=True):
    """When entries of a customer's prices for a SKU were removed (a complete price list no longer holding
    them): that customer's delta feed re-sends the SKU at its price now, as it re-sends a changed price."""

    __tablename__ = "price_list_removed"

    customer: str = SQLField(sa_column=Column(String(100), primary_key=True))
    sku: str = SQLField(sa_column=Column(String(255), primary_key=True))
    removed_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


class StockSeenRow(SQLModel, table=True):
    """The warehouses an import of complete stock files has read so far, per run and SKU (`CompleteStock`): what
    tells the warehouses a SKU no longer has from the ones it does. `read_at`: the reading's own time (a stored
    reading newer than a SKU's newest one here was taken after the file: it stays)."""

    __tablename__ = "stock_seen"

    run: str = SQLField(sa_column=Column(String(32), primary_key=True))
    sku: str = SQLField(sa_column=Column(String(255), primary_key=True))
    warehouse: str = SQLField(sa_column=Column(String(100), primary_key=True))
    read_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    noted_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


PRICE: Table = PriceListRow.__table__  # type: ignore[assignment]
SEEN: Table = PriceListSeenRow.__table__  # type: ignore[assignment]
REMOVED: Table = PriceListRemovedRow.__table__  # type: ignore[assignment]
STOCK: Table = StockRow.__table__  # type: ignore[assignment]
_READING = (STOCK.c.sku, STOCK.c.warehouse, STOCK.c.quantity, STOCK.c.atp, STOCK.c.updated_at)  # sum_stock's rows
STOCK_SEEN: Table = StockSeenRow.__table__  # type: ignore[assignment]
EARLIEST = date(1900, 1, 1)


_PRICE_KEY = ("customer", "sku", "currency", "min_qty", "valid_from")


def put_price_list(store: Store, entries: Iterable[PriceListEntry]) -> int:
    """Upsert price-list entries; returns how many were written. An entry whose price, end date and source are
    already stored is left alone, so `updated_at` says when a price last changed: delta feeds send only
    changed prices, and re-importing an unchanged file writes nothing (and counts its rows unchanged)."""
    with store.begin() as conn:
        return put_price_list_in(store, conn, entries)


def put_price_list_in(store: Store, conn: Connection, entries: Iterable[PriceListEntry],
                      seen: KeyNote | None = None) -> int:
    """put_price_list inside the caller's transaction; with `seen` (a complete run's `note`), each chunk's keys
    are also noted. A customer/SKU pair seen for the first time moves the `price_list_pairs` sequence: where no
    contract exists, the search index takes a product's customers from the price lists (channels.search)."""
    return put_price_rows_in(store, conn, (e.__dict__ for e in entries), seen)


#: What a complete run notes of each chunk written (`CompletePriceLists.note`): its keys, in `_PRICE_KEY` order.
KeyNote = Callable[[Connection, list[tuple[Any, ...]], datetime], None]


def put_price_rows_in(store: Store, conn: Connection, rows: Iterable[dict[str, Any]],
                      seen: KeyNote | None = None) -> int:
    """put_price_list_in for entries given as PriceListEntry's fields (a dict each, in its field order) that
    were validated already: an importer that checks each tier as it reads it (importers.bmecat) writes them
    without building every entry a second time."""
    store.lock_writes(conn)  # before any row lock, as every writer: no deadlock with an import holding it
    count = 0
    stamp = now()
    table = raw_table(store, conn, PRICE)
    gained = False
    for chunk in batched(rows, store.batch_size):
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}  # one key twice in a batch: the last entry wins, as it would being written in order
        for e in chunk:  # keyed as `_PRICE_KEY`
            latest[e["customer"], e["sku"], e["currency"], e["min_qty"], e["valid_from"] or EARLIEST] = e
        stored = {r[:5]: r[5:] for r in table.select(
            conn, (*_PRICE_KEY, "valid_to", "price", "source"), "sku", sorted({k[1] for k in latest}),
            also={"customer": sorted({k[0] for k in latest})})}
        changed = [{**e, "valid_from": k[4], "updated_at": stamp} for k, e in latest.items()
                   if stored.get(k) != (e["valid_to"], e["price"], e["source"])]
        store.upsert_rows(conn, PRICE, changed, list(_PRICE_KEY))
        if seen is not None:
            seen(conn, list(latest), stamp)
        if not gained:
            known = {(k[0], k[1]) for k in stored}
            gained = any((k[0], k[1]) not in known for k in latest)
        count += len(changed)
    if gained:
        store.next_seq(conn, 1, PAIRS_SEQ)
    return count


#: Moves when a customer gains its first price for a SKU or loses prices: who may see what, without contracts.
PAIRS_SEQ = "price_list_pairs"


class CompleteRun:
    """An import of complete lists (CompletePriceLists, CompleteStock): what it writes is also noted under this
    run in `notes` (a table keyed by `run`; CompletePriceLists holds a list of ordinary length in memory), and
    `finish` removes, in one transaction under the write lock, the stored rows of what the run named that it did
    not hold (`_remove`). Used as a context manager, a run left without `finish` (the import failed) removes
    nothing and forgets its notes."""

    def __init__(self, store: Store, notes: Table, conn: Connection | None = None) -> None:
        """`conn`: started inside the caller's transaction (an import's first batch)."""
        self.store, self.notes = store, notes
        self.run = uuid.uuid4().hex
        self.finished = False
        stale = delete(notes).where(notes.c.noted_at < now() - timedelta(days=1))  # notes a crashed run left behind
        if conn is not None:
            conn.execute(stale)
        else:
            with store.begin() as own:
                own.execute(stale)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.finished:
            self.finish(remove=False)

    def _remove(self, conn: Connection) -> int:
        raise NotImplementedError

    def finish(self, *, remove: bool) -> int:
        """Remove what the run did not hold (when `remove`) and forget the notes; returns the rows removed."""
        removed = 0
        with self.store.begin() as conn:
            if remove:
                self.store.lock_writes(conn)  # as every writer: before the rows it deletes
                removed = self._remove(conn)
            conn.execute(delete(self.notes).where(self.notes.c.run == self.run))
        self.finished = True
        return removed

    def _closed(self, job_id: int | None, rejected: int, *, key: str, file: Path, source: str, said: str) -> int:
        """`finish` at the end of an import: remove the rest only when the import rejected nothing (a rejected row
        may be one that still holds); else the quarantine gets the warning `said`, which the next clean run of the
        file closes. Returns the rows removed."""
        file_warning(self.store, job_id, source, key, said if rejected else None, file=file.name)
        return self.finish(remove=not rejected)


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

    def put(self, store: Store, entries: list[PriceListEntry]) -> int:
        with store.begin() as conn:
            return self.put_in(conn, entries)

    def put_in(self, conn: Connection, entries: list[PriceListEntry]) -> int:
        """`put` inside the caller's transaction."""
        return put_price_list_in(self.store, conn, entries, seen=self.note)

    def put_rows_in(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
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
        rows = conn.execute(select(PRICE.c.sku, PRICE.c.currency, PRICE.c.min_qty, PRICE.c.valid_from).where(
            PRICE.c.customer == customer, PRICE.c.source == source, PRICE.c.sku.in_(some))).all()
        stale = [{"s": sku, "c": cur, "q": qty, "f": since} for sku, cur, qty, since in rows
                 if (cur, qty, since) not in keep[sku]]
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


@dataclass(frozen=True)
class Tier:
    min_qty: Decimal
    price: Decimal


def contract_tiers(
    store: Store, customer: str, skus: list[str], currency: str, on: date | None = None
) -> dict[str, list[Tier]]:
    """The customer's tiers valid on `on` (today by default), lowest quantity first, per SKU. SKUs without a
    contract price are absent: the caller applies its fallback rule (e.g. list price)."""
    day = on or datetime.now(UTC).date()
    q = select(PRICE).where(
        PRICE.c.customer == customer,
        PRICE.c.currency == currency,
        PRICE.c.sku.in_(skus),
        PRICE.c.valid_from <= day,
        or_(PRICE.c.valid_to.is_(None), PRICE.c.valid_to >= day),
    ).order_by(PRICE.c.sku, PRICE.c.min_qty, PRICE.c.valid_from.desc())
    result: dict[str, dict[Decimal, Tier]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            m = row._mapping
            tiers = result.setdefault(m["sku"], {})
            # With overlapping validity, the most recently started entry wins for a quantity.
            tiers.setdefault(Decimal(m["min_qty"]), Tier(Decimal(m["min_qty"]), Decimal(m["price"])))
    return {sku: list(t.values()) for sku, t in result.items()}


def price_list_changed_since(store: Store, customer: str, since: datetime,
                             days: tuple[date, date] | None = None) -> list[str]:
    """SKUs whose contract prices for `customer` changed or were removed after `since`; with `days` (the day the
    last delivery priced on, the day priced now), also those whose price moved with the date alone, an entry's
    validity having begun or ended in between (`price_window_crossed`). One query, whatever the list's size."""
    moved = PRICE.c.updated_at > since
    if days is not None:
        moved = or_(moved, price_window_crossed(*days))
    with store.engine.connect() as conn:
        changed = select(PRICE.c.sku).where(PRICE.c.customer == customer, moved)
        removed = select(REMOVED.c.sku).where(REMOVED.c.customer == customer, REMOVED.c.removed_at > since)
        return sorted(set(conn.execute(changed.union(removed)).scalars()))


def customers_priced_since(store: Store, since: datetime) -> list[str]:
    """The customers whose price-list entries were written at or after `since` (a load's start): the price
    lists a load changed (an unchanged entry is not rewritten). One query on the `updated_at` index."""
    q = select(PRICE.c.customer).where(PRICE.c.updated_at >= since).distinct()
    with store.engine.connect() as conn:
        return sorted(conn.execute(q).scalars())


def price_window_crossed(one: date, other: date) -> Any:
    """SQL: the price-list entry was valid on one of two pricing days and not on the other, as `contract_tiers`
    reads validity (`valid_from <= day <= valid_to`, both inclusive): it began in (low, high] or ended in
    [low, high). Either order of the days: a build dated before the last one re-sends the same SKUs."""
    low, high = min(one, other), max(one, other)
    if low == high:
        return false()
    return or_(and_(PRICE.c.valid_from > low, PRICE.c.valid_from <= high),
               and_(PRICE.c.valid_to >= low, PRICE.c.valid_to < high))


def put_stock(store: Store, levels: Iterable[StockLevel]) -> int:
    """Upsert stock readings; returns how many were written. A reading older than the one stored for its SKU and
    warehouse, or the stored reading restated, is skipped (files and IDocs arrive out of order; the newest reading wins, and of equal times the
    later one, except that one without ATP keeps the ATP of the same time: _keep_atp). Products whose quantity or ATP actually changed get a new write sequence, so the search index
    and customer deltas send their new availability without a full rebuild."""
    with store.begin() as conn:
        return put_stock_in(store, conn, levels)


def put_stock_in(store: Store, conn: Connection, levels: Iterable[StockLevel]) -> int:
    """put_stock inside the caller's transaction (an import writes a record's stock with the record)."""
    store.lock_writes(conn)  # before any stock row lock: touch_products takes it after them (deadlock)
    count = 0
    for chunk in batched(levels, store.batch_size):
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for level in chunk:
            row = level.model_dump()
            row["updated_at"] = in_utc(row["updated_at"])
            key = (row["sku"], row["warehouse"])
            if key not in newest or as_utc(row["updated_at"]) >= as_utc(newest[key]["updated_at"]):
                if key in newest:
                    _keep_atp(row, newest[key]["atp"], as_utc(newest[key]["updated_at"]))
                newest[key] = row
        # the chunk's warehouses too: a SKU in 100k warehouses read all its readings for each chunk (quadratic)
        before = {(r.sku, r.warehouse): (Decimal(r.quantity), None if r.atp is None else Decimal(r.atp),
                                         as_utc(r.updated_at))
                  for r in conn.execute(select(STOCK.c.sku, STOCK.c.warehouse, STOCK.c.quantity, STOCK.c.atp,
                                               STOCK.c.updated_at)
                                        .where(STOCK.c.sku.in_({sku for sku, _ in newest}),
                                               STOCK.c.warehouse.in_({warehouse for _, warehouse in newest})))}
        for key, r in newest.items():
            if key in before:
                _keep_atp(r, before[key][1], before[key][2])
        rows = [r for key, r in newest.items() if key not in before or as_utc(r["updated_at"]) >= before[key][2]
                and before[key] != (r["quantity"], r["atp"], as_utc(r["updated_at"]))]  # a reading restated: unchanged
        changed = {r["sku"] for r in rows if before.get((r["sku"], r["warehouse"]), ())[:2] != (r["quantity"], r["atp"])}
        if rows:
            store.upsert_rows(conn, STOCK, rows, ["sku", "warehouse"])
        if changed:
            store.touch_products(conn, sorted(changed))
        count += len(rows)
    return count


def _keep_atp(row: dict[str, Any], atp: Decimal | None, at: datetime) -> None:
    """A reading without ATP takes the ATP of the reading it replaces when both have the same time: it is the same
    reading from a source that does not state ATP (SAP E1MARDM beside a stock CSV), not news that ATP is gone. A
    newer reading replaces the whole one, ATP included: an older ATP says nothing of the newer quantity."""
    if row["atp"] is None and atp is not None and as_utc(row["updated_at"]) == at:
        row["atp"] = atp


def in_utc(stamp: datetime) -> datetime:
    """A reading's time in UTC (one without a zone is UTC): SQLite keeps a time's clock without its zone, so one
    written in another zone would read back hours off."""
    return stamp if stamp.tzinfo is UTC else as_utc(stamp).astimezone(UTC)


def atp_above_quantity(level: StockLevel) -> str | None:
    """Why a reading promises more than its warehouse holds (an ATP above its quantity and above 0), else None.
    The reading is kept as sent; the import notes this as a `problem` of its row or record."""
    if level.atp is None or level.atp <= level.quantity or level.atp <= 0:
        return None
    return (f"ATP {level.atp} in warehouse {level.warehouse} is more than its quantity {level.quantity}: kept as "
            "sent, and feeds and search offer the ATP. Check the reading in the ERP (does its ATP count planned "
            "receipts?) and that the map's `atp` and `quantity` are not swapped, then import the file again")


class CompleteStock(CompleteRun):
    """Complete stock files (an ERP stock map's `complete: true`): a file holds every warehouse of each SKU it
    names. `finish` removes the stored readings of the SKUs the run named in warehouses it did not hold (a
    warehouse retired), except one newer than the SKU's newest reading in the run (taken after the file was
    written). SKUs the run never named keep theirs."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, STOCK_SEEN)

    def put(self, store: Store, levels: list[StockLevel]) -> int:
        """put_stock, noting each reading's SKU, warehouse and time under the run in the same transaction (a
        reading older than the stored one is not written, but its warehouse is held all the same)."""
        with store.begin() as conn:
            count = put_stock_in(store, conn, levels)
            noted: dict[tuple[str, str], datetime] = {}
            for level in levels:
                key, at = (level.sku, level.warehouse), in_utc(level.updated_at)
                if noted.get(key, at) <= at:
                    noted[key] = at
            stamp = now()
            store.upsert_rows(conn, STOCK_SEEN, [{"run": self.run, "sku": sku, "warehouse": warehouse, "read_at": at,
                                                  "noted_at": stamp} for (sku, warehouse), at in noted.items()],
                              ["run", "sku", "warehouse"])
            return count

    def _remove(self, conn: Connection) -> int:
        """Their products get a new write sequence, as a changed reading gives them (put_stock_in)."""
        seen = STOCK_SEEN
        named = select(seen.c.sku).where(seen.c.run == self.run)
        held = select(seen.c.run).where(seen.c.run == self.run, seen.c.sku == STOCK.c.sku,
                                        seen.c.warehouse == STOCK.c.warehouse).exists()
        newest = select(func.max(seen.c.read_at)).where(seen.c.run == self.run,
                                                        seen.c.sku == STOCK.c.sku).scalar_subquery()
        gone = conn.execute(delete(STOCK).where(STOCK.c.sku.in_(named), ~held, STOCK.c.updated_at <= newest)
                            .returning(STOCK.c.sku)).scalars().all()
        if gone:
            self.store.touch_products(conn, sorted(set(gone)))
        return len(gone)

    def close(self, job_id: int | None, rejected: int, *, file: Path, source: str) -> int:
        """CompleteRun._closed: a rejected row may be a warehouse that still holds stock."""
        return self._closed(job_id, rejected, key=f"complete-stock:{file.name}", file=file, source=source,
                            said=f"complete stock file: no warehouse was removed because {rejected} row(s) were "
                                 "rejected; fix them and import the file again")


@dataclass(frozen=True)
class WarehouseList:
    """Every warehouse of a SKU as of `at`, as one record states it (an IDoc's E1MARDM segments, under the map's
    `stock.complete`): `retire_warehouses` removes the SKU's stored readings in the others."""

    sku: str
    warehouses: frozenset[str]
    at: datetime


def retire_warehouses(store: Store, conn: Connection, lists: list[WarehouseList]) -> int:
    """Remove, in the caller's transaction (after the lists' readings are written), each list's SKU's stored
    readings in warehouses it does not hold, but not one newer than the list (taken after it: files arrive out
    of order); lists apply in order. One read and at most one delete per call; returns the readings removed.
    Their products get a new write sequence, as a changed reading gives them (put_stock_in)."""
    if not lists:
        return 0
    store.lock_writes(conn)  # as put_stock_in: before the rows it deletes
    stored: dict[str, dict[str, datetime]] = {}
    for chunk in batched(sorted({held.sku for held in lists}), 5000):
        q = select(STOCK.c.sku, STOCK.c.warehouse, STOCK.c.updated_at).where(STOCK.c.sku.in_(chunk))
        for sku, warehouse, at in conn.execute(q):
            stored.setdefault(sku, {})[warehouse] = at
    gone: list[dict[str, str]] = []
    for held in lists:
        readings = stored.get(held.sku)
        if readings is None or readings.keys() <= held.warehouses:
            continue
        for warehouse in [w for w, at in readings.items() if w not in held.warehouses and as_utc(at) <= held.at]:
            del readings[warehouse]
            gone.append({"s": held.sku, "w": warehouse})
    if gone:
        conn.execute(delete(STOCK).where(STOCK.c.sku == bindparam("s"), STOCK.c.warehouse == bindparam("w")), gone)
        store.touch_products(conn, sorted({g["s"] for g in gone}))
    return len(gone)


def stock_for(store: Store, skus: list[str]) -> dict[str, Availability]:
    """Summed over warehouses (pim.stock_sums.sum_stock: one reading of a doubled location when
    PIM_FEED_STOCK_KEYS picks one); `updated_at` is the oldest reading, so staleness is never hidden."""
    with store.engine.connect() as conn:
        return sum_stock(row for chunk in batched(skus, 5000)
                         for row in conn.execute(select(*_READING).where(STOCK.c.sku.in_(chunk))))


def stock_read_between(store: Store, low: datetime, high: datetime) -> list[str]:
    """SKUs with a stock reading (any warehouse) taken in [low, high]: whose age crossed a limit then."""
    with store.engine.connect() as conn:
        return list(conn.execute(select(STOCK.c.sku).where(STOCK.c.updated_at >= low, STOCK.c.updated_at <= high)
                                 .distinct()).scalars())


def stock_changed_since(store: Store, since: datetime) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(STOCK.c.sku).where(STOCK.c.updated_at > since).distinct()).scalars())




def price_list_tiers(store: Store, customer: str, currency: str, on: date | None = None) -> dict[str, list[Tier]]:
    """Like `contract_tiers`, for every SKU of the customer's price list in one query (no SKU list to bind):
    for a run that prices many SKUs of the same customer."""
    day = on or datetime.now(UTC).date()
    q = select(PRICE.c.sku, PRICE.c.min_qty, PRICE.c.price).where(
        PRICE.c.customer == customer,
        PRICE.c.currency == currency,
        PRICE.c.valid_from <= day,
        or_(PRICE.c.valid_to.is_(None), PRICE.c.valid_to >= day),
    ).order_by(PRICE.c.sku, PRICE.c.min_qty, PRICE.c.valid_from.desc())
    result: dict[str, dict[Decimal, Tier]] = {}
    with store.engine.connect() as conn:
        for sku, min_qty, price in conn.execute(q):
            tiers = result.setdefault(sku, {})
            # With overlapping validity, the most recently started entry wins for a quantity.
            qty = Decimal(min_qty)
            if qty not in tiers:
                tiers[qty] = Tier(qty, Decimal(price))
    return {sku: list(t.values()) for sku, t in result.items()}


def stock_all(store: Store) -> dict[str, Availability]:
    """`stock_for` over every SKU with a stock reading, in one scan."""
    with store.engine.connect() as conn:
        return sum_stock(conn.execute(select(*_READING)))
