"""Moving a category on its admin page: the grid's category filter, contract assortments (full and delta
feeds) and channel trees follow the new parent; cycles, unknown parents and a channel's tree are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim import job_claims, job_queue
from pim.contracts import AssortmentIndex, get_contract, put_contracts
from pim.feeds import deliver_contract
from pim.grid_index import GridIndex
from pim.store import Store
from pim.structure import Category
from pim.web.accounts import add_user
from pim.web import categories
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
    assert store.jobs(kind="grid_reindex") == []  # below the threshold: re-indexed in the request
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


def _notice(html: str) -> str:
    found = re.search(r'<p class="grid-reindex[^"]*"[^>]*>(.*?)</p>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


def test_a_large_move_is_re_filed_by_a_queued_job_and_the_pages_say_so(admin, store: Store,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(categories, "REINDEX_IN_REQUEST", 2)
    web, token = admin
    before = _seqs(store)
    moved = _move(web, token, "sneakers", "outlet")
    [job] = store.jobs(kind="grid_reindex")
    assert job["status"] == "queued" and job["payload"] == {"categories": ["sneakers"]}
    assert _message(moved.text).endswith(
        f"2 products under it will be sent again by incremental exports. Products under sneakers are being re-filed "
        f"in the grid (job {job['id']}): until that finishes, the grid's category filter may still show them under "
        "their old parent categories.")
    after = _seqs(store)
    assert {p for p in after if after[p] != before[p]} == {"complete", "runner-red"}  # in the move's transaction
    assert _grid(web, "outlet") == [] and "complete" in _grid(web, "shoes")  # the old membership meanwhile
    said = f"Products under sneakers are being re-filed in the grid (job {job['id']}), "
    for page in ("/products", "/admin/categories", "/admin/categories/sneakers", "/admin/categories/outlet"):
        assert _notice(web.get(page).text).startswith(said), page
    assert "queued — no worker is running: ask your administrator to start one (`pim worker`)" in _notice(
        web.get("/products").text)

    claimed = job_claims.claim(store)
    assert claimed is not None and claimed["id"] == job["id"]
    assert _notice(web.get("/products").text) == (f"Products under sneakers are being re-filed in the grid (job "
                                                  f"{job['id']}). Until it finishes, the category filter may still "
                                                  "show them under their old parent categories.")
    assert job_queue.run_claimed(store, claimed)["status"] == "succeeded"
    assert _grid(web, "outlet") == ["complete", "runner-red"]
    assert _grid(web, "shoes") == ["bad-gtin", "long-title", "no-description"]
    assert _notice(web.get("/products").text) == "" and _notice(web.get("/admin/categories").text) == ""


def test_a_failed_re_filing_stays_on_the_pages_and_runs_again_from_its_job_page(
        admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(categories, "REINDEX_IN_REQUEST", 1)
    web, token = admin
    _move(web, token, "sneakers", "outlet")
    refresh = GridIndex.refresh

    def broken(self: GridIndex, *args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(GridIndex, "refresh", broken)
    [failed] = job_queue.work(store, once=True).jobs
    assert failed["status"] == "failed"
    notice = _notice(web.get("/products").text)
    assert notice == (f"Re-filing the products under sneakers in the grid failed (job {failed['id']}): the category "
                      "filter may still show some of them under their old parent categories. Open the job to run it "
                      "again.")
    assert _notice(web.get("/admin/categories/sneakers").text) == notice
    page = web.get(f"/jobs/{failed['id']}").text
    assert "disk full" in page and 'action="/jobs/%d/retry"' % failed["id"] in page and "Run again" in page

    monkeypatch.setattr(GridIndex, "refresh", refresh)
    again = web.post(f"/jobs/{failed['id']}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303 and store.job(failed["id"])["status"] == "queued"
    assert _notice(web.get("/products").text).startswith(
        f"Products under sneakers are being re-filed in the grid (job {failed['id']})")
    assert [j["status"] for j in job_queue.work(store, once=True).jobs] == ["succeeded"]
    assert _grid(web, "outlet") == ["complete", "runner-red"] and _notice(web.get("/products").text) == ""
