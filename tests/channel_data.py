"""A small, real catalog for the channel and web tests: structure, products (one per rule worth breaking),
a product model with variants, and stock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pim.commerce import StockLevel, put_stock
from pim.product import Association, Product, ProductModel, Provenance
from pim.store import Store
from pim.structure import (
    Attribute,
    AttributeGroup,
    AttributeOption,
    AssociationType,
    Category,
    Channel,
    Currency,
    Family,
    FamilyVariant,
    GateRules,
    Locale,
    VariantLevel,
)

ERP = Provenance(source="erp", ref="erp.csv:1", at=datetime(2026, 1, 1, tzinfo=UTC))
VALID_GTIN, BAD_GTIN = "4006381333931", "4006381333932"
#: The products' image and picture: paths under the catalog's media URL convention (base_url/media/<rendition>/
#: <stem>.jpg), so every channel publishes them without a media store. Not upload refs: a well-formed `sha256:`
#: ref names a stored asset that a channel links only behind a public base URL (PIM_CDN_BASE_URL), and a short
#: fake one (`sha256:abc123`) is refused by pim.values.
IMAGE, PICTURE = "runner.jpg", "runner-side.jpg"

ATTRIBUTES = [
    Attribute(code="sku", type="identifier", group="general"),
    Attribute(code="name", type="text", group="general", localizable=True, labels={"en_US": "Name"}),
    Attribute(code="description", type="textarea", group="marketing", localizable=True, scopable=True),
    Attribute(code="price", type="price_collection", group="commerce"),
    Attribute(code="sale_price", type="price_collection", group="commerce"),
    Attribute(code="ean", type="text", group="general", validation_regexp=r"\d{8,14}"),
    Attribute(code="mpn", type="text", group="general"),
    Attribute(code="brand", type="simple_select", group="general"),
    Attribute(code="color", type="simple_select", group="general"),
    Attribute(code="size", type="simple_select", group="general"),
    Attribute(code="weight", type="metric", group="logistics", metric_family="Weight", default_unit="GRAM"),
    Attribute(code="image", type="image", group="media"),
    Attribute(code="picture", type="image", group="media"),
]
FAMILY_ATTRS = [a.code for a in ATTRIBUTES]


def seed_structure(store: Store) -> None:
    store.put_structure("locale", [Locale(code="en_US"), Locale(code="de_DE")])
    store.put_structure("currency", [Currency(code="EUR"), Currency(code="USD")])
    store.put_structure("attribute_group", [AttributeGroup(code=c, sort_order=i) for i, c in
                                            enumerate(["general", "marketing", "commerce", "logistics", "media"])])
    store.put_structure("attribute", ATTRIBUTES)
    store.put_structure("attribute_option", [
        AttributeOption(attribute="brand", code="acme", labels={"en_US": "ACME", "de_DE": "ACME"}),
        AttributeOption(attribute="color", code="red", labels={"en_US": "Red", "de_DE": "Rot"}),
        AttributeOption(attribute="color", code="blue", labels={"en_US": "Blue", "de_DE": "Blau"}),
        AttributeOption(attribute="size", code="m", labels={"en_US": "M", "de_DE": "M"}),
    ])
    store.put_structure("category", [
        Category(code="master", labels={"en_US": "All"}),
        Category(code="shoes", parent="master", labels={"en_US": "Shoes", "de_DE": "Schuhe"}),
        Category(code="sneakers", parent="shoes", labels={"en_US": "Sneakers", "de_DE": "Turnschuhe"}),
    ])
    store.put_structure("channel", [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(min_completeness=100))])
    store.put_structure("family", [Family(
        code="shoes", attributes=FAMILY_ATTRS, attribute_as_label="name", attribute_as_image="image",
        requirements={"ecommerce": ["sku", "name", "description", "price", "image"]})])
    store.put_structure("family_variant", [FamilyVariant(code="shoes_color", family="shoes",
                                                         levels=[VariantLevel(axes=["color"], attributes=["color", "ean"])])])
    store.put_structure("association_type", [AssociationType(code="X_SELL", kind="cross_sell")])


def complete_values(name: str = "Runner", **extra: object) -> dict:
    return {
        "sku": extra.pop("sku", "x"), "name:en_US": name, "name:de_DE": name + " DE",
        "description:en_US@ecommerce": "A fine shoe.", "description:de_DE@ecommerce": "Ein feiner Schuh.",
        "price": {"EUR": "49.90", "USD": "54.00"}, "brand": "acme", "ean": VALID_GTIN, "mpn": "RN-1",
        "weight": {"amount": "850", "unit": "GRAM"}, "image": IMAGE, "picture": PICTURE,
        **extra,
    }


def seed_products(store: Store) -> None:
    seed_structure(store)
    store.upsert_models([ProductModel(code="runner_model", family_variant="shoes_color", family="shoes",
                                      categories=["sneakers"], source=ERP,
                                      values={k: v for k, v in complete_values().items() if k not in ("ean", "sku")})])
    products = [
        Product(identifier="complete", family="shoes", categories=["sneakers"], source=ERP,
                values=complete_values(sku="complete"),
                associations={"X_SELL": Association(products=["bad-gtin"])}),
        Product(identifier="bad-gtin", family="shoes", categories=["shoes"], source=ERP,
                values=complete_values(sku="bad-gtin", ean=BAD_GTIN)),
        Product(identifier="long-title", family="shoes", categories=["shoes"], source=ERP,
                values=complete_values("word " * 40, sku="long-title")),
        Product(identifier="no-description", family="shoes", categories=["shoes"], source=ERP,
                values={k: v for k, v in complete_values(sku="no-description").items() if not k.startswith("description")}),
        Product(identifier="runner-red", family="shoes", parent="runner_model", source=ERP,
                values={"sku": "runner-red", "color": "red", "ean": "96385074"}),
    ]
    store.upsert_products(products)
    put_stock(store, [StockLevel(sku="complete", quantity=Decimal(5), updated_at=ERP.at),
                      StockLevel(sku="runner-red", quantity=Decimal(0), updated_at=ERP.at)])
