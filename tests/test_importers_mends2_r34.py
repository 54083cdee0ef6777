"""Round 34 importer mends, second pass. A supplier product id that makes no SKU (`A/1`: the REST API cannot
address it) is refused when it would create a product; the cross-reference no longer remembers it as created
under that id, which named a product that does not exist and kept a later import from matching the id by its
GTIN. ERP complete price lists take SKU rows, never new products, so no identifier refusal can hold back their
clean-up (a guard: a row naming `A/1` is taken in, not rejected)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.supplier_table import import_supplier_table
from pim.sources import cross_references
from pim.store import Store
from tests.test_bmecat import _erp_product, supplier_store  # noqa: F401  (fixture)
from tests.test_erp_csv import PRICE_MAP, _tiers, seeded, write  # noqa: F401  (fixture)
from tests.test_supplier_table import MAP as TABLE_MAP, _csv

SOURCE = TABLE_MAP.source  # supplier:acme, `unmatched: create`
EAN = "4006381333931"


def xrefs(store: Store) -> dict[str, tuple[str, str]]:
    return {r["source_pid"]: (r["sku"], r["matched_by"]) for r in cross_references(store, SOURCE)}


def test_a_supplier_pid_refused_as_a_sku_leaves_no_cross_reference(supplier_store: Store,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    path = _csv(tmp_path, [f"A/1;{EAN};Relais;0,25;ACME;12,5", "A2;;Schütz;1;ACME;3"])
    counts = import_supplier_table(path, supplier_store, TABLE_MAP)
    assert (counts.created, counts.rejected) == (1, 1) and supplier_store.get_product("A/1") is None
    assert xrefs(supplier_store) == {"A2": ("A2", "created")}  # not A/1 → A/1, a product that does not exist


def test_a_refused_supplier_pid_is_matched_by_its_gtin_once_a_product_of_ours_has_it(supplier_store: Store,  # noqa: F811
                                                                                     tmp_path: Path) -> None:
    path = _csv(tmp_path, [f"A/1;{EAN};Relais;0,25;ACME;12,5"])
    assert import_supplier_table(path, supplier_store, TABLE_MAP).rejected == 1
    # the way out the refusal names: our product under a SKU of ours; here it carries the supplier's GTIN
    _erp_product(supplier_store, "A-1", ean=EAN)
    again = import_supplier_table(path, supplier_store, TABLE_MAP)
    assert (again.created, again.updated, again.rejected) == (0, 1, 0)
    assert supplier_store.get_product("A-1").values["name:de_DE"] == "Relais"  # type: ignore[union-attr]
    assert xrefs(supplier_store) == {"A/1": ("A-1", "gtin")}


def test_guard_an_erp_complete_price_list_row_of_an_unaddressable_sku_does_not_hold_back_its_cleanup(
        seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    """A guard (passes before and after this round's mends): price rows create no product, so nothing of an
    ERP price list is refused for its SKU (pim.importing.NEW_IDENTIFIER) and its clean-up needs no such rule."""
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    m = ErpCsvMap(**PRICE_MAP, complete=True)
    import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;1;5,00;01.01.2026;"]), seeded, m)
    counts = import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A/1;1;7,00;01.01.2026;"]),
                            seeded, m)
    assert (counts.rejected, counts.as_dict()["removed"]) == (0, 1)
    assert _tiers(seeded, "C1", ["A1", "A2", "A/1"]) == {"A1": [(Decimal(1), Decimal(10))],
                                                         "A/1": [(Decimal(1), Decimal(7))]}
