"""The product page's "Show this" on a waiting association claim, in Chromium: the claim shows, pinned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.test_association_claims import SUPPLIER, accessories, bmecat, content
from tests.test_bmecat import supplier_store  # noqa: F401  (fixture)
from tests.test_web_browser import sign_in
from tests.test_web_ui import cheap_argon2  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.chromium


def test_an_editor_shows_the_suppliers_waiting_accessories(supplier_store: Store, tmp_path: Path, live_app: Any,  # noqa: F811
                                                          browser_page: Any, artifacts_dir: Path) -> None:
    bmecat(supplier_store, tmp_path, {"a": ["b"]})
    content(supplier_store, tmp_path, {"a": ["c"]})  # the content team ranks first: the supplier's claim waits
    add_user(supplier_store, "editor", "correct horse", "editor")
    base = live_app(create_app(supplier_store))
    page = browser_page
    sign_in(page, base, "editor", "correct horse", start="/products")
    page.goto(f"{base}/products/a")
    shown = page.locator('dt[data-type="ACCESSORY"]')
    expect(shown).to_contain_text("(from content)")
    waiting = page.locator(f'dd[data-type="ACCESSORY"] div.waiting[data-source="{SUPPLIER}"]')
    waiting.get_by_role("button", name="Show this").click()
    page.wait_for_url(f"{base}/products/a?channel=ecommerce&locale=en_US")  # the scope the page showed
    expect(shown).to_contain_text(f"(from {SUPPLIER}, picked by editor)")
    expect(page.locator('dd[data-type="ACCESSORY"] div.waiting[data-source="content"]')).to_contain_text("c")
    page.locator("dl.associations").screenshot(path=str(artifacts_dir / "association-pick.png"))
    assert accessories(supplier_store, "a") == ["b"]
