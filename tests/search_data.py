"""A small catalog for the search tests: two locales, two currencies, a category tree, a product model with two
colour variants, a simple product whose SKU Meilisearch cannot take as an id, stock and contract prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pim.commerce import PriceListEntry, StockLevel, put_price_list, put_stock
from pim.pipeline import PublishResult, publish
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import (
    Attribute,
    AttributeOption,
    Category,
    Channel,
    Currency,
    Family,
    FamilyVariant,
    Locale,
    VariantLevel,
)

CABLE = "CABLE/1 m"  # '/' and ' ' are not allowed in Meilisearch ids


def load_structure(store: Store) -> None:
    store.put_structure("locale", [Locale(code="en_US"), Locale(code="de_DE")])
    store.put_structure("currency", [Currency(code="EUR"), Currency(code="USD")])
    store.put_structure("attribute", [
        Attribute(code="sku", type="identifier"),
        Attribute(code="name", type="text", localizable=True, sort_order=1),
        Attribute(code="description", type="textarea", localizable=True, scopable=True, sort_order=2),
        Attribute(code="brand", type="simple_select", sort_order=3),
        Attribute(code="color", type="simple_select", filterable=True, sort_order=4),
        Attribute(code="weight", type="metric", metric_family="Weight", default_unit="GRAM", filterable=True, sort_order=5),
        Attribute(code="material", type="text", searchable=True, sort_order=6),
        Attribute(code="price", type="price_collection", sort_order=7),
        Attribute(code="image", type="image", sort_order=8),
    ])
    store.put_structure("attribute_option", [
        AttributeOption(attribute="brand", code="acme", labels={"en_US": "Acme", "de_DE": "Acme"}),
        AttributeOption(attribute="color", code="red", labels={"en_US": "Red", "de_DE": "Rot"}),
        AttributeOption(attribute="color", code="black", labels={"en_US": "Black", "de_DE": "Schwarz"}),
    ])
    store.put_structure("category", [
        Category(code="master", labels={"en_US": "Catalog"}),
        Category(code="audio", parent="master", labels={"en_US": "Audio", "de_DE": "Audio"}),
        Category(code="headphones", parent="audio", labels={"en_US": "Headphones", "de_DE": "Kopfhörer"}),
        Category(code="cables", parent="audio", labels={"en_US": "Cables", "de_DE": "Kabel"}),
    ])
    store.put_structure("channel", [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master")])
    members = ["sku", "name", "description", "brand", "color", "weight", "material", "price", "image"]
    store.put_structure("family", [
        Family(code="headphones", attributes=members, attribute_as_label="name", attribute_as_image="image",
               labels={"en_US": "Headphones", "de_DE": "Kopfhörer"}, requirements={"ecommerce": ["sku", "name"]}),
        Family(code="cables", attributes=members, attribute_as_label="name", requirements={"ecommerce": ["sku", "name"]}),
    ])
    store.put_structure("family_variant", [FamilyVariant(code="hp_by_color", family="headphones",
                                                         levels=[VariantLevel(axes=["color"], attributes=["color", "sku", "image"])])])


def model() -> ProductModel:
    return ProductModel(code="HP-100", family_variant="hp_by_color", family="headphones", categories=["headphones"], values={
        "name:en_US": "Studio headphones", "name:de_DE": "Studiokopfhörer",
        "description:en_US@ecommerce": "Closed back", "description:de_DE@ecommerce": "Geschlossen",
        "brand": "acme", "material": "leather", "weight": {"amount": "250", "unit": "GRAM"},
        "price": {"EUR": "99.00", "USD": "109.00"},
    })


def variant(sku: str, color: str, **extra: Any) -> Product:
    return Product(identifier=sku, family="headphones", parent="HP-100",
                   values={"color": color, "image": f"img/{sku}.jpg", **extra})


def cable(**values: Any) -> Product:
    return Product(identifier=CABLE, family="cables", categories=["cables"], values={
        "name:en_US": "Cable", "name:de_DE": "Kabel", "price": {"EUR": "5.00", "USD": "6.00"}, **values})


def load_catalog(store: Store) -> None:
    load_structure(store)
    store.upsert_models([model()])
    store.upsert_products([variant("HP-100-RED", "red"), variant("HP-100-BLK", "black"), cable()])
    stamp = datetime.now(UTC)
    put_stock(store, [StockLevel(sku="HP-100-RED", quantity=Decimal(3), updated_at=stamp),
                      StockLevel(sku="HP-100-BLK", quantity=Decimal(0), updated_at=stamp)])
    put_price_list(store, [PriceListEntry(customer="acme-gmbh", sku="HP-100-RED", currency="EUR", price=Decimal("80")),
                           PriceListEntry(customer="acme-gmbh", sku=CABLE, currency="EUR", price=Decimal("4")),
                           PriceListEntry(customer="globex", sku="HP-100-BLK", currency="EUR", price=Decimal("85"))])


def publish_search(store: Store, out: Path, *, full: bool = False, exporter: str = "meilisearch", **options: Any) -> PublishResult:
    return publish(store, out, channel="search", scope="ecommerce", exporter=exporter, full=full, options=options)
