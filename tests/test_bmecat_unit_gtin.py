"""Which GTIN a BMEcat supplier claims for our `ean`, and where a GTIN conflict is filed (round 30). Every valid
GTIN is still matched on in file order (tests/test_supplier_gtin_round29.py), but the one claimed is the unit's:
the first whose GTIN-14 form has indicator digit 0, else the first valid one, whichever matched. A conflict is
filed under the first GTIN that names a product of ours, and its reason gives every side's GTIN, line and SKU."""

from __future__ import annotations

from pathlib import Path

import pytest

from importers.bmecat import import_bmecat
from importers.gtin_check import is_unit_gtin
from pim.merge import candidates_for
from pim.product import Product
from pim.sources import SourceItem, cross_references, match_skus
from pim.store import Store
from tests.test_supplier_gtin import (
    BAD,
    GOOD,
    OTHER_GOOD,
    WEID,
    adds_up,
    bmecat_map,
    catalog,
    open_problems,
    ours,
    with_pack_gtin,
)
from tests.test_supplier_gtin_ids import ean, intl, product, rejections

PACK = "14006381333938"  # a valid GTIN-14, indicator 1: a pack of GOOD's unit
CASE = "24006381333935"  # a valid GTIN-14, indicator 2: a case of it
UNIT_14 = "0" + GOOD  # GOOD written as GTIN-14: indicator 0, still the unit


@pytest.fixture
def sstore(store: Store) -> Store:
    return with_pack_gtin(store)


def claim(store: Store, sku: str) -> str:
    """The `ean` the supplier claims for our product `sku` (ours stays shown: the ERP's value wins)."""
    return candidates_for(store, sku)["ean"][WEID].value


@pytest.mark.parametrize(("gtin", "unit"), [
    ("96385074", True), ("036000291452", True), (GOOD, True), (UNIT_14, True),
    (PACK, False), (CASE, False), ("94006381333934", False),
])
def test_a_unit_gtin_has_indicator_digit_zero_in_its_gtin14_form(gtin: str, unit: bool) -> None:
    assert is_unit_gtin(gtin) is unit


def test_the_unit_gtin_is_claimed_when_the_pack_gtin_comes_first(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(PACK), intl(GOOD))), sstore, bmecat_map())
    assert (counts.updated, counts.rejected) == (1, 0) and adds_up(counts)
    assert claim(sstore, "SKU-9") == GOOD  # before: PACK, the first valid one


def test_a_gtin14_with_indicator_zero_is_claimed_as_the_unit(sstore: Store, tmp_path: Path) -> None:
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(CASE), intl(PACK), intl(UNIT_14))), sstore,
                           bmecat_map())
    assert counts.created == 1
    assert sstore.get_product("r1").values["ean"] == UNIT_14


def test_the_claim_does_not_change_when_the_product_is_found_by_cross_reference(sstore: Store, tmp_path: Path) -> None:
    """The first import finds our product by the pack GTIN we happen to store, the next by the cross-reference:
    the unit GTIN (which no product of ours carries) is claimed both times, so the second changes nothing."""
    ours(sstore, "SKU-9", PACK)
    path = catalog(tmp_path / "c.xml", product("r1", intl(PACK), ean(GOOD)))
    first = import_bmecat(path, sstore, bmecat_map())
    assert (first.updated, first.rejected) == (1, 0)
    assert [(x["sku"], x["matched_by"]) for x in cross_references(sstore, WEID)] == [("SKU-9", "gtin")]
    assert claim(sstore, "SKU-9") == GOOD
    again = import_bmecat(path, sstore, bmecat_map())
    assert (again.unchanged, again.updated, again.rejected) == (1, 0, 0) and claim(sstore, "SKU-9") == GOOD


def test_guard_with_no_unit_gtin_the_first_valid_one_is_claimed(sstore: Store, tmp_path: Path) -> None:
    """Guard (passes before round 30 too): only packs and cases, so the first valid one, as before."""
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(BAD), intl(CASE), intl(PACK))), sstore,
                           bmecat_map())
    assert counts.created == 1 and sstore.get_product("r1").values["ean"] == CASE


def test_a_bad_gtin_names_the_claimed_unit_gtin_as_used_instead(sstore: Store, tmp_path: Path) -> None:
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(PACK), ean(BAD), intl(GOOD))), sstore,
                           bmecat_map())
    assert (counts.created, counts.problems) == (1, 1)
    [entry] = open_problems(sstore)
    assert (entry["field"], entry["line"]) == ("EAN", 8)
    assert f"the valid GTIN {GOOD} (INTERNATIONAL_PID, line 9) is used instead" in entry["reason"]


def test_a_conflict_is_filed_at_the_first_gtin_and_gives_both_lines(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-8", PACK)
    ours(sstore, "SKU-9", GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(OTHER_GOOD), intl(PACK), ean(GOOD))), sstore,
                           bmecat_map())
    assert (counts.updated, counts.rejected) == (0, 1) and adds_up(counts)
    [row] = rejections(sstore)
    assert (row["field"], row["line"], row["record_key"]) == ("INTERNATIONAL_PID", 8, "r1")  # PACK: the first that matched
    assert row["reason"] == (f"GTIN {PACK} (line 8) names SKU-8, GTIN {GOOD} (line 9) names SKU-9: not matched; run "
                             f"`pim import xref {WEID} r1 SKU` with the right SKU, or correct the wrong GTIN, then "
                             "import again")


def test_a_conflict_without_gtin_lines_names_the_gtins_and_products_only(sstore: Store) -> None:
    """A caller with no line for its record (no `gtin_at`, no line): each side is named without one."""
    ours(sstore, "SKU-8", GOOD)
    ours(sstore, "SKU-9", OTHER_GOOD)
    item = SourceItem(Product(identifier="r1"), "feed", None, {}, pid="r1", gtins=(GOOD, OTHER_GOOD))
    item.record.identifier = ""  # unknown until matched, as the importers leave it
    [refused] = match_skus(sstore, WEID, [item])
    assert refused.reason.startswith(f"GTIN {GOOD} names SKU-8, GTIN {OTHER_GOOD} names SKU-9: not matched; run")
    assert (refused.field, refused.line) == ("gtin", None)
