"""Round 34, a supplier table's quantity tiers go with their row (importers.supplier_tiers): the tiers a row
writes and the ones it no longer holds are removed in its batch's own transaction, only when the merge takes
the row in, so a refused row or a crash before the commit leaves the stored tiers as they were; a file lacking
some tier columns adds and changes tiers but removes none, and a renamed tier column is warned about as any
other profile column the file lacks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from importers.supplier_table import import_supplier_table
from pim.commerce import PriceListEntry, put_price_list
from pim.product import Product
from pim.store import Store
from pim.structure import Family
from tests.test_importers_r34 import TIERED, sstore, table, tiers_of  # noqa: F401  (fixture)

ROW = "{pid};{ean};Relais;1250,00;100;500;1100,00"  # 12.50 from 1, 11.00 from 500 (prices per 100 pieces)
EMPTIED = "{pid};{ean};Relais;1300,00;100;;"  # 13.00 from 1, the 500 tier emptied


class Fault(Exception):
    """Stands for a crash between the batch's tier writes and its commit."""


def test_a_row_the_merge_refuses_keeps_its_tiers_while_its_batch_mate_changes_them(sstore: Store,  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    # A1 is in a family without prices: the merge refuses the row's price (an import before, or an ERP, set it up)
    sstore.put_structure("family", [Family(code="plain", attributes=["sku", "name", "ean"])])
    sstore.upsert_products([Product(identifier="A1", family="plain", values={"ean": "4006381333931"})])
    put_price_list(sstore, [PriceListEntry(customer="acme_tiers", sku="A1", currency="EUR", min_qty=q, price=p,
                                           source="supplier:acme") for q, p in ((1, "12.5"), (500, "11"))])
    import_supplier_table(table(tmp_path, ROW.format(pid="A2", ean="4012345678901")), sstore, TIERED)
    counts = import_supplier_table(table(tmp_path, EMPTIED.format(pid="A1", ean="4006381333931"),
                                         EMPTIED.format(pid="A2", ean="4012345678901"), name="b.csv"), sstore, TIERED)
    assert (counts.rejected, counts.updated, counts.extra["tier_prices_removed"]) == (1, 1, 1)
    [refused] = sstore.quarantined()
    assert (refused["record_key"], refused["field"]) == ("A1", "price") and "family 'plain'" in refused["reason"]
    assert tiers_of(sstore, "A1") == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert tiers_of(sstore, "A2") == {Decimal(1): Decimal(13)}


def test_a_fault_before_the_batch_commits_leaves_the_old_tiers_and_values(sstore: Store, tmp_path: Path,  # noqa: F811
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import_supplier_table(table(tmp_path, ROW.format(pid="A1", ean="4006381333931")), sstore, TIERED)
    whole = sstore.quarantine

    def crash(job_id: int | None, entries: Any, conn: Any = None) -> int:
        if conn is not None:  # the batch's bookkeeping, after its records and tiers, before its commit
            raise Fault
        return whole(job_id, entries)

    monkeypatch.setattr(sstore, "quarantine", crash)
    with pytest.raises(Fault):
        import_supplier_table(table(tmp_path, EMPTIED.format(pid="A1", ean="4006381333931"), name="b.csv"), sstore,
                              TIERED)
    assert tiers_of(sstore, "A1") == {Decimal(1): Decimal("12.5"), Decimal(500): Decimal(11)}
    assert sstore.get_product("A1").values["price"] == {"EUR": "12.50"}


def test_a_renamed_tier_column_is_warned_about_and_removes_no_tier(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    import_supplier_table(table(tmp_path, ROW.format(pid="A1", ean="4006381333931")), sstore, TIERED)
    renamed = table(tmp_path, "A1;4006381333931;Relais;1300,00;100;;9,00", name="b.csv",
                    head="Art-Nr;EAN;Bezeichnung;Preis;PE;ab Menge;Staffel-Preis")
    counts = import_supplier_table(renamed, sstore, TIERED)
    assert (counts.rejected, counts.extra["unread_map_fields"], "tier_prices_removed" in counts.extra) == (0, 1, False)
    assert tiers_of(sstore, "A1") == {Decimal(1): Decimal(13), Decimal(500): Decimal(11)}  # the first tier changed
    [warning] = [e for e in sstore.quarantined() if e["severity"] == "warning"]
    assert warning["field"] == "Staffelpreis" and "column 'Staffelpreis' (the header has 'Staffel-Preis')" in \
        warning["reason"]


def test_a_file_with_every_tier_column_still_removes_an_emptied_tier(sstore: Store, tmp_path: Path) -> None:  # noqa: F811
    """Guard (passes on the old code too): the removal moved into the batch; a whole tier list still replaces."""
    import_supplier_table(table(tmp_path, ROW.format(pid="A1", ean="4006381333931")), sstore, TIERED)
    counts = import_supplier_table(table(tmp_path, EMPTIED.format(pid="A1", ean="4006381333931"), name="b.csv"),
                                   sstore, TIERED)
    assert (counts.extra["tier_prices_removed"], "unread_map_fields" in counts.extra) == (1, False)
    assert tiers_of(sstore, "A1") == {Decimal(1): Decimal(13)}
