"""Untrusted markup in descriptions is made safe where it is published (channels.html): the storefront keeps
its formatting tags, Google Merchant its short attribute-less list, search documents only the words. Stored
values stay as sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lxml.html
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from channels.framework import ChannelCatalog, FieldMap
from channels.google_merchant import DESCRIPTION_MAX, G
from channels.html import _PROFILES, GOOGLE_TAGS, STOREFRONT_TAGS, CleanFieldMapper, plain_text, safe_html
from channels.search_documents import DocumentBuilder
from pim.catalog import Structure
from pim.pipeline import publish
from pim.product import Product
from pim.store import Store
from pim.structure import Attribute, Channel, Family
from tests.channel_data import ERP, complete_values, seed_products

XSS = 'Robust <b>steel</b> housing<br/>IP65<script>alert("x")</script><img src=x onerror=alert(1)>'
PLAIN = ["A fine shoe.", "", "Größe 42 > 41", "Tom's \"best\" shoe"]  # line breaks: tests/test_channels_fixes_r34.py


# ---------------------------------------------------------------- the three profiles, example by example
@pytest.mark.parametrize("profile", ["storefront", "google"])
def test_script_goes_with_its_content_and_event_handlers_with_their_element(profile: str) -> None:
    out = safe_html(XSS, profile)
    assert "script" not in out and "alert" not in out and "onerror" not in out and "<img" not in out
    assert "steel" in out and "housing<br>IP65" in out


def test_plain_text_drops_script_content_too() -> None:
    assert plain_text(XSS) == "Robust steel housing IP65"


@pytest.mark.parametrize("profile", ["storefront", "google"])
def test_javascript_and_data_urls_are_dropped(profile: str) -> None:
    out = safe_html('<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(1)">b</a>'
                    '<a href="data:text/html,x">c</a>', profile)
    assert "javascript" not in out.lower() and "data:" not in out and "href" not in out
    assert out.replace('<a rel="noopener noreferrer">', "").replace("</a>", "") == "abc"


def test_storefront_keeps_its_formatting_and_safe_links_with_rel() -> None:
    kept = "<p>Intro <b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> H<sub>2</sub>O m<sup>2</sup></p>" \
           "<ul><li>one</li></ul><ol><li>two</li></ol><dl><dt>Weight</dt><dd>1 kg</dd></dl><h4>Details</h4>"
    assert safe_html(kept) == kept
    out = safe_html('<a href="https://acme.example/x" target="_blank" onclick="x()">Datasheet</a>'
                    '<a href="mailto:sales@acme.example">Mail</a><a href="/relative">Rel</a>')
    assert out == ('<a href="https://acme.example/x" rel="noopener noreferrer">Datasheet</a>'
                   '<a href="mailto:sales@acme.example" rel="noopener noreferrer">Mail</a>'
                   '<a rel="noopener noreferrer">Rel</a>')


def test_storefront_drops_style_class_and_id_and_turns_page_headings_into_h3() -> None:
    out = safe_html('<p class="MsoNormal" style="color:red" id="x" lang="de">Text</p><h1>Top</h1>'
                    '<style>p{}</style>')
    assert out == "<p>Text</p><h3>Top</h3>"


def test_google_gets_its_tag_list_with_no_attribute_on_any_tag() -> None:
    out = safe_html('<p class="x" style="y">One <b title="t">bold</b> <i>it</i>.</p><p>Two</p>'
                    '<ul class="l"><li style="s">a</li></ul><h2>Head</h2><a href="https://x.example">link</a>'
                    '<table><tr><td>Weight</td><td>1 kg</td></tr></table>', "google")
    assert out == ("<div>One <strong>bold</strong> <em>it</em>.</div><div>Two</div><ul><li>a</li></ul>"
                   "<div><strong>Head</strong></div>link<div><div><span>Weight</span> <span>1 kg</span> </div></div>")
    assert _tags_and_attributes(out) <= {(tag, ()) for tag in GOOGLE_TAGS}


def test_search_text_has_no_tags_decoded_entities_and_words_do_not_glue() -> None:
    assert plain_text("a<br>b") == "a b"
    assert plain_text("<p>One.</p><p>Two.</p><ul><li>x</li><li>y</li></ul>") == "One. Two. x y"
    assert plain_text("<table><tr><td>Weight</td><td>1&nbsp;kg</td></tr></table>") == "Weight 1 kg"
    assert plain_text("st<b>ee</b>l &amp; <i>iron</i>\n\n  <!-- note -->") == "steel & iron"  # inline: no space
    assert plain_text("a &lt; b, 5&gt;4") == "a < b, 5>4"


def test_plain_text_never_lets_decoded_or_rejoined_text_open_a_tag() -> None:
    assert plain_text("&lt;script&gt;alert(1)&lt;/script&gt;") == "< script>alert(1)< /script>"
    assert plain_text("<<b></b>img src=x onerror=alert(1)>") == "< img src=x onerror=alert(1)>"


@pytest.mark.parametrize("text", PLAIN)
def test_values_without_markup_are_passed_through_as_the_same_object(text: str) -> None:
    assert safe_html(text) is text and safe_html(text, "google") is text and plain_text(text) is text


@pytest.mark.parametrize("profile", ["storefront", "google"])
def test_ampersands_and_lone_angle_brackets_become_entities_in_html(profile: str) -> None:
    assert safe_html("Tom & Jerry < 5 mm", profile) == "Tom &amp; Jerry &lt; 5 mm"
    assert plain_text("Tom & Jerry < 5 mm") == "Tom & Jerry < 5 mm"


# ---------------------------------------------------------------- properties over arbitrary markup
FRAGMENTS = ["<script>", "</script>", "<SCRIPT src=//x.example/a.js>", "alert(1)", "<img src=x onerror=alert(1)>",
             '<a href="javascript:alert(1)">', "<a href='jav&#x09;ascript:alert(1)'>", "</a>", "<b>", "</b>",
             "<p>", "</p>", "<br/>", '<svg onload="alert(1)">', "<iframe src=javascript:alert(1)>", "<style>",
             "</style>", "<!--", "-->", "<math>", "<noscript>", "<template>", "<![CDATA[", "]]>", "<div ",
             "style=x>", " onclick=x ", "onmouseover=", "<", ">", "=", '"', "'", "/", "<scr", "ipt>", "<h1>",
             "<table><td>", "<a href=https://ok.example/>", "<object data=x>", "<form action=javascript:x>",
             "<input onfocus=alert(1) autofocus>", "<details open ontoggle=alert(1)>", "&", "&amp;", "&#60;", "<form>",
             "<h2>", "<tr>", "<th>", "<li>", "<i>", "<hr>", "<pre>"]


def markup() -> st.SearchStrategy[str]:
    """Strings made of dangerous fragments and arbitrary text."""
    return st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=25).map("".join)


_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)  # an on… attribute inside a tag
_TAG_URL = re.compile(r"<[^>]*(javascript|vbscript|data):", re.I)  # a script URL inside a tag


def _tags_and_attributes(html: str) -> set[tuple[str, tuple[str, ...]]]:
    """(tag, attribute names) of every element `html` holds, as a browser parses it (lxml refuses control
    characters, which are text either way)."""
    root = lxml.html.fragment_fromstring(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", html), create_parent="body")
    return {(el.tag, tuple(sorted(el.attrib))) for el in root.iterdescendants() if isinstance(el.tag, str)}


def _words(text: str) -> list[str]:
    return plain_text(text).split()


@pytest.mark.parametrize("profile", ["storefront", "google"])
@settings(max_examples=300, deadline=None)
@given(text=markup())
def test_cleaned_html_never_holds_a_script_a_handler_or_a_script_url(profile: str, text: str) -> None:
    """Text content may still read `javascript:` (a word in a sentence is harmless); no tag may carry it."""
    out = safe_html(text, profile)
    assert "<script" not in out.lower()
    assert not _HANDLER.search(out) and not _TAG_URL.search(out)
    allowed = STOREFRONT_TAGS if profile == "storefront" else GOOGLE_TAGS
    for tag, attributes in _tags_and_attributes(out):
        assert tag in allowed, (tag, out)
        assert not any(a.startswith("on") for a in attributes)
        if profile == "google":
            assert attributes == ()
    # an HTML field cleans a textarea's cleaned HTML again (remembered as clean, but not once the memo starts
    # over): that keeps every word (nesting only a parser builds, such as <li><h1><li>, may come back flatter)
    assert out is text or _words(_PROFILES[profile].clean(out)) == _words(out)


@settings(max_examples=300, deadline=None)
@given(text=markup())
def test_plain_text_never_holds_a_tag(text: str) -> None:
    out = plain_text(text)
    assert not re.search(r"<[A-Za-z/!?]", out)
    assert out == text or out == " ".join(out.split())


# ---------------------------------------------------------------- mapped fields
class _Values:
    """The resolver FieldMapper reads values through: here the values as given."""

    def get(self, values: dict[str, Any], code: str, scope: str, locale: str) -> Any:
        return values.get(code)


def test_mapped_fields_and_templates_read_textareas_cleaned_and_limits_count_the_cleaned_text() -> None:
    s = Structure(attributes={"description": Attribute(code="description", type="textarea"),
                              "name": Attribute(code="name", type="text")})
    catalog = ChannelCatalog(code="t", renderer="google_merchant", fields=[
        FieldMap(output="description", attribute="description", max_length=41),
        FieldMap(output="teaser", template="{{ values.name }}: {{ values.description }}"),
        FieldMap(output="name", attribute="name")])
    mapper = CleanFieldMapper(catalog, s, _Values(), "ecommerce", profile="google")
    long_styled = '<p style="' + "x" * 100 + '">Steel <b>housing</b></p><script>alert(1)</script>'
    fields, reasons = mapper.map(Product(identifier="p", source=ERP), "en_US", "EUR",
                                 {"description": long_styled, "name": "A <b>&</b> B"})
    assert reasons == []  # 180 characters stored, 41 published: the limit counts those
    assert fields["description"] == "<div>Steel <strong>housing</strong></div>"
    assert fields["teaser"] == "A <b>&</b> B: <div>Steel <strong>housing</strong></div>"
    assert fields["name"] == "A <b>&</b> B"  # a text value is not HTML: the mapper leaves it


# ---------------------------------------------------------------- end to end through the renderers
HOSTILE = {"description:en_US@ecommerce": XSS, "description:de_DE@ecommerce": "<p onclick=x>Stark</p><script>x</script>",
           "name:en_US": "Runner <b>Pro</b>"}


def _seed_hostile(store: Store, **values: object) -> None:
    seed_products(store)
    store.upsert_products([Product(identifier="hostile", family="shoes", categories=["sneakers"], source=ERP,
                                   values=complete_values(sku="hostile", **(values or HOSTILE)))])


def test_storefront_json_has_no_script_and_keeps_text_values_as_strings(store: Store, tmp_path: Path) -> None:
    _seed_hostile(store)
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    files = {Path(p).name.split(".")[2]: orjson.loads(Path(p).read_bytes()) for p in result.locations}
    en = {p["identifier"]: p for p in files["en_US"]["products"]}["hostile"]
    de = {p["identifier"]: p for p in files["de_DE"]["products"]}["hostile"]
    assert en["attributes"]["description"] == "Robust <b>steel</b> housing<br>IP65"
    assert de["attributes"]["description"] == "<p>Stark</p>"
    assert en["attributes"]["name"] == en["label"] == "Runner <b>Pro</b>"  # text: a string the storefront escapes
    everything = b"".join(Path(p).read_bytes() for p in result.locations)
    assert b"<script" not in everything and b"alert" not in everything and b"onclick" not in everything
    stored = store.get_product("hostile")
    assert stored is not None and stored.values["description:en_US@ecommerce"] == XSS  # stored as sent


def _google_items(result: object) -> dict[str, etree._Element]:
    loc = next(l for l in result.locations if l.endswith(".en_US.xml"))  # type: ignore[attr-defined]
    root = etree.parse(loc).getroot()
    return {i.findtext("g:id", namespaces={"g": G}): i for i in root.iterfind("channel/item")}


def test_google_feed_has_no_script_and_a_plain_title(store: Store, tmp_path: Path) -> None:
    _seed_hostile(store)
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    item = _google_items(result)["hostile"]
    assert item.findtext("g:description", namespaces={"g": G}) == "Robust <strong>steel</strong> housing<br>IP65"
    assert item.findtext("g:title", namespaces={"g": G}) == "ACME Runner Pro"
    everything = b"".join(Path(p).read_bytes() for p in result.locations)
    assert b"&lt;script" not in everything and b"alert" not in everything and b"onclick" not in everything


def test_google_length_limit_counts_the_cleaned_description(store: Store, tmp_path: Path) -> None:
    """Word-pasted copy: styles make it 12,800 characters, what Google gets is 3,600 (under DESCRIPTION_MAX and
    the catalog's max_length alike); markup with no text at all blocks as a missing description."""
    pasted = '<span class="MsoNormal" style="font-family:Calibri">word</span> ' * 200
    assert len(pasted) > 2 * DESCRIPTION_MAX
    _seed_hostile(store, **{"description:en_US@ecommerce": pasted})
    store.upsert_products([Product(identifier="empty", family="shoes", categories=["sneakers"], source=ERP,
                                   values=complete_values(sku="empty", **{"description:en_US@ecommerce":
                                                                          "<script>x</script><img src=x>"}))])
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    items = _google_items(result)
    assert items["hostile"].findtext("g:description", namespaces={"g": G}) == "<span>word</span> " * 200
    assert "empty" not in items
    assert "google_merchant:en_US:missing:description:markup_only" in result.blocked["empty"]


def _search_structure() -> Structure:
    attrs = [Attribute(code="sku", type="identifier"), Attribute(code="name", type="text", localizable=True),
             Attribute(code="description", type="textarea", localizable=True),
             Attribute(code="material", type="textarea", searchable=True)]
    return Structure.from_items({"attribute": attrs, "family": [Family(code="f", attributes=[a.code for a in attrs],
                                                                        attribute_as_label="name")],
                                 "channel": [Channel(code="ecommerce", locales=["en_US"], currencies=["EUR"],
                                                     category_tree="master")]})


def test_search_documents_carry_plain_text_for_name_description_and_text() -> None:
    builder = DocumentBuilder(_search_structure(), "ecommerce")
    doc, = builder.build("S-1", "f", [], {"name:en_US": "Drill <b>X</b>", "description:en_US": XSS,
                                          "material": "<ul><li>steel</li><li>brass&amp;copper</li></ul>"})
    assert (doc["name"], doc["description"]) == ("Drill X", "Robust steel housing IP65")
    assert doc["text"] == {"material": "steel brass&copper"}
    plain, = builder.build("S-2", "f", [], {"name:en_US": "Drill", "description:en_US": "Plain words"})
    assert (plain["name"], plain["description"]) == ("Drill", "Plain words")
    bare, = builder.build("S-3", "f", [], {"name:en_US": "<script>x</script>"})
    assert bare["name"] == "S-3"  # a name that is markup only falls back to the SKU like an empty one
