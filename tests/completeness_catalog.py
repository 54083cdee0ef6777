"""A small hand-built catalog for the completeness, quality and gate tests: every rule has an attribute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pim.catalog import Structure
from pim.product import Product, ProductModel, Provenance
from pim.structure import (
    Attribute,
    AttributeOption,
    Category,
    Channel,
    Currency,
    Family,
    FamilyVariant,
    GateRules,
    Locale,
    VariantLevel,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def attributes() -> list[Attribute]:
    return [
        Attribute(code="sku", type="identifier", unique=True),
        Attribute(code="name", type="text", localizable=True),
        Attribute(code="description", type="textarea", localizable=True, scopable=True),
        Attribute(code="weight", type="metric", metric_family="Weight", default_unit="KILOGRAM"),
        Attribute(code="price", type="price_collection"),
        Attribute(code="color", type="simple_select"),
        Attribute(code="waterproof", type="boolean"),
        Attribute(code="pieces", type="number", number_min=0, number_max=100),
        Attribute(code="picture", type="image"),
        Attribute(code="legal_de", type="text", localizable=True, available_locales=["de_DE"]),
        Attribute(code="ean", type="text"),
        Attribute(code="size", type="simple_select"),
    ]


def structure_items(**overrides: Any) -> dict[str, list[Any]]:
    items: dict[str, list[Any]] = {
        "locale": [Locale(code=c) for c in ("en_US", "de_DE", "fr_FR")],
        "currency": [Currency(code=c) for c in ("EUR", "USD")],
        "attribute": attributes(),
        "attribute_option": [AttributeOption(attribute="color", code=c) for c in ("red", "blue")]
        + [AttributeOption(attribute="size", code=c) for c in ("s", "m")],
        "category": [Category(code="master")],
        "channel": [
            Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"], category_tree="master"),
            Channel(code="print", locales=["en_US"], currencies=["EUR"], category_tree="master"),
        ],
        "family": [
            Family(code="shoes", attributes=[a.code for a in attributes()], requirements={
                "ecommerce": ["sku", "name", "description", "weight", "price", "waterproof", "legal_de", "picture"],
                "print": ["name"],
            }),
            Family(code="bags", attributes=["sku", "name", "price"], requirements={"ecommerce": ["name"]}),
        ],
        "family_variant": [FamilyVariant(code="shoes_by_size", family="shoes",
                                         levels=[VariantLevel(axes=["size"], attributes=["size", "ean"])])],
    }
    items.update(overrides)
    return items


def structure(**overrides: Any) -> Structure:
    return Structure.from_items(structure_items(**overrides))


def save(store: Any, **overrides: Any) -> Structure:
    for kind, values in structure_items(**overrides).items():
        store.put_structure(kind, values)
    return store.structure()


def full_values() -> dict[str, Any]:
    """Everything shoes requires on ecommerce and print, filled."""
    return {
        "name:en_US": "Runner", "name:de_DE": "Läufer",
        "description:en_US@ecommerce": "A shoe", "description:de_DE@ecommerce": "Ein Schuh",
        "weight": {"amount": "0.8", "unit": "KILOGRAM"}, "price": {"EUR": "50.00", "USD": "55.00"},
        "waterproof": False, "legal_de": None, "legal_de:de_DE": "Hinweis", "picture": "abc.jpg",
    }


def shoe(identifier: str = "shoe-1", **values: Any) -> Product:
    merged = full_values()
    merged.update(values)
    return Product(identifier=identifier, family="shoes", values={k: v for k, v in merged.items() if k != "legal_de"},
                   source=Provenance(source="erp", at=T0))


def model(code: str = "runner", **values: Any) -> ProductModel:
    return ProductModel(code=code, family_variant="shoes_by_size", family="shoes", values=values)


def gate_channel(**rules: Any) -> Channel:
    return Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"], category_tree="master",
                   gate=GateRules(**rules))
