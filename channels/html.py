"""Untrusted markup made safe where it is published. Stored values keep what was sent (provenance and
re-import idempotency depend on it), so every channel cleans its output here, and a rule changed here applies
to the whole catalog on its next publish.

Textarea values are HTML (BMEcat descriptions keep their inline elements, people paste formatted copy); text
values are plain strings a consumer must escape itself. The cleaning is nh3 (the Rust ammonia sanitiser):
`safe_html` keeps a profile's formatting tags and drops everything else (scripts and styles with their
content, event handlers, `javascript:` and other URL schemes, comments), `plain_text` keeps only the words.
Most values hold neither `<` nor `&`: they are returned as they are, without calling nh3."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import nh3

from channels.declaration import FieldMap
from channels.field_mapper import FieldMapper
from pim.structure import AttributeType

Profile = Literal["storefront", "google"]

#: Dropped with their content: what they hold is code or a foreign document, never product copy.
DROPPED = frozenset({"script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math"})

#: Elements that separate words: plain text puts a space where one was, so `a<br>b` reads `a b`, not `ab`.
BLOCKS = frozenset({"p", "br", "hr", "div", "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
                    "h6", "blockquote", "pre", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"})

#: The storefront renders a description as HTML inside its own page: formatting, lists, small headings
#: (h1/h2 belong to the page: they become h3), tables and http(s)/mailto links that open without an opener.
STOREFRONT_TAGS = frozenset({"p", "br", "hr", "b", "strong", "i", "em", "u", "s", "small", "ul", "ol", "li",
                             "sub", "sup", "span", "div", "dl", "dt", "dd", "h3", "h4", "h5", "h6", "blockquote",
                             "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "a"})
STOREFRONT_ATTRIBUTES = {"*": set(), "a": {"href", "title"}, "td": {"colspan", "rowspan"},
                         "th": {"colspan", "rowspan"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})

#: Google Merchant's description takes "some plain HTML": these tags, no attribute on any of them.
GOOGLE_TAGS = frozenset({"strong", "em", "ul", "ol", "li", "br", "sub", "sup", "div", "span", "dl", "dt", "dd"})

#: A tag as ammonia writes it without attributes (its output escapes every other `<`): plain text's spaces.
_TAG = re.compile(r"</?[a-z][a-z0-9]*>")

_DIV, _STRONG_DIV = ("<div>", "</div>"), ("<div><strong>", "</strong></div>")
#: Google's list has no p, b, i, headings or tables: they map onto it rather than gluing words together.
GOOGLE_RENAMES = {"b": ("<strong>", "</strong>"), "i": ("<em>", "</em>"), "hr": ("<br>", ""),
                  **dict.fromkeys(("p", "blockquote", "pre", "table", "caption", "tr"), _DIV),
                  **dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), _STRONG_DIV),
                  **dict.fromkeys(("th", "td"), ("<span>", "</span> "))}
#: h1 and h2 belong to the storefront's page, not to a description in it.
STOREFRONT_RENAMES = {"h1": ("<h3>", "</h3>"), "h2": ("<h3>", "</h3>")}


@dataclass(frozen=True)
class _Rules:
    """One profile: the nh3 cleaner and the exact tag tokens renamed in its output."""

    cleaner: nh3.Cleaner
    renames: dict[str, str]

    def __call__(self, text: str) -> str:
        out = self.cleaner.clean(text)
        if "<" in out:  # exact tokens: `<b>` is no part of `<br>`, and no replacement holds a renamed tag
            for token, replacement in self.renames.items():
                if token in out:
                    out = out.replace(token, replacement)
        return out


def _rules(tags: frozenset[str], renames: dict[str, tuple[str, str]] | None = None,
           attributes: dict[str, set[str]] | None = None, **options: Any) -> _Rules:
    """A profile that keeps `tags` and turns each of `renames` (kept attribute-less, so ammonia writes it as a
    bare `<tag>`) into its (opening, closing) replacement."""
    renames = renames or {}
    tokens: dict[str, str] = {}
    for tag, (opening, closing) in renames.items():
        tokens[f"<{tag}>"], tokens[f"</{tag}>"] = opening, closing
    options.setdefault("link_rel", None)  # nh3 adds rel="noopener noreferrer" to links unless told not to
    # "*": set() is what drops ammonia's default generic attributes (lang, title) too
    cleaner = nh3.Cleaner(tags=set(tags | renames.keys()), clean_content_tags=set(DROPPED),
                          attributes=attributes or {"*": set()}, **options)
    return _Rules(cleaner, tokens)


#: Texts a cleaning remembers: a variant repeats its model's description, a target feed a locale's, and an HTML
#: field cleans a textarea's HTML again (CleanFieldMapper.published).
MEMO = 2048


@dataclass(frozen=True)
class _Memo:
    """`clean` remembering the last MEMO texts it cleaned; with `keeps_output`, its own output too, as needing
    no second pass (true of HTML, which is safe as cleaned; not of plain text, which decodes entities)."""

    clean: Callable[[str], str]
    keeps_output: bool
    seen: dict[str, str] = field(default_factory=dict)

    def __call__(self, text: str) -> str:
        out = self.seen.get(text)
        if out is None:
            out = self.clean(text)
            if len(self.seen) >= MEMO:
                self.seen.clear()
            self.seen[text] = out
            if self.keeps_output:
                self.seen[out] = out
        return out


_PROFILES: dict[str, _Memo] = {
    "storefront": _Memo(_rules(STOREFRONT_TAGS, STOREFRONT_RENAMES, STOREFRONT_ATTRIBUTES,
                               link_rel="noopener noreferrer", url_schemes=set(LINK_SCHEMES), url_relative="deny"),
                        keeps_output=True),
    "google": _Memo(_rules(GOOGLE_TAGS, GOOGLE_RENAMES), keeps_output=True),
}


def _marked_up(text: str) -> bool:
    """Whether nh3 has anything to do: without `<` or `&` the text is the same as plain text and as HTML."""
    return "<" in text or "&" in text


#: A line break and the spaces around it, in a value written without tags.
_LINE_BREAK = re.compile(r"[ \t]*(?:\r\n?|\n)[ \t]*")


def safe_html(text: str, profile: Profile = "storefront") -> str:
    """`text` as HTML that is safe to show: the profile's formatting kept, everything else dropped. Text
    without markup is returned as it is (the same object). On the storefront, whose page renders it as HTML,
    a value written without tags keeps its lines apart (content bullets a content import joined with line
    breaks): each line break becomes `<br>`; in markup, line breaks are the author's layout and stay."""
    if profile == "storefront" and "<" not in text and ("\n" in text or "\r" in text):
        return _LINE_BREAK.sub("<br>", (_PROFILES[profile](text) if "&" in text else text).strip())
    return _PROFILES[profile](text) if _marked_up(text) else text


_WORDS = _rules(BLOCKS)  # plain text: only the tags that separate words survive, to become spaces
#: A `<` that would open a tag: in plain text it only comes from a decoded entity (`&lt;b&gt;`) or from text
#: a dropped tag split (`<<b></b>img …>`), since a `<` the input opened a tag with was parsed as a tag.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


def _words(text: str) -> str:
    """Blocks and breaks as spaces, the rest of the tags gone, entities decoded, whitespace collapsed."""
    words = " ".join(html.unescape(_TAG.sub(" ", _WORDS(text))).split())
    return _TAG_OPEN.sub("< ", words) if "<" in words else words


_PLAIN = _Memo(_words, keeps_output=False)


def plain_text(text: str) -> str:
    """The words of `text`: tags stripped (scripts with their content), entities decoded, whitespace collapsed,
    a space where a block or line break was (`\n` too: content bullets joined by line breaks read as words
    apart). Text with neither markup nor such whitespace is returned as it is (the same object).
    The result is a string its consumer escapes, not HTML; still, a `<` decoding would put before a letter
    gets a space after it (`&lt;b&gt;` → `< b>`), so text rendered unescaped (a search highlight) opens no tag."""
    if _marked_up(text):
        return _PLAIN(text)
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # the common case, checked in C: no whitespace but single spaces between words
    words = " ".join(text.split())
    return text if words == text else words


#: The last word and the whitespace before it; an opening tag at the end of a cut (an element left empty).
_LAST_WORD, _OPENED = re.compile(r"\s+\S*$"), re.compile(r"(?:<[a-z][^<>]*>)+$")


def truncate_html(text: str, limit: int, profile: Profile = "storefront") -> str:
    """Cleaned HTML cut to at most `limit` characters, and still well formed: a cut in a word goes back to the
    space before it (the whole cut when there is none, as FieldMapper.truncated does), never ends inside a tag
    or an entity nor leaves an element empty, and the elements it leaves open are closed. Those closing tags
    count: when they push the text past `limit`, the cut moves back by as much and is made again."""
    cut = limit
    while True:
        head = text[:cut] if cut > 0 else ""
        if cut < len(text) and not text[cut].isspace():
            head = _LAST_WORD.sub("", head)
        if (lt := head.rfind("<")) > head.rfind(">"):  # inside a tag: `<strong` or `<a href="x`
            head = head[:lt]
        if (amp := head.rfind("&")) > head.rfind(";"):  # inside an entity: `&am`
            head = head[:amp]
        head = _OPENED.sub("", head).rstrip()
        out = safe_html(head, profile)  # closes what the cut left open
        if len(out) <= limit:
            return out
        cut -= len(out) - limit  # by at least 1: down to an empty head at worst, which fits


#: Fields published as plain text, by profile: Google's short text attributes (it takes HTML only in the
#: description), the storefront's label fields (a label is a name, shown as text, not copy).
PLAIN_FIELDS: dict[str, frozenset[str]] = {"google": frozenset({"title", "brand", "mpn", "color", "size"}),
                                           "storefront": frozenset({"title", "name", "label"})}
#: Fields published as HTML whatever fed them (a template or a text attribute); a field mapped from
#: textareas only is HTML too.
HTML_FIELDS: dict[str, frozenset[str]] = {"google": frozenset({"description"}), "storefront": frozenset()}


#: Cleaned HTML shows a character: text at its start or after a tag, past whitespace and `&nbsp;` (ammonia's
#: output writes every other entity as the character, but `&amp;`, `&lt;` and `&gt;`, which show). Most texts
#: match at once; those that do not are read as plain text, so a markup-only value costs one more cleaning.
_SHOWS = re.compile(r"(?:^|>)(?:\s|&nbsp;)*+[^\s<]")


class CleanFieldMapper(FieldMapper):
    """A FieldMapper whose output comes out cleaned for one profile, in mapped fields and templates alike,
    before a field's max_length is checked: a limit counts what is published, not markup dropped.

    An HTML field (HTML_FIELDS, or mapped from textareas) is `safe_html`, and cut by `truncate_html`. A plain
    field (PLAIN_FIELDS) reads each value as its words (`plain_text`): textareas on every profile, and on
    Google, which takes no markup outside the description, text values and option labels too (the storefront
    escapes those itself). Values are cleaned, not the rendered template, so no entity is decoded twice. A
    value cleaned to nothing is left out like an empty one (a required field: `missing:<field>:markup_only`).
    Other fields read textareas as the profile's HTML. `attributes:` on a single-value output (FieldMapper.
    list_outputs) publishes the first value something is left of, cleaned and checked as one attribute's; on
    a list output each value is cleaned and checked."""

    def __init__(self, *args: Any, profile: Profile, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile
        self.plain_fields = PLAIN_FIELDS[profile]
        self.text_is_markup = profile == "google"
        types = self.s.attributes

        def from_textareas(f: FieldMap) -> bool:
            codes = f.attributes or ([f.attribute] if f.attribute else [])
            return bool(codes) and all(c in types and types[c].type == AttributeType.textarea for c in codes)

        self.html_fields = HTML_FIELDS[profile] | {f.output for f in self.catalog.fields
                                                   if f.output not in self.plain_fields and from_textareas(f)}

    def plain(self, f: FieldMap) -> bool:
        return f.output in self.plain_fields

    def display(self, code: str, value: Any, locale: str, labels: bool = True, plain: bool = False) -> Any:
        value = super().display(code, value, locale, labels)
        attr = self.s.attributes.get(code)
        html = attr is not None and attr.type == AttributeType.textarea
        if plain:
            return _words_of(value) if html or self.text_is_markup else value
        if html and isinstance(value, str):
            return safe_html(value, self.profile)
        return value

    def published(self, f: FieldMap, value: Any) -> Any:
        """An HTML field's text cleaned, or each text of a list (a list output, a multi-select's labels): a list
        loses the texts nothing is left of."""
        if f.output not in self.html_fields:
            return value
        if isinstance(value, list):
            return [c for v in value if (c := self._html(v) if isinstance(v, str) else v) not in ("", None)]
        return self._html(value) if isinstance(value, str) else value

    def _html(self, value: str) -> str:
        cleaned = safe_html(value, self.profile)  # a textarea's: remembered as clean, so a lookup
        # tags around no word (`<p>&nbsp;</p>`, an empty list) are markup only: a reader sees nothing
        return cleaned if _SHOWS.search(cleaned) or plain_text(cleaned) else ""

    def truncated(self, f: FieldMap, value: str) -> str:
        if f.output in self.html_fields and f.max_length:
            return truncate_html(value, f.max_length, self.profile)
        return super().truncated(f, value)


def _words_of(value: Any) -> Any:
    """A string, or the strings of a list (a multi-select's labels), as plain text; a list loses those
    nothing is left of."""
    if isinstance(value, str):
        return plain_text(value)
    if isinstance(value, list):
        return [w for v in value if (w := plain_text(v) if isinstance(v, str) else v) not in ("", None)]
    return value
