"""A misspelt key in any map, profile or precedence file names the key it likely means (pim.spelling.unknown_key,
used by pim.sources.load_profile and Precedence.load), at the top level and inside rules, instead of pydantic's
"Extra inputs are not permitted"."""

from __future__ import annotations

from pathlib import Path

import pytest

from importers.bmecat import BmecatMap
from importers.erp_csv import ErpCsvMap
from importers.erp_xml import ErpXmlMap
from importers.supplier_table import SupplierTableMap
from pim.errors import InputError
from pim.merge import Precedence
from pim.sources import load_profile
from pim.spelling import unknown_key


def _refusal(model: type, text: str, tmp_path: Path) -> InputError:
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_profile(model, path)
    return err.value


def test_a_top_level_typo_in_an_erp_map_names_the_key_meant(tmp_path: Path) -> None:
    err = _refusal(ErpCsvMap, "source: erp\nsku_column: SKU\ndelimeter: ';'\n", tmp_path)
    assert err.field == "delimeter"
    assert "'delimeter' is not a key here: did you mean 'delimiter'? Rename it" in str(err)


def test_a_typo_inside_a_column_rule_names_the_rules_key(tmp_path: Path) -> None:
    err = _refusal(ErpCsvMap, "source: erp\nsku_column: SKU\ncolumns:\n  Gewicht:\n    to: weight\n"
                              "    unitfrom: Einheit\n", tmp_path)
    assert err.field == "columns.Gewicht.ValueRule.unitfrom"
    assert "did you mean 'unit_from'?" in str(err)


def test_a_typo_in_an_xml_maps_list_of_rules(tmp_path: Path) -> None:
    err = _refusal(ErpXmlMap, "source: erp\nrecord: E1MARAM\nsku: MATNR\nvalues:\n  - path: BRGEW\n    to: weight\n"
                              "    unti: KILOGRAM\n", tmp_path)
    assert err.field == "values.0.unti" and "did you mean 'unit'?" in str(err)


@pytest.mark.parametrize(("model", "text", "meant"), [
    (SupplierTableMap, "source: supplier:x\npid_column: PID\ngtin_colum: EAN\n", "gtin_column"),
    (BmecatMap, "supplier: x\nunmatchd: create\n", "unmatched"),
])
def test_supplier_maps_name_the_key_meant(tmp_path: Path, model: type, text: str, meant: str) -> None:
    assert f"did you mean '{meant}'?" in str(_refusal(model, text, tmp_path))


def test_a_key_like_none_lists_the_keys_there_are(tmp_path: Path) -> None:
    err = _refusal(ErpCsvMap, "source: erp\nsku_column: SKU\nzzzzqq: 1\n", tmp_path)
    assert "'zzzzqq' is not a key here: remove it (the keys: " in str(err)
    assert "sku_column" in str(err) and "delimiter" in str(err)


def test_a_precedence_file_names_the_key_meant(tmp_path: Path) -> None:
    path = tmp_path / "precedence.yaml"
    path.write_text("default: [content]\nattributs:\n  name: [content]\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        Precedence.load(path)
    assert err.value.field == "attributs" and "did you mean 'attributes'?" in str(err.value)


def test_a_place_that_cannot_be_told_keeps_pydantics_message() -> None:
    """Guard: a path through a plain value has no keys to offer: None, and the caller keeps pydantic's words."""
    assert unknown_key(ErpCsvMap, ("sku_column", "x")) is None
    assert unknown_key(ErpCsvMap, ("nowhere", "x")) is None


def test_a_misspelt_key_of_a_fixed_list_names_the_key_meant(tmp_path: Path) -> None:
    """`fields` of a BMEcat map takes fixed keys (a Literal), which pydantic lists without a hint (found
    onboarding a supplier: `manufacturer_nme`)."""
    err = _refusal(BmecatMap, "supplier: x\nfields:\n  manufacturer_nme: mpn\n", tmp_path)
    assert "'manufacturer_nme' is not one of short, long," in str(err)
    assert "did you mean 'manufacturer_name'?" in str(err)


def test_a_misspelt_choice_names_the_choice_meant(tmp_path: Path) -> None:
    err = _refusal(BmecatMap, "supplier: x\nunmatched: creat\n", tmp_path)
    assert err.field == "unmatched" and "'creat' is not one of create, quarantine: did you mean 'create'?" in str(err)


def test_a_choice_like_none_keeps_pydantics_message(tmp_path: Path) -> None:
    """Guard: nothing near, nothing guessed."""
    err = _refusal(BmecatMap, "supplier: x\nunmatched: zzzzzzzz\n", tmp_path)
    assert "Input should be 'create' or 'quarantine'" in str(err)
