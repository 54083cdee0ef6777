"""Completeness on Akeneo's icecat demo catalog, against figures worked out by hand from the CSVs."""

from __future__ import annotations

from pim.completeness import report, stored_completeness
from pim.store import Store
from tests.conftest import ICECAT


def test_icecat_ratios_and_missing_lists_match_the_hand_checked_figures(store: Store) -> None:
    from importers.akeneo import import_akeneo

    import_akeneo(ICECAT, store)
    got = {(r["product"], r["channel"], r["locale"]): (r["required"], r["ratio"], r["missing"])
           for ident in ("1111111171", "15433433", "Biker-jacket-polyester-xl")
           for r in stored_completeness(store, ident)}
    # 1111111171 (accessories, "Bag"): ecommerce requires collection, description, ean, image, name, sku,
    # variation_name = 7 on every locale. It has image, name, sku (its ean 1234567890183 has a wrong check
    # digit: left out, tests/test_catalog_gtin.py) → 4 missing: floor(100*3/7) = 42.
    # print requires the same minus description = 6, missing collection, ean, variation_name: floor(300/6) = 50.
    assert got[("1111111171", "ecommerce", "de_DE")] == (7, 42, ["collection", "description", "ean", "variation_name"])
    assert got[("1111111171", "print", "en_US")] == (6, 50, ["collection", "ean", "variation_name"])
    # 15433433 (webcams): 6 required (description, maximum_video_resolution, name, price, sku, total_megapixels).
    # description is scopable and only filled for print (de_DE, en_US): missing on ecommerce → 3 missing = 50;
    # on print en_US only price and total_megapixels miss → floor(400/6) = 66; print fr_FR lacks description → 50.
    assert got[("15433433", "ecommerce", "en_US")] == (6, 50, ["description", "price", "total_megapixels"])
    assert got[("15433433", "print", "en_US")] == (6, 66, ["price", "total_megapixels"])
    assert got[("15433433", "print", "fr_FR")] == (6, 50, ["description", "price", "total_megapixels"])
    # Biker-jacket-polyester-xl (clothing variant): ecommerce requires collection, color, description, ean,
    # size, sku, variation_image, variation_name = 8. en_US misses variation_image and ean (1234567890367, a wrong
    # check digit: left out) → floor(600/8) = 75; de_DE also misses the localizable description and
    # variation_name (en_US only) → floor(400/8) = 50.
    assert got[("Biker-jacket-polyester-xl", "ecommerce", "en_US")] == (8, 75, ["ean", "variation_image"])
    assert got[("Biker-jacket-polyester-xl", "ecommerce", "de_DE")] == (
        8, 50, ["description", "ean", "variation_image", "variation_name"])
    # 1239 products, one without a family (AKNSTK): it gets no completeness, so 1238 are scored per locale.
    assert stored_completeness(store, "AKNSTK") == []
    r = report(store, "ecommerce")
    assert [(c.locale, c.products) for c in r.locales] == [("de_DE", 1238), ("en_US", 1238), ("fr_FR", 1238)]
    assert r.todo[0].products >= r.todo[-1].products
