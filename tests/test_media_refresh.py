"""`pim media ingest --refresh` asks HTTP servers whether an image changed (If-None-Match / If-Modified-Since,
from the validators stored with its origin) instead of downloading every image again: a 304 keeps the stored
asset, a changed image is read and stored anew, and a server that sends no validators is simply read again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from media.assets import ORIGIN
from media.ingest import ingest
from media.store_local import LocalAssetStore
from pim.settings import reset_settings
from pim.store import Store
from tests import images

RED, BLUE = images.jpeg(40, 30), images.jpeg(30, 40)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.body, self.version = RED, "v1"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.full_bodies = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        s = self.server
        s.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        validators = {"ETag": f'"{s.version}"', "Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT"}
        if self.path == "/plain.jpg":
            validators = {}
        elif self.headers.get("If-None-Match") == f'"{s.version}"':
            self.send_response(304)
            for k, v in validators.items():
                self.send_header(k, v)
            self.end_headers()
            return
        self.send_response(200)
        for k, v in {"Content-Type": "image/jpeg", "Content-Length": str(len(s.body)), **validators}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(s.body)
        s.full_bodies += 1


@pytest.fixture
def server(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """On 127.0.0.1, as an intranet media server: allowed explicitly (PIM_MEDIA_ALLOW_PRIVATE_URLS)."""
    monkeypatch.setenv("PIM_MEDIA_ALLOW_PRIVATE_URLS", "true")
    reset_settings()
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _origin(store: Store, ref: str) -> dict:
    from sqlalchemy import select

    with store.engine.connect() as conn:
        return dict(conn.execute(select(ORIGIN).where(ORIGIN.c.ref == ref)).one()._mapping)


def test_a_refresh_asks_first_and_downloads_only_what_changed(store: Store, server: Server, tmp_path: Path) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    ref = f"{server.base}/red.jpg"
    first = ingest(store, [(ref, "supplier:acme")], asset_store=assets)
    assert (first.valid, first.stored, server.full_bodies) == (1, 1, 1)
    stored = _origin(store, ref)
    assert (stored["etag"], stored["last_modified"]) == ('"v1"', "Mon, 02 Nov 2026 10:00:00 GMT")

    again = ingest(store, [(ref, "supplier:acme")], asset_store=assets)  # no refresh: not even asked
    assert again.known == 1 and len(server.requests) == 1

    unchanged = ingest(store, [(ref, "supplier:acme")], asset_store=assets, refresh=True)
    assert (unchanged.not_modified, unchanged.known, unchanged.valid, server.full_bodies) == (1, 1, 0, 1)
    assert server.requests[-1][1]["if-none-match"] == '"v1"'
    assert server.requests[-1][1]["if-modified-since"] == "Mon, 02 Nov 2026 10:00:00 GMT"
    assert _origin(store, ref)["sha256"] == stored["sha256"] and _origin(store, ref)["etag"] == '"v1"'

    server.body, server.version = BLUE, "v2"  # the supplier replaced the picture
    changed = ingest(store, [(ref, "supplier:acme")], asset_store=assets, refresh=True)
    assert (changed.not_modified, changed.valid, changed.stored, server.full_bodies) == (0, 1, 1, 2)
    now = _origin(store, ref)
    assert now["sha256"] != stored["sha256"] and now["etag"] == '"v2"'


def test_a_server_without_validators_is_read_again_on_refresh(store: Store, server: Server, tmp_path: Path) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    ref = f"{server.base}/plain.jpg"
    ingest(store, [(ref, "erp")], asset_store=assets)
    assert _origin(store, ref)["etag"] is None
    refreshed = ingest(store, [(ref, "erp")], asset_store=assets, refresh=True)
    assert (refreshed.not_modified, refreshed.valid, server.full_bodies) == (0, 1, 2)
    assert "if-none-match" not in server.requests[-1][1]
