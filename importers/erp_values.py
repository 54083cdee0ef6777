"""Turning ERP cells into canonical values, shared by the CSV and XML maps: decimal separators, date
formats, units and currencies, code maps. The result goes through pim.values.normalize in run_import."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pim.catalog import Structure
from pim.product import split_key
from pim.structure import AttributeType
from pim.values import ValueProblem

#: Targets that are product fields rather than attribute values.
FIELDS = ("family", "categories", "enabled")


class ValueRule(BaseModel):
    """How one source field becomes (part of) one value."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="Value key (ean, name:de_DE, description:en_US@ecommerce) or family/categories/enabled.")
    unit: str | None = Field(default=None, description="Metric unit of the amount (e.g. KILOGRAM).")
    unit_from: str | None = Field(default=None, description="Column (CSV) or path (XML) holding the unit code.")
    currency: str | None = Field(default=None, description="Currency of a price_collection amount (e.g. EUR).")
    map: dict[str, str] = Field(default={}, description="Source code → our value (e.g. lifecycle status codes); "
                                "the key '' maps an empty field.")
    unit_map: dict[str, str] = Field(default={}, description="Source unit code → our unit (KGM → KILOGRAM).")
    split: str | None = Field(default=None, description="List separator for multi_select and categories.")


class NumberFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decimal: str = Field(default=".", pattern=r"^[.,]$", description="Decimal separator.")
    thousands: str | None = Field(default=None, description="Thousands separator to drop, e.g. '.' or ' '.")
    date_format: str = Field(default="%Y-%m-%d", description="strptime format of dates, e.g. %d.%m.%Y.")
    datetime_format: str = Field(default="%Y-%m-%dT%H:%M:%S", description="strptime format of timestamps.")

    def number(self, raw: str) -> str:
        text = raw.strip().replace("\u00a0", "")
        if self.thousands:
            text = text.replace(self.thousands, "")
        if self.decimal == ",":
            text = text.replace(",", ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueProblem(f"'{raw}' is not a number (decimal separator '{self.decimal}')") from None
        if not value.is_finite():
            raise ValueProblem(f"'{raw}' is not a finite number")
        return format(value, "f")

    def day(self, raw: str) -> date:
        try:
            return datetime.strptime(raw.strip(), self.date_format).date()
        except ValueError:
            raise ValueProblem(f"'{raw}' is not a date in the format {self.date_format}") from None

    def moment(self, raw: str) -> datetime:
        try:
            return datetime.strptime(raw.strip(), self.datetime_format)
        except ValueError:
            raise ValueProblem(f"'{raw}' is not a timestamp in the format {self.datetime_format}") from None


class ValueBuilder:
    """Applies rules to raw strings and accumulates one record's values (price currencies add up)."""

    def __init__(self, structure: Structure, fmt: NumberFormat) -> None:
        self.types = {code: a.type for code, a in structure.attributes.items()}
        self.fmt = fmt
        self._kinds: dict[str, AttributeType | None] = {}  # value key → attribute type, split once per key

    def apply(self, rule: ValueRule, raw: str | None, values: dict[str, Any], fields: dict[str, Any],
              unit: str | None = None) -> None:
        """None or blank `raw` is an explicitly empty value: it clears (see docs/importers.md)."""
        text = None if raw is None else raw.strip()
        if text is not None and text in rule.map:
            text = rule.map[text]
        if rule.to in FIELDS:
            self._field(rule, text, fields)
            return
        kind = self._kinds.get(rule.to)
        if kind is None:
            kind = self._kinds[rule.to] = self.types.get(split_key(rule.to)[0])
        if kind is None:
            raise ValueProblem(f"the map sends this to '{rule.to}', which is not an attribute; fix the map")
        if kind == AttributeType.price_collection:
            prices = values.get(rule.to) or {}
            if text:
                prices[rule.currency or "EUR"] = self.fmt.number(text)
            values[rule.to] = prices or None
            return
        if not text:
            values[rule.to] = None
            return
        values[rule.to] = self._convert(kind, rule, text, unit)

    def _convert(self, kind: AttributeType, rule: ValueRule, text: str, unit: str | None) -> Any:
        if kind == AttributeType.number:
            return self.fmt.number(text)
        if kind == AttributeType.metric:
            chosen = rule.unit_map.get(unit or "", unit) if unit else rule.unit
            return {"amount": self.fmt.number(text), "unit": chosen}
        if kind == AttributeType.date:
            return self.fmt.day(text).isoformat()
        if kind == AttributeType.multi_select:
            return [p.strip() for p in text.split(rule.split or ",") if p.strip()]
        if kind == AttributeType.boolean:
            return text.lower() in ("1", "true", "yes", "y", "x", "ja", "j")
        return text

    @staticmethod
    def _field(rule: ValueRule, text: str | None, fields: dict[str, Any]) -> None:
        if rule.to == "family":
            fields["family"] = text or None
        elif rule.to == "categories":
            fields["categories"] = [c.strip() for c in (text or "").split(rule.split or ",") if c.strip()]
        else:
            fields["enabled"] = (text or "true").lower() not in ("0", "false", "no", "n")
