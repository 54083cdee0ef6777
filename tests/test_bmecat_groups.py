"""BMEcat catalog groups → categories: the group tree created under `create_under` (or mapped onto existing
categories), the assignments applied as the supplier's category claim — only within its range, so categories
other sources filed stay — and a map without `catalog_groups` reading the groups past as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from importers.bmecat import CatalogGroups, import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from pim.errors import InputError
from pim.product import Product
from pim.store import Store
from pim.structure import Category
from tests.conftest import BMECAT_DIR
from tests.test_bmecat import MAP, supplier_store  # noqa: F401  (fixture)

NS = "http://www.bmecat.org/bmecat/2005.1"
SCHEMA = etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd")))


def product(pid: str, mode: str | None = None, extra: str = "") -> str:
    """A PRODUCT with what the XSD requires; `extra` goes after the price details (MIME_INFO … LOGISTIC_DETAILS)."""
    attr = f' mode="{mode}"' if mode else ""
    return (f'<PRODUCT{attr}><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>'
            f'<DESCRIPTION_SHORT lang="eng">Item {pid}</DESCRIPTION_SHORT></PRODUCT_DETAILS>'
            "<PRODUCT_ORDER_DETAILS><ORDER_UNIT>C62</ORDER_UNIT><CONTENT_UNIT>C62</CONTENT_UNIT>"
            "<NO_CU_PER_OU>1</NO_CU_PER_OU></PRODUCT_ORDER_DETAILS><PRODUCT_PRICE_DETAILS>"
            '<PRODUCT_PRICE price_type="net_list"><PRICE_AMOUNT>1.00</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY>'
            f"<LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE></PRODUCT_PRICE_DETAILS>{extra}</PRODUCT>")


def group(gid: str, parent: str, kind: str, eng: str, deu: str) -> str:
    return (f'<CATALOG_STRUCTURE type="{kind}"><GROUP_ID>{gid}</GROUP_ID><GROUP_NAME lang="eng">{eng}</GROUP_NAME>'
            f'<GROUP_NAME lang="deu">{deu}</GROUP_NAME><PARENT_ID>{parent}</PARENT_ID>'
            f"<GROUP_ORDER>{gid}</GROUP_ORDER></CATALOG_STRUCTURE>")


def assign(pid: str, gid: str, mode: str | None = None) -> str:
    attr = f' mode="{mode}"' if mode else ""
    return (f"<PRODUCT_TO_CATALOGGROUP_MAP{attr}><PROD_ID>{pid}</PROD_ID><CATALOG_GROUP_ID>{gid}</CATALOG_GROUP_ID>"
            "</PRODUCT_TO_CATALOGGROUP_MAP>")


TREE = ("<CATALOG_GROUP_SYSTEM><GROUP_SYSTEM_ID>WM</GROUP_SYSTEM_ID>"
        + group("1", "0", "root", "Weidmüller", "Weidmüller") + group("10", "1", "node", "Terminals", "Klemmen")
        + group("100", "10", "leaf", "Feed-through", "Durchgang") + group("101", "10", "leaf", "Fuse", "Sicherung")
        + group("20", "1", "leaf", "Markers", "Markierer") + "</CATALOG_GROUP_SYSTEM>")


def document(tmp_path: Path, body: str, *, transaction: str = "T_NEW_CATALOG", name: str = "g.xml",
             valid: bool = True) -> Path:
    """A BMEcat 2005.1 document that the XSD accepts (checked unless `valid` is False: real files break its
    data types), so element names and positions are the spec's."""
    prev = ' prev_version="1"' if transaction != "T_NEW_CATALOG" else ""
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<BMECAT version="2005.1" xmlns="{NS}"><HEADER><CATALOG>'
                    "<LANGUAGE>eng</LANGUAGE><LANGUAGE>deu</LANGUAGE><CATALOG_ID>wm-1</CATALOG_ID>"
                    "<CATALOG_VERSION>1.0</CATALOG_VERSION><CURRENCY>EUR</CURRENCY></CATALOG><SUPPLIER>"
                    f"<SUPPLIER_NAME>Weidmüller</SUPPLIER_NAME></SUPPLIER></HEADER><{transaction}{prev}>{body}"
                    f"</{transaction}></BMECAT>\n", encoding="utf-8")
    assert SCHEMA.validate(etree.parse(str(path))) or not valid, SCHEMA.error_log.last_error
    return path


@pytest.fixture
def grouped(supplier_store: Store) -> Store:  # noqa: F811
    """Under `master`: `suppliers` (where supplier groups go), `markers` (a group is mapped onto it), `erp_cat`."""
    supplier_store.put_structure("category", [Category(code="suppliers", parent="master"),
                                              Category(code="markers", parent="master"),
                                              Category(code="erp_cat", parent="master")])
    return supplier_store


def groups_map(**cfg: object):  # type: ignore[no-untyped-def]
    defaults: dict[str, object] = {"categories": {"20": "markers"}, "create_under": "suppliers", "code_prefix": "wm_"}
    return load_map(MAP).model_copy(update={"catalog_groups": CatalogGroups.model_validate({**defaults, **cfg})})


def cats(store: Store, sku: str) -> list[str]:
    return store.get_product(sku).categories


def test_the_group_tree_becomes_categories_and_assignments_land(grouped: Store, tmp_path: Path) -> None:
    body = (TREE + product("p1") + product("p2") + product("p3")
            + assign("p1", "100") + assign("p1", "20") + assign("p2", "101"))
    counts = import_bmecat(document(tmp_path, body), grouped, groups_map())
    s = grouped.structure()
    assert {c: s.categories[c].parent for c in s.categories if c.startswith("wm_")} == {
        "wm_1": "suppliers", "wm_10": "wm_1", "wm_100": "wm_10", "wm_101": "wm_10"}  # group 20 is mapped: not created
    assert s.categories["wm_10"].labels == {"en_US": "Terminals", "de_DE": "Klemmen"}
    assert cats(grouped, "p1") == ["wm_100", "markers"] and cats(grouped, "p2") == ["wm_101"] and cats(grouped, "p3") == []
    assert counts.extra["categories_created"] == 4 and counts.extra["updated_after_file"] == 2
    assert grouped.quarantined(counts.job_id, severity="problem") == []
    again = import_bmecat(document(tmp_path, body), grouped, groups_map())
    assert (again.created, again.updated, again.rejected) == (0, 0, 0)
    assert "categories_created" not in again.extra and "updated_after_file" not in again.extra


def test_the_suppliers_claim_keeps_other_categories_and_a_new_catalog_moves_its_own(grouped: Store, tmp_path: Path) -> None:
    grouped.upsert_products([Product(identifier="p1", family="electrical", categories=["erp_cat"]),
                             Product(identifier="p2", family="electrical", categories=["erp_cat", "markers"])])
    from pim.sources import put_cross_references

    put_cross_references(grouped, "supplier:weidmueller", [("p1", "p1"), ("p2", "p2")])
    first = TREE + product("p1") + product("p2") + assign("p1", "100") + assign("p1", "20") + assign("p2", "101")
    import_bmecat(document(tmp_path, first), grouped, groups_map())
    assert cats(grouped, "p1") == ["erp_cat", "wm_100", "markers"]
    # `markers` is in the supplier's range (its map names it): the whole catalog says p2 is not in group 20
    assert cats(grouped, "p2") == ["erp_cat", "wm_101"]
    # the next whole catalog moves p1 to 101 and assigns p2 nowhere: only the supplier's range changes
    later = TREE + product("p1") + product("p2") + assign("p1", "101")
    import_bmecat(document(tmp_path, later, name="later.xml"), grouped, groups_map())
    assert cats(grouped, "p1") == ["erp_cat", "wm_101"] and cats(grouped, "p2") == ["erp_cat"]


def test_an_update_adds_and_removes_single_assignments(grouped: Store, tmp_path: Path) -> None:
    import_bmecat(document(tmp_path, TREE + product("p1") + product("p2") + assign("p1", "100") + assign("p2", "20")),
                  grouped, groups_map())
    body = product("p1", "update") + assign("p1", "101", "new") + assign("p1", "100", "delete") + assign("p2", "101", "new")
    counts = import_bmecat(document(tmp_path, body, transaction="T_UPDATE_PRODUCTS", name="u.xml"), grouped, groups_map())
    assert cats(grouped, "p1") == ["wm_101"]  # the update has no group system: wm_101 exists from the catalog
    assert cats(grouped, "p2") == ["markers", "wm_101"]  # not in the update's products, named by its map: added
    assert counts.extra["updated_after_file"] == 2


def test_without_create_under_an_unmapped_group_is_a_problem(grouped: Store, tmp_path: Path) -> None:
    m = groups_map(create_under=None)
    body = TREE + product("p1") + assign("p1", "100") + assign("p1", "20") + assign("ghost", "20")
    counts = import_bmecat(document(tmp_path, body), grouped, m)
    assert cats(grouped, "p1") == ["markers"] and not any(c.startswith("wm_") for c in grouped.structure().categories)
    notes = {(n["field"], n["record_key"]): n["reason"] for n in grouped.quarantined(counts.job_id, severity="problem")}
    assert "catalog group '100' is not mapped" in notes[("CATALOG_GROUP_ID", "p1")]
    assert "'ghost'" in notes[("PROD_ID", "ghost")] and len(notes) == 2
    assert counts.rejected == 0  # per-value problems: the products import


def test_a_mapped_group_naming_no_category_is_a_problem(grouped: Store, tmp_path: Path) -> None:
    counts = import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "20")), grouped,
                           groups_map(categories={"20": "nowhere"}, create_under=None))
    [note] = grouped.quarantined(counts.job_id, severity="problem")
    assert "'nowhere', which is no category" in note["reason"] and cats(grouped, "p1") == []


def test_create_under_must_be_a_category(grouped: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="create_under") as err:
        import_bmecat(document(tmp_path, TREE + product("p1")), grouped, groups_map(create_under="nope"))
    assert err.value.field == "catalog_groups.create_under" and grouped.get_product("p1") is None


def test_a_map_without_catalog_groups_reads_them_past(grouped: Store, tmp_path: Path) -> None:
    path = document(tmp_path, TREE + product("p1") + assign("p1", "100"))
    before = set(grouped.structure().categories)
    counts = import_bmecat(path, grouped, load_map(MAP))
    assert (counts.created, counts.rejected, counts.problems) == (1, 0, 0) and cats(grouped, "p1") == []
    # (the file's net_list prices are none of the map's net_customer: that file warning is no group's)
    assert set(grouped.structure().categories) == before and set(counts.extra) <= {"tier_prices", "unread_price_types"}
    header = BmecatHeader()
    [p] = list(read_bmecat(path, header))
    assert p.supplier_pid == "p1" and header.groups == {} and header.assignments == []


def test_the_reader_collects_groups_and_12_assignments(tmp_path: Path) -> None:
    header = BmecatHeader()
    list(read_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100")), header, groups=True))
    assert header.groups["100"].parent_id == "10" and header.groups["1"].type == "root"
    assert header.groups["10"].names == {"eng": "Terminals", "deu": "Klemmen"} and header.groups["10"].order == 10
    assert [(a.pid, a.group_id, a.mode) for a in header.assignments] == [("p1", "100", "new")]
    old = tmp_path / "a12.xml"
    old.write_text('<?xml version="1.0"?><BMECAT version="1.2"><HEADER><CATALOG><LANGUAGE>deu</LANGUAGE></CATALOG>'
                   "</HEADER><T_NEW_CATALOG><ARTICLE><SUPPLIER_AID>a1</SUPPLIER_AID></ARTICLE><ARTICLE_TO_CATALOGGROUP_MAP>"
                   "<ART_ID>a1</ART_ID><CATALOG_GROUP_ID>7</CATALOG_GROUP_ID></ARTICLE_TO_CATALOGGROUP_MAP>"
                   "</T_NEW_CATALOG></BMECAT>")
    h12 = BmecatHeader()
    list(read_bmecat(old, h12, groups=True))
    assert [(a.pid, a.group_id) for a in h12.assignments] == [("a1", "7")]


def test_a_new_catalog_without_any_group_leaves_categories_alone(grouped: Store, tmp_path: Path) -> None:
    import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100")), grouped, groups_map())
    counts = import_bmecat(document(tmp_path, product("p1"), name="bare.xml"), grouped, groups_map())
    assert cats(grouped, "p1") == ["wm_100"] and "updated_after_file" not in counts.extra
