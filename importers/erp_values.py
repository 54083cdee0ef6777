"""Turning ERP cells into canonical values, shared by the CSV and XML maps: decimal separators, date
formats, units and currencies, code maps. The result goes through pim.values.normalize in run_import.

Each rule is compiled once per import into a setter (`ValueBuilder.setter`): the attribute type, the code
map, the number and date parsers are looked up when the map is read, not once per cell."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from importers.gtin_check import GtinFields, gtin_keys, gtin_reason, problem_notes, take_bad  # noqa: F401  (problem_notes: ERP importers take it from here)
from pim.catalog import Structure
from pim.importing import file_warning
from pim.measures import Family, Measures
from pim.quality import gtin_ok
from pim.product import Product, Provenance, partial_model, split_key, trusted_model  # noqa: F401  (partial_model: importers take it from here)
from pim.structure import AttributeType
from pim.spelling import nearest
from pim.values import EXPONENT, ValueProblem, amount_and_unit, check_magnitude

if TYPE_CHECKING:
    from pim.importing import ImportCounts
    from pim.store import Store

#: Targets that are product fields rather than attribute values.
FIELDS = ("family", "categories", "enabled")

#: Puts one source field (raw text, None when absent) into a record's values or fields; the last argument is
#: the raw unit code for metrics read with `unit_from`.
Setter = Callable[[str | None, dict[str, Any], dict[str, Any], str | None], None]
T = TypeVar("T")


class ValueRule(BaseModel):
    """How one source field becomes (part of) one value."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="Value key (ean, name:de_DE, description:en_US@ecommerce) or family/categories/enabled.")
    unit: str | None = Field(default=None, description="Metric unit of the amount (e.g. KILOGRAM).")
    unit_from: str | None = Field(default=None, description="Column (CSV) or path (XML) holding the unit code.")
    currency: str | None = Field(default=None, description="Currency of a price_collection amount (e.g. EUR).")
    map: dict[str, str] = Field(default={}, description="Source code → our value (e.g. lifecycle status codes); "
                                "the key '' maps an empty field.")
    unit_map: dict[str, str] = Field(default={}, description="Source unit code → our unit (e.g. GR → GRAM). Codes not "
                                     "named here resolve through the measurement catalogue (KGM, kg → KILOGRAM).")
    split: str | None = Field(default=None, min_length=1, description="List separator for multi_select and categories.")


# A canonical decimal: Decimal(text) formatted with "f" gives the text back, so parsing it is skipped.
# [0-9], not \d: Decimal also reads other scripts' digits and rewrites them.
_CANONICAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?").fullmatch


@lru_cache(maxsize=32)
def number_parser(decimal: str, thousands: str | None) -> Callable[[str], str]:
    """raw text → canonical decimal text, for one separator setup; ValueProblem when it is not a finite number.
    A thousands separator must group the digits before the decimal separator in threes: `12,50` under
    `thousands: ','` is a decimal comma the map did not declare, and dropping the comma would read 1250."""
    comma = decimal == ","
    grouped = _grouping(decimal, thousands) if thousands else None
    advice = (f": if '{thousands}' is this file's decimal separator, set `decimal: '{thousands}'` in the map"
              if thousands in (".", ",") else ": check `thousands` in the map")

    def number(raw: str) -> str:
        text = raw.strip().replace("\u00a0", "")
        if thousands and thousands in text:
            if not grouped(text):  # type: ignore[misc]
                _numeric(raw, text)
                raise ValueProblem(f"'{raw}' does not group thousands with '{thousands}' (groups of three digits "
                                   f"before the decimal separator '{decimal}'){advice}")
            text = text.replace(thousands, "")
        if comma:
            if "." in text:  # with a decimal comma a dot can only be a thousands separator the map did not declare
                _numeric(raw, text)
                raise ValueProblem(f"'{raw}' has a '.' but the map's decimal separator is ',': if '.' groups "
                                   "thousands here, set `thousands: '.'` in the map; if it is the decimal point, "
                                   "`decimal: '.'`")
            text = text.replace(",", ".")
        if _CANONICAL(text):
            return text
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueProblem(f"'{raw}' is not a number (decimal separator '{decimal}')") from None
        if not value.is_finite():
            raise ValueProblem(f"'{raw}' is not a finite number")
        return format(check_magnitude(value, raw, "number"), "f")

    return number


#: A number under some separators: digits grouped by points, commas, apostrophes or spaces, maybe an exponent
#: (`1.5E2`). [0-9], not \d: other scripts' digits are no number here.
_NUMERIC = re.compile(r"[+-]?[0-9.,' ]*[0-9][0-9.,' ]*(?:[eE][+-]?[0-9]+)?").fullmatch


def _numeric(raw: str, text: str) -> None:
    """Refuse a cell that is no number under any separators ('ca. 800', 'n.a.') as what it is: advice to change
    the map's `decimal` or `thousands` is for a number written with other separators, and sent users to the map
    for a cell to fix."""
    if not _NUMERIC(text):
        raise ValueProblem(f"'{raw}' is not a number: fix the cell (the number alone, without words or units; "
                           "empty when there is none) and import the file again")


def _grouping(decimal: str, thousands: str) -> Callable[[str], Any]:
    """fullmatch of a number whose integer part groups thousands with `thousands` (1.234.567,89; not 0.125,
    which is an English 0.125 under a German map)."""
    sep, point = re.escape(thousands), re.escape(decimal)
    return re.compile(rf"[+-]?[1-9][0-9]{{0,2}}(?:{sep}[0-9]{{3}})+(?:{point}[0-9]*)?").fullmatch


def remembered(parse: Callable[[str], T], size: int = 4096) -> Callable[[str], T]:
    """`parse` keeping its results for texts it has read (dates and timestamps repeat across rows). Failures
    are not kept: each bad cell raises its own error. The results must be immutable (dates, text)."""
    seen: dict[str, T] = {}

    def parse_once(text: str) -> T:
        value = seen.get(text, seen)
        if value is seen:
            value = parse(text)
            if len(seen) < size:
                seen[text] = value
        return value  # type: ignore[return-value]

    return parse_once


#: A UTC offset ending a timestamp: Z, +01:00, +0100, -05.
_OFFSET = re.compile(r"\s*(Z|[+-][0-9]{2}(?::?[0-9]{2})?)$")


def _zone(name: str) -> str:
    """A time zone name zoneinfo knows (Europe/Berlin, UTC), checked when the map loads."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'; an IANA name such as Europe/Berlin, or UTC") from None
    return name


#: A map's `timezone`: the zone of its times written without an offset (`moment_parser`).
Zone = Annotated[str, AfterValidator(_zone)]


def moment_parser(fmt: str, zone: tzinfo) -> Callable[[str], datetime]:
    """text → aware datetime in UTC. ERP exports write local times, some with an offset and some without: a
    trailing offset (Z, +01:00) is read even when `fmt` has no %z, and a time without one is in `zone` (the
    map's `timezone`), not silently UTC an hour or two off."""
    bare = fmt.replace("%z", "").rstrip()  # the format without its offset, for times written without one

    def moment(raw: str) -> datetime:
        text = raw.strip()
        try:
            stamp = datetime.strptime(text, fmt)
        except ValueError:
            found = _OFFSET.search(text) if bare == fmt else None
            try:
                if found is None:
                    stamp = datetime.strptime(text, bare)
                else:
                    offset = found.group(1) + ("00" if len(found.group(1)) == 3 else "")
                    stamp = datetime.strptime(text[:found.start()], fmt).replace(
                        tzinfo=datetime.strptime(offset, "%z").tzinfo)
            except ValueError:
                raise ValueProblem(f"'{raw}' is not a timestamp in the format {fmt}") from None
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=zone)).astimezone(UTC)

    return moment


class NumberFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decimal: str = Field(default=".", pattern=r"^[.,]$", description="Decimal separator.")
    thousands: str | None = Field(default=None, description="Thousands separator to drop, e.g. '.' or ' '.")
    date_format: str = Field(default="%Y-%m-%d", description="strptime format of dates, e.g. %d.%m.%Y.")
    datetime_format: str = Field(default="%Y-%m-%dT%H:%M:%S", description="strptime format of timestamps.")

    @model_validator(mode="after")
    def _separators_differ(self) -> "NumberFormat":
        if self.thousands is not None and (self.thousands == "" or self.thousands == self.decimal):
            raise ValueError(f"thousands separator '{self.thousands}' must be a character other than the decimal "
                             f"separator '{self.decimal}' (or left out)")
        return self

    def number(self, raw: str) -> str:
        return number_parser(self.decimal, self.thousands)(raw)

    def day(self, raw: str) -> date:
        try:
            return datetime.strptime(raw.strip(), self.date_format).date()
        except ValueError:
            raise ValueProblem(f"'{raw}' is not a date in the format {self.date_format}") from None


class ValueBuilder:
    """Applies rules to raw strings and accumulates one record's values (price currencies add up)."""

    def __init__(self, structure: Structure, fmt: NumberFormat) -> None:
        self.types = {code: a.type for code, a in structure.attributes.items()}
        self.structure = structure
        self.fmt = fmt
        self.number = number_parser(fmt.decimal, fmt.thousands)
        self._day = remembered(lambda text: fmt.day(text).isoformat())
        self._setters: dict[int, tuple[ValueRule, Setter]] = {}

    def apply(self, rule: ValueRule, raw: str | None, values: dict[str, Any], fields: dict[str, Any],
              unit: str | None = None) -> None:
        """None or blank `raw` is an explicitly empty value: it clears (see docs/importers.md)."""
        self.setter(rule)(raw, values, fields, unit)

    def setter(self, rule: ValueRule) -> Setter:
        """`apply` for one rule, compiled once (the rule must not change afterwards)."""
        known = self._setters.get(id(rule))
        if known is None or known[0] is not rule:
            if len(self._setters) >= 256:  # rules made on the fly (a caller's copies) must not pile up
                self._setters.clear()
            known = self._setters[id(rule)] = (rule, self._compile(rule, rule.currency or "EUR"))
        return known[1]

    def unknown_target(self, to: str) -> str | None:
        """Why a rule's target is none of the catalog's attributes (nor a product field), naming the nearest
        attribute code; None when it is one."""
        code = split_key(to)[0]
        if to in FIELDS or code in self.types:
            return None
        near = nearest(code, self.types)
        return (f"the map sends this to '{to}', which is not an attribute"
                f"{f' (did you mean {near!r}?)' if near else ''}; fix the map")

    def unknown_unit(self, rule: ValueRule) -> tuple[str, str] | None:
        """(the rule's field, why) when a metric rule's own unit (`unit`, or a `unit_map` target) is no unit of its
        attribute's measurement family, naming the nearest one: every row would be refused, each as a clash with
        the cell's unit or as an unknown unit. None when each is one, or the family is not in the catalogue."""
        family = self._metric_family(rule)
        if family is None:
            return None
        units = [("unit", "`unit`", rule.unit), *((f"unit_map.{code}", f"`unit_map` {code} →", to)
                                                  for code, to in rule.unit_map.items())]
        return next(unit_mistakes(self.structure.measures, family, units), None)

    def _metric_family(self, rule: ValueRule) -> Family | None:
        """The measurement family of a metric rule's attribute (`metric_family`); None for other rules."""
        return metric_family(self.structure, split_key(rule.to)[0]) if rule.to not in FIELDS else None

    def price_setter(self, rule: ValueRule, currency: str) -> Setter:
        """The setter of a price_collection rule for one currency (XML maps read it per price element)."""
        return self._compile(rule, currency)

    def _compile(self, rule: ValueRule, currency: str) -> Setter:
        to, mapping = rule.to, rule.map
        if to in FIELDS:
            field = _field_setter(rule)
            return lambda raw, values, fields, unit=None: field(_mapped(raw, mapping), fields)
        kind = self.types.get(split_key(to)[0])
        if kind is None:
            return _refuse(self.unknown_target(to) or "")
        if kind == AttributeType.price_collection:
            number = self.number

            def put_price(raw: str | None, values: dict[str, Any], fields: dict[str, Any], unit: str | None = None) -> None:
                text = _mapped(raw, mapping) if mapping else raw and raw.strip()
                prices = values.get(to) or {}
                if text:
                    prices[currency] = number(text)
                values[to] = prices or None
            return put_price
        convert = self._converter(kind, rule)
        if convert is None and not mapping:
            def put_text(raw: str | None, values: dict[str, Any], fields: dict[str, Any], unit: str | None = None) -> None:
                values[to] = (raw.strip() or None) if raw is not None else None
            return put_text

        def put(raw: str | None, values: dict[str, Any], fields: dict[str, Any], unit: str | None = None) -> None:
            text = _mapped(raw, mapping) if mapping else raw and raw.strip()
            values[to] = (convert(text, unit) if convert else text) if text else None
        return put

    def _converter(self, kind: AttributeType, rule: ValueRule) -> Callable[[str, str | None], Any] | None:
        """Non-empty text (and the raw unit code) → the value; None for text kinds, whose value is the text."""
        number = self.number
        if kind == AttributeType.number:
            return lambda text, unit: number(text)
        if kind == AttributeType.metric:
            unit_map, fixed = rule.unit_map, rule.unit
            family = self._metric_family(rule)
            with_unit = self._amount_with_unit(rule, family) if family is not None else None
            known: set[str] = set()  # units from the `unit_from` field found in the family (they repeat)

            def metric(text: str, unit: str | None) -> dict[str, Any]:
                code = unit.strip() if unit else None  # ` GR ` must meet `unit_map: {GR: GRAM}`, not become grain
                given = unit_map.get(code, code) if code else fixed
                if code and given not in known and family is not None:
                    if family.resolve(given) is None:  # type: ignore[arg-type]
                        raise ValueProblem(self._unknown_field_unit(rule, family, code))
                    if len(known) < 256:
                        known.add(given)  # type: ignore[arg-type]
                try:
                    return {"amount": number(text), "unit": given}
                except ValueProblem:  # not a plain number: perhaps `12 mm` (only such cells reach the regex)
                    value = with_unit(text, given, code) if with_unit else None
                    if value is None:
                        raise
                    return value
            return metric
        if kind == AttributeType.date:
            day = self._day
            return lambda text, unit: day(text)
        if kind == AttributeType.multi_select:
            sep = rule.split or ","
            return lambda text, unit: [p.strip() for p in text.split(sep) if p.strip()]
        if kind == AttributeType.boolean:
            return lambda text, unit: yes_or_no(text)
        return None

    def _unknown_field_unit(self, rule: ValueRule, family: Family, code: str) -> str:
        """Why a row's unit from its `unit_from` column or path is refused: no unit of the family, nor in `unit_map`."""
        field = f"{'path' if hasattr(rule, 'path') else 'column'} '{rule.unit_from}'"  # an XML rule has a path
        problem, meant = unit_typo(self.structure.measures, family, code, "unit")
        return (f"{field} (the rule's `unit_from`): {problem}: correct it in the source, or map the code to a unit "
                f"in the rule's `unit_map` ({code}: {meant or family.standard})")

    def _amount_with_unit(self, rule: ValueRule, family: Family) -> Callable[[str, str | None, str | None], dict[str, Any] | None]:
        """For a metric rule of a `family` in the catalogue (else a cell that is no plain number is refused as
        no number): a cell that is no plain number → its amount and unit (`12 mm`, `1,5 kg`, `12mm`, `1e3 mm`,
        the amount read with the map's number format, the unit resolved in the family), or None when it is not
        one. A unit the family lacks, or one other than the rule's own (`given`: the map's `unit`, or the
        `unit_from` field's `field_unit`), refuses the row naming both: neither is picked silently."""
        measures = self.structure.measures
        number, unit_map, thousands = self.number, rule.unit_map, self.fmt.thousands
        # an exponent (1e3 mm) too: the number parser then refuses it where it would refuse it in a plain amount
        amount = rf"[-+]?[0-9](?:[0-9.,\u00a0{re.escape(thousands) if thousands else ''}]*[0-9])?{EXPONENT}"

        def read(text: str, given: str | None, field_unit: str | None) -> dict[str, Any] | None:
            parts = amount_and_unit(text, amount)
            if parts is None or parts[1] is None:
                return None
            written = parts[1]
            code = family.resolve(unit_map.get(written, written))
            if code is None:
                raise ValueProblem(f"'{text}': {measures.unit_problem(family, written)}, or write the amount "
                                   "alone and give the unit in the map")
            if given is not None and (ours := family.resolve(given)) != code:
                where = f"the `unit_from` field '{rule.unit_from}'" if field_unit else "the map's `unit`"
                raise ValueProblem(f"'{text}' is in {_spelled(written, code)} but {where} says "
                                   f"{_spelled(field_unit or given, ours)}: write the amount alone, or make the two "
                                   "units agree")
            return {"amount": number(parts[0]), "unit": code}
        return read


def metric_family(structure: Structure, code: str) -> Family | None:
    """The measurement family of attribute `code` when it is a metric one; None for other attributes, or a
    family the catalogue lacks (whose units pim.values.normalize keeps as written)."""
    attribute = structure.attributes.get(code)
    if attribute is None or attribute.type != AttributeType.metric:
        return None
    return structure.measures.family(attribute.metric_family)


def unit_mistakes(measures: Measures, family: Family,
                  units: Iterable[tuple[str, str, str | None]]) -> Iterator[tuple[str, str]]:
    """(field, why) for each (field of the map, how the map names it, unit) whose unit is no unit of `family`,
    naming the nearest (`unit_typo`): a map's own unit misspelt, which every value would otherwise clash with.
    Shared with the BMEcat map's checks (importers.bmecat_map_checks)."""
    for field, what, unit in units:
        if unit is not None and family.resolve(unit) is None:
            yield field, unit_typo(measures, family, unit, what)[0]


def unit_typo(measures: Measures, family: Family, text: str, what: str) -> tuple[str, str | None]:
    """(why `text` is no unit of `family`, the unit it likely meant): the nearest unit where one is spelled
    alike (its code, symbol or UN/ECE code), else the message names units that fit. Shared with the BMEcat
    map's checks (importers.bmecat_map_checks)."""
    spellings = {s: u.code for u in family.units.values() for s in (u.code, u.symbol, *u.aliases) if s}
    near = nearest(text, spellings)
    if near is None:
        return measures.unit_problem(family, text, what), None
    return f"{what} '{text}' is not a unit of {family.code} (did you mean {spellings[near]}?)", spellings[near]


def _spelled(text: str, code: str | None) -> str:
    return text if code is None or code == text else f"{text} ({code})"


def _mapped(raw: str | None, mapping: dict[str, str]) -> str | None:
    text = None if raw is None else raw.strip()
    if text is not None and text in mapping:
        return mapping[text]
    return text


def _refuse(message: str) -> Setter:
    def refuse(raw: str | None, values: dict[str, Any], fields: dict[str, Any], unit: str | None = None) -> None:
        raise ValueProblem(message)
    return refuse


TRUE_WORDS = frozenset({"1", "true", "yes", "y", "x", "ja", "j", "wahr"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "nein", "falsch", "-"})


def yes_or_no(text: str) -> bool:
    """A yes/no cell; a word that is neither is refused (`nein` read as yes enabled what it meant to disable)."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueProblem(f"'{text}' is neither yes nor no: write 1/0, true/false, yes/no or ja/nein")


def _field_setter(rule: ValueRule) -> Callable[[str | None, dict[str, Any]], None]:
    sep = rule.split or ","
    if rule.to == "family":
        return lambda text, fields: fields.__setitem__("family", text or None)
    if rule.to == "categories":
        return lambda text, fields: fields.__setitem__("categories", [c.strip() for c in (text or "").split(sep) if c.strip()])
    return lambda text, fields: fields.__setitem__("enabled", yes_or_no(text) if text else True)  # empty: the default


# ---------------------------------------------------------------- map fields that read nothing in a file
#: What `report_unread` says by default: {n} notes, then the notes.
UNREAD = ("the map reads {n} field(s) this file does not have, so their values were left as they are: {notes}. "
          "Fix the map if they should be read (a file that leaves them out on purpose can ignore this)")


def report_unread(store: Store, counts: ImportCounts, source: str, file: str, unread: list[tuple[str, str]], *,
                  kind: str = "map-unread", said: str = UNREAD, count: str = "unread_map_fields") -> None:
    """One `warning` per file naming the map's fields that read nothing in it: (field, what it is and the
    nearest thing the file has). Absent leaves values alone, so a typo in a column name or a path that misses
    imported nothing for that field without a word. The file's next run replaces the warning, or closes it.
    `kind` (the warning's key), `said` (its text, as UNREAD) and `count` (the counts' name) give an importer a
    second such warning of its own (importers.bmecat_map_checks: the languages a BMEcat map does not map)."""
    if unread:
        counts.extra[count] = len(unread)
    file_warning(store, counts.job_id, source, f"{kind}:{file}",
                 said.format(n=len(unread), notes="; ".join(note for _, note in unread)) if unread else None,
                 file=file, field=unread[0][0] if unread else None)




# ---------------------------------------------------------------- GTINs: a bad one is left out, the row taken in
# The check itself is importers.gtin_check's, shared with the supplier importers; the ERP's hint is here.
#: What a bad GTIN's problem entry adds to pim.quality.gtin_problem's text: what became of it, what to do.
GTIN_HINT = "not imported (a GTIN stored before stays): fix it in the ERP and import the file again"


def gtin_fields(rules: Iterable[tuple[str, ValueRule]]) -> GtinFields:
    """The GTIN targets (`pim.quality.is_gtin_attribute`) among (field, rule) in the order the rules are
    applied: where two fields fill one key the last one's value is what would be stored, so it is named."""
    return gtin_keys((field, rule.to) for field, rule in rules if rule.to not in FIELDS)


def bad_gtins(values: dict[str, Any], fields: GtinFields) -> list[tuple[str, str]]:
    """Take each GTIN in `values` that `pim.quality.gtin_problem` refuses out of it, and say (field, reason)
    with the ERP's hint (importers.gtin_check.take_bad: left out, so the product keeps the GTIN it has). A row
    whose GTINs are all empty or plainly good (the usual row) is answered here, without take_bad's steps."""
    for key in fields:
        value = values.get(key)
        if value is not None and not (type(value) is str and gtin_ok(value)):
            return [(field, gtin_reason(problem, GTIN_HINT)) for field, problem in take_bad(values, fields)]
    return []


# ---------------------------------------------------------------- partial records without per-record validation
_CODE = re.compile(r"[A-Za-z0-9_]{1,100}").fullmatch  # pim.structure.Code, as pydantic checks it


def refusal(exc: ValidationError, identifier_column: str | None = None) -> tuple[str, str]:
    """(field, reason) of a record the model refused (`partial_product` falls back to pydantic for an
    identifier over 255 characters or a family that is no code): its first error, in one line. The field is
    the file's `identifier_column` where the identifier was refused (the reason still says `identifier`)."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "record"
    given = first.get("input")
    shown = f" (it has {len(given)})" if isinstance(given, str) and len(given) > 60 else ""
    reason = f"{field}: {first['msg']}{shown}"
    return (identifier_column if identifier_column and field == "identifier" else field), reason


def value_refusal(exc: ValidationError, clip: int | None = None) -> str:
    """A model's refusal of one value in one line, `field 'input': message` (its first error; the input cut to
    `clip` characters): a tier price or stock reading that becomes a value problem instead of failing a write."""
    first = exc.errors()[0]
    given = str(first["input"])
    if clip is not None and len(given) > clip:
        given = given[:clip] + "…"
    return f"{'.'.join(str(x) for x in first['loc'])} '{given}': {first['msg'][0].lower()}{first['msg'][1:]}"


def partial_product(identifier: str, values: dict[str, Any], source: Provenance, fields: dict[str, Any]) -> Product:
    """`Product(identifier=…, values=…, source=…, **fields)` at a fifth of the cost, for importers.

    Of what pydantic checks, only the identifier (1–255 characters of text) and the family (a Code) can fail
    here: the caller builds `values` with text keys, `categories` as a list of text, `enabled` as a bool and
    `associations` from validated Association instances. Both are checked below; a record that fails (or has
    a non-ASCII identifier) is built through Product(...), so its error is pydantic's own. The fields set are
    the ones passed, as with validation: a merge only replaces the structural fields a source gave. The record
    keeps `values` itself (validation would copy it): the caller hands over a dict it no longer changes."""
    family = fields.get("family")
    if not (0 < len(identifier) <= 255 and identifier.isascii()) or (family is not None and not _CODE(family)):
        return Product(identifier=identifier, values=values, source=source, **fields)
    data = {"categories": fields.get("categories") or [], "values": values, "source": source, "provenance": {},
            "kind": "product", "identifier": identifier, "family": family, "parent": None,
            "enabled": fields.get("enabled", True), "groups": [], "associations": fields.get("associations") or {}}
    return trusted_model(Product, data, {"identifier", "values", "source", *fields})  # type: ignore[no-any-return]
