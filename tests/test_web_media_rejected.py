"""The quarantine's web page (media.web_rejected): editors and admins see the images ingest rejected, why,
and which products show each ref, a page at a time; the kept bytes download as an opaque attachment, never
inline; nobody else gets in. The quarantine is filled by real ingests of bad images, on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from media import web_rejected
from media.assets import REJECTED_ASSET
from media.ingest import ingest, ingest_bytes
from media.rejected import quarantine_key, size_text
from media.settings import FetchLimits, MediaFile
from media.storage import open_asset_store
from pim import delivery_log
from pim.product import Product, ProductModel, Provenance
from pim.store import Store
from pim.store.store import now
from pim.structure import Attribute, AttributeType
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests import images
from tests.test_web_ui import login
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

BOMB = images.bomb_png()
CUT = images.truncated_jpeg()
PAGE_URL = "/media/rejected"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def quarantined(store: Store, tmp_path: Path) -> Store:
    """bomb.png, cut.jpg and copy-of-cut.jpg (the same bytes) rejected by one ingest into the asset store the
    settings name (as the web app opens it); ok.png passes. p-bomb shows the bomb, the model m (so its variant
    v) shows cut.jpg, and p-sha shows the cut bytes by their sha256."""
    store.put_structure("attribute", [Attribute(code="sku", type=AttributeType.identifier),
                                      Attribute(code="image", type=AttributeType.image)])
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in {"bomb.png": BOMB, "cut.jpg": CUT, "copy-of-cut.jpg": CUT, "ok.png": images.png()}.items():
        (folder / name).write_bytes(data)
    counts = ingest(store, [(n, "erp") for n in ("bomb.png", "cut.jpg", "copy-of-cut.jpg", "ok.png")],
                    asset_store=open_asset_store(), base_dir=folder)
    assert (counts.valid, counts.rejected) == (1, 3)
    src = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_models([ProductModel(code="m", family_variant="fv", values={"image": "cut.jpg"}, source=src)])
    store.upsert_products([Product(identifier="p-bomb", values={"image": "bomb.png"}, source=src),
                           Product(identifier="v", parent="m", values={}, source=src),
                           Product(identifier="p-sha", values={"image": f"sha256:{sha(CUT)}"}, source=src),
                           Product(identifier="p-ok", values={"image": "ok.png"}, source=src)])
    return store


def signed_in(store: Store, role: str = "editor") -> TestClient:
    add_user(store, "ed", "correct horse", role)
    client = TestClient(create_app(store))
    login(client)
    return client


def rows(page: str) -> list[str]:
    return [html.unescape(r) for r in re.findall(r'<tr data-ref="([^"]+)"', page)]


def row(page: str, ref: str) -> str:
    return re.search(rf'<tr data-ref="{re.escape(ref)}".*?</tr>', page, re.DOTALL).group(0)  # type: ignore[union-attr]


def products(page: str, ref: str) -> list[str]:
    return re.findall(r'<a href="/products/([^"]+)"', row(page, ref))


def age(store: Store, ref: str, days: float) -> None:
    with store.begin() as conn:
        conn.execute(update(REJECTED_ASSET).where(REJECTED_ASSET.c.ref == ref)
                     .values(last_seen=now() - timedelta(days=days)))


def test_the_page_lists_rejected_refs_with_reason_size_and_the_products_showing_them(quarantined: Store) -> None:
    client = signed_in(quarantined)
    products_page = client.get("/products").text
    assert f'<a href="{PAGE_URL}">Rejected images</a>' in products_page  # the header leads there
    page = client.get(PAGE_URL)
    assert page.status_code == 200
    assert rows(page.text) == ["bomb.png", "copy-of-cut.jpg", "cut.jpg"]  # one ingest: same time, ref order
    bomb = row(page.text, "bomb.png")
    assert "decompression bomb guard" in bomb and size_text(len(BOMB)) in bomb
    assert f'href="{PAGE_URL}/{sha(BOMB)}"' in bomb
    assert "corrupt image" in row(page.text, "cut.jpg")
    assert products(page.text, "bomb.png") == ["p-bomb"]
    assert products(page.text, "cut.jpg") == ["p-sha", "v"]  # by its sha256, and inherited from the model
    assert products(page.text, "copy-of-cut.jpg") == ["p-sha"]
    assert "ok.png" not in page.text  # it passed: not in the quarantine


def test_paging_walks_the_quarantine_newest_first_and_the_filter_narrows_it(quarantined: Store,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_rejected, "PAGE", 2)
    age(quarantined, "bomb.png", 3)
    client = signed_in(quarantined)
    first = client.get(PAGE_URL).text
    assert rows(first) == ["copy-of-cut.jpg", "cut.jpg"]
    assert "First page" not in first
    nxt = html.unescape(re.search(r'<a href="([^"]+)" class="next-page"', first).group(1))  # type: ignore[union-attr]
    second = client.get(nxt).text
    assert rows(second) == ["bomb.png"] and "next-page" not in second and "First page" in second
    assert rows(client.get(PAGE_URL, params={"q": "CORRUPT"}).text) == ["copy-of-cut.jpg", "cut.jpg"]
    assert rows(client.get(PAGE_URL, params={"q": "bomb.p"}).text) == ["bomb.png"]
    assert rows(client.get(PAGE_URL, params={"q": sha(CUT)[:10]}).text) == ["copy-of-cut.jpg", "cut.jpg"]
    assert rows(client.get(PAGE_URL, params={"q": "100%"}).text) == []  # LIKE wildcards are plain text
    monkeypatch.setattr(web_rejected, "PAGE", 1)
    filtered = client.get(PAGE_URL, params={"q": "corrupt"}).text
    assert rows(filtered) == ["copy-of-cut.jpg"]
    nxt = html.unescape(re.search(r'<a href="([^"]+)" class="next-page"', filtered).group(1))  # type: ignore[union-attr]
    assert "q=corrupt" in nxt and rows(client.get(nxt).text) == ["cut.jpg"]  # the filter stays on the next page
    assert client.get(PAGE_URL, params={"after": "yesterday"}).status_code == 422


def test_a_ref_shown_by_many_products_names_a_few_and_counts_the_rest(quarantined: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_rejected, "SHOWN", 1)
    client = signed_in(quarantined)
    page = client.get(PAGE_URL).text
    assert products(page, "cut.jpg") == ["p-sha"]
    assert "and 1 more" in row(page, "cut.jpg")  # the model's variant v
    assert products(page, "copy-of-cut.jpg") == ["p-sha"] and "more" not in row(page, "copy-of-cut.jpg")
    src = Provenance(source="erp", at=datetime.now(UTC))
    quarantined.upsert_products([Product(identifier=f"x{n}", values={"image": "bomb.png"}, source=src)
                                 for n in range(3)])
    bomb = row(client.get(PAGE_URL).text, "bomb.png")
    assert len(re.findall(r'href="/products/', bomb)) == 1 and "and 3 more" in bomb
    quarantined.upsert_products([Product(identifier="p-cut", values={"image": "cut.jpg"}, source=src)])
    cut = row(client.get(PAGE_URL).text, "cut.jpg")  # p-cut comes before the model: m is counted, not read
    assert products(cut, "cut.jpg") == ["p-cut"]
    assert "and 1 more" in cut and "the variants of 1 more model<" in cut  # p-sha; the model m


def test_download_answers_the_exact_kept_bytes_as_an_untrusted_attachment(quarantined: Store) -> None:
    client = signed_in(quarantined, "admin")
    link = re.search(r'href="(/media/rejected/[0-9a-f]{64})"', row(client.get(PAGE_URL).text, "bomb.png")).group(1)  # type: ignore[union-attr]
    resp = client.get(link)
    assert resp.status_code == 200 and resp.content == BOMB
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-disposition"] == f'attachment; filename="rejected-{sha(BOMB)[:12]}.bin"'
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in resp.headers["cache-control"]
    assert client.get(f"{PAGE_URL}/{sha(CUT).upper()}").content == CUT


def test_unknown_sha_or_bytes_not_kept_answer_404_with_what_to_do(quarantined: Store) -> None:
    client = signed_in(quarantined)
    unknown = client.get(f"{PAGE_URL}/{'0' * 64}")
    assert unknown.status_code == 404 and "no rejected image has sha256" in unknown.json()["detail"]
    assert client.get(f"{PAGE_URL}/not-a-sha").status_code == 404
    assert client.get(f"{PAGE_URL}/{sha(BOMB)[:12]}").status_code == 404  # links name the full sha256
    result = ingest_bytes(quarantined, images.text_as_jpg() * 4, "upload.png", asset_store=open_asset_store(),
                          media=MediaFile(fetch=FetchLimits(max_bytes=100)))
    assert result["status"] == "rejected"
    page = client.get(PAGE_URL).text
    assert "not kept" in row(page, "upload.png") and f"/media/rejected/{result['sha256']}" not in page
    not_kept = client.get(f"{PAGE_URL}/{result['sha256']}")
    assert not_kept.status_code == 404 and "were not kept" in not_kept.json()["detail"]
    open_asset_store().delete(quarantine_key(sha(BOMB)))
    gone = client.get(f"{PAGE_URL}/{sha(BOMB)}")
    assert gone.status_code == 404 and "gone from the asset store" in gone.json()["detail"]


def test_signed_out_viewers_and_portal_customers_never_reach_the_quarantine(quarantined: Store) -> None:
    anonymous = TestClient(create_app(quarantined))
    for path in (PAGE_URL, f"{PAGE_URL}/{sha(BOMB)}"):
        resp = anonymous.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == f"/login?next={path}"
    viewer = signed_in(quarantined, "viewer")
    assert "Rejected images" not in viewer.get("/products").text
    assert viewer.get(PAGE_URL).status_code == 403
    assert viewer.get(f"{PAGE_URL}/{sha(BOMB)}").status_code == 403
    customer = TestClient(create_app(quarantined))
    portal = customer.get("/portal/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', portal.text).group(1)  # type: ignore[union-attr]
    home = customer.post("/portal/login", data={"token": delivery_log.issue_token(quarantined, "cust_a"),
                                                "csrf_token": token}, follow_redirects=True)
    assert home.status_code == 200 and "cust_a" in home.text  # signed in to the portal
    for path in (PAGE_URL, f"{PAGE_URL}/{sha(BOMB)}"):
        resp = customer.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
        assert BOMB not in resp.content


@pytest.mark.chromium
def test_an_editor_opens_the_quarantine_from_the_header_and_sees_the_rejected_image(
        quarantined: Store, live_app, browser_page) -> None:
    from playwright.sync_api import expect

    from tests.test_web_browser import sign_in

    add_user(quarantined, "ed", "correct horse", "editor")
    base = live_app(create_app(quarantined))
    sign_in(browser_page, base, "ed", "correct horse")
    browser_page.click('nav a:has-text("Rejected images")')
    browser_page.wait_for_url(f"{base}{PAGE_URL}")
    bomb = browser_page.locator('tr[data-ref="bomb.png"]')
    expect(bomb.locator("td.reason")).to_contain_text("decompression bomb guard")
    expect(bomb.locator('td.products a')).to_have_text("p-bomb")
