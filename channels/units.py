"""Unit conversion for catalog fields (`unit:`): through the measurement catalogue (pim.measures), published
with a fixed number of decimals so a feed does not print 0.45359237 kg one day and 0.454 the next."""

from __future__ import annotations

from decimal import Decimal, localcontext

from pim.errors import ConfigError
from pim.measures import Measures, UnitError, builtin

#: Decimal places a converted amount is published with.
PLACES = Decimal("0.001")


def convert(amount: str | Decimal, unit: str, to: str, family: str | None = None,
            measures: Measures | None = None) -> Decimal:
    """`amount` in `unit` as `to` (codes, aliases or symbols of one measurement family, temperatures with their
    offsets), rounded to PLACES; ConfigError for an unknown unit or units of different families."""
    try:
        value = (measures or builtin()).convert(amount, unit, to, family)
    except UnitError as exc:
        raise ConfigError(str(exc), hint="a field's unit: must be a unit of its attribute's metric_family") from None
    return rounded_amount(value)


def rounded_amount(value: Decimal) -> Decimal:
    """A converted amount as it is published: to PLACES, trailing zeros dropped."""
    with localcontext() as ctx:
        ctx.prec = 60  # quantize needs every integer digit
        return value.quantize(PLACES).normalize()
