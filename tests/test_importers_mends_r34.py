"""Round 34 review mends in the supplier importers. A supplier product id the REST API cannot address as a SKU
(`1234/56`) is refused on the id's own field with a way out the user has (a cross-reference to a SKU of ours:
the supplier's file is not theirs to change), and, never stored, it does not hold back a T_NEW_CATALOG's tier
clean-up. A delete's tier removals count as withdrawn only once its batch has committed."""

from __future__ import annotations

from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

import pim.importing
from importers.bmecat import import_bmecat, load_map
from importers.supplier_table import import_supplier_table
from pim.commerce import PriceListEntry, contract_tiers, put_price_list, remove_price_list_entries_in
from pim.sources import put_cross_references
from pim.store import Store
from tests.test_bmecat import MAP, _erp_product, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_complete_catalog import new_catalog, relay, run
from tests.test_bmecat_round25 import LIST, PRECEDENCE, _delete, _updates
from tests.test_importers_r34 import TIERED, sstore, table  # noqa: F401  (fixture)
from tests.test_supplier_table import MAP as TABLE_MAP, _csv
from tests.test_supplier_tiers_r34 import EMPTIED, ROW as TIER_ROW

SUPPLIER = "supplier:weidmueller"
XREF = "`pim import xref supplier:weidmueller r/1 SKU`"


def product(pid: str, ean: str) -> str:
    """A catalog PRODUCT with one tier (10.50 from 1) and nothing that notes a problem."""
    return relay(pid, ean=ean, image=False, accessory=False)


def refusals(store: Store, job_id: int | None) -> dict[str, dict[str, Any]]:
    return {e["record_key"]: e for e in store.quarantined(job_id, open_only=False, severity="rejected")}


def tier_skus(store: Store, *skus: str) -> set[str]:
    return set(contract_tiers(store, LIST, list(skus), "EUR"))


# ---------------------------------------------------------------- 1a. the refusal names the supplier's field
def test_a_supplier_pid_with_a_slash_is_refused_on_supplier_pid_and_a_cross_reference_places_it(
        supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    path = new_catalog(tmp_path, product("r/1", "4006381333931"), name="v1.xml")
    counts = run(supplier_store, path)
    entry = refusals(supplier_store, counts.job_id)["r/1"]
    assert (counts.created, counts.rejected, entry["field"]) == (0, 1, "SUPPLIER_PID")
    assert "contains '/'" in entry["reason"] and XREF in entry["reason"]
    assert "change it in the file" not in entry["reason"]
    # the way out it names: our product under a SKU of ours, the id mapped to it, the same file again
    _erp_product(supplier_store, "R-1", ean="4012345000016")
    put_cross_references(supplier_store, SUPPLIER, [("r/1", "R-1")])
    again = run(supplier_store, path)
    assert (again.updated, again.rejected) == (1, 0)
    assert supplier_store.get_product("R-1").values["name:en_US"] == "Relay r/1"  # type: ignore[union-attr]


def test_a_map_making_skus_of_the_pid_says_it_cannot_place_the_product(supplier_store: Store,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    m = load_map(MAP).model_copy(update={"sku_from": "supplier_pid", "sku_prefix": "WM-"})
    counts = import_bmecat(new_catalog(tmp_path, product("r/1", "4006381333931"), name="v1.xml"), supplier_store, m,
                           precedence=PRECEDENCE)
    entry = refusals(supplier_store, counts.job_id)["WM-r/1"]
    assert entry["field"] == "SUPPLIER_PID" and "`sku_from: supplier_pid`" in entry["reason"]
    assert XREF in entry["reason"]  # the supplier's id, without the map's prefix


def test_a_supplier_table_row_is_refused_on_its_pid_column(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    counts = import_supplier_table(_csv(tmp_path, ["A/1;4006381333931;Relais;0,25;ACME;12,5"]), supplier_store,
                                   TABLE_MAP)
    entry = refusals(supplier_store, counts.job_id)["A/1"]
    assert entry["field"] == "Art-Nr" and "`pim import xref supplier:acme A/1 SKU`" in entry["reason"]


# ---------------------------------------------------------------- 1b. it does not hold back the tier clean-up
@pytest.fixture
def two_products(supplier_store: Store, tmp_path: Path) -> Store:  # noqa: F811
    """The supplier's catalog r1 and r2, each with a tier."""
    run(supplier_store, new_catalog(tmp_path, product("r1", "4006381333931"), product("r2", "5901234123457"),
                                    name="v1.xml"))
    assert tier_skus(supplier_store, "r1", "r2") == {"r1", "r2"}
    return supplier_store


def test_a_product_refused_for_its_sku_does_not_hold_back_the_catalogs_tier_removals(two_products: Store,
                                                                                     tmp_path: Path) -> None:
    counts = run(two_products, new_catalog(tmp_path, product("r1", "4006381333931"),
                                           product("r/1", "4012345000016"), name="v2.xml"))
    assert (counts.rejected, counts.extra["tier_prices_removed"]) == (1, 1)
    assert tier_skus(two_products, "r1", "r2") == {"r1"}  # r2 left the catalog: its tier goes
    assert not [e for e in two_products.quarantined(counts.job_id) if e["severity"] == "warning"]


def test_other_rejected_products_still_hold_it_back_and_are_the_ones_counted(two_products: Store,
                                                                             tmp_path: Path) -> None:
    bad_gtin = product("r3", "4032248855860")  # a bad check digit: refused, it could duplicate one of ours
    counts = run(two_products, new_catalog(tmp_path, product("r1", "4006381333931"), product("r/1", "4012345000016"),
                                           bad_gtin, name="v2.xml"))
    assert counts.rejected == 2 and tier_skus(two_products, "r1", "r2") == {"r1", "r2"}
    [warning] = [e for e in two_products.quarantined(counts.job_id) if e["severity"] == "warning"]
    assert "because 1 product(s) were rejected" in warning["reason"]


# ---------------------------------------------------------------- 2. counted once the batch commits
class Rollback(Exception):
    """Ends the transaction of a batch's first attempt after its tier writes."""


Meanwhile = list[Callable[[Store], None]]


@pytest.fixture
def first_attempt_rolled_back(monkeypatch: pytest.MonkeyPatch) -> Meanwhile:
    """The first batch with tier writes runs them in a transaction that is rolled back, then whatever the test
    appends (another writer, meanwhile), and is prepared and written again."""
    real, meanwhile = pim.importing._apply, []

    def first_rolled_back(store: Store, source: str, batch: Any, counts: Any, **kw: Any) -> bool:
        if kw.get("also") is None or not meanwhile:
            return real(store, source, batch, counts, **kw)
        with suppress(Rollback), store.begin() as conn:
            kw["also"](conn)
            raise Rollback
        meanwhile.pop()(store)
        return False

    monkeypatch.setattr(pim.importing, "_apply", first_rolled_back)
    return meanwhile


def test_a_delete_counts_its_tier_removals_withdrawn_only_from_the_batch_that_committed(
        supplier_store: Store, tmp_path: Path, first_attempt_rolled_back: Meanwhile) -> None:  # noqa: F811
    """The supplier holds only tiers on SKU-9. The delete's first attempt takes them off and is rolled back; another
    writer removes them meanwhile, so the attempt that commits takes nothing off: nothing was withdrawn."""
    _erp_product(supplier_store)
    put_cross_references(supplier_store, SUPPLIER, [("r1", "SKU-9")])
    put_price_list(supplier_store, [PriceListEntry(customer=LIST, sku="SKU-9", currency="EUR", price=Decimal("9"),
                                                   source=SUPPLIER)])
    first_attempt_rolled_back.append(_removes_sku_9)
    counts = import_bmecat(_updates(tmp_path, _delete("r1")), supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert not first_attempt_rolled_back and counts.rejected == 0 and tier_skus(supplier_store, "SKU-9") == set()
    assert "withdrawn" not in counts.extra


def test_a_catalogs_tiers_are_counted_once_from_the_batch_that_committed(
        supplier_store: Store, tmp_path: Path, first_attempt_rolled_back: Meanwhile) -> None:  # noqa: F811
    first_attempt_rolled_back.append(lambda store: None)
    counts = run(supplier_store, new_catalog(tmp_path, product("r1", "4006381333931"), name="v1.xml"))
    assert not first_attempt_rolled_back and (counts.created, counts.extra["tier_prices"]) == (1, 1)


def test_a_supplier_tables_tiers_are_counted_once_from_the_batch_that_committed(
        sstore: Store, tmp_path: Path, first_attempt_rolled_back: Meanwhile) -> None:  # noqa: F811
    import_supplier_table(table(tmp_path, TIER_ROW.format(pid="A1", ean="4006381333931")), sstore, TIERED)
    first_attempt_rolled_back.append(lambda store: None)
    counts = import_supplier_table(table(tmp_path, EMPTIED.format(pid="A1", ean="4006381333931"), name="b.csv"),
                                   sstore, TIERED)
    assert not first_attempt_rolled_back
    assert (counts.extra["tier_prices"], counts.extra["tier_prices_removed"]) == (1, 1)  # 13.00 from 1; 500 gone


def _removes_sku_9(store: Store) -> None:
    """Another writer taking SKU-9's tiers off the supplier's list in a transaction of its own."""
    with store.begin() as conn:
        remove_price_list_entries_in(store, conn, LIST, SUPPLIER, {"SKU-9": set()})
