"""Google Merchant Center feed: RSS 2.0 with the g: namespace, one file per locale (or per target country,
channels.google_merchant_targets), written streaming with lxml's xmlfile. Google's rules are checked here; a product that breaks one is blocked with the reason in
ctx.blocked (prefixed `google_merchant:<locale>:`), never silently dropped; one still written to another file
(locale or target) counts as published (pim.pipeline.PARTLY). The description is Google's "plain
HTML" (channels.html, profile google: a short tag list, no attributes); color and size go on every item that
has them (a simple product too), item_group_id on variants only; the title, brand, mpn, color, size and
product_type are plain text (tags dropped, entities decoded: lxml escapes the text once as it writes it). The
mapper (CleanFieldMapper) cleans each field before its length is checked or cut, so a limit counts what Google
gets; build_item does not clean again."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from lxml import etree

from channels.declaration import ChannelCatalog, FieldMap
from channels.declaration_files import catalog_for
from channels.field_mapper import FieldMapper
from channels.google_merchant_targets import Target, feed_targets, shipping_weight_family
from channels.html import CleanFieldMapper, plain_text
from channels.locale_outputs import OutputGate
from channels.localize import ValueResolver
from channels.search import IMAGE_LINKS
from channels.units import convert
from channels.xml_chars import xml_chars
from pim.currencies import price_text
from pim.errors import ConfigError
from pim.product import Product
from pim.published import is_published
from pim.structure import AttributeType
from pim.protocols import Artifact, PublishContext
from pim.registry import load

G = "http://base.google.com/ns/1.0"
RENDITION = "gmc_main"  # the catalog's (and, when media.yaml names one so, the media area's) rendition for Google
TITLE_MAX, DESCRIPTION_MAX, EXTRA_IMAGES_MAX = 150, 5000, 10
ID_MAX = 50  # Google's limit for id and item_group_id: a longer one is disapproved, never cut (ids must stay stable)
#: Google fetches images over http(s) only. A file:// link (a built rendition with no media base URL set,
#: media/links.py) or a bare reference blocks the item, the reason naming what to set.
FETCHED = ("https://", "http://")
NOT_PUBLIC = "image_link_not_public:{scheme}:set PIM_CDN_BASE_URL or the catalog's media_base_url"
#: The main image is an upload (`sha256:` value) whose Google rendition `pim media renditions` has not built yet.
NOT_RENDERED = "image_not_rendered:{ref}:run pim media renditions --channel {channel} and publish again"
LOCAL_HINT = ("Google Merchant blocks these items (image_link_not_public); set PIM_CDN_BASE_URL to the public URL "
              "the media folder is served at, or media_base_url in the channel's catalog (pim publish --catalog "
              "FILE), and publish again")


def gtin_valid(code: str) -> bool:
    """GTIN-8/12/13/14: digits only and the GS1 mod-10 check digit matches."""
    if not code.isdigit() or len(code) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in code]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _money(value: dict[str, str] | None) -> tuple[Decimal, str] | None:
    if not value:
        return None
    try:
        return Decimal(value["amount"]), value["currency"]
    except (InvalidOperation, KeyError):
        return None


class GoogleMerchantRenderer:
    name = "google_merchant"
    gate_per_locale = True  # one feed per locale or target: the gate passes a product some feed may carry (PARTIAL)

    def render(self, products: Iterable[Product], ctx: PublishContext, store: Any) -> list[Artifact]:
        s = ctx.structure
        catalog = catalog_for(self.name, ctx.options)
        scope = catalog.scope_channel(ctx.channel, s)
        locales = catalog.locales_for(scope, s)
        currencies = catalog.currencies_for(scope, s)
        targets = feed_targets(catalog.options, scope, locales, currencies, s,
                               weight_family=shipping_weight_family(catalog.field("shipping_weight"), s),
                               source=ctx.options.get("catalog"))
        # one file per output: (label in file names and blocked reasons, locale, currency, target whose shipping
        # and tax each item carries); without targets, one per locale in the first currency
        outputs: list[tuple[str, str, str, Target | None]] = (
            [(t.label, t.locale, t.currency, t) for t in targets] if targets is not None
            else [(l, l, currencies[0], None) for l in locales])
        tree = catalog.category_tree or s.channels[scope].category_tree
        check_catalog(catalog, s, ctx.options.get("catalog"))
        mapper = GoogleFieldMapper(catalog, s, ValueResolver(store, s), scope, profile="google")
        # the media area's built renditions (a rendition named like the catalog's, else the listing one)
        mapper.links = load(IMAGE_LINKS)(store, scope, lambda ref: mapper.convention_url(ref, RENDITION), RENDITION,
                                         base_url=catalog.media_base_url, local_hint=LOCAL_HINT)
        staging = ctx.output_dir / ".staging" / f"job-{ctx.job_id}" / "google_merchant"
        staging.mkdir(parents=True, exist_ok=True)
        paths = {label: staging / f"feed.{scope}.{label}.xml" for label, *_ in outputs}
        counts = dict.fromkeys(paths, 0)
        gate = OutputGate(ctx)  # which feeds the gate keeps each product from (it fills that as it runs)
        with ExitStack() as stack:
            writers = {}
            for label, locale, currency, target in outputs:
                xf = stack.enter_context(etree.xmlfile(str(paths[label]), encoding="utf-8"))
                xf.write_declaration()
                stack.enter_context(xf.element("rss", version="2.0", nsmap={"g": G}))
                stack.enter_context(xf.element("channel"))
                xf.write(_text("title", f"{catalog.code} {scope} {label}"), _text("link", catalog.base_url),
                         _text("description", f"Products of {scope} in {locale} ({currency})"))
                writers[label] = (xf, locale, currency, target)
            for batch in _batches(products, 500):
                stock = _stock(store, [p.identifier for p in batch])
                resolved = [(p, mapper.resolver.values(p)) for p in batch]
                if mapper.links is not None:  # the batch's image links in a few queries
                    mapper.links.prefetch(mapper.resolver.image_values(v for _, v in resolved))
                for product, values in resolved:
                    wrote, held = 0, []
                    for label, (xf, locale, currency, target) in writers.items():
                        against = gate.against(product.identifier, locale)
                        item, reasons = (None, against) if against else build_item(
                            product, mapper, catalog, locale, currency, tree, stock, values, target)
                        if reasons:
                            held += [f"{self.name}:{label}:{r}" for r in reasons]
                            continue
                        _write_item(xf, item)
                        counts[label] += 1
                        wrote += 1
                    gate.settle(product.identifier, wrote, held)  # in some feeds only: published (PARTLY)
                    # Each item is written as soon as it is built; nothing accumulates.
                for xf, *_ in writers.values():
                    xf.flush()
        return [Artifact(path=paths[label], name=f"google_merchant/{paths[label].name}", content_type="application/rss+xml",
                         rows=counts[label], meta={"locale": locale, "currency": currency,
                                                   **({"country": label.split("-")[0]} if targets is not None else {})})
                for label, locale, currency, _ in outputs]


def _batches(items: Iterable[Product], size: int) -> Iterator[list[Product]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _stock(store: Any, skus: list[str]) -> dict[str, Any]:
    from pim.commerce import stock_for

    return stock_for(store, skus)


def _write_item(xf: Any, fields: list[tuple[str, Any]]) -> None:
    # Elements opened through xf.element reuse the rss element's g: prefix; xf.write(element) would not.
    with xf.element("item"):
        _write_fields(xf, fields)


def _write_fields(xf: Any, fields: list[tuple[str, Any]]) -> None:
    """(tag, text), or (tag, [(tag, text), ...]) for a group such as g:shipping."""
    for tag, value in fields:
        with xf.element(f"{{{G}}}{tag}"):
            if isinstance(value, list):
                _write_fields(xf, value)
            else:
                xf.write(xml_chars(value))


def item_element(fields: list[tuple[str, Any]]) -> etree._Element:
    """The same item as a tree, for callers that want one (tests, previews); groups as nested elements."""
    item = etree.Element("item", nsmap={"g": G})
    _sub_elements(item, fields)
    return item


def _sub_elements(parent: etree._Element, fields: list[tuple[str, Any]]) -> None:
    for tag, value in fields:
        el = etree.SubElement(parent, f"{{{G}}}{tag}")
        if isinstance(value, list):
            _sub_elements(el, value)
        else:
            el.text = xml_chars(value)


def _text(tag: str, value: Any) -> etree._Element:
    el = etree.Element(tag)
    el.text = xml_chars(str(value))
    return el


def build_item(product: Product, mapper: CleanFieldMapper, catalog: ChannelCatalog, locale: str, currency: str,
               tree: str, stock: dict[str, Any], values: dict[str, Any] | None = None,
               target: Target | None = None) -> tuple[list[tuple[str, Any]], list[str]]:
    """One item's (g: tag, text) pairs (a group such as g:shipping as (tag, pairs)), or the reasons it breaks
    Google's rules. `values`: the product's inherited values, resolved once for all locales; `target`: the
    country whose shipping (priced for this item) and tax the item carries. `mapper` cleans for Google: the
    fields come cleaned, a required one that was markup only reported as `missing:<field>:markup_only`."""
    fields, reasons = mapper.map(product, locale, currency, values)  # cleaned: see the module's docstring
    fields = single_values(fields, catalog, mapper.s.measures)
    g: dict[str, Any] = {"id": product.identifier}
    if len(product.identifier) > ID_MAX:
        reasons.append(f"too_long:id:{len(product.identifier)}>{ID_MAX}")
    title, description = fields.get("title"), fields.get("description")
    if title and len(title) > TITLE_MAX:
        reasons.append(f"too_long:title:{len(title)}>{TITLE_MAX}")
    if description and len(description) > DESCRIPTION_MAX:
        reasons.append(f"too_long:description:{len(description)}>{DESCRIPTION_MAX}")
    g["title"], g["description"], g["link"] = title, description, fields["link"]
    image = fields.get("image_link")
    g["image_link"] = mapper.media_url(image, RENDITION) if image else None
    if image and g["image_link"] is None:
        reasons.append(_image_left_out(mapper, image))
    elif image and not g["image_link"].startswith(FETCHED):
        reasons.append(NOT_PUBLIC.format(scheme=g["image_link"].partition(":")[0] or "none"))
    extras = [url for i in fields.get("additional_image_link") or [] if i != image
              and (url := mapper.media_url(i, RENDITION)) is not None and url.startswith(FETCHED)]
    g["availability"] = _availability(stock.get(product.identifier), catalog.options.get("missing_stock", "out_of_stock"))
    # the mapper rounds prices to the currency's minor units (pim.currencies.shelf_price): what Google shows is
    # what is compared, so a sale a fraction of a cent below the price is no sale
    price, sale = _money(fields.get("price")), _money(fields.get("sale_price"))
    if price is None and "missing:price" not in reasons:
        reasons.append(f"missing:price:{currency}")
    for name, money in (("price", price), ("sale_price", sale)):
        if money is not None and not money[0]:  # EUR 0.004 shows as 0.00: free, which no catalog allows
            reasons.append(f"invalid:{name}:0")
    g["price"] = f"{price_text(*price)} {price[1]}" if price else None
    if sale is not None and price is not None:
        if sale[0] >= price[0]:
            reasons.append("sale_price_not_below_price")
        g["sale_price"] = f"{price_text(*sale)} {sale[1]}"
    g["brand"] = fields.get("brand")
    gtin = str(fields["gtin"]).strip() if fields.get("gtin") else None
    if gtin is not None and not gtin_valid(gtin):
        reasons.append(f"invalid:gtin:{gtin}")
    if gtin is not None and not g["brand"] and catalog.options.get("require_brand", True) \
            and "missing:brand" not in reasons:  # a catalog marking brand required says so already
        reasons.append(BRAND_MISSING)  # identifier_exists=yes: Google disapproves a new product with no brand
    g["gtin"], g["mpn"] = gtin, fields.get("mpn")
    g["identifier_exists"] = "yes" if gtin or (g["brand"] and g["mpn"]) else "no"
    g["condition"] = catalog.options.get("condition", "new")
    categories = mapper.resolver.categories(product)  # a variant is classified through its models
    taxonomy = next((catalog.category_map[c] for c in categories if c in catalog.category_map), None)
    g["google_product_category"] = taxonomy
    paths = mapper.category_path_labels(categories, locale, tree)
    g["product_type"] = " > ".join(w for label in paths[0] if (w := plain_text(label))) if paths else None
    if product.parent:
        g["item_group_id"] = _root_model(mapper, product)
        if len(g["item_group_id"]) > ID_MAX:
            reasons.append(f"too_long:item_group_id:{len(g['item_group_id'])}>{ID_MAX}")
    # every item carries its color and size (Google requires them for apparel, variant or not); only a variant
    # must have one of them, and only a variant is grouped. Set after item_group_id: a variant's tags keep their order
    g["color"], g["size"] = _flat(fields.get("color")), _flat(fields.get("size"))
    if product.parent and not (g["color"] or g["size"]):
        reasons.append("variant_without_color_or_size")
    weight = fields.get("shipping_weight")
    g["shipping_weight"] = _google_weight(weight, mapper.s.measures) if weight else None
    if weight and g["shipping_weight"] is None:
        reasons.append(f"unit:shipping_weight:{weight.get('unit')}")
    shipping: list[tuple[str, Any]] = []
    if target is not None:  # priced at what the item sells for: its sale price when it has one
        paid = sale[0] if sale is not None else price[0] if price is not None else None
        shipping, why = target.item_fields(weight, paid, mapper.s.measures,
                                           shipping_weight_family(catalog.field("shipping_weight"), mapper.s))
        reasons += why
    if reasons:
        return [], reasons
    item = [(key, str(value)) for key, value in g.items() if value not in (None, "")]
    item += [("additional_image_link", url) for url in extras[:EXTRA_IMAGES_MAX]]
    return item + shipping, []


def _image_left_out(mapper: FieldMapper, image: str) -> str:
    """Why the main image links to nothing, as media's links say (media/links.py `why`): an upload whose rendition
    is not built, an upload's original with no public URL to link it behind (a channel without renditions), else
    an image media rejected or found below the channel's size rules."""
    why = getattr(mapper.links, "why", None)
    said = why(image) if why is not None else None
    if said == "not_rendered":
        return NOT_RENDERED.format(ref=image, channel=mapper.links.channel)
    if said == "not_public":
        return NOT_PUBLIC.format(scheme="sha256")
    return f"unusable_image:{image}"


#: The weight units Google's shipping_weight takes, by our unit code; any other weight is sent in kg.
GOOGLE_WEIGHT_UNITS = {"KILOGRAM": "kg", "GRAM": "g", "POUND": "lb", "OUNCE": "oz"}


def _google_weight(weight: dict[str, str], measures: Any) -> str | None:
    """`<amount> <unit>` in a unit Google reads: the field's own when Google has it (a catalog mapping the weight
    without `unit:` keeps the stored one), else converted to kg; None when the stored unit is no weight."""
    unit = str(weight.get("unit") or "").upper()
    if unit in GOOGLE_WEIGHT_UNITS:
        return f"{weight['amount']} {GOOGLE_WEIGHT_UNITS[unit]}"
    try:
        return f"{format(convert(weight['amount'], unit, 'KILOGRAM', 'Weight', measures), 'f')} kg"
    except ConfigError:
        return None


#: Outputs that take several values; every other output takes one (a list from `attributes:` gives its first).
LIST_OUTPUTS = frozenset({"additional_image_link"})
#: Outputs that take a structured value (a price, a weight) and the attribute type it must come from.
TYPED_OUTPUTS = {"price": AttributeType.price_collection, "sale_price": AttributeType.price_collection,
                 "shipping_weight": AttributeType.metric}
#: A product with a GTIN (identifier_exists=yes) and no brand: Google requires one for every new product but
#: media (books, films, music), whose catalogs set `options.require_brand: false`.
BRAND_MISSING = "missing:brand:identifier_exists"


class GoogleFieldMapper(CleanFieldMapper):
    """The Google profile's mapper, following the product's family as the storefront does: with the catalog option
    `family_image: true`, `image_link` reads the family's attribute_as_image (the field's own attribute when the
    family sets none or the product has no value there); templates read `label`, the family's attribute_as_label
    value (plain text), so a title can show what the storefront labels the product. `attributes:` gives a list only
    on LIST_OUTPUTS; on any other output, the first value (FieldMapper._first), cleaned and length-checked."""

    list_outputs = LIST_OUTPUTS

    def _one(self, f: FieldMap, product: Product, values: dict[str, Any], locale: str, currency: str,
             code: str | None = None) -> Any:
        if code is None and f.output == "image_link" and self.catalog.options.get("family_image"):
            family = self.s.families.get(product.family or "")
            own = family.attribute_as_image if family else None
            if own and (hit := super()._one(f, product, values, locale, currency, own)) is not None:
                return hit
        return super()._one(f, product, values, locale, currency, code)

    def context(self, product: Product, values: dict[str, Any], locale: str, plain: bool = False) -> dict[str, Any]:
        ctx = super().context(product, values, locale, plain)
        family = self.s.families.get(product.family or "")
        code = family.attribute_as_label if family else None  # an internal one is no label (pim.published)
        label = (self.resolver.get(values, code, self.scope, locale)
                 if code in self.s.attributes and is_published(self.s, code) else None)
        if label not in (None, "", [], {}):
            label = self.display(code, label, locale, plain=plain)
        ctx["label"] = label if label not in (None, "", [], {}) else None
        return ctx


def check_catalog(catalog: ChannelCatalog, structure: Any, source: Any = None) -> None:
    """Refuse, before anything is written, a mapping Google cannot take: a price or weight output read from an
    attribute of another type (the error names the file and field). Several `attributes:` on a single-value
    output are fine: the first with a value wins (FieldMapper.list_outputs)."""
    where = str(source) if source and not isinstance(source, ChannelCatalog) else f"catalog '{catalog.code}'"
    check_options(catalog.options, where)
    for i, f in enumerate(catalog.fields):
        want = TYPED_OUTPUTS.get(f.output)
        if want is None or f.template:
            continue
        for code in f.attributes or ([f.attribute] if f.attribute else []):
            attr = structure.attributes.get(code)
            if attr is not None and attr.type != want:
                raise ConfigError(
                    f"{where}: fields[{i}] ({f.output}): attribute '{code}' is a {attr.type}, and Google's "
                    f"{f.output} needs a {want}",
                    hint=f"map {f.output} to a {want} attribute, or remove the field")


#: The options Google's catalog reads, with the values each takes (None: checked where it is read, targets).
OPTIONS: dict[str, tuple[Any, ...] | None] = {
    "targets": None, "require_brand": (True, False), "family_image": (True, False),
    "missing_stock": ("out_of_stock", "in_stock", "preorder", "backorder"), "condition": ("new", "refurbished", "used")}


def check_options(options: dict[str, Any], where: str) -> None:
    """Refuse an option Google's catalog does not read, or a value it does not take (found following the docs: a
    misspelt `requre_brand: false`, or `require_brand: "no"`, was read as "brand required" without a word)."""
    from pim.spelling import did_you_mean, nearest

    for key, value in (options or {}).items():
        if key not in OPTIONS:
            raise ConfigError(f"{where}: options.{key} is not an option of Google's catalog"
                              f"{did_you_mean(nearest(key, OPTIONS))}",
                              hint=f"the options it reads: {', '.join(sorted(OPTIONS))} (docs/channels.md)")
        allowed = OPTIONS[key]
        if allowed is not None and not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
            raise ConfigError(f"{where}: options.{key} is {value!r}; it takes "
                              f"{' or '.join(repr(a).lower() if isinstance(a, bool) else a for a in allowed)}",
                              hint="write true or false without quotes for a switch" if isinstance(allowed[0], bool)
                              else f"one of: {', '.join(map(str, allowed))}")


def single_values(fields: dict[str, Any], catalog: ChannelCatalog, measures: Any) -> dict[str, Any]:
    """The mapped fields as Google takes them, never a Python repr: on a single-value output (`attributes: [a, b]`
    came as its first value, GoogleFieldMapper) one multi-select's labels read `a, b` (color and size join
    them with `/` later, _flat); a metric on a text output reads `32 in` (the unit's symbol, else its code) and a
    price `12.00 EUR`. Price and weight outputs keep their structured value; a list output takes one value too."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in LIST_OUTPUTS:
            out[name] = value if isinstance(value, list) else [value]
            continue
        if isinstance(value, dict) and name not in TYPED_OUTPUTS:
            value = _dict_text(value, measures)
        if isinstance(value, list) and name not in ("color", "size"):
            value = ", ".join(w for v in value if (w := _dict_text(v, measures) if isinstance(v, dict) else str(v)))
        if value not in (None, "", []):
            out[name] = value
    return out


def _dict_text(value: dict[str, Any], measures: Any) -> str | None:
    amount = value.get("amount")
    if amount in (None, ""):
        return None
    if "currency" in value:
        return f"{amount} {value['currency']}"
    unit = str(value.get("unit") or "")
    symbol = next((f.units[unit].symbol for f in measures.families.values() if unit in f.units), "") if unit else ""
    return f"{amount} {symbol or unit}".strip()


def _flat(value: Any) -> str | None:
    if value in (None, "", []):
        return None
    return "/".join(map(str, value)) if isinstance(value, list) else str(value)


def _availability(level: Any, missing: str) -> str:
    if level is None:
        return missing
    return "in_stock" if level.atp > 0 else "out_of_stock"


def _root_model(mapper: FieldMapper, product: Product) -> str:
    chain = mapper.resolver.ancestors(product)
    return chain[-1].code if chain else str(product.parent)
