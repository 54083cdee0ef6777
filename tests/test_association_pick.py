"""A person picks a waiting association claim (pim.association_claims.pick, the product page's "Show this", the
API's association pick): it shows and is pinned, so later imports of any source — the content importer, a
BMEcat catalog, a T_UPDATE_PRODUCTS follow-up — update their own claims but leave the pick showing; the pinned
source's own new claim replaces the shown one. The pin ends when that source withdraws its claim."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from importers.bmecat import import_bmecat, load_map
from pim import association_claims
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence
from pim.product import Association, ProductModel, Provenance, partial_model
from pim.store import Store
from pim.withdraw import withdraw_claims
from tests.test_association_claims import EANS, SUPPLIER, accessories, bmecat, claims, content, product_seq
from tests.test_bmecat import MAP, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_references import catalog, item


def pins(store: Store, ident: str, kind: str = "ACCESSORY") -> dict[str, str | None]:
    """source → who pinned its claim (None: not pinned), of one product's association type."""
    table = association_claims.ASSOCIATION_CLAIM
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.source, table.c.pinned_by)
                            .where(table.c.identifier == ident, table.c.assoc_type == kind)).all()
    return dict(rows)  # type: ignore[arg-type]


def supplier_first(tmp_path: Path) -> Path:
    ranked = tmp_path / "precedence.yaml"
    ranked.write_text("associations:\n  ACCESSORY: ['supplier:*', content]\n")
    return ranked


def test_a_pick_shows_the_waiting_claim_and_a_higher_ranked_import_does_not_displace_it(supplier_store: Store,  # noqa: F811
                                                                                      tmp_path: Path) -> None:
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})  # the content team ranks first: the supplier's claim waits
    heard: list[list[str]] = []
    supplier_store.listeners.append(lambda conn, identifiers, **kw: heard.append(list(identifiers)))
    seq = product_seq(supplier_store, "a")
    picked = association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="ed")
    assert picked.associations["ACCESSORY"].products == ["b"] and accessories(supplier_store, "a") == ["b"]
    assert claims(supplier_store, "a") == {SUPPLIER: (["b"], True), "content": (["c"], False)}
    assert pins(supplier_store, "a") == {SUPPLIER: "ed", "content": None}
    assert product_seq(supplier_store, "a") > seq and ["a"] in heard  # written and told like any write
    # the content team's next import updates its own claim; the pick keeps showing
    content(supplier_store, tmp_path, {"a": ["c", "d"]}, name="content2.json")
    assert accessories(supplier_store, "a") == ["b"]
    assert claims(supplier_store, "a") == {SUPPLIER: (["b"], True), "content": (["c", "d"], False)}
    [row] = association_claims.overview(supplier_store, supplier_store.get_product("a"))  # type: ignore[arg-type]
    assert (row["source"], row["pinned"], row["pinned_by"]) == (SUPPLIER, True, "ed")
    assert [w["source"] for w in row["waiting"]] == ["content"]


def test_the_pinned_sources_new_claim_replaces_the_shown_one_and_stays_pinned(supplier_store: Store,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="ed")
    bmecat(supplier_store, tmp_path, {"a": ["c", "d"]}, name="c2.xml")
    assert accessories(supplier_store, "a") == ["c", "d"]
    assert claims(supplier_store, "a")[SUPPLIER] == (["c", "d"], True) and pins(supplier_store, "a")[SUPPLIER] == "ed"


def test_an_association_written_whole_over_a_pick_ends_the_pin(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """A whole record (a catalog load) replaces what shows: it counts as the product's default source's claim,
    and the pick it replaced no longer holds."""
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="ed")
    product = supplier_store.get_product("a")
    supplier_store.upsert_products([product.model_copy(update={  # type: ignore[union-attr]
        "associations": {"ACCESSORY": Association(products=["d"])}})])
    [row] = association_claims.overview(supplier_store, supplier_store.get_product("a"))  # type: ignore[arg-type]
    assert (row["source"], row["pinned"], row["targets"][0]["code"]) == (SUPPLIER, False, "d")
    content(supplier_store, tmp_path, {"a": ["c", "d"]}, name="content2.json")  # precedence decides again
    assert accessories(supplier_store, "a") == ["c", "d"] and pins(supplier_store, "a")[SUPPLIER] is None


@pytest.mark.parametrize("how", ["withdraw", "bmecat delete"])
def test_the_pin_ends_when_the_pinned_source_withdraws(supplier_store: Store, tmp_path: Path, how: str) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="ed")
    if how == "withdraw":
        withdraw_claims(supplier_store, SUPPLIER, ["a"])
    else:
        path = catalog(tmp_path, '<PRODUCT mode="delete"><SUPPLIER_PID>a</SUPPLIER_PID></PRODUCT>', name="d.xml")
        path.write_text(path.read_text().replace("T_NEW_CATALOG", "T_UPDATE_PRODUCTS"))
        import_bmecat(path, supplier_store, load_map(MAP))
    assert accessories(supplier_store, "a") == ["c"]  # precedence decides again: the content team's claim
    assert claims(supplier_store, "a") == {"content": (["c"], True)} and pins(supplier_store, "a") == {"content": None}
    # the supplier claims again: it waits, as precedence says, since nobody pinned it
    bmecat(supplier_store, tmp_path, {"a": ["d"]}, name="again.xml")
    assert accessories(supplier_store, "a") == ["c"] and claims(supplier_store, "a")[SUPPLIER] == (["d"], False)


def test_picking_again_moves_the_pin_and_picking_the_shown_claim_pins_it(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    ranked = supplier_first(tmp_path)
    bmecat(supplier_store, tmp_path, {"a": ["b"]}, precedence=Precedence.load(ranked))
    content(supplier_store, tmp_path, {"a": ["c"]}, precedence=ranked)
    assert accessories(supplier_store, "a") == ["b"]
    association_claims.pick(supplier_store, "a", "ACCESSORY", "content", by="ed")
    bmecat(supplier_store, tmp_path, {"a": ["d"]}, name="c2.xml", precedence=Precedence.load(ranked))
    assert accessories(supplier_store, "a") == ["c"] and pins(supplier_store, "a") == {SUPPLIER: None, "content": "ed"}
    association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="ann")
    assert accessories(supplier_store, "a") == ["d"] and pins(supplier_store, "a") == {SUPPLIER: "ann", "content": None}
    association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="bo")  # shown already: pinned anew
    assert accessories(supplier_store, "a") == ["d"] and pins(supplier_store, "a")[SUPPLIER] == "bo"


def late_update(store: Store, tmp_path: Path, precedence: Precedence | None = None) -> Any:
    """A T_UPDATE_PRODUCTS where 'a' references 'e', a product new in the file and after 'a' in it: the
    reference resolves once the file is in, and the follow-up writes the supplier's claim."""
    path = catalog(tmp_path, item("a", EANS["a"], "e") + item("e", "4006381333962"), name="u.xml")
    path.write_text(path.read_text().replace("T_NEW_CATALOG", "T_UPDATE_PRODUCTS"))
    counts = import_bmecat(path, store, load_map(MAP), precedence=precedence)
    assert counts.created == 1 and claims(store, "a")[SUPPLIER][0] == ["e"]
    return counts


def test_a_bmecat_followup_updates_the_suppliers_claim_under_a_pin(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    ranked = supplier_first(tmp_path)
    bmecat(supplier_store, tmp_path, {"a": ["b"]}, precedence=Precedence.load(ranked))
    content(supplier_store, tmp_path, {"a": ["c"]}, precedence=ranked)
    association_claims.pick(supplier_store, "a", "ACCESSORY", "content", by="ed")
    counts = late_update(supplier_store, tmp_path, Precedence.load(ranked))
    assert claims(supplier_store, "a") == {SUPPLIER: (["e"], False), "content": (["c"], True)}
    assert accessories(supplier_store, "a") == ["c"] and pins(supplier_store, "a")["content"] == "ed"
    assert counts.extra.get("updated_after_file", 0) == 0  # nothing shown changed


def test_a_bmecat_followup_of_the_pinned_source_replaces_the_shown_claim(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    association_claims.pick(supplier_store, "a", "ACCESSORY", SUPPLIER, by="ed")
    counts = late_update(supplier_store, tmp_path)
    assert counts.extra["updated_after_file"] == 1  # written by the follow-up
    assert accessories(supplier_store, "a") == ["e"] and pins(supplier_store, "a") == {SUPPLIER: "ed", "content": None}


def test_a_pick_of_what_is_not_there_says_what_is(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    with pytest.raises(InputError, match="no product 'nope'"):
        association_claims.pick(supplier_store, "nope", "ACCESSORY", SUPPLIER, by="ed")
    with pytest.raises(InputError, match="no source claims a 'SUBSTITUTION'") as exc:
        association_claims.pick(supplier_store, "a", "SUBSTITUTION", SUPPLIER, by="ed")
    assert exc.value.field == "type" and "ACCESSORY" in (exc.value.hint or "")
    with pytest.raises(InputError, match="'erp' claims no 'ACCESSORY'") as exc:
        association_claims.pick(supplier_store, "a", "ACCESSORY", "erp", by="ed")
    assert exc.value.field == "source" and exc.value.hint == f"pick one of the sources that do: content, {SUPPLIER}"
    assert accessories(supplier_store, "a") == ["c"] and pins(supplier_store, "a") == {SUPPLIER: None, "content": None}


def test_a_product_models_claim_is_picked_under_its_model_key(tiny_store: Store) -> None:
    at = datetime.now(UTC)
    tiny_store.upsert_models([ProductModel(code="shirt", family_variant="shirts_color_size", family="shirts",
                                           source=Provenance(source="erp", at=at),
                                           associations={"ACCESSORY": Association(groups=["erp_group"])})])
    record = partial_model("shirt", {}, Provenance(source="content", at=at),
                           {"associations": {"ACCESSORY": Association(groups=["content_group"])}})
    run_import(tiny_store, "content", [Parsed(record, "c", 1)], merge=Merger())
    assert tiny_store.get_model("shirt").associations["ACCESSORY"].groups == ["content_group"]  # type: ignore[union-attr]
    picked = association_claims.pick(tiny_store, "model:shirt", "ACCESSORY", "erp", by="ed")
    assert picked.associations["ACCESSORY"].groups == ["erp_group"]
    assert tiny_store.get_model("shirt").associations["ACCESSORY"].groups == ["erp_group"]  # type: ignore[union-attr]
    assert pins(tiny_store, "model:shirt") == {"erp": "ed", "content": None}
    with pytest.raises(InputError, match="no product model 'nope'"):
        association_claims.pick(tiny_store, "model:nope", "ACCESSORY", "erp", by="ed")


# ---------------------------------------------------------------------------------------------- web and API
def web(store: Store, role: str) -> tuple[TestClient, str]:
    from pim.web.accounts import add_user
    from pim.web.app import create_app
    from tests.test_web_ui import login

    add_user(store, "ed", "correct horse", role)
    client = TestClient(create_app(store))
    return client, login(client)


def picks_logged(store: Store, identifier: str) -> list[tuple[str, object, object, str, str]]:
    from pim.web.editing import history

    return [(h["value_key"], h["old"], h["new"], h["actor"], h["source"]) for h in reversed(history(store, identifier))]


def test_an_editor_picks_a_waiting_claim_on_the_product_page(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    client, token = web(supplier_store, "editor")
    page = client.get("/products/a").text
    waiting = page.split(f'<div class="waiting" data-source="{SUPPLIER}">', 1)[1].split("</div>", 1)[0]
    assert 'action="/products/a/associations"' in waiting and "Show this" in waiting
    resp = client.post("/products/a/associations", data={"type": "ACCESSORY", "source": SUPPLIER, "csrf_token": token},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/products/a"
    assert accessories(supplier_store, "a") == ["b"] and pins(supplier_store, "a")[SUPPLIER] == "ed"
    page = client.get("/products/a").text
    assert f"(from {SUPPLIER}, picked by ed)" in page
    history = page.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    assert f"ed ({SUPPLIER})" in history and "<code>association ACCESSORY</code>" in history and "c → b" in history
    assert '<div class="waiting" data-source="content">' in page  # the content team's claim now waits
    # no CSRF token: refused, nothing changes
    resp = client.post("/products/a/associations", data={"type": "ACCESSORY", "source": "content"}, follow_redirects=False)
    assert resp.status_code == 403 and accessories(supplier_store, "a") == ["b"]
    resp = client.post("/products/a/associations", data={"type": "ACCESSORY", "source": "erp", "csrf_token": token})
    assert resp.status_code == 422 and "'erp' claims no 'ACCESSORY' association on a" in resp.text
    resp = client.post("/products/nope/associations", data={"type": "ACCESSORY", "source": "content", "csrf_token": token})
    assert resp.status_code == 404
    assert picks_logged(supplier_store, "a") == [("association ACCESSORY", "c", "b", "ed", SUPPLIER)]  # refusals: none


def test_a_viewer_may_not_pick(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    client, token = web(supplier_store, "viewer")
    page = client.get("/products/a").text
    assert f'<div class="waiting" data-source="{SUPPLIER}">' in page and "Show this" not in page
    resp = client.post("/products/a/associations", data={"type": "ACCESSORY", "source": SUPPLIER, "csrf_token": token})
    assert resp.status_code == 403 and accessories(supplier_store, "a") == ["c"]


def test_the_api_picks_a_claim_and_lists_it_pinned(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})
    headers: dict[str, dict[str, Any]] = {}
    for name, role in (("ed", "editor"), ("vi", "viewer")):
        headers[role] = {"Authorization": f"Bearer {create_token(supplier_store, add_user(supplier_store, name, 'correct horse', role))}"}
    client = TestClient(create_app(supplier_store))
    url = "/api/v1/products/a/associations/ACCESSORY"
    assert client.post(url, json={"source": SUPPLIER}, headers=headers["viewer"]).status_code == 403
    assert accessories(supplier_store, "a") == ["c"]
    resp = client.post(url, json={"source": SUPPLIER}, headers=headers["editor"])
    assert resp.status_code == 200
    assert resp.json() == {"target": "a", "type": "ACCESSORY", "source": SUPPLIER, "pinned": True, "pinned_by": "ed",
                           "targets": [{"kind": "product", "code": "b", "qty": None}],
                           "waiting": [{"source": "content", "targets": [{"kind": "product", "code": "c", "qty": None}]}]}
    [listed] = client.get("/api/v1/products/a/associations", headers=headers["viewer"]).json()
    assert (listed["source"], listed["pinned"], listed["pinned_by"]) == (SUPPLIER, True, "ed")
    assert picks_logged(supplier_store, "a") == [("association ACCESSORY", "c", "b", "ed", SUPPLIER)]
    assert client.post(url, json={"source": SUPPLIER}, headers=headers["editor"]).status_code == 200
    assert len(picks_logged(supplier_store, "a")) == 1  # picked again, nothing shown changed: no new row
    refused = client.post(url, json={"source": "erp"}, headers=headers["editor"])
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "body.source" and "pick one of the sources that do: content" in error["message"]
    refused = client.post("/api/v1/products/a/associations/SUBSTITUTION", json={"source": SUPPLIER}, headers=headers["editor"])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "path.assoc_type"
    assert client.post("/api/v1/products/nope/associations/ACCESSORY", json={"source": SUPPLIER},
                       headers=headers["editor"]).status_code == 404


def test_a_choice_that_changes_only_the_quantities_is_in_the_history(supplier_store: Store) -> None:  # noqa: F811
    """The history compared association targets as text without their quantities: a pick that changed only
    how many of a target (the content team's 1 against the supplier's 2) wrote no row."""
    from pim.product import Product
    from pim.web.editing import ChoiceLog, history

    def packed(qty: int) -> Product:
        return Product(identifier="a", family="electrical",
                       associations={"ACCESSORY": Association(products=["b", "c"], quantities={"b": qty})})

    log = ChoiceLog("a", "association ACCESSORY", "ed", SUPPLIER)
    with supplier_store.begin() as conn:
        log(conn, packed(1), packed(2))
        log(conn, packed(2), packed(2))  # the same again: no row
    assert [(h["old"], h["new"]) for h in history(supplier_store, "a")] == [("b ×1, c", "b ×2, c")]


def variant_of_claimed_models(store: Store) -> None:
    """A two-level model tree whose root's ACCESSORY type the ERP and the content team both claim (content
    shows), and a variant under it."""
    at = datetime.now(UTC)
    store.upsert_models([
        ProductModel(code="shirt", family_variant="shirts_color_size", family="shirts",
                     source=Provenance(source="erp", at=at), associations={"ACCESSORY": Association(groups=["erp_group"])}),
        ProductModel(code="shirt-red", family_variant="shirts_color_size", family="shirts", parent="shirt",
                     values={"color": "red"})])
    from pim.product import Product

    store.upsert_products([Product(identifier="shirt-red-s", family="shirts", parent="shirt-red",
                                   values={"sku": "shirt-red-s", "size": "s"})])
    record = partial_model("shirt", {}, Provenance(source="content", at=at),
                           {"associations": {"ACCESSORY": Association(groups=["content_group"])}})
    run_import(store, "content", [Parsed(record, "c", 1)], merge=Merger())


def test_the_api_picks_a_claim_of_a_model_the_product_inherits_from(tiny_store: Store) -> None:
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    variant_of_claimed_models(tiny_store)
    editor = {"Authorization": f"Bearer {create_token(tiny_store, add_user(tiny_store, 'ed', 'correct horse', 'editor'))}"}
    client = TestClient(create_app(tiny_store))
    [listed] = client.get("/api/v1/products/shirt-red-s/associations", headers=editor).json()
    assert (listed["target"], listed["source"], listed["pinned"]) == ("model:shirt", "content", False)
    url = "/api/v1/products/shirt-red-s/associations/ACCESSORY"
    resp = client.post(url, json={"source": "erp", "target": "model:shirt"}, headers=editor)
    assert resp.status_code == 200
    assert resp.json() == {"target": "model:shirt", "type": "ACCESSORY", "source": "erp", "pinned": True,
                           "pinned_by": "ed", "targets": [{"kind": "group", "code": "erp_group", "qty": None}],
                           "waiting": [{"source": "content", "targets": [{"kind": "group", "code": "content_group",
                                                                           "qty": None}]}]}
    assert tiny_store.get_model("shirt").associations["ACCESSORY"].groups == ["erp_group"]  # type: ignore[union-attr]
    assert pins(tiny_store, "model:shirt") == {"erp": "ed", "content": None}
    assert picks_logged(tiny_store, "model:shirt") == [("association ACCESSORY", "group content_group", "group erp_group", "ed", "erp")]
    # the product itself has no such type; a model it does not inherit from is refused
    refused = client.post(url, json={"source": "content"}, headers=editor)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "path.assoc_type"
    tiny_store.upsert_models([ProductModel(code="other", family_variant="shirts_color_size", family="shirts")])
    refused = client.post(url, json={"source": "content", "target": "model:other"}, headers=editor)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.target"
    assert pins(tiny_store, "model:shirt") == {"erp": "ed", "content": None}


def test_a_variants_page_picks_a_claim_of_its_model(tiny_store: Store) -> None:
    variant_of_claimed_models(tiny_store)
    client, token = web(tiny_store, "editor")
    page = client.get("/products/shirt-red-s").text
    assert '<dt data-type="ACCESSORY" data-target="model:shirt">' in page and "(inherited from shirt)" in page
    waiting = page.split('<div class="waiting" data-source="erp">', 1)[1].split("</div>", 1)[0]
    assert '<input type="hidden" name="target" value="model:shirt">' in waiting
    resp = client.post("/products/shirt-red-s/associations", follow_redirects=False,
                       data={"type": "ACCESSORY", "source": "erp", "target": "model:shirt", "csrf_token": token})
    assert resp.status_code == 303 and resp.headers["location"] == "/products/shirt-red-s"
    assert pins(tiny_store, "model:shirt") == {"erp": "ed", "content": None}
    page = client.get("/products/shirt-red-s").text
    assert "(from erp, picked by ed)" in page and '<div class="waiting" data-source="content">' in page
    history = page.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    assert "<code>association ACCESSORY</code>" in history and "group content_group → group erp_group" in history
    tiny_store.upsert_models([ProductModel(code="other", family_variant="shirts_color_size", family="shirts")])
    resp = client.post("/products/shirt-red-s/associations",
                       data={"type": "ACCESSORY", "source": "content", "target": "model:other", "csrf_token": token})
    assert resp.status_code == 422 and "is neither shirt-red-s nor a model it inherits from" in resp.text
    assert pins(tiny_store, "model:shirt") == {"erp": "ed", "content": None}
