"""Stored completeness stays current: product writes, model writes, deletes and structure changes rescore
exactly the affected products inside the same transaction, and the report's counters follow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from pim.completeness import report, stored_completeness
from pim.product import Product
from pim.scoring_tables import COMPLETENESS, COMPLETENESS_COUNT, MISSING_COUNT
from pim.store import Store
from pim.structure import Attribute, Channel
from tests.completeness_catalog import attributes, model, save, shoe, structure_items


def ratios(store: Store, identifier: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
    return {(r["channel"], r["locale"]): (r["ratio"], r["missing"]) for r in stored_completeness(store, identifier)}


def recount(store: Store) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """What the counters should hold, by a scan (the report itself never scans)."""
    c = COMPLETENESS.c
    with store.engine.connect() as conn:
        counts = {(ch, loc, fam): (int(n), int(done)) for ch, loc, fam, n, done in conn.execute(
            select(c.channel, c.locale, c.family, func.count(), func.sum((c.ratio == 100).cast(COMPLETENESS_COUNT.c.products.type)))
            .group_by(c.channel, c.locale, c.family))}
        missing: dict[Any, int] = {}
        for ch, loc, fam, miss in conn.execute(select(c.channel, c.locale, c.family, c.missing)):
            for attr in miss:
                missing[(ch, loc, fam, attr)] = missing.get((ch, loc, fam, attr), 0) + 1
        stored = {(r[0], r[1], r[2]): (r[3], r[4]) for r in conn.execute(select(COMPLETENESS_COUNT)) if r[3]}
        stored_missing = {tuple(r[:4]): r[4] for r in conn.execute(select(MISSING_COUNT)) if r[4]}
    assert stored == counts
    assert stored_missing == missing
    return stored, stored_missing


def test_product_write_stores_completeness_per_channel_and_locale(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a", **{"name:de_DE": None}), shoe("b")])
    assert ratios(store, "a") == {
        ("ecommerce", "de_DE"): (87, ["name"]), ("ecommerce", "en_US"): (100, []), ("print", "en_US"): (100, []),
    }
    recount(store)


def test_changed_product_is_rescored_in_the_same_write(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a", weight=None)])
    assert ratios(store, "a")[("ecommerce", "en_US")] == (85, ["weight"])  # floor(600/7)
    store.upsert_products([shoe("a")])
    assert ratios(store, "a")[("ecommerce", "en_US")] == (100, [])
    recount(store)


def test_deleted_product_leaves_rows_and_counts(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a", weight=None), shoe("b")])
    store.delete_products(["a"])
    assert stored_completeness(store, "a") == []
    _, missing = recount(store)
    assert missing == {}


def test_variant_counts_values_inherited_from_its_model(store: Store) -> None:
    save(store)
    values = shoe().values
    store.upsert_models([model("runner", **{k: v for k, v in values.items() if k != "picture"})])
    store.upsert_products([Product(identifier="runner-s", family="shoes", parent="runner", values={"size": "s"})])
    assert ratios(store, "runner-s")[("ecommerce", "en_US")] == (85, ["picture"])
    store.upsert_models([model("runner", **values)])  # a model write rescores its variants
    assert ratios(store, "runner-s")[("ecommerce", "en_US")] == (100, [])
    recount(store)


def test_family_requirement_change_rescores_its_products_exactly(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a", **{"name:en_US": None}), shoe("b"),
                           Product(identifier="bag", family="bags", values={"name:en_US": "Bag"})])
    before_bag = ratios(store, "bag")
    fam = next(f for f in structure_items()["family"] if f.code == "shoes")
    changed = fam.model_copy(update={"requirements": {**fam.requirements, "print": ["name", "ean"]}})
    store.put_structure("family", [changed])
    # print/en_US now requires sku, name, ean: a misses name and ean → floor(100/3) = 33; b misses ean → 66.
    assert ratios(store, "a")[("print", "en_US")] == (33, ["name", "ean"])
    assert ratios(store, "b")[("print", "en_US")] == (66, ["ean"])
    assert ratios(store, "a")[("ecommerce", "en_US")] == (85, ["name"])  # untouched channel
    assert ratios(store, "bag") == before_bag
    recount(store)


def test_channel_gaining_a_locale_rescores_every_product_on_it(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a")])
    channels = structure_items()["channel"]
    widened = [c.model_copy(update={"locales": ["en_US", "de_DE", "fr_FR"]}) if c.code == "ecommerce" else c for c in channels]
    store.put_structure("channel", widened)
    # fr_FR: sku, weight, price, waterproof, picture are filled; name and description are not: 5/7 → 71.
    assert ratios(store, "a")[("ecommerce", "fr_FR")] == (71, ["name", "description"])
    assert report(store, "ecommerce", "fr_FR").locales[0].model_dump() == {
        "locale": "fr_FR", "products": 1, "complete": 0, "incomplete": 1, "disabled": 0}
    recount(store)


def test_channel_gaining_a_currency_rescores_prices(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a")])
    channels = [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD", "GBP"], category_tree="master")]
    store.put_structure("currency", [c for c in structure_items()["currency"]])
    store.put_structure("channel", channels)
    assert ratios(store, "a")[("ecommerce", "de_DE")] == (87, ["price"])  # 7/8
    recount(store)


def test_attribute_becoming_localizable_rescores_families_requiring_it(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a")])
    weight = next(a for a in attributes() if a.code == "weight")
    store.put_structure("attribute", [weight.model_copy(update={"localizable": True})])
    # The old global value no longer counts: weight:<locale> is now read.
    assert ratios(store, "a")[("ecommerce", "en_US")] == (85, ["weight"])
    recount(store)


def test_deleted_family_removes_its_completeness(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a", weight=None)])
    store.delete_structure("family", "shoes")
    assert stored_completeness(store, "a") == []
    assert recount(store) == ({}, {})


def test_report_todo_names_family_attribute_locale_and_channel(store: Store) -> None:
    save(store)
    store.upsert_products([shoe(f"s{i}", **{"description:de_DE@ecommerce": None}) for i in range(3)] + [shoe("ok")])
    r = report(store, "ecommerce", "de_DE")
    assert r.locales[0].model_dump() == {"locale": "de_DE", "products": 4, "complete": 1, "incomplete": 3, "disabled": 0}
    assert [t.sentence() for t in r.todo] == ["3 products in family shoes miss description (de_DE) for ecommerce"]
    assert report(store, "ecommerce", "en_US").todo == []


def test_structure_listener_ignores_unrelated_attribute_changes(store: Store) -> None:
    save(store)
    store.upsert_products([shoe("a")])
    store.put_structure("attribute", [Attribute(code="pieces", type="number", number_max=5, labels={"en_US": "Pieces"})])
    assert ratios(store, "a")[("ecommerce", "en_US")] == (100, [])
