from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from channels.framework import ChannelCatalog, FieldMap, FieldMapper, catalog_for, convert, load_catalog
from channels.localize import ValueResolver
from pim.errors import ConfigError, InputError
from pim.pipeline import publish
from pim.store import Store
from tests.channel_data import seed_products


def test_metric_converts_within_its_family() -> None:
    assert convert("850", "GRAM", "KILOGRAM") == Decimal("0.85")
    assert convert("1", "POUND", "GRAM") == Decimal("453.592")
    with pytest.raises(ConfigError, match="cannot convert GRAM to METER"):
        convert("1", "GRAM", "METER")


def test_builtin_declarations_load() -> None:
    assert catalog_for("google_merchant", {}).field("title").max_length == 150
    assert catalog_for("storefront", {}).renderer == "storefront"


def test_bad_declaration_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text("code: feed\nrenderer: google_merchant\nfields:\n  - output: title\n    max_length: -3\n")
    with pytest.raises(InputError) as err:
        load_catalog(path)
    assert err.value.line == 5
    assert err.value.field == "fields.0.max_length"
    assert str(path) in err.value.describe()


def test_mapping_picks_locale_currency_unit_and_template(store: Store) -> None:
    seed_products(store)
    s = store.structure()
    catalog = ChannelCatalog(code="t", renderer="storefront", fields=[
        FieldMap(output="title", template="{{ values.brand }} – {{ values.name }} ({{ values.color or 'n/a' }})"),
        FieldMap(output="name_de", attribute="name", locale="de_DE"),
        FieldMap(output="usd", attribute="price", currency="USD"),
        FieldMap(output="kg", attribute="weight", unit="KILOGRAM"),
        FieldMap(output="mpn", attribute="mpn", max_length=2, on_overflow="truncate"),
        FieldMap(output="missing", attribute="sale_price", required=True),
    ])
    mapper = FieldMapper(catalog, s, ValueResolver(store, s), "ecommerce")
    out, reasons = mapper.map(store.get_product("complete"), "en_US", "EUR")
    assert out["title"] == "ACME – Runner (n/a)"
    assert out["name_de"] == "Runner DE"
    assert out["usd"] == {"amount": "54.00", "currency": "USD"}
    assert out["kg"] == {"amount": "0.85", "unit": "KILOGRAM"}
    assert out["mpn"] == "RN"
    assert reasons == ["missing:missing"]


def test_templates_are_sandboxed(store: Store) -> None:
    seed_products(store)
    s = store.structure()
    catalog = ChannelCatalog(code="t", renderer="storefront",
                             fields=[FieldMap(output="x", template="{{ identifier.__class__.__mro__ }}")])
    mapper = FieldMapper(catalog, s, ValueResolver(store, s), "ecommerce")
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        mapper.map(store.get_product("complete"), "en_US", "EUR")


def test_storefront_keeps_its_shape_and_adds_mapped_fields_and_related(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    path = next(l for l in result.locations if l.endswith("en_US.json"))
    doc = orjson.loads(Path(path).read_bytes())
    assert doc["category_tree"]["children"][0]["code"] == "shoes"
    product = next(p for p in doc["products"] if p["identifier"] == "complete")
    assert product["label"] == "Runner"
    assert product["prices"] == {"EUR": "49.90", "USD": "54.00"}
    assert product["fields"]["weight_kg"] == {"amount": "0.85", "unit": "KILOGRAM"}
    assert product["related"] == {"cross_sell": ["bad-gtin"]}
