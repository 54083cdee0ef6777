"""Resolving a product's values for one channel and locale: what every channel renderer starts from.

A resolver lives for one publication stream, so it keeps what repeats across products: product models
(looked up once each), the value key of every attribute × channel × locale, a family's keys per channel ×
locale, and option labels per locale."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pim.catalog import Structure
from pim.product import Product, ProductModel, merged_categories, merged_values, split_key, value_key
from pim.published import is_published, published_codes
from pim.store import Store
from pim.structure import AttributeType

MODEL_CACHE = 20_000  # product models kept per stream; the cache starts over beyond this
_EMPTY = (None, "", [], {})


class ValueResolver:
    """Looks up the value a product shows on (channel, locale), inheriting from its product models."""

    def __init__(self, store: Store, structure: Structure) -> None:
        self.store, self.s = store, structure
        self._models: dict[str, ProductModel | None] = {}
        self._keys: dict[tuple[str, str, str], str | None] = {}
        self._family_keys: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        self._labels: dict[str, dict[tuple[str, str], str]] = {}
        self._images: set[str] | None = None

    def _model(self, code: str) -> ProductModel | None:
        if code not in self._models:
            if len(self._models) >= MODEL_CACHE:
                self._models.clear()
            self._models[code] = self.store.get_model(code)
        return self._models[code]

    def ancestors(self, record: Product | ProductModel) -> list[ProductModel]:
        return self.store.ancestors(record, self._model)

    def values(self, product: Product) -> dict[str, Any]:
        return merged_values(product, self.ancestors(product)) if product.parent else product.values

    def categories(self, product: Product, chain: list[ProductModel] | None = None) -> list[str]:
        """The product's categories, then its models' it lacks (a variant is classified through its model).
        `chain`: its ancestors when the caller has them already."""
        if not product.parent:
            return product.categories
        return merged_categories(product, self.ancestors(product) if chain is None else chain)

    def image_values(self, value_maps: Iterable[dict[str, Any]]) -> Iterator[str]:
        """The image attributes' values in these value maps (what a batch of documents may link)."""
        images = self._images
        if images is None:
            images = self._images = {c for c, a in self.s.attributes.items() if a.type == AttributeType.image}
        for values in value_maps:
            yield from (v for k, v in values.items() if isinstance(v, str) and split_key(k)[0] in images)

    def key(self, attribute: str, channel: str, locale: str) -> str | None:
        """The value key `attribute` is read at on (channel, locale); None for an unknown attribute."""
        k = (attribute, channel, locale)
        try:
            return self._keys[k]
        except KeyError:
            attr = self.s.attributes.get(attribute)
            self._keys[k] = None if attr is None else value_key(
                attribute, locale if attr.localizable else None, channel if attr.scopable else None)
            return self._keys[k]

    def get(self, values: dict[str, Any], attribute: str, channel: str, locale: str) -> Any:
        key = self.key(attribute, channel, locale)
        return None if key is None else values.get(key)

    def keys_of(self, family: str, channel: str, locale: str) -> list[tuple[str, str]]:
        """(attribute, value key) of a family's known published attributes on (channel, locale), computed once:
        what a document writing "every attribute" writes, so never an internal one (pim.published)."""
        k = (family, channel, locale)
        if k not in self._family_keys:
            codes = published_codes(self.s, self.s.families[family].attributes)
            pairs = [(code, self.key(code, channel, locale)) for code in codes]
            self._family_keys[k] = [(c, key) for c, key in pairs if key is not None]
        return self._family_keys[k]

    def localized(self, product: Product, channel: str, locale: str,
                  values: dict[str, Any] | None = None) -> dict[str, Any]:
        """attribute code → value for this channel and locale (only filled ones, internal attributes left out:
        keys_of). `values`: the product's inherited values when the caller has them already."""
        values = self.values(product) if values is None else values
        out: dict[str, Any] = {}
        if product.family in self.s.families:
            pairs = self.keys_of(product.family, channel, locale)  # type: ignore[arg-type]
        else:
            codes = published_codes(self.s, sorted({k.split(":")[0].split("@")[0] for k in values}))
            pairs = [(c, key) for c in codes if (key := self.key(c, channel, locale)) is not None]
        for code, key in pairs:
            v = values.get(key)
            if v is not None and v not in _EMPTY:
                out[code] = v
        return out

    def label(self, product: Product, channel: str, locale: str, values: dict[str, Any] | None = None) -> str:
        family = self.s.families.get(product.family or "")
        if family and family.attribute_as_label and is_published(self.s, family.attribute_as_label):
            v = self.get(self.values(product) if values is None else values, family.attribute_as_label, channel, locale)
            if v:
                return str(v)
        return product.identifier

    def option_label(self, attribute: str, code: str, locale: str) -> str:
        labels = self._labels.get(locale)
        if labels is None:
            labels = self._labels[locale] = {(a, c): (o.labels.get(locale) or c)
                                             for a, opts in self.s.options.items() for c, o in opts.items()}
        return labels.get((attribute, code), code)
