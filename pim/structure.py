"""Catalog structure: attributes, options, families, variants, channels, locales, currencies, categories,
association types. These are the declarative files' models (YAML in, JSON Schema out) and the store's rows."""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$", min_length=1, max_length=100)]
Labels = dict[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class AttributeType(StrEnum):
    identifier = "identifier"
    text = "text"
    textarea = "textarea"
    number = "number"
    metric = "metric"
    price_collection = "price_collection"
    simple_select = "simple_select"
    multi_select = "multi_select"
    boolean = "boolean"
    date = "date"
    image = "image"
    file = "file"


#: Attribute codes our own keys use (as Akeneo reserves its field names): the conflict log and content sheets
#: key a product's associations `associations:<TYPE>`, which a localizable `associations` value's key would be.
RESERVED_ATTRIBUTE_CODES = frozenset({"associations"})
#: The validation context of structure rows read back from the store: a code reserved after it was stored
#: stays readable (so the catalog opens and the attribute can be moved), while files and forms refuse it.
STORED = {"stored": True}


class Attribute(_Strict):
    """One attribute. `localizable`/`scopable` decide how its values are keyed (attribute × locale × channel)."""

    code: Code = Field(json_schema_extra={"not": {"enum": sorted(RESERVED_ATTRIBUTE_CODES)}})  # the schema refuses them too
    type: AttributeType
    group: str = "other"
    labels: Labels = {}
    localizable: bool = False
    scopable: bool = False
    available_locales: list[str] = Field(default=[], description="Locale-specific: only these locales apply.")
    unique: bool = False
    sort_order: int = 0
    filterable: bool = Field(default=False, description="Offered as a facet / grid filter.")
    searchable: bool = Field(default=False, description="Searched as free text by the storefront index.")
    internal: bool = Field(default=False, description=(
        "Kept for staff, never published (a purchase price, a supplier's own code): the web UI, the REST API and "
        "content sheets show it and families may require it, but the storefront, search documents, customer "
        "feeds and the customer portal leave it out, and a channel mapping or contract field naming it is refused."))
    # Validation rules (Akeneo's, plus text limits per channel for the quality scorer).
    max_characters: int | None = None
    number_min: float | None = None
    number_max: float | None = None
    decimals_allowed: bool = True
    negative_allowed: bool = True
    metric_family: str | None = Field(default=None, description="Measurement family (Weight, Length, …: "
                                      "pim/measures.yaml, or declared under measurement_families).")
    default_unit: str | None = Field(default=None, description="Unit code of the family for amounts given without one.")
    allowed_extensions: list[str] = []
    validation_regexp: str | None = None

    @field_validator("code", mode="after")
    @classmethod
    def _code_not_reserved(cls, code: str, info: ValidationInfo) -> str:
        if code in RESERVED_ATTRIBUTE_CODES and not (info.context or {}).get("stored"):
            raise ValueError(f"'{code}' is reserved: a product's associations are keyed {code}:<TYPE> (as in Akeneo, "
                             f"no attribute may be called so); rename the attribute, e.g. to {code}_text")
        return code

    @model_validator(mode="after")
    def _metric_needs_family(self) -> "Attribute":
        if self.type == AttributeType.metric and not self.metric_family:
            raise ValueError("a metric attribute needs metric_family (e.g. Weight) and default_unit")
        if self.type == AttributeType.identifier and (self.localizable or self.scopable):
            raise ValueError("the identifier attribute can be neither localizable nor scopable")
        return self


def rational(text: str) -> Fraction:
    """A conversion number as written in a measurement family: a decimal ("0.001", "1e-9") or a quotient of two
    ("5/9", "0.45359237/16"), kept exact."""
    top, _, bottom = text.partition("/")
    value = Fraction(top.strip())
    return value / Fraction(bottom.strip()) if bottom else value


def _rational_text(value: object, positive: bool) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("a number such as 0.001 or a quotient such as 5/9")
    text = repr(value) if isinstance(value, float) else str(value).strip()  # repr: the shortest exact spelling
    try:
        number = rational(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"'{text}' is not a number such as 0.001 or a quotient such as 5/9") from None
    if positive and number <= 0:
        raise ValueError(f"'{text}' must be greater than 0")
    return text


class MeasurementUnit(_Strict):
    """One unit of a measurement family. Its amount in the family's standard unit is (amount + offset) × factor:
    GRAM has factor 0.001; CELSIUS offset 273.15 (to KELVIN); FAHRENHEIT offset 459.67 and factor 5/9."""

    code: Code
    factor: str | int | float = Field(description="Multiplier to the standard unit: a decimal (\"0.001\") or a quotient "
                                "(\"5/9\"); quote it to keep every digit.")
    offset: str | int | float = Field(default="0", description="Added before the factor applies (temperatures).")
    symbol: str = Field(default="", max_length=20, description="Shown after amounts, e.g. kg; resolves to this unit, case first (mW is not MW).")
    aliases: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default=[], description="Other spellings that resolve to this unit: UN/ECE Rec 20 codes (KGM), symbols (kg).")
    labels: Labels = {}

    @field_validator("factor", mode="after")
    @classmethod
    def _factor_is_positive(cls, value: object) -> str:
        return _rational_text(value, positive=True)

    @field_validator("offset", mode="after")
    @classmethod
    def _offset_is_a_number(cls, value: object) -> str:
        return _rational_text(value, positive=False)


class MeasurementFamily(_Strict):
    """Akeneo's measurement family: the units a metric attribute's amounts may come in, and how they convert.
    Declaring a family whose code is built in (pim/measures.yaml) extends that family (see pim.measures)."""

    code: Code
    standard_unit: Code = Field(description="The unit every other converts through (factor 1, offset 0).")
    labels: Labels = {}
    units: list[MeasurementUnit] = Field(min_length=1)

    @model_validator(mode="after")
    def _standard_is_a_plain_unit(self) -> "MeasurementFamily":
        codes = [u.code for u in self.units]
        if len(set(codes)) != len(codes):
            raise ValueError(f"unit codes repeat: {sorted({c for c in codes if codes.count(c) > 1})}")
        standard = next((u for u in self.units if u.code == self.standard_unit), None)
        if standard is not None and (rational(str(standard.factor)) != 1 or rational(str(standard.offset)) != 0):
            raise ValueError(f"the standard unit {self.standard_unit} must have factor 1 and offset 0")
        return self


class AttributeOption(_Strict):
    attribute: Code
    code: Code
    labels: Labels = {}
    sort_order: int = 0


class AttributeGroup(_Strict):
    code: Code
    labels: Labels = {}
    sort_order: int = 0


class Family(_Strict):
    """Which attributes a product has, which label and image it shows, and what each channel requires."""

    code: Code
    labels: Labels = {}
    attributes: list[str]
    attribute_as_label: str | None = None
    attribute_as_image: str | None = None
    requirements: dict[str, list[str]] = Field(default={}, description="channel code → required attributes")

    @model_validator(mode="after")
    def _references_are_members(self) -> "Family":
        members = set(self.attributes)
        for field in ("attribute_as_label", "attribute_as_image"):
            code = getattr(self, field)
            if code and code not in members:
                raise ValueError(f"{field} '{code}' is not one of the family's attributes")
        for channel, required in self.requirements.items():
            missing = [c for c in required if c not in members]
            if missing:
                raise ValueError(f"requirements for '{channel}' name attributes outside the family: {missing}")
        return self


class VariantLevel(_Strict):
    axes: list[str] = Field(min_length=1, max_length=5)
    attributes: list[str] = []


class FamilyVariant(_Strict):
    """How a family's product models split into variants: one or two levels, each with its axes."""

    code: Code
    family: Code
    labels: Labels = {}
    levels: list[VariantLevel] = Field(min_length=1, max_length=2)


class GateRules(_Strict):
    """What a product must satisfy to be published on a channel (see pim.gate)."""

    min_completeness: int = Field(default=100, ge=0, le=100)
    block_on: list[str] = Field(default=[], description="Quality finding kinds that block, e.g. duplicate_gtin.")
    max_price_age_days: int | None = None
    max_stock_age_days: int | None = None
    text_limits: dict[str, int] = Field(default={}, description="attribute code → max characters here")


class Channel(_Strict):
    """A publication scope (Akeneo's channel): locales, currencies, a category tree and gate rules."""

    code: Code
    labels: Labels = {}
    locales: list[str] = Field(min_length=1)
    currencies: list[str] = Field(min_length=1)
    category_tree: str
    gate: GateRules = GateRules()


class Locale(_Strict):
    code: str = Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+){0,2}$")
    enabled: bool = True


class Currency(_Strict):
    code: str = Field(pattern=r"^[A-Z]{3}$")
    enabled: bool = True


class Category(_Strict):
    code: Code
    parent: str | None = None
    labels: Labels = {}


class AssociationKind(StrEnum):
    cross_sell = "cross_sell"
    up_sell = "up_sell"
    substitution = "substitution"
    accessory = "accessory"
    compatible_with = "compatible_with"
    pack = "pack"
    other = "other"


class AssociationType(_Strict):
    code: Code
    kind: AssociationKind = AssociationKind.other
    labels: Labels = {}
    quantified: bool = Field(default=False, description="Packs: each associated product has a quantity.")
    two_way: bool = False


StructureKind = Literal[
    "measurement_family",
    "attribute_group",
    "attribute",
    "attribute_option",
    "family",
    "family_variant",
    "channel",
    "locale",
    "currency",
    "category",
    "association_type",
]

#: Load order matters: later kinds refer to earlier ones.
STRUCTURE_KINDS: dict[str, type[BaseModel]] = {
    "locale": Locale,
    "currency": Currency,
    "measurement_family": MeasurementFamily,
    "attribute_group": AttributeGroup,
    "attribute": Attribute,
    "attribute_option": AttributeOption,
    "category": Category,
    "channel": Channel,
    "family": Family,
    "family_variant": FamilyVariant,
    "association_type": AssociationType,
}


def structure_key(kind: str, item: BaseModel) -> str:
    """Primary key of a structure item within its kind (options are scoped by attribute)."""
    if kind == "attribute_option":
        return f"{item.attribute}.{item.code}"  # type: ignore[attr-defined]
    return item.code  # type: ignore[attr-defined]
