"""Round 35 web follow-ups (H4): the UI's product page and its forms take a stored SKU with '/' sent as %2F
(as the REST API does), and the grid links to it so; the dashboard to-do CSV of an image attribute says why
each product's image does not count; the REST mass edit reports a clear's counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from media.store_local import LocalAssetStore
from pim import job_queue
from pim.product import Product
from pim.store import Store
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests import images
from tests.channel_data import ERP, complete_values, seed_products
from tests.test_completeness_images_r35 import drills, put, rules, upload
from tests.test_web_ui import admin_client, cheap_argon2, csrf, login  # noqa: F401  (cheap_argon2: autouse fixture)


# ---------------------------------------------------------------------------------------------- 1. a SKU with '/'
@pytest.fixture
def slashed(store: Store) -> TestClient:
    """The seeded catalog plus SKUs stored before round 34's rule ('x/values' ends in a sub-route's name), and
    an editor signed in."""
    seed_products(store)
    store.upsert_products([Product(identifier=sku, family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku=sku)) for sku in ("AB/12", "x/values")])
    add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    login(client)
    return client


def test_the_product_page_of_a_slashed_sku_opens_url_encoded(slashed: TestClient) -> None:
    page = slashed.get("/products/AB%2F12")
    assert page.status_code == 200, page.text  # before: 404, the path read as /products/AB/12
    assert 'action="/products/AB%2F12/values"' in page.text  # its forms post to it the same way
    tail = slashed.get("/products/x%2Fvalues")  # before: 405, read as the values form of product 'x'
    assert tail.status_code == 200 and 'action="/products/x%2Fvalues/values"' in tail.text


def test_a_value_of_a_slashed_sku_is_edited_from_its_page(slashed: TestClient, store: Store) -> None:
    token = csrf(slashed.get("/products/AB%2F12").text)
    done = slashed.post("/products/AB%2F12/values", data={"key": "mpn", "value": "SLASHED-1", "csrf_token": token})
    assert done.status_code == 200, done.text
    assert store.get_product("AB/12").values["mpn"] == "SLASHED-1"  # type: ignore[union-attr]


def test_the_grid_links_a_slashed_sku_url_encoded(slashed: TestClient) -> None:
    grid = slashed.get("/products?q=AB").text
    assert 'href="/products/AB%2F12"' in grid and 'href="/products/AB/12"' not in grid


# ---------------------------------------------------------------------------------------------- 2. to-do CSV: why
def test_the_todo_csv_of_an_image_says_why_each_products_image_does_not_count(tiny_store: Store, pim_env: Path,
                                                                               tmp_path: Path) -> None:
    rules(pim_env, min_width=500, min_height=500)
    drills(tiny_store, ["sku", "picture"])
    put(tiny_store, "small", picture=upload(tiny_store, LocalAssetStore(tmp_path / "media"), images.png(120, 120), "s.png"))
    put(tiny_store, "typed", picture="my photo.jpg")
    put(tiny_store, "none")
    web, _ = admin_client(tiny_store)
    got = web.get("/dashboard/todo.csv?channel=ecommerce&locale=en_US&family=drills&attribute=picture")
    assert got.status_code == 200, got.text
    rows = list(csv.DictReader(io.StringIO(got.text)))
    why = {row["sku"]: row["why it does not count"] for row in rows}
    assert why["small"] == "image too small for ecommerce (120×120 < 500×500)"
    assert why["typed"].startswith("image not uploaded")
    assert why["none"] == "not set"

    # filled in and uploaded back as downloaded (note column and all), the note is read by no import
    header = list(rows[0])
    key = next(column for column in header if column.startswith("picture"))
    filled = {**next(row for row in rows if row["sku"] == "none"), key: "new.jpg"}
    out = io.StringIO()
    csv.DictWriter(out, header).writerows([dict(zip(header, header)), filled])
    done = web.post("/imports", data={"csrf_token": csrf(web.get("/imports").text)},
                    files={"file": ("todo.csv", out.getvalue().encode(), "text/csv")})
    assert done.status_code == 200, done.text
    job_queue.work(tiny_store, once=True)
    assert tiny_store.get_product("none").values.get(key) == "new.jpg"  # type: ignore[union-attr]
    assert not [e for e in tiny_store.quarantined() if "why" in str(e)]  # before: "column 'why' names no attribute"


# ---------------------------------------------------------------------------------------------- 3. mass edit counts
def test_a_mass_edit_clear_over_rest_reports_emptied_fell_back_and_not_theirs(store: Store) -> None:
    seed_products(store)
    web = TestClient(create_app(store))
    h = {"Authorization": f"Bearer {create_token(store, add_user(store, 'ed', 'correct horse', 'editor'))}"}
    key = "description:en_US@ecommerce"
    url = "/api/v1/products/mass-edit"
    done = web.post(url, headers=h, json={"identifiers": ["complete", "no-description"], "values": {key: "Ours."}})
    assert done.status_code == 200 and done.json()["changed"] == 2, done.text
    cleared = web.post(url, headers=h, json={"identifiers": ["complete", "no-description", "bad-gtin"],
                                             "values": {key: None}})
    assert cleared.status_code == 200, cleared.text
    got = cleared.json()
    assert (got["emptied"], got["fell_back"], got["not_theirs"]) == (1, {"erp": 1}, 1), got
    assert got["changed"] == 2  # the old fields stay
    fields = web.get("/api/v1/openapi.json").json()["components"]["schemas"]["MassEditResult"]["properties"]
    assert {"emptied", "fell_back", "not_theirs"} <= set(fields)
