import re

import pytest
from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


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
