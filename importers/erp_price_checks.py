"""A price list's rows checked against each other as they stream (PriceChecks): a key given again with another
price, tiers inverted within a validity window, a price of 0, customers and currencies no contract prices from.
Shared by the ERP CSV price list and the JSON Lines one (`pim feeds prices`); split out of importers.erp_csv,
which builds the checks for a CSV file (csv_price_checks)."""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache
from itertools import chain
from typing import Any

from importers.erp_values import problem_notes
from pim.commerce import EARLIEST, NUMERIC_PLACES, PriceListEntry, free_price, inverted_tiers
from pim.contracts import get_contracts
from pim.currencies import price_text
from pim.importing import ImportCounts, Rejected, file_warning
from pim.sources import RowItem
from pim.spelling import nearest
from pim.store import Store


class FirstRows:
    """The first line each key was read on, with a 32-bit digest of the values it gave, by the key's 64-bit hash:
    one int pair a key (~110 bytes; a dict of key tuples and values takes 400: a million-row price list, 110 MB).
    Two keys sharing a hash (a chance in 10^7 for a million keys) read as one."""

    def __init__(self) -> None:
        self._first: dict[int, int] = {}  # hash(key) → line << 32 | digest of its values

    def earlier(self, key: tuple[Any, ...], line: int, values: tuple[Any, ...]) -> int | None:
        """The line of the first row of `key` when it gave other `values`, else None (the first row is noted; a
        repeat giving the same values changes nothing)."""
        row = line << 32 | hash(values) & 0xFFFFFFFF
        held = self._first.setdefault(hash(key), row)
        return held >> 32 if (held ^ row) & 0xFFFFFFFF else None


class EarlierTiers:
    """The tiers read so far of each (customer, SKU, currency, validity window), so that tiers a file does not
    give on adjacent rows are still compared: packed by the window's 64-bit hash, 20 bytes a tier in one bytes
    object a window, ~95 bytes a window besides with its dict entry (~50 bytes a row where windows have three
    tiers; FirstRows takes ~110), the first CAP tiers of a window only. Two windows sharing a hash (as
    FirstRows' keys) read as one."""

    CAP = 32
    TIER = struct.Struct("<qqI")  # min_qty and price in units of 10^-NUMERIC_PLACES (all they can hold), line
    UNIT = Decimal(10) ** NUMERIC_PLACES

    def __init__(self) -> None:
        self._held: dict[int, bytes] = {}

    def swap(self, window: int, tiers: list[tuple[int, int, int]]) -> bytes:
        """The tiers held for `window` (a hash) before, packed (b"" for none), once `tiers` (min_qty and price in
        UNITs, line) are held too."""
        held = self._held.get(window)
        if held is None:  # most windows, in a file that gives each one's tiers together
            self._held[window] = _packed(tiers[:self.CAP])
            return b""
        room = self.CAP - len(held) // self.TIER.size
        if room > 0:
            self._held[window] = held + _packed(tiers[:room])
        return held

    @classmethod
    def inverted(cls, held: bytes, tiers: list[tuple[int, int, int]]) -> bool:
        """Whether a tier held and one of `tiers` invert each other: the larger quantity costs more per unit."""
        return any((q - q2) * (p - p2) > 0 for q, p, _ in cls.TIER.iter_unpack(held) for q2, p2, _ in tiers)

    @classmethod
    def entries(cls, held: bytes, window: tuple[Any, ...]) -> list[tuple[PriceListEntry, int]]:
        """The tiers held, each with its line, as entries of `window` whose amounts read as stored ("45.00")."""
        customer, sku, currency = window[:3]
        return [(PriceListEntry.model_construct(customer=customer, sku=sku, currency=currency,
                                                price=Decimal(price_text(_amount(price), currency)),
                                                min_qty=_amount(qty)), line)
                for qty, price, line in cls.TIER.iter_unpack(held)]


@lru_cache(maxsize=EarlierTiers.CAP)
def _packer(tiers: int) -> struct.Struct:
    return struct.Struct("<" + EarlierTiers.TIER.format.lstrip("<") * tiers)


def _packed(tiers: list[tuple[int, int, int]]) -> bytes:
    return _packer(len(tiers)).pack(*chain.from_iterable(tiers))


def _amount(units: int) -> Decimal:
    """An amount EarlierTiers packed, without the zeros packing added (10, 1.5)."""
    value = Decimal(units).scaleb(-NUMERIC_PLACES)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


#: Price-list customer → the currencies its contracts price in (Contract.price_customer, Contract.currency).
Contracted = dict[str, frozenset[str]]


class PriceChecks:
    """A price list's rows checked against each other as they stream: a key (customer, SKU, currency, quantity,
    valid_from) given again with another price or end date is rejected naming the first row's line (the last row
    silently won); the tiers of one customer, SKU, currency and validity window are checked as a whole for a
    larger quantity costing more per unit (a window's adjacent rows, as ERPs export them, against each other and
    against the window's tiers read before: EarlierTiers), and a price of 0 is noted: both as `problem`s, the
    rows kept. Rows of a customer and currency no contract prices from are counted for one warning per file
    (`report`), when contracts exist. `raw`: a row's quarantine `raw` from what `take` was given with it (a CSV
    row's cells, a JSON line's object)."""

    SHOWN = 10
    GROUP = 1000  # the most adjacent tiers held at once: memory stays bounded on any file

    def __init__(self, file: str, source: str, raw: Callable[[Any], dict[str, Any]], *,
                 contracted: Contracted | None = None, price_column: str = "price",
                 customer_column: str = "customer") -> None:
        self.file, self.source, self.raw = file, source, raw
        self.price_column, self.customer_column = price_column, customer_column
        self.firsts = FirstRows()
        self.earlier = EarlierTiers()
        self.group: list[tuple[PriceListEntry, RowItem, int, Any]] = []
        self.window: tuple[Any, ...] | None = None
        self.contracted = contracted
        self.uncontracted: Counter[tuple[str, str]] = Counter()

    def take(self, entry: PriceListEntry, key: str, line: int, row: Any) -> Sequence[RowItem | Rejected]:
        """What to yield now: the row's refusal, or the items of the tier group this row ends (this row's item
        is held with its group: `flush` gives the last one)."""
        stored_key = (entry.customer, entry.sku, entry.currency, entry.min_qty, entry.valid_from or EARLIEST)
        first = self.firsts.earlier(stored_key, line, (entry.price, entry.valid_to))
        if first is not None:
            return [Rejected(_repeated(entry, first), self.file, line, self.price_column, self.raw(row), key)]
        if self.contracted is not None and entry.currency not in self.contracted.get(entry.customer, ()):
            self.uncontracted[entry.customer, entry.currency] += 1
        item = RowItem(entry, key)
        if (free := free_price(entry)) is not None:
            self._note(item, line, row, free)
        window = (entry.customer, entry.sku, entry.currency, entry.valid_from, entry.valid_to)
        done = self.flush() if window != self.window or len(self.group) >= self.GROUP else ()
        self.window = window
        self.group.append((entry, item, line, row))
        return done

    def flush(self) -> list[RowItem | Rejected]:
        """The items of the tier group held, an inverted tier's with its problem: against the group's other
        tiers and the tiers of its window read before (noted on this group's row either way)."""
        group, self.group = self.group, []
        if not group or self.window is None:
            return []
        unit = EarlierTiers.UNIT
        tiers = [(int(e.min_qty * unit), int(e.price * unit), line & 0xFFFFFFFF)  # a line past 2^32 only names a row
                 for e, _, line, _ in group]
        held = self.earlier.swap(hash(self.window), tiers)
        if held and EarlierTiers.inverted(held, tiers):
            self._check_with(group, EarlierTiers.entries(held, self.window))
        elif len(group) > 1:
            self._check_with(group, [])
        return [g[1] for g in group]

    def _check_with(self, group: list[tuple[PriceListEntry, RowItem, int, Any]],
                    before: list[tuple[PriceListEntry, int]]) -> None:
        """Note the group's inverted tiers, compared with each other and with the window's tiers read `before`."""
        lines = [line for _, line in before] + [g[2] for g in group]
        dearer = inverted_tiers([e for e, _ in before] + [g[0] for g in group], lambda n: f"line {lines[n]}")
        for n, (entry, item, line, row) in enumerate(group, start=len(before)):
            why = dearer.get(n) or (_undercut(entry, before) if before else None)
            if why is not None:
                self._note(item, line, row, why)

    def _note(self, item: RowItem, line: int, row: Any, why: str) -> None:
        item.problems += problem_notes([(self.price_column, why)], self.file, line, self.raw(row), item.key,
                                       self.source)

    def report(self, store: Store, counts: ImportCounts, source: str) -> None:
        """One warning for the file naming the customers no contract prices from, with the contract customer a
        name may have meant (`acme` for `ACME`), and the customers priced in a currency none of their contracts
        uses (a contract's feed shows only its own currency); the file's next run replaces or closes it."""
        reason = None
        if self.uncontracted and self.contracted is not None:
            counts.extra["uncontracted_rows"] = sum(self.uncontracted.values())
            reason = _uncontracted(self.uncontracted, self.contracted, self.SHOWN)
        file_warning(store, counts.job_id, source, f"uncontracted-customers:{self.file}", reason,
                     file=self.file, field=self.customer_column)


def _undercut(entry: PriceListEntry, before: list[tuple[PriceListEntry, int]]) -> str | None:
    """Why `entry` inverts the tiers of its window read before it, being cheaper than a larger quantity's tier
    (inverted_tiers notes a tier dearer than a smaller quantity's), else None."""
    dearer = [(tier, line) for tier, line in before if tier.min_qty > entry.min_qty and tier.price > entry.price]
    if not dearer:
        return None
    tier, line = min(dearer, key=lambda t: t[0].min_qty)
    return (f"{entry.currency} {entry.price} from quantity {entry.min_qty} is less than {tier.price} from quantity "
            f"{tier.min_qty} (line {line}): a larger order would pay more per unit (inverted tiers). Kept as sent; "
            "check the tiers in the ERP (a price or quantity swapped?), then import the file again")


def _uncontracted(rows: Counter[tuple[str, str]], contracted: Contracted, shown: int) -> str:
    """The warning's text: customers no contract names (per customer, the contract customer each may mean),
    then customers priced in a currency their contracts do not use (per customer and currency)."""
    nobody: Counter[str] = Counter()
    elsewhere: Counter[tuple[str, str]] = Counter()
    for (customer, currency), n in rows.items():
        if customer in contracted:
            elsewhere[customer, currency] += n
        else:
            nobody[customer] += n
    parts = []
    if nobody:
        named = [f"{customer} ({_rows(n)}" + (f"; a contract has '{near}'" if (near := nearest(customer, contracted)) else "")
                 + ")" for customer, n in nobody.most_common(shown)]
        parts.append(f"{nobody.total()} row(s) give prices to customers no contract names: {', '.join(named)}"
                     + _more(len(nobody) - len(named)))
    if elsewhere:
        named = [f"{customer} in {currency} ({_rows(n)}; its contracts price in {', '.join(sorted(contracted[customer]))})"
                 for (customer, currency), n in elsewhere.most_common(shown)]
        parts.append(f"{elsewhere.total()} row(s) give prices in a currency no contract of their customer uses: "
                     f"{', '.join(named)}" + _more(len(elsewhere) - len(named)))
    return ("; ".join(parts) + ". They are kept but reach no feed: a contract takes the prices of the customer its "
            "`pricing.price_list` names, else of its `customer`, spelled exactly (case counts), in the contract's "
            "`currency`. Correct the customer or currency in the ERP export and import the file again, or fix the "
            "contract (pim feeds load): the file's next import closes this warning")


def _rows(n: int) -> str:
    return f"{n} row{'s' if n > 1 else ''}"


def _more(more: int) -> str:
    return f" and {more} more" if more else ""


def contracted_customers(store: Store) -> Contracted | None:
    """The price-list customers contracts price from (Contract.price_customer) with each one's contract
    currencies, or None without any contract: the search index then takes a product's customers from the price
    lists themselves. One query (get_contracts)."""
    contracts = get_contracts(store)
    if not contracts:
        return None
    currencies: dict[str, set[str]] = {}
    for c in contracts:
        currencies.setdefault(c.price_customer, set()).add(c.currency)
    return {customer: frozenset(given) for customer, given in currencies.items()}


def _repeated(entry: PriceListEntry, first: int) -> str:
    since = f"valid from {entry.valid_from}" if entry.valid_from else "no valid_from"
    return (f"line {first} gives customer '{entry.customer}' a price for {entry.sku} from quantity {entry.min_qty}, "
            f"{since}, in {entry.currency} too, with another price or end date: this later row was not imported, "
            f"line {first}'s price stands; delete or correct one of the two rows, then import the file again")


