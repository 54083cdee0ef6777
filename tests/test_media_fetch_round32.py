"""Round 32's media read rules (media.fetch). The file opened is the file checked: the real path is walked folder
by folder from `/` and no symlink on it is followed, so a folder swapped for a symlink between the media-roots
check and the open is refused, not read. Relative refs are read from --base only, never from the current
folder: without one they are skipped and nothing is recorded. The route of an image URL (proxy or direct) is
decided once, so a request is pinned to the checked address whenever it goes direct."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from media import fetch
from media.assets import ORIGIN
from media.errors import BaseFolderMissing, RefRefused
from media.ingest import ingest
from media.settings import FetchLimits
from media.store_local import LocalAssetStore
from pim.cli import _mount, app
from pim.settings import reset_settings
from pim.store import Store
from tests import images
from tests.test_media_refs_security import PUBLIC_IP, web  # noqa: F401 (a fixture)
from tests.test_media_rejected import show

RED = images.jpeg(40, 30)
SWAPPED = "has a symlink on its path that was not there when the path was checked against the media roots"
LIMITS = FetchLimits(timeout_seconds=1, max_bytes=100_000, max_redirects=2)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No media roots, private URLs or proxies from the machine running the tests."""
    for name in ("PIM_MEDIA_ROOTS", "PIM_MEDIA_ALLOW_PRIVATE_URLS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def catalog(tmp_path: Path, clean_env: None) -> Path:
    """The --base folder: `img/passwd` is an image, named as the file the swap below points it at."""
    (tmp_path / "catalog" / "img").mkdir(parents=True)
    (tmp_path / "catalog" / "img" / "passwd").write_bytes(RED)
    return tmp_path / "catalog"


@pytest.fixture
def swap_after_check(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, Path], None]:
    """The race, made deterministic: right after `local_path` checked a ref against the media roots, `folder`
    is moved aside and a symlink to `target` takes its place (as another process could do at that moment)."""

    def arm(folder: Path, target: Path) -> None:
        checked = fetch.local_path

        def check_then_swap(ref: str, base_dir: Path | None = None) -> Path:
            path = checked(ref, base_dir)
            if not folder.is_symlink():
                folder.rename(folder.with_name(folder.name + ".moved"))
                folder.symlink_to(target)
            return path

        monkeypatch.setattr(fetch, "local_path", check_then_swap)

    return arm


def test_a_folder_swapped_for_a_symlink_after_the_check_is_refused(catalog: Path,
                                                                   swap_after_check: Callable[..., None]) -> None:
    swap_after_check(catalog / "img", Path("/etc"))
    with pytest.raises(RefRefused) as caught:
        fetch.read_file("img/passwd", base_dir=catalog, max_bytes=LIMITS.max_bytes)
    assert SWAPPED in str(caught.value) and "run the ingest again" in (caught.value.hint or "")


def test_a_folder_swapped_higher_up_is_refused_too(catalog: Path, swap_after_check: Callable[..., None],
                                                   tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "img"
    outside.mkdir(parents=True)
    (outside / "passwd").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    swap_after_check(catalog, tmp_path / "outside")  # the --base folder itself, the root of the check
    with pytest.raises(RefRefused, match=SWAPPED):
        fetch.read_file("img/passwd", base_dir=catalog, max_bytes=LIMITS.max_bytes)


def test_the_file_swapped_for_a_symlink_after_the_check_says_so(catalog: Path,
                                                                swap_after_check: Callable[..., None]) -> None:
    swap_after_check(catalog / "img" / "passwd", Path("/etc/passwd"))
    with pytest.raises(RefRefused, match=SWAPPED):
        fetch.read_file("img/passwd", base_dir=catalog, max_bytes=LIMITS.max_bytes)


def test_a_swapped_folder_gives_no_validator(catalog: Path, swap_after_check: Callable[..., None]) -> None:
    """A refresh compares the validator first: it must not be the status of the file the symlink leads to."""
    swap_after_check(catalog / "img", Path("/etc"))
    assert fetch.file_validator("img/passwd", base_dir=catalog) is None


def test_ingest_records_the_swap_as_unreadable_and_keeps_nothing(store: Store, catalog: Path, tmp_path: Path,
                                                                 swap_after_check: Callable[..., None]) -> None:
    assets = LocalAssetStore(tmp_path / "media")
    swap_after_check(catalog / "img", Path("/etc"))
    counts = ingest(store, [("img/passwd", "content")], asset_store=assets, base_dir=catalog)
    assert (counts.valid, counts.rejected, counts.unreadable, counts.kept) == (0, 0, 1, 0)
    assert SWAPPED in counts.problems[0]["reason"]


def test_a_symlink_inside_the_root_to_a_folder_inside_it_is_still_read(catalog: Path) -> None:
    """Guard test (passes before the change too): symlinks in an image folder keep working when they stay
    inside the media roots, as the walk follows the path the check resolved."""
    (catalog / "shared").mkdir()
    (catalog / "shared" / "red.jpg").write_bytes(RED)
    (catalog / "img" / "alias").symlink_to(catalog / "shared")
    (catalog / "img" / "red.jpg").symlink_to(catalog / "shared" / "red.jpg")
    for ref in ("img/alias/red.jpg", "img/red.jpg"):
        data, validator = fetch.read_file(ref, base_dir=catalog, max_bytes=LIMITS.max_bytes)
        assert data == RED and validator is None  # written just now: no validator yet (media.fetch.SETTLE_NS)
        assert fetch.file_validator(ref, base_dir=catalog) is not None


def test_without_openat_the_plain_open_still_reads_and_refuses(catalog: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard test for the fallback where O_NOFOLLOW / dir_fd are missing: the real path opened in one call."""
    monkeypatch.setattr(fetch, "_WALKS", False)
    assert fetch.read_file("img/passwd", base_dir=catalog, max_bytes=LIMITS.max_bytes)[0] == RED
    assert fetch.file_validator("img/passwd", base_dir=catalog) is not None


def test_a_relative_ref_without_a_base_folder_is_not_read_from_the_current_folder(catalog: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    monkeypatch.chdir(catalog)
    with pytest.raises(BaseFolderMissing) as caught:
        fetch.read_ref("img/passwd", limits=LIMITS)
    assert "no --base folder was given" in str(caught.value) and "pass --base DIR" in (caught.value.hint or "")
    assert fetch.file_validator("img/passwd") is None


def test_an_absolute_ref_in_the_current_folder_is_outside_the_roots_without_a_base(catalog: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    monkeypatch.chdir(catalog)
    with pytest.raises(RefRefused) as caught:
        fetch.read_ref(str(catalog / "img" / "passwd"), limits=LIMITS)
    assert "not the current folder, as no --base was given" in str(caught.value)
    assert "pass --base DIR" in (caught.value.hint or "")


def _origins(store: Store) -> list[tuple[str, str | None]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(ORIGIN.c.ref, ORIGIN.c.sha256).order_by(ORIGIN.c.ref))]


def test_ingest_skips_relative_refs_without_a_base_and_records_nothing(store: Store, catalog: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A forgotten --base must not mark the catalog's images unreadable (which rescores their products) nor
    replace what an earlier run recorded for them."""
    assets = LocalAssetStore(tmp_path / "media")
    first = ingest(store, [("img/passwd", "erp")], asset_store=assets, base_dir=catalog)
    assert first.valid == 1
    before = _origins(store)
    monkeypatch.chdir(catalog)
    again = ingest(store, [("img/passwd", "erp"), ("img/new.jpg", "erp")], asset_store=assets, refresh=True)
    assert (again.skipped, again.unreadable, again.valid, again.problems) == (2, 0, 0, [])
    assert again.as_dict()["skipped (relative path, no --base)"] == 2
    assert _origins(store) == before  # nothing recorded for the new ref, the known one untouched


def test_the_cli_skips_the_catalogs_relative_refs_without_base_and_says_what_to_pass(store: Store, catalog: Path,
                                                                                     monkeypatch: pytest.MonkeyPatch
                                                                                     ) -> None:
    show(store, "img/passwd")
    monkeypatch.chdir(catalog)  # the files are right here, and still not read: the catalog's refs need --base
    _mount()
    runner = CliRunner()
    result = runner.invoke(app, ["media", "ingest", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert (counts["valid"], counts["unreadable"], counts["skipped (relative path, no --base)"]) == (0, 0, 1)
    assert counts["products_rescored"] == 0
    plain = runner.invoke(app, ["media", "ingest"])
    assert "1 relative image ref(s) skipped" in plain.output and "pass --base DIR" in plain.output
    with_base = json.loads(runner.invoke(app, ["media", "ingest", "--base", str(catalog), "--json"]).stdout)
    assert with_base["valid"] == 1


def test_refs_typed_on_the_command_line_are_still_read_from_the_current_folder(store: Store, catalog: Path,
                                                                              monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    """Guard test (passes before the change too): `pim media ingest photo.jpg` names the operator's own files."""
    monkeypatch.chdir(catalog / "img")
    _mount()
    result = CliRunner().invoke(app, ["media", "ingest", "passwd", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] == 1


@pytest.fixture
def proxied_web(monkeypatch: pytest.MonkeyPatch, web: Any) -> Callable[..., Any]:  # noqa: F811
    """`web` (images.example resolves public, requests answered in-process), plus the proxy each client was
    given; the answer comes from the same handler whether the client would use that proxy or not."""

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[list[httpx.Request], list[Any]]:
        seen = web(handler)
        mocked, proxies = httpx.Client, []

        def client(**kw: Any) -> httpx.Client:
            proxies.append(kw.pop("proxy", "not passed"))
            return mocked(**kw)

        monkeypatch.setattr(httpx, "Client", client)
        return seen, proxies

    return install


def _image(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=RED, headers={"Content-Type": "image/jpeg"})


@pytest.mark.parametrize("no_proxy", ["images.example", "*"])
def test_a_host_no_proxy_exempts_is_fetched_from_the_checked_address(clean_env: None, proxied_web: Any,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     no_proxy: str) -> None:
    """Before, the proxy setting alone left the request unpinned, while the client, reading NO_PROXY, went
    direct and resolved the name again: the DNS-rebinding window the pinning closes."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    seen, proxies = proxied_web(_image)
    assert fetch.fetch_url("https://images.example/red.jpg", LIMITS) == RED
    assert (seen[0].url.host, seen[0].headers["host"], seen[0].extensions["sni_hostname"]) == \
        (PUBLIC_IP, "images.example", "images.example")
    assert proxies == [None]  # and the client is told to go direct, whatever the environment says


def test_through_a_proxy_the_name_is_sent_and_the_client_is_told_the_proxy(clean_env: None, proxied_web: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.internal:3128")  # no scheme: http://, as curl and httpx read it
    seen, proxies = proxied_web(_image)
    assert fetch.fetch_url("https://images.example/red.jpg", LIMITS) == RED
    assert proxies == ["http://proxy.internal:3128"] and seen[0].url.host == "images.example"

