"""A profile or map chosen for an upload must be the chosen source's kind (pim.upload_imports.profile_problem):
a BMEcat map chosen for an ERP CSV is refused at upload, on the page and through the REST API, saying which
source it fits, instead of failing the queued job in the worker. The import page marks each file with the
sources it fits, offers only those for the chosen source, and lists files that fit none apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from pim import upload_imports
from pim.generate.sources import ERP_MAP
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.test_web_browser import sign_in
from tests.test_web_imports_sources import SUPPLIER_MAP, _offered, _upload, _write_yaml
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

BMECAT_MAP = Path(__file__).parents[1] / "importers" / "maps" / "bmecat_eclass_example.yaml"


@pytest.fixture
def maps(pim_env: Path) -> Path:
    """PIM_HOME/maps with an ERP map, a supplier profile, the shipped BMEcat map and a map with a typo."""
    _write_yaml(pim_env / "maps" / "erp.map.yaml", ERP_MAP)
    _write_yaml(pim_env / "maps" / "acme.map.yaml", SUPPLIER_MAP)
    _write_yaml(pim_env / "maps" / "wei.bmecat.yaml", BMECAT_MAP.read_text(encoding="utf-8"))
    _write_yaml(pim_env / "maps" / "typo.map.yaml", SUPPLIER_MAP + "colums:\n  EAN: ean\n")
    return pim_env / "maps"


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    return TestClient(create_app(store))


def _options(html: str) -> dict[str, dict[str, Any]]:
    """Each profile option: its data-fits, whether it is hidden, and whether it sits among the unfit ones."""
    block = re.search(r'<select name="profile".*?</select>', html, re.DOTALL).group(0)  # type: ignore[union-attr]
    unfit = block.split("<optgroup", 1)[1] if "<optgroup" in block else ""
    found = {}
    for attrs in re.findall(r"<option ([^>]*)>", block):
        name = re.search(r'value="([^"]*)"', attrs).group(1)  # type: ignore[union-attr]
        if name:
            fits = re.search(r'data-fits="([^"]*)"', attrs)
            found[name] = {"fits": fits.group(1).split() if fits else [], "hidden": " hidden" in attrs,
                           "unfit": f'value="{name}"' in unfit}
    return found


def test_each_file_is_checked_against_each_sources_model(maps: Path) -> None:
    assert upload_imports.profile_problem("erp_csv", maps / "erp.map.yaml") is None
    assert upload_imports.profile_problem("bmecat", maps / "wei.bmecat.yaml") is None
    assert upload_imports.profile_problem("supplier", maps / "acme.map.yaml") is None
    wrong = upload_imports.profile_problem("erp_csv", maps / "wei.bmecat.yaml")
    assert wrong is not None and "invalid profile" in wrong
    typo = upload_imports.profile_problem("supplier", maps / "typo.map.yaml")
    assert typo is not None and "colums" in typo
    assert upload_imports.profile_problem("jsonl", maps / "typo.map.yaml") is None  # takes no profile: nothing to fit


def test_a_changed_file_is_checked_again(maps: Path) -> None:
    path = maps / "acme.map.yaml"
    assert upload_imports.profile_problem("supplier", path) is None
    path.write_text(SUPPLIER_MAP + "bogus: 1\n", encoding="utf-8")  # another size: another version
    assert "bogus" in (upload_imports.profile_problem("supplier", path) or "")


def test_a_map_of_another_kind_is_refused_on_the_page_naming_the_source_it_fits(
        web: TestClient, store: Store, maps: Path, pim_env: Path) -> None:
    token = login(web, "ed")
    refused = _upload(web, token, "erp.csv", b"Artikelnummer\n1\n", importer="erp_csv", profile="maps/wei.bmecat.yaml")
    assert refused.status_code == 422
    text = refused.text.replace("&#39;", "'")
    assert "maps/wei.bmecat.yaml is a BMEcat map, not an ERP CSV map" in text
    assert "choose the Supplier BMEcat source, or pick an ERP CSV map" in text
    assert store.jobs(kind="import") == [] and not (pim_env / "uploads").exists()

    typo = _upload(web, token, "acme.csv", b"Art-Nr\nS-1\n", importer="supplier", profile="maps/typo.map.yaml")
    assert typo.status_code == 422
    assert "colums" in typo.text and "see schemas/supplier_table_map.schema.json" in typo.text.replace("&#39;", "'")
    assert _upload(web, token, "acme.csv", b"Art-Nr;Name;MPN\nS-1;Shoe;M-1\n", importer="supplier",
                   profile="maps/acme.map.yaml").status_code == 200


def test_the_page_offers_for_each_source_only_the_files_that_fit_it(web: TestClient, maps: Path) -> None:
    login(web, "ed")
    page = web.get("/imports?importer=erp_csv").text
    options = _options(page)
    assert set(_offered(page, "profile")) == {"maps/erp.map.yaml", "maps/acme.map.yaml", "maps/wei.bmecat.yaml",
                                              "maps/typo.map.yaml"}
    assert options["maps/erp.map.yaml"]["fits"] == ["erp_csv"] and not options["maps/erp.map.yaml"]["hidden"]
    assert options["maps/wei.bmecat.yaml"]["fits"] == ["bmecat"] and options["maps/wei.bmecat.yaml"]["hidden"]
    assert options["maps/acme.map.yaml"]["fits"] == ["supplier"] and options["maps/acme.map.yaml"]["hidden"]
    assert options["maps/typo.map.yaml"]["unfit"] and not options["maps/erp.map.yaml"]["unfit"]
    assert "maps/wei.bmecat.yaml (Supplier BMEcat)" in page
    shown = _options(web.get("/imports?importer=bmecat").text)
    assert not shown["maps/wei.bmecat.yaml"]["hidden"] and shown["maps/erp.map.yaml"]["hidden"]


def test_the_api_refuses_a_map_of_another_kind(role_tokens: Any, store: Store, maps: Path) -> None:
    client, tokens = role_tokens
    headers = tokens["editor"]
    resp = client.post("/api/v1/imports", headers=headers, data={"importer": "bmecat", "profile": "maps/erp.map.yaml"},
                       files={"file": ("cat.xml", b"<BMECAT/>", "application/xml")})
    assert resp.status_code == 422
    assert "maps/erp.map.yaml is an ERP CSV map, not a BMEcat map" in resp.text and "choose the ERP CSV" in resp.text
    assert store.jobs(kind="import") == []


@pytest.mark.chromium
def test_choosing_a_source_shows_only_its_maps_in_the_browser(store: Store, maps: Path, live_app,
                                                              browser_page) -> None:  # noqa: ANN001
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    base = live_app(create_app(store))
    page = browser_page
    sign_in(page, base, "ed", "correct horse")
    page.goto(f"{base}/imports")
    profile = page.locator("#import-profile")
    erp, bmecat = (profile.locator(f'option[value="maps/{n}"]') for n in ("erp.map.yaml", "wei.bmecat.yaml"))
    expect(erp).to_have_attribute("hidden", "")  # the page opens on the content source: no map of it here
    page.select_option('select[name="importer"]', "erp_csv")
    expect(erp).not_to_have_attribute("hidden", "")
    expect(bmecat).to_have_attribute("hidden", "")
    page.select_option("#import-profile", "maps/erp.map.yaml")
    page.select_option('select[name="importer"]', "bmecat")
    expect(profile).to_have_value("")  # the ERP map no longer fits: the choice is cleared
    expect(erp).to_have_attribute("hidden", "")
    expect(bmecat).not_to_have_attribute("hidden", "")
