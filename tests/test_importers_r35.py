"""Round 35, importer rough edges: a product refused for any reason leaves no cross-reference pair (the pairs
SKU matching finds are written in the record's batch transaction, only when the record is taken in)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from importers.bmecat import BmecatMap
from importers.supplier_table import SupplierTableMap, SupplierTiers, TierColumn, import_supplier_table
from pim.commerce import PRICE
from pim.product import Product, Provenance
from pim.sources import cross_references
from pim.store import Store
from pim.structure import Family
from pim.validation import identifier_problem
from tests.test_bmecat import supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_complete_catalog import SUPPLIER, new_catalog, relay, relay_map, run
from tests.test_importers_r34 import TIERED, sstore, table  # noqa: F401  (fixture)

# ---------------------------------------------------------------- 1. cross-references only for products taken in


def pairs(store: Store) -> dict[str, str]:
    return {r["source_pid"]: r["sku"] for r in cross_references(store, SUPPLIER)}


def cable(store: Store, sku: str = "CAB-1", ean: str = "4006381333931") -> None:
    """Our product in a family without height: a supplier record matched to it by GTIN states a value outside
    its family, so the merge refuses the record (after SKU matching found the pair)."""
    store.put_structures([("family", [Family(code="cables", attributes=["sku", "name", "ean"])])])
    store.upsert_products([Product(identifier=sku, family="cables", source=Provenance(source="erp", at=datetime.now(UTC)),
                                   values={"sku": sku, "ean": ean})])


def test_a_product_refused_after_matching_leaves_no_cross_reference(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    cable(supplier_store)
    counts = run(supplier_store, new_catalog(tmp_path, relay("r1"), relay("r9", ean="4006381333931"), name="c.xml"))
    assert counts.rejected == 1
    assert pairs(supplier_store) == {"r1": "r1"}


def test_a_supplier_row_refused_after_matching_leaves_no_cross_reference(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """Without tiers too (no tier writer before): S-1 matches our A1 by GTIN, and A1's family refuses the row's
    price; S-2 is created. Only S-2 is paired. Once A1's family takes prices, S-1 is matched and paired."""
    plain = TIERED.model_copy(update={"tiers": None, "price_unit_column": None})
    sstore.put_structure("family", [Family(code="plain", attributes=["sku", "name", "ean"])])
    sstore.upsert_products([Product(identifier="A1", family="plain", values={"ean": "4006381333931"})])
    rows = ("S-1;4006381333931;Relais;12,50;;;", "S-2;4012345678901;Relais;13,00;;;")
    counts = import_supplier_table(table(tmp_path, *rows), sstore, plain)
    assert (counts.rejected, counts.created) == (1, 1)
    assert {r["source_pid"]: r["sku"] for r in cross_references(sstore, "supplier:acme")} == {"S-2": "S-2"}
    sstore.put_structure("family", [Family(code="plain", attributes=["sku", "name", "ean", "price"])])
    counts = import_supplier_table(table(tmp_path, *rows, name="b.csv"), sstore, plain)
    assert (counts.rejected, counts.updated) == (0, 1)
    assert {r["source_pid"]: r["sku"] for r in cross_references(sstore, "supplier:acme")} == {"S-1": "A1", "S-2": "S-2"}



# ---------------------------------------------------------------- 3. a product a delete disabled, listed again


def delete(pid: str) -> str:
    return f'<PRODUCT mode="delete"><SUPPLIER_PID>{pid}</SUPPLIER_PID></PRODUCT>'


def test_a_catalog_listing_a_product_its_delete_disabled_enables_it_and_says_so(supplier_store: Store,  # noqa: F811
                                                                                tmp_path: Path) -> None:
    """r1 was disabled by the supplier's delete; r2 by a person (no delete): the catalog lists both, and only r1
    comes back, with a warning naming it; the delete's note is closed by the clean import."""
    run(supplier_store, new_catalog(tmp_path, relay("r1"), relay("r2", ean="4006381333931"), name="v1.xml"))
    run(supplier_store, new_catalog(tmp_path, delete("r1"), name="d.xml", transaction="T_UPDATE_PRODUCTS"))
    assert supplier_store.get_product("r1").enabled is False
    by_hand = supplier_store.get_product("r2").model_copy(update={"enabled": False})
    supplier_store.upsert_products([by_hand])
    counts = run(supplier_store, new_catalog(tmp_path, relay("r1"), relay("r2", ean="4006381333931"), name="v2.xml"))
    assert (supplier_store.get_product("r1").enabled, supplier_store.get_product("r2").enabled) == (True, False)
    assert counts.extra["enabled_again"] == 1
    [warning] = [e for e in supplier_store.quarantined(counts.job_id) if e["severity"] == "warning"
                 and e["field"] == "PRODUCT@mode"]
    assert "enabled again: r1" in warning["reason"] and "r2" not in warning["reason"]
    assert not [e for e in supplier_store.quarantined() if e["record_key"] == "r1" and e["field"] == "PRODUCT@mode"]


def test_an_update_listing_a_product_its_delete_disabled_enables_it(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """A T_UPDATE_PRODUCTS PRODUCT lists it too, under `updates: delta` as well; the same file again changes nothing."""
    m = relay_map().model_copy(update={"updates": "delta"})
    run(supplier_store, new_catalog(tmp_path, relay("r1"), name="v1.xml"), m)
    run(supplier_store, new_catalog(tmp_path, delete("r1"), name="d.xml", transaction="T_UPDATE_PRODUCTS"), m)
    path = new_catalog(tmp_path, relay("r1").replace("<PRODUCT>", '<PRODUCT mode="update">', 1), name="u.xml",
                       transaction="T_UPDATE_PRODUCTS")
    counts = run(supplier_store, path, m)
    assert (counts.updated, counts.extra["enabled_again"], supplier_store.get_product("r1").enabled) == (1, 1, True)
    again = run(supplier_store, path, m)
    assert (again.updated, "enabled_again" in again.extra) == (0, False)


# ---------------------------------------------------------------- 4. supplier tiers: currency, validity, price unit

def dated() -> SupplierTableMap:
    """Tiers in each row's currency, valid between its dates (no profile currency)."""
    return TIERED.model_copy(update={"date_format": "%d.%m.%Y", "tiers": SupplierTiers(
        price_list="acme_tiers", currency_column="Währung", valid_from_column="gültig ab", valid_to_column="gültig bis",
        columns=[TierColumn(price="Preis", min_qty=Decimal(1)),
                 TierColumn(price="Staffelpreis", min_qty_column="ab Menge")])})


DATED_HEAD = "Art-Nr;EAN;Bezeichnung;Preis;PE;ab Menge;Staffelpreis;Währung;gültig ab;gültig bis"


def stored_tiers(store: Store, sku: str) -> set[tuple[str, Decimal, Decimal, date, date | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(PRICE.c.currency, PRICE.c.min_qty, PRICE.c.price, PRICE.c.valid_from,
                                   PRICE.c.valid_to).where(PRICE.c.sku == sku, PRICE.c.customer == "acme_tiers"))
        return {(c, Decimal(q), Decimal(p), f, t) for c, q, p, f, t in rows}


def test_a_row_gives_its_tiers_currency_and_validity_dates(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """No profile currency: each row's comes from its cell (lower case read as the code); the dates, in the
    profile's date format, bound the row's tiers; an empty date cell leaves that end open."""
    path = table(tmp_path, "A1;4006381333931;Relais;1250,00;100;500;1100,00;chf;01.01.2027;30.06.2027",
                 "A2;4012345678901;Relais;13,00;;;;EUR;;", head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, dated())
    assert (counts.rejected, counts.extra["tier_prices"]) == (0, 3)
    assert stored_tiers(sstore, "A1") == {("CHF", Decimal(1), Decimal("12.5"), date(2027, 1, 1), date(2027, 6, 30)),
                                          ("CHF", Decimal(500), Decimal(11), date(2027, 1, 1), date(2027, 6, 30))}
    assert [(c, q, p, t) for c, q, p, _, t in stored_tiers(sstore, "A2")] == [("EUR", Decimal(1), Decimal(13), None)]


def test_a_tier_cell_that_gives_no_currency_or_date_refuses_the_row_under_its_column(sstore: Store,  # noqa: F811
                                                                                     tmp_path: Path) -> None:
    path = table(tmp_path, "A1;4006381333931;Relais;12,50;;;;EUR;2027-01-01;", "A2;4012345678901;Relais;13,00;;;;Euro;;",
                 "A3;4000000000000;Relais;13,00;;;;;;", "A4;4000000000017;Relais;13,00;;;;EUR;02.01.2027;01.01.2027",
                 head=DATED_HEAD)
    counts = import_supplier_table(path, sstore, dated())
    refused = {e["record_key"]: (e["field"], e["reason"]) for e in sstore.quarantined(counts.job_id)
               if e["severity"] == "rejected"}
    assert {k: f for k, (f, _) in refused.items()} == {"A1": "gültig ab", "A2": "Währung", "A3": "Währung",
                                                      "A4": "gültig bis"}
    assert "%d.%m.%Y" in refused["A1"][1] and "ISO 4217" in refused["A2"][1] and "give the tiers one" in refused["A3"][1]


def test_tiers_need_a_currency_or_a_currency_column() -> None:
    with pytest.raises(ValidationError, match="`currency_column`"):
        SupplierTiers(price_list="acme_tiers", columns=[TierColumn(price="Preis", min_qty=Decimal(1))])


def test_a_profile_price_unit_column_the_file_lacks_is_warned_about(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """The file has no other column the profile does not read (so no unread-columns warning, which was all there
    was): the prices read as per piece, and the warning says so; the column back, the warning closes."""
    plain = TIERED.model_copy(update={"tiers": None})
    path = table(tmp_path, "A1;4006381333931;Relais;1250,00", head="Art-Nr;EAN;Bezeichnung;Preis")
    counts = import_supplier_table(path, sstore, plain)
    assert counts.extra["price_unit_missing"] == 1 and "unread_map_fields" not in counts.extra
    [warning] = [e for e in sstore.quarantined() if e["severity"] == "warning"]
    assert warning["field"] == "PE" and "read as prices of one piece" in warning["reason"]
    back = table(tmp_path, "A1;4006381333931;Relais;1250,00;100", head="Art-Nr;EAN;Bezeichnung;Preis;PE")  # fixed
    import_supplier_table(back, sstore, plain)
    assert sstore.get_product("A1").values["price"] == {"EUR": "12.50"}
    assert not [e for e in sstore.quarantined() if e["severity"] == "warning"]


# ---------------------------------------------------------------- 5. a PID with `/` under `sku_from: supplier_pid`


def pid_skus(**update: object) -> BmecatMap:
    return relay_map().model_copy(update={"sku_from": "supplier_pid", "sku_prefix": "WM-", **update})


def test_pid_slash_makes_an_addressable_sku_of_a_pid_with_a_slash(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """r/1 becomes WM-r-1, and a reference to a/2 finds WM-a-2 the same way."""
    m = pid_skus(pid_slash="-")
    to_a2 = '<PRODUCT_REFERENCE type="accessories"><PROD_ID_TO>a/2</PROD_ID_TO></PRODUCT_REFERENCE>'
    counts = run(supplier_store, new_catalog(tmp_path, relay("r/1", accessory=False, extra=to_a2),
                                             relay("a/2", ean="4006381333931", accessory=False), name="c.xml"), m)
    assert (counts.created, counts.rejected) == (2, 0)
    r1 = supplier_store.get_product("WM-r-1")
    assert r1.values["name:en_US"] == "Relay r/1" and r1.associations["ACCESSORY"].products == ["WM-a-2"]
    assert identifier_problem("WM-r-1") is None


def test_two_pids_making_one_sku_under_pid_slash_refuse_the_later(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = pid_skus(pid_slash="-")
    counts = run(supplier_store, new_catalog(tmp_path, relay("r/1"), relay("r-1", ean="4006381333931"), name="c.xml"), m)
    assert (counts.created, counts.rejected) == (1, 1)
    assert supplier_store.get_product("WM-r-1").values["name:en_US"] == "Relay r/1"
    [refused] = [e for e in supplier_store.quarantined(counts.job_id) if e["severity"] == "rejected"]
    assert refused["line"] is not None and "as PID 'r/1' (line" in refused["reason"] and "pid_slash" in refused["reason"]


def test_without_pid_slash_the_refusal_names_it(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    counts = run(supplier_store, new_catalog(tmp_path, relay("r/1"), name="c.xml"), pid_skus())
    [refused] = [e for e in supplier_store.quarantined(counts.job_id) if e["severity"] == "rejected"]
    assert "`pid_slash: \"-\"` makes PID 12/34 SKU 12-34" in refused["reason"]


def test_pid_slash_is_refused_where_it_makes_no_sku() -> None:
    with pytest.raises(ValidationError, match="only `sku_from: supplier_pid`"):
        BmecatMap.model_validate({"supplier": "weidmueller", "pid_slash": "-"})
    with pytest.raises(ValidationError, match="pid_slash"):
        BmecatMap.model_validate({"supplier": "weidmueller", "sku_from": "supplier_pid", "pid_slash": "a/b"})
