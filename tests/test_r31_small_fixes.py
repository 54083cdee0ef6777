"""Round 31's smaller fixes: one GTIN written two ways is no conflict; a record outside its family is refused
naming every attribute the family lacks, alike by the merge and the validator; `pim structure load --dry-run`
says what the load would save; an unknown option names the options and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pim.cli.structure import app as structure_cli
from pim.conflicts import open_conflicts
from pim.merge import Precedence
from pim.product import Product
from pim.store import Store
from pim.structure import Attribute, AttributeType
from pim.validation import RecordValidator
from pim.values import ValueProblem, normalize
from tests.source_data import record, seed_structure
from tests.test_merge import merge, ranker

SUPPLIER_FIRST = Precedence(groups={"erp": ["supplier:*", "erp"]})
ERP_FIRST = Precedence(groups={"erp": ["erp", "supplier:*"]})


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


# ---------------------------------------------------------------- one GTIN, two ways of writing it
def test_a_gtin_with_and_without_its_leading_zero_is_no_conflict(seeded: Store) -> None:
    """Matching reads `04006381333931` and `4006381333931` as one GTIN, so the merge does too: the supplier, first
    by precedence, shows its form, the ERP's stays a candidate, and nobody is asked to resolve anything."""
    merge(seeded, "erp", record("erp", "A1", {"ean": "04006381333931"}, family="tool"), precedence=SUPPLIER_FIRST)
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"ean": "4006381333931"}), precedence=SUPPLIER_FIRST)
    assert open_conflicts(seeded) == []
    product = seeded.get_product("A1")
    assert product.values["ean"] == "4006381333931" and product.provenance_of("ean").source == "supplier:acme"


def test_the_stored_gtin_form_stays_when_a_lower_owner_writes_it_otherwise(seeded: Store) -> None:
    merge(seeded, "erp", record("erp", "A1", {"ean": "04006381333931"}, family="tool"), precedence=ERP_FIRST)
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"ean": "4006381333931"}), precedence=ERP_FIRST)
    assert open_conflicts(seeded) == []
    assert seeded.get_product("A1").values["ean"] == "04006381333931"


def test_only_the_zeros_of_a_gtin_attribute_are_ignored() -> None:
    """Two different GTINs still disagree, and so do zeros in an attribute that holds no GTIN."""
    r = ranker(SUPPLIER_FIRST)
    assert r.disagree("ean", "04006381333931", "4006381333948")
    assert r.disagree("material", "0123", "123")  # not a GTIN attribute: compared as written
    assert not r.disagree("ean", "04006381333931", "4006381333931")


# ---------------------------------------------------------------- attributes outside the family
OUTSIDE = {"material": "steel", "weight": {"amount": "1", "unit": "KILOGRAM"}, "price": {"EUR": "1.00"},
           "unit_of_measure": "PCE", "pack_size": 2, "min_order_qty": 1, "bullets:en_US": "x",
           "seo_title:en_US": "x", "seo_description:en_US": "x", "image": "a.jpg", "gallery": "g",
           "description:en_US@ecommerce": "x"}


def test_the_merge_names_every_attribute_the_family_lacks_and_what_to_do(seeded: Store) -> None:
    merge(seeded, "erp", record("erp", "A1", {"ean": "4006381333931"}, family="narrow"))
    counts = merge(seeded, "supplier:acme", record("supplier:acme", "A1", OUTSIDE))
    [entry] = seeded.quarantined(counts.job_id)
    assert entry["field"] == "material"
    assert entry["reason"] == (
        "12 attributes are not in family 'narrow': 'material', 'weight', 'price', 'unit_of_measure', 'pack_size', "
        "'min_order_qty', 'bullets', 'seo_title', 'seo_description', 'image' and 2 more; add them to the family's "
        "attributes in the structure, or take them out of the import (its map or file)")


def test_the_validator_says_the_same_as_the_merge_about_the_family_in_one_problem(seeded: Store) -> None:
    merge(seeded, "erp", record("erp", "A1", {"ean": "4006381333931"}, family="narrow"))
    merged = merge(seeded, "supplier:acme", record("supplier:acme", "A1", OUTSIDE))
    whole = Product(identifier="A2", family="narrow", values={"sku": "A2", **OUTSIDE})
    [problem] = RecordValidator(seeded.structure()).check_product(whole)
    assert (problem.field, problem.reason) == ("material", seeded.quarantined(merged.job_id)[0]["reason"])


def test_one_attribute_outside_the_family_is_named_with_what_to_do(seeded: Store) -> None:
    lone = Product(identifier="A2", family="narrow", values={"sku": "A2", "material": "steel"})
    [problem] = RecordValidator(seeded.structure()).check_product(lone)
    assert problem.reason == ("'material' is not an attribute of family 'narrow': add it to the family's attributes "
                              "in the structure, or take it out of the import (its map or file)")


# ---------------------------------------------------------------- structure load --dry-run
def _new_and_changed(tmp_path: Path) -> Path:
    path = tmp_path / "more.yaml"
    path.write_text("attributes:\n"
                    "  - {code: ip_rating, type: text, group: technical}\n"
                    "  - {code: waterproof, type: boolean, group: technical, labels: {en_US: Waterproof}}\n"
                    "  - {code: wattage, type: number, group: technical, number_min: 0, number_max: 5000,"
                    " decimals_allowed: false}\n", encoding="utf-8")
    return path


def test_a_dry_run_counts_what_the_load_would_save_and_writes_nothing(tiny_store: Store, tmp_path: Path) -> None:
    path = _new_and_changed(tmp_path)
    runner = CliRunner()
    dry = runner.invoke(structure_cli, ["load", str(path), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    said = json.loads(dry.stdout)
    assert said == {"loaded": {"attributes": 3}, "changes": {"attributes": {"new": 1, "changed": 1}}, "dry_run": True}
    assert "ip_rating" not in tiny_store.structure().attributes
    assert tiny_store.structure().attributes["waterproof"].labels == {}
    real = runner.invoke(structure_cli, ["load", str(path), "--json"])
    written = json.loads(real.stdout)
    # since round 37 a real load also warns about labels a channel locale lacks (the new attribute has en_US only)
    assert all(w.startswith("labels missing") for w in written.pop("warnings", []))
    assert written == {**said, "dry_run": False}  # the same counts, now written
    assert "ip_rating" in tiny_store.structure().attributes


def test_a_dry_runs_table_shows_the_sections_counts(tiny_store: Store, tmp_path: Path) -> None:
    dry = CliRunner().invoke(structure_cli, ["load", str(_new_and_changed(tmp_path)), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "nothing written" in dry.stdout
    [row] = [line for line in dry.stdout.splitlines() if "attributes" in line]
    assert row.split("│")[1:5] == [" attributes ", " 3     ", " 1   ", " 1       "]


# ---------------------------------------------------------------- unknown option
UNIT = Attribute(code="sales_unit", type=AttributeType.simple_select, group="erp")


def test_an_unknown_option_names_the_nearest_the_options_and_what_to_do() -> None:
    with pytest.raises(ValueProblem) as refused:
        normalize(UNIT, "piece", {"pieces", "meter", "kilogram"})
    assert str(refused.value) == (
        "option 'piece' does not exist for attribute 'sales_unit' (did you mean 'pieces'?); the options: 'kilogram', "
        "'meter', 'pieces'. Map the source's value to one of them (`map:` on its column in the import's map or "
        "profile), or add the option to the structure (attribute_options:)")


def test_a_long_option_list_shows_ten_and_the_count() -> None:
    options = {f"u{i:02d}" for i in range(25)}
    with pytest.raises(ValueProblem, match=r"the options: 'u00', .*'u09' \(25 in all\)\. Map the source's value"):
        normalize(UNIT, "St.", options)


def test_an_import_row_with_an_unknown_option_says_what_to_do(seeded: Store) -> None:
    row = Product(identifier="A1", family="tool", values={"sku": "A1", "lifecycle_status": "phaseout"})
    [problem] = RecordValidator(seeded.structure()).check_product(row)
    assert problem.field == "lifecycle_status"
    assert "(did you mean 'phase_out'?); the options: 'active', 'blocked', 'phase_out'. Map" in problem.reason

