"""Index settings derived from the structure, and the fingerprint that says when documents must be rebuilt.

Two fingerprints, two consequences:
- `settings_fingerprint`: ranking, synonyms, typo tolerance… The exporter PATCHes only what differs on the
  live index; Meilisearch re-indexes its own copy, no document is re-sent.
- `shape_fingerprint`: anything that changes what a *document* contains (attributes flagged filterable or
  searchable, option and category labels, locales, currencies, the gate rules that decide who is indexed, the
  PIM_FEED_STOCK_KEYS reading its stock counts).
  A change forces a full rebuild into a fresh index and a swap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from channels.search_documents import DISPLAYED, DocumentBuilder, customer_tag

#: Bump when the document builder changes what it writes.
DOCUMENT_VERSION = 8  # 2: prices are shelf prices, rounded half up to minor units (round 32); 3: customers
                      # are keyed tags, not codes (round 33); 4: a list price that rounds to 0 blocks the product
                      # as on the storefront, and plain text reads line breaks as spaces (round 34); 5: an
                      # upload's `sha256:` image links its rendition or stored original, never the bare ref (round 35); 6: facets
                      # are plain text and textareas are never facets (round 36); 7: a product whose required
                      # image links to nothing has no document, as the storefront blocks it (round 36); 8: each
                      # locale's index holds the products the gate passes in that locale, not only those passing
                      # in all of them (round 37: indexes pushed before lack products incomplete elsewhere)

#: PIM_FEED_STOCK_KEYS' values (pim.settings) and its default, which the shape leaves out.
STOCK_KEYS = ("both", "plant", "location")
STOCK_DEFAULT = "both"


def index_settings(b: DocumentBuilder, locale: str) -> dict[str, Any]:
    """Meilisearch settings for one locale's index, in the API's own field names."""
    searchable = ["name", "brand", "sku", *(f"text.{a.code}" for a in b.text_attrs),
                  "facets", "category_paths", "family_label", "description"]
    levels = [f"category_paths.lvl{n}" for n in range(max(b.depth, 1))]
    filterable = sorted({"customers", "categories", "family", "model", "availability", "brand", *levels,
                         *(f"facets.{a.code}" for a in b.facet_attrs), *(f"prices.{c}" for c in b.currencies)})
    sortable = sorted({"name", "stock", *(f"prices.{c}" for c in b.currencies)})
    return {
        "searchableAttributes": searchable,
        "filterableAttributes": filterable,
        "sortableAttributes": sortable,
        "distinctAttribute": "group",
        "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness", "in_stock_rank:desc"],
        "synonyms": synonyms(b, locale),
        "typoTolerance": {
            "enabled": True,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnAttributes": ["sku"],
            "disableOnWords": [],
        },
        "faceting": {"maxValuesPerFacet": 200},
        "pagination": {"maxTotalHits": 5000},
        "displayedAttributes": list(DISPLAYED),  # not `customers`: who else holds a product is no one's business
        "stopWords": [],
    }


def synonyms(b: DocumentBuilder, locale: str) -> dict[str, list[str]]:
    """A facet option is found by its code as well as by its label in this locale (and vice versa)."""
    out: dict[str, set[str]] = {}
    for a in b.facet_attrs:
        for code, opt in b.structure.options.get(a.code, {}).items():
            label = (opt.labels.get(locale) or "").strip().lower()
            word = code.lower().replace("_", " ")
            if label and label != word and len(label) <= 50:
                out.setdefault(word, set()).add(label)
                out.setdefault(label, set()).add(word)
    return {k: sorted(v) for k, v in sorted(out.items())}


def digest_of(data: Any) -> str:
    return hashlib.blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def settings_fingerprint(b: DocumentBuilder) -> str:
    return digest_of({p.locale: index_settings(b, p.locale) for p in b.plans})


def stock_keys_now() -> str:
    """PIM_FEED_STOCK_KEYS (pim.stock_sums): which stock reading every document's `stock` counts."""
    from pim.stock_sums import stock_keys

    return stock_keys()


def shape_fingerprint(b: DocumentBuilder, version: int | None = None, stock: str | None = None) -> str:
    """`version`: the document version to fingerprint with (DOCUMENT_VERSION's, unless asking what an older
    builder would have recorded: shape_change); `stock`: the PIM_FEED_STOCK_KEYS value (the setting's unless
    asking what another would give). The default `both` adds nothing, so pushes recorded before it counted
    keep their shape."""
    s = b.structure
    channel = s.channels[b.scope]
    stock = stock or stock_keys_now()
    return digest_of({
        **({} if stock == STOCK_DEFAULT else {"stock_keys": stock}),
        "version": version or DOCUMENT_VERSION,
        "customer_key": customer_tag("", b.customer_key),  # stands for the key: a new PIM_SECRET_KEY re-tags every document
        "channel": channel.model_dump(mode="json"),
        # `internal` only where set, so that an upgrade (every attribute internal: false) keeps the shape pushed
        "attributes": {c: a.model_dump(mode="json", include={"type", "localizable", "scopable", "filterable", "searchable"})
                       | ({"internal": True} if a.internal else {}) for c, a in s.attributes.items()},
        "options": {a: {c: o.labels for c, o in opts.items()} for a, opts in s.options.items()},
        "categories": {c: [cat.parent, cat.labels] for c, cat in s.categories.items()},
        "families": {c: [f.labels, f.attribute_as_label, f.attribute_as_image] for c, f in s.families.items()},
    })


def shape_change(pushed: str, shape_at: Callable[..., str]) -> str:
    """Why a push whose recorded shape is `pushed` rebuilds every document: the document version, named, when
    the shape an older version would give now (`shape_at(version)`) is the one pushed, so that the one rebuild
    after an upgrade says the builder changed and not the team's structure; PIM_FEED_STOCK_KEYS, named, when
    another value of it gives the shape pushed (`shape_at(version, stock)`); else the structure or the links."""
    now = stock_keys_now()
    for other in STOCK_KEYS:
        if other != now and shape_at(DOCUMENT_VERSION, other) == pushed:
            return (f"PIM_FEED_STOCK_KEYS changed from {other} to {now} (every document's stock counts the other "
                    "reading): one full rebuild")
    for old in range(DOCUMENT_VERSION - 1, 0, -1):
        if shape_at(old) == pushed:
            return f"search documents changed shape (document version {old} → {DOCUMENT_VERSION}): one full rebuild"
    return "the structure, the listing rendition or the CDN changed what documents contain"
