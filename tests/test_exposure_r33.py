"""Round 33 exposure fixes. Search: a document's `customers` holds keyed tags, not customer codes, and is not
displayed, so a customer's own tenant token shows neither which other customers hold a product nor how many
by name. Uploads: the product page's image upload and the API's import upload are refused (413) by their
Content-Length before the body is read, and an image over the cap is read no further than the cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from anyio.from_thread import start_blocking_portal
from fastapi.testclient import TestClient

from channels.search import tenant_search_rules
from channels.search_documents import DocumentBuilder, customer_tag
from channels.search_settings import index_settings, shape_fingerprint
from exporters.meilisearch import tenant_token
from pim.settings import reset_settings
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, load_catalog, publish_search
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_web_ui import login

pytestmark = pytest.mark.backends("sqlite")
EN = "products_ecommerce_en_US"
CODES = (b"acme-gmbh", b"globex")


# ---------------------------------------------------------------------------------------------- search
@pytest.fixture
def pushed(store: Store, meili_env: ServedDouble, tmp_path: Path) -> ServedDouble:
    load_catalog(store)  # acme-gmbh holds HP-100-RED and the cable, globex HP-100-BLK
    publish_search(store, tmp_path)
    return meili_env


def _search(meili: ServedDouble, customer: str, **body: object) -> dict[str, Any]:
    key = meili.double.search_key
    token = tenant_token(key["key"], key["uid"], tenant_search_rules("ecommerce", customer))
    resp = httpx.post(f"{meili.url}/indexes/{EN}/search", json={"distinct": "sku", **body},
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_search_documents_hold_customer_tags_and_no_customer_code(store: Store, tmp_path: Path) -> None:
    load_catalog(store)
    publish_search(store, tmp_path, exporter="local")
    raw = b"".join(p.read_bytes() for p in (tmp_path / "search").rglob("documents.ndjson"))
    assert raw and not any(code in raw for code in CODES)
    docs = {d["sku"]: d for d in map(orjson.loads, raw.splitlines())}
    assert docs[CABLE]["customers"] == [customer_tag("acme-gmbh")]


def test_a_customers_token_finds_exactly_its_products_and_no_other_customer(pushed: ServedDouble) -> None:
    found = _search(pushed, "acme-gmbh", facets=["customers"])
    assert {h["sku"] for h in found["hits"]} == {"HP-100-RED", CABLE}
    assert all("customers" not in h for h in found["hits"])  # not displayed
    assert not any(code.decode() in orjson.dumps(found).decode() for code in CODES)
    assert set(found["facetDistribution"]["customers"]) == {customer_tag("acme-gmbh")}
    assert {h["sku"] for h in _search(pushed, "globex")["hits"]} == {"HP-100-BLK"}


def test_displayed_attributes_are_every_document_field_but_customers(store: Store) -> None:
    load_catalog(store)
    builder = DocumentBuilder(store.structure(), "ecommerce")
    doc = builder.build("X-1", "cables", [], {}, customers=["acme-gmbh"])[0]
    assert set(index_settings(builder, "en_US")["displayedAttributes"]) == set(doc) - {"customers"}


def test_another_secret_key_retags_so_the_next_push_rebuilds(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    load_catalog(store)
    before = shape_fingerprint(DocumentBuilder(store.structure(), "ecommerce"))
    monkeypatch.setenv("PIM_SECRET_KEY", "another-secret")
    reset_settings()
    builder = DocumentBuilder(store.structure(), "ecommerce")
    assert shape_fingerprint(builder) != before
    assert builder.build("X-1", "cables", [], {}, customers=["acme-gmbh"])[0]["customers"] == \
        [customer_tag("acme-gmbh", "another-secret")] != [customer_tag("acme-gmbh", "dev-insecure-change-me")]


# ---------------------------------------------------------------------------------------------- uploads
class CountingBody:
    """A multipart body of one big file, handed out in chunks; `sent` counts what the server pulled."""

    def __init__(self, size: int, fields: dict[str, str], boundary: str = "cap-r33") -> None:
        head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                        for k, v in fields.items())
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
                 "Content-Type: text/csv\r\n\r\n").encode()
        self.parts = [head, *[b"x" * 65536] * (size // 65536), f"\r\n--{boundary}--\r\n".encode()]
        self.length = sum(map(len, self.parts))
        self.type = f"multipart/form-data; boundary={boundary}"
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.sent += len(part)
            yield part


def _post(app: Any, url: str, body: CountingBody, headers: dict[str, str], cookies: Any = None, *,
          declared: bool = True) -> httpx.Response:
    """POST `body` through the ASGI app, which pulls it chunk by chunk (httpx.ASGITransport)."""
    headers = {**headers, "Content-Type": body.type, **({"Content-Length": str(body.length)} if declared else {})}

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     cookies=cookies) as client:
            return await client.post(url, content=body.__aiter__(), headers=headers)

    with start_blocking_portal() as portal:  # its own loop, as TestClient runs the app
        return portal.call(go)


def test_an_api_import_over_the_cap_is_refused_by_its_content_length_unread(role_tokens, store: Store, pim_env: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 1000)
    body = CountingBody(1024 * 1024, {"importer": "content"})
    resp = _post(client.app, "/api/v1/imports", body, tokens["editor"])
    assert resp.status_code == 413 and "pim import" in resp.text
    assert body.sent == 0
    assert store.jobs(kind="import") == [] and not (pim_env / "uploads").exists()


def test_a_chunked_api_import_over_the_cap_is_still_refused(role_tokens, store: Store, pim_env: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard (it passed before the change too): with no Content-Length the file is refused once read."""
    client, tokens = role_tokens
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 1000)
    body = CountingBody(128 * 1024, {"importer": "content"})
    resp = _post(client.app, "/api/v1/imports", body, tokens["editor"], declared=False)
    assert resp.status_code == 413 and store.jobs(kind="import") == []


def test_a_token_is_checked_before_an_oversized_import_is_refused(role_tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard (it passed before the change too): no token is told 401, not 413, and nothing is read."""
    client, _ = role_tokens
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 1000)
    body = CountingBody(1024 * 1024, {"importer": "content"})
    assert _post(client.app, "/api/v1/imports", body, {}).status_code == 401 and body.sent == 0


@pytest.fixture
def editor(store: Store, monkeypatch: pytest.MonkeyPatch, pim_env: Path) -> tuple[TestClient, str]:
    """A signed-in editor on the seeded catalog, with a 1000-byte image cap."""
    monkeypatch.setenv("PIM_MEDIA_UPLOAD_MAX_BYTES", "1000")
    reset_settings()
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    return client, login(client)


def test_an_image_over_the_cap_is_refused_by_its_content_length_unread(editor: tuple[TestClient, str],
                                                                       store: Store) -> None:
    client, token = editor
    body = CountingBody(1024 * 1024, {"key": "picture", "csrf_token": token})
    resp = _post(client.app, "/products/complete/media", body, {}, client.cookies)
    assert resp.status_code == 413 and "PIM_MEDIA_UPLOAD_MAX_BYTES" in resp.text
    assert body.sent == 0
    assert store.get_product("complete").values["picture"] == "runner-side.jpg"


def test_an_image_over_the_cap_is_read_no_further_than_the_cap(editor: tuple[TestClient, str], store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    client, token = editor
    reads: list[int] = []
    monkeypatch.setattr("pim.web.panels.upload_media", lambda *a: pytest.fail("an oversized image was ingested"))
    from starlette.datastructures import UploadFile

    real = UploadFile.read

    async def read(self: UploadFile, size: int = -1) -> bytes:
        data = await real(self, size)
        reads.append(len(data))
        return data

    monkeypatch.setattr(UploadFile, "read", read)
    resp = client.post("/products/complete/media", data={"key": "picture", "csrf_token": token},
                       files={"file": ("big.png", b"x" * 5000, "image/png")})  # within the form's room: parsed
    assert resp.status_code == 413 and "PIM_MEDIA_UPLOAD_MAX_BYTES" in resp.text
    assert reads == [1001]
    assert store.get_product("complete").values["picture"] == "runner-side.jpg"
