"""What makes a supplier's price a tier of a price list: the unit price of an amount given for several units, and
the checks a tier passes while its file is read (BMEcat PRODUCT_PRICE, supplier tables' tier columns)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from importers.erp_values import value_refusal
from pim.commerce import PriceListEntry


def unit_price(amount: Decimal, per: Decimal) -> Decimal | None:
    """The price of one order unit for an amount given for `per` of them (BMEcat PRICE_QUANTITY, a supplier
    table's `price_unit_column`: 25.00 per 100 pieces is 0.25): prices and price lists hold unit prices. None
    when no decimal is that price exactly (10.00 per 3), rather than a rounding nobody chose. A result with more
    places than a price list keeps is refused by the tier check (`tier_problem`)."""
    if per == 1:
        return amount
    each = amount / per
    return each if each * per == amount else None


def unit_price_problem(amount: str, per: str) -> str:
    """Why an amount for `per` units gives no unit price (`unit_price` is None), and what to do."""
    return (f"{amount} for {per} units is no exact price of one unit; ask the supplier for the price of one unit, "
            "or of a quantity it divides exactly")


#: PriceListEntry's price field alone (its type, bounds and places), for `BmecatMapper._tier_check`.
PRICE_FIELD: TypeAdapter[Decimal] = TypeAdapter(Annotated[Decimal, *PriceListEntry.model_fields["price"].metadata])


def tier_problem(tier: dict[str, Any], valid_from: str | None, valid_to: str | None) -> str | None:
    """Why a price cannot be a tier of a price list (a negative amount, a zero bound, a currency that is not an
    ISO code, a validity date that is no date), or None. Checked while parsing so that the product imports
    with the price listed as a problem, rather than the tier failing the import when it is written."""
    for name, text in (("DATETIME valid_start_date", valid_from), ("DATETIME valid_end_date", valid_to)):
        if text and day(text) is None:
            return f"{name} '{text}' is not a date (YYYY-MM-DD)"
    try:
        PriceListEntry(customer="-", **tier)
    except ValidationError as exc:
        return value_refusal(exc)
    return None


def day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
