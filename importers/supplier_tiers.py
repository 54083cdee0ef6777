"""A supplier table's prices per price unit and its quantity tiers (a profile's `price_unit_column` and `tiers`).
A row's cells are read as a BMEcat catalog's prices are (importers.bmecat: `unit_price`, `tier_problem`); its
tiers ride on its record (`Parsed.extras`) and are written, and the ones it no longer holds removed, in its
import batch's own transaction, only when the record is taken in (`TierWriter.put`): a row the merge refuses,
or a crash before the batch commits, leaves the stored tiers as they were."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection

from importers.bmecat import tier_problem, unit_price, unit_price_problem
from importers.erp_csv import header_name
from pim.commerce import EARLIEST, put_price_rows_in, remove_price_list_entries_in
from pim.importing import ImportCounts, Parsed
from pim.product import split_key
from pim.store import Store
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
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="Currency of the tier prices.")
    columns: list[TierColumn] = Field(min_length=1, description="One entry per tier.")


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
    only added and changed (the file's missing columns are named in the unread-columns warning)."""

    rows: list[dict[str, Any]]
    whole: bool
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
        self.tier_at = [(t, at[t.price], at.get(t.min_qty_column or "")) for t in tiers
                        if t.price in at and (t.min_qty_column is None or t.min_qty_column in at)]
        self.whole = len(self.tier_at) == len(tiers)

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
        for tier, price_at, bound_at in self.tier_at:
            text = cells[price_at].strip()
            if not text:
                continue
            bound = tier.min_qty if bound_at is None else _decimal(cells[bound_at].strip() or "?", tier.min_qty_column or "", number)
            row = {"sku": "-", "currency": m.tiers.currency, "min_qty": bound, "valid_from": None, "valid_to": None,  # type: ignore[union-attr]
                   "price": Decimal(_per_piece(_decimal(text, tier.price, number), per, per_text, tier.price))}
            if wrong := tier_problem(row, None, None):
                raise CellProblem(tier.price, f"tier price '{text}' from {bound}: {wrong}")
            tiers.append(row)
        return StatedTiers(tiers, self.whole)


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
    """A supplier table's tiers into its price list, as a BMEcat catalog's go (`import_bmecat`'s put_tiers): the
    import's `extras` writer, so each batch's tiers are written, and the tiers its rows no longer hold removed
    (pim.commerce.remove_price_list_entries_in), in the batch's own transaction, for the rows taken in only. They
    are counted once the batch commits (`committed`)."""

    def __init__(self, store: Store, m: SupplierTableMap) -> None:
        self.store, self.m = store, m
        self.written = self.removed = 0
        self._batch = (0, 0)  # what the batch being written wrote and removed

    def placed(self, items: Iterator[Any]) -> Iterator[Any]:
        """The items, each row's tiers given its SKU (matched by now)."""
        for item in items:
            if isinstance(item, Parsed):
                for stated in item.extras:
                    stated.sku = item.record.identifier
            yield item

    def put(self, conn: Connection, batch: list[StatedTiers]) -> None:
        price_list, source = self.m.tiers.price_list, self.m.source  # type: ignore[union-attr]
        keep: dict[str, set[tuple[Any, ...]]] = {}
        for stated in batch:
            if stated.whole:  # two rows of one SKU (two supplier ids): both rows' tiers stay
                keep.setdefault(stated.sku, set()).update((t["currency"], t["min_qty"], EARLIEST) for t in stated.rows)
        removed = len(remove_price_list_entries_in(self.store, conn, price_list, source, keep)) if keep else 0
        rows = [{"customer": price_list, **t, "sku": stated.sku, "source": source} for stated in batch for t in stated.rows]
        self._batch = (put_price_rows_in(self.store, conn, rows) if rows else 0, removed)

    def committed(self, _: int) -> None:
        """After each batch commits (run_import's on_batch): its tiers count, and only then (a batch prepared
        again or rolled back wrote none)."""
        self.written += self._batch[0]
        self.removed += self._batch[1]
        self._batch = (0, 0)

    def report(self, counts: ImportCounts) -> None:
        if self.written:
            counts.extra["tier_prices"] = self.written
        if self.removed:
            counts.extra["tier_prices_removed"] = self.removed
