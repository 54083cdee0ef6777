"""A supplier table's prices per price unit and its quantity tiers (a profile's `price_unit_column` and `tiers`).
A row's cells are read as a BMEcat catalog's prices are (importers.tier_checks: `unit_price`, `tier_problem`); its
tiers ride on its record (`Parsed.extras`) and are written, and the ones it no longer holds removed, in its
import batch's own transaction, only when the record is taken in (`TierWriter.put`): a row the merge refuses,
or a crash before the batch commits, leaves the stored tiers as they were. A row restates the tiers of its own
currency and validity period only (`StatedTiers.scope`): a file of next year's prices, or of another currency,
leaves the product's other tiers in place, as an ERP price list's rows do. A period ends, at the latest, the day
before the next one of its currency starts (importers.tier_periods): prices are read per quantity by latest start
(pim.commerce.contract_tiers), so an earlier list left open would lend its tiers to a later one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection, select

from importers.tier_checks import tier_problem, unit_price, unit_price_problem
from importers.tier_periods import GapNotes, chain_periods, remove_gone
from importers.erp_csv import header_name
from pim.commerce import EARLIEST, PRICE, put_price_rows_in, remove_price_list_entries_in
from pim.importing import ImportCounts, Parsed, file_warning
from pim.product import split_key
from pim.sources import Placed, put_placed_in
from pim.spelling import nearest
from pim.store import Store
from pim.store.store import batched
from pim.structure import AttributeType
from pim.values import ValueProblem

if TYPE_CHECKING:
    from importers.supplier_table import SupplierTableMap


class TierColumn(BaseModel):
    """One quantity tier of a row: its price column and its lower bound (BMEcat LOWER_BOUND), fixed or a column."""

    model_config = ConfigDict(extra="forbid")

    price: str = Field(description="Column holding the tier's price (for `price_unit_column` pieces when set).")
    min_qty: Decimal | None = Field(default=None, gt=0, description="The quantity the tier starts at (LOWER_BOUND).")
    min_qty_column: str | None = Field(default=None, description="…or the column holding it.")

    @field_validator("price", "min_qty_column")
    @classmethod
    def _header_name(cls, name: str | None) -> str | None:
        return header_name(name) if name is not None else None

    @model_validator(mode="after")
    def _one_bound(self) -> TierColumn:
        if (self.min_qty is None) == (self.min_qty_column is None):
            raise ValueError("give a tier either `min_qty` (the quantity it starts at) or `min_qty_column`")
        return self


class SupplierTiers(BaseModel):
    """Quantity tiers stored as a price list, as a BMEcat map's `tier_price_list` stores a catalog's tiers."""

    model_config = ConfigDict(extra="forbid")

    price_list: str = Field(min_length=1, max_length=100, description="The price list the tiers are stored as.")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description=(
        "Currency of the tier prices; with `currency_column`, of a row whose currency cell is empty."))
    currency_column: str | None = Field(default=None, description=(
        "Column holding the ISO 4217 code (EUR, CHF) of the row's tier prices, for a file in several currencies."))
    valid_from_column: str | None = Field(default=None, description=(
        "Column holding the first day the row's tiers are valid (in the profile's `date_format`); empty: always."))
    valid_to_column: str | None = Field(default=None, description=(
        "Column holding the last day the row's tiers are valid (in the profile's `date_format`); empty: open-ended."))
    columns: list[TierColumn] = Field(min_length=1, description="One entry per tier.")

    @field_validator("currency_column", "valid_from_column", "valid_to_column")
    @classmethod
    def _header_name(cls, name: str | None) -> str | None:
        return header_name(name) if name is not None else None

    @model_validator(mode="after")
    def _a_currency(self) -> SupplierTiers:
        if self.currency is None and self.currency_column is None:
            raise ValueError("give the tiers a `currency` (EUR), or a `currency_column` that holds each row's")
        return self

    def row_columns(self) -> list[str]:
        """The columns a row's tiers read besides their price and bound columns: currency and validity dates."""
        return [c for c in (self.currency_column, self.valid_from_column, self.valid_to_column) if c]


_ISO_CURRENCY = re.compile(r"^[A-Z]{3}$").fullmatch


class CellProblem(ValueProblem):
    """A price cell that does not read, naming its column (the row is rejected under it)."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column


@dataclass
class StatedTiers:
    """A row's tiers (PriceListEntry fields; the SKU is set once matched, `TierWriter.placed`): its record's
    `Parsed.extras`, even when empty, so that a row whose tier cells were emptied still removes its tiers.
    `whole`: the file has every tier column, so the row's tiers are all its tiers in the list; else they are
    only added and changed (the file's missing columns are named in the unread-columns warning). `scope`: the
    (currency, valid_from) the row restates, whose other quantity tiers it removes; None when a row with no tier
    names no currency (or its terms do not read): it removes nothing."""

    rows: list[dict[str, Any]]
    whole: bool
    scope: tuple[str, date] | None = None
    sku: str = "-"


class PriceCells:
    """Where one header holds the price unit and the tiers, worked out once per file, and a row's reading."""

    def __init__(self, header: list[str], m: SupplierTableMap, types: dict[str, Any]) -> None:
        at = {column: n for n, column in enumerate(header)}
        self.m = m
        self.per_at = at.get(m.price_unit_column or "")
        self.price_keys = [(column, rule.to) for column, rule in m.rules().items() if column in at
                           and types.get(split_key(rule.to)[0]) == AttributeType.price_collection]
        tiers = m.tiers.columns if m.tiers else []  # a tier whose columns the file lacks: not stated
        # the row's currency and validity columns; one the file lacks gives the profile's currency, no dates
        self.currency_at, self.from_at, self.to_at = (
            at.get(column or "") for column in ((m.tiers.currency_column, m.tiers.valid_from_column,
                                                 m.tiers.valid_to_column) if m.tiers else ("", "", "")))
        self.tier_at = [(t, at[t.price], at.get(t.min_qty_column or "")) for t in tiers
                        if t.price in at and (t.min_qty_column is None or t.min_qty_column in at)]
        self.whole = len(self.tier_at) == len(tiers)
        if m.tiers and m.tiers.currency is None and self.currency_at is None:
            self.tier_at = []  # no currency for any tier: none is read (`report_missing_price_unit` says so once)

    @classmethod
    def of(cls, header: list[str], m: SupplierTableMap, types: dict[str, Any]) -> PriceCells | None:
        """The header's price cells, or None when it has neither the price unit column nor a tier's columns."""
        cells = cls(header, m, types)
        return cells if cells.per_at is not None or cells.tier_at else None

    def read(self, cells: list[str], values: dict[str, Any], number: Any) -> StatedTiers | None:
        """Turn the row's prices in `values` into prices per piece and read its tiers (None: the file has no tier
        column). CellProblem naming the column of a cell that gives no price."""
        m = self.m
        per_text = cells[self.per_at].strip() if self.per_at is not None else ""
        per = Decimal(1)
        if per_text:
            per = _decimal(per_text, m.price_unit_column or "", number)
            if per <= 0:
                raise CellProblem(m.price_unit_column or "", f"'{per_text}' in '{m.price_unit_column}' is no number of "
                                  "pieces the prices are for: fill in a positive number (1, 100), or leave it empty for 1")
        if per != 1:
            for column, key in self.price_keys:
                if prices := values.get(key):  # canonical amounts (the rule's setter read them)
                    values[key] = {currency: _per_piece(Decimal(amount), per, per_text, column)
                                   for currency, amount in prices.items()}
        if not self.tier_at:
            return None
        tiers: list[dict[str, Any]] = []
        terms: tuple[str, date | None, date | None] | None = None
        for tier, price_at, bound_at in self.tier_at:
            text = cells[price_at].strip()
            if not text:
                continue
            if terms is None:  # the row's, read once it has a tier
                terms = self._row_terms(cells)
            currency, valid_from, valid_to = terms
            bound = tier.min_qty if bound_at is None else _decimal(cells[bound_at].strip() or "?", tier.min_qty_column or "", number)
            row = {"sku": "-", "currency": currency, "min_qty": bound, "valid_from": valid_from, "valid_to": valid_to,
                   "price": Decimal(_per_piece(_decimal(text, tier.price, number), per, per_text, tier.price))}
            if wrong := tier_problem(row, None, None):
                raise CellProblem(tier.price, f"tier price '{text}' from {bound}: {wrong}")
            tiers.append(row)
        if terms is None:  # no tier: the period its emptied cells clear, if its terms read
            try:
                terms = self._row_terms(cells)
            except CellProblem:
                terms = None
        return StatedTiers(tiers, self.whole, (terms[0], terms[1] or EARLIEST) if terms else None)

    def _row_terms(self, cells: list[str]) -> tuple[str, date | None, date | None]:
        """The row's tier currency and validity dates; CellProblem naming the column of a cell that gives none."""
        t = self.m.tiers
        code = cells[self.currency_at].strip().upper() if self.currency_at is not None else ""
        currency = code or t.currency  # type: ignore[union-attr]
        if currency is None:
            raise CellProblem(t.currency_column or "", f"'{t.currency_column}' is empty and the profile's tiers have "  # type: ignore[union-attr]
                              "no `currency`: fill in the ISO code of the row's prices (EUR), or give the tiers one")
        if not _ISO_CURRENCY(currency):
            raise CellProblem(t.currency_column or "", f"'{code}' in '{t.currency_column}' is no ISO 4217 currency "  # type: ignore[union-attr]
                              "code (three letters: EUR, CHF): correct the cell")
        days = []
        for at, column in ((self.from_at, t.valid_from_column), (self.to_at, t.valid_to_column)):  # type: ignore[union-attr]
            text = cells[at].strip() if at is not None else ""
            try:
                days.append(self.m.day(text) if text else None)
            except ValueProblem as exc:
                raise CellProblem(column or "", f"'{column}': {exc}; fill in the date as the profile's "
                                  f"`date_format` ({self.m.date_format}) gives it, or leave it empty") from None
        if days[0] is not None and days[1] is not None and days[1] < days[0]:
            raise CellProblem(t.valid_to_column or "", f"'{t.valid_to_column}' {days[1]} is before "  # type: ignore[union-attr]
                              f"'{t.valid_from_column}' {days[0]}: correct one of the two dates")
        return currency, days[0], days[1]


def _decimal(text: str, column: str, number: Any) -> Decimal:
    """A price or quantity cell as a Decimal, read with the profile's number format."""
    try:
        return Decimal(number(text))
    except (ValueProblem, InvalidOperation):
        raise CellProblem(column, f"'{text}' in '{column}' is not a number") from None


def _per_piece(amount: Decimal, per: Decimal, per_text: str, column: str) -> str:
    """An amount for `per` pieces as the canonical text of the price of one (`unit_price`)."""
    each = unit_price(amount, per)
    if each is None:
        raise CellProblem(column, f"'{column}': {unit_price_problem(str(amount), per_text)}")
    return format(each, "f")


class TierWriter:
    """A supplier table's tiers into its price list, as a BMEcat catalog's go (`import_bmecat`'s put_extras): the
    import's `extras` writer, so each batch's tiers are written, and the tiers its rows no longer hold removed
    (pim.commerce.remove_price_list_entries_in), in the batch's own transaction, for the rows taken in only. They
    are counted once the batch commits (`committed`)."""

    def __init__(self, store: Store, m: SupplierTableMap) -> None:
        self.store, self.m = store, m
        self.written = self.removed = self.ended = self.resumed = 0
        self._batch = (0, 0, 0, 0)  # what the batch being written wrote, removed, ended and resumed
        self.gaps = GapNotes()  # products left without tiers after a period with its own end (tier_periods)

    def placed(self, items: Iterator[Any]) -> Iterator[Any]:
        """The items, each row's tiers given its SKU (matched by now)."""
        for item in items:
            if isinstance(item, Parsed):
                for stated in item.extras:
                    if isinstance(stated, StatedTiers):  # not a cross-reference pair (pim.sources.Placed)
                        stated.sku = item.record.identifier
            yield item

    def put(self, conn: Connection, batch: list[StatedTiers | Placed]) -> None:
        """Also the cross-reference pairs SKU matching found for the rows taken in (`match_skus(defer=True)`):
        a row refused for any reason leaves no pair."""
        put_placed_in(self.store, conn, self.m.source, batch)
        batch = [stated for stated in batch if isinstance(stated, StatedTiers)]  # type: ignore[misc]
        self.gaps.pending = []
        if self.m.tiers is None or not batch:
            return
        price_list, source = self.m.tiers.price_list, self.m.source
        scopes: dict[str, set[tuple[str, date]]] = {}  # SKU → the (currency, valid_from) periods its rows restate
        said: dict[str, set[tuple[Any, ...]]] = {}  # SKU → the tiers they state
        for stated in batch:
            if stated.whole and stated.scope is not None:  # two rows of one SKU (two supplier ids, two
                scopes.setdefault(stated.sku, set()).add(stated.scope)  # currencies): both rows' tiers stay
                said.setdefault(stated.sku, set()).update((t["currency"], t["min_qty"], t["valid_from"] or EARLIEST)
                                                          for t in stated.rows)
        keep = _kept(self.store, conn, price_list, source, scopes, said) if scopes else {}
        removed = len(remove_price_list_entries_in(self.store, conn, price_list, source, keep)) if keep else 0
        rows = [{"customer": price_list, **t, "sku": stated.sku, "source": source} for stated in batch for t in stated.rows]
        days = chain_periods(self.store, conn, price_list, source, rows, self.gaps.pending,  # one list a day
                             also=set(scopes))  # a cleared period: the one it ended runs on
        removed += remove_gone(self.store, conn, days.gone)  # a resumed part a later period took over
        self._batch = (put_price_rows_in(self.store, conn, days.rows) if days.rows else 0, removed,
                       put_price_rows_in(self.store, conn, days.ended) if days.ended else 0,
                       put_price_rows_in(self.store, conn, days.resumed) if days.resumed else 0)

    def committed(self, _: int) -> None:
        """After each batch commits (run_import's on_batch): its tiers count, and only then (a batch prepared
        again or rolled back wrote none)."""
        self.written += self._batch[0]
        self.removed += self._batch[1]
        self.ended += self._batch[2]
        self.resumed += self._batch[3]
        self._batch = (0, 0, 0, 0)
        self.gaps.committed()

    def report(self, counts: ImportCounts, file: str) -> None:
        if self.m.tiers is not None:
            self.gaps.report(self.store, counts, self.m.source, file, self.m.tiers.price_list,
                             self.m.tiers.valid_to_column or self.m.tiers.columns[0].price)
        if self.written:
            counts.extra["tier_prices"] = self.written
        if self.removed:
            counts.extra["tier_prices_removed"] = self.removed
        if self.ended:  # stored tiers of an earlier period given an end by a later one (importers.tier_periods)
            counts.extra["tier_prices_ended"] = self.ended
        if self.resumed:  # stored tiers of an earlier period resuming after a later one's own end (tier_periods)
            counts.extra["tier_prices_resumed"] = self.resumed


def _kept(store: Store, conn: Connection, price_list: str, source: str, scopes: dict[str, set[tuple[str, date]]],
          said: dict[str, set[tuple[Any, ...]]]) -> dict[str, set[tuple[Any, ...]]]:
    """SKU → the stored tiers of `source` to keep (pim.commerce.remove_price_list_entries_in's `keep`), for the
    SKUs that have a stale one: a tier of a restated (currency, valid_from) its rows no longer hold. Tiers of
    other currencies and periods stay. Read under the write lock, in the batch's transaction."""
    store.lock_writes(conn)
    keep: dict[str, set[tuple[Any, ...]]] = {}
    stale: set[str] = set()
    for part in batched(sorted(scopes), 1000):
        for sku, currency, qty, since in conn.execute(select(PRICE.c.sku, PRICE.c.currency, PRICE.c.min_qty,
                                                             PRICE.c.valid_from).where(
                PRICE.c.customer == price_list, PRICE.c.source == source, PRICE.c.sku.in_(part))):
            key = (currency, qty, since)
            if (currency, since) in scopes[sku] and key not in said[sku]:
                stale.add(sku)
            else:
                keep.setdefault(sku, set()).add(key)
    return {sku: keep.get(sku, set()) for sku in stale}


def report_missing_price_unit(store: Store, counts: ImportCounts, m: SupplierTableMap, header: list[str],
                              file: str) -> None:
    """One `warning` when the profile names a `price_unit_column` the file's header lacks (renamed, misspelled,
    dropped): every price and tier of the file was then read as the price of one piece, which is off by the
    price unit (a price per 100 stored as per piece), so it is said whatever else the file has. The file's
    next run replaces the warning, or closes it once the column is back. A `currency_column` the file lacks
    is said the same way (`_report_missing_currency`)."""
    _report_missing_currency(store, counts, m, header, file)
    column = m.price_unit_column
    if not column or not header:
        return
    reason = None
    if column not in header:
        counts.extra["price_unit_missing"] = 1
        near = nearest(column, [h for h in header if h])
        reason = (f"the profile's price_unit_column '{column}' is not in this file"
                  + (f" (the header has '{near}')" if near else "") + ": its prices and tiers were read as prices of "
                  "one piece. If they are for more pieces (per 100), correct the column name in the profile or the "
                  "file and import it again; if the file has no price unit, take `price_unit_column` out of the profile")
    file_warning(store, counts.job_id, m.source, f"price-unit-missing:{file}", reason, file=file, field=column)


def _report_missing_currency(store: Store, counts: ImportCounts, m: SupplierTableMap, header: list[str],
                             file: str) -> None:
    """One `warning` when the profile's tiers take their currency from a `currency_column` the file's header
    lacks and have no `currency` to fall back on: no tier of the file has a currency, so none was read
    (`PriceCells`), rather than every row refused as if its currency cell were empty. The products' other
    values are imported and their stored tiers left as they were. Replaced by the file's next run, or closed."""
    t = m.tiers
    if t is None or t.currency_column is None or not header:
        return
    reason = None
    if t.currency is None and t.currency_column not in header and any(c.price in header for c in t.columns):
        counts.extra["tier_currency_missing"] = 1
        near = nearest(t.currency_column, [h for h in header if h])
        reason = (f"the profile's tiers take their currency from column '{t.currency_column}', which is not in this "
                  "file" + (f" (the header has '{near}')" if near else "") + f": no tier price of '{t.price_list}' "
                  "was read and the stored ones were left as they were. Correct the column name in the profile or "
                  "the file, or give the tiers a `currency` (EUR) for files without the column, and import it again")
    file_warning(store, counts.job_id, m.source, f"tier-currency-missing:{file}", reason, file=file,
                 field=t.currency_column)
