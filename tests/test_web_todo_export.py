"""The dashboard's to-do as a CSV to fill in: one row per product of the family missing the attribute on that
channel × locale, the value column empty; filled in and uploaded on the import page, it completes them."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from pim import job_queue
from pim.product import Product
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import ERP, complete_values, seed_products
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

TODO = "/dashboard/todo.csv?channel=ecommerce&locale=en_US&family=shoes&attribute=description"


def test_the_todo_csv_lists_the_products_to_fill_and_goes_back_through_the_import_page(store: Store) -> None:
    seed_products(store)
    values = {k: v for k, v in complete_values().items() if not k.startswith("description")}
    store.upsert_products([Product(identifier="=HYPERLINK(1)", family="shoes", categories=["shoes"], source=ERP,
                                   values={**values, "sku": "=HYPERLINK(1)"})])
    add_user(store, "ed", "correct horse", "editor")
    web = TestClient(create_app(store))
    token = login(web)
    assert TODO in web.get("/dashboard").text
    got = web.get(TODO)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "todo-ecommerce-en_US-shoes-description.csv" in got.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(got.text)))
    assert rows[0] == ["sku", "model", "description:en_US@ecommerce"]  # (a model column: runner_model holds it)
    assert sorted(r[0] for r in rows[1:]) == ["'=HYPERLINK(1)", "no-description"]  # the formula is escaped
    assert all(r[1] == r[2] == "" for r in rows[1:])

    filled = "".join(f"{r[0]},,{'A shoe for long runs.' if r[0] == 'no-description' else ''}\n" for r in rows[1:])
    done = web.post("/imports", data={"csrf_token": token},
                    files={"file": ("todo.csv", f"{','.join(rows[0])}\n{filled}".encode(), "text/csv")})
    assert done.status_code == 200
    job_queue.work(store, once=True)  # the worker imports the queued upload
    assert store.get_product("no-description").values["description:en_US@ecommerce"] == "A shoe for long runs."  # type: ignore[union-attr]
    again = list(csv.reader(io.StringIO(web.get(TODO).text)))
    assert [r[0] for r in again[1:]] == ["'=HYPERLINK(1)"]  # filled: gone from the to-do

    # the escaped identifier comes back as the product it names, not as an unknown '=HYPERLINK(1)
    web.post("/imports", data={"csrf_token": token},
             files={"file": ("todo.csv", f"{','.join(rows[0])}\n'=HYPERLINK(1),,Formula-proof.\n".encode(), "text/csv")})
    job_queue.work(store, once=True)
    assert store.get_product("=HYPERLINK(1)").values["description:en_US@ecommerce"] == "Formula-proof."  # type: ignore[union-attr]
    assert list(csv.reader(io.StringIO(web.get(TODO).text)))[1:] == []
    assert not [e for e in store.quarantined() if "HYPERLINK" in str(e)]


def test_an_unknown_scope_is_not_found(store: Store) -> None:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    web = TestClient(create_app(store))
    login(web)
    assert web.get(TODO.replace("attribute=description", "attribute=nope")).status_code == 404
    assert web.get(TODO.replace("locale=en_US", "locale=fr_FR")).status_code == 404
