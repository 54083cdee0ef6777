"""The content team's loop in real Chromium against a live server: log in, find the incomplete product, fill
the missing value, and watch completeness rise and the dashboard count fall."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from pim import job_queue
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.chromium


def sign_in(page, base: str, user: str, password: str, start: str = "/login") -> None:  # noqa: ANN001
    """Through the login form (reached from `start`); waits for the product grid."""
    page.goto(f"{base}{start}")
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/products")


def admin_on(page, store: Store, live_app, nav: str, path: str) -> str:  # noqa: ANN001
    """The admin 'ada' (added here) signed in to a live app and on the admin page the header's `nav` link opens;
    the app's base URL."""
    add_user(store, "ada", "admin pass 1", "admin")
    base = live_app(create_app(store))
    sign_in(page, base, "ada", "admin pass 1")
    page.click(f'nav a:has-text("{nav}")')
    page.wait_for_url(f"{base}{path}")
    return base


def incomplete_on_dashboard(page, base: str) -> int:
    page.goto(f"{base}/dashboard?channel=ecommerce")
    return int(page.locator('section[data-channel="ecommerce"] tr[data-locale="en_US"] td.incomplete').inner_text())


def test_filling_a_missing_value_raises_completeness_and_clears_the_dashboard(
        store: Store, live_app, browser_page, artifacts_dir: Path, backend: str) -> None:
    seed_products(store)
    add_user(store, "editor", "correct horse", "editor")
    base = live_app(create_app(store))
    page = browser_page

    sign_in(page, base, "editor", "correct horse", start="/products")
    assert incomplete_on_dashboard(page, base) == 1

    page.goto(f"{base}/products")
    page.select_option('select[name="channel"]', "ecommerce")
    page.select_option('select[name="locale"]', "en_US")
    page.select_option('select[name="completeness"]', "incomplete")
    page.click('#filters button[type="submit"]')
    page.wait_for_url("**completeness=incomplete**")
    rows = page.locator("tr.product-row")
    expect(rows).to_have_count(1)  # waits for the filtered page, unlike a bare count()
    assert rows.first.get_attribute("data-identifier") == "no-description"

    rows.first.locator("a").click()
    completeness = page.locator('table.completeness tr[data-channel="ecommerce"][data-locale="en_US"] td.ratio')
    assert completeness.inner_text() == "80 %"
    assert page.locator('table.completeness a:has-text("description")').count() >= 1

    field = page.locator('[id="v-description:en_US@ecommerce"]')
    field.fill("A shoe for long runs.")
    field.locator("xpath=ancestor::form").locator('button[type="submit"]').click()
    page.wait_for_load_state()
    expect(completeness).to_have_text("100 %")
    assert "A shoe for long runs." in page.locator("table.history").inner_text()
    page.screenshot(path=str(artifacts_dir / f"web-product-page-{backend}.png"), full_page=True)

    assert incomplete_on_dashboard(page, base) == 0
    page.screenshot(path=str(artifacts_dir / f"web-dashboard-{backend}.png"), full_page=True)


def test_an_admin_adds_a_user_who_then_signs_in(store: Store, live_app, chromium, browser_page, artifacts_dir: Path,
                                                backend: str) -> None:
    page = browser_page
    base = admin_on(page, store, live_app, "Users", "/admin/users")
    form = page.locator("form.add-user")
    form.locator('input[name="username"]').fill("cy")
    form.locator('select[name="role"]').select_option("viewer")
    form.locator('input[name="password"]').fill("cy password 1")
    form.locator("button").click()
    expect(page.locator("p.notice")).to_contain_text("cy can sign in as viewer")
    expect(page.locator('tr[data-user="cy"]')).to_contain_text("active")
    page.screenshot(path=str(artifacts_dir / f"web-admin-users-{backend}.png"), full_page=True)

    context = chromium.new_context()  # another person's browser: no admin cookie
    other = context.new_page()
    sign_in(other, base, "cy", "cy password 1")
    assert "cy (viewer)" in other.locator("span.who").inner_text()
    assert other.locator('nav a:has-text("Users")').count() == 0
    context.close()


def test_an_editor_uses_another_sources_value_and_imports_a_file(store: Store, live_app, browser_page, tmp_path: Path,
                                                                 artifacts_dir: Path, backend: str) -> None:
    """The other-values panel and the import page through real form posts: the losing content name is used
    instead of the ERP's, then an uploaded CSV renames the product again."""
    from datetime import UTC, datetime

    from pim.merge import Merger, Precedence
    from pim.product import Product, Provenance

    seed_products(store)
    Merger(Precedence(attributes={"name": ["erp"]})).bind(store.structure()).write(
        store, [Product(identifier="complete", values={"name:en_US": "Trail Runner"}, source=Provenance(source="content", at=datetime.now(UTC)))])
    add_user(store, "editor", "correct horse", "editor")
    base = live_app(create_app(store))
    page = browser_page
    sign_in(page, base, "editor", "correct horse")

    page.goto(f"{base}/products/complete?channel=ecommerce&locale=en_US")
    row = page.locator('tr[id="attr-name"]')
    row.locator("details.others summary").click()
    row.locator('form.other[data-source="content"] button').click()
    page.wait_for_url(f"{base}/products/complete?channel=ecommerce&locale=en_US")  # back in the page's scope
    assert store.get_product("complete").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]

    upload = tmp_path / "names.csv"
    upload.write_text("sku,name:en_US\ncomplete,Summit Runner\n", encoding="utf-8")
    page.click('nav a:has-text("Import")')
    page.set_input_files('input[name="file"]', str(upload))
    page.click("form.import button")
    expect(page.locator("p.notice")).to_contain_text("Import queued as job")
    expect(page.locator("p.no-worker")).to_contain_text("no worker is running")
    job_queue.work(store, once=True)  # a worker's turn
    page.reload()
    expect(page.locator("table.jobs tr[data-job]").first).to_contain_text("updated: 1")
    assert store.get_product("complete").values["name:en_US"] == "Summit Runner"  # type: ignore[union-attr]
    page.screenshot(path=str(artifacts_dir / f"web-imports-{backend}.png"), full_page=True)
