"""A customer contract as declared (pim.contracts): the pydantic models of a contracts file (schema:
schemas/contract.schema.json) and the fields a contract may name besides attribute codes. Split from
pim.contracts, which still offers every name here."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

FINGERPRINT = r"^SHA256:[A-Za-z0-9+/]{43}=?$"
# Five cron fields (minute hour day-of-month month day-of-week), or an @-macro.
_CRON_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*|[A-Za-z]{3}(-[A-Za-z]{3})?"
CRON = re.compile(rf"^(@(hourly|daily|weekly|monthly|yearly)|({_CRON_FIELD})(\s+({_CRON_FIELD})){{4}})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rule(_Strict):
    """Products matching every criterion given here (an empty criterion matches all)."""

    categories: list[str] = Field(default=[], description="In one of these categories or below them.")
    families: list[str] = []
    brands: list[str] = Field(default=[], description="Option codes or values of the assortment's brand attribute.")
    attributes: dict[str, list[str]] = Field(default={}, description="attribute code → accepted values (any).")

    @model_validator(mode="after")
    def _not_empty(self) -> "Rule":
        if not (self.categories or self.families or self.brands or self.attributes):
            raise ValueError("a rule needs at least one of categories, families, brands, attributes")
        return self


class Assortment(_Strict):
    """Explicit SKUs and/or rules, minus exclusions. Exclusions always win."""

    skus: list[str] = []
    rules: list[Rule] = []
    exclude_skus: list[str] = []
    exclude: list[Rule] = []
    brand_attribute: str = "brand"
    enabled_only: bool = True

    @field_validator("skus", "exclude_skus", mode="before")
    @classmethod
    def _numbers_as_skus(cls, v: object) -> object:
        """A SKU written without quotes that YAML reads as a whole number (1010000000) is that number's text; one
        it reads as another number or a switch (1.50, 1e5, yes) is refused with the fix. (A whole number whose
        digits YAML changes, 0123 read as 83, is refused by pim.contracts_files, which sees the file's text.)"""
        if not isinstance(v, list):
            return v
        out = []
        for sku in v:
            if isinstance(sku, (bool, float)):
                raise ValueError(f"{str(sku).lower() if isinstance(sku, bool) else sku} is read as "
                                 f"{'a switch' if isinstance(sku, bool) else 'a decimal number'}, not a SKU: "
                                 "write SKUs in quotes (\"1.50\", \"YES\") as the file has them in the catalog")
            out.append(str(sku) if isinstance(sku, int) else sku)
        return out

    @model_validator(mode="after")
    def _something(self) -> "Assortment":
        if not (self.skus or self.rules):
            raise ValueError("an assortment needs skus and/or rules")
        return self


class Pricing(_Strict):
    """Contract prices come from the customer's price list; `fallback` says what a SKU without one gets."""

    price_list: str | None = Field(default=None, description="Price-list customer code; the contract's customer by default.")
    fallback: Literal["list_price", "list_price_discount", "exclude"] = "list_price"
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, lt=100)
    list_price_attribute: str = "price"


class SftpTarget(_Strict):
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    private_key: Path = Field(description="Path to the client's private key (OpenSSH format).")
    host_key_fingerprint: str = Field(pattern=FINGERPRINT, description="Pinned server key, as `ssh-keygen -lf` prints it.")
    remote_dir: str = "/"


class Delivery(_Strict):
    sftp: SftpTarget | None = None
    portal: bool = False

    @model_validator(mode="after")
    def _somewhere(self) -> "Delivery":
        if self.sftp is None and not self.portal:
            raise ValueError("delivery needs an sftp target and/or portal: true")
        return self


#: Validation context for contracts read back from the store: checks added since they were loaded do not apply
#: there (the contract must stay listable and deletable); the renderer refuses what it cannot write.
STORED = {"stored": True}


class CsvDialect(_Strict):
    """A dialect a reader can parse back: delimiter and quotechar are one character each, differ from each other
    and are no line break."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1, validate_default=True)  # checked against the delimiter
    quoting: Literal["minimal", "all"] = "minimal"
    lineterminator: Literal["\r\n", "\n"] = "\r\n"
    encoding: Literal["utf-8", "utf-8-sig", "cp1252"] = "utf-8"
    escape_formulas: bool = Field(default=True, description="Prefix cells starting = + - @ tab CR with a quote (OWASP).")

    @field_validator("delimiter", "quotechar")
    @classmethod
    def _not_a_line_break(cls, v: str, info: ValidationInfo) -> str:
        if v in ("\r", "\n") and info.context != STORED:
            raise ValueError("a line break cannot separate or quote fields: every reader ends the row there; "
                             "use e.g. delimiter ';' and quotechar '\"'")
        return v

    @field_validator("quotechar")
    @classmethod
    def _not_the_delimiter(cls, v: str, info: ValidationInfo) -> str:
        if v == info.data.get("delimiter") and info.context != STORED:
            raise ValueError(f"the delimiter and the quote character are both {v!r}: a reader cannot tell where a "
                             f"field ends; give them different characters (e.g. delimiter ';', quotechar '\"')")
        return v


class BmecatOptions(_Strict):
    """Which attributes carry the BMEcat-specific data."""

    reference_system: Literal["ETIM-8.0", "ETIM-9.0", "ECLASS-9.0", "ECLASS-12.0", "ECLASS-13.0"] = "ECLASS-12.0"
    class_attribute: str = Field(default="eclass_class", description="Holds the product's ECLASS/ETIM class id.")
    gtin_attribute: str = "ean"
    manufacturer_attribute: str = "brand"
    order_unit_attribute: str = "order_unit"
    pack_attribute: str = "pack_size"
    moq_attribute: str = "min_order_qty"
    default_order_unit: str = "C62"
    supplier_name: str = "PIM"


class Contract(_Strict):
    """One customer's contracted feed."""

    code: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=100)
    customer: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=100)
    name: str = ""
    assortment: Assortment
    pricing: Pricing = Pricing()
    locale: str = Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+){0,2}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    channel: str = Field(description="The channel whose gate, scope and category tree apply.")
    fields: list[str] = Field(default=[], description="Attribute codes to include; the family's attributes when empty.")
    include_stock: bool = True
    format: Literal["csv", "xlsx", "jsonl", "bmecat"] = "csv"
    mode: Literal["full", "delta"] = "full"
    csv: CsvDialect = CsvDialect()
    bmecat: BmecatOptions = BmecatOptions()
    media_base_url: str | None = Field(default=None, description=(
        "Public URL the feed's media is served at; PIM_CDN_BASE_URL when unset. It must serve two trees: originals "
        "under their refs, `<base>/<ref>` (file attributes, and images without a built rendition), and the contract "
        "channel's built renditions, `<base>/renditions/<sha256[:2]>/<sha256>/<spec hash[:20]>.<ext>` (the media "
        "store's renditions/ folder). Refs that are URLs go out unchanged."))
    rendition: str | None = Field(default=None, description=(
        "The rendition the feed's image links use, one media.yaml declares for the contract's channel (e.g. a JPEG "
        "`zoom` for BMEcat tooling); the channel's listing rendition when unset. Checked at `pim feeds load`."))
    delivery: Delivery
    schedule: str | None = Field(default=None, description="Cron expression (5 fields or @daily, UTC): when `pim feeds deliver --due` sends this feed.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and not CRON.match(v.strip()):
            raise ValueError("not a cron expression: use 5 fields (minute hour day month weekday) or @daily")
        return v

    @property
    def price_customer(self) -> str:
        return self.pricing.price_list or self.customer

    def digest(self) -> str:
        """Changes when what the customer gets changes (not when the schedule or delivery target moves)."""
        # An unset rendition stays out, so that contracts stored before the field existed keep their digest (a new
        # digest would send each of them a full feed).
        left = {"schedule", "delivery", "name"} | ({"rendition"} if self.rendition is None else set())
        body = self.model_dump(mode="json", exclude=left)
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class ContractFile(_Strict):
    """A contracts file: one or many contracts."""

    contracts: list[Contract]


#: Opt-in field: when the stock a row carries was measured (CSV/XLSX column after in_stock; JSON Lines always
#: has stock.updated_at). Opt-in so that existing contracts keep their columns and digests.
STOCK_TIME = "stock_updated_at"
SPECIAL_FIELDS = ("label", "family", "categories", STOCK_TIME)
