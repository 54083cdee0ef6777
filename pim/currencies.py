"""How many decimals (minor units) an amount in a currency has: JPY 0, EUR 2, KWD 3, CLF 4. A price is stored and
written with at least them ("95.00", JPY "1197", KWD "11.975"); more decimals are kept as given, since B2B unit
prices go below the minor unit (EUR 0.0123 a screw), and a computed price (a discount) keeps its base price's
decimals, rounded to the currency's at least.

The numbers are CLDR's (the Unicode Common Locale Data Repository, supplementalData.xml `<currencyData>` `digits`),
read through Babel's `babel.numbers.get_currency_precision`; a code CLDR does not list (XYZ, XTS) gets CLDR's
default, 2. CLDR follows ISO 4217 except where a minor unit is not used in practice: it gives IQD, RSD, ALL and a
few others 0 decimals where ISO 4217 lists 3 or 2. Babel is read once per code (cached): a price costs a dict
lookup.

Consumer channels (Google Merchant, the storefront) show what a shopper pays: `shelf_price` rounds half up to the
currency's minor units (EUR 19.999999 → 20.00, JPY 1234.5 → 1235), where B2B feeds keep the extra decimals. Such a
price is kept as typed (an import or edit never refuses it: B2B contract prices of EUR 0.0125 a screw are common);
`shelf_note` says what a consumer channel shows instead, for the quality finding `rounded_price` (pim.quality)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache

#: How an amount is rounded to its currency's minor unit (a discount off a list price): half to even, as
#: Decimal's default context rounded the two-decimal prices before minor units were read.
ROUNDING = ROUND_HALF_EVEN
#: How a consumer-facing price is rounded to its currency's minor unit: half up, as shoppers (and Google) read it.
SHELF_ROUNDING = ROUND_HALF_UP
#: Digits a price may have (pim.values: 15 before the point, 30 after): quantizing never rounds within them.
_DIGITS = 60
#: 1, 0.1, 0.01, …: the quantum of each number of decimals a price may have.
_QUANTA = [Decimal(1).scaleb(-n) for n in range(_DIGITS)]


@lru_cache(maxsize=4096)
def minor_units(code: str) -> int:
    """The decimals of an amount in the currency `code` (an upper-case ISO 4217 code), as CLDR gives them."""
    from babel.numbers import get_currency_precision  # Babel's CLDR data loads on first use, not with pim

    return get_currency_precision(code)


@lru_cache(maxsize=4096)
def price_pattern(code: str) -> re.Pattern[str]:
    """The stored (canonical) text of a price in `code`, as pim.values writes it: at most 15 digits before the
    point, the currency's decimals after it, and any more only up to a last one that is not 0 ("1234" and "1234.5"
    in JPY, "9.50" and "0.0123" in EUR)."""
    units = minor_units(code)
    more = rf"[0-9]{{0,{max(29 - units, 0)}}}[1-9]"
    return re.compile(r"(0|[1-9][0-9]{0,14})" + (rf"\.[0-9]{{{units}}}({more})?" if units else rf"(\.{more})?"))


def places(amount: Decimal, code: str) -> int:
    """The decimals `amount` is written with: the currency's, or its own where it has more (trailing zeros are
    none: EUR 9.500 has 2, 0.0123 has 4)."""
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):  # NaN, Infinity: pim.values refuses them before
        return minor_units(code)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:  # trailing zeros, counted without rounding
        digits, exponent = digits[:-1], exponent + 1
    return max(minor_units(code), -exponent if exponent < 0 else 0)


def rounded(amount: Decimal, code: str, like: Decimal | None = None, rounding: str = ROUNDING) -> Decimal:
    """`amount` rounded by `rounding` to the decimals `like` (the price it was computed from) is written with, or
    to the currency's when no `like` is given (KWD 11.97465 → 11.975; off EUR 0.0123, 0.011931 → 0.0119)."""
    with localcontext(prec=_DIGITS):
        return amount.quantize(_QUANTA[places(like if like is not None else Decimal(0), code)], rounding=rounding)


def shelf_price(amount: Decimal | str, code: str) -> Decimal:
    """A price as a shopper sees it (Google Merchant, the storefront): rounded half up to the currency's minor
    units (EUR 19.999999 → 20.00, JPY 1234.5 → 1235). B2B feeds write `price_text` and keep a unit price's
    extra decimals (EUR 0.0123 a screw); a consumer channel can neither show them nor compare on them."""
    value = amount if isinstance(amount, Decimal) else Decimal(amount)
    if value.as_tuple().exponent == -minor_units(code):  # "19.99" in EUR, the common case: nothing to round
        return value
    return rounded(value, code, rounding=SHELF_ROUNDING)


def price_text(amount: Decimal | str, code: str) -> str:
    """A price as it is stored and written: at least the currency's decimals ("95.00", JPY "1197", KWD "11.975"),
    where `decimal_text` would drop trailing zeros ("95"); more as given (EUR "0.0123")."""
    value = amount if isinstance(amount, Decimal) else Decimal(amount)
    exponent = value.as_tuple().exponent
    if exponent != -minor_units(code) or not value:  # "12.50" in EUR, the common case, is its own text already
        with localcontext(prec=_DIGITS):  # 15 digits before the point and 30 after, as pim.values allows, kept whole
            value = value.quantize(_QUANTA[places(value, code)])
    return format(value if value else value.copy_abs(), "f")  # "0.00", not "-0.00"


def shelf_note(amount: Decimal | str, code: str) -> str | None:
    """What a consumer channel shows instead of `amount` when it has more decimals than `code`'s minor units
    ("USD 13.999 has 3 decimals, USD has 2: consumer channels show 14.00; B2B feeds keep 13.999"), None when
    it shows the amount as stored."""
    value = amount if isinstance(amount, Decimal) else Decimal(amount)
    if not value.is_finite():
        return None
    units = minor_units(code)
    if places(value, code) <= units:
        return None
    text = price_text(value, code)
    return (f"{code} {text} has {places(value, code)} decimals, {code} has {units}: consumer channels (storefront, "
            f"Google Merchant) show and charge {price_text(shelf_price(value, code), code)}; B2B feeds keep {text}")
