"""The admins' category pages: the tree with labels and direct counts, adding a category (usable at once, by
imports and by the grid's category filter), relabelling per locale, deleting only an unused leaf and saying
what blocks any other; only admins reach the pages, and every form needs the CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from pim.contracts import put_contracts
from pim.product import Product
from pim.store import Store
from pim.structure import Category
from pim.validation import RecordValidator
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import ERP, complete_values, seed_products
from tests.feeds_data import contract
from tests.test_web_browser import admin_on
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'") if found else ""


def _grid(web: TestClient, **filters: str) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return re.findall(r'data-identifier="([^"]+)"', web.get(f"/products?{query}").text)


def test_the_tree_nests_categories_with_their_labels_and_direct_counts(admin) -> None:
    web, _ = admin
    html = web.get("/admin/categories").text
    tree = html[html.index('<ul class="category-tree">'):html.index("<h2>Add a category</h2>")]
    assert tree.index('data-category="master"') < tree.index('data-category="shoes"') < tree.index('data-category="sneakers"')
    assert re.search(r'data-category="master">.*<ul class="category-tree">\s*<li data-category="shoes">', tree, re.S)
    counts = dict((c, (int(p), int(m))) for c, p, m in re.findall(
        r'data-category="(\w+)">.*?data-products="(\d+)" data-models="(\d+)"', tree, re.S))
    assert counts == {"master": (0, 0), "shoes": (3, 0), "sneakers": (1, 1)}  # directly: not through sneakers
    assert "de_DE: Schuhe" in tree and "en_US: Sneakers" in tree


def test_an_added_category_is_usable_at_once_by_imports_and_the_grid(admin, store: Store) -> None:
    web, token = admin
    saved = web.post("/admin/categories", data={"csrf_token": token, "code": "boots", "parent": "shoes",
                                                "label:en_US": "Boots", "label:de_DE": " Stiefel "})
    assert saved.status_code == 200 and _message(saved.text) == "Added boots under shoes."
    assert store.structure().categories["boots"] == Category(code="boots", parent="shoes",
                                                             labels={"en_US": "Boots", "de_DE": "Stiefel"})
    assert 'data-category="boots"' in saved.text
    boot = Product(identifier="boot-1", family="shoes", categories=["boots"], source=ERP, values=complete_values(sku="boot-1"))
    assert RecordValidator(store.structure()).check_product(boot) == []
    store.upsert_products([boot])
    assert _grid(web, category="boots") == ["boot-1"]
    assert "boot-1" in _grid(web, category="master")  # the new category's ancestors index its products too
    root = web.post("/admin/categories", data={"csrf_token": token, "code": "outlet", "parent": ""})
    assert _message(root.text) == "Added outlet as a new root." and store.structure().categories["outlet"].parent is None


def test_bad_codes_unknown_parents_and_existing_codes_are_refused(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().categories
    bad = web.post("/admin/categories", data={"csrf_token": token, "code": "dark boots", "parent": "shoes"})
    assert bad.status_code == 422 and "code: String should match pattern" in _message(bad.text)
    assert 'value="dark boots"' in bad.text  # what was typed is kept for correcting
    orphan = web.post("/admin/categories", data={"csrf_token": token, "code": "boots", "parent": "nope"})
    assert orphan.status_code == 422 and _message(orphan.text) == "parent: parent category 'nope' is not declared"
    again = web.post("/admin/categories", data={"csrf_token": token, "code": "sneakers", "parent": "master"})
    assert again.status_code == 422 and "'sneakers' is already a category (under shoes)" in _message(again.text)
    own = web.post("/admin/categories", data={"csrf_token": token, "code": "loop", "parent": "loop"})
    assert own.status_code == 422 and "its own parent" in _message(own.text)
    assert store.structure().categories == before


def test_relabelling_changes_only_the_locales_on_the_page(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("category", [Category(code="shoes", parent="master",
                                              labels={"en_US": "Shoes", "de_DE": "Schuhe", "fr_FR": "Chaussures"})])
    page = web.get("/admin/categories/shoes").text
    assert 'name="label:en_US" value="Shoes"' in page and "label:fr_FR" not in page  # fr_FR is on no channel
    saved = web.post("/admin/categories/shoes", data={"csrf_token": token, "label:en_US": "Footwear", "label:de_DE": ""})
    assert saved.status_code == 200 and _message(saved.text) == "Labels saved."
    assert store.structure().categories["shoes"].labels == {"en_US": "Footwear", "fr_FR": "Chaussures"}
    same = web.post("/admin/categories/shoes", data={"csrf_token": token, "label:en_US": "Footwear"})
    assert _message(same.text) == "Nothing changed."
    assert web.post("/admin/categories/nope", data={"csrf_token": token, "label:en_US": "x"}).status_code == 404


def test_a_category_in_use_is_kept_and_the_refusal_says_what_uses_it(admin, store: Store) -> None:
    web, token = admin
    shoes = web.post("/admin/categories/shoes/delete", data={"csrf_token": token})
    assert shoes.status_code == 409
    assert _message(shoes.text) == ("shoes was not deleted: it has 1 sub-category: sneakers; "
                                    "3 products are in it (bad-gtin, long-title, no-description).")
    sneakers = _message(web.post("/admin/categories/sneakers/delete", data={"csrf_token": token}).text)
    assert "1 product is in it (complete)" in sneakers and "1 product model is in it (runner_model)" in sneakers
    assert "sub-categor" not in sneakers
    master = _message(web.post("/admin/categories/master/delete", data={"csrf_token": token}).text)
    assert "it is the category tree of channel ecommerce" in master
    store.put_structure("category", [Category(code="boots", parent="shoes")])
    put_contracts(store, [contract(channel="ecommerce", assortment={"rules": [{"categories": ["boots"]}]})])
    boots = web.post("/admin/categories/boots/delete", data={"csrf_token": token})
    assert boots.status_code == 409 and "the assortment of contract acme-tools names it" in _message(boots.text)
    assert {"master", "shoes", "sneakers", "boots"} <= set(store.structure().categories)
    assert "cannot be deleted while" in web.get("/admin/categories/shoes").text  # said before anyone tries


def test_an_unused_leaf_is_deleted_and_the_grid_still_filters(admin, store: Store) -> None:
    web, token = admin
    web.post("/admin/categories", data={"csrf_token": token, "code": "boots", "parent": "shoes"})
    page = web.get("/admin/categories/boots").text
    assert 'action="/admin/categories/boots/delete"' in page
    gone = web.post("/admin/categories/boots/delete", data={"csrf_token": token})
    assert gone.status_code == 200 and _message(gone.text) == "Deleted boots."
    assert "boots" not in store.structure().categories and 'data-category="boots"' not in gone.text
    assert web.get("/admin/categories/boots").status_code == 404
    assert sorted(_grid(web, category="shoes")) == ["bad-gtin", "complete", "long-title", "no-description", "runner-red"]


def test_only_admins_reach_the_category_pages(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.get("/admin/categories").status_code == 403
    assert editor.get("/admin/categories/shoes").status_code == 403
    assert editor.post("/admin/categories", data={"csrf_token": token, "code": "boots", "parent": "shoes"}).status_code == 403
    assert editor.post("/admin/categories/shoes", data={"csrf_token": token, "label:en_US": "X"}).status_code == 403
    assert editor.post("/admin/categories/sneakers/delete", data={"csrf_token": token}).status_code == 403
    assert 'href="/admin/categories"' not in editor.get("/products").text
    s = store.structure()
    assert "boots" not in s.categories and s.categories["shoes"].labels["en_US"] == "Shoes"
    web, _ = admin
    assert 'href="/admin/categories"' in web.get("/products").text


def test_category_forms_need_the_csrf_token(admin, store: Store) -> None:
    web, _ = admin
    web.post("/admin/categories", data={"csrf_token": login(web, "ada", "admin pass 1"), "code": "boots", "parent": "shoes"})
    before = store.structure().categories
    assert web.post("/admin/categories", data={"code": "outlet"}).status_code == 403
    assert web.post("/admin/categories/shoes", data={"label:en_US": "X"}).status_code == 403
    assert web.post("/admin/categories/boots/delete", data={"csrf_token": "forged"}).status_code == 403
    assert store.structure().categories == before


@pytest.mark.chromium
def test_an_admin_adds_a_category_and_sees_it_in_the_tree(store: Store, live_app, browser_page, artifacts_dir: Path,
                                                          backend: str) -> None:
    seed_products(store)
    page = browser_page
    admin_on(page, store, live_app, "Categories", "/admin/categories")
    form = page.locator("form.add-category")
    form.locator('input[name="code"]').fill("boots")
    form.locator('select[name="parent"]').select_option("shoes")
    form.locator('input[name="label:en_US"]').fill("Boots")
    form.locator("button").click()
    expect(page.locator('p.notice')).to_have_text("Added boots under shoes.")
    boots = page.locator('li[data-category="shoes"] > ul > li[data-category="boots"]')
    expect(boots).to_contain_text("en_US: Boots")
    expect(boots.locator(".members")).to_have_text("— 0 products")
    page.screenshot(path=str(artifacts_dir / f"web-categories-{backend}.png"), full_page=True)
    assert store.structure().categories["boots"].parent == "shoes"
