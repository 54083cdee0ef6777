"""BMEcat round 25: a file's last word on a product wins (an update then a delete of the same supplier PID
leaves nothing of the supplier; a delete then an update leaves the update), and such a file imported again
changes nothing; `withdrawn` counts the products a delete took something from in this run; quarantine entries
(BMEcat and JSON Lines) name the file by its name, so a run from another directory supersedes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from importers.bmecat import import_bmecat, load_map
from pim.commerce import contract_tiers
from pim.jsonl import import_jsonl
from pim.merge import Precedence, candidates_for
from pim.store import Store
from pim.store.store import PRODUCT as PRODUCT_TABLE
from tests.test_bmecat import MAP, PRODUCT, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_12 import _catalog_12
from tests.test_bmecat_groups import TREE, assign, cats, document, grouped, groups_map, product  # noqa: F401  (fixture)

SUPPLIER = "supplier:weidmueller"
#: The supplier owns names: its name shows, the ERP's waits as a candidate.
PRECEDENCE = Precedence(attributes={"name": ["supplier:*", "erp"]})
LIST = "purchase_weidmueller"


def _update(pid: str, *, mode: str = "update", en: str | None = None, de: str | None = None,
            width: str | None = None, tiers: tuple[tuple[str, str], ...] = ()) -> str:
    """A T_UPDATE_PRODUCTS PRODUCT of the example map: names, the width feature (ECLASS BAF016, mm) and
    net_customer tiers (amount, lower bound)."""
    names = "".join(f'<DESCRIPTION_SHORT lang="{lang}">{text}</DESCRIPTION_SHORT>'
                    for lang, text in (("eng", en), ("deu", de)) if text)
    features = ("<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>"
                "<REFERENCE_FEATURE_GROUP_ID>27371601</REFERENCE_FEATURE_GROUP_ID><FEATURE><FNAME>0173-1#02-BAF016#004"
                f"</FNAME><FVALUE>{width}</FVALUE><FUNIT>MMT</FUNIT></FEATURE></PRODUCT_FEATURES>") if width else ""
    prices = ("<PRODUCT_PRICE_DETAILS>" + "".join(
        f'<PRODUCT_PRICE price_type="net_customer"><PRICE_AMOUNT>{amount}</PRICE_AMOUNT><PRICE_CURRENCY>EUR'
        f"</PRICE_CURRENCY><LOWER_BOUND>{bound}</LOWER_BOUND></PRODUCT_PRICE>" for amount, bound in tiers)
        + "</PRODUCT_PRICE_DETAILS>") if tiers else ""
    return (f'<PRODUCT mode="{mode}"><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>{names}</PRODUCT_DETAILS>'
            f"{features}{prices}</PRODUCT>")


def _delete(pid: str) -> str:
    return f'<PRODUCT mode="delete"><SUPPLIER_PID>{pid}</SUPPLIER_PID></PRODUCT>'


def _updates(tmp_path: Path, *products: str, name: str = "u.xml") -> Path:
    return _xml(tmp_path, '<T_UPDATE_PRODUCTS prev_version="1">' + "\n".join(products) + "</T_UPDATE_PRODUCTS>",
                name=name)


def _seq(store: Store, sku: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(PRODUCT_TABLE.c.seq).where(PRODUCT_TABLE.c.identifier == sku)).scalar_one()


def _supplier_values(store: Store, sku: str) -> dict[str, object]:
    p = store.get_product(sku)
    return {k: v for k, v in p.values.items() if p.provenance_of(k).source == SUPPLIER}


def _tiers(store: Store, sku: str) -> list[tuple[str, str]]:
    return sorted((f"{t.min_qty.normalize():f}", f"{t.price.normalize():f}") for t in
                  contract_tiers(store, LIST, [sku], "EUR").get(sku, []))


@pytest.fixture
def catalogued(supplier_store: Store, tmp_path: Path) -> Store:  # noqa: F811
    """SKU-9 from the ERP, then the supplier's catalog product r1 (GTIN match): its names, height, image and
    tiers 10.50 @ 1 and 9.00 @ 100 in the purchase list."""
    _erp_product(supplier_store)  # SKU-9, GTIN 4032248855865, name "ERP name"
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", name="new.xml"),
                  supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert _supplier_values(supplier_store, "SKU-9").keys() >= {"name:en_US", "name:de_DE", "height"}
    assert _tiers(supplier_store, "SKU-9") == [("1", "10.5"), ("100", "9")]
    return supplier_store


@pytest.mark.parametrize("batch", [1, 1000])
def test_an_update_then_a_delete_of_the_same_product_leaves_nothing_of_the_supplier(catalogued: Store, tmp_path: Path,
                                                                                   batch: int) -> None:
    catalogued.batch_size = batch  # 1: the update and the delete in batches of their own
    m = load_map(MAP)
    path = _updates(tmp_path, _update("r1", de="Relais neu", width="12", tiers=(("8.00", "1000"),)), _delete("r1"))
    counts = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (counts.read, counts.created, counts.updated, counts.unchanged, counts.rejected) == (2, 0, 1, 1, 0)
    assert counts.extra["withdrawn"] == 1 and counts.extra["superseded_in_file"] == 1
    assert _supplier_values(catalogued, "SKU-9") == {}  # neither the catalog's values nor the update's
    p = catalogued.get_product("SKU-9")
    assert p.values["name:en_US"] == "ERP name" and "width" not in p.values and "name:de_DE" not in p.values
    assert all(SUPPLIER not in claims for claims in candidates_for(catalogued, "SKU-9").values())
    assert _tiers(catalogued, "SKU-9") == []  # the update's tier was never written, the catalog's are gone

    seq = _seq(catalogued, "SKU-9")
    again = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (again.read, again.updated, again.unchanged, again.rejected) == (2, 0, 2, 0)
    assert "withdrawn" not in again.extra and again.extra["superseded_in_file"] == 1
    assert _seq(catalogued, "SKU-9") == seq and _tiers(catalogued, "SKU-9") == []


@pytest.mark.parametrize("batch", [1, 1000])
def test_a_delete_then_an_update_leaves_the_update_and_a_second_run_changes_nothing(catalogued: Store,
                                                                                    tmp_path: Path, batch: int) -> None:
    catalogued.batch_size = batch
    m = load_map(MAP)
    path = _updates(tmp_path, _delete("r1"), _update("r1", en="Relay new", width="12", tiers=(("9.50", "1"),)))
    counts = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (counts.read, counts.updated, counts.unchanged, counts.rejected) == (2, 1, 1, 0)
    assert counts.extra["withdrawn"] == 1 and "superseded_in_file" not in counts.extra
    # the update's values stand; what the catalog said and the update does not restate is withdrawn
    assert _supplier_values(catalogued, "SKU-9") == {"name:en_US": "Relay new", "eclass_class": "27371601",
                                                     "width": {"amount": "12", "unit": "MILLIMETER"}, "price": {"EUR": "9.50"}}
    p = catalogued.get_product("SKU-9")
    assert "height" not in p.values and "name:de_DE" not in p.values and p.values["ean"] == "4032248855865"
    assert _tiers(catalogued, "SKU-9") == [("1", "9.5")]  # the 100 tier is the catalog's: gone

    seq = _seq(catalogued, "SKU-9")
    again = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (again.read, again.updated, again.unchanged, again.rejected) == (2, 0, 2, 0)
    assert not {"withdrawn", "tier_prices", "tier_prices_removed"} & again.extra.keys()
    assert _seq(catalogued, "SKU-9") == seq and _tiers(catalogued, "SKU-9") == [("1", "9.5")]


def test_a_delete_between_updates_keeps_only_what_the_updates_after_it_say(catalogued: Store, tmp_path: Path) -> None:
    m = load_map(MAP)
    path = _updates(tmp_path, _update("r1", de="vorher", width="1"), _delete("r1"), _update("r1", en="first"),
                    _update("r1", width="30", tiers=(("7.00", "1"),)))
    counts = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (counts.read, counts.rejected, counts.extra["superseded_in_file"]) == (4, 0, 1)
    assert _supplier_values(catalogued, "SKU-9") == {"name:en_US": "first", "eclass_class": "27371601",
                                                     "width": {"amount": "30", "unit": "MILLIMETER"}, "price": {"EUR": "7.00"}}
    assert _tiers(catalogued, "SKU-9") == [("1", "7")]
    seq = _seq(catalogued, "SKU-9")
    again = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (again.updated, again.unchanged, "withdrawn" in again.extra) == (0, 4, False)
    assert _seq(catalogued, "SKU-9") == seq


def test_withdrawn_counts_products_a_delete_took_something_from(catalogued: Store, tmp_path: Path) -> None:
    m = load_map(MAP)
    path = _updates(tmp_path, _delete("r1"), _delete("r1"), _delete("never-seen"))
    counts = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert counts.extra["withdrawn"] == 1  # r1 named twice: one product, withdrawn once
    assert (counts.read, counts.updated, counts.unchanged, counts.extra["deletes_unknown"]) == (3, 1, 2, 1)
    assert counts.extra["superseded_in_file"] == 1 and _supplier_values(catalogued, "SKU-9") == {}
    again = import_bmecat(path, catalogued, m, precedence=PRECEDENCE)
    assert (again.read, again.updated, again.unchanged) == (3, 0, 3) and "withdrawn" not in again.extra


def test_a_delete_of_tier_prices_only_counts_as_withdrawn(catalogued: Store, tmp_path: Path) -> None:
    """A product whose supplier claims are gone but whose tier prices are not (another map, the same list): the
    delete that removes them withdrew something."""
    m = load_map(MAP)
    import_bmecat(_updates(tmp_path, _delete("r1"), name="d1.xml"), catalogued, m, precedence=PRECEDENCE)
    import_bmecat(_updates(tmp_path, _update("r1", tiers=(("5.00", "1"),)), name="t.xml"),
                  catalogued, m.model_copy(update={"price_attribute": None}), precedence=PRECEDENCE)
    assert _supplier_values(catalogued, "SKU-9") == {} and _tiers(catalogued, "SKU-9") == [("1", "5")]
    counts = import_bmecat(_updates(tmp_path, _delete("r1"), name="d2.xml"), catalogued, m, precedence=PRECEDENCE)
    assert counts.extra["withdrawn"] == 1 and counts.updated == 0 and _tiers(catalogued, "SKU-9") == []


def test_a_product_deleted_and_sent_again_gets_the_files_groups_only(grouped: Store, tmp_path: Path) -> None:  # noqa: F811
    import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100") + assign("p1", "20")), grouped, groups_map())
    p1 = grouped.get_product("p1")
    grouped.upsert_products([p1.model_copy(update={"categories": [*p1.categories, "erp_cat"]})])
    assert cats(grouped, "p1") == ["wm_100", "markers", "erp_cat"]
    body = product("p1", "delete") + product("p1", "update") + assign("p1", "101")
    path = document(tmp_path, body, transaction="T_UPDATE_PRODUCTS", name="u.xml", valid=False)
    import_bmecat(path, grouped, groups_map())
    assert sorted(cats(grouped, "p1")) == ["erp_cat", "wm_101"]  # the supplier's groups start over; the ERP's stay
    again = import_bmecat(path, grouped, groups_map())
    assert (again.updated, "updated_after_file" in again.extra, "withdrawn" in again.extra) == (0, False, False)


def test_the_first_pass_reads_pids_and_modes_of_both_versions(tmp_path: Path) -> None:
    from importers.bmecat import _last_words
    from importers.bmecat_reader import product_modes

    body = _updates(tmp_path, _update("a"), _delete("b"), _update("a"), _delete("a"), _update("b"))
    assert list(product_modes(body)) == [("a", "update"), ("b", "delete"), ("a", "update"), ("a", "delete"), ("b", "update")]
    assert _last_words(body) == {"b": (1, 4), "a": (3, 3)}
    old = _catalog_12(tmp_path, '<T_UPDATE_PRODUCTS prev_version="1"><ARTICLE mode="update"><SUPPLIER_AID> x </SUPPLIER_AID>'
                      '</ARTICLE><ARTICLE mode="delete"><SUPPLIER_AID>x</SUPPLIER_AID></ARTICLE><ARTICLE mode="delete">'
                      "</ARTICLE></T_UPDATE_PRODUCTS>", doctype="")
    assert list(product_modes(old)) == [("x", "update"), ("x", "delete")]  # one without an id is no product
    assert _last_words(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", name="n.xml")) == {}


def test_an_update_then_a_delete_in_bmecat_12_leaves_nothing_of_the_supplier(catalogued: Store, tmp_path: Path) -> None:
    path = _catalog_12(tmp_path, '<T_UPDATE_PRODUCTS prev_version="1"><ARTICLE mode="update"><SUPPLIER_AID>r1'
                       "</SUPPLIER_AID><ARTICLE_DETAILS><DESCRIPTION_SHORT>Relay 12</DESCRIPTION_SHORT></ARTICLE_DETAILS>"
                       '</ARTICLE><ARTICLE mode="delete"><SUPPLIER_AID>r1</SUPPLIER_AID></ARTICLE></T_UPDATE_PRODUCTS>',
                       doctype="")
    counts = import_bmecat(path, catalogued, load_map(MAP), precedence=PRECEDENCE)
    assert (counts.read, counts.extra["superseded_in_file"], counts.extra["withdrawn"]) == (2, 1, 1)
    assert _supplier_values(catalogued, "SKU-9") == {}


# --------------------------------------------------------------------------- quarantine entries name the file
def test_bmecat_entries_name_the_file_and_a_run_from_another_directory_supersedes_them(
        supplier_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    m = load_map(MAP)
    sub = tmp_path / "in"
    sub.mkdir()
    broken = "<PRODUCT><PRODUCT_DETAILS><DESCRIPTION_SHORT>no id</DESCRIPTION_SHORT></PRODUCT_DETAILS></PRODUCT>"
    odd = PRODUCT.format(pid="r2").replace("<FVALUE>27,5</FVALUE>", "<FVALUE>tall</FVALUE>").replace(
        "4032248855865", "4006381333931")
    path = _xml(sub, "<T_NEW_CATALOG>" + broken + PRODUCT.format(pid="r1") + odd + "</T_NEW_CATALOG>")
    first = import_bmecat(path.resolve(), supplier_store, m)
    assert (first.created, first.rejected) == (2, 1) and first.problems  # r2's height; both references
    entries = supplier_store.quarantined(first.job_id, open_only=False)
    # the product without an id, r2's height and references, and the complete price list left as it was
    assert {(e["severity"], e["file"]) for e in entries} == {("rejected", "c.xml"), ("problem", "c.xml"), ("warning", "c.xml")}

    path.write_text(path.read_text(encoding="utf-8").replace(broken, ""), encoding="utf-8")  # the fix
    monkeypatch.chdir(sub)
    again = import_bmecat(Path("c.xml"), supplier_store, m)
    assert again.rejected == 0
    assert supplier_store.quarantined(first.job_id, severity="rejected") == []  # closed by the clean run
    assert supplier_store.quarantined(first.job_id, severity="warning") == []


def test_jsonl_entries_name_the_file_and_a_run_from_another_directory_supersedes_them(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "in"
    sub.mkdir()
    path = sub / "p.jsonl"
    path.write_text('{"identifier": "J-1"}\nnot json\n', encoding="utf-8")
    first = import_jsonl(path.resolve(), store)
    [entry] = store.quarantined(first.job_id)
    assert (entry["file"], entry["line"]) == ("p.jsonl", 2)
    path.write_text('{"identifier": "J-1"}\n', encoding="utf-8")
    monkeypatch.chdir(sub)
    import_jsonl(Path("p.jsonl"), store)
    assert store.quarantined(first.job_id) == []
