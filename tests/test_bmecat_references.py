"""BMEcat reference targets are the supplier's PIDs: they land in associations as *our* SKUs (through the
cross-reference, the file's own products — earlier or later in the file — and `sku_prefix`), never as a SKU
that does not exist; a target that is no product of ours is left out with a problem naming its PID."""

from __future__ import annotations

from pathlib import Path

from importers.bmecat import import_bmecat, load_map
from pim.sources import cross_referenced, put_cross_references
from pim.store import Store
from tests.conftest import BMECAT_DIR
from tests.test_bmecat import MAP, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)

SOURCE = "supplier:weidmueller"
RELAY = BMECAT_DIR / "WEI_BMECat_1010000000.xml"  # references 1609801044 among 11 accessories
MARKER = BMECAT_DIR / "WEI_BMECat_1609801044.xml"  # the product 1609801044

ITEM = """<PRODUCT><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>
<DESCRIPTION_SHORT lang="eng">Item {pid}</DESCRIPTION_SHORT><EAN>{ean}</EAN></PRODUCT_DETAILS>
{refs}</PRODUCT>"""


def item(pid: str, ean: str, *targets: str, qty: str | None = None) -> str:
    quantity = f' quantity="{qty}"' if qty else ""
    refs = "".join(f'<PRODUCT_REFERENCE type="accessories"{quantity}><PROD_ID_TO>{t}</PROD_ID_TO></PRODUCT_REFERENCE>'
                   for t in targets)
    return ITEM.format(pid=pid, ean=ean, refs=refs)


def catalog(tmp_path: Path, *products: str, name: str = "c.xml") -> Path:
    return _xml(tmp_path, "<T_NEW_CATALOG>" + "".join(products) + "</T_NEW_CATALOG>", name=name)


def problems(store: Store, job_id: int | None) -> list[tuple[str, str, str]]:
    return sorted((n["record_key"], n["field"], n["raw"]["PROD_ID_TO"]) for n in store.quarantined(job_id, severity="problem")
                  if n["field"] == "PROD_ID_TO")


def test_real_target_lands_as_our_sku_through_the_cross_reference(supplier_store: Store) -> None:  # noqa: F811
    m = load_map(MAP)
    put_cross_references(supplier_store, SOURCE, [("1609801044", "WM-MARKER")])
    first = import_bmecat(MARKER, supplier_store, m)
    assert first.created == 1 and supplier_store.get_product("WM-MARKER") is not None
    counts = import_bmecat(RELAY, supplier_store, m)
    relay = supplier_store.get_product("1010000000")
    assert relay.associations["ACCESSORY"].products == ["WM-MARKER"]  # not the supplier's PID 1609801044
    assert supplier_store.get_product("1609801044") is None
    left_out = problems(supplier_store, counts.job_id)
    assert len(left_out) == 10 and ("1010000000", "PROD_ID_TO", "1609801044") not in left_out
    assert ("1010000000", "PROD_ID_TO", "1050000000") in left_out
    reason = next(n["reason"] for n in supplier_store.quarantined(counts.job_id, severity="problem") if n["field"] == "PROD_ID_TO")
    assert "no product of ours" in reason and "left out" in reason


def test_real_target_lands_as_our_sku_through_the_sku_prefix(supplier_store: Store) -> None:  # noqa: F811
    m = load_map(MAP).model_copy(update={"sku_from": "supplier_pid", "sku_prefix": "W-"})
    import_bmecat(MARKER, supplier_store, m)
    import_bmecat(RELAY, supplier_store, m)
    assert supplier_store.get_product("W-1010000000").associations["ACCESSORY"].products == ["W-1609801044"]


def test_a_target_later_in_the_file_resolves_once_the_file_is_in(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """A references B (later in the file, matched by GTIN to an ERP product) and C (created by the file): both
    land as the SKUs the match gave them, with the quantity, although neither existed when A was merged."""
    m = load_map(MAP)
    _erp_product(supplier_store, sku="ERP-B", ean="4006381333931")
    path = catalog(tmp_path, item("a", "4006381333900", "b", "c", qty="3"), item("b", "4006381333931"),
                   item("c", "4006381333948"))
    counts = import_bmecat(path, supplier_store, m)
    a = supplier_store.get_product("a")
    assert a.associations["ACCESSORY"].products == ["ERP-B", "c"]
    assert a.associations["ACCESSORY"].quantities == {"ERP-B": 3, "c": 3}
    assert counts.extra["updated_after_file"] == 1 and problems(supplier_store, counts.job_id) == []
    again = import_bmecat(path, supplier_store, m)  # now every target resolves while A is merged
    assert (again.created, again.updated, again.rejected) == (0, 0, 0) and "updated_after_file" not in again.extra
    assert supplier_store.get_product("a").associations == a.associations


def test_a_target_in_a_small_batch_before_its_product_resolves_too(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    supplier_store.batch_size = 1  # every product its own batch: the target of a is written in a later one
    m = load_map(MAP)
    path = catalog(tmp_path, item("a", "4006381333900", "b"), item("b", "4006381333931", "a"))
    import_bmecat(path, supplier_store, m)
    assert supplier_store.get_product("a").associations["ACCESSORY"].products == ["b"]
    assert supplier_store.get_product("b").associations["ACCESSORY"].products == ["a"]


def test_a_target_that_is_nothing_of_ours_is_left_out_not_dangling(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """The PID is neither in the file, nor in the cross-reference, nor a product; and a PID the map keeps out of
    the catalog (quarantined) does not resolve either."""
    m = load_map(MAP).model_copy(update={"unmatched": "quarantine"})
    _erp_product(supplier_store, sku="ERP-A", ean="4006381333900")
    path = catalog(tmp_path, item("a", "4006381333900", "ghost", "unplaced"), item("unplaced", "4006381333955"))
    counts = import_bmecat(path, supplier_store, m)
    assert counts.rejected == 1  # `unplaced`: no SKU and the map quarantines
    assert "ACCESSORY" not in supplier_store.get_product("ERP-A").associations
    assert problems(supplier_store, counts.job_id) == [("ERP-A", "PROD_ID_TO", "ghost"), ("ERP-A", "PROD_ID_TO", "unplaced")]
    assert supplier_store.existing_identifiers(["ghost", "unplaced"]) == set()


def test_a_target_that_stops_resolving_leaves_the_association(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP)
    import_bmecat(catalog(tmp_path, item("a", "4006381333900", "b"), item("b", "4006381333931")), supplier_store, m)
    assert supplier_store.get_product("a").associations["ACCESSORY"].products == ["b"]
    supplier_store.delete_products(["b"])
    import_bmecat(catalog(tmp_path, item("a", "4006381333900", "b"), name="again.xml"), supplier_store, m)
    # the supplier's claim on the type is withdrawn (no target resolves), and no other source claims it
    assert "ACCESSORY" not in supplier_store.get_product("a").associations  # not the deleted SKU b
    assert cross_referenced(supplier_store, SOURCE, ["b"]) == {"b": "b"}  # the PID is still known, its product gone
