"""Supplier GTIN matching, round 29: every valid GTIN of a BMEcat product is tried, in file order (a supplier
may list its pack's GTIN-14 before the unit's GTIN-13 we carry), with one lookup per batch; GTINs naming two
of our products, or one GTIN several of them carry, refuse it. A refusal about a GTIN names that GTIN's element
and line, not the PRODUCT's. The unit GTIN is the one stored (round 30: tests/test_bmecat_unit_gtin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pim.sources as sources
from importers.bmecat import import_bmecat
from pim.merge import candidates_for
from pim.sources import cross_references, put_cross_references
from pim.store import Store
from tests.test_supplier_gtin import GOOD, OTHER_GOOD, WEID, adds_up, bmecat_map, catalog, ours, with_pack_gtin
from tests.test_supplier_gtin_ids import ean, intl, product, rejections

PACK = "14006381333938"  # a valid GTIN-14 (a pack of GOOD's unit) that no product of ours carries
THIRD = "4006381333955"  # a valid GTIN-13 that no product of ours carries


@pytest.fixture
def sstore(store: Store) -> Store:
    return with_pack_gtin(store)


def links(store: Store) -> list[tuple[str, str, str]]:
    return [(x["source_pid"], x["sku"], x["matched_by"]) for x in cross_references(store, WEID)]


def test_a_later_gtin_matches_when_the_first_is_a_pack_gtin_we_do_not_carry(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    path = catalog(tmp_path / "c.xml", product("r1", intl(PACK), intl(GOOD)))
    counts = import_bmecat(path, sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.rejected) == (0, 1, 0) and adds_up(counts)
    p = sstore.get_product("SKU-9")
    assert sstore.get_product("r1") is None and p.values["name:en_US"] == "Relay r1"
    assert links(sstore) == [("r1", "SKU-9", "gtin")]
    # the supplier claims its unit GTIN, not the pack's listed first (round 30); ours stays shown
    assert p.values["ean"] == GOOD and candidates_for(sstore, "SKU-9")["ean"][WEID].value == GOOD
    again = import_bmecat(path, sstore, bmecat_map())  # found by the cross-reference now: the same record
    assert (again.unchanged, again.rejected) == (1, 0)


def test_gtins_naming_two_of_our_products_refuse_it_naming_both_and_the_fix(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-8", GOOD)
    ours(sstore, "SKU-9", OTHER_GOOD)
    path = catalog(tmp_path / "c.xml", product("r1", ean(GOOD), intl(OTHER_GOOD)))
    counts = import_bmecat(path, sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.rejected) == (0, 0, 1) and adds_up(counts)
    assert sstore.get_product("r1") is None and links(sstore) == []
    assert not any("name:en_US" in sstore.get_product(sku).values for sku in ("SKU-8", "SKU-9"))
    [row] = rejections(sstore)
    assert (row["field"], row["line"], row["record_key"]) == ("EAN", 7, "r1")  # the first GTIN that names one
    assert row["reason"] == (f"GTIN {GOOD} (line 7) names SKU-8, GTIN {OTHER_GOOD} (line 8) names SKU-9: not matched; "
                             f"run `pim import xref {WEID} r1 SKU` with the right SKU, or correct the wrong GTIN, then "
                             "import again")
    put_cross_references(sstore, WEID, [("r1", "SKU-9")])
    fixed = import_bmecat(path, sstore, bmecat_map())
    assert (fixed.updated, fixed.rejected) == (1, 0) and rejections(sstore) == []
    assert sstore.get_product("SKU-9").values["name:en_US"] == "Relay r1"


def test_an_ambiguous_gtin_refuses_the_product_even_beside_one_that_matches(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    ours(sstore, "SKU-7", OTHER_GOOD)
    ours(sstore, "SKU-8", OTHER_GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", ean(GOOD), intl(OTHER_GOOD))), sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.rejected) == (0, 0, 1) and adds_up(counts)
    assert "name:en_US" not in sstore.get_product("SKU-9").values and links(sstore) == []
    [row] = rejections(sstore)
    assert (row["field"], row["line"], row["record_key"]) == ("INTERNATIONAL_PID", 8, "r1")
    assert row["reason"].startswith(f"GTIN {OTHER_GOOD} of {WEID} product 'r1' belongs to 2 products (SKU-7, SKU-8)")


def test_a_lone_ambiguous_gtin_is_refused_at_its_own_element(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-7", OTHER_GOOD)
    ours(sstore, "SKU-8", OTHER_GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(OTHER_GOOD))), sstore, bmecat_map())
    assert counts.rejected == 1 and sstore.get_product("r1") is None
    [row] = rejections(sstore)
    assert (row["field"], row["line"]) == ("INTERNATIONAL_PID", 7)  # before: `gtin` at the PRODUCT's line 5


def test_unmatched_quarantine_names_every_gtin_tried_at_the_first_ones_element(sstore: Store, tmp_path: Path) -> None:
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", ean(PACK), intl(THIRD)), product("r2")), sstore,
                           bmecat_map(unmatched="quarantine"))
    assert (counts.created, counts.rejected) == (0, 2) and adds_up(counts)
    rows = sorted(rejections(sstore), key=lambda r: r["line"])
    assert [(r["field"], r["line"], r["record_key"]) for r in rows] == [("EAN", 7, "r1"), ("pid", 9, "r2")]
    assert rows[0]["reason"] == (f"no SKU for {WEID} product 'r1' (GTINs {PACK}, {THIRD}): not in the cross-reference "
                                 f"and no product has any of them; run `pim import xref {WEID} r1 SKU` to place it, "
                                 "or set `unmatched: create`")
    assert "(GTIN none)" in rows[1]["reason"]  # no GTIN: at the PRODUCT, as before


def test_a_price_update_names_the_gtin_it_could_not_place_the_product_by(sstore: Store, tmp_path: Path) -> None:
    path = catalog(tmp_path / "u.xml", product("r1", intl(THIRD)), transaction="T_UPDATE_PRICES")
    counts = import_bmecat(path, sstore, bmecat_map())
    assert (counts.created, counts.rejected) == (0, 1)
    [row] = rejections(sstore)
    assert (row["field"], row["line"]) == ("INTERNATIONAL_PID", 7)
    assert row["reason"].startswith(f"T_UPDATE_PRICES never creates products (a price update carries only prices): "
                                    f"no SKU for {WEID} product 'r1' (GTIN {THIRD})")


def test_every_gtin_of_a_batch_is_looked_up_in_one_query(sstore: Store, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ours(sstore, "SKU-9", GOOD)
    looked_up: list[list[str]] = []
    real = sources._gtin_owners

    def counted(store: Store, attribute: str, gtins: list[str]) -> dict[str, list[str]]:
        looked_up.append(list(gtins))
        return real(store, attribute, gtins)

    monkeypatch.setattr(sources, "_gtin_owners", counted)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(PACK), intl(GOOD)), product("r2", ean(THIRD))),
                           sstore, bmecat_map())
    assert (counts.updated, counts.created) == (1, 1)
    assert looked_up == [[PACK, GOOD, THIRD]]


def test_guard_the_same_gtin_twice_or_zero_padded_is_no_conflict(sstore: Store, tmp_path: Path) -> None:
    """Guard (passes before round 29 too): a GTIN-13 sent again, or as its GTIN-14 with a leading zero, names
    the same product, so it is matched, not refused as naming two."""
    ours(sstore, "SKU-9", GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl("0" + GOOD), ean(GOOD), intl(GOOD))), sstore,
                           bmecat_map())
    assert (counts.updated, counts.rejected) == (1, 0)
    assert links(sstore) == [("r1", "SKU-9", "gtin")]
