"""What every feed format says about one item: the contract's fields in its locale, price tiers and stock.
Tabular formats (CSV, XLSX) flatten it; JSON Lines keeps structure; BMEcat maps it onto its own elements."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pim.catalog import Structure
from pim.contracts import Contract
from pim.currencies import price_text
from pim.feeds import FeedItem, FeedPlan
from pim.product import value_key
from pim.spreadsheet import escape_formula  # noqa: F401  (re-exported: the feed formats import it from here)
from pim.structure import Attribute, AttributeType



def decimal_text(value: Decimal) -> str:
    """A quantity (a tier's bound, stock) as a feed writes it: without trailing zeros. Prices: price_text."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def field_codes(contract: Contract, s: Structure) -> list[str]:
    """The contract's fields, or every attribute a family uses (identifier and list price aside)."""
    if contract.fields:
        return list(contract.fields)
    used = {a for f in s.families.values() for a in f.attributes}
    skip = {s.identifier_attribute, contract.pricing.list_price_attribute}
    return ["label", *sorted(a for a in used if a in s.attributes and a not in skip)]


class Projector:
    """Turns an item's values into the contract's view of them (locale, channel)."""

    def __init__(self, plan: FeedPlan) -> None:
        self.plan, self.s, self.c = plan, plan.structure, plan.contract
        self.fields = field_codes(self.c, self.s)
        self.attributes = [self.s.attributes[f] for f in self.fields if f in self.s.attributes]
        self._keys = {a.code: value_key(a.code, self.c.locale if a.localizable else None,
                                        self.c.channel if a.scopable else None) for a in self.attributes}
        tree = self.s.channels[self.c.channel].category_tree if self.c.channel in self.s.channels else None
        self._in_tree = {code for code in self.s.categories if self.s.tree_of(code) == tree}
        self._label_attr = {f.code: f.attribute_as_label for f in self.s.families.values()}

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
        if t in (AttributeType.image, AttributeType.file):
            return self.media_url(str(v))
        return str(v)

    def media_url(self, ref: str) -> str:
        base = self.plan.media_base_url
        if not base or "://" in ref:
            return ref
        return base.rstrip("/") + "/" + ref.lstrip("/")

    # ------------------------------------------------------------------ tabular
    def header(self) -> list[str]:
        head = ["sku", "action", "price", "currency", "price_source", "tiers"]
        if self.c.include_stock:
            head += ["stock_atp", "in_stock"]
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
                id(self.s), *extra)

    def prefix(self, item: FeedItem, escape: Callable[[str], str] | None = None) -> list[str]:
        """sku, action, price cells and stock cells; the price and stock cells are memoised per (equal) price
        and availability, since list-price fallbacks and stock levels repeat across rows."""
        p = item.product
        sku = escape(p.identifier) if escape is not None else p.identifier
        row = [sku, item.action]
        row += self._memo(self._price_cells, item.price, escape)
        if self.c.include_stock:
            row += self._memo(self._stock_cells, item.stock, escape)
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

    def _price_cells(self, price: Any) -> list[str]:
        if not price:
            return ["", "", "", ""]
        currency = self.c.currency
        return [price_text(price.unit_price, currency), currency, price.source,
                "|".join(f"{decimal_text(t.min_qty)}:{price_text(t.price, currency)}" for t in price.tiers)]

    @staticmethod
    def _stock_cells(st: Any) -> list[str]:
        return [decimal_text(st.atp), "true" if st.in_stock else "false"] if st else ["", ""]

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
            doc["price"] = {"currency": currency, "amount": price_text(price.unit_price, currency), "source": price.source,
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
            elif attr.type in (AttributeType.image, AttributeType.file):
                v = self.media_url(str(v))
            attrs[attr.code] = v
        doc["attributes"] = attrs
        return doc

