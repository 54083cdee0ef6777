import re

import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def admin_client(store: Store) -> tuple[TestClient, str]:
    """A web client signed in as the admin 'ada', and its CSRF token."""
    add_user(store, "ada", "admin pass 1", "admin")
    web = TestClient(create_app(store))
    return web, login(web, "ada", "admin pass 1")


def login(client: TestClient, user: str = "ed", password: str = "correct horse") -> str:
    page = client.get("/login").text
    resp = client.post("/login", data={"username": user, "password": password, "csrf_token": csrf(page), "next": "/products"})
    assert resp.status_code == 200
    return csrf(resp.text)


@pytest.fixture
def client(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    add_user(store, "vi", "correct horse", "viewer")
    return TestClient(create_app(store))


def test_pages_need_a_login(client: TestClient) -> None:
    resp = client.get("/products/complete", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_wrong_password_is_refused(client: TestClient) -> None:
    page = client.get("/login").text
    resp = client.post("/login", data={"username": "ed", "password": "wrong", "csrf_token": csrf(page)})
    assert "Wrong user name or password" in resp.text
    assert client.get("/products", follow_redirects=False).status_code == 303


def test_forms_without_the_csrf_token_are_refused(client: TestClient, store: Store) -> None:
    login(client)
    resp = client.post("/products/complete/values", data={"key": "mpn", "value": "HACK"})
    assert resp.status_code == 403
    assert store.get_product("complete").values["mpn"] == "RN-1"


def test_grid_filters_and_links_to_products(client: TestClient) -> None:
    login(client)
    html = client.get("/products?channel=ecommerce&locale=en_US&completeness=incomplete").text
    assert re.findall(r'data-identifier="([^"]+)"', html) == ["no-description"]
    assert 'href="/products/no-description?channel=ecommerce&locale=en_US"' in html


def test_product_page_groups_values_and_shows_provenance(client: TestClient) -> None:
    login(client)
    html = client.get("/products/complete?channel=ecommerce&locale=de_DE").text
    assert html.index("<h2>general</h2>") < html.index("<h2>marketing</h2>") < html.index("<h2>media</h2>")
    assert "Ein feiner Schuh." in html and "erp.csv:1" in html


def test_variant_shows_inherited_values_with_their_model(client: TestClient) -> None:
    login(client)
    html = client.get("/products/runner-red").text
    assert "inherited from runner_model" in html


def test_invalid_inline_edit_shows_the_message_and_keeps_the_value(client: TestClient, store: Store) -> None:
    token = login(client)
    resp = client.post("/products/complete/values", data={"key": "weight", "value": "heavy", "unit": "GRAM",
                                                          "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert "&#39;heavy&#39; is not a number" in resp.text or "'heavy' is not a number" in resp.text
    assert store.get_product("complete").values["weight"] == {"amount": "850", "unit": "GRAM"}


def test_inline_edit_saves_and_appears_in_history(client: TestClient, store: Store) -> None:
    token = login(client)
    resp = client.post("/products/complete/values", data={"key": "price", "price_EUR": "59", "price_USD": "64",
                                                          "channel": "ecommerce", "locale": "en_US", "csrf_token": token})
    assert resp.status_code == 200
    assert store.get_product("complete").values["price"] == {"EUR": "59.00", "USD": "64.00"}
    assert "ed (content)" in resp.text


def test_viewer_sees_values_but_no_edit_forms(client: TestClient, store: Store) -> None:
    token = login(client, "vi")
    html = client.get("/products/complete").text
    assert 'action="/products/complete/values"' not in html
    resp = client.post("/products/complete/values", data={"key": "mpn", "value": "X", "csrf_token": token})
    assert resp.status_code == 403


def test_dashboard_links_todo_items_to_the_filtered_grid(client: TestClient) -> None:
    login(client)
    html = client.get("/dashboard?channel=ecommerce").text
    assert ('href="/products?channel=ecommerce&locale=en_US&family=shoes&missing=description'
            '&completeness=incomplete"') in html


def test_jobs_page_lists_imports_and_their_quarantined_rows(client: TestClient, store: Store) -> None:
    from pim.store.store import QuarantineEntry

    job_id = store.start_job("import", "products.csv")
    store.quarantine(job_id, [QuarantineEntry(reason="price is not a number", file="products.csv", line=7, field="price")])
    store.finish_job(job_id, {"created": 4, "rejected": 1})
    login(client)
    assert f'href="/jobs/{job_id}"' in client.get("/jobs").text
    detail = client.get(f"/jobs/{job_id}").text
    assert "price is not a number" in detail and "<td>7</td>" in detail


def test_users_cli_adds_a_user_and_makes_a_token(pim_env, store: Store) -> None:
    import typer
    from typer.testing import CliRunner

    from pim.cli import users
    from pim.web.accounts import authenticate, user_for_token

    root = typer.Typer()
    users.register(root)
    runner = CliRunner()
    added = runner.invoke(root, ["users", "add", "ann", "--role", "admin", "--password", "long enough"])
    assert added.exit_code == 0, added.output
    assert authenticate(store, "ann", "long enough").role == "admin"
    made = runner.invoke(root, ["users", "token", "ann"])
    assert user_for_token(store, made.output.strip()).username == "ann"


def _conflict_on_name(store: Store) -> None:
    """The ERP and the content team both own `name` and disagree: the merge logs a conflict."""
    from datetime import UTC, datetime

    from pim.merge import Merger, Precedence
    from pim.product import Product, Provenance

    merger = Merger(Precedence(attributes={"name": ["erp", "content"]})).bind(store.structure())
    content = Provenance(source="content", at=datetime.now(UTC))
    merger.write(store, [Product(identifier="complete", values={"name:en_US": "Trail Runner"}, source=content)])


def test_editor_picks_the_winning_candidate_of_a_conflict(client: TestClient, store: Store) -> None:
    from pim.conflicts import open_conflicts

    _conflict_on_name(store)
    assert [c.value_key for c in open_conflicts(store, ["complete"])] == ["name:en_US"]
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # the ERP ranks first
    token = login(client)
    page = client.get("/products/complete").text
    assert "Trail Runner" in page  # the losing candidate is shown with its source
    resp = client.post("/products/complete/conflicts", data={"key": "name:en_US", "source": "content", "csrf_token": token})
    assert resp.status_code == 200
    assert store.get_product("complete").values["name:en_US"] == "Trail Runner"
    assert open_conflicts(store, ["complete"]) == []


def test_viewer_may_not_pick_a_conflict_winner(client: TestClient, store: Store) -> None:
    _conflict_on_name(store)
    token = login(client, "vi")
    resp = client.post("/products/complete/conflicts", data={"key": "name:en_US", "source": "content", "csrf_token": token})
    assert resp.status_code == 403 and store.get_product("complete").values["name:en_US"] == "Runner"


def test_uploaded_image_is_ingested_and_set_on_the_product(client: TestClient, store: Store) -> None:
    import hashlib

    from tests import images

    token = login(client)
    data = images.png(120, 90)
    resp = client.post("/products/complete/media", data={"key": "picture", "csrf_token": token},
                       files={"file": ("shoe.png", data, "image/png")})
    assert resp.status_code == 200
    assert store.get_product("complete").values["picture"] == "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_broken_upload_is_refused_and_the_product_keeps_its_image(client: TestClient, store: Store) -> None:
    from tests import images

    token = login(client)
    resp = client.post("/products/complete/media", data={"key": "picture", "csrf_token": token},
                       files={"file": ("shoe.jpg", images.truncated_jpeg(), "image/jpeg")})
    assert resp.status_code == 422 and "image rejected" in resp.text
    assert store.get_product("complete").values["picture"] == "runner-side.jpg"
