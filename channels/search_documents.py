"""The search document: one per sellable product and locale (one index per locale, see docs/search.md).

Everything that depends only on the structure is worked out once per locale (`LocalePlan`), so building a
document is a handful of dict lookups: the benchmark budget is 50k documents/s.

Shape (all keys always present, so the storefront never guards against a missing field):
  id            SKU made safe for Meilisearch (exporters.meili_ids rules, inlined here: channels never import
                exporters)
  sku           the product identifier, unchanged
  group         the root product model's code (variants group under it with `distinctAttribute`), else the SKU
  model         the root product model's code or null
  family, family_label, name, description, brand  (name, description, brand and `text` are plain text:
                channels.html.plain_text, so markup neither shows in results nor is searched)
  categories    category codes in the channel's tree
  category_paths  {"lvl0": ["Audio"], "lvl1": ["Audio > Headphones"], …}: hierarchical facets, localized labels
  facets        {attribute: value} for attributes flagged `filterable` (option labels, numbers, booleans), as
                plain text; never a textarea (NOT_FACETS)
  text          {attribute: value} for attributes flagged `searchable` that are not name/description/brand
  prices        {"EUR": 12.5, …} the list price in the channel's currencies, as the storefront shows it (rounded
                half up to minor units, pim.currencies.shelf_price): numbers, to sort and filter on. A product
                whose list price rounds to 0 has no document, as it has no storefront page (price_check); nor
                has one whose required image links to nothing (image_check, as the storefront blocks it)
  availability  "in_stock" | "out_of_stock" | "unknown";  stock: available-to-promise or null
  in_stock_rank 1 when in stock, else 0 (a custom ranking rule)
  image         the main image's rendition URL
  customers     contracted customers as keyed digests (customer_tag), what tenant tokens filter on; not among
                the displayed attributes (DISPLAYED), and a leaked or faceted value names no customer
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from channels.asset_refs import is_asset_ref
from channels.framework import list_price_attribute
from channels.html import plain_text
from pim.catalog import Structure
from pim.currencies import minor_units, shelf_price
from pim.product import value_key
from pim.published import is_published
from pim.structure import Attribute, AttributeType

NAME_ATTRIBUTES = ("name", "title", "label")
DESCRIPTION_ATTRIBUTES = ("description", "long_description", "short_description")
BRAND_ATTRIBUTES = ("brand", "manufacturer", "brand_name")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
#: What search results show: every field but `customers` (index settings' displayedAttributes).
DISPLAYED = ("id", "sku", "group", "model", "family", "family_label", "name", "description", "brand", "categories",
             "category_paths", "facets", "text", "prices", "availability", "stock", "in_stock_rank", "image")
_TAG_LABEL = b"pim search customer\x00"

#: Turns an image value (an asset reference) into a public URL. The media area replaces it with renditions.
ImageUrl = Callable[[str], str | None]


def document_id(sku: str) -> str:
    """Same rule as exporters.meili_ids.encode_id (tested to agree); duplicated because channels sit
    upstream of exporters."""
    if _SAFE_ID.match(sku) and not sku.startswith("_") and len(sku.encode()) <= 511:
        return sku
    raw = sku.encode("utf-8")
    if len(raw) <= 381:
        return "_b" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return "_h" + hashlib.blake2b(raw, digest_size=32).hexdigest()


def customer_tag(customer: str, key: str | None = None) -> str:
    """What a document's `customers` field holds for a customer, and what its tenant token filters on: HMAC-SHA256
    keyed with PIM_SECRET_KEY (or `key`), 128 bits in hex, so a search result or facet count that shows the
    field names no customer, and nobody without the key can tell which tag is whose."""
    if key is None:
        from pim.settings import get_settings

        key = get_settings().secret_key
    return hmac.new(key.encode(), _TAG_LABEL + customer.encode(), hashlib.sha256).hexdigest()[:32]


def raw_image_url(value: str) -> str | None:
    """The value as its URL; an upload's `sha256:` ref names an asset, no place to fetch: media links those."""
    return None if not value or is_asset_ref(value) else value


def first_present(s: Structure, candidates: tuple[str, ...], types: tuple[AttributeType, ...]) -> str | None:
    """The first of `candidates` that is a published attribute of one of `types` (never an internal one)."""
    for code in candidates:
        attr = s.attributes.get(code)
        if attr is not None and attr.type in types and not attr.internal:
            return code
    return None


_TEXTS = (AttributeType.text, AttributeType.textarea, AttributeType.identifier)
#: Types never made facets however `filterable` is set: prices have `prices`, images and files are no values to
#: filter on, and a textarea is copy (HTML: a description, a composition), not a value a shopper picks from a list
#: (Akeneo marks such attributes useable_as_grid_filter, which imports as filterable).
NOT_FACETS = (AttributeType.price_collection, AttributeType.image, AttributeType.file, AttributeType.textarea)
_SELECTS = (AttributeType.simple_select, AttributeType.multi_select)


def _plain(v: Any) -> Any:
    """A text value (or list of them) as plain text; other values as they are."""
    if isinstance(v, str):
        return plain_text(v)
    if isinstance(v, list):
        return [plain_text(x) if isinstance(x, str) else x for x in v]
    return v


def _number(v: Any) -> float | None:
    if isinstance(v, dict):
        v = v.get("amount")
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _shelf_number(amount: Any, currency: str) -> float | None:
    """A stored price as the storefront shows it beside the results (pim.currencies.shelf_price), as a number to
    sort and filter on; None for none. Text with no more decimals than the currency's (nearly every price) has
    nothing to round and skips Decimal: every document pays this per currency."""
    if isinstance(amount, str):
        whole, _, fraction = amount.partition(".")
        if len(fraction) <= minor_units(currency) and (whole + fraction).isdigit():
            return float(amount)
    try:
        return float(shelf_price(amount if isinstance(amount, Decimal) else str(amount), currency))
    except (InvalidOperation, ValueError):
        return None


#: The hint of `search:image_link_not_public`: search reads no catalog, so its base URL is PIM_CDN_BASE_URL.
SEARCH_NOT_PUBLIC = "image_link_not_public:{attr}:set PIM_CDN_BASE_URL"


@dataclass
class Checks:
    """Rules blocking a product from the index (DocumentBuilder.checks): the reasons of every one."""

    rules: list[Any]

    def reasons(self, p: Any, values: dict[str, Any]) -> list[str]:
        return [r for rule in self.rules for r in rule.reasons(p, values)]


@dataclass
class LocalePlan:
    """What one locale's documents need from the structure, resolved up front."""

    locale: str
    keys: dict[str, str]                               # attribute → value key on (scope, locale)
    options: dict[str, dict[str, str]]                 # attribute → option code → label
    category_levels: dict[str, list[str]]              # category code → ["Audio", "Audio > Headphones"]
    family_labels: dict[str, str]
    depth: int
    #: (attribute, value key, option labels or None, numeric) for facets and searchable text, in order
    facet_specs: list[tuple[str, str, dict[str, str] | None, bool]] = field(default_factory=list)
    text_specs: list[tuple[str, str, dict[str, str] | None]] = field(default_factory=list)


@dataclass
class DocumentBuilder:
    """Builds the documents of one channel scope, for each of its locales."""

    structure: Structure
    scope: str
    image_url: ImageUrl = raw_image_url
    plans: list[LocalePlan] = field(default_factory=list)
    #: Keys the customer tags (customer_tag); None: PIM_SECRET_KEY.
    customer_key: str | None = None

    def __post_init__(self) -> None:
        s = self.structure
        if self.customer_key is None:
            from pim.settings import get_settings

            self.customer_key = get_settings().secret_key
        self._tags: dict[str, str] = {}  # customer → tag: a catalog has few customers, each tagged once
        channel = s.channels[self.scope]
        self.currencies = list(channel.currencies)
        self.tree = channel.category_tree
        self.name_attr = first_present(s, NAME_ATTRIBUTES, _TEXTS)
        self.description_attr = first_present(s, DESCRIPTION_ATTRIBUTES, _TEXTS)
        self.brand_attr = first_present(s, BRAND_ATTRIBUTES, _TEXTS + _SELECTS)
        self.price_attr = list_price_attribute(s)
        images = sorted((a for a in s.attributes.values() if a.type == AttributeType.image and not a.internal),
                        key=lambda a: (a.sort_order, a.code))
        self.default_image = images[0].code if images else None
        special = {self.name_attr, self.description_attr, self.brand_attr}
        # internal attributes (pim.published) are never in a document, whatever filterable/searchable say (those
        # then serve the staff grid only)
        ordered = sorted((a for a in s.attributes.values() if not a.internal), key=lambda a: (a.sort_order, a.code))
        self.facet_attrs: list[Attribute] = [a for a in ordered if a.filterable and a.type not in NOT_FACETS]
        self.text_attrs: list[Attribute] = [a for a in ordered if a.searchable and a.code not in special]
        self.plans = [self._plan(locale) for locale in channel.locales]

    def _plan(self, locale: str) -> LocalePlan:
        s = self.structure
        keys = {code: value_key(code, locale if a.localizable else None, self.scope if a.scopable else None)
                for code, a in s.attributes.items()}
        options = {attr: {code: (o.labels.get(locale) or code) for code, o in opts.items()} for attr, opts in s.options.items()}
        levels: dict[str, list[str]] = {}
        depth = 0
        for code in s.categories:
            path = s.category_path(code)
            if not path or path[0] != self.tree:
                continue
            labels = [s.categories[c].labels.get(locale) or c for c in path[1:]]
            levels[code] = [" > ".join(labels[: n + 1]) for n in range(len(labels))]
            depth = max(depth, len(labels))
        families = {code: (f.labels.get(locale) or code) for code, f in s.families.items()}
        numeric = (AttributeType.number, AttributeType.metric)
        facet_specs = [(a.code, keys[a.code], options.get(a.code, {}) if a.type in _SELECTS else None, a.type in numeric)
                       for a in self.facet_attrs]
        text_specs = [(a.code, keys[a.code], options.get(a.code, {}) if a.type in _SELECTS else None) for a in self.text_attrs]
        return LocalePlan(locale, keys, options, levels, families, depth, facet_specs, text_specs)

    def price_check(self, resolver: Any) -> Any:
        """The storefront's list price rule (channels.storefront.ListPriceCheck) on this builder's scope,
        currencies and price: a price that rounds to 0 blocks the product here too (`search:<currency>:invalid:
        price:0`), so no result shows a price the storefront refuses or links to a page it does not have.
        `resolver`: the publish's ValueResolver."""
        from channels.storefront import ListPriceCheck

        return ListPriceCheck(resolver, self.scope, [p.locale for p in self.plans], self.currencies,
                              self.price_attr, "search")

    def image_check(self, resolver: Any) -> Any:
        """The storefront's required-image rule (channels.storefront.RequiredImageCheck) through this builder's
        image links: a product whose family requires an image on the scope that links to nothing here (an upload
        with no public URL, a rendition not built, an image media found unusable) has no document, as it has no
        storefront page (`search:image_link_not_public:<attr>:…`); an incremental push deletes its documents. None
        when the links cannot say (a caller's own image_url)."""
        from channels.storefront import RequiredImageCheck

        if getattr(self.image_url, "why", None) is None:
            return None
        return RequiredImageCheck(resolver, self.scope, [p.locale for p in self.plans], self.image_url, "search",
                                  SEARCH_NOT_PUBLIC)

    def checks(self, resolver: Any) -> Checks:
        """Every rule that keeps a product out of the index as the storefront keeps it off its pages: the list
        price (price_check) and the required images (image_check)."""
        return Checks([c for c in (self.price_check(resolver), self.image_check(resolver)) if c is not None])

    def tags(self, customers: list[str]) -> list[str]:
        """The customers' tags (customer_tag), remembered per builder."""
        tags = self._tags
        out = []
        for customer in customers:
            tag = tags.get(customer)
            if tag is None:
                tag = tags[customer] = customer_tag(customer, self.customer_key)
            out.append(tag)
        return out

    @property
    def depth(self) -> int:
        return max((p.depth for p in self.plans), default=0)

    # ---------------------------------------------------------------- documents
    def _label(self, plan: LocalePlan, attr: str | None, v: Any) -> Any:
        if attr is None or v is None:
            return v
        opts = plan.options.get(attr)
        if opts is None:
            return v
        if isinstance(v, list):
            return [opts.get(o, o) for o in v]
        return opts.get(v, v)

    def build(self, sku: str, family: str | None, categories: list[str], values: dict[str, Any], *,
              model: str | None = None, availability: Any = None, customers: list[str] | None = None) -> list[dict[str, Any]]:
        """One document per locale, in the order of the channel's locales."""
        s = self.structure
        doc_id = document_id(sku)
        fam = s.families.get(family or "")
        label_attr = (fam.attribute_as_label if fam and is_published(s, fam.attribute_as_label) else None) or self.name_attr
        image_attr = (fam.attribute_as_image if fam and is_published(s, fam.attribute_as_image) else None) or self.default_image
        cats = [c for c in categories if c in self.plans[0].category_levels] if self.plans else []
        raw_prices = values.get(self.plans[0].keys[self.price_attr]) if self.price_attr and self.plans else None
        prices = {c: _shelf_number(raw_prices[c], c) for c in self.currencies if isinstance(raw_prices, dict) and c in raw_prices}
        if availability is None:
            state, stock = "unknown", None
        else:
            state, stock = ("in_stock" if availability.atp > 0 else "out_of_stock"), float(availability.atp)
        contracted = sorted(self.tags(customers)) if customers else []
        out = []
        for plan in self.plans:
            keys = plan.keys
            levels: dict[str, list[str]] = {}
            for c in cats:
                for n, path in enumerate(plan.category_levels[c]):
                    bucket = levels.setdefault(f"lvl{n}", [])
                    if path not in bucket:
                        bucket.append(path)
            facets = {}
            for code, key, opts, numeric in plan.facet_specs:
                v = values.get(key)
                if v is None or v == "" or v == []:
                    continue
                if numeric:
                    v = _number(v)
                else:  # shown to shoppers and searched: plain text like `text.*` (option labels too)
                    if opts is not None:
                        v = [opts.get(o, o) for o in v] if isinstance(v, list) else opts.get(v, v)
                    v = _plain(v)
                    if v == "" or v == []:
                        continue
                facets[code] = v
            text = {}
            for code, key, opts in plan.text_specs:
                v = values.get(key)
                if v is None or v == "" or v == [] or v == {}:
                    continue
                if opts is not None:
                    v = [opts.get(o, o) for o in v] if isinstance(v, list) else opts.get(v, v)
                text[code] = _plain(v)
            image = values.get(keys[image_attr]) if image_attr else None
            name = _plain(values.get(keys[label_attr])) if label_attr else None
            out.append({
                "id": doc_id,
                "sku": sku,
                "group": model or doc_id,
                "model": model,
                "family": family,
                "family_label": plan.family_labels.get(family or "", family),
                "name": name if name not in (None, "") else sku,
                "description": _plain(values.get(keys[self.description_attr])) if self.description_attr else None,
                "brand": _plain(self._label(plan, self.brand_attr, values.get(keys[self.brand_attr]))) if self.brand_attr else None,
                "categories": cats,
                "category_paths": levels,
                "facets": facets,
                "text": text,
                "prices": prices,
                "availability": state,
                "stock": stock,
                "in_stock_rank": 1 if state == "in_stock" else 0,
                "image": self.image_url(image) if isinstance(image, str) and image else None,
                "customers": contracted,
            })
        return out
