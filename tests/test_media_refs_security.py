"""An image ref is typed by an editor or a supplier but read by the server (media.fetch): a local ref is read
only inside the media roots (the --base folder, PIM_MEDIA_ROOTS), a URL only from a public address, every
redirect hop checked. A refused ref is never read and nothing of it is kept in the quarantine, so no editor can
download the server's files (/proc/self/environ, ../../etc/passwd) or its internal services' answers
(127.0.0.1, the cloud metadata service at 169.254.169.254) as "rejected images"."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from media import fetch
from media.ingest import IngestCounts, ingest
from media.rejected import PREFIX, listing
from media.store_local import LocalAssetStore
from pim.cli import _mount, app
from pim.settings import Settings, reset_settings
from pim.store import Store
from tests import images
from tests.test_media_rejected import show

RED = images.jpeg(40, 30)
SECRET = b"PIM_SECRET_KEY=do-not-leak\nPIM_SMTP_PASSWORD=hunter2\n"
OUTSIDE = "is outside the media roots"
HINT = "add its folder to PIM_MEDIA_ROOTS"
INTERNAL = "not fetched (image URLs are fetched from public addresses only)"
PUBLIC_IP = "93.184.215.14"  # what the fake DNS answers for images.example: a public address


@pytest.fixture
def assets(tmp_path: Path) -> LocalAssetStore:
    return LocalAssetStore(tmp_path / "media")


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """The --base folder: one good image, and a symlink an editor's upload could have left pointing out."""
    (tmp_path / "catalog" / "img").mkdir(parents=True)
    (tmp_path / "catalog" / "img" / "ok.jpg").write_bytes(RED)
    (tmp_path / "catalog" / "img" / "link.jpg").symlink_to(tmp_path / "secret" / "env.txt")
    return tmp_path / "catalog"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every media root, as /etc/passwd or the process environment is."""
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "env.txt").write_bytes(SECRET)
    return tmp_path / "secret" / "env.txt"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the file reader opens."""
    paths: list[str] = []
    real = open

    def recording(path: Any, *args: Any, **kwargs: Any) -> Any:
        paths.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(fetch, "open", recording, raising=False)
    return paths


def setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)
    reset_settings()


def refused(store: Store, assets: LocalAssetStore, ref: str, base_dir: Path | None = None) -> str:
    """Ingest `ref`; it must come out unreadable with nothing kept. Returns its problem."""
    counts = ingest(store, [(ref, "content")], asset_store=assets, base_dir=base_dir)
    nothing_kept(store, assets, counts)
    return counts.problems[0]["reason"]


def nothing_kept(store: Store, assets: LocalAssetStore, counts: IngestCounts) -> None:
    assert (counts.valid, counts.rejected, counts.kept) == (0, 0, 0)
    assert counts.unreadable == len(counts.problems) > 0
    assert listing(store) == [] and list(assets.objects(PREFIX)) == []


def test_an_absolute_path_outside_the_roots_is_refused_unread(store: Store, assets: LocalAssetStore, catalog: Path,
                                                             secret: Path, opened: list[str]) -> None:
    reason = refused(store, assets, str(secret), base_dir=catalog)
    assert OUTSIDE in reason and HINT in reason and opened == []


def test_dot_dot_out_of_the_base_folder_is_refused_unread(store: Store, assets: LocalAssetStore, catalog: Path,
                                                          secret: Path, opened: list[str]) -> None:
    reason = refused(store, assets, "img/../../secret/env.txt", base_dir=catalog)
    assert OUTSIDE in reason and opened == []
    assert OUTSIDE in refused(store, assets, "../../../../../../../../etc/passwd", base_dir=catalog)


def test_a_symlink_leading_out_of_the_base_folder_is_refused_unread(store: Store, assets: LocalAssetStore,
                                                                    catalog: Path, secret: Path,
                                                                    opened: list[str]) -> None:
    reason = refused(store, assets, "img/link.jpg", base_dir=catalog)
    assert OUTSIDE in reason and opened == []


def test_a_file_url_is_a_path_under_the_same_rule(store: Store, assets: LocalAssetStore, catalog: Path,
                                                  secret: Path, opened: list[str]) -> None:
    assert OUTSIDE in refused(store, assets, f"file://{secret}", base_dir=catalog)
    assert OUTSIDE in refused(store, assets, "file:///etc/os-release", base_dir=catalog)
    assert opened == []


def test_the_process_environment_is_refused_without_a_base_folder(store: Store, assets: LocalAssetStore,
                                                                  opened: list[str]) -> None:
    reason = refused(store, assets, "/proc/self/environ")  # no --base: relative refs from the current folder
    assert "the current folder, as no --base was given" in reason and opened == []


def test_pim_home_is_not_read_through_a_root_above_it(store: Store, assets: LocalAssetStore, pim_env: Path,
                                                      opened: list[str]) -> None:
    (pim_env / "uploads").mkdir(parents=True)
    (pim_env / "uploads" / "prices.csv").write_bytes(SECRET)
    reason = refused(store, assets, f"{pim_env.name}/uploads/prices.csv", base_dir=pim_env.parent)
    assert "is inside PIM_HOME" in reason and opened == []


def test_refs_inside_the_base_folder_and_the_media_roots_still_ingest(store: Store, assets: LocalAssetStore,
                                                                      catalog: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard test (passes before the change too): the rule lets through what it should."""
    shared = tmp_path / "dam" / "blue.jpg"
    shared.parent.mkdir()
    shared.write_bytes(images.jpeg(30, 40, color=(20, 20, 200)))
    setting(monkeypatch, "PIM_MEDIA_ROOTS", str(shared.parent))
    counts = ingest(store, [("img/ok.jpg", "erp"), ("img/../img/ok.jpg", "erp"), (str(shared), "upload"),
                            (f"file://{shared}", "upload")], asset_store=assets, base_dir=catalog)
    assert (counts.valid, counts.unreadable, counts.problems) == (4, 0, [])


def test_bytes_kept_for_a_ref_now_refused_leave_the_quarantine(store: Store, assets: LocalAssetStore,
                                                               secret: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = secret.parent / "cut.jpg"  # a broken image (bytes no image at all are never kept: media.validate)
    broken.write_bytes(images.truncated_jpeg())
    setting(monkeypatch, "PIM_MEDIA_ROOTS", str(secret.parent))  # e.g. kept by a version without the rule
    first = ingest(store, [(str(broken), "content")], asset_store=assets)
    assert (first.rejected, first.kept) == (1, 1) and len(listing(store)) == 1
    setting(monkeypatch, "PIM_MEDIA_ROOTS", None)
    again = ingest(store, [(str(broken), "content")], asset_store=assets)  # rejected refs are asked every run
    nothing_kept(store, assets, again)


def test_media_roots_are_written_like_a_path_or_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_MEDIA_ROOTS", "/srv/photos:/mnt/dam")
    assert Settings().media_roots == [Path("/srv/photos"), Path("/mnt/dam")]
    monkeypatch.setenv("PIM_MEDIA_ROOTS", '["/srv/my photos"]')
    assert Settings().media_roots == [Path("/srv/my photos")]
    monkeypatch.delenv("PIM_MEDIA_ROOTS")
    assert Settings().media_roots == [] and Settings().media_allow_private_urls is False


class Internal(ThreadingHTTPServer):
    """A service on the server's own loopback that must stay out of reach (the repro's :8799/latest)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Answer)
        self.requests: list[str] = []


class Answer(BaseHTTPRequestHandler):
    server: Internal

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(SECRET)))
        self.end_headers()
        self.wfile.write(SECRET)


@pytest.fixture
def internal() -> Iterator[Internal]:
    srv = Internal()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_a_loopback_url_is_refused_unfetched(store: Store, assets: LocalAssetStore, internal: Internal) -> None:
    port = internal.server_address[1]
    for ref in (f"http://127.0.0.1:{port}/latest", f"http://localhost:{port}/latest"):
        reason = refused(store, assets, ref)
        assert "loopback address" in reason and INTERNAL in reason and "PIM_MEDIA_ALLOW_PRIVATE_URLS" in reason
    assert internal.requests == []


def test_a_loopback_url_is_fetched_when_private_urls_are_allowed(store: Store, assets: LocalAssetStore,
                                                                 internal: Internal,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard test (passes before the change too): the setting opens intranet media servers again."""
    setting(monkeypatch, "PIM_MEDIA_ALLOW_PRIVATE_URLS", "true")
    counts = ingest(store, [(f"http://127.0.0.1:{internal.server_address[1]}/x.jpg", "erp")], asset_store=assets)
    assert (counts.rejected, counts.unreadable, internal.requests) == (1, 0, ["/x.jpg"])


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[httpx.Request], httpx.Response]], list[httpx.Request]]:
    """The Internet as the fetcher sees it: `images.example` resolves to a public address and every request is
    answered by the handler given (httpx's MockTransport), which also sees what the fetcher sends."""
    real_resolve, real_client = socket.getaddrinfo, httpx.Client

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "images.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port))]
        return real_resolve(host, port, *args, **kwargs)

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        monkeypatch.setattr(socket, "getaddrinfo", resolve)
        monkeypatch.setattr(httpx, "Client", lambda **kw: real_client(transport=httpx.MockTransport(answer), **kw))
        return seen

    return install


def test_a_redirect_to_a_loopback_url_is_refused(store: Store, assets: LocalAssetStore, web: Any) -> None:
    seen = web(lambda r: httpx.Response(302, headers={"Location": "http://127.0.0.1:8799/latest"})
               if r.url.path == "/photo.jpg" else httpx.Response(200, content=SECRET))
    reason = refused(store, assets, "https://images.example/photo.jpg")
    assert "127.0.0.1 is a loopback address" in reason
    assert [r.url.path for r in seen] == ["/photo.jpg"]  # the internal hop was never asked


def test_the_cloud_metadata_address_is_refused_unfetched(store: Store, assets: LocalAssetStore, web: Any) -> None:
    seen = web(lambda r: httpx.Response(200, content=b'{"AccessKeyId": "ASIA...", "SecretAccessKey": "..."}'))
    reason = refused(store, assets, "http://169.254.169.254/latest/meta-data/iam/security-credentials/pim")
    assert "169.254.169.254 is a link-local address" in reason and seen == []


def test_the_connection_goes_to_the_address_that_was_checked(store: Store, assets: LocalAssetStore,
                                                             web: Any) -> None:
    seen = web(lambda r: httpx.Response(200, content=RED, headers={"Content-Type": "image/jpeg"}))
    counts = ingest(store, [("https://images.example/red.jpg", "supplier:acme")], asset_store=assets)
    assert counts.valid == 1
    request = seen[0]  # not resolved again by the HTTP client: a DNS answer changed since cannot redirect it
    assert (request.url.host, request.headers["host"], request.extensions["sni_hostname"]) == \
        (PUBLIC_IP, "images.example", "images.example")


def test_the_operators_routine_ingest_keeps_nothing_of_the_attacks(store: Store, catalog: Path, secret: Path,
                                                                   internal: Internal, pim_env: Path) -> None:
    """The reviewer's reproduction: image values set by editors (REST, content file, BMEcat MIME_SOURCE), then
    a plain `pim media ingest` over the catalog."""
    attacks = ["/proc/self/environ", "../../../../../../../../etc/passwd", str(secret), f"file://{secret}",
               "img/link.jpg", f"http://127.0.0.1:{internal.server_address[1]}/latest"]
    show(store, *attacks, "img/ok.jpg")
    _mount()
    result = CliRunner().invoke(app, ["media", "ingest", "--base", str(catalog), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert (counts["valid"], counts["rejected"], counts["unreadable"]) == (1, 0, len(attacks))
    assert {p["ref"] for p in counts["problems"]} == set(attacks)
    assert listing(store) == [] and internal.requests == []
    assert not (pim_env / "media" / "rejected").exists()


def test_the_file_systems_root_is_never_a_media_root(store: Store, assets: LocalAssetStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in round 31's review: run from `/` (cron, systemd) without --base, the current folder was `/` and
    every path was inside it. Neither `/` nor /proc, /sys, /dev is a root, given or implied."""
    monkeypatch.chdir("/")
    counts = ingest(store, [("/etc/hostname", "content"), ("proc/self/environ", "content")], asset_store=assets)
    nothing_kept(store, assets, counts)
    setting(monkeypatch, "PIM_MEDIA_ROOTS", "/ : /proc")
    counts = ingest(store, [("/etc/hostname", "content"), ("/proc/self/environ", "content")], asset_store=assets)
    nothing_kept(store, assets, counts)
