"""What a feed build makes and hands on: the JSON Lines row (FeedRow), the items and plan a renderer reads
(FeedItem, FeedPlan), the built file with the watermark to store once delivered (Build), and the refusal a
contract's own rules raise (FeedRefused). Split out of pim.feeds, which still offers every name."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pim import delivery_log as log
from pim.catalog import Structure
from pim.commerce import Availability
from pim.contracts import Contract, ResolvedPrice
from pim.errors import ConfigError
from pim.product import Product
from pim.store.store import Store

Kind = Literal["full", "delta_products", "delta_prices"]
#: Why a product the contract names is not in a build (Build.left_out, the delivery log): an explicit SKU the
#: catalog lacks; one the assortment takes but its exclusions drop (exclude_skus, exclude rules, disabled under
#: enabled_only); blocked by the channel's gate; no contract price and no fallback price.
LEFT_OUT = ("unknown_sku", "excluded", "gate", "no_price")


class FeedRefused(ConfigError):
    """A feed the contract's own rules refuse to write from this catalog (text its encoding lacks, a dialect nobody
    can read back) or with this media.yaml (`media`: the rendition it names is gone): building it again fails the
    same way until that changes, so `deliver --due` holds the contract until then (pim.feed_holds). `skus`: the
    products the refusal is about ([] none, None unknown): only a write to one of them lifts a data refusal."""

    def __init__(self, contract: Contract, message: str, *, hint: str | None = None, skus: list[str] | None = None,
                 media: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.contract, self.skus, self.media = contract, skus, media


# ---------------------------------------------------------------------------------------------- the row
class FeedTier(BaseModel):
    min_qty: str
    price: str


class FeedPrice(BaseModel):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount: str = Field(pattern=r"^\d+(\.\d+)?$")
    source: Literal["contract", "list", "list_discount"]
    tiers: list[FeedTier] = Field(min_length=1)


class FeedStock(BaseModel):
    atp: str
    in_stock: bool
    updated_at: datetime | None = None


class FeedRow(BaseModel):
    """One line of a JSON Lines feed (schema: schemas/feed_row.schema.json)."""

    model_config = ConfigDict(extra="forbid")

    sku: str
    action: Literal["upsert", "delete"]
    label: str | None = None
    family: str | None = None
    categories: list[str] = []
    price: FeedPrice | None = None
    stock: FeedStock | None = None
    attributes: dict[str, Any] = Field(default={}, description="attribute code → value in the contract's locale")


# ---------------------------------------------------------------------------------------------- the plan
@dataclass
class FeedItem:
    product: Product
    values: dict[str, Any]
    price: ResolvedPrice | None
    stock: Availability | None
    action: Literal["upsert", "delete"] = "upsert"
    change: Literal["product", "price", "delete"] = "product"


@dataclass
class FeedPlan:
    """What a renderer needs besides the items."""

    contract: Contract
    structure: Structure
    kind: Kind
    version: int
    prev_version: int
    generated_at: datetime
    media_base_url: str | None = None
    shared: dict[Any, Any] = field(default_factory=dict)  # renderers' per-run caches (FeedRun.rendered)
    store: Store | None = None  # for the renderers' media links (channels.feed_row.Projector)


@dataclass
class Build:
    """A built feed and the watermark to store once it is delivered."""

    contract: Contract
    plan: FeedPlan
    path: Path | None
    rows: int
    sha256: str = ""
    bytes: int = 0
    pending: log.Watermark | None = None
    counts: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)  # reason (LEFT_OUT) → products, the reasons that had some
    held_before: int = 0  # SKUs the customer held from the last confirmed delivery
    warnings: list[str] = field(default_factory=list)  # worth a look, not a reason to hold (pim.feed_warnings)

    def manifest(self) -> dict[str, Any]:
        return {"name": self.path.name if self.path else None, "sha256": self.sha256, "bytes": self.bytes,
                "rows": self.rows, "contract": self.contract.code, "customer": self.contract.customer,
                "generated_at": self.plan.generated_at.isoformat(), "format": self.contract.format, "kind": self.plan.kind,
                "version": self.plan.version, "previous_version": self.plan.prev_version}
