"""URL fetching against a real HTTP server on 127.0.0.1: timeouts, size cap, redirect limit, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from media.errors import FetchFailed
from media.fetch import read_ref
from media.settings import FetchLimits
from pim.settings import reset_settings
from tests import images

RED = images.jpeg(40, 30)
LIMITS = FetchLimits(timeout_seconds=0.3, max_bytes=100_000, max_redirects=3)


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True
    release = threading.Event()  # the slow route waits on this instead of sleeping

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        routes = {
            "/red.jpg": lambda: self._send(200, RED, {"Content-Type": "image/jpeg"}),
            "/moved.jpg": lambda: self._send(302, headers={"Location": "/red.jpg"}),
            "/loop": lambda: self._send(302, headers={"Location": "/loop"}),
            "/huge-declared": lambda: self._send(200, b"x" * 1000, {"Content-Length": "5000000"}),
            "/huge-streamed": self._stream_huge,
            "/slow.jpg": self._slow,
        }
        routes.get(self.path, lambda: self._send(404, b"no"))()

    def _stream_huge(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"y" * 65536
        try:
            for _ in range(10):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _slow(self) -> None:
        self.server.release.wait(10)  # type: ignore[attr-defined]
        try:
            self._send(200, RED)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(autouse=True)
def private_urls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test server listens on 127.0.0.1, as an intranet media server does: allowed explicitly."""
    monkeypatch.setenv("PIM_MEDIA_ALLOW_PRIVATE_URLS", "true")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="module")
def http_images() -> Iterator[ImageServer]:
    server = ImageServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def test_url_is_fetched_byte_for_byte(http_images: ImageServer) -> None:
    assert read_ref(f"{http_images.base}/red.jpg", limits=LIMITS) == RED


def test_redirect_is_followed(http_images: ImageServer) -> None:
    assert read_ref(f"{http_images.base}/moved.jpg", limits=LIMITS) == RED


def test_redirect_loop_stops_at_the_limit(http_images: ImageServer) -> None:
    with pytest.raises(FetchFailed, match="more than 3 redirects"):
        read_ref(f"{http_images.base}/loop", limits=LIMITS)


def test_declared_oversized_body_is_refused_before_reading(http_images: ImageServer) -> None:
    with pytest.raises(FetchFailed, match="Content-Length 5000000 is over the 100000-byte cap"):
        read_ref(f"{http_images.base}/huge-declared", limits=LIMITS)


def test_undeclared_oversized_body_is_cut_off_at_the_cap(http_images: ImageServer) -> None:
    with pytest.raises(FetchFailed, match="body is over the 100000-byte cap"):
        read_ref(f"{http_images.base}/huge-streamed", limits=LIMITS)


def test_slow_response_times_out(http_images: ImageServer) -> None:
    with pytest.raises(FetchFailed, match="timed out after 0.3s"):
        read_ref(f"{http_images.base}/slow.jpg", limits=LIMITS)


def test_http_error_status_is_a_fetch_failure_naming_the_url(http_images: ImageServer) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404") as caught:
        read_ref(f"{http_images.base}/gone.jpg", limits=LIMITS)
    assert caught.value.file == f"{http_images.base}/gone.jpg"


def test_relative_path_is_read_from_the_base_folder(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(RED)
    assert read_ref("img/a.jpg", base_dir=tmp_path, limits=LIMITS) == RED


def test_missing_file_says_where_relative_paths_are_read_from(tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="file not found") as caught:
        read_ref("nope.jpg", base_dir=tmp_path, limits=LIMITS)
    assert "--base" in (caught.value.hint or "")
