"""Round 34, a BMEcat delete's tier prices go with its record: the tiers a `PRODUCT mode="delete"` takes off
the supplier's price list (all of them, or, followed by PRODUCTs of its PID, those they do not restate) are
removed in its batch's own transaction and only when the merge takes the record in (importers.bmecat
`TierRemoval`), so a crash before the batch commits, or a delete the merge refuses, leaves the stored tiers as
they were."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from importers.bmecat import import_bmecat, load_map
from pim.commerce import contract_tiers
from pim.store import Store
from pim.structure import Family
from tests.test_bmecat import MAP, PRODUCT, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_round25 import LIST, PRECEDENCE, _delete, _update, _updates

SUPPLIER = "supplier:weidmueller"


class Fault(Exception):
    """Stands for a crash between the batch's tier removals and its commit."""


def tiers_of(store: Store, sku: str) -> dict[Decimal, Decimal]:
    return {t.min_qty: t.price for t in contract_tiers(store, LIST, [sku], "EUR").get(sku, [])}


@pytest.fixture
def catalog(supplier_store: Store, tmp_path: Path) -> Store:  # noqa: F811
    """SKU-9 from the ERP, then the supplier's catalog: its name and tiers 10.50 from 1, 9.00 from 100."""
    _erp_product(supplier_store)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", name="n.xml"),
                  supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert tiers_of(supplier_store, "SKU-9") == {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}
    return supplier_store


@pytest.mark.parametrize("products", [[_delete("r1")], [_delete("r1"), _update("r1", en="back", tiers=(("8.00", "5"),))]],
                         ids=["delete", "delete-then-product"])
def test_a_fault_before_the_batch_commits_leaves_the_old_tiers(catalog: Store, tmp_path: Path, products: list[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    whole = catalog.quarantine

    def crash(job_id: int | None, entries: Any, conn: Any = None) -> int:
        if conn is not None:  # the batch's bookkeeping, after its records and tiers, before its commit
            raise Fault
        return whole(job_id, entries)

    monkeypatch.setattr(catalog, "quarantine", crash)
    with pytest.raises(Fault):
        import_bmecat(_updates(tmp_path, *products), catalog, load_map(MAP), precedence=PRECEDENCE)
    assert tiers_of(catalog, "SKU-9") == {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}
    assert catalog.get_product("SKU-9").values["name:en_US"] == "Relay r1"  # nor were its values withdrawn


def test_a_delete_the_merge_refuses_leaves_its_tiers_while_its_batch_mate_removes_them(catalog: Store,
                                                                                       tmp_path: Path) -> None:
    m = load_map(MAP)
    import_bmecat(_updates(tmp_path, _update("r2", en="Relay r2", tiers=(("3.00", "1"),)), name="r2.xml"), catalog, m,
                  precedence=PRECEDENCE)
    assert tiers_of(catalog, "r2") == {Decimal(1): Decimal(3)}
    # since the catalog import, a person moved SKU-9 to a family without the supplier's height: the merge
    # refuses the delete's record, which withdraws it
    catalog.put_structure("family", [Family(code="plain", attributes=["sku", "name", "ean", "mpn", "price"])])
    catalog.upsert_products([catalog.get_product("SKU-9").model_copy(update={"family": "plain"})])
    counts = import_bmecat(_updates(tmp_path, _delete("r1"), _delete("r2")), catalog, m, precedence=PRECEDENCE)
    assert (counts.read, counts.updated, counts.rejected, counts.extra["withdrawn"]) == (2, 1, 1, 1)
    [refused] = catalog.quarantined(counts.job_id, severity="rejected")
    assert refused["record_key"] == "SKU-9" and "'plain'" in refused["reason"]
    assert tiers_of(catalog, "SKU-9") == {Decimal(1): Decimal("10.5"), Decimal(100): Decimal(9)}
    assert tiers_of(catalog, "r2") == {}
