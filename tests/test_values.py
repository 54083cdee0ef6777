"""One value against its attribute: canonical forms and the reasons a value is refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pim.structure import Attribute, AttributeType
from pim.values import ValueProblem, is_filled, normalize

WEIGHT = Attribute(code="weight", type="metric", metric_family="Weight", default_unit="KILOGRAM", negative_allowed=False)
PRICE = Attribute(code="price", type="price_collection")
WATT = Attribute(code="w", type="number", number_min=0, number_max=100, decimals_allowed=False)


def test_metric_takes_default_unit_and_canonical_amount() -> None:
    assert normalize(WEIGHT, {"amount": "1,50"}) == {"amount": "1.5", "unit": "KILOGRAM"}


def test_negative_metric_is_refused_when_not_allowed() -> None:
    with pytest.raises(ValueProblem, match="negative"):
        normalize(WEIGHT, {"amount": "-1", "unit": "GRAM"})


def test_prices_accept_akeneo_standard_format_and_keep_cents() -> None:
    assert normalize(PRICE, [{"amount": "12.5", "currency": "EUR"}, {"amount": 3, "currency": "USD"}]) == {"EUR": "12.50", "USD": "3.00"}


def test_price_with_bad_currency_is_refused() -> None:
    with pytest.raises(ValueProblem, match="ISO 4217"):
        normalize(PRICE, {"euro": "1"})


def test_number_range_and_decimals() -> None:
    assert normalize(WATT, "42") == 42
    for bad, why in (("4.5", "decimals"), ("101", "maximum"), ("-1", "minimum"), ("abc", "not a number")):
        with pytest.raises(ValueProblem, match=why):
            normalize(WATT, bad)


def test_unknown_option_is_refused_and_case_is_forgiven() -> None:
    color = Attribute(code="color", type="simple_select")
    assert normalize(color, "RED", {"red", "blue"}) == "red"
    with pytest.raises(ValueProblem, match="does not exist"):
        normalize(color, "green", {"red", "blue"})


def test_multi_select_is_sorted_and_deduplicated() -> None:
    m = Attribute(code="m", type="multi_select")
    assert normalize(m, "steel,plastic,steel", {"steel", "plastic"}) == ["plastic", "steel"]


def test_text_limit_and_identifier_rules() -> None:
    name = Attribute(code="name", type="text", max_characters=3)
    with pytest.raises(ValueProblem, match="at most 3"):
        normalize(name, "abcd")
    with pytest.raises(ValueProblem, match="one non-blank line"):
        normalize(Attribute(code="sku", type="identifier"), "a\nb")


def test_booleans_and_dates() -> None:
    flag = Attribute(code="b", type="boolean")
    assert normalize(flag, "0") is False and normalize(flag, "yes") is True
    assert normalize(Attribute(code="d", type="date"), "2024-02-29T10:00:00") == "2024-02-29"
    with pytest.raises(ValueProblem, match="YYYY-MM-DD"):
        normalize(Attribute(code="d", type="date"), "29/02/2024")


def test_filled_follows_akeneo_rules() -> None:
    assert not is_filled(AttributeType.text, "") and not is_filled(AttributeType.multi_select, [])
    assert is_filled(AttributeType.boolean, False) and is_filled(AttributeType.number, 0)
    assert not is_filled(AttributeType.metric, {"amount": "1", "unit": None})
    assert not is_filled(AttributeType.price_collection, {"EUR": "1.00"}, ["EUR", "USD"])
    assert is_filled(AttributeType.price_collection, {"EUR": "1.00", "USD": "2.00"}, ["EUR", "USD"])


@pytest.mark.parametrize(("attribute", "data", "wrong"), [
    (Attribute(code="n", type="number"), "1e30", "too large"),  # a 31-digit int no JSON writer takes
    (Attribute(code="n", type="number"), 1e20, "too large"),
    (Attribute(code="n", type="number", decimals_allowed=True), "1e-400", "more than 30 decimal places"),  # was 0.0
    (WEIGHT, {"amount": "1e999999", "unit": "KILOGRAM"}, "too large"),  # was a million-digit text
    (PRICE, {"EUR": "1e309"}, "too large"),  # failed Decimal.quantize with a traceback
])
def test_numbers_beyond_fifteen_digits_or_thirty_places_are_refused(attribute: Attribute, data: object, wrong: str) -> None:
    """Found by fuzzing the importers: exponents in a cell ("1e309") crashed the import or stored absurd text."""
    with pytest.raises(ValueProblem, match=wrong):
        normalize(attribute, data)


def test_the_largest_and_finest_kept_numbers_still_pass() -> None:
    assert normalize(Attribute(code="n", type="number"), "999999999999999") == 999_999_999_999_999
    assert normalize(WEIGHT, {"amount": "1e-30", "unit": "KILOGRAM"})["amount"] == "0." + "0" * 29 + "1"
    assert normalize(PRICE, {"EUR": "999999999999999.5"}) == {"EUR": "999999999999999.50"}


@given(st.one_of(st.none(), st.text(), st.integers(), st.floats(allow_nan=True), st.booleans(),
                 st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), st.lists(st.text(), max_size=3)))
def test_normalize_never_fails_with_anything_but_a_value_problem(data: object) -> None:
    for attr in (WEIGHT, PRICE, WATT, Attribute(code="d", type="date"), Attribute(code="b", type="boolean"),
                 Attribute(code="m", type="multi_select"), Attribute(code="t", type="text")):
        try:
            normalize(attr, data, {"a"})
        except ValueProblem:
            pass


NAME = Attribute(code="name", type="text", localizable=True)
PICTURE = Attribute(code="picture", type="image")


@pytest.mark.parametrize("attribute", [NAME, PICTURE])
def test_a_nul_character_is_refused_because_no_backend_can_store_it(attribute: Attribute) -> None:
    with pytest.raises(ValueProblem, match="NUL"):
        normalize(attribute, "drill\x00bit.jpg")


@pytest.mark.parametrize("attribute", [NAME, PICTURE])
def test_a_lone_surrogate_is_refused_and_paired_text_is_not(attribute: Attribute) -> None:
    from pim.validation import _text_only

    with pytest.raises(ValueProblem, match="lone surrogate"):
        normalize(attribute, "drill\ud800.jpg")
    assert normalize(attribute, "Bohrer \U0001f527 größe.jpg") == "Bohrer \U0001f527 größe.jpg"  # astral + umlaut
    assert not _text_only("x\udfff") and _text_only("größe") and _text_only("plain")


def test_a_record_with_a_nul_character_is_quarantined_on_both_backends(store) -> None:  # type: ignore[no-untyped-def]
    from pim.importing import Parsed, run_import
    from pim.product import Product
    from pim.structure import Family

    store.put_structure("locale", [])
    store.put_structure("attribute", [Attribute(code="sku", type="identifier"), NAME])
    store.put_structure("family", [Family(code="tools", attributes=["sku", "name"])])
    good = Product(identifier="T-1", family="tools", values={"sku": "T-1", "name:en_US": "Drill"})
    bad = Product(identifier="T-2", family="tools", values={"sku": "T-2", "name:en_US": "Dr\x00ill"})
    counts = run_import(store, "content", [Parsed(good, "c.jsonl", 1), Parsed(bad, "c.jsonl", 2)])
    assert (counts.created, counts.rejected) == (1, 1)
    [entry] = store.quarantined(counts.job_id)
    assert (entry["line"], entry["field"]) == (2, "name:en_US") and "NUL" in entry["reason"]
    assert entry["raw"]["values"]["name:en_US"] == "Dr\\u0000ill"  # kept, with the NUL shown as text


@pytest.mark.parametrize(("value", "refused"), [
    ("images/a.JPG", None), ("https://cdn.example/a.png?w=200#x", None), ("sha256:" + "0" * 64, None),
    ("images/no-extension", None), ("images/a.gif", "extension .gif is not one of jpg, png"),
    ("https://cdn.example/a.tiff?v=.png", "extension .tiff is not one of jpg, png"),
])
def test_an_image_path_must_have_an_allowed_extension(value: str, refused: str | None) -> None:
    """Both ways in: normalize, and the validator's fast path for keys it has seen valid before."""
    from pim.catalog import Structure
    from pim.product import Product
    from pim.validation import RecordValidator

    image = Attribute(code="image", type="image", allowed_extensions=["jpg", "png"])
    if refused:
        with pytest.raises(ValueProblem, match=refused.replace(".", r"\.")):
            normalize(image, value)
    else:
        assert normalize(image, value) == value
    v = RecordValidator(Structure(attributes={"sku": Attribute(code="sku", type="identifier"), "image": image}))
    assert v.check_product(Product(identifier="ok", values={"image": "a.png"})) == []  # the key is now seen valid
    problems = v.check_product(Product(identifier="x", values={"image": value}))
    assert [p.reason for p in problems] == ([refused] if refused else [])
