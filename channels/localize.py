"""Resolving a product's values for one channel and locale: what every channel renderer starts from."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pim.catalog import Structure
from pim.product import Product, ProductModel, merged_values, value_key
from pim.store import Store


class ValueResolver:
    """Looks up the value a product shows on (channel, locale), inheriting from its product models."""

    def __init__(self, store: Store, structure: Structure) -> None:
        self.store, self.s = store, structure
        self._model = lru_cache(maxsize=4096)(self._load_model)

    def _load_model(self, code: str) -> ProductModel | None:
        return self.store.get_model(code)

    def ancestors(self, record: Product | ProductModel) -> list[ProductModel]:
        chain: list[ProductModel] = []
        parent = record.parent
        while parent and len(chain) < 2:
            model = self._model(parent)
            if model is None:
                break
            chain.append(model)
            parent = model.parent
        return chain

    def values(self, product: Product) -> dict[str, Any]:
        return merged_values(product, self.ancestors(product)) if product.parent else product.values

    def get(self, values: dict[str, Any], attribute: str, channel: str, locale: str) -> Any:
        attr = self.s.attributes.get(attribute)
        if attr is None:
            return None
        key = value_key(attribute, locale if attr.localizable else None, channel if attr.scopable else None)
        return values.get(key)

    def localized(self, product: Product, channel: str, locale: str) -> dict[str, Any]:
        """attribute code → value for this channel and locale (only filled ones)."""
        values = self.values(product)
        out: dict[str, Any] = {}
        family = self.s.families.get(product.family or "")
        codes = family.attributes if family else sorted({k.split(":")[0].split("@")[0] for k in values})
        for code in codes:
            v = self.get(values, code, channel, locale)
            if v not in (None, "", [], {}):
                out[code] = v
        return out

    def label(self, product: Product, channel: str, locale: str) -> str:
        family = self.s.families.get(product.family or "")
        if family and family.attribute_as_label:
            v = self.get(self.values(product), family.attribute_as_label, channel, locale)
            if v:
                return str(v)
        return product.identifier

    def option_label(self, attribute: str, code: str, locale: str) -> str:
        opt = self.s.options.get(attribute, {}).get(code)
        return (opt.labels.get(locale) or code) if opt else code
