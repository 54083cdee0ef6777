"""The canonical product record. Values are keyed by attribute × locale × channel and every value has a
provenance: the record's `source` by default, or an entry in `provenance` when a merge mixed sources."""

from __future__ import annotations

import hashlib
from operator import attrgetter
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pim.structure import Code


class Provenance(BaseModel):
    """Where a value came from: the source (e.g. `erp`, `supplier:acme`, `content`), its record, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    ref: str | None = Field(default=None, description="The source record, e.g. 'products.csv:12'.")
    at: datetime

    # Compared per value on every merge: a field tuple, not BaseModel's generic comparison (~10× faster).
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Provenance):
            return NotImplemented
        return self.source == other.source and self.ref == other.ref and self.at == other.at

    def __hash__(self) -> int:
        return hash((self.source, self.ref, self.at))

    def __reduce__(self) -> Any:
        return trusted_provenance, (self.source, self.ref, self.at)


def value_key(attribute: str, locale: str | None = None, channel: str | None = None) -> str:
    """`name`, `name:en_US`, `release_date@ecommerce`, `description:en_US@ecommerce`."""
    key = attribute
    if locale:
        key += ":" + locale
    if channel:
        key += "@" + channel
    return key


def split_key(key: str) -> tuple[str, str | None, str | None]:
    """Inverse of value_key."""
    rest, _, channel = key.partition("@")
    attribute, _, locale = rest.partition(":")
    return attribute, (locale or None), (channel or None)


_UNHASHED = frozenset({"source", "provenance"})
_SOURCE_OF = attrgetter("source")


class _Pickled(BaseModel):
    """Pickled as its fields, rebuilt without validation (they were valid when pickled): pydantic's own pickle
    path cost ~30 µs per record, most of handing an import's batches to worker processes."""

    def __reduce__(self) -> Any:
        return trusted_model, (type(self), dict(self.__dict__), set(self.__pydantic_fields_set__))


class Association(_Pickled):
    model_config = ConfigDict(extra="forbid")

    products: list[str] = []
    product_models: list[str] = []
    groups: list[str] = []
    quantities: dict[str, int] = Field(default={}, description="Quantified (pack) associations: identifier → qty.")


class _Valued(_Pickled):
    model_config = ConfigDict(extra="forbid")

    categories: list[str] = []
    values: dict[str, Any] = Field(default={}, description="value key (attr[:locale][@channel]) → data")
    source: Provenance | None = Field(default=None, description="Default provenance of every value.")
    provenance: dict[str, Provenance] = Field(default={}, description="Per-value provenance overrides.")

    def provenance_of(self, key: str) -> Provenance | None:
        return self.provenance.get(key, self.source)

    def content_hash(self) -> str:
        """Hash of what the record says and which source each value comes from — not of when, nor of the
        source's row reference — so re-importing the same data skips cheaply, while a merge that hands a
        value to another source is still written."""
        prov = self.provenance
        sources = [self.source.source if self.source else None, sorted(zip(prov, map(_SOURCE_OF, prov.values())))]
        # The fields' own dict hashed directly: the same bytes as model_dump(mode="json") for JSON-native values,
        # at a fraction of the cost; anything else (a Decimal, a set) goes through pydantic's serialiser.
        body = {k: v for k, v in self.__dict__.items() if k not in _UNHASHED}
        if "associations" in body:
            body["associations"] = {k: a.__dict__ for k, a in body["associations"].items()}
        body["~sources"] = sources
        try:
            data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            body = self.model_dump(mode="json", exclude=_UNHASHED)
            body["~sources"] = sources
            data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(data, digest_size=16).hexdigest()


class Product(_Valued):
    """A sellable product (a simple product or a variant of a product model)."""

    kind: str = Field(default="product", pattern="^product$")
    identifier: str = Field(min_length=1, max_length=255)
    family: Code | None = None
    parent: str | None = Field(default=None, description="Code of the product model this variant belongs to.")
    enabled: bool = True
    groups: list[str] = []
    associations: dict[str, Association] = {}


class ProductModel(_Valued):
    """A product model: the shared values of its variants (one or two levels, as its family variant says)."""

    kind: str = Field(default="product_model", pattern="^product_model$")
    code: str = Field(min_length=1, max_length=255)
    family_variant: Code
    family: Code | None = None
    parent: str | None = None
    associations: dict[str, Association] = {}


#: The source of a value stored without provenance.
UNKNOWN = "unknown"
#: What a source sends to clear a value (null, "", an empty list or object): the merge removes its claim, and a
#: clear is never a misplaced value (pim.variant_levels).
EMPTY = (None, "", [], {})


def source_of(prov: Provenance | None) -> str:
    """The source a provenance names; UNKNOWN for a value stored without one."""
    return prov.source if prov is not None else UNKNOWN


def merged_values(product: _Valued, ancestors: list[_Valued]) -> dict[str, Any]:
    """The values a variant shows: its own over its parent's over its grandparent's."""
    values: dict[str, Any] = {}
    for record in reversed(ancestors):
        values.update(record.values)
    values.update(product.values)
    return values


def merged_categories(product: Product, ancestors: list[ProductModel]) -> list[str]:
    """The categories a variant is classified in: its own, then its models' it lacks (parent first), as every
    channel publishes them (channels.localize.ValueResolver) and GET /products/{id}?resolved=true answers."""
    if not ancestors:
        return product.categories
    return product.categories + [c for m in ancestors for c in m.categories if c not in product.categories]


# ---------------------------------------------------------------- trusted construction
# Records read back from the store were validated when written. Rebuilding them for a merge batch through
# validation (or model_construct, which deep-copies every default) cost more than the merge itself; these
# build the same instances directly. The test in tests/test_import_fastpath.py keeps them equal to validated
# ones (fields, fields-set, equality, dump and content hash).
_PROVENANCE_FIELDS = tuple(Provenance.model_fields)
_PROVENANCE_SET = set(_PROVENANCE_FIELDS)
_PRODUCT_FIELDS = tuple(Product.model_fields)
_ASSOCIATION_FIELDS = frozenset(Association.model_fields)


def trusted_model(cls: type[Any], data: dict[str, Any], fields_set: set[str]) -> Any:
    """An instance of pydantic model `cls` with `data` as its fields, as validation would have left it. For
    data already proven valid (read back from the store, or checked by the caller); `fields_set` is what
    `model_fields_set` reports (the merge reads it to tell set fields from defaults)."""
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", data)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def trusted_copy(obj: Any, update: dict[str, Any]) -> Any:
    """`obj.model_copy(update=update)` for values already valid, without pydantic's copy machinery."""
    return trusted_model(type(obj), {**obj.__dict__, **update}, obj.__pydantic_fields_set__ | update.keys())


def trusted_provenance(source: str, ref: str | None, at: datetime) -> Provenance:
    # one fields set shared by every instance: Provenance is frozen, so pydantic never adds to it
    return trusted_model(Provenance, {"source": source, "ref": ref, "at": at}, _PROVENANCE_SET)  # type: ignore[no-any-return]


def trusted_product(identifier: str, *, family: str | None, parent: str | None, enabled: bool,
                    categories: list[str], groups: list[str], values: dict[str, Any], source: Provenance | None,
                    provenance: dict[str, Provenance], associations: dict[str, Association]) -> Product:
    data = {"categories": categories, "values": values, "source": source, "provenance": provenance,
            "kind": "product", "identifier": identifier, "family": family, "parent": parent, "enabled": enabled,
            "groups": groups, "associations": associations}
    return trusted_model(Product, {name: data[name] for name in _PRODUCT_FIELDS}, set(_PRODUCT_FIELDS))  # type: ignore[no-any-return]


def blank_product(identifier: str, source: Provenance | None) -> Product:
    """`Product(identifier=identifier, source=source)` (every other field its default, the same fields set)
    without validation and its deep copies of the defaults: the base a merge builds a new product on."""
    data = {"categories": [], "values": {}, "source": source, "provenance": {}, "kind": "product",
            "identifier": identifier, "family": None, "parent": None, "enabled": True, "groups": [], "associations": {}}
    return trusted_model(Product, {name: data[name] for name in _PRODUCT_FIELDS}, {"identifier", "source"})  # type: ignore[no-any-return]


def trusted_association(data: dict[str, Any]) -> Association:
    """An Association from its stored dump (defaults left out), without validation or default deep-copies."""
    fields = {"products": data.get("products", []), "product_models": data.get("product_models", []),
              "groups": data.get("groups", []), "quantities": data.get("quantities", {})}
    return trusted_model(Association, fields, set(data) & _ASSOCIATION_FIELDS)  # type: ignore[no-any-return]


def partial_model(code: str, values: dict[str, Any], source: Provenance, fields: dict[str, Any]) -> ProductModel:
    """A merged source's record for a stored product model: only what the source states (values, and the
    categories or associations it gives). Its family variant, family and parent are the stored model's; the
    merge (pim.merge) takes them from there, so they are left blank here and never written from it. Built
    without per-record validation: importers build thousands, and people's edits of a model use it too."""
    if not 0 < len(code) <= 255:
        raise ValueError("a model code has 1 to 255 characters")
    data = {"categories": fields.get("categories") or [], "values": values, "source": source, "provenance": {},
            "kind": "product_model", "code": code, "family_variant": "", "family": None, "parent": None,
            "associations": fields.get("associations") or {}}
    return trusted_model(ProductModel, {n: data[n] for n in ProductModel.model_fields}, {"code", "values", "source", *fields})  # type: ignore[no-any-return]
