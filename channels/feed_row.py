"""What every feed format says about one item: the contract's fields in its locale, price tiers and stock.
Tabular formats (CSV, XLSX) flatten it; JSON Lines keeps structure; BMEcat maps it onto its own elements."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

from channels.asset_refs import is_asset_ref
from pim.catalog import Structure
from pim.contracts import STOCK_TIME, Contract, below_tiers_fallback, rendition_problem
from pim.currencies import price_text
from pim.feeds import FeedItem, FeedPlan, FeedRefused
from pim.product import value_key
from pim.published import contract_internal_fields, is_published, published_codes, refusal
from pim.registry import load
from pim.store.store import as_utc
from pim.spreadsheet import escape_formula  # noqa: F401  (re-exported: the feed formats import it from here)
from pim.structure import Attribute, AttributeType

#: Rendition links for a feed's images, as the channels link theirs (channels.search.IMAGE_LINKS): the URL of the
#: contract channel's listing rendition (or the contract's `rendition`) once it is built, nothing for an image media found unusable, else the value.
IMAGE_LINKS = "media.links:links_for"
#: Items whose image links are looked up together (a few queries per chunk, none per row).
LINK_CHUNK = 500
log = logging.getLogger("pim.feeds")


def decimal_text(value: Decimal) -> str:
    """A quantity (a tier's bound, stock) as a feed writes it: without trailing zeros. Prices: price_text."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def field_codes(contract: Contract, s: Structure) -> list[str]:
    """The contract's fields, or every attribute a family uses (identifier and list price aside); never an internal
    attribute (pim.published: a contract naming one is refused when it is loaded and when its feed is built,
    Projector)."""
    if contract.fields:
        return published_codes(s, contract.fields)
    used = {a for f in s.families.values() for a in f.attributes}
    skip = {s.identifier_attribute, contract.pricing.list_price_attribute}
    return ["label", *published_codes(s, sorted(a for a in used if a in s.attributes and a not in skip))]


def refuse_internal(contract: Contract, s: Structure) -> None:
    """A FeedRefused when the contract names an attribute marked internal since it was loaded (`pim feeds load`
    refuses it outright): nothing is built or sent, and `--due` holds the contract until it or the structure
    changes (pim.feed_holds)."""
    if found := contract_internal_fields(contract, s):
        field, codes = found[0]
        message, hint = refusal(f"contract '{contract.code}': {field}", codes)
        raise FeedRefused(contract, message + "; the feed was not built and nothing was sent", hint=hint, skus=[])


def value_keys_read(contract: Contract, s: Structure, extra: Iterable[str] = ()) -> frozenset[str]:
    """The value keys a Projector-based feed of `contract` reads of a product: its fields and every family's label
    attribute in the contract's locale and channel, plus a format's own attributes (`extra`). A delivery run's
    catalog snapshot keeps only what its contracts read (pim.feeds.FeedRun), so reading another key here means
    naming it here (a renderer's `reads`)."""
    codes = {f for f in field_codes(contract, s)} | {f.attribute_as_label for f in s.families.values()} | set(extra)
    return frozenset(value_key(a.code, contract.locale if a.localizable else None, contract.channel if a.scopable else None)
                     for code in codes if code and (a := s.attributes.get(code)) is not None)


class Projector:
    """Turns an item's values into the contract's view of them (locale, channel)."""

    def __init__(self, plan: FeedPlan) -> None:
        self.plan, self.s, self.c = plan, plan.structure, plan.contract
        refuse_internal(self.c, self.s)
        # the stock's time is a stock cell (per contract, never cached with the product's fields)
        self.stock_time = self.c.include_stock and STOCK_TIME in self.c.fields and STOCK_TIME not in self.s.attributes
        self.fields = [f for f in field_codes(self.c, self.s) if not (self.stock_time and f == STOCK_TIME)]
        self.attributes = [self.s.attributes[f] for f in self.fields if f in self.s.attributes]
        self._keys = {a.code: value_key(a.code, self.c.locale if a.localizable else None,
                                        self.c.channel if a.scopable else None) for a in self.attributes}
        tree = self.s.channels[self.c.channel].category_tree if self.c.channel in self.s.channels else None
        self._in_tree = {code for code in self.s.categories if self.s.tree_of(code) == tree}
        self._label_attr = {f.code: f.attribute_as_label for f in self.s.families.values()
                            if is_published(self.s, f.attribute_as_label)}  # an internal one: the SKU names it
        self.images = [self.key(a) for a in self.attributes if a.type == AttributeType.image]
        self.links = self._image_links() if self.images else None
        # image value → link (a URL; None: unusable; the value itself: media has not seen it), shared by the builds
        # of a run that link alike, so that an image is looked up once per run rather than once per contract
        self._linked: dict[str, str | None] = self.plan.shared.setdefault(
            ("image_links", self.c.channel, self.plan.media_base_url, self.c.rendition), {}) if self.links is not None else {}
        self._unlinked_warned = False

    def _image_links(self) -> Any:
        """The media area's links for the contract's channel (media/links.py; without renditions declared for it,
        links whose `spec` is None: values as they are, an upload's `sha256:` ref to its stored original behind
        the base URL or nowhere), with the store pim.feeds hands over as `FeedPlan.store`. A plan without a store
        links the values behind the media base URL, as before (a `sha256:` ref: nowhere)."""
        store = getattr(self.plan, "store", None)
        if store is None:
            return None
        # `str` as the fallback: a value media has not seen comes back as it is, and media_url links it
        hint = (f"feeds send the image paths instead; set media_base_url in contract {self.c.code} (pim feeds load) "
                f"or PIM_CDN_BASE_URL to the public URL the media folder is served at, and deliver again")
        links = load(IMAGE_LINKS)(store, self.c.channel, str, self.c.rendition, base_url=self.plan.media_base_url,
                                  local_hint=hint)
        if self.c.rendition is not None and (links is None or links.spec is None or links.spec.name != self.c.rendition):
            # media.yaml lost the rendition since `pim feeds load` checked it: never link another one unasked
            rules = load("media.settings:load_media_file")().channels.get(self.c.channel)
            raise FeedRefused(self.c, rendition_problem(self.c, [r.name for r in rules.renditions] if rules else [])
                              + "; the feed was not built and nothing was sent",
                              hint=f"declare it again in media.yaml, or name a declared one in the contract (pim "
                                   f"feeds load); `pim feeds deliver --due` waits for either, `pim feeds deliver "
                                   f"--contract {self.c.code}` tries at once", media=True)
        return links

    def _link(self, ref: str) -> str | None:
        """The image's rendition link, or the value itself when that link is a file:// URL (no base URL set): a
        path of this machine's media folder is never sent to a customer; the value goes out as before, unless it
        is an upload's `sha256:` ref, which names no path: nothing."""
        url = self.links(ref)
        if url is not None and url.startswith("file:"):
            return None if is_asset_ref(ref) else ref
        return url

    def stream(self, items: Iterable[FeedItem]) -> Iterator[FeedItem]:
        """The renderer's items; the image links of each chunk are looked up at once before its rows are written
        (a few queries per chunk, none per row)."""
        if self.links is None:
            yield from items
            return
        it = iter(items)
        while chunk := list(islice(it, LINK_CHUNK)):
            wanted = {v for item in chunk for key in self.images
                      if isinstance(v := item.values.get(key), str) and v and v not in self._linked}
            if wanted:
                self.links.prefetch(wanted)
                self._linked.update({v: self._link(v) for v in wanted})
            yield from chunk

    def key(self, attr: Attribute) -> str:
        found = self._keys.get(attr.code)
        if found is None:
            found = self._keys[attr.code] = value_key(attr.code, self.c.locale if attr.localizable else None,
                                                      self.c.channel if attr.scopable else None)
        return found

    def raw(self, values: dict[str, Any], attr: Attribute) -> Any:
        return values.get(self.key(attr))

    def label(self, item: FeedItem) -> str:
        code = self._label_attr.get(item.product.family or "")
        attr = self.s.attributes.get(code or "")
        v = self.raw(item.values, attr) if attr else None
        return str(v) if v not in (None, "") else item.product.identifier

    def categories(self, item: FeedItem) -> list[str]:
        return [c for c in item.product.categories if c in self._in_tree]

    def option_label(self, attribute: str, code: str) -> str:
        opt = self.s.options.get(attribute, {}).get(code)
        return (opt.labels.get(self.c.locale) or code) if opt else code

    def text(self, attr: Attribute, v: Any) -> str:
        """A value as one cell of text, in the contract's locale and currency."""
        if v is None or v == "" or v == []:
            return ""
        t = attr.type
        if t == AttributeType.metric and isinstance(v, dict):
            return f"{v.get('amount', '')} {v.get('unit', '')}".strip()
        if t == AttributeType.price_collection and isinstance(v, dict):
            amount = v.get(self.c.currency)
            return "" if amount in (None, "") else price_text(str(amount), self.c.currency)
        if t == AttributeType.simple_select:
            return self.option_label(attr.code, str(v))
        if t == AttributeType.multi_select and isinstance(v, list):
            return "|".join(self.option_label(attr.code, str(o)) for o in v)
        if t == AttributeType.boolean:
            return "true" if v else "false"
        if t == AttributeType.image:
            return self.media_url(str(v)) or ""
        if t == AttributeType.file:
            return self._behind_base(str(v))
        return str(v)

    def media_url(self, ref: str) -> str | None:
        """An image's URL: its built rendition's (content-addressed, behind the media base URL), None for an image
        media found unusable (unreadable, rejected, below the channel's size rules: not listed), else, while
        media has no rendition of it (or only one on this machine's disk), the value behind the base URL. An
        upload's `sha256:` ref names an asset, not a path under the base URL: without links, nothing."""
        if self.links is None:
            return None if is_asset_ref(ref) else self._behind_base(ref)
        url = self._linked[ref] if ref in self._linked else self._link(ref)
        return self._behind_base(ref) if url == ref else url

    def _behind_base(self, ref: str) -> str:
        """A value as linked without a rendition: behind the contract's media_base_url (else PIM_CDN_BASE_URL);
        a URL stays as it is. Without a base a path goes out relative, which the customer cannot fetch: said once
        per feed."""
        base = self.plan.media_base_url
        if "://" in ref:
            return ref
        if not base:
            if not self._unlinked_warned:
                self._unlinked_warned = True
                log.warning("contract %s links images and files as paths of this catalog (e.g. %s), which its "
                            "customer cannot fetch: set media_base_url in the contract (pim feeds load) or "
                            "PIM_CDN_BASE_URL to where the media is served, and deliver again", self.c.code, ref)
            return ref
        return base.rstrip("/") + "/" + ref.lstrip("/")

    # ------------------------------------------------------------------ tabular
    def header(self) -> list[str]:
        head = ["sku", "action", "price", "currency", "price_source", "tiers"]
        if self.c.include_stock:
            head += ["stock_atp", "in_stock"] + ([STOCK_TIME] if self.stock_time else [])
        return head + self.fields

    def cells(self, item: FeedItem, escape: Callable[[str], str] | None = None) -> list[str]:
        """The row: sku, price and stock for this contract, then the product's fields; only the fields
        part is shared between contracts (cached per view and product seq in the run)."""
        row = self.prefix(item, escape)
        if item.action == "delete":
            return row + [""] * len(self.fields)
        return row + self.cached_tail(item, escape)

    def cached_tail(self, item: FeedItem, escape: Callable[[str], str] | None) -> list[str]:
        seq = getattr(item.product, "seq", None)
        if seq is None:
            return self.tail(item, escape)
        cache = self.plan.shared.setdefault(self.view_key("cells", escape), {})  # rows escaped alike only
        hit = cache.get(item.product.identifier)
        if hit is not None and hit[0] == seq:
            return hit[1]
        tail = self.tail(item, escape)
        cache[item.product.identifier] = (seq, tail)
        return tail

    def view_key(self, what: str, *extra: Any) -> tuple[Any, ...]:
        """Everything a product's rendered fields depend on besides the product: rows are shared only
        between contracts that would render them identically."""
        return (what, tuple(self.fields), self.c.locale, self.c.channel, self.c.currency, self.plan.media_base_url,
                self.c.rendition, id(self.s), *extra)

    def prefix(self, item: FeedItem, escape: Callable[[str], str] | None = None) -> list[str]:
        """sku, action, price cells and stock cells; the price and stock cells are memoised per (equal) price
        and availability, since list-price fallbacks and stock levels repeat across rows."""
        p = item.product
        sku = escape(p.identifier) if escape is not None else p.identifier
        row = [sku, item.action]
        row += self._memo(self._price_cells, self._priced(item), escape)
        if self.c.include_stock:
            row += self._memo(self._dated_stock_cells if self.stock_time else self._stock_cells, item.stock, escape)
        return row

    def _memo(self, render: Callable[[Any], list[str]], value: Any, escape: Callable[[str], str] | None) -> list[str]:
        memo = self.__dict__.setdefault("_cells_memo", {})
        key = (render.__name__, value, escape)
        found = memo.get(key)
        if found is None:
            found = render(value)
            if escape is not None:
                found = [escape(c) for c in found]
            if len(memo) < 100_000:
                memo[key] = found
        return found

    def _priced(self, item: FeedItem) -> Any:
        """The item's price, paired with the fallback one piece pays when its contract tiers start above 1 (the
        memo key of its price cells: that depends on the product's list price too)."""
        price = item.price
        if price and price.source == "contract" and price.tiers[0].min_qty > 1:
            return price, below_tiers_fallback(price, item.values, self.c, self.s)
        return price

    def _price_cells(self, priced: Any) -> list[str]:
        """price (one piece), currency, price_source (the one piece's: `list`/`list_discount` for a fallback
        below contract tiers from above 1) and tiers."""
        price, one = priced if type(priced) is tuple else (priced, None)
        if not price:
            return ["", "", "", ""]
        currency = self.c.currency
        unit = price if one is None else one
        return [price_text(unit.unit_price, currency), currency, unit.source,
                "|".join(f"{decimal_text(t.min_qty)}:{price_text(t.price, currency)}" for t in price.tiers)]

    @staticmethod
    def _stock_cells(st: Any) -> list[str]:
        return [decimal_text(st.atp), "true" if st.in_stock else "false"] if st else ["", ""]

    @classmethod
    def _dated_stock_cells(cls, st: Any) -> list[str]:
        """The stock cells and when the stock was measured (the oldest warehouse reading, UTC), as JSON Lines says it."""
        stamp = as_utc(st.updated_at).isoformat() if st and st.updated_at else ""
        return cls._stock_cells(st) + [stamp]

    def tail(self, item: FeedItem, escape: Callable[[str], str] | None = None) -> list[str]:
        p = item.product
        row: list[str] = []
        for f in self.fields:
            if f == "label":
                row.append(self.label(item))
            elif f == "family":
                row.append(p.family or "")
            elif f == "categories":
                row.append("|".join(self.categories(item)))
            else:
                attr = self.s.attributes[f]
                row.append(self.text(attr, self.raw(item.values, attr)))
        return [escape(c) for c in row] if escape is not None else row

    # ------------------------------------------------------------------ structured
    def document(self, item: FeedItem) -> dict[str, Any]:
        p = item.product
        doc: dict[str, Any] = {"sku": p.identifier, "action": item.action}
        if item.action == "delete":
            return doc
        price = item.price
        doc.update({"label": self.label(item), "family": p.family, "categories": self.categories(item)})
        if price:
            currency = self.c.currency
            one = below_tiers_fallback(price, item.values, self.c, self.s) or price  # what one piece pays, and why
            doc["price"] = {"currency": currency, "amount": price_text(one.unit_price, currency), "source": one.source,
                            "tiers": [{"min_qty": decimal_text(t.min_qty), "price": price_text(t.price, currency)}
                                      for t in price.tiers]}
        if self.c.include_stock and item.stock:
            st = item.stock
            doc["stock"] = {"atp": decimal_text(st.atp), "in_stock": st.in_stock,
                            "updated_at": st.updated_at.isoformat() if st.updated_at else None}
        attrs: dict[str, Any] = {}
        for attr in self.attributes:
            v = self.raw(item.values, attr)
            if v in (None, "", [], {}):
                continue
            if attr.type == AttributeType.price_collection and isinstance(v, dict):
                amount = v.get(self.c.currency)
                v = None if amount in (None, "") else price_text(str(amount), self.c.currency)
            elif attr.type == AttributeType.image:
                v = self.media_url(str(v))
                if v is None:
                    continue
            elif attr.type == AttributeType.file:
                v = self._behind_base(str(v))
            attrs[attr.code] = v
        doc["attributes"] = attrs
        return doc

