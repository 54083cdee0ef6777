"""Moving a category on its admin page: the grid's category filter, contract assortments (full and delta
feeds) and channel trees follow the new parent; cycles, unknown parents and a channel's tree are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim.contracts import AssortmentIndex, get_contract, put_contracts
from pim.feeds import deliver_contract
from pim.store import Store
from pim.structure import Category
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.feeds_data import contract, out_dir, put_prices, seed_catalog, store_contract
from tests.test_web_ui import admin_client, cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


@pytest.fixture
def admin(store: Store) -> tuple[TestClient, str]:
    seed_products(store)  # master / shoes / sneakers; channel ecommerce's tree is master
    store.put_structure("category", [Category(code="outlet", labels={"en_US": "Outlet"})])
    return admin_client(store)


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'") if found else ""


def _grid(web: TestClient, category: str) -> list[str]:
    return sorted(re.findall(r'data-identifier="([^"]+)"', web.get(f"/products?category={category}").text))


def _move(web: TestClient, token: str, code: str, parent: str):  # noqa: ANN202
    return web.post(f"/admin/categories/{code}/move", data={"csrf_token": token, "parent": parent})


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT identifier, seq FROM product").all())


def test_a_moved_category_takes_its_products_to_the_new_parent_in_the_grid(admin, store: Store) -> None:
    web, token = admin
    assert _grid(web, "sneakers") == ["complete", "runner-red"]  # runner-red through its model
    assert _grid(web, "outlet") == []
    before = _seqs(store)
    moved = _move(web, token, "sneakers", "outlet")
    assert moved.status_code == 200
    assert _message(moved.text) == ("Moved sneakers under outlet. It is now in the outlet tree instead of master. "
                                    "Channel ecommerce no longer shows it. 2 products under it will be sent again "
                                    "by incremental exports.")
    assert store.structure().categories["sneakers"].parent == "outlet"
    assert _grid(web, "outlet") == ["complete", "runner-red"]  # the new parent finds them (ancestors re-indexed)
    assert _grid(web, "sneakers") == ["complete", "runner-red"]
    assert _grid(web, "shoes") == ["bad-gtin", "long-title", "no-description"]  # the old ancestors lost them
    assert "complete" not in _grid(web, "master")
    after = _seqs(store)
    assert {p for p in after if after[p] != before[p]} == {"complete", "runner-red"}  # re-sent, nothing else
    tree = web.get("/admin/categories").text
    assert re.search(r'data-category="outlet">.*?<ul class="category-tree">\s*<li data-category="sneakers">', tree, re.S)
    again = _move(web, token, "sneakers", "outlet")
    assert _message(again.text) == "Nothing changed."
    root = _move(web, token, "sneakers", "")
    assert _message(root.text).startswith("Moved sneakers to the top (a new root). It is now in the sneakers tree "
                                          "instead of outlet.")
    assert store.structure().categories["sneakers"].parent is None and _grid(web, "outlet") == []


def test_cycles_unknown_parents_and_channel_trees_are_refused(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().categories
    own = _move(web, token, "shoes", "shoes")
    assert own.status_code == 422 and _message(own.text) == "shoes was not moved: shoes cannot be its own parent."
    below = _move(web, token, "shoes", "sneakers")
    assert below.status_code == 422 and _message(below.text) == (
        "shoes was not moved: sneakers is below shoes (master / shoes / sneakers): moving shoes under it would "
        "make a cycle.")
    unknown = _move(web, token, "shoes", "nope")
    assert unknown.status_code == 422 and "parent category 'nope' is not declared" in _message(unknown.text)
    tree = _move(web, token, "master", "outlet")
    assert tree.status_code == 422
    assert "master is the category tree of channel ecommerce; a channel's tree must stay a root" in _message(tree.text)
    assert web.post("/admin/categories/shoes/move", data={"parent": "outlet"}).status_code == 403  # no CSRF token
    assert _move(web, token, "nope", "outlet").status_code == 404
    assert store.structure().categories == before
    page = web.get("/admin/categories/shoes").text
    offered = set(re.findall(r'<option value="(\w*)"', page[page.index('class="move-category"'):]))
    assert offered == {"", "master", "outlet"}  # not itself, not its sub-category
    assert "cannot be moved: it is the category tree of channel ecommerce" in web.get("/admin/categories/master").text


def test_only_admins_move_categories(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.post("/admin/categories/sneakers/move", data={"csrf_token": token, "parent": "outlet"}).status_code == 403
    assert store.structure().categories["sneakers"].parent == "shoes"


def test_contract_assortments_follow_a_moved_category(store: Store, tmp_path: Path) -> None:
    """tools / drills and garden under master; the delta contract's assortment is `tools` and its first feed
    was delivered. Moving garden under tools brings the plants in; moving drills out of tools takes the drills
    out. The delta feed sends both (their seq moved) and a full resolution agrees."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    store_contract(store, mode="delta", format="jsonl")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.kind == "full" and first.status == "delivered"
    put_contracts(store, [contract(code="gardening", assortment={"rules": [{"categories": ["garden"]}]})])
    web, token = admin_client(store)

    moved = _message(_move(web, token, "garden", "tools").text)
    assert "Moved garden under tools." in moved and "The assortment of contract acme-tools changes with it." in moved
    assert "gardening" not in moved  # it names garden itself: the same products
    delta = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    sent = {d["sku"]: d["action"] for d in map(json.loads, Path(delta.file).read_text().splitlines())}
    assert sent == {"G1": "upsert", "G2": "upsert"}

    store.put_structure("category", [Category(code="workshop")])
    _move(web, token, "drills", "workshop")
    delta = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    sent = {d["sku"]: d["action"] for d in map(json.loads, Path(delta.file).read_text().splitlines())}
    assert "T1" in sent and set(sent.values()) == {"delete"} and not {"G1", "G2", "T6"} & set(sent)
    members = AssortmentIndex(list(store.iter_products()), store.structure()).members(get_contract(store, "acme-tools").assortment)
    assert sorted(members) == ["G1", "G2", "T6"]


def test_a_move_loaded_from_a_structure_file_resequences_the_products_under_it(store: Store, tmp_path: Path) -> None:
    """`pim structure load` (save_structure) moving garden under tools: in the same write the plants get a new
    seq and nothing else does, so the delta feed sends exactly them."""
    from pim.structure_files import StructureFile, save_structure

    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    store_contract(store, mode="delta", format="jsonl")
    assert deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).kind == "full"
    before = _seqs(store)
    garden = store.structure().categories["garden"]
    save_structure(store, StructureFile(categories=[garden.model_copy(update={"parent": "tools"})]))
    after = _seqs(store)
    assert {i for i in after if after[i] != before[i]} == {"G1", "G2"}
    delta = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    sent = {d["sku"]: d["action"] for d in map(json.loads, Path(delta.file).read_text().splitlines())}
    assert sent == {"G1": "upsert", "G2": "upsert"}
    save_structure(store, StructureFile(categories=[store.structure().categories["garden"]]))  # same parent
    assert _seqs(store) == after
