"""Round 36, import speed (second pass): the family-variant level guard (pim.variant_levels.LevelGuard.check)
and the GTIN check every imported row gets (pim.quality.gtin_ok, importers.erp_values.bad_gtins) do less work
per record, with the same results. The guard's edge cases (models, sub-models, a product straight under a
two-level root model, variants missing their axis value, clears, parents named or read from the store) and the
GTIN forms are pinned here; the work-count tests fail on the code before the change (no timing is asserted).

tests/data/structure: shirts_color_size keeps name, description and price on the root model, color and
picture on the colour sub-model, size, sku and ean on the variant."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import event

import importers.erp_values as erp_values
import pim.variant_levels as variant_levels
from importers.gtin_check import GtinFields, take_bad
from pim.importing import Parsed
from pim.product import Product, ProductModel, Provenance, partial_model
from pim.quality import gtin_ok, gtin_problem
from pim.store import Store
from pim.validation import RecordValidator
from pim.variant_levels import LevelGuard, Placement, VariantLevels

AT = "2026-01-01T00:00:00Z"
PROV = Provenance(source="erp", ref="erp.csv", at=AT)


@pytest.fixture
def shirts(tiny_store: Store) -> Store:
    """SHIRT (root) → SHIRT-RED (sub-model) → SHIRT-RED-S (variant); SHIRT-DIRECT straight under the root model
    (depth 1 of a two-level family variant: its level is the colour level); LOOSE under no model."""
    tiny_store.upsert_models([ProductModel(code="SHIRT", family_variant="shirts_color_size",
                                           values={"name:en_US": "Shirt", "price": {"EUR": "19.00"}})])
    tiny_store.upsert_models([ProductModel(code="SHIRT-RED", family_variant="shirts_color_size", parent="SHIRT",
                                           values={"color": "red"})])
    tiny_store.upsert_products([
        Product(identifier="SHIRT-RED-S", family="shirts", parent="SHIRT-RED", values={"sku": "SHIRT-RED-S", "size": "s"}),
        Product(identifier="SHIRT-DIRECT", family="shirts", parent="SHIRT", values={"sku": "SHIRT-DIRECT"}),
        Product(identifier="LOOSE", family="shirts", values={"sku": "LOOSE"})])
    return tiny_store


def _partial(ident: str, **values: Any) -> Product:
    """A merged source's record: it does not name its parent (the guard reads the stored product's)."""
    return Product(identifier=ident, values=values, source=PROV)


def _check(store: Store, *records: Product | ProductModel, merged: bool = True) -> dict[str, list[str]]:
    """Run the guard over one chunk; record key → the value keys noted as misplaced."""
    items = [Parsed(r, "erp.csv", n + 2, raw={"row": n}) for n, r in enumerate(records)]
    structure = store.structure()
    guard = LevelGuard(structure)
    guard.check(store, items, "erp", RecordValidator(structure), merged=merged)
    return {(i.record.identifier if isinstance(i.record, Product) else f"model:{i.record.code}"):
            sorted(p.field for p in i.problems) for i in items}


# ---------------------------------------------------------------------------------------------- guard edge cases
def test_each_record_is_held_to_the_level_it_sits_on(shirts: Store) -> None:
    variant = _partial("SHIRT-RED-S", sku="SHIRT-RED-S", size="m", ean="4006381333931", picture="v.jpg",
                       **{"name:en_US": "Red S", "description:en_US@ecommerce": None})
    direct = _partial("SHIRT-DIRECT", color="blue", ean="4006381333931", **{"name:en_US": "Direct"})
    loose = _partial("LOOSE", ean="4006381333931", **{"name:en_US": "Loose"})
    sub = partial_model("SHIRT-RED", {"color": "blue", "size": "m", "name:en_US": "Red"}, PROV, {})
    whole_sub = ProductModel(code="SHIRT-BLUE", family_variant="shirts_color_size", parent="SHIRT",
                             values={"color": "blue", "price": {"EUR": "21.00"}, "picture": "b.jpg"})
    noted = _check(shirts, variant, direct, loose, sub, whole_sub)
    # the variant: the root's name and the sub-model's picture go; its own level and a clear stay
    assert noted["SHIRT-RED-S"] == ["name:en_US", "picture"]
    assert variant.values == {"sku": "SHIRT-RED-S", "size": "m", "ean": "4006381333931",
                              "description:en_US@ecommerce": None}
    # straight under the root model: the colour level's values stay, the variant level's ean and the root's name go
    assert noted["SHIRT-DIRECT"] == ["ean", "name:en_US"]
    assert direct.values == {"color": "blue"}
    assert noted["LOOSE"] == [] and set(loose.values) == {"ean", "name:en_US"}  # under no model: not checked
    # a partial sub-model record (placed as stored) and a whole one (placed as it says)
    assert noted["model:SHIRT-RED"] == ["name:en_US", "size"] and sub.values == {"color": "blue"}
    assert noted["model:SHIRT-BLUE"] == ["price"] and whole_sub.values == {"color": "blue", "picture": "b.jpg"}


def test_a_named_parent_wins_over_the_stored_one(shirts: Store) -> None:
    attached = Product(identifier="LOOSE", parent="SHIRT-RED", values={"name:en_US": "Now a variant"}, source=PROV)
    detached = Product(identifier="SHIRT-RED-S", parent=None, values={"name:en_US": "Alone"}, source=PROV)
    noted = _check(shirts, attached, detached)
    assert noted == {"LOOSE": ["name:en_US"], "SHIRT-RED-S": []}
    assert attached.values == {} and detached.values == {"name:en_US": "Alone"}


def test_a_variant_missing_its_axis_value_keeps_its_levels_values(shirts: Store) -> None:
    # no size: the guard has nothing to say (the axis check notes it), and the record is not emptied
    new = Product(identifier="SHIRT-RED-NEW", family="shirts", parent="SHIRT-RED",
                  values={"sku": "SHIRT-RED-NEW", "ean": "4006381333931"}, source=PROV)
    stored = _partial("SHIRT-RED-S", size=None, ean="4006381333931")
    assert _check(shirts, new, stored) == {"SHIRT-RED-NEW": [], "SHIRT-RED-S": []}
    assert new.values == {"sku": "SHIRT-RED-NEW", "ean": "4006381333931"}
    assert stored.values == {"size": None, "ean": "4006381333931"}


def test_whole_records_are_placed_by_what_they_say_not_by_the_store(shirts: Store) -> None:
    # a catalog file's product record that names no parent hangs under no model: nothing is read for it
    record = Product(identifier="SHIRT-RED-S", family="shirts", values={"name:en_US": "Whole"})
    assert _check(shirts, record, merged=False) == {"SHIRT-RED-S": []}
    assert record.values == {"name:en_US": "Whole"}


@pytest.mark.parametrize("clear", [None, "", [], {}])
def test_each_value_is_judged_not_only_its_key(shirts: Store, clear: Any) -> None:
    """The same key, cleared on one record and given on the next (and the other way round), in one batch and
    over two: a clear is never misplaced, a value always is, whatever was asked before."""
    first = [_partial("SHIRT-RED-S", **{"name:en_US": clear}), _partial("SHIRT-DIRECT", **{"name:en_US": "X"})]
    assert _check(shirts, *first) == {"SHIRT-RED-S": [], "SHIRT-DIRECT": ["name:en_US"]}
    second = [_partial("SHIRT-DIRECT", **{"name:en_US": "Y"}), _partial("SHIRT-RED-S", **{"name:en_US": clear})]
    assert _check(shirts, *second) == {"SHIRT-DIRECT": ["name:en_US"], "SHIRT-RED-S": []}
    levels = VariantLevels(shirts.structure())
    at = Placement("shirts_color_size", 2)
    assert levels.misplaced(at, {"name:en_US": clear}) == []
    assert levels.misplaced(at, {"name:en_US": "Z"}) == ["name:en_US"]
    assert levels.misplaced(at, {"name:en_US": clear}) == []


def test_one_key_is_judged_per_level(shirts: Store) -> None:
    """color belongs to the colour level: on a variant (depth 2) it is misplaced, on a product straight under
    the root model (depth 1) it is not, in either order of asking."""
    for order in (("SHIRT-RED-S", "SHIRT-DIRECT"), ("SHIRT-DIRECT", "SHIRT-RED-S")):
        noted = _check(shirts, *[_partial(sku, color="blue") for sku in order])
        assert noted == {"SHIRT-RED-S": ["color"], "SHIRT-DIRECT": []}
    levels = VariantLevels(shirts.structure())
    assert levels.misplaced(Placement("shirts_color_size", 2), {"color": "red", "sku": "A"}) == ["color"]
    assert levels.misplaced(Placement("shirts_color_size", 1), {"color": "red", "sku": "A"}) == []
    assert levels.misplaced(Placement("shirts_color_size", 5), {"color": "red"}) == ["color"]  # clamped: deepest
    assert levels.misplaced(Placement("nope", 2), {"color": "red"}) == []  # an unknown family variant
    assert levels.misplaced(Placement("shirts_color_size", 2), {"brand": "acme"}) == []  # not placed by it


# ---------------------------------------------------------------------------------------------- guard work counts
def test_the_guard_reads_a_records_fields_at_most_once(shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic's `model_fields_set` property, asked per record and per use, was a third of the guard's time on
    an unchanged re-import: each record's parent is settled once."""
    calls = []
    original = Product.model_fields_set

    def counted(self: Product) -> Any:
        calls.append(self.identifier)
        return original.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Product, "model_fields_set", property(counted))
    records = [_partial("SHIRT-RED-S", **{"name:en_US": "A"}), _partial("LOOSE", ean="4006381333931"),
               _partial("SHIRT-DIRECT", color="red")]
    assert _check(shirts, *records)["SHIRT-RED-S"] == ["name:en_US"]
    assert len(calls) <= len(records)


def test_a_key_is_split_once_per_level(shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's records repeat the same keys: each is looked up once per family variant level, not per record."""
    calls = []
    original = variant_levels.split_key

    def counted(key: str) -> Any:
        calls.append(key)
        return original(key)

    monkeypatch.setattr(variant_levels, "split_key", counted)
    levels = VariantLevels(shirts.structure())
    at = Placement("shirts_color_size", 2)
    for n in range(50):
        assert levels.misplaced(at, {"sku": f"S{n}", "size": "s", "ean": "4006381333931",
                                     "name:en_US": f"N{n}"}) == ["name:en_US"]
    assert len(calls) <= 4


def test_the_guard_runs_no_compiled_statement(shirts: Store) -> None:
    """Its reads (the records' parents, the models not placed yet and their roots) are plain bound-list
    statements: no SQLAlchemy Core select compiled per batch."""
    structure = shirts.structure()
    guard, validator = LevelGuard(structure), RecordValidator(structure)
    records = [_partial("SHIRT-RED-S", **{"name:en_US": "Shirt"}), _partial("LOOSE", ean=None)]
    items = [Parsed(r, "erp.csv", n + 2) for n, r in enumerate(records)]
    compiled = []
    listener = lambda *args, **kwargs: compiled.append(str(args[1]))  # noqa: E731
    event.listen(shirts.engine, "before_execute", listener)
    try:
        guard.check(shirts, items, "erp", validator, merged=True)
    finally:
        event.remove(shirts.engine, "before_execute", listener)
    assert [i.problems for i in items] == [[], []] and records[0].values == {}  # the root's own name: dropped quietly
    # the one Core read left is of the models' values, to tell a restated value from a different one
    assert all("value_map" in statement for statement in compiled), compiled


# ---------------------------------------------------------------------------------------------- GTIN forms
def _gs1(text: str) -> bool:
    """The GS1 rule, digit by digit: 8, 12, 13 or 14 ASCII digits whose last is the check digit (the others,
    from the right, weigh 3, 1, 3…)."""
    if len(text) not in (8, 12, 13, 14) or any(c not in "0123456789" for c in text):
        return False
    body = [int(c) for c in reversed(text[:-1])]
    total = sum(d * (3 if n % 2 == 0 else 1) for n, d in enumerate(body))
    return (10 - total % 10) % 10 == int(text[-1])


def _with_check_digit(body: str) -> str:
    return next(body + str(d) for d in range(10) if _gs1(body + str(d)))


ODD_FORMS = ["４００６３８１３３３９３１", "²006381333931", "٤٠٠٦٣٨١٣٣٣٩٣١", " 4006381333931", "4006381333931 ",
             "4006381333931\n", "+400638133393", "-400638133393", "4006381.33931", "4 006381333931", "", "0", "ean",
             "00000000", "00000000000000", "99999999999999", "4006381333931" * 2, "12345670", "012345678905"]


def _forms() -> list[str]:
    rng = random.Random(36)
    forms = list(ODD_FORMS)
    for length in range(0, 17):
        for _ in range(300):
            forms.append("".join(rng.choice("0123456789") for _ in range(length)))
    for length in (8, 12, 13, 14):  # valid ones, and each with every wrong check digit
        for _ in range(50):
            good = _with_check_digit("".join(rng.choice("0123456789") for _ in range(length - 1)))
            forms.extend(good[:-1] + d for d in "0123456789")
    return forms


def test_gtin_ok_is_the_gs1_rule_for_every_form() -> None:
    forms = _forms()
    assert sum(map(_gs1, forms)) > 200  # valid GTINs of every length are among them
    for text in forms:
        assert gtin_ok(text) == _gs1(text), text
        if text == text.strip():
            assert gtin_ok(text) == (gtin_problem(text) is None), text


@pytest.mark.parametrize("fields", [{"ean": "EAN"}, {"ean": "EAN", "gtin": "GTIN"}])
def test_bad_gtins_answers_as_take_bad_does(fields: GtinFields) -> None:
    rng = random.Random(7)
    forms: list[Any] = [*_forms()[::7], None, 4006381333931, ["4006381333931"], "  "]
    for text in forms:
        values = {"sku": "A", "ean": text, "gtin": rng.choice(forms)}
        expected_values = dict(values)
        expected = take_bad(expected_values, fields)
        found = erp_values.bad_gtins(values, fields)
        assert values == expected_values, text
        assert [field for field, _ in found] == [field for field, _ in expected], text
        assert all(reason.startswith(problem[:40]) for (_, reason), (_, problem) in zip(found, expected)), text


def test_a_row_of_good_or_empty_gtins_is_answered_without_take_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual ERP row: its GTIN checked once, in one call (take_bad's steps only for one that is not good)."""
    calls = []
    monkeypatch.setattr(erp_values, "take_bad", lambda values, fields, checked=None: calls.append(1) or
                        take_bad(values, fields, checked))
    fields = {"ean": "EAN", "gtin": "GTIN"}
    assert erp_values.bad_gtins({"ean": "4006381333931", "gtin": None}, fields) == []
    assert erp_values.bad_gtins({"ean": "12345670"}, fields) == []
    assert calls == []
    values = {"ean": "4006381333932", "gtin": "12345670"}
    found = erp_values.bad_gtins(values, fields)
    assert [field for field, _ in found] == ["EAN"] and values == {"gtin": "12345670"} and calls == [1]
    assert found[0][1].startswith("GTIN 4006381333932 has check digit 2, expected 1")
