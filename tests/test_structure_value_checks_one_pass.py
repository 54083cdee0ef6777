"""A structure load checks all its changed attributes' stored values in one streamed pass over each holding
table (pim.attribute_usage.held_values_of, pim.attribute_changes.stored_problems_of), and each attribute's
problem is the one a pass of its own gives: codes that are prefixes of each other (size, size_eu; name, name2)
are not confused, and localized and scoped keys belong to their attribute. Runs on both store backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from pim import attribute_usage
from pim.attribute_changes import stored_problems, stored_problems_of
from pim.attribute_usage import held_values, held_values_of
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import Attribute
from pim.structure_files import StructureErrors, load_structure_files
from tests.channel_data import ERP, seed_structure

LONG_SIZE = [f"p{i}" for i in range(1, 8)]  # more rows than EXAMPLES, so the "…" of one check shows


def _seed(store: Store) -> None:
    """Attributes whose codes start other codes, and rows holding values of each in several keys."""
    seed_structure(store)  # channel ecommerce, locales en_US and de_DE; name is localizable
    store.put_structure("attribute", [
        Attribute(code="size", type="text", group="general"),
        Attribute(code="size_eu", type="text", group="general"),
        Attribute(code="name2", type="text", group="general"),
        Attribute(code="title", type="text", group="general", localizable=True, scopable=True),
    ])
    products = []
    for row in LONG_SIZE:
        values = {"sku": row, "size": "XXXL", "size_eu": "42", "name:en_US": "Runner", "name:de_DE": "Läufer",
                  "title:en_US@ecommerce": "Short"}
        if row == "p2":
            values["name2"] = "second name"
        if row == "p3":
            values["size_eu"] = "4242"
        if row == "p4":
            values |= {"name:en_US": "Runner extra long", "name:de_DE": "Läufer extra lang"}
        if row == "p5":
            values["title:en_US@ecommerce"] = "A title too long"
        products.append(Product(identifier=row, family="shoes", source=ERP, values=values))
    products.append(Product(identifier="q1", family="shoes", source=ERP, values={"sku": "q1", "size_eu": "43"}))
    store.upsert_products(products)
    store.upsert_models([ProductModel(code="m1", family="shoes", family_variant="shoes_color", source=ERP,
                                      values={"size": "XXXL", "name2": "model name", "name:en_US": "Model"})])


CHANGES = {  # one attribute each, as a structure file declares it
    "size": "  - code: size\n    type: text\n    group: general\n    max_characters: 3\n",
    "size_eu": "  - code: size_eu\n    type: text\n    group: general\n    max_characters: 3\n",
    "name": "  - code: name\n    type: text\n    group: general\n    localizable: true\n    max_characters: 10\n",
    "name2": "  - code: name2\n    type: text\n    group: general\n    localizable: true\n",
    "title": ("  - code: title\n    type: text\n    group: general\n    localizable: true\n    scopable: true\n"
              "    max_characters: 10\n"),
}


def _reasons(store: Store, tmp_path: Path, codes: list[str]) -> list[str]:
    path = tmp_path / f"{'-'.join(codes)}.yaml"
    path.write_text("attributes:\n" + "".join(CHANGES[c] for c in codes), encoding="utf-8")
    with pytest.raises(StructureErrors) as err:
        load_structure_files(path, store.structure(), store)
    return [p.reason for p in err.value.problems]


@contextmanager
def _value_passes(store: Store) -> Iterator[list[str]]:
    """The SQL statements that expand rows' values (a pass over a holding table), as they run."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "_each(t.value_map)" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_a_load_of_several_attributes_gives_each_the_problem_of_its_own_pass(store: Store, tmp_path: Path) -> None:
    _seed(store)
    alone = [reason for code in CHANGES for reason in _reasons(store, tmp_path, [code])]
    with _value_passes(store) as passes:
        together = _reasons(store, tmp_path, list(CHANGES))
    assert together == alone
    assert len(passes) == 2  # one per holding table for the five attributes, where each alone made two
    assert {"FROM product t" in passes[0], "FROM product_model t" in passes[1]} == {True}
    too_long = ", 4 characters, at most 3 allowed"
    assert together[0].startswith(  # seven products, then the model; five examples, then "…"
        "size changes, but 7 products hold a value it would refuse ("
        + "; ".join(f'p{i}: size = "XXXL"{too_long}' for i in range(1, 6)) + "; …); declare a new attribute")
    assert together[1].startswith("size changes, but 1 product model holds a value it would refuse (m1: size = ")
    assert together[2].startswith("size_eu changes, but 1 product holds a value it would refuse (p3: size_eu = \"4242\", ")
    assert together[3].startswith('name changes, but 1 product holds a value it would refuse (p4: name:de_DE = "Läufer')
    assert not any(r.startswith("name changes") and ("p2" in r or "m1" in r) for r in together)  # name2's rows
    name2 = [r for r in together if r.startswith("name2 changes")]
    assert len(name2) == 2 and "(p2: name2 = \"second name\", keyed wrong now: 'name2' is localizable" in name2[0]
    assert "(m1: name2 = \"model name\", keyed wrong now" in name2[1]
    assert together[-1].startswith("title changes, but 1 product holds a value it would refuse "
                                   "(p5: title:en_US@ecommerce = \"A title too long\", ")
    assert len(together) == 7


def test_the_single_attribute_check_is_the_same_pass_with_one_attribute(store: Store) -> None:
    _seed(store)
    s = store.structure()
    old = s.attributes["size_eu"]
    new = old.model_copy(update={"max_characters": 3})
    with _value_passes(store) as passes:
        single = stored_problems(store, s, old, new)
    assert single == ['1 product holds a value it would refuse (p3: size_eu = "4242", 4 characters, at most 3 allowed)']
    assert len(passes) == 2
    # the why of each check decides alone, and a check of the same attribute twice keeps two tallies
    never, always = (lambda key, data: None), (lambda key, data: f"says {key}")
    both = stored_problems_of(store, [("size", never), ("size", always), ("name2", always)])
    assert both[0] == []
    assert both[1] == [("7 products hold a value it would refuse ("
                        + "; ".join(f'p{i}: size = "XXXL", says size' for i in range(1, 6)) + "; …)"),
                       '1 product model holds a value it would refuse (m1: size = "XXXL", says size)']
    assert both[2] == ['1 product holds a value it would refuse (p2: name2 = "second name", says name2)',
                       '1 product model holds a value it would refuse (m1: name2 = "model name", says name2)']
    assert stored_problems_of(store, []) == []


def _decoded(store: Store, table: str) -> dict[str, dict]:
    key = attribute_usage.HOLDERS[table]
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {key}, value_map FROM {table}").all()
    return {str(k): v if isinstance(v, dict) else json.loads(v) for k, v in rows}


@pytest.mark.parametrize("prefilter_max", [4, 0])
def test_held_values_of_matches_keys_exactly_with_or_without_the_prefilter(
        store: Store, monkeypatch: pytest.MonkeyPatch, prefilter_max: int) -> None:
    _seed(store)
    store.upsert_products([Product(identifier="odd", source=ERP, values={
        "sku": "odd", "SIZE": "upper", "sizes": "plural", "size_eu:en_US": "localized", "size@ecommerce": "scoped",
        "name2:de_DE@ecommerce": "both", "name": None, "title:en_US@ecommerce": {"a": [1, True]}})])
    monkeypatch.setattr(attribute_usage, "PREFILTER_MAX", prefilter_max)  # read at call time
    asked = ["size", "name", "title", "size_eu"]
    for table in attribute_usage.HOLDERS:
        with _value_passes(store) as passes, store.engine.connect() as conn:
            held = list(held_values_of(conn, table, asked))
        assert len(passes) == 1 and ("LIKE" in passes[0]) is (prefilter_max > 0)
        expected = {(row, key.split(":")[0].split("@")[0], key, json.dumps(value, sort_keys=True))
                    for row, values in _decoded(store, table).items() for key, value in values.items()
                    if value is not None and key.split(":")[0].split("@")[0] in asked}
        assert {(r, a, k, json.dumps(v, sort_keys=True)) for r, a, k, v in held} == expected
        assert expected  # both tables hold some
        rows = [r for r, *_ in held]
        assert all(rows.index(r) == i or rows[i - 1] == r for i, r in enumerate(rows))  # each row's values together
    with store.engine.connect() as conn:
        odd = {(a, k) for r, a, k, _ in held_values_of(conn, "product", asked) if r == "odd"}
        assert odd == {("size", "size@ecommerce"), ("size_eu", "size_eu:en_US"), ("title", "title:en_US@ecommerce")}
        assert [k for r, k, _ in held_values(conn, "product", "size") if r == "odd"] == ["size@ecommerce"]
        assert list(held_values_of(conn, "product", [])) == []
