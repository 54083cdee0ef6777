"""Round 27 leftovers of publishing cleaned markup (channels.html): Google's short text fields are plain text,
a template title's max_length counts the cleaned text, a textarea storefront label is plain text, and a
truncated HTML value stays within its limit once its open elements are closed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from channels.framework import BUILTIN_DIR, ChannelCatalog, FieldMap
from channels.google_merchant import G
from channels.html import GOOGLE_TAGS, CleanFieldMapper, plain_text, safe_html
from pim.catalog import Structure
from pim.pipeline import PublishResult, publish
from pim.product import Product
from pim.store import Store
from pim.structure import Attribute, AttributeOption, Category, Family
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values, seed_products
from tests.test_channel_html import markup

NS = {"g": G}


def _g(item: etree._Element, tag: str) -> str | None:
    return item.findtext(f"g:{tag}", namespaces=NS)


def _feed(result: PublishResult) -> tuple[bytes, dict[str, etree._Element]]:
    loc = next(l for l in result.locations if l.endswith(".en_US.xml"))
    raw = Path(loc).read_bytes()
    root = etree.fromstring(raw)
    return raw, {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}


def _google_catalog(tmp_path: Path, **changes: dict[str, Any]) -> str:
    """The built-in Google catalog with some fields changed (by output)."""
    spec = yaml.safe_load((BUILTIN_DIR / "google_merchant.yaml").read_text())
    spec["fields"] = [{**f, **changes.get(f["output"], {})} for f in spec["fields"]]
    path = tmp_path / "gmc.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def _add(store: Store, identifier: str, parent: str | None = None, categories: list[str] | None = None,
         **values: object) -> None:
    store.upsert_products([Product(identifier=identifier, family="shoes", parent=parent, source=ERP,
                                   categories=["sneakers"] if categories is None else categories,
                                   values=values if parent else complete_values(sku=identifier, **values))])


# ---------------------------------------------------------------- 1. Google's short text fields
def test_google_brand_mpn_color_size_and_product_type_are_plain_text_escaped_once(store: Store, tmp_path: Path) -> None:
    """Option labels, a text mpn and category labels holding markup and entities reach Google as their words;
    lxml escapes the text as it writes it, so `&amp;` in a value is `&` in the feed (`&amp;` in the file), never
    `&amp;amp;`."""
    seed_products(store)
    store.put_structure("attribute_option", [
        AttributeOption(attribute="brand", code="smith", labels={"en_US": "Smith &amp; <b>Sons</b>"}),
        AttributeOption(attribute="color", code="navy", labels={"en_US": "<span style='x'>Navy</span> &amp; White"}),
        AttributeOption(attribute="size", code="xl", labels={"en_US": "XL<br>Tall"})])
    store.put_structure("category", [Category(code="boots", parent="shoes",
                                              labels={"en_US": "<i>Boots</i> &amp; Clogs"})])
    _add(store, "marked", brand="smith", mpn="<b>RN</b>-1 &amp; 2", categories=["boots"])
    _add(store, "marked-navy", parent="runner_model", sku="marked-navy", color="navy", size="xl", ean="96385074")
    raw, items = _feed(publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce"))
    item, variant = items["marked"], items["marked-navy"]
    assert (_g(item, "brand"), _g(item, "mpn")) == ("Smith & Sons", "RN-1 & 2")
    assert _g(item, "product_type") == "Shoes > Boots & Clogs"
    assert (_g(variant, "color"), _g(variant, "size"), _g(variant, "brand")) == ("Navy & White", "XL Tall", "ACME")
    assert _g(item, "title") == "Smith & Sons Runner"  # the title template reads the brand as words too
    assert b"&amp;amp;" not in raw and b"&lt;" not in raw


def test_google_short_field_that_is_markup_only_is_left_out_like_a_missing_one(store: Store, tmp_path: Path) -> None:
    """Brand and mpn markup only: no g:brand, no g:mpn (as for a product without them); a variant whose color is
    markup only has neither color nor size, and is blocked as such."""
    seed_products(store)
    store.put_structure("attribute_option", [
        AttributeOption(attribute="brand", code="ghost", labels={"en_US": "<script>alert(1)</script>"}),
        AttributeOption(attribute="color", code="ghost", labels={"en_US": "<img src=x onerror=alert(1)>"})])
    _add(store, "ghost-brand", brand="ghost", mpn="<b></b>", ean="")  # no GTIN: a brand is not required
    _add(store, "ghost-color", parent="runner_model", sku="ghost-color", color="ghost", ean="96385074")
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    raw, items = _feed(result)
    item = items["ghost-brand"]
    assert _g(item, "brand") is None and _g(item, "mpn") is None
    assert _g(item, "title") == "Runner"  # `values.brand ~ ' ' if values.brand`: the brand is as good as missing
    assert "ghost-color" not in items
    assert "google_merchant:en_US:variant_without_color_or_size" in result.blocked["ghost-color"]
    assert b"alert" not in raw


class _Values:
    """The resolver FieldMapper reads values through: here the values as given."""

    def get(self, values: dict[str, Any], code: str, scope: str, locale: str) -> Any:
        return values.get(code)

    def option_label(self, attribute: str, code: str, locale: str) -> str:
        return code


def _structure() -> Structure:
    return Structure(attributes={"description": Attribute(code="description", type="textarea"),
                                 "name": Attribute(code="name", type="text"),
                                 "brand": Attribute(code="brand", type="text")})


def test_a_required_field_that_is_markup_only_blocks_as_markup_only() -> None:
    catalog = ChannelCatalog(code="t", renderer="google_merchant", fields=[
        FieldMap(output="brand", attribute="brand", required=True),
        FieldMap(output="title", template="{{ values.name or identifier }}", required=True)])
    mapper = CleanFieldMapper(catalog, _structure(), _Values(), "ecommerce", profile="google")
    fields, reasons = mapper.map(Product(identifier="p-1", source=ERP), "en_US", "EUR",
                                 {"brand": "<script>ACME</script>", "name": "<b></b>"})
    assert reasons == ["missing:brand:markup_only"]
    assert fields["title"] == "p-1"  # a template falls back as for an empty name


# ---------------------------------------------------------------- 2. a template title's max_length
def test_google_title_limit_counts_the_cleaned_title_not_the_markup(store: Store, tmp_path: Path) -> None:
    """A name pasted with styles is 230 characters stored, `ACME Runner Pro` (15) published: not too long."""
    seed_products(store)
    styled = f'<span style="{"font-family:Calibri;" * 10}">Runner</span> <b class="{"x" * 20}">Pro</b>'
    assert len(styled) > 150
    _add(store, "styled", **{"name:en_US": styled})
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    _, items = _feed(result)
    assert "styled" not in result.blocked
    assert _g(items["styled"], "title") == "ACME Runner Pro"


def test_a_truncated_google_title_is_cut_from_the_cleaned_text(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "cut", **{"name:en_US": "<b>Trail</b> runner &amp; hiker for wet ground"})
    catalog = _google_catalog(tmp_path, title={"max_length": 24, "on_overflow": "truncate"})
    _, items = _feed(publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce",
                             options={"catalog": catalog}))
    assert _g(items["cut"], "title") == "ACME Trail runner &"  # cut at a space within 24 characters


# ---------------------------------------------------------------- 3. the storefront label
def _label_is_description(store: Store) -> None:
    """The shoes family labelled by its (textarea) description."""
    store.put_structure("family", [Family(code="shoes", attributes=FAMILY_ATTRS, attribute_as_label="description",
                                          attribute_as_image="image")])


def _storefront(result: PublishResult) -> dict[str, dict[str, Any]]:
    loc = next(l for l in result.locations if l.endswith(".en_US.json"))
    return {p["identifier"]: p for p in orjson.loads(Path(loc).read_bytes())["products"]}


def test_storefront_label_and_title_from_a_textarea_are_plain_text(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _label_is_description(store)
    _add(store, "html-label", **{"description:en_US@ecommerce": "<p>Runner <b>Pro</b> &amp; more</p><script>x</script>"})
    _add(store, "empty-label", **{"description:en_US@ecommerce": "<p><script>x</script></p>"})
    catalog = tmp_path / "shop.yaml"
    catalog.write_text(yaml.safe_dump({"code": "shop", "renderer": "storefront", "fields": [
        {"output": "title", "template": "{{ values.description or identifier }}"}]}))
    products = _storefront(publish(store, tmp_path / "out", channel="storefront", scope="ecommerce",
                                   options={"catalog": str(catalog)}))
    doc = products["html-label"]
    assert doc["label"] == doc["fields"]["title"] == "Runner Pro & more"
    assert doc["attributes"]["description"] == "<p>Runner <b>Pro</b> &amp; more</p>"  # the attribute stays HTML
    empty = products["empty-label"]
    assert empty["label"] == empty["fields"]["title"] == "empty-label"  # markup only: like an empty label
    assert products["complete"]["label"] == "A fine shoe."


def test_storefront_text_label_stays_a_string_the_storefront_escapes(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "text-label", **{"name:en_US": "Runner <b>Pro</b> &amp;"})
    doc = _storefront(publish(store, tmp_path / "out", channel="storefront", scope="ecommerce"))["text-label"]
    assert doc["label"] == doc["fields"]["title"] == "Runner <b>Pro</b> &amp;"


# ---------------------------------------------------------------- 4. truncating HTML
_TAG = re.compile(r"<(/?)([a-z0-9]+)>")
_VOID = {"br", "hr"}


def _balanced(html: str) -> bool:
    """Every element Google's attribute-less markup opens is closed, in order, and no tag is cut in two."""
    stack: list[str] = []
    for closing, tag in _TAG.findall(html):
        if tag in _VOID:
            continue
        if not closing:
            stack.append(tag)
        elif not stack or stack.pop() != tag:
            return False
    return not stack and "<" not in _TAG.sub("", html) and not re.search(r"&[#a-z0-9]*$", html)


def _mapper(profile: str, max_length: int) -> CleanFieldMapper:
    catalog = ChannelCatalog(code="t", renderer="google_merchant", fields=[
        FieldMap(output="description", attribute="description", max_length=max_length, on_overflow="truncate")])
    return CleanFieldMapper(catalog, _structure(), _Values(), "ecommerce", profile=profile)  # type: ignore[arg-type]


def test_truncated_html_closes_what_the_cut_left_open_within_the_limit() -> None:
    """`<strong>word word …` cut at 40 leaves `<strong>` open; closing it must not take the value past 40."""
    text = "<strong>" + "word " * 20 + "</strong>"
    fields, reasons = _mapper("google", 40).map(Product(identifier="p", source=ERP), "en_US", "EUR", {"description": text})
    assert reasons == []
    assert fields["description"] == "<strong>word word word word</strong>"  # 36: a fifth word would make 41


@pytest.mark.parametrize("text,limit,expected", [
    ("<p>Steel&amp;brass</p>", 12, "<p>Steel</p>"),  # a cut in `&amp;` drops the entity
    ("<p>Steel &amp; brass housing</p>", 18, "<p>Steel &amp;</p>"),
    # the space cut at is inside `<a href=… rel="noopener noreferrer">`: the tag goes
    ('<p>See <a href="https://x.example/a">the datasheet</a> now</p>', 60, "<p>See</p>"),
    ("<ul><li>one</li><li>two three</li></ul>", 33, "<ul><li>one</li><li>two</li></ul>"),
    ("<ul><li>one</li><li>two three</li></ul>", 30, "<ul><li>one</li></ul>")])  # no empty <li></li>
def test_storefront_truncation_never_ends_inside_an_entity_or_a_tag(text: str, limit: int, expected: str) -> None:
    fields, _ = _mapper("storefront", limit).map(Product(identifier="p", source=ERP), "en_US", "EUR",
                                                 {"description": text})
    assert fields["description"] == expected and len(expected) <= limit


def test_google_feed_description_truncated_stays_within_its_limit(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    _add(store, "long", **{"description:en_US@ecommerce": "<p><b>Robust</b> " + "steel " * 30 + "</p>"})
    catalog = _google_catalog(tmp_path, description={"max_length": 42, "on_overflow": "truncate"})
    _, items = _feed(publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce",
                             options={"catalog": catalog}))
    description = _g(items["long"], "description")
    assert description == "<div><strong>Robust</strong> steel</div>"  # 40: a second steel would make 46


@settings(max_examples=300, deadline=None)
@given(text=markup(), limit=st.integers(min_value=1, max_value=80))
def test_truncated_google_html_fits_its_limit_is_well_formed_and_keeps_leading_words(text: str, limit: int) -> None:
    full = safe_html(text, "google")
    fields, reasons = _mapper("google", limit).map(Product(identifier="p", source=ERP), "en_US", "EUR",
                                                   {"description": text})
    out = fields.get("description", "")
    assert reasons == []
    assert len(out) <= limit
    assert _balanced(out), out
    assert {t for _, t in _TAG.findall(out)} <= GOOGLE_TAGS
    words, all_words = plain_text(out).split(), plain_text(full).split()
    if words:  # the words it keeps lead the text (the last one may be cut)
        assert words[:-1] == all_words[:len(words) - 1] and all_words[len(words) - 1].startswith(words[-1])
