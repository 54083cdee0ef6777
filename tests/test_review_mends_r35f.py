"""Round 35 review mends (M6): a content profile's own clear is no problem whatever its source; an http(s) image
URL nobody ingested keeps counting once media is in use; search resends its documents when the originals' base
URL is set later; a mass clear is said as a clear; the error page's back link never names another host."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from importers.content import ContentProfile, import_content
from media.assets import ORIGIN
from media.ingest import ingest_bytes
from media.store_local import LocalAssetStore
from pim.pipeline import publish
from pim.product import Product
from pim.store import Store
from pim.web.editing import BulkResult, apply_bulk
from pim.web.error_pages import back_link
from pim.web.mass_edit import notice
from tests import images
from tests.channel_data import ERP
from tests.test_channel_images_r35 import CDN, _cdn, _original, _uploaded, catalog  # noqa: F401
from tests.test_completeness_images_r35 import cheap_argon2, drills as require, put, scores, upload  # noqa: F401
from tests.test_content_sheet import edit, export
from tests.test_content_sheet_round30 import DRILL_COLUMNS, drills  # noqa: F401


# ---------------------------------------------------------------- 1. content sheet: a custom source's clear
def _shown(store: Store, sku: str, key: str) -> tuple[object, str | None]:
    p = store.get_product(sku)
    prov = p.provenance_of(key)
    return p.values.get(key), prov.source if prov else None


def test_a_profiles_clear_is_a_problem_only_for_another_sources_value(drills: Store,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    drills.upsert_products([Product(identifier="d3", family="drills", source=ERP, values={"sku": "d3"}),
                            Product(identifier="d1", family="drills", source=ERP,
                                    values={"sku": "d1", "name:en_US": "ERP drill"})])
    agency = ContentProfile(source="agency")
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    export(drills, first, columns=DRILL_COLUMNS)
    edit(first, "d3", "name:en_US", "Agency drill")
    import_content(first, drills, agency)
    assert _shown(drills, "d3", "name:en_US") == ("Agency drill", "agency")
    export(drills, second, columns=DRILL_COLUMNS)
    edit(second, "d3", "name:en_US", "")  # the agency's own value: withdrawn, no problem
    edit(second, "d1", "name:en_US", "")  # the ERP's: stays, and is said so
    counts = import_content(second, drills, agency)
    assert _shown(drills, "d3", "name:en_US")[1] != "agency"
    assert _shown(drills, "d1", "name:en_US") == ("ERP drill", ERP.source)
    problems = drills.quarantined(counts.job_id, severity="problem")
    assert [(p["record_key"], p["field"]) for p in problems] == [("d1", "name:en_US")]
    assert "not cleared" in problems[0]["reason"] and f"'{ERP.source}'" in problems[0]["reason"]


# ---------------------------------------------------------------- 2. URL images once media is in use
def test_one_upload_leaves_url_images_filled_but_text_and_urls_found_bad_empty(tiny_store: Store,
                                                                               tmp_path: Path) -> None:
    from pim.completeness_rebuild import rebuild
    from pim.gate import evaluate

    assets = LocalAssetStore(tmp_path / "media")
    require(tiny_store, ["sku", "picture"])
    put(tiny_store, "cdn", picture="https://cdn.example.com/drill.jpg")
    assert scores(tiny_store, "cdn")[("ecommerce", "en_US")] == (100, [])
    upload(tiny_store, assets, images.png(600, 600), "someone-elses.png")  # an editor uploads on another product
    rejected, unreadable = "https://cdn.example.com/broken.jpg", "https://cdn.example.com/gone.jpg"
    assert ingest_bytes(tiny_store, b"not an image", rejected, asset_store=assets, source="catalog")["status"] != "valid"
    with tiny_store.engine.begin() as conn:
        conn.execute(ORIGIN.insert().values(ref=unreadable, source="catalog", sha256=None, problem="HTTP 404",
                                            seen_at=datetime.now(UTC)))
    put(tiny_store, "typed", picture="drill.jpg")
    put(tiny_store, "rejected", picture=rejected)
    put(tiny_store, "unreadable", picture=unreadable)
    rebuild(tiny_store, workers=1)
    assert scores(tiny_store, "cdn")[("ecommerce", "en_US")] == (100, [])
    [(_, reasons)] = list(evaluate(tiny_store, tiny_store.structure(), "ecommerce", [tiny_store.get_product("cdn")]))
    assert not [r for r in reasons if "picture" in r or r.startswith("completeness")]
    for still_empty in ("typed", "rejected", "unreadable"):  # a file name; URLs media tried and found bad
        assert scores(tiny_store, still_empty)[("ecommerce", "en_US")] == (50, ["picture"]), still_empty


# ---------------------------------------------------------------- 3. search: the base URL set later
def test_search_links_the_upload_after_the_base_url_is_set_and_published_again(
        catalog: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    out = tmp_path / "out"
    _cdn(monkeypatch, None)
    ref = _uploaded(catalog, "complete", 5)
    publish(catalog, out, channel="search", scope="ecommerce", exporter="local")
    _cdn(monkeypatch, CDN)  # as the warning says: set PIM_CDN_BASE_URL, publish again
    publish(catalog, out, channel="search", scope="ecommerce", exporter="local")
    images_sent = [doc.get("image") for path in sorted((out / "search").rglob("*.ndjson"))
                   for line in path.read_bytes().splitlines() if (doc := orjson.loads(line)).get("sku") == "complete"]
    assert _original(CDN, ref) in images_sent


# ---------------------------------------------------------------- 4. the mass clear's notice
def test_a_clear_of_products_already_empty_is_said_as_a_clear(drills: Store) -> None:  # noqa: F811
    result = apply_bulk(drills, ["d1", "d2"], {"description:de_DE@ecommerce": None}, "anna")
    said = notice("description:de_DE@ecommerce", result, None)
    assert " set on " not in said and "cleared on 0 products" in said and "2 already empty" in said


def test_a_clear_only_refused_is_said_as_a_clear_and_a_set_as_a_set() -> None:
    said = notice("name:en_US", BulkResult(refused={"a": "x"}), "")
    assert " set on " not in said and "cleared on 0 products" in said and "1 refused" in said
    assert notice("name:en_US", BulkResult(changed=2, unchanged=1), "Drill") == (
        "name:en_US set on 2 products; 1 already showed it.")


# ---------------------------------------------------------------- 5. the error page's back link
def _request(referer: str, path: str = "/products/P1/values", method: str = "POST") -> Request:
    app = FastAPI()
    app.get("/products")(lambda: None)
    return Request({"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
                    "scheme": "http", "server": ("testserver", 80), "app": app,
                    "headers": [(b"host", b"testserver"), (b"referer", referer.encode())]})


@pytest.mark.parametrize("referer", ["http://testserver//evil.example/steal", "http://testserver/\\evil.example/x",
                                     "http://testserver/\\/evil.example/", "http://testserver///evil.example"])
def test_a_same_host_referer_never_gives_a_link_to_another_host(referer: str) -> None:
    link = back_link(_request(referer))
    assert not link.startswith(("//", "/\\")) and link == "/products"
    assert back_link(_request("http://testserver/products?filter=a")) == "/products?filter=a"  # still the way back
