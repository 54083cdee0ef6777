"""BMEcat 2005 feed: a full feed is a T_NEW_CATALOG; a delta is a T_UPDATE_PRODUCTS (products
new/update/delete) or, when only contract prices moved, a T_UPDATE_PRICES. Validated in the tests against the
BMEcat 2005.1 XSD (namespace below).

Products are written as pre-escaped string fragments, not lxml elements: building ~30 elements per product was
the writer's whole cost. Every text goes through `xml_text` (escaping, and characters XML 1.0 forbids are
dropped); the fixed parts of a product (feature names, currency, units) are escaped once per file."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from channels.feed_row import Projector, decimal_text, value_keys_read
from channels.xml_chars import xml_chars
from pim.catalog import Structure
from pim.contracts import Contract, below_tiers_fallback
from pim.currencies import price_text
from pim.feeds import FeedItem, FeedPlan
from pim.structure import AttributeType

NS = "http://www.bmecat.org/bmecat/2005.1"
_LANG = {"en": "eng", "de": "deu", "fr": "fra", "it": "ita", "es": "spa", "nl": "nld", "pt": "por", "pl": "pol",
         "cs": "ces", "da": "dan", "sv": "swe", "fi": "fin", "nb": "nor", "ja": "jpn", "zh": "zho", "ru": "rus"}
# The MIME types BMEcat 2005 names (its XSD refuses other "type/subtype" values; MIME_TYPE is optional, so a
# PNG or WebP image goes without one rather than making the feed invalid).
_MIME_TYPES = frozenset({"application/pdf", "application/xml", "image/gif", "image/jpeg", "text/html", "text/plain"})
# Types whose text value Projector.text returns unchanged.
_AS_IS = frozenset({AttributeType.identifier, AttributeType.text, AttributeType.textarea, AttributeType.number, AttributeType.date})
_TRANSACTION = {"full": "T_NEW_CATALOG", "delta_products": "T_UPDATE_PRODUCTS", "delta_prices": "T_UPDATE_PRICES"}
#: A UN/ECE Recommendation 20 common code (KGM, MMT, 4H): what BMEcat's FUNIT carries, and the measurement
#: catalogue's aliases hold (pim/measures.yaml). Units whose own code is their Rec 20 code have no such alias.
_REC20 = re.compile(r"^[A-Z0-9]{2,3}$")
_CODE_IS_REC20 = frozenset({"OHM", "BAR", "DAY", "ATM", "ARE"})


def rec20_unit(measures: Any, family: str | None, unit: str) -> str:
    """A metric value's unit as FUNIT writes it: its UN/ECE Rec 20 code (MILLIMETER → MMT, KILOGRAM → KGM), read
    from the unit's aliases in the measurement catalogue (a structure's own families included); the unit as
    stored where the catalogue knows no Rec 20 code for it (e.g. MARC, BIT) or does not know the unit."""
    fam = measures.family(family)
    code = fam.resolve(unit) if fam is not None else None
    found = fam.units.get(code) if fam is not None and code else None
    if found is None:
        return unit
    rec20 = next((a for a in found.aliases if _REC20.match(a)), None)
    return rec20 or (found.code if found.code in _CODE_IS_REC20 else unit)


def xml_text(text: str) -> str:
    """Text content as XML: & < > escaped, CR kept as a reference (a parser would turn a raw one into LF),
    and characters XML 1.0 cannot carry dropped (lxml refused them; a feed must not fail on one bad value)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return xml_chars(text)


def xml_attr(text: str) -> str:
    return xml_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _shown(text: str) -> bool:
    """Whether `text` says anything once written: the schema's texts need a character, and one of only
    whitespace or of characters XML cannot carry (dropped by xml_text) has none."""
    return bool(text) and not text.isspace() and (text.isprintable() or bool(xml_chars(text).strip()))


def _or_dash(text: str) -> str:
    """A feature value, or "-" where it would be empty (FVALUE needs one)."""
    return text if _shown(text) else "-"


def _el(tag: str, text: str) -> str:
    return f"<{tag}>{xml_text(text)}</{tag}>"


def _e(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


#: BMEcat's price type per price source: contract tiers are the customer's net price, fallbacks net list prices
_PRICE_TYPE = {"contract": "net_customer", "list": "net_list", "list_discount": "net_list"}


def catalog_version(version: int) -> str:
    """The feed's delivery counter (the number `prev_version` names) as BMEcat's CATALOG_VERSION, whose schema
    allows `[0-9]{1,3}.[0-9]{1,3}` (at most 999.999): thousands plus one before the dot, the rest as three
    digits after it, so delivery 7 is `1.007` and 1234 `2.234`. It grows with every delivery whether an importer
    compares major then minor as numbers or the whole as a decimal, up to delivery 998,999 (`999.999`; later
    ones keep growing but no longer fit the schema), and it is above every version releases before round 34
    wrote (`thousands.rest` unpadded: delivery 4 was `0.4`), so an upgraded contract's next file reads newer."""
    return f"{version // 1000 + 1}.{version % 1000:03d}"


class BmecatFeedRenderer:
    name = "feed_bmecat"
    extension = "xml"
    content_type = "application/xml"
    uses_stock = False  # BMEcat 2005 has no stock element: the build does not read it

    @staticmethod
    def reads(contract: Contract, structure: Structure) -> frozenset[str]:
        """The value keys its products read: the fields and label, and the attributes its options name
        (`_ProductWriter.slots`); a run's snapshot keeps only those."""
        return value_keys_read(contract, structure, _slot_codes(contract.bmecat))

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        proj = Projector(plan)
        writer = _ProductWriter(proj)
        transaction = _TRANSACTION[plan.kind]
        rows = 0
        opening = f"<{transaction}>" if plan.kind == "full" else f'<{transaction} prev_version="{xml_attr(str(plan.prev_version))}">'
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write("<?xml version='1.0' encoding='utf-8'?>\n")
            fh.write(f'<BMECAT xmlns="{NS}" version="2005">')
            fh.write(etree.tostring(self._header(plan), encoding="unicode", pretty_print=True))
            fh.write(opening)
            buffer: list[str] = []
            for item in proj.stream(items):
                if plan.kind == "delta_prices":
                    buffer.append(writer.price_update(item))
                else:
                    mode = None if plan.kind == "full" else ("delete" if item.action == "delete" else "update")
                    buffer.append(writer.product(item, mode))
                rows += 1
                if len(buffer) >= 512:
                    fh.write("".join(buffer))
                    buffer.clear()
            fh.write("".join(buffer))
            fh.write(f"</{transaction}></BMECAT>")
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


def _memo_key(n: int, attr: Any, v: Any) -> tuple[Any, ...] | None:
    """Feature values repeat across products (options, units, sizes), so their fragments are made once per file:
    keyed by feature and a text value, or a metric's amount and unit; anything else is rendered each time."""
    if type(v) is str:
        return (n, v)
    if type(v) is dict and attr.type == AttributeType.metric:
        amount, unit = v.get("amount"), v.get("unit")
        if type(amount) is str and (unit is None or type(unit) is str):
            return (n, amount, unit)
    return None


def _slot_codes(opts: Any) -> tuple[str, ...]:
    """The attributes BMEcat's own elements carry (long description, GTIN, maker, order details, class)."""
    return ("description", opts.gtin_attribute, opts.manufacturer_attribute, opts.order_unit_attribute,
            opts.pack_attribute, opts.moq_attribute, opts.class_attribute)


class _ProductWriter:
    """One contract's product fragments. What is the same for every product (which attributes are features,
    their escaped names, the price element's fixed parts) is worked out once."""

    def __init__(self, proj: Projector) -> None:
        self.proj, self.opts = proj, proj.c.bmecat
        opts = self.opts
        skip = {opts.class_attribute, opts.gtin_attribute, opts.manufacturer_attribute, opts.order_unit_attribute,
                opts.pack_attribute, opts.moq_attribute, "description", proj.c.pricing.list_price_attribute}
        self.features = [(proj.key(a), a, "<FEATURE>" + _el("FNAME", (a.labels.get(proj.c.locale) or a.code)[:60]))
                         for a in proj.attributes
                         if a.code not in skip and a.type not in (AttributeType.image, AttributeType.file, AttributeType.identifier)]
        self.images = [proj.key(a) for a in proj.attributes if a.type == AttributeType.image]
        self.system = _el("REFERENCE_FEATURE_SYSTEM_NAME", opts.reference_system)
        self.unit = xml_text(opts.default_order_unit)
        self.currency = _el("PRICE_CURRENCY", proj.c.currency)
        self.slots = {code: (proj.key(a), a, a.type in _AS_IS) for code in _slot_codes(opts)
                      if (a := proj.s.attributes.get(code)) is not None and not a.internal}  # pim.published
        self._prices: dict[Any, str] = {}
        self._features_seen: dict[tuple[Any, ...], str] = {}  # see _memo_key
        self._mime_types: dict[str, str] = {}
        self._units: dict[tuple[str | None, str], str] = {}  # (family, stored unit) → FUNIT

    def _funit(self, attr: Any, unit: str) -> str:
        key = (attr.metric_family, unit)
        found = self._units.get(key)
        if found is None:
            found = self._units[key] = rec20_unit(self.proj.s.measures, attr.metric_family, unit)
        return found

    def value(self, values: dict[str, Any], code: str) -> str:
        slot = self.slots.get(code)
        if slot is None:
            return ""
        v = values.get(slot[0])
        if v is None or v == "":
            return ""
        if slot[2] and type(v) is str:
            text = v
        elif isinstance(v, dict) and "amount" in v:
            text = str(v["amount"])
        else:
            text = self.proj.text(slot[1], v)
        return text if _shown(text) else ""

    def product(self, item: FeedItem, mode: str | None) -> str:
        sku = item.product.identifier
        out = ['<PRODUCT mode="' + mode + '">' if mode else "<PRODUCT>", _el("SUPPLIER_PID", sku)]
        if item.action == "delete":
            # The schema still wants details, order details and a price element for a deletion.
            out += ["<PRODUCT_DETAILS>", _el("DESCRIPTION_SHORT", sku[:150]), "</PRODUCT_DETAILS>",
                    f"<PRODUCT_ORDER_DETAILS><ORDER_UNIT>{self.unit}</ORDER_UNIT></PRODUCT_ORDER_DETAILS>",
                    '<PRODUCT_PRICE_DETAILS><PRODUCT_PRICE price_type="net_customer"/></PRODUCT_PRICE_DETAILS></PRODUCT>']
            return "".join(out)
        opts, values = self.opts, item.values
        label = self.proj.label(item)[:150]
        out += ["<PRODUCT_DETAILS>", _el("DESCRIPTION_SHORT", label if _shown(label) else sku)]
        if long := self.value(values, "description"):
            out.append(_el("DESCRIPTION_LONG", long[:64000]))
        if gtin := self.value(values, opts.gtin_attribute):
            out.append(f'<INTERNATIONAL_PID type="gtin">{xml_text(gtin[:100])}</INTERNATIONAL_PID>')
        if maker := self.value(values, opts.manufacturer_attribute):
            out.append(_el("MANUFACTURER_NAME", maker[:50]))
        out.append("</PRODUCT_DETAILS>")
        self._features(out, values)
        unit = self.value(values, opts.order_unit_attribute)
        out.append("<PRODUCT_ORDER_DETAILS>" + (_el("ORDER_UNIT", unit[:3]) if unit else f"<ORDER_UNIT>{self.unit[:3]}</ORDER_UNIT>"))
        if pack := self.value(values, opts.pack_attribute):
            out.append(f"<CONTENT_UNIT>{self.unit}</CONTENT_UNIT>" + _el("NO_CU_PER_OU", pack.split()[0]))
        if moq := self.value(values, opts.moq_attribute):
            out.append(_el("QUANTITY_MIN", moq.split()[0]))
        out.append("</PRODUCT_ORDER_DETAILS>")
        out.append(self.prices(item))
        self._mime(out, values)
        out.append("</PRODUCT>")
        return "".join(out)

    def price_update(self, item: FeedItem) -> str:
        return '<PRODUCT mode="update">' + _el("SUPPLIER_PID", item.product.identifier) + self.prices(item) + "</PRODUCT>"

    def _features(self, out: list[str], values: dict[str, Any]) -> None:
        """The product's class, in a PRODUCT_FEATURES of the contract's reference system (ECLASS, ETIM) that holds
        only the class; then its features, in a PRODUCT_FEATURES of no reference system. The features are named by
        the attribute's label ("Tiefe"), which is no property id of that system (an ECLASS IRDI, an ETIM EF
        code, which the structure does not hold): under the system's name an importer would look the labels up
        as its ids. Without a system name they are the supplier's own (free) features, which readers take by
        FNAME; pim's own BMEcat import reads both blocks (its map keys the features by FNAME)."""
        klass = self.value(values, self.opts.class_attribute)
        if klass:
            out.append("<PRODUCT_FEATURES>" + self.system + _el("REFERENCE_FEATURE_GROUP_ID", klass[:60])
                       + "</PRODUCT_FEATURES>")
        parts: list[str] = []
        seen = self._features_seen
        for n, (key, attr, opening) in enumerate(self.features):
            v = values.get(key)
            if v is None or v == "" or v == [] or v == {}:
                continue
            memo = _memo_key(n, attr, v)
            if memo is None:
                parts.append(self._feature(attr, opening, v))
                continue
            found = seen.get(memo)
            if found is None:
                found = self._feature(attr, opening, v)
                if len(seen) < 100_000:
                    seen[memo] = found
            parts.append(found)
        if parts:
            out.append("<PRODUCT_FEATURES>" + "".join(parts) + "</PRODUCT_FEATURES>")

    def _feature(self, attr: Any, opening: str, v: Any) -> str:
        proj = self.proj
        if attr.type == AttributeType.multi_select and isinstance(v, list):
            inner = "".join(_el("FVALUE", _or_dash(proj.option_label(attr.code, str(o))[:60])) for o in v)
        elif attr.type == AttributeType.metric and isinstance(v, dict):
            inner = _el("FVALUE", _or_dash(str(v.get("amount", ""))[:60]))
            if v.get("unit"):
                inner += _el("FUNIT", self._funit(attr, str(v["unit"]))[:20])
        else:
            inner = _el("FVALUE", _or_dash(proj.text(attr, v)[:60]))
        return opening + inner + "</FEATURE>"

    def prices(self, item: FeedItem) -> str:
        """PRODUCT_PRICE_DETAILS, memoised per (equal) price: list-price fallbacks and tier sets repeat. Contract
        tiers from above 1 piece get a LOWER_BOUND 1 price first when the contract prices a smaller order (its
        fallback: what CSV's `price` says one piece costs, pim.contracts.below_tiers_fallback; `net_list`); without a fallback
        the first tier stays the lowest bound, the customer buying at least its quantity."""
        price = item.price
        below = below_tiers_fallback(price, item.values, self.proj.c, self.proj.s)
        key = price if below is None else (price, below)
        found = self._prices.get(key)
        if found is not None:
            return found
        if price is None:
            found = '<PRODUCT_PRICE_DETAILS><PRODUCT_PRICE price_type="net_customer"/></PRODUCT_PRICE_DETAILS>'
        else:
            # the one-piece fallback is a list price (less the discount) even among contract tiers: net_list
            tiers = ([(Decimal(1), below.unit_price, below.source)] if below is not None else []) + \
                [(t.min_qty, t.price, price.source) for t in price.tiers]
            found = "<PRODUCT_PRICE_DETAILS>" + "".join(
                f'<PRODUCT_PRICE price_type="{_PRICE_TYPE[source]}">' + _el("PRICE_AMOUNT", price_text(amount, self.proj.c.currency))
                + self.currency + _el("LOWER_BOUND", decimal_text(bound)) + "</PRODUCT_PRICE>"
                for bound, amount, source in tiers) + "</PRODUCT_PRICE_DETAILS>"
        if len(self._prices) < 100_000:
            self._prices[key] = found
        return found

    def _mime(self, out: list[str], values: dict[str, Any]) -> None:
        # the URLs written (a built rendition's, whose type may not be the source's), without unusable images
        urls = [url for key in self.images if (v := values.get(key)) is not None and v != ""
                and (url := self.proj.media_url(str(v)))]
        if not urls:
            return
        out.append("<MIME_INFO>")
        for n, url in enumerate(urls):
            kind = self._mime_type(url[url.rfind("/") + 1:] if "://" in url else url)
            out.append("<MIME>" + (_el("MIME_TYPE", kind) if kind in _MIME_TYPES else "")
                       + _el("MIME_SOURCE", url[:255])
                       + ("<MIME_PURPOSE>normal</MIME_PURPOSE></MIME>" if n == 0 else "<MIME_PURPOSE>detail</MIME_PURPOSE></MIME>"))
        out.append("</MIME_INFO>")

    def _mime_type(self, ref: str) -> str:
        """mimetypes.guess_type, remembered per extension where only the extension decides (a plain path whose
        suffix is no compression or alias suffix)."""
        ext = ref[ref.rfind("."):] if "." in ref[ref.rfind("/") + 1:] else ""
        if not ext or ":" in ref or ext.lower() in mimetypes.suffix_map or ext.lower() in mimetypes.encodings_map:
            return mimetypes.guess_type(ref)[0] or "image/jpeg"
        found = self._mime_types.get(ext)
        if found is None:
            found = self._mime_types[ext] = mimetypes.guess_type(ref)[0] or "image/jpeg"
        return found
