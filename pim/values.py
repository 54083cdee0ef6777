"""Checking and normalising one value against its attribute. Pure functions: importers, the API's inline
edit and the quality scorer all call them, so a value means the same wherever it enters."""

from __future__ import annotations

import heapq
import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from pim.currencies import price_text
from pim.measures import Measures, builtin
from pim.spelling import did_you_mean, nearest
from pim.structure import Attribute, AttributeType

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ValueProblem(ValueError):
    """The value does not fit its attribute; the message says why and what would fit."""


def is_filled(attribute_type: AttributeType | str, data: Any, currencies: list[str] | None = None) -> bool:
    """Akeneo's rule: null, "" and [] are empty; false and 0 are filled. Metrics need amount and unit;
    price collections need an amount for every currency asked for."""
    if data is None or data == "" or data == [] or data == {}:
        return False
    if attribute_type == AttributeType.metric:
        return isinstance(data, dict) and data.get("amount") not in (None, "") and bool(data.get("unit"))
    if attribute_type == AttributeType.price_collection:
        if not isinstance(data, dict):
            return False
        wanted = currencies if currencies is not None else list(data)
        return all(data.get(c) not in (None, "") for c in wanted)
    return True


#: A number, metric amount or price has at most this many digits before the decimal point and after it.
#: Far beyond product data, and it keeps every stored number a 64-bit integer or a short text: an exponent
#: such as 1e999999 would be written out as a million digits, a 1e309 price fails Decimal's rounding and a
#: 1e30 number fails JSON's integers.
MAX_DIGITS = 15
MAX_PLACES = 30


def check_magnitude(value: Decimal, raw: Any, what: str) -> Decimal:
    """`value` (finite), or ValueProblem when it has more digits before or after the point than are kept."""
    if value:
        if value.adjusted() >= MAX_DIGITS:
            raise ValueProblem(f"{what} '{raw}' is too large: at most {MAX_DIGITS} digits before the decimal point")
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_PLACES:
            raise ValueProblem(f"{what} '{raw}' has more than {MAX_PLACES} decimal places")
    return value


def _decimal(raw: Any, what: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", ".")) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        raise ValueProblem(f"{what} '{raw}' is not a number") from None
    if not value.is_finite():
        raise ValueProblem(f"{what} '{raw}' is not a finite number")
    return check_magnitude(value, raw, what)


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def normalize(attribute: Attribute, data: Any, options: set[str] | None = None,
              measures: Measures | None = None) -> Any:
    """Return the canonical form of `data` for `attribute`, or raise ValueProblem. None/"" mean 'clear'.
    `measures`: the catalogue metric units are checked against (the structure's; the built-in one if None)."""
    if data is None or data == "":
        return None
    kind = attribute.type
    if kind in (AttributeType.identifier, AttributeType.text, AttributeType.textarea):
        return _text(attribute, data)
    if kind == AttributeType.number:
        return _number(attribute, data)
    if kind == AttributeType.metric:
        return _metric(attribute, data, measures)
    if kind == AttributeType.price_collection:
        return _prices(data)
    if kind == AttributeType.simple_select:
        return _option(attribute, data, options)
    if kind == AttributeType.multi_select:
        items = data if isinstance(data, list) else [p for p in str(data).split(",") if p.strip()]
        return sorted({_option(attribute, item, options) for item in items})
    if kind == AttributeType.boolean:
        return _boolean(data)
    if kind == AttributeType.date:
        return _date(data)
    if kind in (AttributeType.image, AttributeType.file):
        if not isinstance(data, str):
            raise ValueProblem("an asset value is a path, URL or sha256:<hash> reference")
        wrong = extension_problem(attribute, data) or ref_problem(data)
        if wrong:
            raise ValueProblem(wrong)
        return _storable(data).strip()
    raise ValueProblem(f"unknown attribute type {kind}")  # pragma: no cover


def extension_problem(attr: Attribute, data: Any) -> str | None:
    """The file extension of an image or file value's path or URL outside the attribute's `allowed_extensions`.
    A stored asset reference (sha256:…) or a name without an extension says nothing about its type and passes."""
    if not attr.allowed_extensions or not isinstance(data, str) or data.startswith("sha256:"):
        return None
    name = re.split(r"[/\\]", re.split(r"[?#]", data, maxsplit=1)[0])[-1]
    extension = name.rsplit(".", 1)[-1].strip().lower() if "." in name else ""
    if not extension or extension in attr.allowed_extensions:
        return None
    return f"extension .{extension} is not one of {', '.join(attr.allowed_extensions)}"


#: An asset reference (an upload's value): `sha256:` and the 64 lowercase hex digits of the stored image.
#: Mirrors channels.asset_refs and media.assets.SHA_REF, which the core does not import.
ASSET_REF = re.compile(r"sha256:[0-9a-f]{64}")
BAD_REF = "`sha256:` must be followed by the 64 hex digits of an uploaded image: upload the file instead"


def ref_problem(data: Any) -> str | None:
    """What is wrong with an image or file value that starts `sha256:` but is no asset reference (`sha256:abc123`):
    channels link only well-formed refs through media, so a malformed one went out as text (a bare value on the
    storefront, a made-up path on Google). None for a well-formed ref and for any other path or URL."""
    if not isinstance(data, str) or data.lstrip()[:7].lower() != "sha256:":
        return None
    text = data.strip()
    return None if ASSET_REF.fullmatch(text) else f"'{text[:80]}': {BAD_REF}"


SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(text: str) -> str:
    """PostgreSQL's JSONB (and text) cannot hold U+0000, and no store holds a lone surrogate (a JSON body can
    carry one as an escape, `\\ud800`): refuse both here, for both backends alike."""
    if "\x00" in text:
        raise ValueProblem("contains a NUL character (U+0000), which cannot be stored; remove it from the source")
    if not text.isascii() and SURROGATE.search(text):
        raise ValueProblem("contains a lone surrogate (an unpaired \\ud800–\\udfff escape), which is not text; "
                           "fix the encoding at the source")
    return text


def clean_text(text: str) -> str:
    """Text and textarea values are stored trimmed, in Unicode NFC and with `\n` line breaks, whatever the
    source: a CSV cell was trimmed and a JSON string was not, `Müller` typed on a Mac (NFD: u + combining
    diaeresis) differed from the ERP's `Müller`, and a CSV cell's or a browser's `\r\n` from a JSON `\n`, so two
    sources saying the same thing conflicted and searches missed it."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


def is_clean_text(text: str) -> bool:
    """clean_text would return `text` unchanged (ASCII text without edge blanks, the common case, at once)."""
    return (text.isascii() or unicodedata.is_normalized("NFC", text)) and text == text.strip() and "\r" not in text


def _text(attribute: Attribute, data: Any) -> str | None:
    if not isinstance(data, (str, int, float)) or isinstance(data, bool):
        raise ValueProblem("expected text")
    text = str(data)
    _storable(text)
    if attribute.type == AttributeType.identifier:
        if "\n" in text or "\r" in text or not text.strip():
            raise ValueProblem("an identifier is one non-blank line")
    else:
        text = clean_text(text)
        if not text:
            return None  # only blanks: cleared, as an empty CSV cell clears
    if attribute.max_characters and len(text) > attribute.max_characters:
        raise ValueProblem(f"{len(text)} characters, at most {attribute.max_characters} allowed")
    if attribute.validation_regexp and not re.fullmatch(attribute.validation_regexp, text):
        raise ValueProblem(f"does not match {attribute.validation_regexp}")
    return text


def _number(attribute: Attribute, data: Any) -> int | float:
    if isinstance(data, bool):
        raise ValueProblem("expected a number, got a boolean")
    value = _decimal(data, "value")
    if not attribute.decimals_allowed and value != value.to_integral_value():
        raise ValueProblem(f"{data} has decimals, which this attribute does not allow")
    if not attribute.negative_allowed and value < 0:
        raise ValueProblem(f"{data} is negative, which this attribute does not allow")
    if attribute.number_min is not None and value < Decimal(str(attribute.number_min)):
        raise ValueProblem(f"{data} is below the minimum {attribute.number_min}")
    if attribute.number_max is not None and value > Decimal(str(attribute.number_max)):
        raise ValueProblem(f"{data} is above the maximum {attribute.number_max}")
    return int(value) if value == value.to_integral_value() else float(value)


def _metric(attribute: Attribute, data: Any, measures: Measures | None) -> dict[str, str]:
    if not isinstance(data, dict) or "amount" not in data:
        raise ValueProblem("a metric is {amount, unit}")
    unit = data.get("unit") or attribute.default_unit
    if not unit or not isinstance(unit, str):
        raise ValueProblem("a metric needs a unit")
    unit = _unit(attribute, unit, measures)
    amount = data["amount"]
    if amount is None or amount == "":
        return {"amount": None, "unit": unit}  # type: ignore[dict-item]
    value = _decimal(amount, "amount")
    if not attribute.negative_allowed and value < 0:
        raise ValueProblem(f"{amount} is negative, which this attribute does not allow")
    return {"amount": _decimal_text(value), "unit": unit}


def _unit(attribute: Attribute, text: str, measures: Measures | None) -> str:
    """The unit code `text` names in the attribute's measurement family (a code, alias or symbol: kg, KGM).
    A family the catalogue does not know (the structure checks report it) keeps the old rule: the text upper-cased."""
    measures = measures or builtin()
    family = measures.family(attribute.metric_family)
    if family is None:
        return text.upper()
    code = family.resolve(text)
    if code is None:
        raise ValueProblem(measures.unit_problem(family, text))
    return code


#: An amount as a person types it: digits with one decimal point or comma.
AMOUNT = r"[-+]?\d+(?:[.,]\d+)?"
#: An amount's exponent (`1e3 mm`, `1,5E2 g`), read only where a unit follows: `12E34` alone is 12 of the UN/ECE
#: unit E34 (gigabyte), as before exponents were read.
EXPONENT = r"(?:[eE][-+]?[0-9]++(?=\s*\S))?"


@lru_cache(maxsize=16)
def _amount_then_unit(amount: str) -> re.Pattern[str]:
    return re.compile(rf"\s*({amount})\s*(\S.*?)?\s*")


def amount_and_unit(raw: str, amount: str = AMOUNT) -> tuple[str, str | None] | None:
    """A metric written in one text (`12.5 kg`, `12,5kg`, `12.5`) split into its amount and its unit as written
    (None without one); None when `raw` is not an amount, then perhaps a unit. `amount` is the amount's regex:
    an importer passes a wider one (thousands separators) and reads the amount with its file's number format."""
    m = _amount_then_unit(amount).fullmatch(raw)
    return (m.group(1), m.group(2)) if m is not None else None


def metric_text(attribute: Attribute, raw: str, measures: Measures) -> dict[str, str]:
    """A metric typed as one text (`12.5 kg`, `12,5 KGM`, `1e3 mm`, or `12.5` in the default unit) → {amount,
    unit}, the unit resolved in the attribute's family of `measures`; the amount is checked later by normalize
    (which reads an exponent, as it does in a plain amount)."""
    family = measures.family(attribute.metric_family)
    parts = amount_and_unit(raw, AMOUNT + EXPONENT)
    if parts is None:
        example = f"{family.units[attribute.default_unit].symbol or attribute.default_unit}" if (
            family is not None and attribute.default_unit in family.units) else attribute.default_unit or "KILOGRAM"
        raise ValueProblem(f"'{raw}' is not an amount and a unit, e.g. 12.5 {example}")
    amount, unit = parts
    unit = unit or attribute.default_unit
    if family is not None and unit:
        code = family.resolve(unit)
        if code is None:
            raise ValueProblem(measures.unit_problem(family, unit))
        unit = code
    return {"amount": amount.replace(",", "."), "unit": unit}  # type: ignore[dict-item]


#: One price as a person types it: the currency code before or after the amount (`EUR 19.99`, `19,99 EUR`).
_PRICE_TEXT = re.compile(rf"([A-Za-z]{{3}})\s*({AMOUNT})|({AMOUNT})\s*([A-Za-z]{{3}})")


def prices_text(raw: str) -> dict[str, str]:
    """Prices typed as one text (`EUR 19.99, USD 21`: either order, decimal point or comma, any separator) →
    {currency: amount}, as the grid's mass edit and the content sheets take them; the amounts are checked later
    by normalize."""
    prices: dict[str, str] = {}
    for m in _PRICE_TEXT.finditer(raw):
        currency, amount = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        prices[currency.upper()] = amount.replace(",", ".")
    if not prices or _PRICE_TEXT.sub("", raw).strip(" ,;|"):
        raise ValueProblem(f"'{raw}' is not a list of prices, e.g. EUR 19.99, USD 21.00")
    return prices


def _prices(data: Any) -> dict[str, str]:
    if isinstance(data, list):  # Akeneo's standard format: [{amount, currency}]
        data = {item.get("currency"): item.get("amount") for item in data if isinstance(item, dict)}
    if not isinstance(data, dict):
        raise ValueProblem("a price collection is {currency: amount}")
    prices: dict[str, str] = {}
    for currency, amount in data.items():
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise ValueProblem(f"'{currency}' is not an ISO 4217 currency code")
        if amount is None or amount == "":
            continue
        value = _decimal(amount, f"{currency} amount")
        if value < 0:
            raise ValueProblem(f"{currency} price {amount} is negative")
        prices[currency] = price_text(value, currency)  # at least the currency's decimals: JPY 1234, EUR 9.50, 0.0123
    return prices


def _option(attribute: Attribute, data: Any, options: set[str] | None) -> str:
    code = str(data).strip()
    if options is not None and code not in options:
        # Akeneo option codes are case-insensitive.
        lowered = {o.lower(): o for o in options}
        if code.lower() in lowered:
            return lowered[code.lower()]
        raise ValueProblem(f"option '{code}' does not exist for attribute '{attribute.code}'{_choices(code, options)}")
    return code


#: (id of an option set, refused code) → (that set, what to say): a file repeating one unknown value (`St.` on
#: every row) works out the nearest option once (an import passes the one set of its RecordValidator); holding
#: the set keeps its id from being reused meanwhile, and the bound keeps few sets held.
_SAID: dict[tuple[int, str], tuple[set[str], str]] = {}


def _choices(code: str, options: set[str]) -> str:
    """What to do about a code `options` lacks: the nearest option, some of them, and where to fix it."""
    hit = _SAID.get((id(options), code))
    if hit is not None and hit[0] is options:
        return hit[1]
    near = nearest(code, options)
    said = (did_you_mean(near)
            + f"; the options: {listed(heapq.nsmallest(10, options)) if options else 'none declared'}"
            + (f" ({len(options)} in all)" if len(options) > 10 else "")
            + ". Map the source's value to one of them (`map:` on its column in the import's map or profile), "
            "or add the option to the structure (attribute_options:)")
    if len(_SAID) >= 256:
        _SAID.clear()
    _SAID[(id(options), code)] = (options, said)
    return said


def listed(names: list[str], limit: int = 10) -> str:
    """`'a', 'b', 'c' and 4 more`: at most `limit` names of a list a message shows, and how many it leaves out."""
    more = len(names) - limit
    return ", ".join(f"'{n}'" for n in names[:limit]) + (f" and {more} more" if more > 0 else "")


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def _boolean(data: Any) -> bool:
    if isinstance(data, bool):
        return data
    text = str(data).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueProblem(f"'{data}' is not a boolean (use 1/0 or true/false)")


def _date(data: Any) -> str:
    if isinstance(data, date):
        return data.isoformat()
    text = str(data).strip()[:10]
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueProblem(f"'{data}' is not a date (use YYYY-MM-DD)") from None
