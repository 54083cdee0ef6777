"""The grid's "Download as spreadsheet": the products the grid's filter finds, as the content import's CSV or
XLSX; any signed-in role may download; uploaded again unchanged it changes nothing, edited it changes the
edited cell; above the grid's cap the grid says so and names the `pim export sheet` command."""

from __future__ import annotations

import csv
import io
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim import job_queue
from pim.store import Store
from pim.web import ui
from pim.web.grid import GridFilter, page
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded, ed and vi)


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _import(web: TestClient, token: str, name: str, body: bytes, store: Store) -> dict:
    assert web.post("/imports", data={"csrf_token": token}, files={"file": (name, body, "text/csv")}).status_code == 200
    [ran] = job_queue.work(store, once=True).jobs
    return store.job(ran["id"])["counts"]  # type: ignore[index]


def test_a_viewer_downloads_what_the_grid_shows(client: TestClient, store: Store) -> None:  # noqa: F811
    login(client, "vi")
    grid = unescape(client.get("/products?family=shoes&q=runner&locale=en_US").text)
    assert 'href="/products.xlsx?q=runner&family=shoes&locale=en_US"' in grid
    assert 'href="/products.csv?q=runner&family=shoes&locale=en_US"' in grid
    got = client.get("/products.csv?q=runner&family=shoes&locale=en_US")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert 'filename="products-shoes-ecommerce-en_US.csv"' in got.headers["content-disposition"]
    rows = _rows(got.content)
    assert rows[0] == ["sku", "name:en_US", "ean", "mpn", "description:en_US@ecommerce", "_sheet"]
    shown = {r.identifier for r in page(store, GridFilter(family="shoes", q="runner", locale="en_US"), store.structure(),
                                        limit=100)[0]}
    assert {r[0] for r in rows[1:]} == shown and "runner-red" in shown
    assert dict(zip(rows[0], next(r for r in rows if r[0] == "runner-red")))["name:en_US"] == "Runner"  # inherited

    xlsx = client.get("/products.xlsx?family=shoes&locale=de_DE&columns=name:de_DE,color")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    sheet = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    assert sheet[0] == ["sku", "name:de_DE", "color", "_sheet"]
    assert ["runner-red", "Runner DE", "red"] in [r[:3] for r in sheet]


def test_the_downloaded_sheet_goes_back_through_the_import_page(client: TestClient, store: Store) -> None:  # noqa: F811
    token = login(client)
    body = client.get("/products.csv?family=shoes&locale=en_US").content
    same = _import(client, token, "products.csv", body, store)
    assert (same["read"], same["updated"], same["unchanged"], same["rejected"]) == (5, 0, 5, 0)
    assert store.get_product("complete").provenance_of("name:en_US").source == "erp"  # type: ignore[union-attr]

    rows = _rows(body)
    at = rows[0].index("name:en_US")
    next(r for r in rows if r[0] == "complete")[at] = "Trail Runner"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    edited = _import(client, token, "products.csv", out.getvalue().encode(), store)
    assert (edited["updated"], edited["unchanged"]) == (1, 4)
    complete = store.get_product("complete")
    assert complete.values["name:en_US"] == "Trail Runner" and complete.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]
    assert complete.provenance_of("description:en_US@ecommerce").source == "erp"  # type: ignore[union-attr]

    xlsx = client.get("/products.xlsx?family=shoes&locale=en_US").content
    again = _import(client, token, "products.xlsx", xlsx, store)
    assert (again["updated"], again["rejected"]) == (0, 0)


def test_above_the_cap_the_grid_names_the_command(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    login(client, "vi")
    monkeypatch.setattr(ui, "BULK_MAX", 5)
    assert client.get("/products.xlsx?family=shoes").status_code == 200  # the five shoes: at the cap
    monkeypatch.setattr(ui, "BULK_MAX", 4)
    over = client.get("/products.xlsx?family=shoes&enabled=1&channel=ecommerce", follow_redirects=False)
    assert over.status_code == 303 and over.headers["location"] == "/products?family=shoes&enabled=1&channel=ecommerce"
    grid = unescape(client.get(over.headers["location"]).text)
    assert "more than 4 products" in grid
    assert "pim export sheet --out products.xlsx --family shoes --channel ecommerce (it does not filter by enabled)" in grid
    assert "Not downloaded" not in unescape(client.get("/products").text)  # said once


def test_wrong_requests_are_refused(client: TestClient, pim_env: Path) -> None:  # noqa: F811
    assert client.get("/products.csv", follow_redirects=False).status_code == 303  # sign in first
    login(client, "vi")
    assert client.get("/products.ods").status_code == 404
    bad = client.get("/products.csv?columns=sku")  # metrics and prices fit a cell since round 34; the SKU is its own column
    assert bad.status_code == 422 and "names the product already" in bad.text
    assert client.get("/products.csv?family=nope").status_code == 422
    assert client.get("/products.csv?completeness=almost").status_code == 422
