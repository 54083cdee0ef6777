"""BMEcat `PRODUCT mode="delete"` in a T_UPDATE_PRODUCTS: the supplier withdraws the product. Our product stays
(other sources describe it); the supplier's claims leave it — values (the next-best candidate shows), its
tier prices, its category claims — and a delete naming no product of ours changes nothing."""

from __future__ import annotations

from pathlib import Path

from importers.bmecat import import_bmecat, load_map
from pim.commerce import contract_tiers
from pim.merge import Precedence, candidates_for
from pim.store import Store
from tests.test_bmecat import MAP, PRODUCT, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_groups import TREE, assign, document, grouped, groups_map, product  # noqa: F401  (fixture)

SUPPLIER = "supplier:weidmueller"
#: The supplier owns names: its name shows, the ERP's waits as a candidate.
PRECEDENCE = Precedence(attributes={"name": ["supplier:*", "erp"]})


def deletes(tmp_path: Path, *pids: str, name: str = "d.xml") -> Path:
    return document(tmp_path, "".join(product(pid, "delete") for pid in pids), transaction="T_UPDATE_PRODUCTS", name=name)


def test_a_delete_withdraws_the_suppliers_claims_and_the_erp_value_shows(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    _erp_product(supplier_store)  # SKU-9, GTIN 4032248855865, name "ERP name"
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>"), supplier_store, m,
                  precedence=PRECEDENCE)
    p = supplier_store.get_product("SKU-9")
    assert p.values["name:en_US"] == "Relay r1" and p.values["height"]["amount"] == "27.5"
    assert contract_tiers(supplier_store, "purchase_weidmueller", ["SKU-9"], "EUR")["SKU-9"]

    counts = import_bmecat(deletes(tmp_path, "r1"), supplier_store, m, precedence=PRECEDENCE)
    assert (counts.read, counts.updated, counts.rejected, counts.extra["withdrawn"]) == (1, 1, 0, 1)
    p = supplier_store.get_product("SKU-9")
    assert p.values["name:en_US"] == "ERP name" and p.provenance_of("name:en_US").source == "erp"
    assert "height" not in p.values and "price" not in p.values  # the supplier's lone values go
    assert p.values["mpn"] == "ERP-MPN" and p.family == "electrical"  # the product and the ERP's values stay
    assert all(SUPPLIER not in claims for claims in candidates_for(supplier_store, "SKU-9").values())
    assert contract_tiers(supplier_store, "purchase_weidmueller", ["SKU-9"], "EUR").get("SKU-9", []) == []
    again = import_bmecat(deletes(tmp_path, "r1", name="d2.xml"), supplier_store, m, precedence=PRECEDENCE)
    assert (again.read, again.updated, again.unchanged, again.rejected) == (1, 0, 1, 0)  # nothing left to withdraw


def test_a_delete_of_an_unknown_pid_is_counted_unchanged(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)  # unmatched: create — a delete must still never create a product
    counts = import_bmecat(deletes(tmp_path, "never-seen"), supplier_store, m)
    assert (counts.read, counts.created, counts.unchanged, counts.rejected) == (1, 0, 1, 0)
    assert counts.extra["deletes_unknown"] == 1 and supplier_store.get_product("never-seen") is None
    job = supplier_store.job(counts.job_id)
    assert job["status"] == "succeeded" and job["counts"]["unchanged"] == 1 and job["counts"]["deletes_unknown"] == 1
    assert supplier_store.quarantined(counts.job_id, open_only=False) == []


def test_a_delete_leaves_the_suppliers_categories_only(grouped: Store, tmp_path: Path) -> None:  # noqa: F811
    import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100") + assign("p1", "20")), grouped, groups_map())
    p1 = grouped.get_product("p1")
    grouped.upsert_products([p1.model_copy(update={"categories": [*p1.categories, "erp_cat"]})])
    counts = import_bmecat(deletes(tmp_path, "p1"), grouped, groups_map())
    assert grouped.get_product("p1").categories == ["erp_cat"] and counts.extra["withdrawn"] == 1


def test_a_map_with_deletes_reviewed_quarantines_them_and_withdraws_nothing(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    _erp_product(supplier_store)
    m = load_map(MAP).model_copy(update={"deletes": "review"})
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>"), supplier_store, m,
                  precedence=PRECEDENCE)
    counts = import_bmecat(deletes(tmp_path, "r1"), supplier_store, m, precedence=PRECEDENCE)
    assert (counts.read, counts.updated, counts.rejected) == (1, 0, 1) and "withdrawn" not in counts.extra
    [entry] = supplier_store.quarantined(counts.job_id, severity="rejected")
    assert entry["field"] == "PRODUCT@mode" and "pim import withdraw supplier:weidmueller" in entry["reason"]
    assert supplier_store.get_product("SKU-9").values["name:en_US"] == "Relay r1"  # the supplier's value stays
