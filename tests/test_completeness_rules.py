"""Akeneo's completeness rules on hand-built products (pure scoring, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from pim.completeness import Requirements, ratio
from pim.product import Product
from pim.structure import Family
from tests.completeness_catalog import shoe, structure


def scores(product: Product, **kw: Any) -> dict[tuple[str, str], Any]:
    reqs = Requirements(structure())
    return {(s.channel, s.locale): s for s in reqs.score(product.family, product.values, product.identifier, **kw)}


def test_fully_filled_product_is_complete_everywhere() -> None:
    result = scores(shoe())
    assert {k: (s.ratio, s.required, s.missing) for k, s in result.items()} == {
        ("ecommerce", "en_US"): (100, 7, ()),
        ("ecommerce", "de_DE"): (100, 8, ()),
        ("print", "en_US"): (100, 2, ()),
    }


def test_identifier_is_always_required_even_when_the_family_omits_it() -> None:
    # print requires only `name`, yet 2 attributes are required: the identifier too.
    s = scores(shoe())[("print", "en_US")]
    assert s.required == 2
    reqs = Requirements(structure())
    assert reqs.required_codes("shoes", "print") == ["sku", "name"]


def test_identifier_is_filled_by_the_product_identifier() -> None:
    assert "sku" not in scores(shoe(sku=None))[("print", "en_US")].missing


def test_localizable_attribute_is_required_on_each_channel_locale() -> None:
    result = scores(shoe(**{"name:de_DE": None}))
    assert result[("ecommerce", "de_DE")].missing == ("name",)
    assert result[("ecommerce", "en_US")].missing == ()


def test_locale_specific_attribute_is_required_only_on_its_locales() -> None:
    result = scores(shoe(**{"legal_de:de_DE": ""}))
    assert result[("ecommerce", "de_DE")].missing == ("legal_de",)
    assert result[("ecommerce", "en_US")].required == 7  # legal_de does not apply to en_US
    assert result[("ecommerce", "en_US")].missing == ()


def test_scopable_value_counts_for_its_channel_only() -> None:
    product = shoe(**{"description:en_US@ecommerce": None, "description:en_US@print": "Print text"})
    assert scores(product)[("ecommerce", "en_US")].missing == ("description",)


@pytest.mark.parametrize("empty", [None, "", []])
def test_null_empty_string_and_empty_list_are_missing(empty: Any) -> None:
    assert scores(shoe(picture=empty))[("ecommerce", "en_US")].missing == ("picture",)


@pytest.mark.parametrize("value", [False, 0])
def test_false_and_zero_are_filled(value: Any) -> None:
    assert "waterproof" not in scores(shoe(waterproof=value))[("ecommerce", "en_US")].missing


@pytest.mark.parametrize("metric", [{"amount": "0.8", "unit": ""}, {"amount": None, "unit": "KILOGRAM"}, {"unit": "GRAM"}])
def test_metric_needs_amount_and_unit(metric: dict[str, Any]) -> None:
    assert scores(shoe(weight=metric))[("ecommerce", "en_US")].missing == ("weight",)


def test_metric_amount_zero_is_filled() -> None:
    assert scores(shoe(weight={"amount": "0", "unit": "GRAM"}))[("ecommerce", "en_US")].missing == ()


def test_price_needs_every_channel_currency() -> None:
    result = scores(shoe(price={"EUR": "50.00"}))
    assert result[("ecommerce", "en_US")].missing == ("price",)  # ecommerce wants EUR and USD


def test_price_with_extra_currencies_is_filled() -> None:
    result = scores(shoe(price={"EUR": "50.00", "USD": "55.00", "GBP": "45.00"}))
    assert result[("ecommerce", "en_US")].missing == ()


def test_missing_lists_every_missing_attribute_in_requirement_order() -> None:
    product = shoe(**{"name:en_US": None, "weight": None, "price": {"USD": "1"}})
    s = scores(product)[("ecommerce", "en_US")]
    assert s.missing == ("name", "weight", "price")
    assert s.ratio == 57  # floor(100 * (7 - 3) / 7) = floor(57.14)


def test_ratio_floors_and_is_100_when_nothing_is_required() -> None:
    assert ratio(3, 1) == 66
    assert ratio(8, 1) == 87
    assert ratio(0, 0) == 100


def test_product_without_family_gets_no_completeness() -> None:
    assert scores(Product(identifier="x", values={"name:en_US": "X"})) == {}


def test_product_of_unknown_family_gets_no_completeness() -> None:
    assert scores(Product(identifier="x", family="nope")) == {}


def test_channel_without_requirements_requires_only_the_identifier() -> None:
    s = structure(family=[Family(code="shoes", attributes=["sku", "name"], requirements={})])
    result = Requirements(s).score("shoes", {}, "shoe-1")
    assert {(x.channel, x.locale): (x.required, x.ratio) for x in result} == {
        ("ecommerce", "en_US"): (1, 100), ("ecommerce", "de_DE"): (1, 100), ("print", "en_US"): (1, 100)}


def test_image_pointing_at_an_invalid_asset_is_not_filled() -> None:
    result = scores(shoe(picture="sha256:" + "b" * 64), invalid_assets={"sha256:" + "b" * 64})
    assert result[("ecommerce", "en_US")].missing == ("picture",)


def test_scores_can_be_limited_to_some_channels() -> None:
    assert set(scores(shoe(), channels=["print"])) == {("print", "en_US")}
