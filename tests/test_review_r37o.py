"""Round 37 review (task R3, letter o): an internal attribute never leaks through a side door.

A contract's `pricing.list_price_attribute` naming an internal price collection (a purchase price) sent it as
every price-list-less SKU's price; it is refused like a field naming it.

A family whose `attribute_as_label` is marked internal (a supplier's own product name, kept for staff) must not
show that value through Google's `label` template variable: the storefront, search and feeds fall back to the
SKU (pim.published), and Google's templates read the same label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pim.catalog import Structure
from pim.errors import ConfigError
from pim.store import Store
from pim.structure import Attribute
from tests.feeds_data import product, seed_catalog

SECRET = "Lieferantenname XK-77"  # the supplier's internal name nobody outside may see
PURCHASE = "198.40"  # the purchase price nobody outside may see


def _purchase_price(store: Store) -> None:
    """The feeds catalog plus `purchase_price` (internal), T1 holding one."""
    seed_catalog(store)
    store.put_structure("attribute", [Attribute(code="purchase_price", type="price_collection", internal=True)])
    store.upsert_products([product("T1", purchase_price={"EUR": PURCHASE})])


def _internal_label(store: Store) -> Structure:
    """The feeds catalog with every family labelled by `supplier_name`, marked internal, T1 holding one."""
    seed_catalog(store)
    store.put_structure("attribute", [Attribute(code="supplier_name", type="text", internal=True)])
    s = store.structure()
    store.put_structure("family", [f.model_copy(update={"attributes": [*f.attributes, "supplier_name"],
                                                        "attribute_as_label": "supplier_name"})
                                   for f in s.families.values()])
    store.upsert_products([product("T1", supplier_name=SECRET)])
    return store.structure()


def _google(store: Store, s: Structure, fields: list[dict[str, Any]]) -> Any:
    from channels.declaration import ChannelCatalog
    from channels.google_merchant import GoogleFieldMapper
    from channels.localize import ValueResolver

    catalog = ChannelCatalog.model_validate({"code": "google", "renderer": "google_merchant", "fields": fields})
    return GoogleFieldMapper(catalog, s, ValueResolver(store, s), "b2b", profile="google")


def test_google_label_template_variable_never_reads_an_internal_label_attribute(store: Store) -> None:
    s = _internal_label(store)
    mapper = _google(store, s, [{"output": "title", "template": "{{ label or identifier }}"}])
    fields, _ = mapper.map(store.get_product("T1"), "en_US", "EUR")
    assert SECRET not in str(fields)
    assert fields["title"] == "T1"  # as the storefront's label: the SKU names it


def test_the_storefront_label_of_the_same_product_is_its_sku(store: Store) -> None:
    """The rule Google must follow, checked on the storefront so both stay alike."""
    from channels.localize import ValueResolver
    from channels.storefront import product_document

    s = _internal_label(store)
    doc = product_document(store.get_product("T1"), ValueResolver(store, s), "b2b", "en_US", ["EUR"])
    assert doc["label"] == "T1" and SECRET not in str(doc)


def test_a_contract_whose_list_price_is_an_internal_attribute_is_refused_when_built(store: Store,
                                                                                   tmp_path: Path) -> None:
    """`pricing.list_price_attribute: purchase_price` names an internal attribute as the price a customer without
    a price list pays: refused like a field naming it, nothing written, never sent as the feed's price."""
    from pim.feeds import build_feed
    from tests.feeds_data import out_dir, store_contract

    _purchase_price(store)
    c = store_contract(store, format="jsonl", fields=[], assortment={"skus": ["T1"]},
                       pricing={"list_price_attribute": "purchase_price"})
    with pytest.raises(ConfigError) as refused:
        build_feed(store, c, out_dir(tmp_path))
    said = refused.value.describe()
    assert "pricing.list_price_attribute" in said and "purchase_price" in said and "internal: false" in said
    assert not any(PURCHASE in f.read_text(encoding="utf-8") for f in out_dir(tmp_path).rglob("*.jsonl"))


CONTRACT_YAML = """contracts:
  - code: elmue
    customer: ELMUE
    locale: en_US
    currency: EUR
    channel: b2b
    assortment: {skus: [T1]}
    format: jsonl
    pricing: {list_price_attribute: purchase_price}
    delivery: {portal: true}
"""


def test_feeds_load_refuses_an_internal_list_price_attribute_with_exit_2(store: Store, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app
    from pim.contracts import get_contracts

    _mount()
    _purchase_price(store)
    (tmp_path / "c.yaml").write_text(CONTRACT_YAML, encoding="utf-8")
    out = CliRunner().invoke(app, ["feeds", "load", str(tmp_path / "c.yaml"), "--json"])
    assert out.exit_code == 2, out.output
    [problem] = json.loads(out.stdout)["problems"]
    assert problem["field"] == "contracts.0.pricing.list_price_attribute"
    assert "purchase_price" in problem["reason"] and "kept for staff" in problem["reason"]
    assert get_contracts(store) == []


def test_a_contract_with_a_published_list_price_still_sends_it(store: Store, tmp_path: Path) -> None:
    """The check refuses only an internal list price: the default `price` still goes out."""
    from pim.feeds import build_feed
    from tests.feeds_data import out_dir, store_contract

    _purchase_price(store)
    c = store_contract(store, format="jsonl", fields=[], assortment={"skus": ["T1"]})
    row = json.loads(build_feed(store, c, out_dir(tmp_path)).path.read_text(encoding="utf-8").splitlines()[0])
    assert row["price"]["amount"] == "10.00" and PURCHASE not in json.dumps(row)


def test_an_internal_list_price_attribute_under_fallback_exclude_is_not_refused(store: Store, tmp_path: Path) -> None:
    """`fallback: exclude` never reads the list price: nothing of it can be sent, so nothing is refused."""
    from pim.feeds import build_feed
    from tests.feeds_data import out_dir, store_contract

    _purchase_price(store)
    c = store_contract(store, format="jsonl", fields=[], assortment={"skus": ["T1"]},
                       pricing={"list_price_attribute": "purchase_price", "fallback": "exclude"})
    built = build_feed(store, c, out_dir(tmp_path))
    assert PURCHASE not in built.path.read_text(encoding="utf-8")
