"""Round 37, task I (F8): SKUs listed without quotes in contracts.yaml. A whole number is its own text (SKU
1010000000); a number whose digits YAML changes (0123 read as octal 83, 1_000 as 1000) or a decimal or a switch
is refused, naming the line and saying to quote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pim.contracts import read_contract_file

CONTRACT = """contracts:
  - code: elmue
    customer: ELMUE
    locale: de_DE
    currency: EUR
    channel: ecommerce
    assortment:
      skus: [10-1303890, {skus}]
      exclude_skus: [{exclude}]
    delivery: {{portal: true}}
"""


def _read(tmp_path: Path, skus: str, exclude: str = "X-1") -> tuple[list, list]:
    path = tmp_path / "contracts.yaml"
    path.write_text(CONTRACT.format(skus=skus, exclude=exclude), encoding="utf-8")
    return read_contract_file(path)


def test_unquoted_whole_numbers_are_skus(tmp_path: Path) -> None:
    placed, problems = _read(tmp_path, '1010000000, "7760056069", 42', exclude="99")
    assert problems == []
    [p] = placed
    assert p.contract.assortment.skus == ["10-1303890", "1010000000", "7760056069", "42"]
    assert p.contract.assortment.exclude_skus == ["99"]


@pytest.mark.parametrize("written,read", [("0123", "83"), ("1_000", "1000"), ("0x1F", "31")])
def test_a_number_yaml_rewrites_is_refused_with_its_line_and_the_fix(tmp_path: Path, written: str, read: str) -> None:
    placed, problems = _read(tmp_path, written)
    assert placed == []
    [problem] = problems
    assert problem.line == 8 and problem.field == "contracts.0.assortment.skus.1"
    assert f"number {read}" in problem.reason and f'"{written}"' in problem.reason and "quotes" in problem.reason


def test_an_excluded_sku_yaml_rewrites_is_refused_too(tmp_path: Path) -> None:
    _, problems = _read(tmp_path, "1", exclude="007")
    assert [p.field for p in problems] == ["contracts.0.assortment.exclude_skus.0"] and problems[0].line == 9


@pytest.mark.parametrize("written", ["1.50", "yes"])
def test_a_decimal_or_a_switch_is_refused_saying_to_quote_it(tmp_path: Path, written: str) -> None:
    placed, problems = _read(tmp_path, written)
    assert placed == []
    [problem] = problems
    assert problem.field == "contracts.0.assortment.skus" and "quotes" in problem.reason
    assert "valid string" not in problem.reason
