"""A small real catalog for the feeds tests: structure, products, a model with variants, price lists, stock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pim.commerce import PriceListEntry, StockLevel, put_price_list, put_stock
from pim.contracts import Contract, put_contracts
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

ATTRS = [
    Attribute(code="sku", type="identifier"),
    Attribute(code="name", type="text", localizable=True, labels={"en_US": "Name"}),
    Attribute(code="description", type="textarea", localizable=True),
    Attribute(code="brand", type="simple_select", labels={"en_US": "Brand"}),
    Attribute(code="color", type="simple_select", labels={"en_US": "Color"}),
    Attribute(code="weight", type="metric", metric_family="Weight", default_unit="KILOGRAM", labels={"en_US": "Weight"}),
    Attribute(code="price", type="price_collection"),
    Attribute(code="ean", type="text"),
    Attribute(code="eclass_class", type="text"),
    Attribute(code="pack_size", type="number"),
    Attribute(code="min_order_qty", type="number"),
    Attribute(code="image", type="image"),
    Attribute(code="note", type="text", labels={"en_US": "Note"}),
]
FAMILY_ATTRS = [a.code for a in ATTRS]


def load_structure(store: Store) -> None:
    store.put_structure("locale", [Locale(code="en_US"), Locale(code="de_DE")])
    store.put_structure("currency", [Currency(code="EUR"), Currency(code="USD")])
    store.put_structure("attribute", ATTRS)
    store.put_structure("attribute_option", [
        AttributeOption(attribute="brand", code=b, labels={"en_US": b.title()}) for b in ("acme", "bosch", "makita")
    ] + [AttributeOption(attribute="color", code=c, labels={"en_US": c.title()}) for c in ("red", "blue")])
    store.put_structure("category", [
        Category(code="master"), Category(code="tools", parent="master"), Category(code="drills", parent="tools"),
        Category(code="garden", parent="master"),
    ])
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"], category_tree="master")])
    store.put_structure("family", [
        Family(code="tool", attributes=FAMILY_ATTRS, attribute_as_label="name", attribute_as_image="image"),
        Family(code="plant", attributes=FAMILY_ATTRS, attribute_as_label="name"),
    ])
    store.put_structure("family_variant", [FamilyVariant(code="tool_by_color", family="tool", levels=[VariantLevel(axes=["color"])])])


def product(sku: str, *, family: str = "tool", brand: str = "acme", categories: list[str] | None = None,
            price: str = "10.00", enabled: bool = True, parent: str | None = None, **values: Any) -> Product:
    vals: dict[str, Any] = {"sku": sku, "name:en_US": f"Name of {sku}", "brand": brand, "price": {"EUR": price},
                            "weight": {"amount": "1.5", "unit": "KILOGRAM"}, "ean": "4006381333931",
                            "eclass_class": "27-11-01-01", "pack_size": "10", "min_order_qty": "2",
                            "image": f"img/{sku}.jpg"}
    vals.update(values)
    if parent:
        for k in ("brand", "price"):
            vals.pop(k, None)
    return Product(identifier=sku, family=family, categories=categories or ["drills"], enabled=enabled, parent=parent,
                   values={k: v for k, v in vals.items() if v is not None})


def seed_catalog(store: Store) -> None:
    """T1..T6 tools (acme/bosch/makita), G1..G2 garden plants, V-red/V-blue variants of model M1."""
    load_structure(store)
    store.upsert_models([ProductModel(code="M1", family_variant="tool_by_color", family="tool", categories=["drills"],
                                      values={"brand": "bosch", "price": {"EUR": "99.00"}, "name:en_US": "Drill M1"})])
    store.upsert_products([
        product("T1"), product("T2", brand="bosch"), product("T3", brand="makita"),
        product("T4", brand="bosch", note="=HYPERLINK(\"http://evil\")"),
        product("T5", brand="acme", enabled=False), product("T6", brand="bosch", categories=["tools"]),
        product("G1", family="plant", brand="acme", categories=["garden"]),
        product("G2", family="plant", brand="bosch", categories=["garden"], price="3.50"),
        product("V-red", parent="M1", color="red"), product("V-blue", parent="M1", color="blue"),
    ])


def put_prices(store: Store, customer: str, rows: list[tuple[str, str, str]], *, valid_from: date | None = None,
               valid_to: date | None = None) -> None:
    """rows: (sku, min_qty, price) in EUR."""
    put_price_list(store, [PriceListEntry(customer=customer, sku=s, currency="EUR", min_qty=Decimal(q), price=Decimal(p),
                                          valid_from=valid_from, valid_to=valid_to) for s, q, p in rows])


def put_stocks(store: Store, levels: dict[str, str]) -> None:
    put_stock(store, [StockLevel(sku=s, quantity=Decimal(q), updated_at=datetime(2024, 5, 1, tzinfo=UTC)) for s, q in levels.items()])


def contract(code: str = "acme-tools", customer: str = "cust_a", **over: Any) -> Contract:
    body: dict[str, Any] = {
        "code": code, "customer": customer, "locale": "en_US", "currency": "EUR", "channel": "b2b",
        "assortment": {"rules": [{"categories": ["tools"]}]},
        "fields": ["label", "brand", "weight", "note", "ean", "eclass_class", "pack_size", "min_order_qty", "image", "description", "color"],
        "delivery": {"portal": True},
        "media_base_url": "https://cdn.example.com/r",
    }
    body.update(over)
    return Contract.model_validate(body)


def store_contract(store: Store, **over: Any) -> Contract:
    c = contract(**over)
    put_contracts(store, [c])
    return c


def out_dir(tmp: Path) -> Path:
    d = tmp / "feeds"
    d.mkdir(exist_ok=True)
    return d
