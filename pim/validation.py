"""Checking canonical records against the structure. Importers only parse and map; this is where a record
is accepted or rejected, so every source is held to the same rules."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from pim.catalog import Structure
from pim.currencies import price_pattern
from pim.product import Product, ProductModel, split_key, value_key
from pim.spelling import did_you_mean, nearest
from pim.structure import Attribute, AttributeType
from pim.values import (MAX_DIGITS, SURROGATE, ValueProblem, extension_problem, is_clean_text, listed, normalize,
                        ref_problem)


@dataclass
class Problem:
    field: str
    reason: str
    #: the key names a locale or channel the catalog no longer offers: clearing it is still allowed (it removes
    #: a value stored before the structure changed)
    placement: bool = False


_TEXTUAL = (AttributeType.text, AttributeType.textarea, AttributeType.identifier)
# Canonical forms pim.values writes: decimals without trailing zeros (prices: pim.currencies.price_pattern).
# within pim.values' MAX_DIGITS (15) before the point and MAX_PLACES (30) after it; anything else takes the full path
_AMOUNT = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{0,29}[1-9])?")
_POSITIVE_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{0,29}[1-9])?")
_NUMBER_LIMIT = 10 ** MAX_DIGITS
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _is_iso_date(d: Any) -> bool:
    if type(d) is not str or not _DATE.fullmatch(d):
        return False
    try:
        date.fromisoformat(d)
    except ValueError:
        return False
    return True


class RecordValidator:
    """Validates and normalises records in place. Built once per import: it caches the structure lookups."""

    def __init__(self, structure: Structure) -> None:
        self.s = structure
        self.channels = set(structure.channels)
        self.locales = set(structure.enabled_locales()) or set(structure.locales)
        self.option_sets = {code: set(opts) for code, opts in structure.options.items()}
        self.family_attrs = {code: set(f.attributes) for code, f in structure.families.items()}
        self.measures = structure.measures
        self._resolved: dict[str, tuple[Any, str, Problem | None, Callable[[Any], bool] | None]] = {}
        #: scope (family) → value key → canonical predicate, for keys known valid in that scope
        self._fast: dict[Any, dict[str, Callable[[Any], bool]]] = {}

    @cached_property
    def levels(self) -> Any:
        """The import's pim.variant_levels.LevelGuard (built when an import first needs it)."""
        from pim.variant_levels import LevelGuard

        return LevelGuard(self.s)

    def check_key(self, key: str) -> Problem | None:
        attr_code, locale, channel = split_key(key)
        attr = self.s.attributes.get(attr_code)
        if attr is None:
            return Problem(key, f"unknown attribute '{attr_code}'; declare it in the structure first")
        if attr.localizable != bool(locale) or attr.scopable != bool(channel):  # name the whole key to write
            right = example_key(self.s, attr, locale, channel)
            if attr.localizable != bool(locale):
                what = "is localizable: give a locale" if attr.localizable else "is not localizable: drop the locale"
            else:
                what = "is scopable: give a channel" if attr.scopable else "is not scopable: drop the channel"
            return Problem(key, f"'{attr_code}' {what} ({right})")
        if locale and self.locales and locale not in self.locales:
            return Problem(key, f"locale '{locale}' is not activated on any channel"
                           f"{typo_of(locale, self.s.locales, self.locales)}", placement=True)
        if locale and attr.available_locales and locale not in attr.available_locales:
            return Problem(key, f"'{attr_code}' only applies to {attr.available_locales}", placement=True)
        if channel and channel not in self.channels:
            return Problem(key, f"unknown channel '{channel}'{typo_of(channel, (), self.channels)}", placement=True)
        return None

    def _resolve(self, key: str) -> tuple[Any, str, Problem | None, Callable[[Any], bool] | None]:
        """(attribute, code, problem, canonical check) for a value key; cached, since a catalog reuses few keys."""
        hit = self._resolved.get(key)
        if hit is None:
            attr_code = key.split(":", 1)[0].split("@", 1)[0]
            attr = self.s.attributes.get(attr_code)
            hit = (attr, attr_code, self.check_key(key), None if attr is None else self._canonical_check(attr))
            if len(self._resolved) < 100_000:  # bounded: a file full of bogus keys must not grow it forever
                self._resolved[key] = hit
        return hit

    def _canonical_check(self, attr: Any) -> Callable[[Any], bool] | None:
        """A predicate true when normalize() would return the value unchanged: the common case, skipped
        cheaply. None: always normalize. Each predicate mirrors pim.values for its type."""
        kind, code = attr.type, attr.code
        if kind in _TEXTUAL:
            if attr.validation_regexp:
                return None
            limit = attr.max_characters or 0
            if kind == AttributeType.identifier:
                return lambda d: (type(d) is str and "\n" not in d and "\x00" not in d and bool(d.strip())
                                  and (not limit or len(d) <= limit) and _text_only(d))
            return lambda d: (type(d) is str and d != "" and "\x00" not in d and (not limit or len(d) <= limit)
                              and _text_only(d) and is_clean_text(d))
        opts = self.option_sets.get(code, set())
        if kind == AttributeType.simple_select:
            return lambda d: type(d) is str and d in opts
        if kind == AttributeType.multi_select:
            return lambda d: (type(d) is list and all(type(o) is str and o in opts for o in d)
                              and all(a < b for a, b in zip(d, d[1:])))
        if kind == AttributeType.boolean:
            return lambda d: type(d) is bool
        if kind == AttributeType.number:
            if attr.number_min is not None or attr.number_max is not None or not attr.negative_allowed:
                return None
            decimals = attr.decimals_allowed
            return lambda d: ((type(d) is int and -_NUMBER_LIMIT < d < _NUMBER_LIMIT)
                              or (decimals and type(d) is float and 1e-13 <= abs(d) < 1e14 and not d.is_integer()))
        if kind == AttributeType.metric:
            amount = _AMOUNT if attr.negative_allowed else _POSITIVE_AMOUNT
            family = self.measures.family(attr.metric_family)
            if family is None:  # a family the catalogue does not know: any upper-case unit, as pim.values keeps it
                return lambda d: (type(d) is dict and len(d) == 2 and type(d.get("amount")) is str
                                  and amount.fullmatch(d["amount"]) is not None and d["amount"] != "-0"
                                  and type(d.get("unit")) is str and d["unit"] != "" and d["unit"].isupper())
            units = family.codes
            return lambda d: (type(d) is dict and len(d) == 2 and type(d.get("amount")) is str
                              and amount.fullmatch(d["amount"]) is not None and d["amount"] != "-0"
                              and type(d.get("unit")) is str and d["unit"] in units)
        if kind == AttributeType.price_collection:
            return lambda d: (type(d) is dict and all(type(c) is str and _CURRENCY.fullmatch(c) and type(a) is str
                                                      and price_pattern(c).fullmatch(a) for c, a in d.items()))
        if kind == AttributeType.date:
            return _is_iso_date
        if kind in (AttributeType.image, AttributeType.file):
            if attr.allowed_extensions:
                return lambda d: (type(d) is str and d != "" and d == d.strip() and "\x00" not in d and _text_only(d)
                                  and extension_problem(attr, d) is None and ref_problem(d) is None)
            return lambda d: (type(d) is str and d != "" and d == d.strip() and "\x00" not in d and _text_only(d)
                              and ref_problem(d) is None)
        return None

    def check_values(self, values: dict[str, Any], allowed: set[str] | None, scope: Any = None,
                     family: str | None = None) -> list[Problem]:
        """`scope`: a hashable naming `allowed` (e.g. the family code). With it, keys already seen valid in that
        scope are checked by their canonical predicate alone, in one tight pass; the rest take the full path.
        `family`: the family `allowed` lists, named when keys are outside it."""
        fast = None
        keys: list[str] | None = None
        if scope is not None:
            fast = self._fast.get(scope)
            if fast is None:
                fast = self._fast[scope] = {}
            for key, data in values.items():
                check = fast.get(key)
                if check is None or not check(data):
                    keys = keys or []
                    keys.append(key)
            if keys is None:
                return []
        problems: list[Problem] = []
        outside: dict[str, str] = {}  # attribute the family lacks → its first key
        resolved = self._resolved
        for key in list(values) if keys is None else keys:
            attr, attr_code, problem, canonical = resolved.get(key) or self._resolve(key)
            if problem:
                if not (problem.placement and values[key] in (None, "")):
                    problems.append(problem)
                continue
            if allowed is not None and attr_code not in allowed and attr.type != AttributeType.identifier:
                outside.setdefault(attr_code, key)
                continue
            data = values[key]
            if canonical is not None and fast is not None and len(fast) < 100_000:
                fast[key] = canonical
            if canonical is not None and canonical(data):
                continue
            try:
                values[key] = normalize(attr, data, self.option_sets.get(attr_code), self.measures)
            except ValueProblem as exc:
                problems.append(Problem(key, str(exc)))
        if outside:  # one problem naming them all, as the merge says it (Merger._family_problem)
            problems.append(Problem(next(iter(outside.values())), outside_family(family, list(outside))))
        return problems

    def check_product(self, p: Product) -> list[Problem]:
        problems: list[Problem] = []
        allowed = None
        if p.family is not None:
            allowed = self.family_attrs.get(p.family)
            if allowed is None:
                return [Problem("family", f"unknown family '{p.family}'")]
        problems += self._categories(p.categories)
        problems += self._associations(p)
        problems += self.check_values(p.values, allowed, ("family", p.family), p.family)
        return problems

    def check_model(self, m: ProductModel) -> list[Problem]:
        fv = self.s.family_variants.get(m.family_variant)
        if fv is None:
            return [Problem("family_variant", f"unknown family variant '{m.family_variant}'")]
        m.family = fv.family
        return self._categories(m.categories) + self.check_values(m.values, self.family_attrs.get(fv.family),
                                                                  ("family", fv.family), fv.family)

    def check_partial_model(self, m: ProductModel) -> list[Problem]:
        """A merged source's record for a model: its values and categories alone (the family comes from the
        stored model when the merge finds it)."""
        return self._categories(m.categories) + self.check_values(m.values, None, ("family", None))

    def _categories(self, codes: list[str]) -> list[Problem]:
        unknown = [c for c in codes if c not in self.s.categories]
        return [Problem("categories", f"unknown categories {unknown}")] if unknown else []

    def _associations(self, p: Product) -> list[Problem]:
        unknown = [t for t in p.associations if t not in self.s.association_types]
        if not unknown:
            return []
        known = self.s.association_types
        meant = ", ".join(f"'{near}'" for t in unknown if (near := nearest(t, known)))
        meant = f" (did you mean {meant}?)" if meant else ""
        return [Problem("associations", f"unknown association types {unknown}{meant}: use the structure's "
                        f"({', '.join(sorted(known)) or 'none declared'}), or declare the type there first")]


def example_key(s: Structure, attr: Attribute, locale: str | None, channel: str | None) -> str:
    """The value key of `attr` an error about a key's shape shows: the given locale and channel where the attribute
    takes one, what it lacks filled in from the structure (`description:en_US` → `description:en_US@ecommerce`,
    a channel publishing that locale), so the message names the whole key to write."""
    channels = s.channels
    if attr.localizable and not locale:
        home = channel if channel in channels else "ecommerce" if "ecommerce" in channels else min(channels, default="")
        locale = channels[home].locales[0] if home else min(s.locales, default="en_US")
    if attr.scopable and not channel:
        takers = [c for c in sorted(channels) if not locale or locale in channels[c].locales] or sorted(channels)
        channel = "ecommerce" if "ecommerce" in takers or not takers else takers[0]
    return value_key(attr.code, locale if attr.localizable else None, channel if attr.scopable else None)


def outside_family(family: str | None, codes: list[str]) -> str:
    """Why a record naming attributes its family lacks is refused, and what to do: each attribute (up to ten and
    how many more), so one fix covers the record, not one attribute per re-import."""
    named = f"family '{family}'" if family else "this family"
    if len(codes) == 1:
        return (f"'{codes[0]}' is not an attribute of {named}: add it to the family's attributes in the "
                "structure, or take it out of the import (its map or file)")
    return (f"{len(codes)} attributes are not in {named}: {listed(codes)}; add them to the family's "
            "attributes in the structure, or take them out of the import (its map or file)")


def typo_of(code: str, declared: Iterable[str], offered: Iterable[str]) -> str:
    """` (did you mean 'de_DE'?)` for a locale, channel or association type that is none the structure declares
    (`de-DE`, `x_sell`): the nearest one it offers. Nothing for a declared one (a locale no channel publishes any
    more is no typo) or when none is near."""
    return "" if code in declared else did_you_mean(nearest(code, offered))


def _text_only(d: str) -> bool:
    """No lone surrogate (pim.values refuses them); ASCII text, the common case, is not searched."""
    return d.isascii() or SURROGATE.search(d) is None


#: An identifier every route can address and every import matches as sent: printable ASCII without `/` and with
#: no blank at either end. One match settles the usual SKU; anything else takes identifier_problem's full reading.
_PLAIN_IDENTIFIER = re.compile(r"[!-.0-~](?:[ -.0-~]*[!-.0-~])?")


def identifier_problem(identifier: str) -> str | None:
    """Why a new product's identifier (or a new model's code) cannot be its key, or None. The REST API addresses
    a product by it as one URL path segment (so no `/`); the importers trim a SKU's blanks (so one with blanks at
    its ends could never be matched by an import) and do not normalise its Unicode (so a decomposed `é` would be a
    second product). Checked where a product is created (POST /api/v1/products, an import creating one:
    pim.importing), never on a stored one, which keeps working."""
    if _PLAIN_IDENTIFIER.fullmatch(identifier):
        return None
    if "/" in identifier:
        return "contains '/': the REST API addresses a product by its identifier in the URL path; use another character"
    if any(unicodedata.category(c) == "Cc" for c in identifier):
        return "contains a control character (tab, line break, U+0000–U+001F, U+007F–U+009F); remove it"
    if identifier != identifier.strip():
        return "starts or ends with blanks, which imports trim from a SKU: send it without them"
    if not identifier.isascii() and not unicodedata.is_normalized("NFC", identifier):
        mark = next((c for c in identifier if unicodedata.combining(c)), "")
        named = f" ({unicodedata.name(mark, 'a combining mark')}, U+{ord(mark):04X})" if mark else ""
        return (f"is not in Unicode NFC form: it writes a letter and its accent{named} as two characters; send "
                "the composed form (NFC), as imports and other systems send it")
    return None
