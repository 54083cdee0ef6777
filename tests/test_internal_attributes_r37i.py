"""Round 37, task I (F1): an attribute marked `internal: true` (a purchase price) is kept for staff and never
published: not by the storefront, search documents, channel mappings (Google's fields), nor any customer feed
format, whether the contract names every field or lists it; families may still require it."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pim.catalog import Structure
from pim.cli import _mount, app
from pim.errors import ConfigError
from pim.feeds import build_feed
from pim.store import Store
from pim.structure import Attribute
from tests.feeds_data import out_dir, product, seed_catalog, store_contract

PURCHASE = "198.40"  # the purchase price nobody outside may see
_mount()


def _with_purchase_price(store: Store, **flags: Any) -> Structure:
    """The feeds catalog plus `purchase_price` (internal) in both families, T1..T3 holding one."""
    seed_catalog(store)
    purchase = Attribute(code="purchase_price", type="price_collection", internal=True,
                         labels={"en_US": "Purchase price", "de_DE": "EK-Preis"}, **flags)
    store.put_structure("attribute", [purchase])
    s = store.structure()
    store.put_structure("family", [f.model_copy(update={"attributes": [*f.attributes, "purchase_price"]})
                                   for f in s.families.values()])
    store.upsert_products([product(sku, brand=brand, purchase_price={"EUR": PURCHASE})
                           for sku, brand in (("T1", "acme"), ("T2", "bosch"), ("T3", "makita"))])
    return store.structure()


# ---------------------------------------------------------------------------------------------- the flag
def test_the_flag_is_declarative_false_by_default_and_in_the_structure_schema() -> None:
    schema = json.loads((Path(__file__).parents[1] / "schemas" / "structure.schema.json").read_text())
    attribute = schema["$defs"]["Attribute"]["properties"]
    assert attribute["internal"]["default"] is False
    assert Attribute(code="x", type="text").internal is False
    assert Attribute.model_validate({"code": "x", "type": "text", "internal": True}).internal is True


# ---------------------------------------------------------------------------------------------- customer feeds
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx", "bmecat"])
def test_a_contract_of_every_field_sends_no_internal_attribute(store: Store, tmp_path: Path, fmt: str) -> None:
    _with_purchase_price(store)
    c = store_contract(store, format=fmt, fields=[], assortment={"skus": ["T1", "T2", "T3"]})
    built = build_feed(store, c, out_dir(tmp_path))
    if fmt == "xlsx":
        from openpyxl import load_workbook

        rows = [[str(v) for v in row if v is not None] for row in load_workbook(built.path).active.iter_rows(values_only=True)]
        text = "\n".join(",".join(r) for r in rows)
    else:
        text = built.path.read_text(encoding="utf-8")
    assert built.rows == 3
    assert "purchase_price" not in text and PURCHASE not in text and "EK-Preis" not in text and "Purchase price" not in text
    if fmt == "csv":
        header = next(csv.reader(text.splitlines()))
        assert "brand" in header and "weight" in header  # the other attributes still go
    if fmt == "jsonl":
        first = json.loads(text.splitlines()[0])
        assert "brand" in first["attributes"]


def test_a_contract_listing_an_internal_field_is_refused_when_built(store: Store, tmp_path: Path) -> None:
    """Marked internal after the contract was loaded: the build is refused, nothing written, naming the fix."""
    _with_purchase_price(store)
    c = store_contract(store, format="csv", fields=["label", "purchase_price"], assortment={"skus": ["T1"]})
    with pytest.raises(ConfigError) as refused:
        build_feed(store, c, out_dir(tmp_path))
    said = refused.value.describe()
    assert "purchase_price" in said and "internal" in said and "internal: false" in said
    assert not list(out_dir(tmp_path).rglob("*.csv"))


CONTRACT_YAML = """contracts:
  - code: elmue
    customer: ELMUE
    locale: en_US
    currency: EUR
    channel: b2b
    assortment: {{skus: [T1]}}
    fields: [label, brand, purchase_price]
    format: {fmt}
    delivery: {{portal: true}}
"""


@pytest.mark.parametrize("fmt", ["csv", "bmecat"])
def test_feeds_load_refuses_a_contract_naming_an_internal_field_with_exit_2(store: Store, tmp_path: Path,
                                                                           fmt: str) -> None:
    _with_purchase_price(store)
    (tmp_path / "c.yaml").write_text(CONTRACT_YAML.format(fmt=fmt), encoding="utf-8")
    out = CliRunner().invoke(app, ["feeds", "load", str(tmp_path / "c.yaml"), "--json"])
    assert out.exit_code == 2, out.output
    body = json.loads(out.stdout)
    [problem] = body["problems"]
    assert problem["field"] == "contracts.0.fields" and problem["line"] == 8
    assert "purchase_price" in problem["reason"] and "kept for staff" in problem["reason"]
    from pim.contracts import get_contracts

    assert get_contracts(store) == []


def test_feeds_load_refuses_a_bmecat_option_naming_an_internal_attribute(store: Store, tmp_path: Path) -> None:
    _with_purchase_price(store)
    text = CONTRACT_YAML.format(fmt="bmecat").replace("fields: [label, brand, purchase_price]",
                                                      "bmecat: {gtin_attribute: purchase_price}")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    out = CliRunner().invoke(app, ["feeds", "load", str(tmp_path / "c.yaml"), "--json"])
    assert out.exit_code == 2, out.output
    assert json.loads(out.stdout)["problems"][0]["field"] == "contracts.0.bmecat.gtin_attribute"


def test_a_bmecat_feed_leaves_an_internal_default_slot_out(store: Store, tmp_path: Path) -> None:
    """`ean` is BMEcat's GTIN by default (not named by the contract): internal, it is left out, not refused."""
    _with_purchase_price(store)
    store.put_structure("attribute", [Attribute(code="ean", type="text", internal=True)])
    c = store_contract(store, format="bmecat", fields=[], assortment={"skus": ["T1"]})
    body = build_feed(store, c, out_dir(tmp_path)).path.read_text(encoding="utf-8")
    assert "4006381333931" not in body and "INTERNATIONAL_PID" not in body and "<PRODUCT>" in body


# ---------------------------------------------------------------------------------------------- storefront
def test_the_storefront_document_leaves_internal_attributes_out(store: Store) -> None:
    from channels.localize import ValueResolver
    from channels.storefront import product_document

    s = _with_purchase_price(store)
    doc = product_document(store.get_product("T1"), ValueResolver(store, s), "b2b", "en_US", ["EUR"])
    assert "purchase_price" not in doc["attributes"] and "brand" in doc["attributes"]
    assert doc["prices"] == {"EUR": "10.00"}


def test_the_list_price_is_never_an_internal_collection() -> None:
    """Without a `price` collection the first by sort order is the list price: never an internal one."""
    from channels.declaration import list_price_attribute

    s = Structure(attributes={"purchase_price": Attribute(code="purchase_price", type="price_collection", internal=True),
                              "retail": Attribute(code="retail", type="price_collection", sort_order=5)})
    assert list_price_attribute(s) == "retail"


# ---------------------------------------------------------------------------------------------- search
def test_search_documents_carry_no_internal_attribute_even_filterable_or_searchable(store: Store) -> None:
    from channels.search_documents import DocumentBuilder

    s = _with_purchase_price(store, filterable=True, searchable=True)
    store.put_structure("attribute", [Attribute(code="note", type="text", searchable=True, internal=True),
                                      Attribute(code="color", type="simple_select", filterable=True)])
    s = store.structure()
    b = DocumentBuilder(s, "b2b", customer_key="k")
    assert [a.code for a in b.facet_attrs] == ["color"] and b.text_attrs == []
    docs = b.build("T1", "tool", ["drills"], {**store.get_product("T1").values, "note": "secret", "color": "red"})
    body = json.dumps(docs)
    assert PURCHASE not in body and "secret" not in body and '"color": "Red"' in body


# ---------------------------------------------------------------------------------------------- channel mappings
def _mapper(store: Store, s: Structure, fields: list[dict[str, Any]]) -> Any:
    from channels.declaration import ChannelCatalog
    from channels.field_mapper import FieldMapper
    from channels.localize import ValueResolver

    catalog = ChannelCatalog.model_validate({"code": "google", "renderer": "google_merchant", "fields": fields})
    return FieldMapper(catalog, s, ValueResolver(store, s), "b2b")


@pytest.mark.parametrize("field", [
    {"output": "cost_of_goods_sold", "attribute": "purchase_price"},
    {"output": "price", "attributes": ["price", "purchase_price"]},
    {"output": "custom_label_0", "template": "{{ values.purchase_price }}"},
])
def test_a_channel_mapping_naming_an_internal_attribute_is_refused(store: Store, field: dict[str, Any]) -> None:
    s = _with_purchase_price(store)
    with pytest.raises(ConfigError) as refused:
        _mapper(store, s, [{"output": "title", "attribute": "name"}, field])
    said = refused.value.describe()
    assert "fields[1]" in said and field["output"] in said and "purchase_price" in said and "internal" in said


def test_a_template_reading_every_value_never_sees_an_internal_one(store: Store) -> None:
    s = _with_purchase_price(store)
    mapper = _mapper(store, s, [{"output": "all", "template": "{% for k, v in values.items() %}{{ k }} {% endfor %}"}])
    fields, _ = mapper.map(store.get_product("T1"), "en_US", "EUR")
    assert "brand" in fields["all"] and "purchase_price" not in fields["all"]


# ---------------------------------------------------------------------------------------------- staff
def test_a_family_may_still_require_an_internal_attribute(store: Store) -> None:
    from pim.completeness import stored_completeness

    _with_purchase_price(store)
    s = store.structure()
    tool = s.families["tool"]
    store.put_structure("family", [tool.model_copy(update={"requirements": {"b2b": ["sku", "purchase_price"]}})])
    store.upsert_products([product("T9", purchase_price=None),
                           product("T8", purchase_price={"EUR": PURCHASE, "USD": "211.00"})])
    missing = {r["product"]: (r["ratio"], r["missing"]) for r in stored_completeness(store, "T9") + stored_completeness(store, "T8")
               if r["locale"] == "en_US"}
    assert "purchase_price" in str(missing["T9"][1]) and "purchase_price" not in str(missing["T8"][1])
    assert missing["T9"][0] < missing["T8"][0]
    assert store.get_product("T8").values["purchase_price"]["EUR"] == PURCHASE  # staff still read it


def test_the_attribute_settings_form_sets_and_shows_internal() -> None:
    from pim.web.attribute_form import edited_data, settings_form

    attr = Attribute(code="purchase_price", type="price_collection")
    marked = Attribute.model_validate(edited_data(attr, {"type": "price_collection", "group": "other",
                                                         "index_flags": "shown", "internal": "on"}))
    assert marked.internal is True and settings_form(marked).get("internal") == "on"
    cleared = Attribute.model_validate(edited_data(marked, {"type": "price_collection", "group": "other",
                                                            "index_flags": "shown"}))
    assert cleared.internal is False
