"""BMEcat 2005 feed, streamed with lxml.etree.xmlfile: a full feed is a T_NEW_CATALOG; a delta is a
T_UPDATE_PRODUCTS (products new/update/delete) or, when only contract prices moved, a T_UPDATE_PRICES.
Validated in the tests against the BMEcat 2005.1 XSD (namespace below)."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from channels.feed_row import Projector, decimal_text
from pim.feeds import FeedItem, FeedPlan
from pim.structure import AttributeType

NS = "http://www.bmecat.org/bmecat/2005.1"
_LANG = {"en": "eng", "de": "deu", "fr": "fra", "it": "ita", "es": "spa", "nl": "nld", "pt": "por", "pl": "pol",
         "cs": "ces", "da": "dan", "sv": "swe", "fi": "fin", "nb": "nor", "ja": "jpn", "zh": "zho", "ru": "rus"}
_TRANSACTION = {"full": "T_NEW_CATALOG", "delta_products": "T_UPDATE_PRODUCTS", "delta_prices": "T_UPDATE_PRICES"}


def _e(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def catalog_version(version: int) -> str:
    """BMEcat wants NNN.NNN; the feed's delivery counter fits into it."""
    return f"{(version // 1000) % 1000}.{version % 1000}"


class BmecatFeedRenderer:
    name = "feed_bmecat"
    extension = "xml"
    content_type = "application/xml"

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        proj = Projector(plan)
        transaction = _TRANSACTION[plan.kind]
        rows = 0
        with etree.xmlfile(str(path), encoding="utf-8") as xf:
            xf.write_declaration()
            with xf.element("BMECAT", {"version": "2005"}, nsmap={None: NS}):
                xf.write(self._header(plan), pretty_print=True)
                attrs = {} if plan.kind == "full" else {"prev_version": str(plan.prev_version)}
                with xf.element(transaction, attrs):
                    for item in items:
                        if plan.kind == "delta_prices":
                            xf.write(self._price_update(item, proj))
                        else:
                            mode = None if plan.kind == "full" else ("delete" if item.action == "delete" else "update")
                            xf.write(self._product(item, proj, mode))
                        rows += 1
        return rows

    def _header(self, plan: FeedPlan) -> etree._Element:
        c = plan.contract
        header = etree.Element("HEADER")
        _e(header, "GENERATOR_INFO", "pim-pipeline feeds")
        cat = _e(header, "CATALOG")
        _e(cat, "LANGUAGE", _LANG.get(c.locale.split("_")[0], "eng"))
        _e(cat, "CATALOG_ID", c.code[:20])
        _e(cat, "CATALOG_VERSION", catalog_version(plan.version))
        _e(cat, "CATALOG_NAME", (c.name or c.code)[:100])
        dt = _e(cat, "DATETIME", type="generation_date")
        _e(dt, "DATE", plan.generated_at.date().isoformat())
        _e(dt, "TIME", plan.generated_at.strftime("%H:%M:%S"))
        _e(cat, "CURRENCY", c.currency)
        buyer = _e(header, "BUYER")
        _e(buyer, "BUYER_NAME", c.customer[:50])
        supplier = _e(header, "SUPPLIER")
        _e(supplier, "SUPPLIER_NAME", c.bmecat.supplier_name[:50])
        return header

    # ------------------------------------------------------------------ one product
    def _product(self, item: FeedItem, proj: Projector, mode: str | None) -> etree._Element:
        opts = proj.c.bmecat
        product = etree.Element("PRODUCT", {"mode": mode} if mode else {})
        _e(product, "SUPPLIER_PID", item.product.identifier)
        details = _e(product, "PRODUCT_DETAILS")
        if item.action == "delete":
            # The schema still wants details, order details and a price element for a deletion.
            _e(details, "DESCRIPTION_SHORT", item.product.identifier[:150])
            order = _e(product, "PRODUCT_ORDER_DETAILS")
            _e(order, "ORDER_UNIT", opts.default_order_unit)
            _e(_e(product, "PRODUCT_PRICE_DETAILS"), "PRODUCT_PRICE", price_type="net_customer")
            return product
        values = item.values
        _e(details, "DESCRIPTION_SHORT", proj.label(item)[:150] or item.product.identifier)
        long = self._value(proj, values, "description")
        if long:
            _e(details, "DESCRIPTION_LONG", long[:64000])
        gtin = self._value(proj, values, opts.gtin_attribute)
        if gtin:
            _e(details, "INTERNATIONAL_PID", gtin[:100], type="gtin")
        maker = self._value(proj, values, opts.manufacturer_attribute)
        if maker:
            _e(details, "MANUFACTURER_NAME", maker[:50])
        self._features(product, item, proj)
        order = _e(product, "PRODUCT_ORDER_DETAILS")
        _e(order, "ORDER_UNIT", (self._value(proj, values, opts.order_unit_attribute) or opts.default_order_unit)[:3])
        pack = self._value(proj, values, opts.pack_attribute)
        if pack:
            _e(order, "CONTENT_UNIT", opts.default_order_unit)
            _e(order, "NO_CU_PER_OU", pack.split()[0])
        moq = self._value(proj, values, opts.moq_attribute)
        if moq:
            _e(order, "QUANTITY_MIN", moq.split()[0])
        self._prices(product, item, proj)
        self._mime(product, item, proj)
        return product

    def _price_update(self, item: FeedItem, proj: Projector) -> etree._Element:
        product = etree.Element("PRODUCT", {"mode": "update"})
        _e(product, "SUPPLIER_PID", item.product.identifier)
        self._prices(product, item, proj)
        return product

    @staticmethod
    def _value(proj: Projector, values: dict[str, Any], code: str) -> str:
        attr = proj.s.attributes.get(code)
        if attr is None:
            return ""
        v = proj.raw(values, attr)
        if isinstance(v, dict) and "amount" in v:
            return str(v["amount"])
        return proj.text(attr, v) if v not in (None, "") else ""

    def _features(self, product: etree._Element, item: FeedItem, proj: Projector) -> None:
        opts = proj.c.bmecat
        skip = {opts.class_attribute, opts.gtin_attribute, opts.manufacturer_attribute, opts.order_unit_attribute,
                opts.pack_attribute, opts.moq_attribute, "description", proj.c.pricing.list_price_attribute}
        features = etree.Element("PRODUCT_FEATURES")
        klass = self._value(proj, item.values, opts.class_attribute)
        if klass:
            _e(features, "REFERENCE_FEATURE_SYSTEM_NAME", opts.reference_system)
            _e(features, "REFERENCE_FEATURE_GROUP_ID", klass[:60])
        count = 0
        for attr in proj.attributes:
            if attr.code in skip or attr.type in (AttributeType.image, AttributeType.file, AttributeType.identifier):
                continue
            v = proj.raw(item.values, attr)
            if v in (None, "", [], {}):
                continue
            feature = _e(features, "FEATURE")
            _e(feature, "FNAME", (attr.labels.get(proj.c.locale) or attr.code)[:60])
            if attr.type == AttributeType.multi_select and isinstance(v, list):
                for o in v:
                    _e(feature, "FVALUE", proj.option_label(attr.code, str(o))[:60] or "-")
            elif attr.type == AttributeType.metric and isinstance(v, dict):
                _e(feature, "FVALUE", str(v.get("amount", ""))[:60] or "-")
                if v.get("unit"):
                    _e(feature, "FUNIT", str(v["unit"])[:20])
            else:
                _e(feature, "FVALUE", proj.text(attr, v)[:60] or "-")
            count += 1
        if count or klass:
            product.append(features)

    @staticmethod
    def _prices(product: etree._Element, item: FeedItem, proj: Projector) -> None:
        details = _e(product, "PRODUCT_PRICE_DETAILS")
        price = item.price
        kind = "net_customer" if price is None or price.source == "contract" else "net_list"
        if price is None:
            _e(details, "PRODUCT_PRICE", price_type=kind)
            return
        for tier in price.tiers:
            el = _e(details, "PRODUCT_PRICE", price_type=kind)
            _e(el, "PRICE_AMOUNT", decimal_text(tier.price))
            _e(el, "PRICE_CURRENCY", proj.c.currency)
            _e(el, "LOWER_BOUND", decimal_text(tier.min_qty))

    @staticmethod
    def _mime(product: etree._Element, item: FeedItem, proj: Projector) -> None:
        refs = [str(v) for a in proj.attributes if a.type == AttributeType.image
                and (v := proj.raw(item.values, a)) not in (None, "")]
        if not refs:
            return
        info = _e(product, "MIME_INFO")
        for n, ref in enumerate(refs):
            mime = _e(info, "MIME")
            _e(mime, "MIME_TYPE", mimetypes.guess_type(ref)[0] or "image/jpeg")
            _e(mime, "MIME_SOURCE", proj.media_url(ref)[:255])
            _e(mime, "MIME_PURPOSE", "normal" if n == 0 else "detail")

