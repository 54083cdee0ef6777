"""Commercial data's shapes (pim.commerce): a price-list entry and a stock reading as imported, and the tables
that store them and what complete runs note."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Column, Date, DateTime, Numeric, String, Table
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel


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
    #: A supplier's tier periods (importers.tier_periods) are stored one list a day: a row's dates may be ours (a
    #: list ended the day before an offer, resumed the day after it). These keep the period the supplier stated,
    #: so the next import can work the days out again: its start (None: the row's own dates are the ones stated,
    #: as for any other entry) and its end (None: open-ended). Migration 0052.
    stated_from: date | None = SQLField(default=None, sa_column=Column(Date, nullable=True))
    stated_to: date | None = SQLField(default=None, sa_column=Column(Date, nullable=True))


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
