"""The channel catalog declaration as a model: which structure channel (scope) a catalog publishes, its locales,
currencies and category tree, renditions, and its field mapping. One YAML file each (channels.declaration_files,
schema: schemas/channel_catalog.schema.json); the field mapper (channels.field_mapper) carries it out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels.url_codes import is_url_field
from pim.catalog import Structure
from pim.errors import ConfigError
from pim.structure import AttributeType, Code


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rendition(_Strict):
    """An image size the channel wants; the media area builds it, the catalog only links to it."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    format: Literal["jpg", "png", "webp"] = "jpg"
    fit: Literal["contain", "cover"] = "contain"


class FieldMap(_Strict):
    """One output field: from an attribute (resolved for the channel and locale) or a template."""

    output: str = Field(min_length=1)
    attribute: str | None = Field(default=None, description="Attribute code the value comes from.")
    attributes: list[str] = Field(default=[], description=(
        "Several attributes. On an output that holds one value (Google Merchant's title, description, …): a "
        "fallback chain, the first attribute whose value publishes as something (cleaned, then length-checked "
        "like a single attribute's). On a list output (e.g. Google's additional_image_link) and on the "
        "storefront: a list of every value found, in this order (e.g. extra images)."))
    template: str | None = Field(default=None, description="Jinja2 (sandboxed): {{ values.name }}, {{ identifier }}.")
    unit: str | None = Field(default=None, description="Convert metric values to this unit of the attribute's "
                             "measurement family (KILOGRAM, or a symbol or alias such as kg; °F converts with offsets).")
    locale: str | None = Field(default=None, description="Always read this locale instead of the output's.")
    currency: str | None = Field(default=None, description="Price collections: pick this currency.")
    option_labels: bool = Field(default=True, description="Select options as their label instead of the code.")
    max_length: int | None = Field(default=None, gt=0)
    on_overflow: Literal["block", "truncate"] = "block"
    required: bool = Field(default=False, description="Missing → the product is blocked on this channel.")
    url: bool | None = Field(default=None, description="Template fields: whether the template builds a URL, so "
                             "identifier, parent and family come percent-encoded. Unset: by the output's name "
                             "(link, *_link, *_url).")

    @model_validator(mode="after")
    def _url_needs_template(self) -> FieldMap:
        if self.url is not None and not self.template:
            raise ValueError(f"field '{self.output}': url: applies only to a template field (its record codes are "
                             "percent-encoded in the URL it builds); remove url: or give the field a template")
        return self

    def builds_url(self) -> bool:
        """Whether this template field builds a URL: as its `url:` says, else by its name (is_url_field)."""
        return self.url if self.url is not None else is_url_field(self.output)


class ChannelCatalog(_Strict):
    """A published catalog: the renderer that writes it and everything that decides what goes in."""

    code: Code
    renderer: str = Field(description="Name in pim.registry.RENDERERS.")
    scope: str | None = Field(default=None, description="Structure channel (locales, currencies, gate rules); the run's scope when unset.")
    locales: list[str] = Field(default=[], description="Subset of the scope's locales; all of them when empty.")
    currencies: list[str] = Field(default=[], description="Subset of the scope's currencies; all when empty.")
    category_tree: str | None = Field(default=None, description="Root category; the scope's tree when unset.")
    gate: str | None = Field(default=None, description="Structure channel whose GateRules apply; the scope when unset.")
    base_url: str = "https://shop.example.com"
    link_template: str = Field(default="{{ base_url }}/p/{{ identifier }}",
                               description="Jinja2 (sandboxed) for the product link. identifier, parent and family "
                               "come percent-encoded as one URL path segment each; values as they are.")
    media_base_url: str | None = Field(default=None, description=(
        "Where renditions are served; default PIM_CDN_BASE_URL. With neither, a built rendition links as a local "
        "file:// URL (Google Merchant blocks it) and an image not rendered yet as base_url/media."))
    renditions: dict[str, Rendition] = {}
    fields: list[FieldMap] = []
    category_map: dict[str, str] = Field(default={}, description="Category code → channel taxonomy id (e.g. Google's).")
    options: dict[str, Any] = {}

    def scope_channel(self, run_scope: str, structure: Structure) -> str:
        scope = self.scope or run_scope
        if scope not in structure.channels:
            raise ConfigError(f"catalog '{self.code}' names unknown scope '{scope}'",
                              hint=f"known: {', '.join(sorted(structure.channels))}")
        return scope

    def locales_for(self, scope: str, structure: Structure) -> list[str]:
        return [l for l in structure.channels[scope].locales if not self.locales or l in self.locales]

    def currencies_for(self, scope: str, structure: Structure) -> list[str]:
        return [c for c in structure.channels[scope].currencies if not self.currencies or c in self.currencies]

    def field(self, output: str) -> FieldMap | None:
        return next((f for f in self.fields if f.output == output), None)

    def price_attribute(self, structure: Structure) -> str | None:
        """The list price: the price collection the catalog maps to `price`, else the structure's list price."""
        f = self.field("price")
        attr = structure.attributes.get(f.attribute or "") if f else None
        if attr is not None and attr.type == AttributeType.price_collection:
            return attr.code
        return list_price_attribute(structure)


def list_price_attribute(structure: Structure) -> str | None:
    """The price collection that holds the list price: the one coded `price`, else the first by sort order; never
    an internal one (a purchase price, pim.published). Others (a sale price) are shown beside it, never in its place."""
    prices = sorted((a for a in structure.attributes.values() if a.type == AttributeType.price_collection
                     and not a.internal),
                    key=lambda a: (a.code != "price", a.sort_order, a.code))
    return prices[0].code if prices else None
