"""A supplier's BMEcat map (schemas/bmecat_map.schema.json): which PRODUCT_DETAILS field and which ETIM/ECLASS
feature lands in which attribute, with units, option values, languages, price type and reference types."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from pim.sources import load_profile

ISO639_2 = {"deu": "de_DE", "ger": "de_DE", "eng": "en_US", "fra": "fr_FR", "fre": "fr_FR", "ita": "it_IT",
            "spa": "es_ES", "nld": "nl_NL", "dut": "nl_NL", "pol": "pl_PL", "ces": "cs_CZ", "cze": "cs_CZ"}


class FeatureTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str
    unit: str | None = Field(default=None, description="Unit when the feature has no FUNIT (metric attributes).")
    units: dict[str, str] = Field(default={}, description="FUNIT code → our unit, for codes the measurement "
                                  "catalogue reads otherwise (e.g. GR: GRAM; the catalogue's gr is GRAIN). A FUNIT not "
                                  "named here resolves through the catalogue (MMT → MILLIMETER, KGM → KILOGRAM).")
    options: dict[str, str] = Field(default={}, description="FVALUE or VALUE_IDREF → option code.")


#: The units BMEcat 2005 implies for PRODUCT_DIMENSIONS, which carry a bare number (the XSD types them dtNUMBER;
#: the specification's element descriptions give cubic metres, kilograms and metres).
SPEC_UNITS = {"VOLUME": "CUBIC_METER", "WEIGHT": "KILOGRAM", "LENGTH": "METER", "WIDTH": "METER", "DEPTH": "METER"}


class LogisticTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str
    unit: str | None = Field(default=None, description="Unit of the file's numbers, for a supplier that does not send "
                             "the BMEcat units (VOLUME m³ = CUBIC_METER, WEIGHT kg = KILOGRAM, LENGTH/WIDTH/DEPTH m = "
                             "METER, the default). The value is stored in this unit; convert in the channel if needed.")


class Logistics(BaseModel):
    """PRODUCT_LOGISTIC_DETAILS → attributes. Unmapped details are read past."""

    model_config = ConfigDict(extra="forbid")

    volume: LogisticTarget | None = None
    weight: LogisticTarget | None = None
    length: LogisticTarget | None = None
    width: LogisticTarget | None = None
    depth: LogisticTarget | None = None
    customs_number: str | None = Field(default=None, description="Attribute for the first CUSTOMS_TARIFF_NUMBER/CUSTOMS_NUMBER.")
    country_of_origin: str | None = Field(default=None, description="Attribute for the first COUNTRY_OF_ORIGIN (ISO 3166).")


class CatalogGroups(BaseModel):
    """CATALOG_GROUP_SYSTEM and PRODUCT_TO_CATALOGGROUP_MAP → categories (importers/bmecat_groups.py)."""

    model_config = ConfigDict(extra="forbid")

    categories: dict[str, str] = Field(default={}, description="GROUP_ID → an existing category code.")
    create_under: str | None = Field(default=None, description="Create the file's other groups as categories under this "
                                     "existing one (labels from GROUP_NAME, parents from PARENT_ID). Without it, an "
                                     "assignment to an unmapped group is a problem and is skipped.")
    code_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$",
                             description="Prefix of created category codes: code_prefix + GROUP_ID.")


class BmecatMap(BaseModel):
    """How one supplier's BMEcat lands in our attributes."""

    model_config = ConfigDict(extra="forbid")

    supplier: str = Field(pattern=r"^[a-z0-9_-]+$", description="Source name: values get provenance supplier:<this>.")
    languages: dict[str, str] = Field(default=ISO639_2, description="BMEcat language (ISO 639-2) → our locale.")
    sku_from: Literal["xref", "supplier_pid", "manufacturer_pid"] = Field(
        default="xref", description="xref: the cross-reference (supplier PID → SKU), then the GTIN, then `unmatched`.")
    sku_prefix: str = Field(default="", description="Prefix for SKUs taken from supplier or manufacturer PIDs.")
    pid_slash: str | None = Field(default=None, pattern=r"^[!-.0-~]{1,8}$", description=(
        "With `sku_from: supplier_pid` or `manufacturer_pid`: what each `/` of the PID becomes in the SKU made of it "
        "(e.g. `-`: PID 12/34 is SKU 12-34), since the REST API addresses a product by its SKU in one URL path "
        "segment. Without it, a product whose PID has a `/` is left out with a problem. Pick a text the "
        "supplier's PIDs never hold: two PIDs of a file that make one SKU are refused."))
    family: str | None = Field(default=None, description="Family of products this catalog creates.")
    class_families: dict[str, str] = Field(default={}, description="Feature class (ECLASS/ETIM id) → family.")
    fields: dict[Literal["short", "long", "keywords", "ean", "manufacturer_pid", "manufacturer_name",
                         "manufacturer_type", "order_unit", "content_unit", "pack_size", "min_quantity",
                         "feature_class"], str] = {}
    channel: str | None = Field(default=None, description="Channel for scopable attributes (e.g. description).")
    feature_systems: list[str] = Field(default=["ECLASS", "ETIM"], description="Accepted REFERENCE_FEATURE_SYSTEM_NAME prefixes.")
    features: dict[str, FeatureTarget] = {}
    price_type: str = Field(default="net_list", description="PRODUCT_PRICE@price_type that is the list price.")
    price_attribute: str | None = "price"
    tier_price_list: str | None = Field(default=None, description="Store every tier (LOWER_BOUND) as this price list.")
    image_attribute: str | None = None
    image_purposes: list[str] = ["normal"]
    references: dict[str, str] = Field(default={}, description="PRODUCT_REFERENCE@type → association type code. "
                                       "Targets (supplier PIDs) are translated to our SKUs; one that is no product of "
                                       "ours is left out with a problem note.")
    logistics: Logistics | None = None
    catalog_groups: CatalogGroups | None = Field(default=None, description="Catalog groups → categories; without it "
                                                 "the group system and the assignments are read past.")
    unmatched: Literal["create", "quarantine"] = "create"
    deletes: Literal["withdraw", "review"] = Field(default="withdraw", description="`PRODUCT mode=\"delete\"` in a "
                                                   "T_UPDATE_PRODUCTS: withdraw the supplier's values, tier prices and "
                                                   "categories from the product (which stays), or quarantine it for review "
                                                   "(`pim import withdraw` applies one).")
    updates: Literal["restate", "delta"] = Field(default="restate", description="A T_UPDATE_PRODUCTS PRODUCT (mode "
                                                 "new or update): restate — it is the whole product, as BMEcat 2005 "
                                                 "has it, so the supplier's values and associations it no longer "
                                                 "states are withdrawn; delta — it carries only what changed, for a "
                                                 "supplier that sends partial updates: what it leaves out stays.")
    precedence: str | None = Field(default=None, description="Precedence YAML file (relative to this map).")
    _file: str | None = PrivateAttr(default=None)  # the file it was read from: what a map mistake names

    @model_validator(mode="after")
    def _slash_needs_pid_skus(self) -> BmecatMap:
        if self.pid_slash is not None and self.sku_from == "xref":
            raise ValueError("`pid_slash` makes SKUs of PIDs with a `/`, which only `sku_from: supplier_pid` or "
                             "`manufacturer_pid` does; under `sku_from: xref` map such a PID with `pim import xref "
                             "supplier:<name> <PID> <SKU>` instead, and take `pid_slash` out of the map")
        return self

    def sku_of(self, pid: str) -> str:
        """The SKU a PID makes under `sku_from: supplier_pid` or `manufacturer_pid` (`sku_prefix`, `pid_slash`)."""
        return self.sku_prefix + (pid.replace("/", self.pid_slash) if self.pid_slash else pid)


def load_map(path: Path) -> BmecatMap:
    """The supplier's BMEcat map; a file that cannot be read or is no valid map is an InputError naming the
    field (exit 2), as every other source profile (pim.sources.load_profile)."""
    m = load_profile(BmecatMap, path)
    m._file = str(path)
    return m
