"""Round 34 channel fixes for what a storefront developer found: search blocks a list price that rounds to 0 as
the storefront does; Google blocks an image link it cannot fetch (file://); a publish removes the files its last
publication of the scope wrote and this one did not (search names its orphaned indexes instead); plain text reads
line breaks as spaces and the storefront's HTML keeps plain lines apart. One SQLite store serves the module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from channels.html import plain_text, safe_html
from exporters.local import LocalExporter
from pim.pipeline import PublishResult, publish
from pim.product import Product
from pim.protocols import Artifact, PublishContext
from tests.channel_data import ERP, complete_values, seed_products
from tests.conftest import module_home

BULLETS = "Light\nWaterproof\r\n  Vegan"


def _product(sku: str, **values: Any) -> Product:
    return Product(identifier=sku, family="shoes", categories=["sneakers"], source=ERP,
                   values=complete_values(sku=sku, **values))


def _documents(out: Path, locale: str) -> dict[str, dict[str, Any]]:
    path = out / "search" / f"products_ecommerce_{locale}" / "documents.ndjson"
    return {d["sku"]: d for d in map(orjson.loads, path.read_bytes().splitlines())}


class FileLinks:
    """media/links.py as it links a built rendition with no media base URL set: this machine's file:// URL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def prefetch(self, values: Any) -> None:
        pass

    def __call__(self, value: str) -> str:
        return f"file:///srv/pim/media/renditions/{value.removeprefix('sha256:')}.jpg"


@pytest.fixture(scope="module")
def published(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Search (local files), the storefront and Google Merchant published once, then Google again with its image
    links as file:// URLs, and search again after a price change (incremental)."""
    tmp = tmp_path_factory.mktemp("r34")
    with module_home(sqlite_template, tmp) as (store, mp):
        seed_products(store)
        store.upsert_products([
            _product("zero-usd", price={"EUR": "10.005", "USD": "0.004"}),
            _product("one-cent", price={"EUR": "0.005", "USD": "0.01"}),
            _product("bullets", **{"description:en_US@ecommerce": BULLETS}),
            _product("cheaper-later"),
        ])
        out = tmp / "out"
        runs: dict[str, Any] = {"out": out}
        runs["search"] = publish(store, out, channel="search", scope="ecommerce", exporter="local")
        runs["documents"] = {loc: _documents(out, loc) for loc in ("en_US", "de_DE")}
        runs["storefront"] = publish(store, out, channel="storefront", scope="ecommerce")
        runs["catalog"] = {d["identifier"]: d for d in orjson.loads(
            (out / "storefront" / "catalog.ecommerce.en_US.json").read_bytes())["products"]}
        runs["google"] = publish(store, out, channel="google_merchant", scope="ecommerce")
        mp.setattr("channels.google_merchant.IMAGE_LINKS", f"{__name__}:FileLinks")
        runs["google_file"] = publish(store, tmp / "out_file", channel="google_merchant", scope="ecommerce")
        store.upsert_products([_product("cheaper-later", price={"EUR": "0.001", "USD": "2.00"})])
        runs["search_again"] = publish(store, out, channel="search", scope="ecommerce", exporter="local")
        runs["deletes"] = orjson.loads((out / "search" / "products_ecommerce_en_US" / "deletes.json").read_bytes())
        yield runs


# ---------------------------------------------------------------- 4: search follows the storefront's price rule
def test_search_blocks_a_list_price_that_rounds_to_zero_as_the_storefront_does(published: dict[str, Any]) -> None:
    search: PublishResult = published["search"]
    assert search.blocked["zero-usd"] == ["search:USD:invalid:price:0"]
    assert published["storefront"].blocked["zero-usd"] == ["storefront:USD:invalid:price:0"]
    assert all("zero-usd" not in docs for docs in published["documents"].values())


def test_search_keeps_a_price_that_rounds_up_to_a_cent(published: dict[str, Any]) -> None:
    """Guard (passes before and after): 0.005 shows as 0.01, no free product."""
    assert published["documents"]["en_US"]["one-cent"]["prices"] == {"EUR": 0.01, "USD": 0.01}


def test_an_incremental_search_push_deletes_a_product_whose_price_now_rounds_to_zero(published: dict[str, Any]
                                                                                     ) -> None:
    assert published["search_again"].blocked["cheaper-later"] == ["search:EUR:invalid:price:0"]
    assert "cheaper-later" in published["deletes"]


# ---------------------------------------------------------------- 8: line breaks in plain text and on the page
def test_search_description_reads_line_breaks_as_spaces(published: dict[str, Any]) -> None:
    assert published["documents"]["en_US"]["bullets"]["description"] == "Light Waterproof Vegan"


def test_plain_text_collapses_whitespace_in_text_without_markup() -> None:
    assert plain_text("a\n b\t c  d ") == "a b c d"


def test_plain_text_returns_clean_text_as_it_is() -> None:
    """Guard (passes before and after): nothing to collapse, the same object."""
    text = "A fine shoe."
    assert plain_text(text) is text


def test_storefront_html_keeps_the_lines_of_a_value_written_without_tags(published: dict[str, Any]) -> None:
    assert published["catalog"]["bullets"]["attributes"]["description"] == "Light<br>Waterproof<br>Vegan"


def test_storefront_html_escapes_an_ampersand_in_plain_lines() -> None:
    assert safe_html("Salt & pepper\nOil") == "Salt &amp; pepper<br>Oil"


def test_line_breaks_in_markup_are_layout_and_stay() -> None:
    """Guard (passes before and after): the tags say where lines go."""
    assert safe_html("<p>a</p>\n<p>b</p>") == "<p>a</p>\n<p>b</p>"


# ---------------------------------------------------------------- 6: Google fetches images over http(s) only
def test_google_blocks_an_item_whose_image_link_is_a_file_url(published: dict[str, Any]) -> None:
    blocked = published["google_file"].blocked["complete"]
    assert blocked == ["google_merchant:en_US:image_link_not_public:file:set PIM_CDN_BASE_URL or the catalog's "
                       "media_base_url", "google_merchant:de_DE:image_link_not_public:file:set PIM_CDN_BASE_URL or "
                       "the catalog's media_base_url"]
    assert b"file://" not in (published["out"].parent / "out_file" / "google_merchant"
                              / "feed.ecommerce.en_US.xml").read_bytes()


def test_google_publishes_https_image_links(published: dict[str, Any]) -> None:
    """Guard (passes before and after): the catalog's URL convention under base_url/media is fetchable."""
    assert "complete" not in published["google"].blocked
    assert b"<g:image_link>https://shop.example.com/media/gmc_main/runner.jpg" in (
        published["out"] / "google_merchant" / "feed.ecommerce.en_US.xml").read_bytes()


def test_the_demo_publishes_google_with_a_media_base_url_when_no_cdn_is_set(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from channels.declaration_files import load_catalog
    from pim.demo import DEMO_MEDIA_BASE_URL, demo_catalog
    from pim.settings import reset_settings

    monkeypatch.delenv("PIM_CDN_BASE_URL", raising=False)
    reset_settings()
    run = SimpleNamespace(settings=SimpleNamespace(home=tmp_path), outputs={})
    path = demo_catalog(run, "google_merchant")  # type: ignore[arg-type]
    assert path is not None and load_catalog(path).media_base_url == DEMO_MEDIA_BASE_URL
    assert demo_catalog(run, "storefront") is None  # type: ignore[arg-type]
    monkeypatch.setenv("PIM_CDN_BASE_URL", "https://cdn.example.com")
    reset_settings()
    try:
        assert demo_catalog(run, "google_merchant") is None  # type: ignore[arg-type]
    finally:
        reset_settings()


# ---------------------------------------------------------------- 5: files a publish no longer writes
def _push(out: Path, renderer: str, names: list[str], scope: str = "ecommerce", job: int = 1) -> None:
    """What a publish's exporter does with these files: each rendered in staging, then pushed."""
    ctx = PublishContext(structure=None, output_dir=out, channel=scope, job_id=job,  # type: ignore[arg-type]
                         options={"renderer": renderer})
    artifacts = []
    for name in names:
        staged = out / ".staging" / f"job-{job}" / name
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"job {job}")
        artifacts.append(Artifact(staged, name, "application/json"))
    LocalExporter().push(artifacts, ctx)


SF = "storefront/catalog.ecommerce.{}.json"


def test_a_publish_removes_the_files_its_last_publication_wrote_and_it_did_not(tmp_path: Path) -> None:
    _push(tmp_path, "storefront", [SF.format("en_US"), SF.format("fr_FR")])
    _push(tmp_path, "storefront", [SF.format("en_US")], job=2)
    assert not (tmp_path / SF.format("fr_FR")).exists()
    assert (tmp_path / SF.format("en_US")).read_text() == "job 2"
    from exporters.local import PUBLISHED

    assert orjson.loads((tmp_path / PUBLISHED / "storefront.ecommerce.json").read_bytes())["files"] == [
        SF.format("en_US")]


def test_google_per_locale_feeds_go_when_target_feeds_replace_them(tmp_path: Path) -> None:
    _push(tmp_path, "google_merchant", ["google_merchant/feed.ecommerce.de_DE.xml"])
    _push(tmp_path, "google_merchant", ["google_merchant/feed.ecommerce.DE-de_DE.xml"], job=2)
    assert [p.name for p in (tmp_path / "google_merchant").iterdir()] == ["feed.ecommerce.DE-de_DE.xml"]


def test_files_the_publication_did_not_write_are_kept(tmp_path: Path) -> None:
    """Guard (passes before and after): someone's own file, another scope's, and a customer feed's."""
    mine = tmp_path / SF.format("notes")
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    _push(tmp_path, "storefront", [SF.format("en_US")], scope="print")
    _push(tmp_path, "feed_csv", ["feeds/acme.csv"])
    _push(tmp_path, "storefront", [SF.format("de_DE")], job=2)
    _push(tmp_path, "feed_csv", ["feeds/acme-2.csv"], job=2)
    assert mine.exists() and (tmp_path / SF.format("en_US")).exists() and (tmp_path / "feeds/acme.csv").exists()


def test_search_names_an_index_it_no_longer_writes_and_keeps_its_files(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    index = "search/products_ecommerce_{}/{}"
    _push(tmp_path, "search", [index.format("en_US", "documents.ndjson"), index.format("fr_FR", "documents.ndjson")])
    with caplog.at_level(logging.WARNING, logger="pim.search"):
        _push(tmp_path, "search", [index.format("en_US", "documents.ndjson")], job=2)
        _push(tmp_path, "search", [index.format("en_US", "documents.ndjson")], job=3)
    said = [r.getMessage() for r in caplog.records if "products_ecommerce_fr_FR" in r.getMessage()]
    assert len(said) == 2  # again on every publish, until the index is dropped
    assert "pim search drop --channel ecommerce --locale fr_FR" in said[0]
    assert (tmp_path / index.format("fr_FR", "documents.ndjson")).exists()


def test_search_says_nothing_of_an_index_it_still_writes_without_deletes(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Guard (passes before and after): a full push sends no deletes.json to an index it writes."""
    index = "search/products_ecommerce_en_US/{}"
    _push(tmp_path, "search", [index.format("documents.ndjson"), index.format("deletes.json")])
    with caplog.at_level(logging.WARNING, logger="pim.search"):
        _push(tmp_path, "search", [index.format("documents.ndjson")], job=2)
    assert not caplog.records


def test_search_names_the_server_index_of_a_locale_the_channel_left(caplog: pytest.LogCaptureFixture) -> None:
    from channels.search import _say_orphaned

    with caplog.at_level(logging.WARNING, logger="pim.search"):
        _say_orphaned("meili:http://meili:7700|products|ecommerce", "ecommerce", ["fr_FR"])
        _say_orphaned("files:/out|products|ecommerce", "ecommerce", ["fr_FR"])  # exporters.local says it
    assert len(caplog.records) == 1
    assert ("`pim search drop --channel ecommerce --locale fr_FR --target http://meili:7700`"
            in caplog.records[0].getMessage())
