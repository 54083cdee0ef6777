"""A small real structure for the source importer tests: ERP, supplier and content attributes in their
groups, two locales, one channel, and a precedence that makes the ERP and suppliers co-own the weight."""

from __future__ import annotations

from datetime import UTC, datetime

from pim.merge import Precedence
from pim.product import Product, Provenance
from pim.store import Store
from pim.structure import (
    AssociationType,
    Attribute,
    AttributeGroup,
    AttributeOption,
    Category,
    Channel,
    Currency,
    Family,
    Locale,
)

ATTRIBUTES = [
    Attribute(code="sku", type="identifier", group="erp"),
    Attribute(code="ean", type="text", group="erp"),
    Attribute(code="price", type="price_collection", group="erp"),
    Attribute(code="unit_of_measure", type="text", group="erp"),
    Attribute(code="pack_size", type="number", group="erp"),
    Attribute(code="min_order_qty", type="number", group="erp"),
    Attribute(code="lifecycle_status", type="simple_select", group="erp"),
    Attribute(code="weight", type="metric", group="technical", metric_family="Weight", default_unit="KILOGRAM"),
    Attribute(code="material", type="text", group="technical"),
    Attribute(code="name", type="text", group="marketing", localizable=True),
    Attribute(code="description", type="textarea", group="marketing", localizable=True, scopable=True),
    Attribute(code="bullets", type="textarea", group="marketing", localizable=True),
    Attribute(code="seo_title", type="text", group="seo", localizable=True),
    Attribute(code="seo_description", type="textarea", group="seo", localizable=True),
    Attribute(code="image", type="image", group="media"),
    Attribute(code="gallery", type="text", group="media"),
]

PRECEDENCE = Precedence(
    default=["content"],
    groups={"erp": ["erp"], "technical": ["supplier:*", "erp"], "marketing": ["content", "supplier:*"]},
    attributes={"weight": ["erp", "supplier:*"]},
)


def seed_structure(store: Store) -> None:
    store.put_structure("locale", [Locale(code="en_US"), Locale(code="de_DE")])
    store.put_structure("currency", [Currency(code="EUR"), Currency(code="USD")])
    store.put_structure("attribute_group", [AttributeGroup(code=c) for c in
                                            ["erp", "technical", "marketing", "seo", "media"]])
    store.put_structure("attribute", ATTRIBUTES)
    store.put_structure("attribute_option", [AttributeOption(attribute="lifecycle_status", code=c)
                                             for c in ["active", "phase_out", "blocked"]])
    store.put_structure("category", [Category(code="master"), Category(code="tools", parent="master")])
    store.put_structure("channel", [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR"],
                                            category_tree="master")])
    store.put_structure("family", [Family(code="tool", attributes=[a.code for a in ATTRIBUTES]),
                                   Family(code="narrow", attributes=["sku", "ean", "name"])])
    store.put_structure("association_type", [AssociationType(code="accessories")])


def prov(source: str, ref: str = "f:1") -> Provenance:
    return Provenance(source=source, ref=ref, at=datetime(2026, 1, 1, tzinfo=UTC))


def record(source: str, identifier: str, values: dict, **fields) -> Product:
    return Product(identifier=identifier, values=values, source=prov(source), **fields)


def without_unknown_skus(entries: list[dict]) -> list[dict]:
    """Quarantine entries but the warning on price/stock rows naming SKUs no product has (pim.sources.UnknownSkus),
    for tests that import such rows into a catalog without products."""
    return [e for e in entries if not (e["record_key"] or "").startswith("unknown-skus:")]
