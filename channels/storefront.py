"""Storefront catalog JSON: the channel's category tree and its products, one file per locale.
Written streaming (one product at a time into the locale files). A product goes into each locale file where the
gate passes it and stays out of those where it fails (channels.locale_outputs: complete in en_US but missing its
fr_FR copy, it is in the en_US file only, published and partly blocked). Locales, currencies, the tree, mapped
`fields` and which association kinds count as `related` come from the channel catalog declaration
(channels/catalogs/storefront.yaml, see channels.declaration). `associations` and `related` name only products
the same publish writes to the same file (pim.pipeline.PublishedTargets, OutputGate.linked_in): a shopper never
follows a link to a missing page.
Textarea values are HTML, cleaned to the storefront's formatting tags (channels.html); one written without tags
(content bullets joined by line breaks) has each line break as `<br>`. Text values are plain strings the
storefront escapes itself, line breaks kept. The label and the mapped title (a textarea label attribute included)
are plain text. `prices` is the list price (ChannelCatalog.price_attribute); another price collection (a sale
price) is an attribute like any other, `{currency: amount}`. Prices are what a shopper pays: rounded half up to
the currency's minor units (pim.currencies.shelf_price); a list price that rounds to 0 blocks the product
(ListPriceCheck), one with no list price is written without `prices`. A variant is in its models' categories."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson

from channels.asset_refs import is_asset_ref
from channels.declaration import list_price_attribute
from channels.declaration_files import catalog_for
from channels.field_mapper import FieldMapper
from channels.html import CleanFieldMapper, plain_text, safe_html
from channels.locale_outputs import OutputGate
from channels.localize import ValueResolver
from pim.catalog import Structure
from pim.currencies import price_text, shelf_price
from pim.pipeline import TARGETS
from pim.product import Product
from pim.protocols import Artifact, PublishContext
from pim.registry import load
from pim.structure import AttributeType

#: Rendition links for the catalog's images (see channels.search.IMAGE_LINKS): the listing rendition's URL,
#: else the image value as it is.
IMAGE_LINKS = "media.links:links_for"


#: Products resolved, linked and written together (their image links and association targets looked up at once).
CHUNK = 500

_PRICE, _SIMPLE, _MULTI = AttributeType.price_collection, AttributeType.simple_select, AttributeType.multi_select
_HTML, _IMAGE = AttributeType.textarea, AttributeType.image

#: Where the publish's ListPriceCheck sits in `ctx.options`, and the stage that applies it to association targets.
PRICE_CHECK = "storefront_price_check"
PRICED_TARGETS = "channels.storefront:priced_targets"


class ListPriceCheck:
    """Why a product's list price cannot be shown: it rounds to 0 in a currency (EUR 0.004 shows as 0.00, a free
    product, which Google blocks as `invalid:price:0` too). The product is blocked, one reason per currency:
    `storefront:<currency>:invalid:price:0`. A product with no list price (or none in a currency) is not blocked:
    it is written without that price, as before; a channel that needs prices requires them in its families."""

    def __init__(self, resolver: ValueResolver, scope: str, locales: list[str], currencies: list[str],
                 price_attr: str | None, name: str = "storefront") -> None:
        self.resolver, self.currencies, self.attr, self.name = resolver, currencies, price_attr, name
        keys = (resolver.key(price_attr, scope, l) for l in locales) if price_attr else ()
        self.keys = list(dict.fromkeys(k for k in keys if k is not None))  # one, unless the price is localizable
        self._shown: dict[str | None, bool] = {}  # family → whether documents show its list price

    def reasons(self, p: Product, values: dict[str, Any]) -> list[str]:
        """The product's blocking reasons (`values`: its inherited values); none for most, at a few lookups."""
        if not self.keys or not self._shows_price(p.family):
            return []
        zero: list[str] = []
        for key in self.keys:
            price = values.get(key)
            if isinstance(price, dict):
                zero += [c for c in self.currencies if c not in zero and price.get(c) not in (None, "")
                         and not shelf_price(price[c], c)]
        return [f"{self.name}:{c}:invalid:price:0" for c in zero]

    def _shows_price(self, family: str | None) -> bool:
        """Documents show the list price of a family that has it, and of a product of no known family (as
        ValueResolver.localized reads them)."""
        if family not in self._shown:
            known = self.resolver.s.families.get(family or "")
            self._shown[family] = known is None or self.attr in known.attributes
        return self._shown[family]


#: Where the publish's RequiredImageCheck sits in `ctx.options` (applied to association targets as well).
IMAGE_CHECK = "storefront_image_check"
#: A required image that links to nothing; the hint says what to set, as Google's reasons do.
IMAGE_NOT_PUBLIC = "image_link_not_public:{attr}:set PIM_CDN_BASE_URL or the catalog's media_base_url"
IMAGE_NOT_RENDERED = "image_not_rendered:{attr}:run pim media renditions --channel {channel} and publish again"


class RequiredImageCheck:
    """Why a product's page would lack an image its family requires on the scope: the value is an upload that
    links to nothing (no public URL for the media store's originals, a rendition not built) or an image media
    found unusable. The gate passed it (the value is there), but the page would show no image while Google
    blocks the same product, so the storefront blocks it too: `storefront:image_link_not_public:<attr>:…`,
    `storefront:image_not_rendered:<attr>:…`, `storefront:unusable_image:<attr>`. An image the family does not
    require is left out as before (one warning per publication). `name` prefixes the reasons (search applies the
    same rule to its documents, channels.search_documents); `not_public` is the hint of a link not public."""

    def __init__(self, resolver: ValueResolver, scope: str, locales: list[str], links: Any,
                 name: str = "storefront", not_public: str = IMAGE_NOT_PUBLIC) -> None:
        self.resolver, self.scope, self.locales, self.links = resolver, scope, locales, links
        self.name, self.not_public = name, not_public
        self._required: dict[str | None, list[str]] = {}  # family → its required image attributes on the scope

    def reasons(self, p: Product, values: dict[str, Any]) -> list[str]:
        if self.links is None or not (required := self._images(p.family)):
            return []
        out: list[str] = []
        for attr in required:
            for locale in self.locales:
                v = self.resolver.get(values, attr, self.scope, locale)
                if isinstance(v, str) and v and self.links(v) is None:
                    why = getattr(self.links, "why", lambda _v: None)(v)
                    reason = (self.not_public.format(attr=attr) if why == "not_public"
                              else IMAGE_NOT_RENDERED.format(attr=attr, channel=self.scope) if why == "not_rendered"
                              else f"unusable_image:{attr}")
                    out.append(f"{self.name}:{reason}")
                    break  # one reason per attribute, whichever locale shows it
        return out

    def _images(self, family: str | None) -> list[str]:
        if family not in self._required:
            known = self.resolver.s.families.get(family or "")
            types = self.resolver.s.attributes
            self._required[family] = [c for c in (known.requirements.get(self.scope, []) if known else [])
                                      if c in types and types[c].type == _IMAGE]
        return self._required[family]


def priced_targets(products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]:
    """Publish stage for association targets (pim.pipeline.PublishedTargets): the products whose list price the
    storefront shows and whose required images link, so no product links to one it blocks. Its verdicts are not
    reported: the stream reports each product where it reaches it."""
    check: ListPriceCheck = ctx.options[PRICE_CHECK]
    images: RequiredImageCheck | None = ctx.options.get(IMAGE_CHECK)
    it = iter(products)
    while chunk := [(p, check.resolver.values(p)) for p in islice(it, CHUNK)]:
        if images is not None and images.links is not None:  # the chunk's image links in a few queries
            images.links.prefetch(check.resolver.image_values(values for _, values in chunk))
        for p, values in chunk:
            if not check.reasons(p, values) and not (images is not None and images.reasons(p, values)):
                yield p


def category_tree(s: Structure, root: str, locale: str) -> dict[str, Any]:
    children = s.children()

    def node(code: str) -> dict[str, Any]:
        cat = s.categories[code]
        return {"code": code, "label": cat.labels.get(locale, code), "children": [node(c) for c in sorted(children.get(code, []))]}

    return node(root) if root in s.categories else {"code": root, "label": root, "children": []}


def related(p: Product, s: Structure, kinds: list[str]) -> dict[str, list[str]]:
    """Associated products grouped by association kind (cross_sell, up_sell, accessory, compatible_with)."""
    out: dict[str, list[str]] = {}
    for code, assoc in p.associations.items():
        kind = s.association_types[code].kind if code in s.association_types else "other"
        if kind in kinds and assoc.products:
            out.setdefault(str(kind), []).extend(assoc.products)
    return out


def product_document(p: Product, r: ValueResolver, channel: str, locale: str, currencies: list[str],
                     mapper: FieldMapper | None = None, related_kinds: list[str] | None = None,
                     values: dict[str, Any] | None = None, trees: dict[str, str | None] | None = None,
                     image_link: Callable[[str], str | None] | None = None,
                     price_attr: str | None = None) -> dict[str, Any]:
    """One product's document for one locale. `values` (the product's inherited values) and `trees`
    (category → its tree, shared across the stream) save repeating work per locale. `image_link`: the
    image value → its URL (media/links.py: the listing rendition, or an upload's original); the value itself
    without it, never an upload's bare `sha256:` ref (in `image` or `attributes`). `price_attr`:
    the list price's attribute (the catalog's, ChannelCatalog.price_attribute), else the structure's."""
    s = r.s
    values = r.values(p) if values is None else values
    price_attr = price_attr or list_price_attribute(s)
    attributes: dict[str, Any] = {}
    prices: dict[str, str] = {}
    image = None
    family = s.families.get(p.family or "")
    image_attr = family.attribute_as_image if family else None
    types = s.attributes
    for code, v in r.localized(p, channel, locale, values).items():
        kind = types[code].type
        if kind == _PRICE:
            shown = {c: price_text(shelf_price(v[c], c), c) for c in currencies if v.get(c) not in (None, "")}
            if code == price_attr:
                prices = shown
            elif shown:
                attributes[code] = shown
            continue
        if code == image_attr:
            image = v
        if kind == _IMAGE and is_asset_ref(v):  # an upload: linked, never bare
            if (v := _image(v, image_link)) is None:
                continue
        if kind == _SIMPLE:
            v = {"code": v, "label": r.option_label(code, v, locale)}
        elif kind == _MULTI:
            v = [{"code": o, "label": r.option_label(code, o, locale)} for o in v]
        elif kind == _HTML and isinstance(v, str):
            v = safe_html(v, "storefront")
        attributes[code] = v
    tree = s.channels[channel].category_tree
    trees = {} if trees is None else trees
    categories = r.categories(p)
    for c in categories:
        if c not in trees:
            trees[c] = s.tree_of(c)
    cats = [c for c in categories if trees[c] == tree]
    fields = mapper.map(p, locale, currencies[0], values)[0] if mapper else {}
    return {
        "identifier": p.identifier,
        "family": p.family,
        "parent": p.parent,
        "label": _label(p, r, channel, locale, values),
        "categories": cats,
        "image": _image(image, image_link),
        "prices": prices,
        "attributes": attributes,
        "associations": {t: a.products for t, a in p.associations.items() if a.products},
        "related": related(p, s, related_kinds or []),
        "fields": fields,
    }


def _image(image: Any, image_link: Callable[[str], str | None] | None) -> Any:
    """The document's image: linked when a link is given; without one the value as it is, but never an upload's
    bare `sha256:` ref (it names an asset, not a place a shop can fetch: media.links links it)."""
    if not isinstance(image, str) or not image:
        return image
    if image_link is not None:
        return image_link(image)
    return None if is_asset_ref(image) else image


def _label(p: Product, r: ValueResolver, channel: str, locale: str, values: dict[str, Any]) -> str:
    """The product's label as plain text: a textarea label attribute holds HTML, and a label is a name shown as
    text (the mapped title reads it the same way, channels.html.PLAIN_FIELDS); one that is markup only falls
    back to the identifier like an empty one. A text label is a string the storefront escapes: as it is."""
    label = r.label(p, channel, locale, values)
    family = r.s.families.get(p.family or "")
    attr = r.s.attributes.get(family.attribute_as_label or "") if family else None
    if attr is not None and attr.type == _HTML and label != p.identifier:
        return plain_text(label) or p.identifier
    return label


class StorefrontRenderer:
    name = "storefront"
    gate_per_locale = True  # one file per locale: the gate passes a product some file may hold (OutputGate)

    def render(self, products: Iterable[Product], ctx: PublishContext, store: Any) -> list[Artifact]:
        s = ctx.structure
        catalog = catalog_for(self.name, ctx.options)
        scope = catalog.scope_channel(ctx.channel, s)
        channel = s.channels[scope].model_copy(update={
            "locales": catalog.locales_for(scope, s), "currencies": catalog.currencies_for(scope, s),
            "category_tree": catalog.category_tree or s.channels[scope].category_tree})
        staging = ctx.output_dir / ".staging" / f"job-{ctx.job_id}" / "storefront"
        staging.mkdir(parents=True, exist_ok=True)
        resolver = ValueResolver(store, s)
        mapper = CleanFieldMapper(catalog, s, resolver, scope, profile="storefront") if catalog.fields else None
        kinds = list(catalog.options.get("related_kinds", []))
        price_attr = catalog.price_attribute(s)
        prices = ctx.options[PRICE_CHECK] = ListPriceCheck(resolver, scope, channel.locales, channel.currencies,
                                                           price_attr, self.name)
        targets = ctx.options.get(TARGETS)  # set by pim.pipeline.publish
        if targets is not None and PRICED_TARGETS not in targets.stages:  # a new list: never the registry's STAGES
            targets.stages = [*targets.stages, PRICED_TARGETS]
        gate = OutputGate(ctx)
        handles: dict[str, IO[bytes]] = {}
        paths: dict[str, Path] = {}
        counts = dict.fromkeys(channel.locales, 0)
        try:
            for locale in channel.locales:
                paths[locale] = staging / f"catalog.{ctx.channel}.{locale}.json"
                handles[locale] = fh = paths[locale].open("wb")
                head = {"channel": ctx.channel, "locale": locale, "currencies": channel.currencies,
                        "category_tree": category_tree(s, channel.category_tree, locale)}
                fh.write(orjson.dumps(head)[:-1] + b',"products":[')
            trees: dict[str, str | None] = {}
            links = load(IMAGE_LINKS)(store, scope, lambda value: value, base_url=catalog.media_base_url)
            images = ctx.options[IMAGE_CHECK] = RequiredImageCheck(resolver, scope, channel.locales, links)
            it = iter(products)
            while chunk := [(p, resolver.values(p)) for p in islice(it, CHUNK)]:
                if links is not None:  # the chunk's image links in a few queries (the image check reads them)
                    links.prefetch(resolver.image_values(values for _, values in chunk))
                chunk = self._priced(chunk, prices, ctx, images, gate)  # first: no link may point at them
                if targets is not None:  # links only to products this run publishes
                    chunk = list(zip(targets.trimmed([p for p, _ in chunk]), (values for _, values in chunk)))
                for product, values in chunk:
                    wrote, held = 0, []
                    for locale, fh in handles.items():
                        if against := gate.against(product.identifier, locale):  # the gate's, naming the locale
                            held += against
                            continue
                        doc = product_document(gate.linked_in(product, locale), resolver, scope, locale,
                                               channel.currencies, mapper, kinds, values, trees, links, price_attr)
                        fh.write((b"," if counts[locale] else b"\n") + orjson.dumps(doc) + b"\n")
                        counts[locale] += 1
                        wrote += 1
                    gate.settle(product.identifier, wrote, held)  # in some files only: published (PARTLY)
            for fh in handles.values():
                fh.write(b"]}\n")
        finally:
            for fh in handles.values():
                fh.close()
        return [Artifact(path=paths[l], name=f"storefront/{paths[l].name}", content_type="application/json", rows=counts[l])
                for l in channel.locales]

    @staticmethod
    def _priced(chunk: list[tuple[Product, dict[str, Any]]], prices: ListPriceCheck, ctx: PublishContext,
                images: RequiredImageCheck | None = None,
                gate: OutputGate | None = None) -> list[tuple[Product, dict[str, Any]]]:
        """The chunk without the products whose list price or required images block them, which go to
        ctx.blocked with why (and what the gate holds against them in some locales: they are in no file)."""
        kept = []
        for product, values in chunk:
            if reasons := prices.reasons(product, values) + (images.reasons(product, values) if images else []):
                gate_said = gate.everywhere(product.identifier) if gate is not None else []
                ctx.blocked.setdefault(product.identifier, []).extend(reasons + gate_said)
            else:
                kept.append((product, values))
        return kept
