"""The import's shortcuts never change a result: canonical lines built without pydantic equal the validated
records, unusual lines still get pydantic's checks, the direct content hash equals the model-dump hash, the
validator's per-family shortcut gives the same problems, and listeners get the batch's records only when they
ask for them."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pim.catalog import Structure
from pim.jsonl import canonical_record
from pim.product import Product, ProductModel, Provenance
from pim.structure import Attribute, AttributeType, Family
from pim.validation import RecordValidator

AT = "2024-05-01T10:00:00Z"
CANONICAL = [
    {"identifier": "P-1", "family": "tools", "values": {"name:en_US": "Hammer"}},
    {"identifier": "P-2", "kind": "product", "enabled": False, "groups": ["g"], "categories": ["a", "b"],
     "parent": "M-1", "source": {"source": "erp", "ref": "x.csv:2", "at": AT},
     "provenance": {"name:en_US": {"source": "content", "at": AT}},
     "associations": {"X_SELL": {"products": ["P-1"], "quantities": {"P-1": 2}}}},
    {"kind": "product_model", "code": "M-1", "family_variant": "tools_by_size", "family": "tools",
     "values": {"size": "xl"}, "associations": {"UPSELL": {"product_models": ["M-2"]}}},
]
UNUSUAL = [
    {"identifier": "P-3", "enabled": "yes"},
    {"identifier": "P-4", "family": "bad family"},
    {"identifier": "", "values": {}},
    {"identifier": "P-5", "categories": "tools"},
    {"identifier": "P-6", "source": {"source": "erp", "at": "yesterday"}},
    {"identifier": "P-7", "unknown_field": 1},
    {"kind": "product_model", "code": "M-9"},
    {"identifier": "P-8", "associations": {"X_SELL": {"products": "P-1"}}},
]


def _validated(data: dict[str, Any]) -> Product | ProductModel:
    return (ProductModel if data.get("kind") == "product_model" else Product).model_validate(data)


@pytest.mark.parametrize("data", CANONICAL)
def test_canonical_line_builds_the_same_record_as_pydantic(data: dict[str, Any]) -> None:
    fast = canonical_record(orjson.loads(orjson.dumps(data)))
    slow = _validated(data)
    assert fast == slow
    assert fast is not None and fast.model_dump(mode="json") == slow.model_dump(mode="json")
    assert fast.model_fields_set == slow.model_fields_set
    assert list(fast.__dict__) == list(slow.__dict__)


@pytest.mark.parametrize("data", UNUSUAL)
def test_unusual_line_is_left_to_pydantic(data: dict[str, Any]) -> None:
    assert canonical_record(data) is None


def _dump_hash(record: Product) -> str:
    body = record.model_dump(mode="json", exclude={"source", "provenance"})
    body["~sources"] = [record.source.source if record.source else None,
                        sorted((k, p.source) for k, p in record.provenance.items())]
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@pytest.mark.parametrize("values", [
    {"name:en_US": "Hammer", "weight": {"amount": "1.5", "unit": "KILOGRAM"}, "tags": ["a", "b"], "n": 3},
    {"price": Decimal("9.90"), "day": date(2024, 1, 2)},
    {"codes": {"b", "a"}},
])
def test_content_hash_equals_the_model_dump_hash(values: dict[str, Any]) -> None:
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    record = Product(identifier="P-1", family="tools", values=values,
                     source=Provenance(source="erp", at=stamp),
                     provenance={"n": Provenance(source="content", at=stamp)},
                     associations={"X_SELL": {"products": ["P-2"]}})
    assert record.content_hash() == _dump_hash(record)


def _structure() -> Structure:
    attrs = {"sku": Attribute(code="sku", type=AttributeType.identifier),
             "name": Attribute(code="name", type=AttributeType.text, localizable=True),
             "brand": Attribute(code="brand", type=AttributeType.simple_select),
             "notes": Attribute(code="notes", type=AttributeType.text)}
    return Structure(attributes=attrs, options={"brand": ["acme"]},
                     families={"tools": Family(code="tools", attributes=["sku", "name", "brand"])})


def test_family_shortcut_reports_what_the_full_check_reports() -> None:
    validator = RecordValidator(_structure())
    good = Product(identifier="P-1", family="tools", values={"sku": "P-1", "name:en_US": "x", "brand": "acme"})
    assert validator.check_product(good) == []  # now every key is known valid for the family
    bad = Product(identifier="P-2", family="tools",
                  values={"sku": "P-2", "name:en_US": "", "brand": "other", "notes": "n", "name": "y"})
    shortcut, full = bad.model_copy(deep=True), bad.model_copy(deep=True)
    problems = validator.check_product(shortcut)
    assert problems == RecordValidator(_structure()).check_product(full)
    assert [p.field for p in problems] == ["brand", "name", "notes"]  # the family's one problem comes last
    assert shortcut.values == full.values  # the empty text normalised the same way on both paths


def test_listener_gets_the_written_records_only_when_it_asks(store: Any) -> None:
    calls: list[tuple[str, list[str], Any]] = []

    def plain(conn: Any, identifiers: list[str]) -> None:
        calls.append(("plain", identifiers, None))

    def with_records(conn: Any, identifiers: list[str], records: Any = None) -> None:
        calls.append(("records", identifiers, records))

    store.listeners[:] = [plain, with_records]
    product = Product(identifier="P-1", values={"name": "x"})
    store.upsert_products([product])
    assert calls[0] == ("plain", ["P-1"], None)
    assert calls[1][:2] == ("records", ["P-1"]) and calls[1][2]["P-1"].values == {"name": "x"}
    calls.clear()
    store.notify_products(["P-1"])
    assert calls == [("plain", ["P-1"], None), ("records", ["P-1"], None)]


def test_listener_gets_the_stored_state_before_a_merge_write(store: Any) -> None:
    from pim.merge import Merger

    seen: list[Any] = []

    def with_before(conn: Any, identifiers: list[str], before: Any = None, deltas: Any = None) -> None:
        seen.append((sorted(identifiers), before, deltas))

    store.upsert_products([Product(identifier="P-1", values={"name": "x", "ean": "1"})])
    store.listeners[:] = [with_before]
    store.upsert_products([Product(identifier="P-1", values={"name": "y", "ean": "1"})])
    assert seen == [(["P-1"], None, None)]  # a plain write does not know the old state: assume a change
    seen.clear()
    merger = Merger().bind(store.structure())
    merger.write(store, [Product(identifier="P-1", values={"name": "z"}, source=Provenance(source="content", at=datetime.now(UTC))),
                         Product(identifier="P-2", values={"name": "n"}, source=Provenance(source="content", at=datetime.now(UTC)))])
    [(ids, before, deltas)] = seen
    assert ids == ["P-1", "P-2"]
    assert before == {"P-2": None}  # new: written whole
    delta = deltas["P-1"]  # stored: rewritten from the keys the record touched, which is all the delta holds
    assert delta.before.values == {"name": "y"} and delta.after.values == {"name": "z"}
    assert delta.after.provenance["name"].source == "content"
    assert delta.sources == (frozenset(), frozenset({"content"}))  # over the whole product, not just the delta
    assert store.get_product("P-1").values == {"name": "z", "ean": "1"}  # the untouched key is kept


def test_raw_write_reads_back_exactly(store: Any) -> None:
    stamp = datetime(2024, 1, 1, 12, 30, tzinfo=UTC)
    product = Product(identifier="P-1", family=None, enabled=False, groups=["g"], categories=["c"],
                      values={"name": "x", "w": {"amount": "1.5", "unit": "KILOGRAM"}},
                      source=Provenance(source="erp", ref="a:1", at=stamp),
                      provenance={"name": Provenance(source="content", at=stamp)},
                      associations={"X_SELL": {"products": ["P-2"], "quantities": {"P-2": 3}}})
    assert store.upsert_products([product]).created == 1
    assert store.get_product("P-1") == product
    assert store.upsert_products([product]).unchanged == 1
    model = ProductModel(code="M-1", family_variant="fv", values={"a": 1}, source=Provenance(source="erp", at=stamp))
    assert store.upsert_models([model]).created == 1
    assert store.get_model("M-1") == model


def test_trusted_construction_equals_validation() -> None:
    from pim.product import Association, trusted_product, trusted_provenance

    stamp = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
    prov = trusted_provenance("erp", "erp.csv:7", stamp)
    checked_prov = Provenance(source="erp", ref="erp.csv:7", at=stamp)
    assert prov == checked_prov and prov.model_dump() == checked_prov.model_dump()
    assert prov.model_fields_set == checked_prov.model_fields_set and hash(prov) == hash(checked_prov)
    fields: dict[str, Any] = dict(
        family="tools", parent="M-1", enabled=False, categories=["c"], groups=["g"],
        values={"name:en_US": "Hammer", "weight": {"amount": "1.5", "unit": "KILOGRAM"}}, source=prov,
        provenance={"name:en_US": trusted_provenance("content", None, stamp)},
        associations={"X_SELL": Association(products=["P-2"])},
    )
    product = trusted_product("P-1", **fields)
    checked = Product(identifier="P-1", **fields)
    assert product == checked and product.model_dump() == checked.model_dump()
    assert product.content_hash() == checked.content_hash()
    assert product.model_copy(update={"family": "x"}).family == "x" and product.family == "tools"
    with pytest.raises(Exception):
        prov.source = "other"  # type: ignore[misc]  # still frozen
    from pim.product import trusted_association

    for dump in ({}, {"products": ["P-2"], "quantities": {"P-2": 3}}, {"product_models": ["M"], "groups": ["g"]}):
        a, checked_a = trusted_association(dump), Association.model_validate(dump)
        assert a == checked_a and a.model_dump(exclude_defaults=True) == dump and a.model_fields_set == checked_a.model_fields_set
        a.products.append("X")
        assert Association().products == []  # no shared mutable default


def test_blank_product_equals_a_validated_one() -> None:
    from pim.product import blank_product, trusted_provenance

    prov = trusted_provenance("erp", None, datetime(2025, 6, 1, tzinfo=UTC))
    blank, checked = blank_product("P-9", prov), Product(identifier="P-9", source=prov)
    assert blank == checked and blank.model_dump() == checked.model_dump()
    assert blank.model_fields_set == checked.model_fields_set and blank.content_hash() == checked.content_hash()
    blank.values["x"] = 1
    blank.categories.append("c")
    assert blank_product("P-10", None).values == {} and blank_product("P-10", None).categories == []  # no sharing
