"""Associations are claimed per source and settled by precedence, like values: the content team's accessories
and a supplier's BMEcat references of the same type each stay the claim of their source; the best-ranked one
shows, the other waits, and a source that withdraws (an empty association, a BMEcat delete) hands the type to
the next claim instead of leaving its own links behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from importers.bmecat import import_bmecat, load_map
from importers.content import import_content
from pim import association_claims
from pim.merge import Merger, Precedence, merge_product
from pim.importing import Parsed, run_import
from pim.product import Association, Product, Provenance
from pim.store import Store
from pim.withdraw import withdraw_claims
from tests.test_bmecat import MAP, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_references import catalog, item

SUPPLIER = "supplier:weidmueller"
EANS = {"a": "4006381333900", "b": "4006381333931", "c": "4006381333948", "d": "4006381333955"}


def bmecat(store: Store, tmp_path: Path, links: dict[str, list[str]], *, name: str = "c.xml",
           precedence: Precedence | None = None, transaction: str = "T_NEW_CATALOG") -> object:
    """A catalog of products a–d, each referencing the ones `links` names (type ACCESSORY)."""
    body = "".join(item(pid, ean, *links.get(pid, [])) for pid, ean in EANS.items())
    path = catalog(tmp_path, body, name=name)
    if transaction != "T_NEW_CATALOG":
        path.write_text(path.read_text().replace("T_NEW_CATALOG", transaction))
    return import_bmecat(path, store, load_map(MAP), precedence=precedence)


def content(store: Store, tmp_path: Path, links: dict[str, list[str]], *, name: str = "content.json",
            precedence: Path | None = None) -> object:
    path = tmp_path / name
    path.write_bytes(orjson.dumps([{"sku": sku, "associations": {"ACCESSORY": targets}} for sku, targets in links.items()]))
    return import_content(path, store, precedence=precedence)


def accessories(store: Store, sku: str) -> list[str] | None:
    links = store.get_product(sku).associations  # type: ignore[union-attr]
    return links["ACCESSORY"].products if "ACCESSORY" in links else None


def claims(store: Store, sku: str) -> dict[str, tuple[list[str], bool]]:
    table = association_claims.ASSOCIATION_CLAIM
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.source, table.c.association, table.c.shown)
                            .where(table.c.identifier == sku, table.c.assoc_type == "ACCESSORY")).all()
    return {source: (association.get("products", []), bool(shown)) for source, association, shown in rows}


def product_seq(store: Store, sku: str) -> int:
    from pim.store.store import PRODUCT

    with store.engine.connect() as conn:
        return conn.execute(select(PRODUCT.c.seq).where(PRODUCT.c.identifier == sku)).scalar_one()


def test_the_content_teams_accessories_win_and_the_suppliers_wait(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    assert accessories(supplier_store, "a") == ["b"]
    content(supplier_store, tmp_path, {"a": ["c", "d"]})  # the default precedence ranks the content team first
    assert accessories(supplier_store, "a") == ["c", "d"]
    assert claims(supplier_store, "a") == {SUPPLIER: (["b"], False), "content": (["c", "d"], True)}
    # the supplier's next catalog changes its own claim, not what shows
    bmecat(supplier_store, tmp_path, {"a": ["d"]}, name="c2.xml")
    assert accessories(supplier_store, "a") == ["c", "d"]
    assert claims(supplier_store, "a")[SUPPLIER] == (["d"], False)
    # the content team withdraws its accessories (an empty list): the supplier's claim takes over
    content(supplier_store, tmp_path, {"a": []}, name="clear.json")
    assert accessories(supplier_store, "a") == ["d"]
    assert claims(supplier_store, "a") == {SUPPLIER: (["d"], True)}


def test_precedence_can_rank_the_supplier_first_for_one_association_type(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    ranked = tmp_path / "precedence.yaml"
    ranked.write_text("associations:\n  ACCESSORY: ['supplier:*', content]\n")
    content(supplier_store, tmp_path, {}, precedence=ranked)  # nothing yet: the products come from the supplier
    bmecat(supplier_store, tmp_path, {"a": ["b"]}, precedence=Precedence.load(ranked))
    content(supplier_store, tmp_path, {"a": ["c"]}, precedence=ranked)
    assert accessories(supplier_store, "a") == ["b"]  # the content team's claim waits
    assert claims(supplier_store, "a") == {SUPPLIER: (["b"], True), "content": (["c"], False)}


def test_a_bmecat_delete_withdraws_the_suppliers_associations(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"], "c": ["d"]})
    content(supplier_store, tmp_path, {"c": ["a"]})
    deletes = "".join(f'<PRODUCT mode="delete"><SUPPLIER_PID>{pid}</SUPPLIER_PID></PRODUCT>' for pid in ("a", "c"))
    path = catalog(tmp_path, deletes, name="d.xml")
    path.write_text(path.read_text().replace("T_NEW_CATALOG", "T_UPDATE_PRODUCTS"))
    counts = import_bmecat(path, supplier_store, load_map(MAP))
    assert counts.extra["withdrawn"] == 2
    assert accessories(supplier_store, "a") is None  # the supplier was its only source: the type goes
    assert accessories(supplier_store, "c") == ["a"]  # the content team's claim stays
    assert claims(supplier_store, "a") == {} and claims(supplier_store, "c") == {"content": (["a"], True)}


def test_withdrawing_a_source_hands_the_type_to_the_next_claim(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    counts = withdraw_claims(supplier_store, "content", ["a"])
    assert counts.updated == 1
    assert accessories(supplier_store, "a") == ["b"] and claims(supplier_store, "a") == {SUPPLIER: (["b"], True)}


def test_an_association_stored_without_claims_counts_as_the_products_own_source(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Stored before claims were kept (or written whole): the shown association is its default source's claim."""
    bmecat(supplier_store, tmp_path, {})
    at = datetime.now(UTC)
    supplier_store.upsert_products([Product(identifier="x", source=Provenance(source="erp", at=at), values={"sku": "x"},
                                            associations={"ACCESSORY": Association(products=["a"])})])
    assert claims(supplier_store, "x") == {}
    run_import(supplier_store, "content", [Parsed(Product(identifier="x", source=Provenance(source="content", at=at),
                                                          associations={"ACCESSORY": Association(products=["b"])}), "c", 1)],
               merge=Merger())
    assert accessories(supplier_store, "x") == ["b"]  # the content team ranks first
    assert claims(supplier_store, "x") == {"erp": (["a"], False), "content": (["b"], True)}
    withdraw_claims(supplier_store, "content", ["x"])
    assert accessories(supplier_store, "x") == ["a"]  # the ERP's association was kept, not lost


def test_a_reimport_changes_no_claim_and_a_deleted_product_forgets_its_claims(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    before = claims(supplier_store, "a")
    seq = product_seq(supplier_store, "a")
    again = bmecat(supplier_store, tmp_path, {"a": ["b"]}, name="again.xml")
    assert again.updated == 0 and again.extra.get("updated_after_file", 0) == 0  # type: ignore[attr-defined]
    assert claims(supplier_store, "a") == before and product_seq(supplier_store, "a") == seq
    supplier_store.delete_products(["a"])
    assert claims(supplier_store, "a") == {}


def test_a_late_reference_that_loses_is_stored_as_a_waiting_claim_and_not_rewritten(supplier_store: Store,  # noqa: F811
                                                                                   tmp_path: Path) -> None:
    """'a' references 'd', which comes later in the file: the follow-up writes the supplier's claim. The content
    team's claim keeps showing, and the next import of the same file writes nothing."""
    bmecat(supplier_store, tmp_path, {})
    content(supplier_store, tmp_path, {"a": ["c"]})
    counts = bmecat(supplier_store, tmp_path, {"a": ["d"]}, name="late.xml")
    assert accessories(supplier_store, "a") == ["c"]
    assert claims(supplier_store, "a") == {SUPPLIER: (["d"], False), "content": (["c"], True)}
    # nothing shown changed, but the supplier's waiting claim was stored: an update (round 26)
    assert counts.updated == 1 and counts.extra.get("updated_after_file", 0) == 0  # type: ignore[attr-defined]
    seq = product_seq(supplier_store, "a")
    again = bmecat(supplier_store, tmp_path, {"a": ["d"]}, name="late2.xml")
    assert again.extra.get("updated_after_file", 0) == 0 and again.updated == 0  # type: ignore[attr-defined]
    assert product_seq(supplier_store, "a") == seq and claims(supplier_store, "a")[SUPPLIER] == (["d"], False)
    # the supplier's target changes: its claim follows, what shows does not
    bmecat(supplier_store, tmp_path, {"a": ["b"]}, name="late3.xml")
    assert claims(supplier_store, "a")[SUPPLIER] == (["b"], False) and accessories(supplier_store, "a") == ["c"]


@pytest.mark.parametrize("first", ["content", "supplier:x"])
def test_merge_product_settles_each_type_by_rank_whatever_the_order(first: str) -> None:
    from pim.catalog import Structure
    from pim.merge import Ranker

    ranker = Ranker(Precedence(), Structure())
    at = datetime.now(UTC)
    claims_of = {"content": ["c"], "supplier:x": ["s"]}
    second = next(s for s in claims_of if s != first)
    product, state = None, None
    for source in (first, second):
        record = Product(identifier="p", source=Provenance(source=source, at=at),
                         associations={"ACCESSORY": Association(products=claims_of[source])})
        out = merge_product(product, record, {}, {}, ranker, state)
        product, state = out.product, out.associations
    assert product.associations["ACCESSORY"].products == ["c"]  # type: ignore[union-attr]
    assert state["ACCESSORY"].shown == "content" and set(state["ACCESSORY"].claims) == {"content", "supplier:x"}


def test_the_product_page_shows_each_types_source_and_the_waiting_claims(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from pim.web.accounts import add_user
    from pim.web.app import create_app
    from tests.test_web_ui import login

    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c", "d"]})
    add_user(supplier_store, "ed", "correct horse", "editor")
    client = TestClient(create_app(supplier_store))
    login(client)
    page = client.get("/products/a").text
    section = page.split("<h2>Associations</h2>", 1)[1].split("</dl>", 1)[0]
    shown = section.split('<dd data-type="ACCESSORY" data-target="a">', 1)[1].split("</dd>", 1)[0]
    assert "(from content)" in section
    assert shown.split('<div class="waiting"', 1)[0].count("/products/") == 2  # c and d show
    waiting = shown.split(f'data-source="{SUPPLIER}">', 1)[1]
    assert f"{SUPPLIER} (waiting)" in waiting and '<a href="/products/b">b</a>' in waiting


def test_the_api_lists_each_types_source_and_waiting_claims(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    token = {"Authorization": f"Bearer {create_token(supplier_store, add_user(supplier_store, 'vi', 'correct horse', 'viewer'))}"}
    client = TestClient(create_app(supplier_store))
    [accessory] = client.get("/api/v1/products/a/associations", headers=token).json()
    assert accessory == {"target": "a", "type": "ACCESSORY", "source": "content", "targets": [{"kind": "product", "code": "c", "qty": None}],
                         "pinned": False, "pinned_by": None,
                         "waiting": [{"source": SUPPLIER, "targets": [{"kind": "product", "code": "b", "qty": None}]}]}
    assert client.get("/api/v1/products/b/associations", headers=token).json() == []
    assert client.get("/api/v1/products/nope/associations", headers=token).status_code == 404
    assert client.get("/api/v1/products/a/associations").status_code == 401
